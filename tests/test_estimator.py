"""DeepONetRegressor: accuracy against exact answers and sklearn integration."""

import pickle

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import GridSearchCV, HalvingGridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skoperator import DeepONetRegressor
from skoperator.datasets import make_antiderivative
from skoperator.metrics import mean_function_r2, mean_function_r2_scorer
from skoperator.networks import CNNBranch, MLPBranch, MLPTrunk, ResNetTrunk

FAST = dict(branch=MLPBranch(layers=(32, 32)), trunk=MLPTrunk(layers=(32, 32)), n_basis=24,
            max_iter=15, learning_rate_init=3e-3, tol=None, device="cpu", random_state=0)


def exact_antiderivative(x, U, x_new):
    """Integral from 0 to x_new of the piecewise-linear interpolant of U on x."""
    steps = 0.5 * (U[:, 1:] + U[:, :-1]) * np.diff(x)
    cum = np.concatenate([np.zeros((len(U), 1)), np.cumsum(steps, axis=1)], axis=1)
    j = np.clip(np.searchsorted(x, x_new, side="right") - 1, 0, len(x) - 2)
    h = x_new - x[j]
    slope = (U[:, j + 1] - U[:, j]) / (x[j + 1] - x[j])
    return cum[:, j] + U[:, j] * h + 0.5 * slope * h**2


@pytest.fixture(scope="module")
def antiderivative():
    return make_antiderivative(700, random_state=1)


@pytest.fixture(scope="module")
def small():
    return make_antiderivative(60, n_points=30, random_state=2)


def test_exact_antiderivative_helper_matches_generator(antiderivative):
    U, Y, G = antiderivative
    x = Y[:, 0]
    np.testing.assert_allclose(exact_antiderivative(x, U[:5], x), G[:5], atol=1e-12)


@pytest.mark.parametrize("sampling", ["random", "full"])
def test_fit_reaches_paper_accuracy_on_antiderivative(antiderivative, sampling):
    U, Y, G = antiderivative
    est = DeepONetRegressor(coords=Y, n_eval=10, sampling=sampling, max_iter=200,
                            batch_size=64, learning_rate="onecycle", learning_rate_init=5e-3,
                            tol=None, device="cpu", random_state=0)
    est.fit(U[:500], G[:500])
    assert mean_function_r2(G[500:], est.predict(U[500:])) >= 0.985  # measured 0.991
    # resolution-free: 1,000 new coordinates against the exact integral
    x_new = np.sort(np.random.default_rng(0).uniform(0, 1, 1000))
    truth = exact_antiderivative(Y[:, 0], U[500:], x_new)
    pred = est.predict(U[500:], coords=x_new.reshape(-1, 1))
    assert pred.shape == (200, 1000) and pred.dtype == np.float64
    assert mean_function_r2(truth, pred) >= 0.985  # measured 0.991


def test_fit_is_deterministic_for_a_random_state(small):
    U, Y, G = small
    a = DeepONetRegressor(coords=Y, n_eval=5, **FAST).fit(U, G).predict(U)
    b = DeepONetRegressor(coords=Y, n_eval=5, **FAST).fit(U, G).predict(U)
    c = DeepONetRegressor(coords=Y, n_eval=5, **{**FAST, "random_state": 1}).fit(U, G)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c.predict(U))


def test_fit_leaves_global_rng_untouched(small):
    U, Y, G = small
    torch.manual_seed(123)
    before = torch.get_rng_state()
    DeepONetRegressor(coords=Y, **FAST).fit(U, G)
    assert torch.equal(before, torch.get_rng_state())


@pytest.mark.parametrize("sampling", ["random", "shared", "full"])
def test_history_records_every_epoch(small, sampling):
    U, Y, G = small
    est = DeepONetRegressor(coords=Y, n_eval=7, sampling=sampling, batch_size=20,
                            **{**FAST, "max_iter": 4}).fit(U, G)
    assert est.n_iter_ == 4 and len(est.history_) == 4 and len(est.loss_curve_) == 4
    assert set(est.history_[0]) >= {"train_loss", "valid_score", "seconds", "trunk_evals"}
    # trunk evaluations per epoch, 3 steps of 20 functions: on a 30-point
    # grid the engine evaluates the trunk on the grid once per step and gathers
    per_step = {"random": 30, "shared": 7, "full": 30}[sampling]
    assert est.history_[0]["trunk_evals"] == 3 * per_step
    assert est.n_eval_ == (30 if sampling == "full" else 7)


def test_n_eval_fraction_and_auto(small):
    U, Y, G = small
    assert DeepONetRegressor(coords=Y, n_eval=0.1, **FAST).fit(U, G).n_eval_ == 3
    assert DeepONetRegressor(coords=Y, **FAST).fit(U, G).n_eval_ == 30
    one = DeepONetRegressor(**FAST).fit(U, G[:, :1])  # default n_eval works for one point
    assert one.predict(U).shape == (60, 1)


def test_n_eval_larger_than_grid_names_both_numbers(small):
    U, Y, G = small
    with pytest.raises(ValueError, match=r"n_eval=31 is larger than n_points=30"):
        DeepONetRegressor(coords=Y, n_eval=31, **FAST).fit(U, G)
    # "full" ignores n_eval
    DeepONetRegressor(coords=Y, n_eval=31, sampling="full", **FAST).fit(U, G)


def test_default_coords_are_a_uniform_grid(small):
    U, _, G = small
    est = DeepONetRegressor(**FAST).fit(U, G)
    np.testing.assert_allclose(est.coords_[:, 0], np.linspace(0, 1, 30))


def test_early_stopping_records_validation_and_restores_best(small):
    U, Y, G = small
    est = DeepONetRegressor(coords=Y, early_stopping=True, validation_fraction=0.2,
                            n_iter_no_change=3, **{**FAST, "max_iter": 40, "tol": 1e-3})
    est.fit(U, G)
    assert len(est.validation_scores_) == est.n_iter_
    assert est.best_validation_score_ == max(est.validation_scores_)
    assert all(h["valid_score"] is not None for h in est.history_)


def test_partial_fit_and_warm_start_continue_training(small):
    U, Y, G = small
    est = DeepONetRegressor(coords=Y, **FAST)
    est.partial_fit(U, G)
    est.partial_fit(U, G)
    assert est.n_iter_ == 2
    warm = DeepONetRegressor(coords=Y, warm_start=True, **{**FAST, "max_iter": 3}).fit(U, G)
    first = warm.predict(U)
    warm.fit(U, G)
    assert warm.n_iter_ == 6 and not np.allclose(first, warm.predict(U))


def test_score_is_variance_weighted_r2(small):
    from sklearn.metrics import r2_score

    U, Y, G = small
    est = DeepONetRegressor(coords=Y, **FAST).fit(U, G)
    expected = r2_score(G, est.predict(U), multioutput="variance_weighted")
    assert est.score(U, G) == pytest.approx(expected, rel=1e-10)
    # the constant column G[:, 0] = 0 would drag the uniform average down
    assert np.all(G[:, 0] == 0)


def test_predict_in_chunks_matches_one_block(small, monkeypatch):
    import skoperator._inference as inference

    U, Y, G = small
    est = DeepONetRegressor(coords=Y, **FAST).fit(U, G)
    coords = np.linspace(0, 1, 777).reshape(-1, 1)
    whole = est.predict(U, coords=coords)
    monkeypatch.setattr(inference, "_BLOCK_ELEMENTS", 500)
    np.testing.assert_allclose(est.predict(U, coords=coords), whole, rtol=1e-12, atol=1e-12)


def test_grid_search_over_n_eval_and_sampling(small):
    U, Y, G = small
    search = GridSearchCV(DeepONetRegressor(coords=Y, **FAST),
                          {"n_eval": [1, 10, 30], "sampling": ["random", "full"]},
                          cv=3, n_jobs=2)
    search.fit(U, G)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_estimator_.coords_.shape == (30, 1)


def test_grid_search_when_points_equal_functions():
    U, Y, G = make_antiderivative(40, n_points=40, random_state=3)
    search = GridSearchCV(DeepONetRegressor(coords=Y, **FAST), {"n_eval": [1, 10]}, cv=2)
    search.fit(U, G)
    # coords were not split along with the functions
    assert search.best_estimator_.coords_.shape == (40, 1)
    assert search.best_estimator_.predict(U).shape == (40, 40)


def test_cross_val_score_with_paper_metric(small):
    U, Y, G = small
    scores = cross_val_score(DeepONetRegressor(coords=Y, **FAST), U, G, cv=3,
                             scoring=mean_function_r2_scorer)
    assert scores.shape == (3,) and np.all(np.isfinite(scores))


def test_halving_grid_search_over_max_iter(small):
    U, Y, G = small
    search = HalvingGridSearchCV(DeepONetRegressor(coords=Y, **FAST),
                                 {"n_eval": [2, 10], "learning_rate_init": [1e-3, 3e-3]},
                                 resource="max_iter", min_resources=2, max_resources=8,
                                 cv=2, random_state=0)
    search.fit(U, G)
    assert search.best_estimator_.max_iter <= 8


def test_pipeline_with_pca_and_transformed_target(small):
    U, Y, G = small
    pipe = make_pipeline(StandardScaler(), PCA(20), DeepONetRegressor(coords=Y, **FAST))
    assert pipe.fit(U, G).predict(U).shape == G.shape
    ttr = TransformedTargetRegressor(DeepONetRegressor(coords=Y, **FAST),
                                     transformer=StandardScaler())
    assert ttr.fit(U, G).predict(U).shape == G.shape


def test_clone_params_pickle_and_joblib_round_trips(small, tmp_path):
    U, Y, G = small
    est = DeepONetRegressor(coords=Y, **FAST)
    assert clone(est).get_params()["n_eval"] == "auto"
    est.set_params(n_eval=4, sampling="shared")
    assert est.get_params()["sampling"] == "shared"
    est.fit(U, G)
    expected = est.predict(U)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).predict(U), expected)
    joblib.dump(est, tmp_path / "model.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "model.joblib").predict(U), expected)


def test_custom_branch_module_and_trunk_factory(small):
    U, Y, G = small
    branch = torch.nn.Sequential(torch.nn.Linear(30, 16), torch.nn.Tanh(), torch.nn.Linear(16, 8))
    est = DeepONetRegressor(coords=Y, branch=branch, n_basis=8,
                            trunk=lambda d, p: torch.nn.Sequential(
                                torch.nn.Linear(d, 16), torch.nn.Tanh(), torch.nn.Linear(16, p)),
                            **{k: v for k, v in FAST.items()
                               if k not in ("n_basis", "branch", "trunk")})
    est.fit(U, G)
    assert est.predict(U).shape == G.shape
    # the user's module is copied, not trained in place
    assert est.network_.branch is not branch
    again = clone(est).fit(U, G)
    np.testing.assert_array_equal(again.predict(U), est.predict(U))


def test_trunk_variants_and_cnn_branch():
    rng = np.random.default_rng(0)
    U = rng.normal(size=(40, 64))
    coords = rng.uniform(size=(12, 2))
    G = U[:, :12] * coords[:, 0] + coords[:, 1]
    for kw in [dict(trunk=ResNetTrunk(layers=(32, 32))),
               dict(trunk=MLPTrunk(layers=(32, 32), fourier_features=8)),
               dict(branch=CNNBranch(grid=(8, 8), filters=(4, 8), layers=(32, 32)))]:
        est = DeepONetRegressor(coords=coords, **{**FAST, "max_iter": 3, **kw}).fit(U, G)
        assert est.predict(U).shape == (40, 12)


def test_grouped_sampling_draws_per_group():
    t, x = np.meshgrid(np.linspace(0, 1, 5), np.linspace(0, 1, 8), indexing="ij")
    coords = np.column_stack([t.ravel(), x.ravel()])
    rng = np.random.default_rng(0)
    U = rng.normal(size=(30, 10))
    G = U[:, :1] * coords[:, 0] + coords[:, 1]
    est = DeepONetRegressor(coords=coords, sampling="grouped", n_eval=3,
                            **{**FAST, "max_iter": 2, "batch_size": 10}).fit(U, G)
    assert est.n_eval_ == 3
    # 15 columns per function (3 in each of 5 groups) x 10 functions exceed the
    # 40-point grid: the engine evaluates the trunk on the grid once per step
    assert est.history_[0]["trunk_evals"] == 3 * 40
    with pytest.raises(ValueError, match="n_eval=9 is larger than points per group=8"):
        DeepONetRegressor(coords=coords, sampling="grouped", n_eval=9, **FAST).fit(U, G)


def test_predict_before_fit_raises_not_fitted(small):
    with pytest.raises(NotFittedError):
        DeepONetRegressor().predict(small[0])


def test_schedule_runs_its_whole_budget_unless_early_stopping(small):
    U, Y, G = small
    params = {**FAST, "tol": 10.0, "max_iter": 12}  # a tol that stops at once
    constant = DeepONetRegressor(coords=Y, **params).fit(U, G)
    assert constant.n_iter_ == 11  # n_iter_no_change=10 epochs without a 10.0 improvement
    onecycle = DeepONetRegressor(coords=Y, learning_rate="onecycle", **params).fit(U, G)
    assert onecycle.n_iter_ == 12
    stopped = DeepONetRegressor(coords=Y, learning_rate="cosine", early_stopping=True,
                                n_iter_no_change=2, **params).fit(U, G)
    assert stopped.n_iter_ == 3


def test_standardisation_makes_the_fit_independent_of_the_data_s_magnitude(small):
    U, Y, G = small
    settings = dict(coords=Y, max_iter=5, tol=None, random_state=0, n_basis=8,
                    branch=MLPBranch(layers=(16,)), trunk=MLPTrunk(layers=(16,)))
    reference = DeepONetRegressor(**settings).fit(U, G).predict(U)
    for factor_u, factor_g, factor_y in [(1e-13, 1, 1), (1e20, 1, 1), (1, 1e-13, 1),
                                         (1, 1, 1e-13), (1, 1e13, 1e8)]:
        est = DeepONetRegressor(**{**settings, "coords": Y * factor_y})
        pred = est.fit(U * factor_u, G * factor_g).predict(U * factor_u) / factor_g
        np.testing.assert_allclose(pred, reference, rtol=1e-3, atol=1e-4 * np.abs(G).max())


def test_partial_fit_continues_at_the_fitted_coordinates(small):
    U, Y, G = small
    Y2 = np.linspace(0, 10, Y.shape[0])[:, None]
    est = DeepONetRegressor(max_iter=2, tol=None, random_state=0).fit(U, G, coords=Y2)
    est.partial_fit(U, G)
    np.testing.assert_array_equal(est.coords_, Y2)
    points = np.broadcast_to(Y2, (len(U),) + Y2.shape).copy()
    est = DeepONetRegressor(max_iter=2, tol=None, random_state=0).fit(U, G, coords=points)
    with pytest.raises(ValueError, match=r"fitted on points of their own per function; pass"):
        est.partial_fit(U, G)
    est.partial_fit(U, G, coords=points)
    assert est.n_iter_ == 3
    est.set_params(n_basis=10)
    with pytest.raises(ValueError, match=r"call fit \(not partial_fit\) to fit a new model"):
        est.partial_fit(U, G, coords=points)
    # the constructor's coords, or G on another grid, are taken as before
    est = DeepONetRegressor(max_iter=2, tol=None, random_state=0, coords=Y).partial_fit(U, G)
    finer = np.linspace(0, 1, 2 * len(Y))[:, None]
    est.set_params(coords=finer).partial_fit(U, np.repeat(G, 2, axis=1))
    np.testing.assert_array_equal(est.coords_, finer)
    est = DeepONetRegressor(max_iter=2, tol=None, random_state=0).partial_fit(U, G)
    est.partial_fit(U, np.repeat(G, 2, axis=1))
    assert est.coords_.shape == (2 * len(Y), 1)
    # the points fit was given win over the constructor's; another width asks for coords
    est = DeepONetRegressor(coords=Y, max_iter=2, tol=None, random_state=0).fit(U, G,
                                                                              coords=Y2)
    est.partial_fit(U, G)
    np.testing.assert_array_equal(est.coords_, Y2)
    est = DeepONetRegressor(max_iter=2, tol=None, random_state=0).fit(U, G, coords=Y2)
    with pytest.raises(ValueError, match=r"fitted at the 30 points \(coords_\) given to fit"):
        est.partial_fit(U, np.repeat(G, 2, axis=1))


def test_a_warm_start_call_restores_its_own_best_weights(small):
    U, Y, G = small
    est = DeepONetRegressor(coords=Y, max_iter=20, early_stopping=True, n_iter_no_change=20,
                            tol=0, validation_fraction=0.25, learning_rate_init=0.01,
                            random_state=0, warm_start=True).fit(U, G)
    # a diverging learning rate: every epoch of the second call is worse than the first
    est.set_params(max_iter=4, learning_rate_init=5.0)
    est.fit(U, G)
    scores = [h["valid_score"] for h in est.history_[20:]]
    assert len(scores) == 4 and est.best_validation_score_ > max(scores)
    # the starting weights won: they are restored (a fit before the diverging call scores so)
    before = DeepONetRegressor(**{**est.get_params(), "max_iter": 20, "warm_start": False,
                                  "learning_rate_init": 0.01}).fit(U, G)
    np.testing.assert_array_equal(est.predict(U), before.predict(U))


def test_bad_targets_are_named(small):
    U, Y, G = small
    est = DeepONetRegressor(coords=Y, max_iter=1)
    for bad, match in [(G.astype(complex), "Complex data not supported G must be an array"),
                       (np.full(G.shape, "a"), "could not convert string to float"),
                       (np.zeros((len(U), 0)), "G has 0 columns")]:
        with pytest.raises(ValueError, match=match) as info:
            est.fit(U, bad)
        assert "\n" not in str(info.value)
