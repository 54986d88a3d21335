"""EnsembleRegressor and ConformalBandRegressor (skoperator.uncertainty)."""

import math
import pickle

import numpy as np
import pytest
from joblib import Parallel, delayed, parallel_config
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import check_is_fitted

from skoperator import DeepONetRegressor
from skoperator.datasets import make_antiderivative
from skoperator.networks import MLPBranch
from skoperator.uncertainty import ConformalBandRegressor, EnsembleRegressor


# ----------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def problem():
    U, Y, G = make_antiderivative(80, n_points=20, random_state=0)
    return U, Y, G


def _model(Y, **params):
    """A DeepONet that fits in a fraction of a second."""
    return DeepONetRegressor(**{"coords": Y, "n_eval": 5, "n_basis": 8, "max_iter": 3,
                                "batch_size": 32, "tol": None, "device": "cpu",
                                "random_state": 0, **params})


class Planted(RegressorMixin, BaseEstimator):
    """Predicts the first ``n_points`` columns of X; with ``return_std``, the next ones.

    A regressor whose residuals are known exactly: X = [G + error | std].
    """

    def __init__(self, n_points=None, random_state=None, fail=False):
        self.n_points = n_points
        self.random_state = random_state
        self.fail = fail

    def fit(self, X, y):
        if self.fail:
            raise AssertionError("fit must not be called")
        self.n_features_in_ = np.asarray(X).shape[1]
        self.fitted_rows_ = np.asarray(X).shape[0]
        return self

    def predict(self, X, coords=None, return_std=False):
        check_is_fitted(self)
        X = np.asarray(X, dtype=np.float64)
        m = self.n_points or X.shape[1]
        if return_std:
            return X[:, :m], X[:, m:2 * m]
        return X[:, :m]


class PointOnly(Planted):
    """The same without ``return_std``."""

    def predict(self, X, coords=None):
        return super().predict(X, coords)


# ---------------------------------------------------------- sklearn checks
def _expected_failures(estimator):
    if isinstance(estimator, ConformalBandRegressor):
        return {"check_regressors_train": "sets alpha=0.01 (for linear models), which needs "
                                          "99 calibration rows out of its 200"}
    return {}


@parametrize_with_checks(
    [EnsembleRegressor(Ridge(), n_estimators=3, n_jobs=1, random_state=0),
     ConformalBandRegressor(Ridge(), alpha=0.5, random_state=0)],
    expected_failed_checks=_expected_failures)
def test_sklearn_compatible_meta_estimators(estimator, check):
    check(estimator)


# ------------------------------------------------------------------ ensemble
def test_ensemble_clone_get_params_and_pickle(problem):
    U, Y, G = problem
    ens = EnsembleRegressor(_model(Y), n_estimators=2, n_jobs=1, random_state=0)
    params = ens.get_params()
    assert params["estimator__n_eval"] == 5 and params["n_estimators"] == 2
    clone(ens)
    ens.fit(U, G)
    again = pickle.loads(pickle.dumps(ens))
    np.testing.assert_array_equal(again.predict(U[:5]), ens.predict(U[:5]))
    assert ens.n_features_in_ == U.shape[1]
    assert 0 < ens.score(U, G) <= 1


def test_ensemble_members_have_distinct_reproducible_seeds(problem):
    U, Y, G = problem
    ens = EnsembleRegressor(_model(Y), n_estimators=4, vectorize=False, n_jobs=1,
                            random_state=3).fit(U, G)
    seeds = [m.random_state for m in ens.estimators_]
    assert len(set(seeds)) == 4 and seeds == list(ens.random_states_)
    again = EnsembleRegressor(_model(Y), n_estimators=4, vectorize=False, n_jobs=1,
                              random_state=3).fit(U, G)
    assert [m.random_state for m in again.estimators_] == seeds
    np.testing.assert_array_equal(again.predict(U[:3]), ens.predict(U[:3]))
    preds = [m.predict(U[:3]) for m in ens.estimators_]
    assert not np.allclose(preds[0], preds[1])
    assert ens.estimator.random_state == 0  # the template is not touched


def test_ensemble_seeds_every_random_state_of_a_pipeline(problem):
    U, Y, G = problem
    pipe = make_pipeline(StandardScaler(), _model(Y))
    ens = EnsembleRegressor(pipe, n_estimators=2, vectorize=False, n_jobs=1,
                            random_state=0).fit(U, G)
    seeds = [m[-1].random_state for m in ens.estimators_]
    assert len(set(seeds)) == 2 and seeds == list(ens.random_states_)
    assert ens.predict(U[:4], coords=[[0.5]]).shape == (4, 1)


def test_ensemble_return_std(problem):
    U, Y, G = problem
    ens = EnsembleRegressor(_model(Y), n_estimators=3, n_jobs=1, random_state=0).fit(U, G)
    mean, std = ens.predict(U[:7], return_std=True)
    assert mean.shape == std.shape == (7, 20)
    assert (std >= 0).all() and std.max() > 0
    stacked = np.stack([m.predict(U[:7]) for m in ens.estimators_])
    np.testing.assert_allclose(mean, stacked.mean(axis=0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(std, stacked.std(axis=0), rtol=1e-8, atol=1e-12)
    np.testing.assert_array_equal(ens.predict(U[:7]), mean)
    fine = ens.predict(U[:7], coords=np.linspace(0, 1, 33).reshape(-1, 1), return_std=True)
    assert fine[0].shape == fine[1].shape == (7, 33)

    single = EnsembleRegressor(_model(Y), n_estimators=1, random_state=0).fit(U, G)
    mean1, std1 = single.predict(U[:7], return_std=True)
    assert std1.shape == (7, 20) and not std1.any()
    np.testing.assert_array_equal(mean1, single.estimators_[0].predict(U[:7]))


def test_ensemble_bootstrap_draws_differ():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 4)), rng.normal(size=(30, 4))
    ens = EnsembleRegressor(Planted(), n_estimators=3, bootstrap=True, n_jobs=1,
                            random_state=0).fit(X, y)
    samples = ens.estimators_samples_
    assert len(samples) == 3 and all(len(s) == 30 for s in samples)
    assert not np.array_equal(samples[0], samples[1])
    assert len(np.unique(samples[0])) < 30  # with replacement
    assert all(m.fitted_rows_ == 30 for m in ens.estimators_)
    assert EnsembleRegressor(Planted(), 2, n_jobs=1).fit(X, y).estimators_samples_ is None


class Threads(Planted):
    """Records the ``n_jobs`` it was fitted with."""

    fail = False

    def __init__(self, n_jobs=None, random_state=None):
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X, y):
        self.n_jobs_seen_ = self.n_jobs
        return super().fit(X, y)


@pytest.mark.parametrize("n_jobs, during", [(1, None), (2, 1)])
def test_ensemble_in_parallel_gives_members_one_thread_then_restores(n_jobs, during):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(10, 3)), rng.normal(size=(10, 3))
    pipe = make_pipeline(StandardScaler(), Threads())
    with parallel_config(backend="threading"):  # no worker processes in the test suite
        ens = EnsembleRegressor(pipe, n_estimators=3, n_jobs=n_jobs, random_state=0).fit(X, y)
    assert [m[-1].n_jobs_seen_ for m in ens.estimators_] == [during] * 3
    assert [m[-1].n_jobs for m in ens.estimators_] == [None] * 3
    # n_jobs=None: every core, at most one worker per member, or joblib's context
    assert EnsembleRegressor(pipe, n_estimators=1)._n_workers() == 1
    with parallel_config(n_jobs=3):
        assert EnsembleRegressor(pipe, n_estimators=5)._n_workers() == 3
    # inside the workers of a search, members train one at a time
    nested = Parallel(n_jobs=2, backend="threading")(
        delayed(EnsembleRegressor(pipe)._n_workers)() for _ in range(2))
    assert nested == [1, 1]


# ------------------------------------------------------------- vectorised members
@pytest.mark.parametrize("kind", ["mlp", "residual", "linear", "activated"])
def test_batched_stack_is_the_stack_and_separates_the_gradients(kind):
    import torch

    from skoperator._layers import (
        MLP,
        BatchedStack,
        ResidualMLP,
        Stack,
        _linear_layers,
        vectorizable,
    )

    torch.manual_seed(0)
    make = {"mlp": lambda: MLP(3, (8, 8), 4, "tanh"),
            "residual": lambda: ResidualMLP(3, (8, 8, 8), 4, "gelu"),
            "linear": lambda: MLP(3, (), 4),
            "activated": lambda: MLP(3, (8,), 4, "tanh", output_activation=True)}[kind]
    nets = [make() for _ in range(3)]
    x = torch.randn(5, 7, 3)
    stacked = BatchedStack(nets)
    torch.testing.assert_close(stacked(x), Stack(nets)(x))
    # the summed loss gives each network the gradient of its own loss
    target = torch.randn(5, 7, 12)
    (stacked(x) - target).square().sum().backward()
    for k, net in enumerate(nets):
        (net(x) - target[..., 4 * k:4 * k + 4]).square().sum().backward()
        for layer, w, b in zip(_linear_layers(net)[0], stacked.weights, stacked.biases):
            torch.testing.assert_close(w.grad[k], layer.weight.grad)
            torch.testing.assert_close(b.grad[k], layer.bias.grad)
    back = stacked.unstack()
    torch.testing.assert_close(Stack(back)(x), stacked(x))
    assert all(type(b) is type(nets[0]) for b in back)
    again = pickle.loads(pickle.dumps(stacked))
    torch.testing.assert_close(again(x), stacked(x))
    assert not vectorizable([MLP(3, (8,), 4), MLP(3, (9,), 4)])  # shapes differ
    assert not vectorizable([MLP(3, (8,), 4, "relu"), MLP(3, (8,), 4, "tanh")])
    assert not vectorizable(nets[:1])
    assert not vectorizable([MLP(3, (8,), 4), MLP(3, (8,), 4, output_activation=True)])
    with pytest.raises(ValueError, match="identical structure"):
        BatchedStack([MLP(3, (8,), 4), MLP(3, (9,), 4)])


def test_ensemble_vectorised_members_are_ordinary_fitted_models(problem, tmp_path):
    from skoperator import io

    U, Y, G = problem
    ens = EnsembleRegressor(_model(Y, max_iter=5), n_estimators=3, n_jobs=1,
                            random_state=0).fit(U, G)
    assert ens.vectorized_ and len(ens.estimators_) == 3
    assert len(set(ens.random_states_)) == 1
    preds = [m.predict(U[:6]) for m in ens.estimators_]
    assert not np.allclose(preds[0], preds[1])  # different initialisations
    mean, std = ens.predict(U[:6], return_std=True)
    np.testing.assert_allclose(mean, np.mean(preds, axis=0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(std, np.std(preds, axis=0), rtol=1e-5, atol=1e-7)
    member = ens.estimators_[0]
    assert member.n_outputs == member.n_outputs_ == 1
    assert member.multi_output_strategy == "split_branch"
    assert member.predict(U[:2], coords=[[0.25], [0.5]]).shape == (2, 2)
    # a member is a plain model: it pickles, saves, loads and trains on
    again = pickle.loads(pickle.dumps(member))
    np.testing.assert_array_equal(again.predict(U[:4]), member.predict(U[:4]))
    io.dump(member, tmp_path / "m.skop")
    np.testing.assert_allclose(io.load(tmp_path / "m.skop").predict(U[:4]),
                               member.predict(U[:4]), rtol=1e-6)
    member.set_params(warm_start=True, max_iter=2).fit(U, G)
    # the same ensemble again: reproducible
    twin = EnsembleRegressor(_model(Y, max_iter=5), n_estimators=3, n_jobs=1,
                             random_state=0).fit(U, G)
    np.testing.assert_array_equal(twin.predict(U[:6]), mean)
    assert ens.score(U, G) > 0


def test_ensemble_vectorised_groups_one_network_per_worker(problem):
    U, Y, G = problem
    with parallel_config(backend="threading"):  # no worker processes in the test suite
        ens = EnsembleRegressor(_model(Y), n_estimators=5, n_jobs=2, random_state=0).fit(U, G)
        one = EnsembleRegressor(_model(Y), n_estimators=3, n_jobs=3, random_state=0).fit(U, G)
    seeds = ens.random_states_
    assert ens.vectorized_ and len(ens.estimators_) == 5
    assert seeds[0] == seeds[1] == seeds[2] != seeds[3] == seeds[4]  # groups of 3 and 2
    assert [m.n_jobs for m in ens.estimators_] == [None] * 5  # one thread only while fitting
    assert len(set(one.random_states_)) == 3  # groups of one: plain members


def test_ensemble_vectorised_pipeline_fits_the_other_steps_once(problem):
    U, Y, G = problem
    pipe = make_pipeline(StandardScaler(), _model(Y))
    ens = EnsembleRegressor(pipe, n_estimators=2, n_jobs=1, random_state=0).fit(U, G)
    assert ens.vectorized_
    scalers = [m[0] for m in ens.estimators_]
    assert scalers[0] is not scalers[1]
    np.testing.assert_array_equal(scalers[0].mean_, U.mean(axis=0))
    assert ens.predict(U[:4], coords=[[0.5]]).shape == (4, 1)


def test_ensemble_vectorize_auto_falls_back_and_true_explains(problem):
    U, Y, G = problem
    cnn = _model(Y, trunk="pod")  # a table trunk: members one by one
    assert not EnsembleRegressor(cnn, 2, n_jobs=1, random_state=0).fit(U, G).vectorized_
    assert not EnsembleRegressor(_model(Y), 2, bootstrap=True, n_jobs=1,
                                 random_state=0).fit(U, G).vectorized_
    with pytest.raises(ValueError, match=r"vectorize=True cannot.*bootstrap"):
        EnsembleRegressor(_model(Y), 2, bootstrap=True, vectorize=True).fit(U, G)
    with pytest.raises(ValueError, match=r"vectorize=True cannot.*PODTrunk.*not MLPs"):
        EnsembleRegressor(cnn, 2, vectorize=True).fit(U, G)
    with pytest.raises(ValueError, match=r"vectorize=True cannot.*not a DeepONetRegressor"):
        EnsembleRegressor(Ridge(), 2, vectorize=True).fit(U, G)


def test_ensemble_rejects_bad_parameters(problem):
    U, Y, G = problem
    with pytest.raises(ValueError, match="n_estimators"):
        EnsembleRegressor(_model(Y), n_estimators=0).fit(U, G)
    with pytest.raises(ValueError, match="n_jobs"):
        EnsembleRegressor(_model(Y), n_jobs=0).fit(U, G)
    with pytest.raises(ValueError, match="requires y"):
        EnsembleRegressor(_model(Y)).fit(U, None)


# ----------------------------------------------------------------- conformal
def _planted_data(n, m, rng, scale=1.0, std=None):
    G = rng.normal(size=(n, m))
    error = scale * rng.standard_normal((n, m)) * (1.0 if std is None else std)
    X = G + error if std is None else np.hstack([G + error, std])
    return X, G, error


def test_conformal_quantile_is_the_split_conformal_rank():
    rng = np.random.default_rng(0)
    X, G, error = _planted_data(40, 6, rng)
    band = ConformalBandRegressor(PointOnly(), alpha=0.1, calibration_fraction=20,
                                  random_state=0).fit(X, G)
    cal = band.calibration_indices_
    assert len(cal) == 20 and len(band.train_indices_) == 20
    assert set(cal).isdisjoint(band.train_indices_)
    assert band.estimator_.fitted_rows_ == 20
    scores = np.abs(G[cal] - X[cal]).max(axis=1)  # the planted errors, as computed
    k = math.ceil(21 * 0.9)  # 19
    assert band.quantile_ == np.sort(scores)[k - 1]
    np.testing.assert_array_equal(np.sort(band.calibration_scores_), np.sort(scores))
    assert not band.normalized_ and band.std_offset_ == 0.0
    lower, upper = band.predict_interval(X[:5])
    np.testing.assert_allclose(upper - lower, 2 * band.quantile_)
    np.testing.assert_array_equal(band.predict(X[:5]), X[:5])
    # (n + 1)(1 - alpha) exactly n: the largest score, not an error
    exact = ConformalBandRegressor(PointOnly(), alpha=0.1, calibration_fraction=9,
                                   random_state=0).fit(X, G)
    assert exact.quantile_ == exact.calibration_scores_.max()


def test_conformal_normalized_scores_divide_by_the_floored_std():
    rng = np.random.default_rng(1)
    std = rng.uniform(0.1, 2.0, size=(50, 5))
    X, G, error = _planted_data(50, 5, rng, std=std)
    band = ConformalBandRegressor(Planted(n_points=5), alpha=0.2, calibration_fraction=0.5,
                                  std_floor=0.1, random_state=0).fit(X, G)
    assert band.normalized_
    cal = band.calibration_indices_
    offset = 0.1 * std[cal].mean()
    assert band.std_offset_ == pytest.approx(offset)
    scores = np.abs(error[cal] / (std[cal] + offset)).max(axis=1)
    k = math.ceil((len(cal) + 1) * 0.8)
    assert band.quantile_ == pytest.approx(np.sort(scores)[k - 1])
    lower, upper = band.predict_interval(X[:3])
    np.testing.assert_allclose(upper - lower, 2 * band.quantile_ * (std[:3] + offset))
    for false in (False, np.False_):  # numpy's bool means what Python's does
        unnormalized = ConformalBandRegressor(Planted(n_points=5), alpha=0.2, normalize=false,
                                              calibration_fraction=0.5, random_state=0)
        assert not unnormalized.fit(X, G).normalized_


def test_conformal_covers_whole_functions_at_the_nominal_rate():
    # predictions = truth + N(0, 1) noise at every point: any band calibrated on
    # independent functions covers a new whole function with probability >= 0.9
    coverages = []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        X, G, _ = _planted_data(2200, 10, rng)
        band = ConformalBandRegressor(PointOnly(), alpha=0.1, calibration_fraction=100,
                                      random_state=seed).fit(X[:200], G[:200])
        lower, upper = band.predict_interval(X[200:])
        coverages.append(np.mean(((lower <= G[200:]) & (G[200:] <= upper)).all(axis=1)))
    assert 0.88 <= np.mean(coverages) <= 0.94
    assert min(coverages) > 0.8
    # pointwise intervals of the same width would cover single points, not functions:
    # the quantile is the max of 10 normals, well above the pointwise 1.645
    assert band.quantile_ > 2.2


def test_conformal_too_few_calibration_functions_fail_before_fitting():
    rng = np.random.default_rng(0)
    X, G, _ = _planted_data(20, 4, rng)
    with pytest.raises(ValueError, match="too few for alpha=0.1.*at least 9"):
        ConformalBandRegressor(Planted(fail=True), calibration_fraction=5).fit(X, G)
    with pytest.raises(ValueError, match="leaves no training function"):
        ConformalBandRegressor(Planted(fail=True), calibration_fraction=20).fit(X, G)


def test_conformal_ignores_missing_targets():
    rng = np.random.default_rng(2)
    X, G, error = _planted_data(40, 6, rng)
    G = G.copy()
    band = ConformalBandRegressor(PointOnly(), alpha=0.1, calibration_fraction=20,
                                  random_state=0)
    cal = np.sort(np.random.RandomState(0).permutation(40)[:20])
    G[cal[0], :] = np.nan  # a calibration function with no observed point: dropped
    G[cal[1], :3] = np.nan
    G[cal[2], 2] = np.nan
    band.fit(X, G)
    assert band.n_calibration_ == 19
    err = np.abs(G[cal[1:]] - X[cal[1:]])
    scores = np.nanmax(err, axis=1)
    assert band.quantile_ == np.sort(scores)[math.ceil(20 * 0.9) - 1]
    assert np.isfinite(band.calibration_scores_).all()


def test_conformal_normalize_needs_return_std_and_warns_on_zero_std(problem):
    rng = np.random.default_rng(0)
    X, G, _ = _planted_data(40, 4, rng)
    for true in (True, np.True_):
        with pytest.raises(ValueError, match="return_std"):
            ConformalBandRegressor(PointOnly(), normalize=true).fit(X, G)
    for setting in ({"calibration_fraction": True}, {"std_floor": True}):
        with pytest.raises(ValueError, match=f"'{next(iter(setting))}' .* Got True"):
            ConformalBandRegressor(PointOnly(), **setting).fit(X, G)
    zero = np.hstack([X, np.zeros_like(X)])
    with pytest.warns(UserWarning, match="not normalized"):
        band = ConformalBandRegressor(Planted(n_points=4)).fit(zero, G)
    assert not band.normalized_


def test_conformal_with_an_ensemble_has_a_band_that_follows_the_spread(problem):
    U, Y, G = problem
    ens = EnsembleRegressor(_model(Y), n_estimators=2, n_jobs=1, random_state=0)
    band = ConformalBandRegressor(ens, alpha=0.2, random_state=0).fit(U, G)
    assert band.normalized_ and band.std_offset_ > 0
    lower, upper = band.predict_interval(U[:5])
    width = upper - lower
    assert width.shape == (5, 20) and (width > 0).all() and width.std() > 0
    np.testing.assert_allclose((lower + upper) / 2, band.predict(U[:5]), atol=1e-12)
    fine = band.predict_interval(U[:5], coords=np.linspace(0, 1, 7).reshape(-1, 1))
    assert fine[0].shape == (5, 7)


def test_conformal_in_pipeline_and_grid_search(problem):
    U, Y, G = problem
    band = ConformalBandRegressor(make_pipeline(StandardScaler(), _model(Y)), alpha=0.2,
                                  random_state=0).fit(U, G)
    assert band.predict_interval(U[:3])[0].shape == (3, 20)
    assert band.n_features_in_ == U.shape[1]

    pipe = Pipeline([("scale", StandardScaler()),
                     ("band", ConformalBandRegressor(_model(Y), alpha=0.2, random_state=0))])
    pipe.fit(U, G)
    assert pipe.predict(U[:3]).shape == (3, 20)
    assert pipe[-1].predict_interval(pipe[:-1].transform(U[:3]))[1].shape == (3, 20)

    search = ConformalBandRegressor(_model(Y), alpha=0.2, random_state=0)
    assert "estimator__n_eval" in search.get_params()
    grid = GridSearchCV(search, {"estimator__n_eval": [2, 5]}, cv=2).fit(U, G)
    assert grid.best_params_["estimator__n_eval"] in (2, 5)
    assert grid.best_estimator_.predict_interval(U[:2])[0].shape == (2, 20)
    assert pickle.loads(pickle.dumps(grid.best_estimator_)).quantile_ == \
        grid.best_estimator_.quantile_


class _UnstackableBranch(MLPBranch):
    """An MLP branch whose class withdraws the capability."""

    vectorizable = False


def test_ensemble_vectorises_by_the_components_capability(problem):
    U, Y, G = problem
    plain = _model(Y, branch=_UnstackableBranch(layers=(16,)))
    assert not EnsembleRegressor(plain, 2, n_jobs=1, random_state=0).fit(U, G).vectorized_
    with pytest.raises(ValueError, match=r"_UnstackableBranch.*vectorizable = True"):
        EnsembleRegressor(plain, 2, vectorize=True).fit(U, G)


def test_ensemble_does_not_vectorise_members_whose_gradients_are_clipped(problem):
    # one clipped norm over the stacked members would couple them
    from skoperator.optimizers import Adam
    U, Y, G = problem
    clipped = _model(Y, optimizer=Adam(clip_grad_norm=0.05))
    assert not EnsembleRegressor(clipped, 2, n_jobs=1, random_state=0).fit(U, G).vectorized_
    with pytest.raises(ValueError, match=r"vectorize=True cannot.*clip_grad_norm"):
        EnsembleRegressor(clipped, 2, vectorize=True, n_jobs=1).fit(U, G)


def test_ensemble_vectorises_only_optimizers_free_of_the_loss_scale(problem):
    # The members train on the mean of their losses: with SGD each moved 1/n as far as
    # alone (member R2 0.96 -> 0.86 from 1 to 8 members), with Adam's coupled decay the
    # decay weighed n times more.
    from skoperator.optimizers import SGD, Adam, AdamW
    U, Y, G = problem
    for optimizer in (SGD(), Adam(weight_decay=0.05), "sgd"):
        model = _model(Y, optimizer=optimizer)
        assert not EnsembleRegressor(model, 2, n_jobs=1, random_state=0).fit(U, G).vectorized_
        with pytest.raises(ValueError, match=r"vectorize=True cannot.*not free of the loss"):
            EnsembleRegressor(model, 2, vectorize=True, n_jobs=1).fit(U, G)
    for optimizer in ("adam", AdamW(weight_decay=0.05)):
        model = _model(Y, optimizer=optimizer)
        assert EnsembleRegressor(model, 2, n_jobs=1, random_state=0).fit(U, G).vectorized_


@pytest.mark.parametrize("store", ["hdf5", "zarr"])
def test_ensemble_bootstraps_and_parallelises_a_streamed_G(problem, tmp_path, store):
    U, Y, G = problem
    if store == "hdf5":
        h5py = pytest.importorskip("h5py")
        handle = h5py.File(tmp_path / "G.h5", "w")
        G_stored = handle.create_dataset("G", data=G)
    else:
        zarr = pytest.importorskip("zarr")
        G_stored = zarr.zeros(G.shape, chunks=(8, 20), dtype=G.dtype)
        G_stored[:] = G
    boot = EnsembleRegressor(_model(Y), 2, bootstrap=True, n_jobs=1, random_state=0)
    in_memory = clone(boot).fit(U, G)
    np.testing.assert_allclose(boot.fit(U, G_stored).predict(U), in_memory.predict(U),
                               rtol=1e-5, atol=1e-6)
    # an open HDF5 file cannot go to worker processes: the members train here
    EnsembleRegressor(_model(Y), 2, vectorize=False, n_jobs=2, random_state=0).fit(U, G_stored)
    if store == "hdf5":
        handle.close()
