"""Exact answers and clear refusals at the edges: metrics, derivatives, symmetries, data, display.

Each case is a defect found in review: rounding that made a constant look
varied (or a varied column look constant), a wrapper that fitted on other
data than it predicts on, arguments taken silently.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.compose import TransformedTargetRegressor
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score

from skoperator import DeepONetRegressor
from skoperator._scaling import target_moments
from skoperator.datasets import (
    make_antiderivative,
    make_burgers,
    make_heat_conduction,
    solve_antiderivative,
    solve_burgers,
    solve_darcy,
)
from skoperator.inspection import OperatorPredictionDisplay, loss_sharpness
from skoperator.metrics import (
    R2Accumulator,
    mean_function_r2,
    mean_function_r2_scorer,
    neg_mean_relative_l2_error_scorer,
    variance_weighted_r2,
    variance_weighted_r2_scorer,
)
from skoperator.physics import Derivatives, PDEResidual, grad, interpolate_sensors
from skoperator.rollout import RolloutRegressor, rollout_errors
from skoperator.symmetry import (
    GridPermutation,
    GridPointGroup,
    GroupAveragedRegressor,
    Reflection,
    SymmetrizedRegressor,
)


@pytest.mark.parametrize("value", [0.1, 0.3, 0.7, 1.1, 1.9])
@pytest.mark.parametrize("n", [3, 10, 1000])
def test_constant_function_scores_zero_or_one_whatever_its_mean_rounds_to(value, n):
    # the mean of n copies of 0.1 is not exactly 0.1: the spread was ~1e-33, R2 ~ -1e27
    G = np.vstack([np.sin(np.linspace(0, 3, n)), np.full(n, value)])
    off = G.copy()
    off[1, -1] += 1e-3
    assert mean_function_r2(G[1:], G[1:]) == 1.0
    assert mean_function_r2(G[1:], off[1:]) == 0.0
    assert mean_function_r2(G, off) == pytest.approx(0.5)


@pytest.mark.parametrize("offset", [0.0, 1e4, 1e7, 1e9])
def test_variance_weighted_r2_is_sklearns_far_from_zero(offset):
    # sum(g^2) - n mean^2 lost the spread of 1e7 + noise: a bad model scored 1.0
    rng = np.random.default_rng(0)
    T = offset + rng.normal(size=(50, 4))
    P = T + 0.5 * rng.normal(size=T.shape)
    expected = r2_score(T, P, multioutput="variance_weighted")
    assert variance_weighted_r2(T, P) == pytest.approx(expected, rel=1e-6)
    acc = R2Accumulator(4)  # in blocks, as the validation score during a fit
    for rows in (slice(0, 7), slice(7, 8), slice(8, 50)):
        acc.update(T[rows], P[rows])
    assert acc.result() == pytest.approx(expected, rel=1e-6)
    w = rng.uniform(0.5, 2.0, size=50)
    assert variance_weighted_r2(T, P, w) == pytest.approx(
        r2_score(T, P, sample_weight=w, multioutput="variance_weighted"), rel=1e-6)


def test_target_standardisation_keeps_the_spread_far_from_zero():
    rng = np.random.default_rng(1)
    G = 1e8 + rng.normal(size=(100, 6))
    G[3, 1] = np.nan
    mean, std = target_moments(G, n_outputs=2)
    fields = G.reshape(100, 2, 3)
    np.testing.assert_allclose(mean, np.nanmean(fields, axis=(0, 2)), rtol=1e-15)
    np.testing.assert_allclose(std, np.nanstd(fields, axis=(0, 2)), rtol=1e-9)


def test_a_fit_far_from_zero_learns_what_it_learns_near_zero(tmp_path, monkeypatch):
    # The targets were cast to float32 before the shift was taken off: at 1e8
    # (float32's spacing is 8) every standardised target was 0 and the fit learned
    # nothing (R2 -0.04). They are now standardised in float64 there.
    from skoperator import _data

    U, Y, G = make_antiderivative(40, n_points=10, random_state=0)
    params = dict(coords=Y, max_iter=60, tol=None, random_state=0, n_basis=8, device="cpu")
    near = DeepONetRegressor(**params).fit(U, G).score(U, G)
    far = DeepONetRegressor(**params).fit(U, G + 1e8)
    assert far.score(U, G + 1e8) > near - 0.05 > 0.85
    # A streamed G (read per batch through the same standardisation) trains the same model.
    mm = np.memmap(tmp_path / "G.dat", dtype=np.float64, mode="w+", shape=G.shape)
    mm[:] = G + 1e8
    mm.flush()
    monkeypatch.setattr(_data, "MEMMAP_BYTES", 1000)
    streamed = DeepONetRegressor(**params).fit(U, np.memmap(tmp_path / "G.dat", mode="r",
                                                            dtype=np.float64, shape=G.shape))
    np.testing.assert_array_equal(streamed.predict(U), far.predict(U))


def test_variance_weighted_r2_refuses_a_single_function():
    G = np.arange(6.0).reshape(2, 3)
    missing = G.copy()
    missing[1] = np.nan  # a row with no observed value is no function either
    for args in [(G[:1], G[:1] + 1.0), (G, G, [1.0, 0.0]), ([1.0, 2.0, 3.0], [1.0, 2.0, 3.5]),
                 (missing, G)]:
        with pytest.raises(ValueError, match="at least 2 functions .* got 1"):
            variance_weighted_r2(*args)
    with pytest.raises(ValueError, match="G has no observed value"):
        variance_weighted_r2(np.full_like(G, np.nan), G)


def test_variance_weighted_r2_refuses_a_field_or_points_without_two_functions():
    # Checked over whole rows only: a field with one observed function scored 1.0 or
    # 0.0, and G with no point observed twice scored 0.0, silently.
    nan = np.nan
    with pytest.raises(ValueError, match="at least 2 functions .* in output field 1: .*got 1"):
        variance_weighted_r2([[1, 2.0], [3, nan]], [[1, 2.5], [3, 9]], n_outputs=2,
                             multioutput="raw_values")
    with pytest.raises(ValueError, match="a point observed .* in at least 2 functions: "):
        variance_weighted_r2([[1, nan], [nan, 4]], [[5, 9], [9, 4.0]])
    # A weight of 0 takes the function out of its fields too.
    with pytest.raises(ValueError, match="in output field 0: .*got 1"):
        variance_weighted_r2([[1, 2.0], [3, 4], [5, 6]], [[1, 2], [3, 4], [5, 6.5]],
                             [1.0, 0.0, 0.0], n_outputs=2)


@pytest.mark.parametrize("weights", [np.array([1 + 5j, 1, 1]), [1 + 5j, 1, 1], ["a", "b", "c"]])
def test_sample_weight_of_other_than_real_numbers_is_named(weights):
    T = np.array([[1.0, 2], [3, 4], [5, 7]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning and a score
        with pytest.raises(ValueError, match="sample_weight must hold real numbers"):
            variance_weighted_r2(T, T + 0.5, weights)


def _fitted_ridge():
    rng = np.random.default_rng(0)
    U = rng.normal(size=(20, 4))
    G = U @ rng.normal(size=(4, 6)) + 0.1 * rng.normal(size=(20, 6))
    return Ridge().fit(U, G), U, G


def test_scorers_take_sample_weight_where_the_metric_does():
    model, U, G = _fitted_ridge()
    w = np.linspace(0.5, 2.0, len(U))
    assert variance_weighted_r2_scorer(model, U, G, sample_weight=w) == pytest.approx(
        variance_weighted_r2(G, model.predict(U), w))
    assert variance_weighted_r2_scorer(model, U, G, sample_weight=w) != pytest.approx(
        variance_weighted_r2_scorer(model, U, G))
    for scorer in (mean_function_r2_scorer, neg_mean_relative_l2_error_scorer):
        with pytest.raises(TypeError, match="takes no sample_weight"):
            scorer(model, U, G, sample_weight=w)


def test_loss_sharpness_refuses_transformed_targets():
    U, Y, G = make_antiderivative(20, n_points=8, random_state=0)
    est = DeepONetRegressor(coords=Y, max_iter=1, tol=None, random_state=0)
    ttr = TransformedTargetRegressor(est, func=lambda g: 100 * g + 5,
                                     inverse_func=lambda g: (g - 5) / 100,
                                     check_inverse=False).fit(U, G)
    with pytest.raises(ValueError, match="transformed targets.*transformer_.transform"):
        loss_sharpness(ttr, U, G, max_iter=2)
    assert loss_sharpness(ttr.regressor_, U, ttr.transformer_.transform(G), max_iter=2,
                          random_state=0) != 0.0


def test_derivative_arguments_are_checked():
    y = torch.rand(2, 5, 2, requires_grad=True)
    s = y[..., 0] ** 2 * y[..., 1] ** 3
    for axis in [(0, 1), [0], True, 0.5]:
        with pytest.raises(ValueError, match="axis must be an int or None"):
            grad(s, y, axis)
    with pytest.raises(ValueError, match="axes is an empty sequence"):
        Derivatives(y).laplacian(s, axes=())
    torch.testing.assert_close(Derivatives(y).laplacian(s, axes=[1]),
                               6 * y[..., 0] ** 2 * y[..., 1])


def test_interpolate_sensors_needs_one_row_of_positions_per_function():
    U = torch.tensor([[0.0, 1.0, 0.0], [0.0, 2.0, 0.0]])
    sensors = torch.tensor([0.0, 0.5, 1.0])
    for x in [torch.tensor([[0.25]]), torch.tensor([0.25, 0.5]), torch.zeros(3, 1)]:
        with pytest.raises(ValueError, match="x must be \\(batch, m\\), one row per function"):
            interpolate_sensors(U, sensors, x)
    with pytest.raises(ValueError, match="finite; got NaN or infinite values in x"):
        interpolate_sensors(U, sensors, torch.tensor([[0.25], [np.nan]]))
    torch.testing.assert_close(interpolate_sensors(U, sensors, torch.tensor([[0.25], [0.75]])),
                               torch.tensor([[0.5], [1.0]]))


def test_pde_residual_refuses_a_bool_axis_and_names_nan_sensors():
    with pytest.raises(ValueError, match="input_axis"):
        PDEResidual(lambda *a: 0, sensors=[0.0, 1.0], input_axis=True).check()
    U, Y, G = make_antiderivative(10, n_points=3, random_state=0)
    est = DeepONetRegressor(coords=Y, max_iter=1, physics=PDEResidual(
        lambda *a: 0, sensors=[0.0, np.nan, 1.0], n_points=2))
    with pytest.raises(ValueError, match="got shape \\(3,\\), not finite"):
        est.fit(U[:, :3], G)


@pytest.mark.parametrize("offset", [-0.3, -0.7, -2.3, 0.1, 1e-3])
def test_reflection_with_any_output_offset_is_an_involution(offset):
    # c - (c - x) is x only to rounding: an exact comparison refused most negative c
    rng = np.random.default_rng(0)
    U = rng.normal(size=(20, 8))
    g = Reflection(grid=(8,), axis=0, output_sign=-1, output_offset=offset)
    model = SymmetrizedRegressor(Ridge(), [g]).fit(U, offset / 2 + 0.0 * U)
    assert model.n_group_ == 2
    np.testing.assert_allclose(model.predict(U), offset / 2, atol=1e-9)
    mirrors = [Reflection(grid=(4, 2), axis=a, output_sign=-1, output_offset=offset)
               for a in (0, 1)]  # four distinct elements, offsets rounded alike
    assert SymmetrizedRegressor(Ridge(), mirrors).fit(U, 0 * U).n_group_ == 4


def test_symmetrized_regressor_keeps_float32():
    rng = np.random.default_rng(0)
    U = rng.normal(size=(20, 8)).astype(np.float32)
    model = SymmetrizedRegressor(Ridge(), [Reflection(grid=(8,), axis=0)]).fit(U, U)
    assert model.predict(U).dtype == np.float32
    assert model.predict(U.astype(np.float64)).dtype == np.float64


def test_group_averaged_regressor_fits_on_the_arrays_it_predicts_on():
    rng = np.random.default_rng(0)
    U = rng.normal(size=(20, 6))
    df = pd.DataFrame(U, columns=[f"c{i}" for i in range(6)])
    mirror = GridPermutation(grid=(6,), matrix=((-1,),), offset=(0,))
    group = GridPointGroup(grid=(6,), point_symmetries=[mirror])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "X does not have valid feature names" before
        model = GroupAveragedRegressor(Ridge(), group).fit(df, U)
        pred = model.predict(df)
    np.testing.assert_allclose(pred, GroupAveragedRegressor(Ridge(), group).fit(U, U).predict(U))
    assert list(model.feature_names_in_) == list(df.columns)


def test_rollout_names_a_wrong_grid_and_1d_inputs():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(6, 12, 8))
    model = RolloutRegressor(Ridge(), window=2, pushforward=0).fit(W)
    with pytest.raises(ValueError, match="W must hold trajectories on the fitted grid \\(8,\\)"):
        model.score_rollout(W[:, :, :6])
    with pytest.raises(ValueError, match="X must hold trajectories on the fitted grid"):
        model.score(W[:, :, :6])
    with pytest.raises(ValueError, match="X must have shape \\(n, 2, 8\\).*got \\(8,\\)"):
        model.predict(np.zeros(8))
    for shape in [(4,), (2, 0, 4)]:
        with pytest.raises(ValueError, match="W_true and W_pred must have the same shape"):
            rollout_errors(np.ones(shape), np.ones(shape))


def test_solvers_refuse_complex_inputs_and_bool_settings():
    U = np.ones((2, 8)) + 1j
    for solve, args in [(solve_antiderivative, (U, np.linspace(0, 1, 8))),
                        (solve_burgers, (U,))]:
        with pytest.raises(ValueError, match="must be real; got a complex array"):
            solve(*args)
    with pytest.raises(ValueError, match="f must be real; got a complex array"):
        solve_darcy(np.ones((1, 9)), f=np.ones((1, 9)) + 1j)
    with pytest.raises(ValueError, match="f must be a number or an array .* not a bool"):
        solve_darcy(np.ones((1, 9)), f=True)
    with pytest.raises(ValueError, match="length_scale must be one float > 0 or a pair"):
        make_heat_conduction(2, length_scale=[True, 0.1], random_state=0)


def test_burgers_inputs_are_contiguous_as_on_a_cache_hit(tmp_path):
    U, _, _ = make_burgers(2, n_points=16, random_state=0)
    cached_U, _, _ = make_burgers(2, n_points=16, random_state=0, cache=True,
                                  data_home=tmp_path)
    assert U.flags.c_contiguous and not np.iscomplexobj(U.base)  # not a view of complex
    np.testing.assert_array_equal(U, cached_U)


def test_display_of_a_grid_in_i_j_order_labels_and_places_its_axes():
    pytest.importorskip("matplotlib")
    x, y = np.meshgrid(np.arange(4) / 4, np.arange(4) / 4, indexing="ij")  # x slowest
    coords = np.column_stack([x.ravel(), y.ravel(), np.zeros(16)])
    g = coords[:, 0][None]  # the field x: varies down the columns of the image
    d = OperatorPredictionDisplay.from_predictions(g, g, coords=coords, grid_shape=(4, 4))
    image = d.images_[0]
    assert (d.axes_[0].get_xlabel(), d.axes_[0].get_ylabel()) == ("y[1]", "y[0]")
    np.testing.assert_allclose(image.get_extent(), [-0.125, 0.875, -0.125, 0.875])
    np.testing.assert_array_equal(image.get_array()[:, 0], [0, 0.25, 0.5, 0.75])
    for output in (True, 0.5, 1):
        with pytest.raises(ValueError, match="output must be an int from 0 to 0"):
            OperatorPredictionDisplay.from_predictions(g, g, coords=coords[:, :2],
                                                       output=output)
    with pytest.raises(ValueError, match="coords has 6 points but grid_shape=\\(4, 4\\)"):
        OperatorPredictionDisplay(y_true=g[0], y_pred=g[0], coords=coords[:6],
                                  grid_shape=(4, 4)).plot()
    t = np.linspace(0, 1, 5)
    with pytest.raises(ValueError, match="coords are 2-D points on one line"):
        OperatorPredictionDisplay(y_true=t, y_pred=t, coords=np.column_stack([t, 2 * t])).plot()
    assert OperatorPredictionDisplay(y_true=t, y_pred=t, coords=t).plot().line_true_ is not None


def test_ensemble_of_an_int_seed_and_n_jobs_is_the_same_whatever_the_cores():
    from joblib import parallel_config

    from skoperator.uncertainty import EnsembleRegressor

    U, Y, G = make_antiderivative(30, n_points=8, random_state=0)
    member = DeepONetRegressor(coords=Y, max_iter=2, tol=None)
    preds = []
    for workers in (1, 2):  # the cores an n_jobs=None ensemble would use
        with parallel_config(backend="threading", n_jobs=workers):
            model = EnsembleRegressor(member, n_estimators=4, n_jobs=2, random_state=0)
            preds.append(model.fit(U, G).predict(U))
    np.testing.assert_array_equal(preds[0], preds[1])


def test_conformal_band_refuses_nan_predictions_and_refits_drop_old_names():
    from sklearn.base import BaseEstimator, RegressorMixin

    from skoperator.uncertainty import ConformalBandRegressor, EnsembleRegressor

    class HalfNaN(RegressorMixin, BaseEstimator):
        def fit(self, X, y):
            self.n_features_in_ = X.shape[1]
            return self

        def predict(self, X):
            out = np.zeros((len(X), 3))
            out[::2] = np.nan
            return out

    rng = np.random.default_rng(0)
    U, G = rng.normal(size=(60, 3)), rng.normal(size=(60, 3))
    with pytest.raises(ValueError, match="predicts NaN or infinity on calibration functions"):
        ConformalBandRegressor(HalfNaN(), alpha=0.2, random_state=0).fit(U, G)
    df = pd.DataFrame(U, columns=["a", "b", "c"])
    for model in (ConformalBandRegressor(Ridge(), alpha=0.2, random_state=0),
                  EnsembleRegressor(Ridge(), n_estimators=2, random_state=0)):
        assert list(model.fit(df, G).feature_names_in_) == ["a", "b", "c"]
        assert not hasattr(model.fit(U, G), "feature_names_in_")


def test_the_full_grid_relative_l2_does_not_depend_on_the_chunks(monkeypatch):
    # a per-function loss with a field missing for some functions: chunks weighed by their
    # functions, not by the (function, field) pairs the loss averages over
    from skoperator._objective import TrainingData, full_grid_objective
    from skoperator._planning import make_plan
    from skoperator.datasets import make_antiderivative
    U, Y, G = make_antiderivative(64, n_points=20, random_state=0)
    G2 = np.hstack([G, 3 * G + 1])
    G2[:32, 20:] = np.nan
    est = DeepONetRegressor(coords=Y, n_basis=4, n_outputs=2, loss="relative_l2",
                            random_state=0)
    plan = make_plan(est, U, G2, incremental=False)
    whole, _ = full_grid_objective(plan.network, plan.data, plan.loss)
    chunks = TrainingData.rows_in_chunks
    monkeypatch.setattr(TrainingData, "rows_in_chunks",
                        lambda self, n_elements=1 << 22, step=None, subset=None:
                        chunks(self, step=step or 16, subset=subset))
    chunked, _ = full_grid_objective(plan.network, plan.data, plan.loss)
    assert chunked == pytest.approx(whole, rel=1e-6)


# ---------------------------------------------------------------- the estimator's core paths
def _core(**params):
    from skoperator.networks import MLPBranch, MLPTrunk
    base = dict(n_basis=8, max_iter=2, random_state=0, tol=None,
                branch=MLPBranch(layers=(16,)), trunk=MLPTrunk(layers=(16,)))
    base.update(params)
    return DeepONetRegressor(**base)


def test_a_warm_start_keeps_the_points_fit_was_given():
    from skoperator.datasets import make_antiderivative
    U, Y, G = make_antiderivative(64, n_points=20, random_state=0)
    Yc = np.sort(np.random.RandomState(1).rand(20, 1), axis=0)
    est = _core().fit(U, G, coords=Yc)
    est.set_params(warm_start=True).fit(U, G)  # trained on the uniform grid before
    np.testing.assert_array_equal(est.coords_, Yc)
    P = np.sort(np.random.RandomState(0).rand(64, 20, 1), axis=1)
    per_function = _core().fit(U, G, coords=P)
    with pytest.raises(ValueError, match=r"fit continues a model fitted on points of their "
                                         r"own per function; pass them: fit\(U, G, coords"):
        per_function.set_params(warm_start=True).fit(U, G)


def test_partial_fit_continues_a_branch_list_holding_a_module():
    import torch

    from skoperator.datasets import make_antiderivative
    from skoperator.networks import MLPBranch
    U, Y, G = make_antiderivative(64, n_points=20, random_state=0)
    U2 = np.hstack([U, U ** 2])
    est = _core(coords=Y, branch=[MLPBranch(layers=(16,), n_sensors=20),
                                  torch.nn.Sequential(torch.nn.Linear(20, 8))]).fit(U2, G)
    est.partial_fit(U2, G)
    assert est.n_iter_ == 3


def test_the_operator_scorers_find_the_fitted_member_of_a_bagging_ensemble():
    from sklearn.ensemble import BaggingRegressor

    from skoperator._unwrap import final_estimator
    from skoperator.datasets import make_antiderivative
    from skoperator.metrics import mean_function_r2, mean_function_r2_scorer
    U, Y, G = make_antiderivative(64, n_points=20, random_state=0)
    G2 = np.hstack([G, 2 * G + 1])
    bag = BaggingRegressor(_core(coords=Y, n_outputs=2), n_estimators=2,
                           random_state=0).fit(U, G2)
    assert hasattr(final_estimator(bag), "network_")
    assert mean_function_r2_scorer(bag, U, G2) == pytest.approx(
        mean_function_r2(G2, bag.predict(U), n_outputs=2))


def test_predict_refuses_a_grid_for_a_model_fitted_on_flat_rows():
    from skoperator.datasets import make_antiderivative
    U, Y, G = make_antiderivative(64, n_points=20, random_state=0)
    est = _core(coords=Y).fit(U, G)
    with pytest.raises(ValueError, match=r"fitted on flat rows .*pass U.reshape"):
        est.predict(U.reshape(64, 5, 4))


def test_reproduce_checks_n_eval_against_the_grid_before_training(tmp_path):
    from skoperator.reproduce import run
    with pytest.raises(ValueError, match="n_eval=101 is larger than the 100 points"):
        run("antiderivative", n_trains=(10,), n_evals=(1, 101), epochs=1, n_test=10,
            out=tmp_path / "out", device="cpu")
    assert not (tmp_path / "out").exists()


def test_n_jobs_far_above_the_cores_is_capped():
    import os

    from skoperator._parallel import planning_threads
    cores = os.cpu_count() or 1
    assert planning_threads(3) == 3 and planning_threads(10 ** 6) == 16 * cores


def test_group_averaging_refuses_maps_that_are_not_a_group():
    from sklearn.linear_model import Ridge

    from skoperator.datasets import darcy_symmetry
    from skoperator.symmetry import GridPermutation, GridPointGroup, GroupAveragedRegressor
    rng = np.random.default_rng(0)
    U = rng.normal(size=(40, 25))
    G = U @ rng.normal(size=(25, 25))
    quarter = GridPermutation(grid=(5, 5), matrix=((0, -1), (1, 0)), offset=(4, 0))
    with pytest.raises(ValueError, match="lists 2 elements that are not a group"):
        GroupAveragedRegressor(Ridge(), GridPointGroup(grid=(5, 5),
                                                       point_symmetries=[quarter])).fit(U, G)
    assert GroupAveragedRegressor(Ridge(), darcy_symmetry(5)).fit(U, G).n_group_ == 8


def test_a_calibration_fraction_holds_out_the_rows_it_names():
    from sklearn.linear_model import Ridge

    from skoperator.uncertainty import ConformalBandRegressor
    rng = np.random.default_rng(0)
    U, G = rng.normal(size=(100, 5)), rng.normal(size=(100, 3))
    band = ConformalBandRegressor(Ridge(), alpha=0.5, calibration_fraction=0.07,
                                  random_state=0).fit(U, G)
    assert len(band.calibration_indices_) == 7  # 0.07 * 100 rounded up by its float error: 8
