"""RolloutRegressor: windows in, the next window out, fed back; its remedies and its errors."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import RandomForestRegressor
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPRegressor

from skoperator import DeepONetRegressor
from skoperator.datasets import make_navier_stokes
from skoperator.networks import FNOBranch, MLPTrunk, PODTrunk
from skoperator.rollout import RolloutRegressor, rollout_errors, window_coords


def _advection(n_traj=6, n_times=12, n=8, seed=0):
    """Periodic advection by one grid cell per step: the next window is a known linear map."""
    rng = np.random.default_rng(seed)
    first = rng.standard_normal((n_traj, n, n))
    return np.stack([np.roll(first, t, axis=-1) for t in range(n_times)], axis=1)


class Recorder(RegressorMixin, BaseEstimator):
    """Records what it is fitted on; predicts its input (the identity)."""

    def __init__(self, warm_start=False):
        self.warm_start = warm_start

    def fit(self, X, y):
        self.calls_ = getattr(self, "calls_", []) + [(X.copy(), y.copy(), self.warm_start)]
        return self

    def predict(self, X):
        return np.asarray(X) * 1.0


class NoWarmStart(RegressorMixin, BaseEstimator):
    def fit(self, X, y):
        self.X_ = X
        return self

    def predict(self, X):
        return np.asarray(X) * 1.0


def test_window_coords_order_snapshot_slowest():
    coords = window_coords((2, 4), 3)
    assert coords.shape == (3 * 8, 3)
    np.testing.assert_allclose(coords[:8, 2], 1 / 3)
    np.testing.assert_allclose(coords[-1], [0.5, 0.75, 1.0])
    np.testing.assert_allclose(coords[1], [0.0, 0.25, 1 / 3])


def test_rollout_errors_exact():
    W = np.ones((3, 2, 4, 4))
    pred = W.copy()
    pred[:, 1] *= 0.9
    np.testing.assert_allclose(rollout_errors(W, pred), [0.0, 0.1])
    with pytest.raises(ValueError, match="same shape"):
        rollout_errors(W, pred[:, :1])


def test_linear_model_rollout_recovers_exact_advection():
    W = _advection(n_traj=40, n_times=30, n=4)  # 7 * 40 pairs for 48 unknowns per output
    model = RolloutRegressor(Ridge(alpha=1e-10), window=3, pushforward=0).fit(W[:, :12])
    errors = model.score_rollout(W)  # 9 windows, far past the trained 2 windows
    assert errors.shape == (27,)
    assert errors.max() < 1e-6


def test_predict_rollout_shape_and_order():
    W = _advection()
    model = RolloutRegressor(Ridge(alpha=1e-3), window=2, pushforward=0).fit(W)
    U = W[:2, :2]
    rolled = model.predict_rollout(U, n_windows=3)
    assert rolled.shape == (2, 6, 8, 8)
    first = model.predict(U)
    np.testing.assert_array_equal(rolled[:, :2], first)
    np.testing.assert_array_equal(rolled[:, 2:4], model.predict(first))


def test_predict_rollout_step_keeps_the_first_snapshots_of_each_prediction():
    W = _advection()
    model = RolloutRegressor(Ridge(alpha=1e-3), window=3, pushforward=0).fit(W)
    U = W[:2, :3]
    rolled = model.predict_rollout(U, n_windows=2, step=2)
    assert rolled.shape == (2, 6, 8, 8)
    first = model.predict(U)
    np.testing.assert_array_equal(rolled[:, :2], first[:, :2])
    # the window moves two snapshots: the last true one and the first two predicted
    second = model.predict(np.concatenate([U[:, 2:], first[:, :2]], axis=1))
    np.testing.assert_array_equal(rolled[:, 2:4], second[:, :2])
    np.testing.assert_array_equal(model.predict_rollout(U, 2, step=3),
                                  model.predict_rollout(U, 2))
    # exact dynamics: every step gives the truth
    exact = RolloutRegressor(Ridge(alpha=1e-10), window=3, pushforward=0).fit(
        _advection(n_traj=40, n_times=12, n=4))
    W4 = _advection(n_traj=3, n_times=30, n=4)
    for step in (1, 2, 3):
        assert exact.score_rollout(W4, step=step).max() < 1e-6
    for bad in (0, 4, 1.5):
        with pytest.raises(ValueError, match=r"step must be an int in \[1, window=3\]"):
            model.predict_rollout(U, 2, step=bad)


def test_fit_pairs_every_start_and_pushforward_adds_predictions():
    W = _advection(n_traj=2, n_times=7)
    model = RolloutRegressor(Recorder(), window=2, pushforward=2, residual=False).fit(W)
    calls = model.estimator_.calls_
    # 8 true pairs, 4 pushforward pairs repeated 8 // 4 = 2 times to weigh as much
    assert len(calls) == 3 and model.n_pairs_ == [8, 16, 16]
    X, Y, warm = calls[0]
    # every start s = 0..3, trajectories in turn within a start
    np.testing.assert_array_equal(X[2], W[0, 1:3].ravel())
    np.testing.assert_array_equal(Y[2], W[0, 3:5].ravel())
    assert not warm
    for X_round, Y_round, warm in calls[1:]:
        assert warm  # training goes on
        np.testing.assert_array_equal(X_round[:8], X)
        # the identity's prediction of the window after W[:, s:s+2] is that window,
        # paired with the true window after the next: W[:, s+4:s+6]
        third = np.concatenate([W[:, s + 4:s + 6].reshape(2, -1) for s in range(2)])
        for copy in (slice(8, 12), slice(12, 16)):
            np.testing.assert_array_equal(X_round[copy], X[:4])
            np.testing.assert_array_equal(Y_round[copy], third)
    assert model.estimator_.warm_start is False  # restored
    assert model.estimator.warm_start is False


def test_pushforward_without_warm_start_refits_a_clone():
    W = _advection(n_traj=2, n_times=6)
    model = RolloutRegressor(NoWarmStart(), window=2, pushforward=1).fit(W)
    assert model.estimator_.X_.shape == (6 + 3 * 2, 128)  # 2 pushforward pairs, 3 times


def test_noise_on_inputs_fresh_each_round_targets_clean():
    W = _advection(n_traj=20, n_times=6, n=8)
    model = RolloutRegressor(Recorder(), window=2, pushforward=1, noise=0.1, residual=False,
                             random_state=0).fit(W)
    clean = RolloutRegressor(Recorder(), window=2, pushforward=1, residual=False).fit(W)
    (X0, Y0, _), (X1, Y1, _) = model.estimator_.calls_
    (C0, D0, _), (C1, D1, _) = clean.estimator_.calls_
    np.testing.assert_array_equal(Y0, D0)
    np.testing.assert_array_equal(Y1, D1)
    assert np.std(X0 - C0) == pytest.approx(0.1 * W.std(), rel=0.05)
    # a fresh draw in the second round (the inputs of round 2 start with the clean pairs)
    assert not np.allclose(X1[:len(X0)] - C0, X0 - C0)
    assert np.std(X1 - C1) == pytest.approx(0.1 * W.std(), rel=0.05)
    # the 3 copies of the 20 pushforward pairs, each with its own draw
    assert len(X1) == 60 + 3 * 20
    np.testing.assert_array_equal(C1[60:80], C1[80:100])
    assert not np.allclose(X1[60:80] - C1[60:80], X1[80:100] - C1[80:100])


def test_residual_fits_the_change_from_the_last_input_snapshot():
    W = _advection(n_traj=2, n_times=7)
    model = RolloutRegressor(Recorder(), window=2, pushforward=1).fit(W)  # residual by default
    (X, Y, _), (X_round, Y_round, _) = model.estimator_.calls_
    last = X.reshape(len(X), 2, -1)[:, 1]
    # the target of pair 2 (trajectory 0, start 1) is W[0, 3:5] - W[0, 2], each snapshot
    np.testing.assert_array_equal(Y[2], (W[0, 3:5] - W[0, 2]).ravel())
    # the pushforward inputs are the full predictions: the identity's output (X) plus the
    # last snapshot repeated
    pred = X[:4] + np.tile(last[:4], 2)
    np.testing.assert_array_equal(X_round[8:], np.concatenate([pred, pred]))
    # and predict adds the last snapshot back to the estimator's output
    U = W[:1, :2]
    expected = U.reshape(1, -1) + np.tile(U[:, 1].reshape(1, -1), 2)
    np.testing.assert_array_equal(model.predict(U).reshape(1, -1), expected)


def test_residual_linear_rollout_is_exact_and_noise_is_corrected():
    W = _advection(n_traj=40, n_times=30, n=4)
    exact = RolloutRegressor(Ridge(alpha=1e-10), window=3, pushforward=0,
                             residual=True).fit(W[:, :12])
    assert exact.score_rollout(W).max() < 1e-6
    # with noise the target is taken from the noisy input's last snapshot: the model
    # learns to remove the noise from it (a Recorder sees the targets)
    model = RolloutRegressor(Recorder(), window=2, pushforward=0, noise=0.1, residual=True,
                             random_state=0).fit(W[:, :6])
    X, Y, _ = model.estimator_.calls_[0]
    clean = RolloutRegressor(Recorder(), window=2, pushforward=0, residual=False).fit(W[:, :6])
    X0, Y0, _ = clean.estimator_.calls_[0]
    last = X.reshape(len(X), 2, -1)[:, 1]
    np.testing.assert_allclose(Y, Y0 - np.tile(last, 2))


@pytest.mark.parametrize("params, match", [
    (dict(window=0), "'window' parameter"),
    (dict(pushforward=-1), "'pushforward' parameter"),
    (dict(noise=-0.5), "'noise' parameter"),
    (dict(residual="yes"), "'residual' parameter"),
    (dict(window=4, pushforward=0), "window=4 needs trajectories of at least 2 \\* window = 8"),
    (dict(window=2, pushforward=1), "pushforward=1 needs .* 3 \\* window = 6 .* got W with 5"),
])
def test_fit_validation_names_the_argument(params, match):
    W = _advection(n_traj=2, n_times=5)
    with pytest.raises(ValueError, match=match):
        RolloutRegressor(Ridge(), **params).fit(W)


def test_failed_fit_leaves_estimator_unchanged():
    W = _advection(n_times=8)
    model = RolloutRegressor(Ridge(), window=2, pushforward=1).fit(W)
    before = model.predict(W[:, :2])
    fitted = model.estimator_
    with pytest.raises(ValueError, match="pushforward"):
        model.fit(W[:, :5])
    with pytest.raises(ValueError, match="W must have shape"):
        model.fit(W[:, :, 0, 0])
    assert model.estimator_ is fitted and model.n_pairs_ == [30, 48]
    np.testing.assert_array_equal(model.predict(W[:, :2]), before)


def test_predict_rejects_windows_of_the_wrong_shape():
    W = _advection()
    model = RolloutRegressor(Ridge(), window=2, pushforward=0).fit(W)
    with pytest.raises(ValueError, match=r"X must have shape \(n, 2, 8, 8\)"):
        model.predict(W[:, :3])
    with pytest.raises(ValueError, match=r"U must have shape \(n, 2, 8, 8\)"):
        model.predict_rollout(W[:, :3], 1)
    with pytest.raises(ValueError, match="n_windows must be a positive int"):
        model.predict_rollout(W[:, :2], 0)


@pytest.mark.parametrize("params, match", [
    (dict(window=True), "'window' parameter of RolloutRegressor must be an int .* Got True"),
    (dict(pushforward=True), "'pushforward' parameter of RolloutRegressor .* Got True"),
])
def test_bool_counts_rejected_before_any_fit(params, match):
    W = _advection(n_times=9)
    inner = Recorder()
    with pytest.raises(ValueError, match=match):
        RolloutRegressor(inner, **params).fit(W)
    assert not hasattr(inner, "calls_")


@pytest.mark.parametrize("W, match", [
    (np.zeros(12), r"W must have shape .* got an array of shape \(12,\)"),
    (np.zeros((2, 12, 0)), r"non-empty grid; got an array of shape \(2, 12, 0\)"),
    (np.ones((1, 4, 3)), "W gives 1 \\(window, next window\\) pair with window=2"),
])
def test_fit_rejects_trajectories_it_cannot_use(W, match):
    with pytest.raises(ValueError, match=match):
        RolloutRegressor(Ridge(), window=2, pushforward=0).fit(W)


def test_predict_reads_the_fitted_window_and_form_not_new_params():
    W = _advection(n_times=9)
    model = RolloutRegressor(Ridge(), window=3, pushforward=0).fit(W)
    before = model.predict_rollout(W[:, :3], 2)
    model.set_params(window=2, residual=False)
    np.testing.assert_array_equal(model.predict_rollout(W[:, :3], 2), before)
    assert (model.window_, model.residual_) == (3, True)
    with pytest.raises(ValueError, match=r"X must have shape \(n, 3, 8, 8\) \(one window of 3"):
        model.predict(W[:, :2])


def test_rollout_arguments_and_score_targets_validated():
    W = _advection(n_times=9)
    model = RolloutRegressor(Ridge(), window=3, pushforward=0).fit(W)
    with pytest.raises(ValueError, match="n_windows must be a positive int; got True"):
        model.predict_rollout(W[:, :3], True)
    with pytest.raises(ValueError, match="step must be an int in .* got True"):
        model.predict_rollout(W[:, :3], 2, step=True)
    with pytest.raises(ValueError, match=r"y must have the shape .* \(6, 3, 8, 8\) .* got "
                                         r"\(6, 24, 8\)"):
        model.score(W[:, :3], W[:, 3:6].reshape(6, 24, 8))
    with pytest.raises(ValueError, match=r"y must be an array of real numbers of shape "
                                         r"\(6, 3, 8, 8\) .* could not convert"):
        model.score(W[:, :3], "abc")


def test_rollout_errors_rejects_zero_true_snapshots():
    W = np.ones((2, 3, 4))
    W[1, 2] = 0.0
    with pytest.raises(ValueError, match=r"W_true must have no snapshot .* W_true\[1, 2\] = 0"):
        rollout_errors(W, W)


@pytest.mark.parametrize("grid, window, match", [
    ((4,), 0, "window of window_coords must be an int >= 1; got 0"),
    ((4,), 2.5, "got 2.5"),
    ((4,), True, "got True"),
    (4, 2, "grid must be a non-empty tuple of positive ints .* got 4\\."),
    ((4, 0), 2, r"got \(4, 0\)"),
])
def test_window_coords_validation(grid, window, match):
    with pytest.raises(ValueError, match=match):
        window_coords(grid, window)


def test_score_of_trajectories_is_the_rollouts_and_drives_a_search():
    W = _advection(n_traj=30, n_times=12, n=8)
    model = RolloutRegressor(Ridge(alpha=1e-8), window=2, pushforward=0).fit(W[:20])
    truth, pred = W[20:, 2:], model.predict_rollout(W[20:, :2], 5)
    rows = len(truth)
    expected = r2_score(truth.reshape(rows, -1), pred.reshape(rows, -1),
                        multioutput="variance_weighted")
    assert model.score(W[20:]) == pytest.approx(expected, rel=1e-12)
    search = GridSearchCV(RolloutRegressor(Ridge(), window=2, pushforward=0),
                          {"estimator__alpha": [1e-8, 1e4]}, cv=3).fit(W)
    assert search.best_params_ == {"estimator__alpha": 1e-8}
    assert search.cv_results_["mean_test_score"][0] > 0.999 > \
        search.cv_results_["mean_test_score"][1]
    with pytest.raises(ValueError, match=r"X must have shape \(n_trajectories, n_times, \*grid\) "
                                         r"with n_times >= 2 \* window = 4"):
        model.score(W[:, :3])


def test_clone_params_and_pickle():
    model = RolloutRegressor(Ridge(alpha=0.5), window=3, pushforward=2, noise=0.1,
                             random_state=1)
    params = model.get_params()
    assert params["estimator__alpha"] == 0.5 and params["window"] == 3
    twin = clone(model).set_params(estimator__alpha=2.0, noise=0.0)
    assert twin.estimator.alpha == 2.0 and model.estimator.alpha == 0.5
    W = _advection(n_times=9)
    model.fit(W)
    loaded = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(loaded.predict_rollout(W[:, :3], 2),
                                  model.predict_rollout(W[:, :3], 2))
    assert model.score(W[:, :3], W[:, 3:6]) > 0.9


def test_default_estimator_on_navier_stokes_snapshots():
    U, _, G = make_navier_stokes(3, n_points=8, n_inputs=2, t_final=6, resolution=16,
                                 steps_per_unit=10, random_state=0)
    W = np.concatenate([U.reshape(3, 2, 8, 8), G.reshape(3, 4, 8, 8)], axis=1)
    estimator = DeepONetRegressor(
        branch=FNOBranch(grid=(8, 8), channels=2, modes=4, width=4, n_layers=1),
        trunk=MLPTrunk(layers=(16,)), n_basis=8, coords=window_coords((8, 8), 2), n_eval=32,
        max_iter=2, tol=None, device="cpu", random_state=0)
    model = RolloutRegressor(estimator, window=2, pushforward=1, noise=0.01,
                             random_state=0).fit(W)
    assert model.estimator_.n_iter_ == 4  # two epochs, two more in the pushforward round
    assert model.predict_rollout(W[:, :2], 2).shape == (3, 4, 8, 8)
    default = RolloutRegressor(window=2, pushforward=0, random_state=0)
    default.set_params(estimator=None)
    built = default.fit(W[:, :4]).estimator_
    assert built.branch.channels == 2 and built.coords.shape == (2 * 64, 3)
    # the POD modes of the training windows, no more than the 3 pairs, on every point
    assert isinstance(built.trunk, PODTrunk) and built.n_basis == 3
    assert built.sampling == "full"
    assert np.isfinite(default.score_rollout(W)).all()


def test_unfitted_predict_raises_and_failed_first_fit_sets_nothing():
    model = RolloutRegressor(Ridge(), window=3, pushforward=0)
    with pytest.raises(NotFittedError):
        model.predict_rollout(np.zeros((1, 3, 4)), 2)
    with pytest.raises(ValueError, match="window=3 needs"):
        model.fit(np.zeros((2, 5, 4)))
    assert not [name for name in vars(model) if name.endswith("_")]


def test_pushforward_refits_a_forest_instead_of_a_warm_start_that_adds_no_tree():
    # a forest's warm start with n_estimators unchanged trains nothing: the round refits
    W = _advection(n_times=8)
    forest = RandomForestRegressor(5, random_state=0)
    m0 = RolloutRegressor(forest, window=2, pushforward=0).fit(W)
    m1 = RolloutRegressor(forest, window=2, pushforward=1).fit(W)
    assert m1.n_pairs_ == [30, 48]
    assert not np.array_equal(m0.predict(W[:, :2]), m1.predict(W[:, :2]))
    assert m1.estimator_.get_params()["warm_start"] is False


def test_random_state_seeds_the_estimators_unset_random_state():
    W = _advection(n_times=8)

    def fit(seed, **params):
        mlp = MLPRegressor(hidden_layer_sizes=(8,), max_iter=3, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = RolloutRegressor(mlp, window=2, pushforward=0, random_state=seed).fit(W)
        return model.predict(W[:, :2])

    np.testing.assert_array_equal(fit(0), fit(0))
    assert not np.array_equal(fit(0), fit(1))
    np.testing.assert_array_equal(fit(0, random_state=3), fit(1, random_state=3))


def test_a_diverging_rollout_says_so():
    W = _advection(n_times=8)
    model = RolloutRegressor(Ridge(alpha=1e-8), window=2, pushforward=0, residual=False).fit(W)
    # a model that multiplies its input by 1e10 blows up past float64 within 31 windows
    model.estimator_.coef_ = 1e10 * np.eye(model.estimator_.coef_.shape[0])
    model.estimator_.intercept_ = np.zeros_like(model.estimator_.intercept_)
    with pytest.raises(FloatingPointError, match="rollout diverged: prediction"), \
            np.errstate(over="ignore"):
        model.predict_rollout(W[:, :2], 40)


def test_score_and_fit_name_what_the_caller_passed():
    W = _advection(n_times=8)
    model = RolloutRegressor(Ridge(), window=2, pushforward=0).fit(W)
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(6,\)"):
        model.score(W, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="at least 2 trajectories"):
        model.score(W[:1])
    bad = W[:, :2].copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        model.predict(bad)
    with pytest.raises(ValueError, match="W must hold real numbers"):
        RolloutRegressor(Ridge(), window=2, pushforward=0).fit(W + 1j)
    with pytest.raises(ValueError, match="estimator=None builds a Fourier-layer branch"):
        RolloutRegressor(window=1, pushforward=0).fit(np.ones((3, 4, 2, 2, 2, 2)))
