"""Points of their own per function: fit, predict and score at (n_functions, n_points, d)."""

import numpy as np
import pytest
import sklearn
from sklearn.model_selection import GridSearchCV, KFold, cross_validate

from skoperator import DeepONetRegressor
from skoperator.datasets import make_antiderivative
from skoperator.networks import MLPBranch, MLPTrunk

FAST = dict(max_iter=4, tol=None, random_state=0, n_basis=8, branch=MLPBranch(layers=(16,)),
            trunk=MLPTrunk(layers=(16,)), batch_size=16)


@pytest.fixture(scope="module")
def scattered():
    return make_antiderivative(60, n_points=12, scattered=True, random_state=0)


def test_scattered_generator_gives_exact_values_at_each_functions_points(scattered):
    from skoperator.datasets import solve_antiderivative

    U, P, G = scattered
    assert P.shape == (60, 12, 1) and np.all((P >= 0) & (P <= 1))
    np.testing.assert_allclose(G[5], solve_antiderivative(U[5], P[5, :, 0]), rtol=1e-12)
    assert not np.allclose(P[0], P[1])


@pytest.mark.parametrize("sampling", ["random", "shared", "full", "fixed", "adaptive"])
def test_shared_points_given_per_function_train_as_the_shared_grid(sampling):
    U, Y, G = make_antiderivative(50, n_points=15, random_state=0)
    P = np.broadcast_to(Y, (50, 15, 1)).copy()
    a = DeepONetRegressor(coords=Y, sampling=sampling, n_eval=5, **FAST).fit(U, G)
    b = DeepONetRegressor(sampling=sampling, n_eval=5, **FAST).fit(U, G, coords=P)
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-4)
    np.testing.assert_allclose(b.predict(U, coords=Y), a.predict(U), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(b.predict(U, coords=P), a.predict(U), rtol=1e-4, atol=1e-6)


def test_ragged_points_are_padded_and_never_drawn(scattered):
    U, P, G = scattered
    P, G = P.copy(), G.copy()
    counts = np.random.default_rng(0).integers(3, 13, size=60)
    for i, c in enumerate(counts):
        P[i, c:] = np.nan
        G[i, c:] = np.nan
    est = DeepONetRegressor(n_eval=3, **{**FAST, "max_iter": 30}).fit(U, G, coords=P)
    assert np.all(np.isfinite(est.loss_curve_))
    pred = est.predict(U, coords=P)
    assert np.array_equal(np.isnan(pred), np.isnan(G))
    bad = G.copy()
    bad[0, 11] = 1.0 if counts[0] <= 11 else np.nan
    if counts[0] <= 11:
        with pytest.raises(ValueError, match="padding point 11"):
            DeepONetRegressor(**FAST).fit(U, bad, coords=P)


def test_each_function_trains_at_its_own_points():
    # Held-out functions at held-out points of their own: accurate only if
    # every function of a batch was trained at its own points (measured R2
    # 0.994; 0.67 when a batch trains at its first function's points).
    U, P, G = make_antiderivative(300, n_points=20, scattered=True, random_state=0)
    U_test, P_test, G_test = make_antiderivative(50, n_points=20, scattered=True,
                                                 random_state=1)
    est = DeepONetRegressor(**{**FAST, "max_iter": 30, "n_basis": 16, "batch_size": 32,
                               "branch": MLPBranch(layers=(32,)),
                               "trunk": MLPTrunk(layers=(32,))},
                            learning_rate_init=3e-3, device="cpu").fit(U, G, coords=P)
    assert est.score(U_test, G_test, coords=P_test) > 0.95


def test_predict_at_per_function_points_matches_one_function_at_a_time(scattered):
    U, P, G = scattered
    est = DeepONetRegressor(**FAST).fit(U, G, coords=P)
    Q = np.random.default_rng(1).uniform(size=(5, 7, 1))
    pred = est.predict(U[:5], coords=Q)
    for i in range(5):
        np.testing.assert_allclose(pred[i], est.predict(U[i:i + 1], coords=Q[i])[0],
                                   rtol=1e-12)
    assert est.coords_ is None
    with pytest.raises(ValueError, match="needs coords"):
        est.predict(U)
    assert np.isfinite(est.score(U, G, coords=P))


def test_cross_validation_splits_points_with_functions_through_metadata_routing(scattered):
    U, P, G = scattered
    with sklearn.config_context(enable_metadata_routing=True):
        est = DeepONetRegressor(**FAST).set_fit_request(coords=True).set_score_request(
            coords=True)
        out = cross_validate(est, U, G, cv=KFold(3), params={"coords": P})
        assert np.all(np.isfinite(out["test_score"]))
        search = GridSearchCV(est, {"n_eval": [2, 6]}, cv=KFold(2)).fit(U, G, coords=P)
        assert search.best_estimator_.coords_ is None
        # the fold's functions get the fold's points: fit on 40 of 60 functions
        est.fit(U[:40], G[:40], coords=P[:40])
        np.testing.assert_allclose(
            est.score(U[40:], G[40:], coords=P[40:]),
            DeepONetRegressor(**FAST).fit(U[:40], G[:40], coords=P[:40]).score(
                U[40:], G[40:], coords=P[40:]))


def test_without_routing_the_score_cannot_see_the_points(scattered):
    U, P, G = scattered
    search = GridSearchCV(DeepONetRegressor(**FAST), {"n_eval": [2]}, cv=KFold(2),
                          error_score="raise")
    with pytest.raises(ValueError, match="needs coords"):
        search.fit(U, G, coords=P)  # fit gets its fold's points, score gets none


def test_per_function_points_refuse_what_needs_a_shared_grid(scattered):
    U, P, G = scattered
    with pytest.raises(ValueError, match="PODTrunk is known at one shared grid"):
        DeepONetRegressor(**{**FAST, "trunk": "pod"}).fit(U, G, coords=P)
    for mode in ("grouped", "stratified"):
        with pytest.raises(ValueError, match=f"sampling='{mode}' partitions one shared grid"):
            DeepONetRegressor(sampling=mode, n_eval=3, **FAST).fit(U, G, coords=P)


@pytest.mark.parametrize("bad,match", [
    (lambda P: P[:10], "points for 10 functions but U has 60"),
    (lambda P: P[:, :5], "5 points per function but G has 12 columns"),
    (lambda P: np.where(np.arange(12)[None, :, None] == 0, np.nan, P)[:, :, :1].repeat(2, 2)
     * np.array([1, np.nan]) if False else np.concatenate([P, np.where(
         np.arange(12)[None, :, None] == 0, np.nan, P)], axis=2), "NaN in some coordinates"),
])
def test_bad_points_are_clear_errors(scattered, bad, match):
    U, P, G = scattered
    est = DeepONetRegressor(**FAST)
    with pytest.raises(ValueError, match=match):
        est.fit(U, G, coords=bad(P))
    assert not hasattr(est, "network_")
