"""Tests of the training loop's loss: fast paths against a plain loop over pairs."""

import numpy as np
import pytest
import torch

from skoperator._layers import MLP, PODModes, built
from skoperator._network import LAYOUTS, DeepONet, Scaling
from skoperator._sampling import SAMPLERS, ObservedPoints, SamplingContext
from skoperator._training import (
    TableGram,
    TrainingData,
    choose_trunk_path,
    snapshot,
    step_objective,
    step_share,
    trunk_evaluations,
)
from skoperator.losses import LOSSES, LossContext, MSELoss

N_FUNCTIONS, N_SENSORS, N_POINTS, D = 9, 6, 14, 2


def _network(seed=0):
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    scaling = Scaling(u_shift=rng.normal(size=N_SENSORS), u_scale=1.0 + rng.random(N_SENSORS),
                      y_shift=rng.normal(size=D), y_scale=1.0 + rng.random(D),
                      g_shift=np.array([0.3]), g_scale=np.array([2.0]))
    branch = built(MLP, N_SENSORS, (8, 8), 5, "tanh", generator=gen)
    trunk = built(MLP, D, (8,), 5, "tanh", generator=gen)
    net = DeepONet(branch, trunk, n_outputs=1, n_basis=5, layout=LAYOUTS["split_branch"],
                   scaling=scaling).double()
    with torch.no_grad():
        net.bias.fill_(0.25)
    return net


def _training_data(U, G, coords, missing, shift=0.0, scale=1.0):
    return TrainingData(U, G, coords, torch.tensor([shift]), torch.tensor([scale]), missing)


def _data(missing):
    rng = np.random.default_rng(1)
    U = torch.tensor(rng.normal(size=(N_FUNCTIONS, N_SENSORS)))
    coords = torch.tensor(rng.random((N_POINTS, D)))
    G = torch.tensor(rng.normal(size=(N_FUNCTIONS, N_POINTS)))
    if missing:
        G[rng.random(G.shape) < 0.3] = float("nan")
        G[:, 0] = 1.0  # every function keeps an observed point
    return U, coords, G


def _reference_loss(net, U, coords, G, rows, cols, valid):
    """Mean squared error over the sampled (function, point) pairs, one at a time."""
    terms = []
    for a, i in enumerate(rows.tolist()):
        if cols is None:
            points = range(N_POINTS)
        else:
            points = (cols if cols.dim() == 1 else cols[a]).tolist()
        for s, j in enumerate(points):
            if valid is not None and not bool(valid[a, s]):
                continue
            target = G[i, j]
            if torch.isnan(target):
                continue
            b = net.encode_branch(U[i:i + 1])[0]
            t = net.encode_trunk(coords[j:j + 1])[0]
            terms.append((b @ t + net.bias[0] - target) ** 2)
    return torch.stack(terms).mean()


def _loss_and_grads(loss, net):
    grads = torch.autograd.grad(loss, list(net.parameters()))
    return loss.detach(), grads


def _sample(sampling, rows, G, n_eval, seed):
    observed = None
    if torch.isnan(G).any():
        observed = ObservedPoints.from_mask(~torch.isnan(G))
    context = SamplingContext(n_eval=n_eval, coords=torch.zeros(N_POINTS, 1),
                              n_functions=G.shape[0], device=torch.device("cpu"),
                              generator=torch.Generator().manual_seed(seed), n_epochs=1,
                              observed=observed)
    sampler = SAMPLERS[sampling]().setup(context)
    sampler.start_epoch(0)
    cols, weight = sampler.sample(rows, torch.Generator().manual_seed(seed))
    valid = None if weight is None else weight > 0
    return cols, valid, weight


def _loss(net, data, rows, cols, weight, path):
    if cols is not None and cols.dim() == 1:
        path = "shared"
    loss = LOSSES["mse"]().prepare(LossContext(data.g_scale, data.n_functions,
                                               data.mean_square, data.device))
    target = data.targets(rows, cols)
    objective, _ = step_objective(net, data, loss, rows, cols, weight, target, path)
    return objective, trunk_evaluations(data.n_points, cols, path)


@pytest.mark.parametrize("missing", [False, True])
@pytest.mark.parametrize("sampling, n_eval", [("random", 4), ("random", 13),
                                              ("shared", 5), ("full", N_POINTS)])
@pytest.mark.parametrize("path", ["grid", "pairs"])
def test_step_objective_matches_loop_over_pairs(sampling, n_eval, path, missing):
    net = _network()
    U, coords, G = _data(missing)
    rows = torch.tensor([3, 0, 7, 5])
    cols, valid, weight = _sample(sampling, rows, G, n_eval, seed=2)
    data = _training_data(U, G, coords, missing)
    loss, n_trunk = _loss(net, data, rows, cols, weight, path)
    fast, fast_grads = _loss_and_grads(loss, net)
    ref, ref_grads = _loss_and_grads(_reference_loss(net, U, coords, G, rows, cols, valid),
                                     net)
    torch.testing.assert_close(fast, ref, rtol=1e-12, atol=1e-12)
    for f, r in zip(fast_grads, ref_grads):
        torch.testing.assert_close(f, r, rtol=1e-10, atol=1e-12)
    if cols is None or (cols.dim() == 2 and path == "grid"):
        assert n_trunk == N_POINTS
    else:
        assert n_trunk == cols.numel()


@pytest.mark.parametrize("path", ["grid", "pairs"])
def test_step_objective_with_padding_slots(path):
    # A function with fewer observed points than n_eval: its padding slots
    # (valid False) carry no weight.
    net = _network(3)
    U, coords, G = _data(missing=False)
    G[1, 2:] = float("nan")  # function 1 observes 2 points
    rows = torch.tensor([1, 4, 6])
    cols, valid, weight = _sample("random", rows, G, 5, seed=4)
    assert valid is not None and int(valid[0].sum()) == 2
    data = _training_data(U, G, coords, True)
    fast, fast_grads = _loss_and_grads(_loss(net, data, rows, cols, weight, path)[0], net)
    ref, ref_grads = _loss_and_grads(_reference_loss(net, U, coords, G, rows, cols, valid),
                                     net)
    torch.testing.assert_close(fast, ref, rtol=1e-12, atol=1e-12)
    for f, r in zip(fast_grads, ref_grads):
        torch.testing.assert_close(f, r, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cols", [None, "shared", "random"])
def test_training_data_streamed_targets_match_tensor(cols):
    # A numpy G (as a memmap is) is gathered per batch and standardised on
    # the way; it must give what the standardised tensor gives.
    rng = np.random.default_rng(5)
    G = rng.normal(size=(N_FUNCTIONS, N_POINTS)).astype(np.float32)
    shift, scale = 0.5, 3.0
    U, coords = torch.zeros(N_FUNCTIONS, 2), torch.zeros(N_POINTS, 1)
    tensor = _training_data(U, torch.tensor((G - shift) / scale), coords, False, shift, scale)
    streamed = _training_data(U, G, coords, False, shift, scale)
    rows = torch.tensor([2, 8, 0])
    c = {None: None, "shared": torch.tensor([5, 1, 9]),
         "random": torch.tensor([[0, 3], [13, 2], [7, 7]])}[cols]
    expected = tensor.targets(rows, c)
    torch.testing.assert_close(streamed.targets(rows, c), expected, rtol=1e-6, atol=1e-6)
    assert expected.shape == (3, N_POINTS if c is None else c.shape[-1])


def test_choose_trunk_path():
    flops, n_basis = 10_000, 40
    assert choose_trunk_path(100, 256, 10, flops, n_basis) == "grid"
    assert choose_trunk_path(100, 256, 32, flops, n_basis) == "grid"
    assert choose_trunk_path(200_000, 256, 32, flops, n_basis) == "pairs"
    assert choose_trunk_path(10_000, 256, 32, flops, n_basis) == "pairs"
    # one function at a time never pays for the whole grid
    assert choose_trunk_path(1000, 1, 10, flops, n_basis) == "pairs"
    # the choice flips once, as the grid grows
    choices = [choose_trunk_path(n, 256, 32, flops, n_basis) for n in range(100, 20_000, 100)]
    flips = sum(a != b for a, b in zip(choices, choices[1:]))
    assert choices[0] == "grid" and choices[-1] == "pairs" and flips == 1


def test_snapshot_is_a_copy():
    net = _network()
    saved = snapshot(net)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    net.load_state_dict(saved)
    assert torch.equal(net.bias, torch.tensor([0.25], dtype=torch.float64))
    assert all(not t.requires_grad for t in saved.values())


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_step_share_is_what_the_loss_divides_by(name):
    # A rank's share of a global batch: objective * share summed over the parts
    # of a batch, divided by the shares' sum, is the objective of the whole batch.
    rng = np.random.default_rng(0)
    U = torch.tensor(rng.normal(size=(N_FUNCTIONS, N_SENSORS)))
    G = rng.normal(size=(N_FUNCTIONS, N_POINTS))
    G[rng.random(G.shape) < 0.4] = np.nan
    G[2, :] = np.nan
    G[3, 1:] = np.nan
    coords = torch.tensor(rng.normal(size=(N_POINTS, D)))
    data = _training_data(U, torch.tensor(G), coords, True)
    net = _network()
    loss = LOSSES[name]().prepare(LossContext(data.g_scale, N_FUNCTIONS, data.mean_square,
                                              data.device))
    cols = torch.tensor([[0, 1, 4, 7, 9]] * N_FUNCTIONS)
    weight = torch.tensor([1.0, 0.5, 0.0, 2.0, 1.0], dtype=torch.float64)
    rows = torch.arange(N_FUNCTIONS)
    with torch.no_grad():
        whole = step_objective(net, data, loss, rows, cols, weight, data.targets(rows, cols),
                               "pairs")[0]
        parts = []
        for part in (rows[:2], rows[2:4], rows[4:]):
            target = data.targets(part, cols[part])
            value = step_objective(net, data, loss, part, cols[part], weight, target, "pairs")[0]
            parts.append((float(value), step_share(loss, data, part, target, weight)))
    assert parts[1][1] > 0 and parts[0][1] != parts[2][1]
    combined = sum(v * s for v, s in parts) / sum(s for _, s in parts)
    assert combined == pytest.approx(float(whole), rel=1e-12)


def test_step_share_without_missing_targets_is_the_rows():
    data = _training_data(torch.zeros(4, N_SENSORS), torch.zeros(4, N_POINTS),
                          torch.zeros(N_POINTS, D), False)
    loss = LOSSES["mse"]()
    assert step_share(loss, data, torch.arange(3), None, None) == 3.0


# ------------------------------------------------------------ the Gram path
def _table_network(seed=0, correction=False):
    """A DeepONet whose trunk is a fixed table (modes not orthogonal, on purpose)."""
    gen = torch.Generator().manual_seed(seed)
    net = _network(seed)
    modes = torch.randn(N_POINTS, 5, generator=gen, dtype=torch.float64)
    extra = built(MLP, D, (4,), 5, "tanh", generator=gen).double() if correction else None
    net.trunk = PODModes(torch.rand(N_POINTS, D, generator=gen, dtype=torch.float64), modes,
                         extra)
    net.trunk_is_table = True
    return net


def _prepared(name, data):
    return LOSSES[name]().prepare(LossContext(data.g_scale, data.n_functions,
                                              data.mean_square, data.device))


@pytest.mark.parametrize("name", ["mse", "relative_l2"])
def test_gram_path_is_the_grid_path(name):
    # The quadratic form in the branch's coefficients gives the full-grid objective
    # and its gradient (bias included) without forming the grid.
    net = _table_network()
    U, coords, G = _data(False)
    data = _training_data(U, G, coords, False, shift=0.3, scale=2.0)
    loss = _prepared(name, data)
    assert TableGram.applies(net, data, loss)
    data.gram = TableGram(net, data)
    rows = torch.tensor([3, 0, 7, 5])
    target = data.targets(rows, None)
    grid = _loss_and_grads(step_objective(net, data, loss, rows, None, None, target,
                                          "grid")[0], net)
    gram = _loss_and_grads(step_objective(net, data, loss, rows, None, None, target,
                                          "gram")[0], net)
    torch.testing.assert_close(gram[0], grid[0], rtol=1e-12, atol=1e-14)
    for f, r in zip(gram[1], grid[1]):
        if r is not None:
            torch.testing.assert_close(f, r, rtol=1e-10, atol=1e-12)


def test_gram_path_keeps_residuals_far_below_the_targets():
    # float32 network and targets that the network fits to 1e-6 of their size: the
    # form, in float64, still gives the residual's mean square (no cancellation).
    net = _table_network().float()
    U, coords, _ = _data(False)
    U = U.float()
    with torch.no_grad():  # the network's outputs, in float64 from its float32 numbers
        exact = net.encode_branch(U).double() @ net.trunk.modes.double().T + net.bias.double()
    noise = 1e-6 * torch.randn(exact.shape, generator=torch.Generator().manual_seed(4))
    data = _training_data(U, (exact + noise).float(), coords.float(), False)
    data.gram = TableGram(net, data)
    rows = torch.arange(N_FUNCTIONS)
    with torch.no_grad():
        got = data.gram.mean_square(net.encode_branch(U), net.bias, rows)[:, 0].double()
        want = (exact.double() - data.G.double()).square().mean(dim=1)
    assert float(want.mean()) < 1e-11
    torch.testing.assert_close(got, want, rtol=1e-2, atol=0)  # float32 would round it away


def test_gram_path_applies_only_where_it_is_exact():
    U, coords, G = _data(False)
    data = _training_data(U, G, coords, False)
    mse = _prepared("mse", data)
    assert TableGram.applies(_table_network(), data, mse)
    assert not TableGram.applies(_network(), data, mse)            # an MLP trunk
    assert not TableGram.applies(_table_network(correction=True), data, mse)  # trainable
    assert not TableGram.applies(_table_network(), data, _prepared("huber", data))

    class Absolute(MSELoss):  # changes __call__ but not from_mean_square: not trusted
        def __call__(self, residual, weight, rows):
            return residual.abs().mean(), None

    assert not TableGram.applies(_table_network(), data, Absolute().prepare(
        LossContext(data.g_scale, data.n_functions, data.mean_square, data.device)))
    U, coords, G = _data(True)
    assert not TableGram.applies(_table_network(), _training_data(U, G, coords, True), mse)


@pytest.mark.parametrize("loss", ["mse", "relative_l2"])
def test_pod_trunk_fit_on_every_point_skips_the_grid(loss, monkeypatch):
    # A POD-DeepONet trained on every point: the trunk's table is read once (for
    # the Gram statistics), not at every step, and the fit is the grid path's.
    from skoperator import DeepONetRegressor, _training
    from skoperator.datasets import make_antiderivative

    U, Y, G = make_antiderivative(120, n_points=40, random_state=0)
    calls = []
    at_index = PODModes.at_index
    monkeypatch.setattr(PODModes, "at_index",
                        lambda self, index: calls.append(1) or at_index(self, index))

    def fit():
        calls.clear()
        est = DeepONetRegressor(coords=Y, trunk="pod", n_basis=10, sampling="full", loss=loss,
                                max_iter=8, batch_size=16, tol=None, random_state=0)
        return est.fit(U, G), len(calls)

    gram, n_gram = fit()
    monkeypatch.setattr(_training.TableGram, "applies", staticmethod(lambda *a: False))
    grid, n_grid = fit()
    # 8 epochs of 8 steps read the table 64 times on the grid path, once on the Gram
    # path (both also read it outside the steps)
    assert n_grid - n_gram == 8 * 8 - 1
    np.testing.assert_allclose(gram.predict(U[:20]), grid.predict(U[:20]), atol=1e-4)
