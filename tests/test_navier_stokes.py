"""Tests of the Navier-Stokes solver and generator (exact solution, convergence, cache)."""

import numpy as np
import pytest

from skoperator.datasets import (
    _navier_stokes,
    make_navier_stokes,
    navier_stokes_symmetry,
    solve_navier_stokes,
)

X32 = np.arange(32) / 32


def _taylor_green(k, n=32):
    s = np.sin(2 * np.pi * k * np.arange(n) / n)
    return 3.0 * s[:, None] * s[None, :]


def _relative(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize("k", [1, 2])
def test_solve_taylor_green_decays_exactly(k):
    # Without forcing, w = W sin(2 pi k x) sin(2 pi k y) is a steady Euler
    # flow (u . grad w = 0) that decays as exp(-8 pi**2 k**2 nu t).
    nu = 1e-3
    w0 = _taylor_green(k)
    W = solve_navier_stokes(w0, viscosity=nu, t_final=3, forcing=None)
    exact = w0[None] * np.exp(-8 * np.pi**2 * k**2 * nu * np.arange(1, 4))[:, None, None]
    assert W.shape == (3, 32, 32)
    assert _relative(W, exact) < 1e-6


def test_solve_taylor_green_float32_and_batches():
    w0 = np.stack([_taylor_green(1), -_taylor_green(2)])
    W64 = solve_navier_stokes(w0, viscosity=1e-3, t_final=1, forcing=None)
    W32 = solve_navier_stokes(w0, viscosity=1e-3, t_final=1, forcing=None, dtype="float32")
    assert W64.shape == W32.shape == (2, 1, 32, 32)
    assert W32.dtype == np.float64
    for i in range(2):  # each function as if solved alone
        np.testing.assert_allclose(
            W64[i], solve_navier_stokes(w0[i], viscosity=1e-3, t_final=1, forcing=None),
            rtol=0, atol=1e-12)
    assert _relative(W32, W64) < 1e-5


@pytest.fixture(scope="module")
def initial():
    """Two initial vorticities of the benchmark's law on 32 x 32 points."""
    spectrum = _navier_stokes._sample_spectrum(2, np.random.RandomState(0))
    return _navier_stokes._spectrum_to_grid(spectrum, 32)


def test_solve_step_halving_converges_at_second_order(initial):
    # nu = 1e-3, forced, to t = 2 on the 32-point grid: steps of 1/25, 1/50,
    # 1/100. Measured: 1/50 -> 1/100 changes the snapshots by 2.5e-6
    # (relative L2); each halving divides the change by 3.99 (second order).
    kw = dict(viscosity=1e-3, t_final=2, resolution=32)
    W25, W50, W100 = (solve_navier_stokes(initial, steps_per_unit=s, **kw) for s in (25, 50, 100))
    coarse, fine = _relative(W25, W100), _relative(W50, W100)
    assert fine < 2e-5
    assert 3.5 < (coarse - fine) / fine < 4.5  # d(25, 50) / d(50, 100) ~ 4


def test_solve_finer_resolution_agrees(initial):
    # nu = 1e-3 to t = 2: the 48-point solver (modes <= 15, all those of the
    # 32-point input) against the 96-point one (modes <= 31). Measured:
    # 1.6e-7 relative L2 (the 32-point solver, modes <= 10: 6.5e-5).
    kw = dict(viscosity=1e-3, t_final=2, steps_per_unit=50)
    W48 = solve_navier_stokes(initial, resolution=48, **kw)
    W96 = solve_navier_stokes(initial, resolution=96, **kw)
    assert _relative(W48, W96) < 1e-6


def test_initial_law_has_the_stated_variance():
    # Pointwise variance of the law FNO's code draws, covariance 7**3 (-Lap + 49 I)**-2.5
    # (7**1.5 scales the standard deviation): sum over k != 0 of
    # sigma**2 (4 pi**2 |k|**2 + 49)**-2.5, sigma = 7**1.5 (on the modes drawn).
    spectrum = _navier_stokes._sample_spectrum(400, np.random.RandomState(1))
    w = _navier_stokes._spectrum_to_grid(spectrum, 16)
    expected = float((_navier_stokes._field_scales() ** 2).sum())
    assert abs(w.var() / expected - 1.0) < 0.05
    assert abs(w.mean()) < 0.05 * np.sqrt(expected)
    # No k = 0 mode: a mean of zero (on 65 points, where no drawn mode folds onto it).
    mean = _navier_stokes._spectrum_to_grid(spectrum[:5], 65).mean(axis=(1, 2))
    np.testing.assert_allclose(mean, 0.0, atol=1e-14)


def test_make_layout_matches_the_solver():
    kw = dict(n_points=16, viscosity=1e-3, steps_per_unit=20, resolution=16)
    U, Y, G = make_navier_stokes(2, n_inputs=2, t_final=4, random_state=0, **kw)
    assert U.shape == (2, 2 * 256) and Y.shape == (2 * 256, 3) and G.shape == (2, 512)
    grid = np.arange(16) / 16
    Yg = Y.reshape(2, 16, 16, 3)
    np.testing.assert_array_equal(Yg[0, :, 0, 0], grid)  # x along the first grid axis
    np.testing.assert_array_equal(Yg[0, 0, :, 1], grid)
    np.testing.assert_array_equal(Yg[:, 0, 0, 2], [3.0, 4.0])
    # G continues the trajectory that U starts: solving from w(t = 2) for two
    # more units gives G (up to interpolation of the 16-point input).
    W = U.reshape(2, 2, 16, 16)
    again = solve_navier_stokes(W[:, -1], t_final=2, **{k: v for k, v in kw.items()
                                                       if k != "n_points"})
    assert _relative(again.reshape(2, -1), G) < 1e-2
    assert np.isfinite(G).all() and G.dtype == np.float64


def test_make_is_deterministic_by_random_state():
    kw = dict(n_points=8, n_inputs=1, t_final=2, steps_per_unit=10, resolution=16)
    a = make_navier_stokes(40, random_state=0, **kw)  # two chunks: 32 + 8 trajectories
    b = make_navier_stokes(40, random_state=0, n_jobs=2, **kw)
    c = make_navier_stokes(40, random_state=1, **kw)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.allclose(a[0], c[0])


def test_make_cache_round_trip(tmp_path, monkeypatch):
    kw = dict(n_points=8, n_inputs=1, t_final=2, steps_per_unit=10, resolution=16,
              random_state=0)
    first = make_navier_stokes(2, cache=True, data_home=tmp_path, **kw)
    files = list((tmp_path / "navier_stokes").glob("*.npz"))
    assert len(files) == 1
    assert not list((tmp_path / "navier_stokes").glob("*.tmp*"))  # atomic: no leftovers
    monkeypatch.setattr(_navier_stokes, "_evolve", lambda *a, **k: pytest.fail("not cached"))
    again = make_navier_stokes(2, cache=True, data_home=tmp_path, **kw)
    for x, y in zip(first, again):
        np.testing.assert_array_equal(x, y)
    monkeypatch.setenv("SKOPERATOR_DATA", str(tmp_path))
    from_env = make_navier_stokes(2, cache=True, **kw)  # $SKOPERATOR_DATA
    np.testing.assert_array_equal(from_env[2], first[2])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: solve_navier_stokes(np.zeros((2, 8, 9))), "w0 must have shape"),
        (lambda: solve_navier_stokes(np.zeros(8)), "w0 must have shape"),
        (lambda: solve_navier_stokes(np.full((4, 4), np.nan)), "w0 must be finite"),
        (lambda: solve_navier_stokes(np.zeros((4, 4)), viscosity=0.0), "'viscosity'"),
        (lambda: solve_navier_stokes(np.zeros((4, 4)), t_final=0), "'t_final'"),
        (lambda: solve_navier_stokes(np.zeros((4, 4)), resolution=True), "'resolution'"),
        (lambda: solve_navier_stokes(np.zeros((4, 4)), forcing="kolmogorov"), "'forcing'"),
        (lambda: solve_navier_stokes(np.zeros((4, 4)), dtype="float16"), "'dtype'"),
        (lambda: solve_navier_stokes(np.zeros((4, 4)), device="tpu"), "device='tpu'"),
        (lambda: make_navier_stokes(1, n_inputs=5, t_final=5), "n_inputs must be less"),
        (lambda: make_navier_stokes(1, cache=True), "cache=True needs an int random_state"),
        (lambda: make_navier_stokes(0), "'n_functions'"),
        (lambda: make_navier_stokes(40, n_jobs=0), "'n_jobs' .* Got 0"),
        (lambda: make_navier_stokes(40, n_jobs=True), "'n_jobs' .* Got True instead"),
        (lambda: solve_navier_stokes(np.zeros((4, 4)), n_jobs=True), "'n_jobs' .* Got True"),
        (lambda: solve_navier_stokes(np.zeros((4, 4)) + 1j), "w0 must be real"),
    ],
)
def test_invalid_arguments_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_data_home_that_is_a_file_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(_navier_stokes, "_evolve", lambda *a, **k: pytest.fail("solved"))
    path = tmp_path / "a_file"
    path.write_text("")
    with pytest.raises(ValueError, match="data_home must be a folder .*a_file"):
        make_navier_stokes(2, n_points=8, n_inputs=1, t_final=2, resolution=16, cache=True,
                           random_state=0, data_home=path)


def test_solve_reports_blow_up():
    w0 = 1e3 * _taylor_green(3, n=16) + 1e3 * np.roll(_taylor_green(2, n=16), 3, axis=0)
    with pytest.raises(FloatingPointError, match="increase resolution and steps_per_unit"):
        solve_navier_stokes(w0, viscosity=1e-6, t_final=60, steps_per_unit=1, resolution=16)


@pytest.mark.parametrize("branch", ["cnn", "fno"])
def test_space_time_operator_predicts_at_any_t_and_point(branch):
    # Inputs: w(t = 1, 2) as two channels of a 16 x 16 grid; outputs at
    # (x, y, t) for t = 3, 4, t a trunk coordinate, trained on random points.
    from skoperator import DeepONetRegressor
    from skoperator.networks import CNNBranch, FNOBranch, MLPTrunk

    U, Y, G = make_navier_stokes(6, n_points=16, n_inputs=2, t_final=4, resolution=16,
                                 steps_per_unit=20, random_state=0)
    net = (CNNBranch(grid=(16, 16), channels=2, filters=(4,), layers=(16,))
           if branch == "cnn" else FNOBranch(grid=(16, 16), channels=2, modes=4, width=4))
    est = DeepONetRegressor(branch=net, trunk=MLPTrunk(layers=(16,)), n_basis=8, coords=Y,
                            n_eval=64, max_iter=2, tol=None, device="cpu", random_state=0)
    est.fit(U, G)
    assert est.predict(U[:2]).shape == (2, Y.shape[0])
    # Any t inside the window (3.5 is between snapshots) and any point.
    points = np.array([[0.1, 0.2, 3.5], [0.33, 0.71, 3.0], [0.9, 0.05, 4.0]])
    P = est.predict(U[:2], coords=points)
    assert P.shape == (2, 3) and np.isfinite(P).all()
    # At a training point the answer is the one on the whole output grid.
    full = est.predict(U[:2])
    np.testing.assert_allclose(est.predict(U[:2], coords=Y[[5, 300]]), full[:, [5, 300]],
                               rtol=1e-5, atol=1e-6)
    # The snapshots as a (n, channels, 16, 16) array are the same input.
    np.testing.assert_allclose(est.predict(U[:2].reshape(2, 2, 16, 16)), full,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, viscosity, t_final, fno_2d", [
    ("navier-stokes-1e-5", 1e-5, 20, 0.1556), ("navier-stokes-1e-3", 1e-3, 50, 0.0128)])
def test_reproduce_records(name, viscosity, t_final, fno_2d):
    from skoperator.reproduce import BENCHMARKS, final_estimator, make_estimator

    spec = BENCHMARKS[name]
    law = spec.make.keywords
    assert (law["viscosity"], law["t_final"], law["n_inputs"]) == (viscosity, t_final, 10)
    assert law["cache"] is True  # 1,200 trajectories take minutes: kept on disk
    assert dict((m, e) for m, e, _ in spec.published)["FNO-2D"] == fno_2d
    assert spec.n_train == (1000,) and spec.n_test == 200
    model = make_estimator(name, device="cpu")
    # fitted where each trajectory is moved along the diagonal (x + s, y - s)
    from skoperator.symmetry import CanonicalizedRegressor

    assert isinstance(model, CanonicalizedRegressor)
    assert model.symmetry.grid == (64, 64) and model.symmetry.direction == (1, -1)
    # and by the flow's glide and rotation
    assert repr(model.symmetry) == repr(navier_stokes_symmetry(64))
    assert type(make_estimator(name, device="cpu", symmetries=False)).__name__ == \
        "DeepONetRegressor"
    est = final_estimator(model)
    assert est.branch.grid == (64, 64) and est.branch.channels == 10  # w(1..10) as channels
    assert est.max_time is None
    # POD-DeepONets: the trunk is the leading modes of the training outputs
    from skoperator.networks import PODTrunk

    assert isinstance(est.trunk, PODTrunk) and est.sampling == "full"
    assert est.n_basis == {"navier-stokes-1e-5": 512, "navier-stokes-1e-3": 256}[name]
    # nu = 1e-5: the mean of twelve members (inside the canonicaliser), each
    # with the wider head and 8 Fourier modes; nu = 1e-3: one
    from skoperator.uncertainty import EnsembleRegressor

    inner = model.estimator
    members = {"navier-stokes-1e-5": 12, "navier-stokes-1e-3": None}[name]
    assert getattr(inner, "n_estimators", None) == members
    assert isinstance(inner, EnsembleRegressor) == (members is not None)
    # the members alone can be changed, the canonicaliser kept
    one = make_estimator(name, device="cpu", ensemble=None)
    assert isinstance(one, CanonicalizedRegressor)
    assert type(one.estimator).__name__ == "DeepONetRegressor"
    assert make_estimator(name, device="cpu", ensemble=2).estimator.n_estimators == 2
    assert est.branch.head_layers == {"navier-stokes-1e-5": (512, 512),
                                      "navier-stokes-1e-3": (128,)}[name]
    assert est.branch.stride == 2  # the Fourier layers on every other node (32 x 32)
    assert est.branch.modes == 8
