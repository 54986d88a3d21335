"""Fourier layers against a direct DFT; the FNO branch; POD trunks; modules with complex weights."""

import copy
import itertools
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from skoperator import DeepONetRegressor
from skoperator._fno import FNO, SpectralConv
from skoperator._planning import prepared_loss
from skoperator._training import TrainingData, step_objective
from skoperator.datasets import make_antiderivative, make_heat_conduction
from skoperator.metrics import mean_function_r2
from skoperator.networks import FNOBranch

FAST = dict(max_iter=2, tol=None, device="cpu", random_state=0)


def _direct_spectral_conv(x, weights, modes):
    """The spectral convolution written out with explicit DFT sums (numpy, float64).

    x: (batch, c_in, *grid); weights: complex (blocks, c_in, c_out, *modes).
    """
    grid = x.shape[2:]
    d = len(grid)
    axes_freqs = []
    for axis, n in enumerate(grid):
        k = np.arange(n)
        axes_freqs.append(k)
    # full complex DFT of x, by sums
    X = x.astype(complex)
    for axis, n in enumerate(grid):
        k = np.arange(n)
        F = np.exp(-2j * np.pi * np.outer(k, k) / n)  # F[k, j]
        X = np.moveaxis(np.tensordot(X, F, axes=([2 + axis], [1])), -1, 2 + axis)
    out_hat = np.zeros((x.shape[0], weights.shape[2]) + grid, dtype=complex)
    kept = [min(m, n // 2) for m, n in zip(modes[:-1], grid[:-1])]
    kept.append(min(modes[-1], grid[-1] // 2 + 1))
    for corner in range(2 ** (d - 1)):
        idx = []
        for axis in range(d - 1):
            neg = (corner >> axis) & 1
            idx.append(range(grid[axis] - kept[axis], grid[axis]) if neg else range(kept[axis]))
        idx.append(range(kept[-1]))
        for pos, freq in zip(itertools.product(*[range(k) for k in kept]),
                             itertools.product(*idx)):
            w = weights[(corner, slice(None), slice(None)) + pos]  # (c_in, c_out)
            out_hat[(slice(None), slice(None)) + freq] = X[(slice(None), slice(None)) + freq] @ w
    # real output: the inverse real DFT keeps the kept non-negative last-axis
    # frequencies and their conjugate mirror images
    full = np.zeros_like(out_hat)
    n_last = grid[-1]
    for freq in itertools.product(*[range(n) for n in grid]):
        v = out_hat[(slice(None), slice(None)) + freq]
        if not np.any(v):
            continue
        full[(slice(None), slice(None)) + freq] += v
        last = freq[-1]
        if 0 < last and (n_last % 2 or last < n_last // 2):
            mirror = tuple((-f) % n for f, n in zip(freq, grid))
            full[(slice(None), slice(None)) + mirror] += np.conj(v)
    # imaginary parts at self-conjugate frequencies are dropped by irfft
    y = full
    for axis, n in enumerate(grid):
        k = np.arange(n)
        F = np.exp(2j * np.pi * np.outer(k, k) / n) / n
        y = np.moveaxis(np.tensordot(y, F, axes=([2 + axis], [1])), -1, 2 + axis)
    return y.real


@pytest.mark.parametrize("grid, modes, c_in, c_out", [
    ((12,), (4,), 2, 3), ((11,), (6,), 1, 2), ((8,), (5,), 3, 1),
    ((6, 8), (2, 3), 2, 2), ((7, 5), (3, 3), 1, 3), ((6, 6), (3, 4), 2, 1),
])
def test_spectral_conv_matches_a_direct_dft(grid, modes, c_in, c_out):
    gen = torch.Generator().manual_seed(0)
    conv = SpectralConv(c_in, c_out, modes, gen).double()
    # real parts at self-conjugate frequencies only: zero the imaginary part
    # of weights there, where the two definitions legitimately differ
    x = torch.randn(2, c_in, *grid, dtype=torch.float64, generator=gen)
    weights = np.stack([torch.view_as_complex(w.detach()).numpy() for w in conv.weights])
    expected = _direct_spectral_conv(x.numpy(), weights, modes)
    np.testing.assert_allclose(conv(x).detach().numpy(), expected, atol=1e-10)


def test_spectral_conv_with_every_mode_and_identity_weights_is_the_identity():
    grid, c = (6, 9), 2
    conv = SpectralConv(c, c, (3, 5), torch.Generator().manual_seed(0)).double()
    with torch.no_grad():
        for w in conv.weights:
            w.zero_()
            for i in range(c):
                w[i, i, ..., 0] = 1.0
    x = torch.randn(3, c, *grid, dtype=torch.float64)
    # modes (3, 5) keep every frequency of a 6 x 9 grid
    torch.testing.assert_close(conv(x), x, atol=1e-12, rtol=0)


@pytest.mark.parametrize("shape", [(16,), (2, 16), (8, 8), (3, 8, 8), (4, 4, 4)])
@pytest.mark.parametrize("head", ["pooled", "projection"])
def test_fno_branch_shapes(shape, head):
    gen = torch.Generator().manual_seed(0)
    grid = shape if len(shape) in (1, 2) and shape != (2, 16) else shape[1:]
    full = (1,) + tuple(shape) if len(shape) != 3 and shape != (2, 16) else tuple(shape)
    if shape == (4, 4, 4):  # a 3-D grid, one channel
        full, grid = (1, 4, 4, 4), (4, 4, 4)
    n_grid = int(np.prod(grid))
    basis = [torch.randn(n_grid, 5, generator=gen)] if head == "projection" else None
    net = FNO(full, 5, modes=3, width=6, n_layers=2, head=head, basis=basis, generator=gen)
    u = torch.randn(4, int(np.prod(full)))
    assert net(u).shape == (4, 5)
    if head == "projection":
        torch.testing.assert_close(net(u), net.fields(u) @ net.basis)
        assert "basis" not in dict(net.named_parameters())
        net(u).sum().backward()
        assert all(p.grad is not None for p in net.parameters())


@pytest.mark.parametrize("grid", [(9,), (9, 7), (5, 5, 6)])
def test_fno_stride_is_the_fno_of_the_coarse_nodes(grid):
    """``stride=2``: the same layers on every other node (coordinates of the fine
    grid's nodes), and the projection on the basis rows of those nodes, rescaled."""
    gen = torch.Generator().manual_seed(0)
    n_grid = int(np.prod(grid))
    basis = torch.randn(n_grid, 5, generator=gen)
    kept = tuple(slice(None, None, 2) for _ in grid)
    coarse_grid = tuple(len(range(0, n, 2)) for n in grid)
    fine = FNO((1,) + grid, 5, modes=3, width=6, n_layers=2, head="projection",
               basis=[basis], stride=2, generator=torch.Generator().manual_seed(1))
    rows = basis.reshape(*grid, 5)[kept].reshape(-1, 5) * (n_grid / np.prod(coarse_grid))
    coarse = FNO((1,) + coarse_grid, 5, modes=3, width=6, n_layers=2, head="projection",
                 basis=[rows], generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(fine.basis, coarse.basis)
    nodes = torch.meshgrid(*[torch.linspace(0, 1, n)[::2] for n in grid], indexing="ij")
    torch.testing.assert_close(fine.grid, torch.stack(nodes))
    coarse.grid.copy_(fine.grid)  # same weights (same seed and shapes); same coordinates
    u = torch.randn(3, 1, *grid, generator=gen)
    torch.testing.assert_close(fine(u.reshape(3, -1)),
                               coarse(u[(slice(None), slice(None)) + kept].reshape(3, -1)))
    pooled = FNO((1,) + grid, 4, modes=3, width=6, n_layers=1, stride=3, generator=gen)
    assert pooled(u.reshape(3, -1)).shape == (3, 4)


def test_fno_projection_over_copies_of_the_grid():
    """A basis over k copies of the grid (k times, rows (copy, node)): k output
    fields, projected together; with a stride, each copy restricted alike."""
    gen = torch.Generator().manual_seed(0)
    grid, k = (6, 5), 3
    basis = torch.randn(k * 30, 4, generator=gen)
    net = FNO((2,) + grid, 4, modes=2, width=5, n_layers=1, head="projection",
              basis=[basis], generator=gen)
    u = torch.randn(2, 60, generator=gen)
    assert net.fields(u).shape == (2, k * 30)
    torch.testing.assert_close(net(u), net.fields(u) @ basis)
    strided = FNO((2,) + grid, 4, modes=2, width=5, n_layers=1, head="projection",
                  basis=[basis], stride=2, generator=gen)
    kept = basis.reshape(k, *grid, 4)[:, ::2, ::2].reshape(-1, 4) * (30 / 9)
    torch.testing.assert_close(strided.basis, kept)
    assert strided(u).shape == (2, 4)


def test_fno_branch_projection_head_on_space_time_outputs():
    """The estimator with an output at several times of the input grid: 'auto'
    pools, 'projection' gives one field per time."""
    rng = np.random.default_rng(0)
    U = rng.standard_normal((20, 64))
    x = np.linspace(0, 1, 8)
    Y = np.array([(t, a, b) for t in (0.5, 1.0) for a in x for b in x])
    G = np.concatenate([U, 2 * U], axis=1)
    kw = dict(coords=Y, trunk="pod", n_basis=6, sampling="full", **FAST)
    auto = DeepONetRegressor(branch=FNOBranch(grid=(8, 8), width=4, modes=2, n_layers=1),
                             **kw).fit(U, G)
    assert auto.network_.branch.head_kind == "pooled"
    proj = DeepONetRegressor(branch=FNOBranch(grid=(8, 8), width=4, modes=2, n_layers=1,
                                              head="projection"), **kw).fit(U, G)
    assert proj.network_.branch.head_kind == "projection"
    assert proj.network_.branch.fields(torch.zeros(1, 64)).shape == (1, 128)
    assert proj.predict(U[:3]).shape == (3, 128)


def test_fno_branch_stride_in_the_estimator(heat):
    U, Y, G = heat
    kw = dict(coords=Y, trunk="pod", n_basis=12, sampling="full", batch_size=16, **FAST)
    est = DeepONetRegressor(branch=FNOBranch(grid=(32, 32), width=6, modes=4, n_layers=2,
                                             stride=2), **kw).fit(U, G)
    assert est.network_.branch.grid_shape == (16, 16)
    assert est.predict(U[:3]).shape == (3, G.shape[1])
    with pytest.raises(ValueError, match="stride"):
        DeepONetRegressor(branch=FNOBranch(grid=(32, 32), stride=0), **kw).fit(U, G)


def test_fno_branch_is_reproducible_real_and_leaves_the_global_rng():
    before = torch.get_rng_state()
    a = FNO((1, 8, 8), 4, modes=3, width=4, n_layers=2,
            generator=torch.Generator().manual_seed(1))
    b = FNO((1, 8, 8), 4, modes=3, width=4, n_layers=2,
            generator=torch.Generator().manual_seed(1))
    assert torch.equal(before, torch.get_rng_state())
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q) and not p.is_complex()
    u = torch.randn(3, 64)
    c = copy.deepcopy(a).double()
    torch.testing.assert_close(c(u.double()).float(), a(u), atol=1e-5, rtol=1e-4)
    opt = torch.optim.Adam(a.parameters(), fused=True)
    a(u).sum().backward()
    opt.step()


def test_fno_branch_learns_a_linear_operator_on_a_grid():
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    n = 16
    # the operator: a periodic shift and smoothing of smooth input fields
    # (only their lowest Fourier modes are non-zero)
    noise = torch.fft.rfft2(torch.randn(256, 1, n, n, generator=gen))
    keep = torch.zeros(n, n // 2 + 1)
    keep[:4, :4] = keep[-3:, :4] = 1.0
    u = torch.fft.irfft2(noise * keep, s=(n, n))
    u = u / u.std()
    target = (torch.roll(u, 2, dims=-1) + torch.roll(u, 1, dims=-2)) / 2
    net = FNO((1, n, n), 1, modes=6, width=16, n_layers=2, head="pooled", generator=gen)
    q = nn.Sequential(nn.Conv2d(16, 1, 1))
    params = list(net.parameters()) + list(q.parameters())
    opt = torch.optim.Adam(params, lr=5e-3)
    for step in range(300):
        idx = torch.randint(0, 256, (32,), generator=gen)
        pred = q(net.features(u[idx].reshape(32, -1)))
        loss = ((pred - target[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred = q(net.features(u.reshape(256, -1)))
    r2 = 1 - float(((pred - target) ** 2).sum() / ((target - target.mean()) ** 2).sum())
    assert r2 > 0.95


# ------------------------------------------------------------ in the estimator
@pytest.fixture(scope="module")
def heat():
    return make_heat_conduction(80, random_state=0)


def test_fno_branch_and_pod_trunk_in_the_estimator(heat):
    U, Y, G = heat
    est = DeepONetRegressor(coords=Y, branch=FNOBranch(grid=(32, 32), width=8, modes=4,
                                                       n_layers=2, activation="relu"),
                            trunk="pod", n_basis=20, n_eval=16, batch_size=16,
                            loss="relative_l2", **FAST).fit(U, G)
    branch = est.network_.branch
    assert branch.head_kind == "projection"
    modes = est.network_.trunk.modes
    # the trunk's modes are orthogonal with unit mean square, and fixed
    gram = modes.T @ modes / modes.shape[0]
    torch.testing.assert_close(gram, torch.eye(20), atol=1e-4, rtol=0)
    assert "trunk.modes" not in dict(est.network_.named_parameters())
    # predictions: at the training points, a subset in any order, not elsewhere
    full = est.predict(U[:3])
    sub = est.predict(U[:3], coords=Y[[5, 1, 700]])
    np.testing.assert_allclose(sub, full[:, [5, 1, 700]], rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="the POD trunk knows its modes at the training "
                                         "coordinates only"):
        est.predict(U[:3], coords=[[0.5, 0.5]])
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict(U[:3]), full)


def test_table_lookup_finds_training_points_in_any_order_and_near_them(monkeypatch):
    """Training points bit for bit by a sorted search (a chunked predict of 163,840 points
    once took minutes by distances); points within rounding by distance."""
    from skoperator.networks import TableModule

    g = torch.Generator().manual_seed(0)
    points = torch.rand(5000, 3, generator=g)
    table = TableModule(points.clone(), torch.arange(5000.0).reshape(-1, 1))
    idx = torch.randperm(5000, generator=g)[:3000]
    size = len(pickle.dumps(table))
    cdist = torch.cdist
    with monkeypatch.context() as m:  # no distances for the training points themselves
        m.setattr(torch, "cdist", lambda *a, **k: pytest.fail("cdist called"))
        torch.testing.assert_close(table.lookup(points[idx]), idx)
    assert torch.cdist is cdist
    assert len(pickle.dumps(table)) == size  # the search's sorted points are not saved
    near = points[idx[:10]] + 1e-6  # not bit for bit: found by distance
    assert not (near == points[idx[:10]]).all(dim=1).any()
    torch.testing.assert_close(table.lookup(near), idx[:10])
    table.points.copy_(points.flip(0))  # new points (a loaded state): the search follows
    torch.testing.assert_close(table.lookup(points[idx]), 4999 - idx)
    with pytest.raises(ValueError, match="not among them"):
        table.lookup(torch.full((1, 3), 5.0))


def test_pod_predict_in_chunks_of_points_finds_them_without_distances(monkeypatch):
    """The fitted coords come back through the standardisation rounded: found by their
    cells, not by distances to every training point (minutes at 163,840 points)."""
    from skoperator import _inference

    rng = np.random.default_rng(0)
    Y = rng.uniform(size=(6000, 3))
    U = rng.normal(size=(30, 4))
    G = U[:, :1] * np.sin(Y[:, 0])[None] + U[:, 1:2] * Y[:, 1][None]
    est = DeepONetRegressor(coords=Y, trunk="pod", n_basis=6, sampling="full", **FAST).fit(U, G)
    whole = est.predict(U[:4])
    rows, cdist = [], torch.cdist

    def spy(a, b, **kw):
        rows.append(len(a))
        return cdist(a, b, **kw)
    monkeypatch.setattr(torch, "cdist", spy)
    monkeypatch.setattr(_inference, "_TRUNK_POINTS", 1000)
    np.testing.assert_allclose(est.predict(U[:4]), whole, rtol=1e-6, atol=1e-6)
    assert sum(rows) < 0.1 * len(Y)  # only points at a cell's edge, if any


def test_fno_pooled_head_with_a_learned_trunk_predicts_anywhere(heat):
    U, Y, G = heat
    est = DeepONetRegressor(coords=Y, branch=FNOBranch(grid=(32, 32), width=4, modes=3,
                                                       n_layers=1, activation="relu"),
                            n_basis=8, **FAST).fit(U, G)
    assert est.network_.branch.head_kind == "pooled"
    assert est.predict(U[:2], coords=[[0.5, 0.5], [0.1, 0.9]]).shape == (2, 2)
    with pytest.raises(ValueError, match=r"FNOBranch\(head='projection'\) needs a POD trunk"):
        DeepONetRegressor(coords=Y, branch=FNOBranch(grid=(32, 32), head="projection",
                                                     activation="relu"),
                          **FAST).fit(U, G)


def test_pod_trunk_learns_the_antiderivative():
    U, Y, G = make_antiderivative(700, random_state=0)
    est = DeepONetRegressor(coords=Y, trunk="pod", n_basis=20, n_eval=10, max_iter=200,
                            learning_rate="onecycle", learning_rate_init=5e-3, tol=None,
                            device="cpu", random_state=0).fit(U[:500], G[:500])
    assert mean_function_r2(G[500:], est.predict(U[500:])) >= 0.965  # measured 0.971
    corrected = DeepONetRegressor(coords=Y, trunk="pod_corrected", n_basis=20, **FAST)
    corrected.fit(U[:100], G[:100])
    assert corrected.network_.trunk.correction is not None


def test_relative_l2_loss_matches_a_direct_computation():
    rng = np.random.default_rng(0)
    n, p, k = 6, 9, 2
    G = torch.tensor(rng.normal(size=(n, p, k)) + 3.0)
    G[1, 3, 0] = float("nan")
    shift = torch.tensor([0.5, -1.0], dtype=torch.float64)
    scale = torch.tensor([2.0, 3.0], dtype=torch.float64)
    data = TrainingData(torch.zeros(n, 1), (G - shift) / scale, torch.zeros(p, 1), shift, scale,
                        True)
    loss = prepared_loss("relative_l2", data)

    class Fixed(nn.Module):
        """Outputs a fixed standardised field per function (branch) and ones (trunk)."""

        n_outputs, trunk_fields, branch_fields, n_basis, output_transform = k, 1, 1, 1, None

        def __init__(self, out):
            super().__init__()
            self.out = out

        def encode_branch(self, u):
            return torch.zeros(u.shape[0], 1, 1)

        def encode_trunk(self, y, index=None):
            return torch.zeros(*y.shape[:-1], 1, 1)

        def combine(self, b, t):
            return self.out[self.rows][:, self.cols] if t.dim() == 4 else self.out[self.rows]

        def standardized(self, b, t, y):  # no output_transform: the combined outputs
            return self.combine(b, t)

    out = torch.tensor(rng.normal(size=(n, p, k)))
    net = Fixed(out)
    rows = torch.tensor([1, 4])
    cols = torch.tensor([[0, 3, 5], [2, 3, 8]])
    net.rows, net.cols = rows, cols
    # the module above returns the gathered outputs for the pairs path
    net.combine = lambda b, t: out[rows[:, None], cols]
    objective, report = step_objective(net, data, loss, rows, cols, None,
                                       data.targets(rows, cols), "pairs")
    if report is None:
        report = objective * loss.report_factor()
    # direct: per (function, field), MSE in units of G over the sampled,
    # observed points, divided by the mean square of G over all observed points
    terms = []
    for a, i in enumerate(rows.tolist()):
        for c in range(k):
            g_all = G[i, :, c]
            ms = float(torch.nanmean(g_all ** 2))
            pred = out[i, cols[a], c] * scale[c] + shift[c]
            truth = G[i, cols[a], c]
            ok = ~torch.isnan(truth)
            terms.append(float(((pred - truth)[ok] ** 2).mean()) / ms)
    assert float(objective) == pytest.approx(np.mean(terms), rel=1e-10)
    assert float(report) == float(objective)


class ComplexFourier(nn.Module):
    """A user's branch with complex parameters and a non-tensor state_dict entry."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.n_in = n_in
        self.weight = nn.Parameter(torch.randn(n_in // 2 + 1, 4, dtype=torch.cfloat) * 0.1)
        self.out = nn.Linear(8, n_out)

    def forward(self, u):
        z = torch.fft.rfft(u, dim=-1) @ self.weight
        return self.out(torch.cat([z.real, z.imag], dim=-1))

    def get_extra_state(self):
        return {"version": 2, "note": "metadata, not a tensor"}

    def set_extra_state(self, state):
        self.restored = state


def test_user_module_with_complex_parameters_and_extra_state_trains(tmp_path):
    U, Y, G = make_antiderivative(80, n_points=20, random_state=0)
    est = DeepONetRegressor(coords=Y, branch=ComplexFourier, n_basis=6, early_stopping=True,
                            validation_fraction=0.25, max_iter=4, tol=None, device="cpu",
                            random_state=0).fit(U, G)
    assert est.network_.branch.weight.is_complex()
    assert est.n_iter_ == 4 and np.all(np.isfinite(est.predict(U)))
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(again.predict(U), est.predict(U))
