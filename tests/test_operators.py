"""Vector-valued outputs, several input functions, grids with channels, exact constraints."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from skoperator import DeepONetRegressor
from skoperator.datasets import make_antiderivative
from skoperator.metrics import (
    mean_function_r2,
    mean_function_r2_scorer,
    mean_relative_l2_error,
    variance_weighted_r2,
)
from skoperator.networks import CNNBranch, MLPBranch, MLPTrunk, MultiBranch

RECIPE = dict(n_eval=10, max_iter=100, learning_rate="onecycle", learning_rate_init=5e-3,
              tol=None, device="cpu", random_state=0)
FAST = dict(branch=MLPBranch(layers=(16,)), trunk=MLPTrunk(layers=(16,)), n_basis=8,
            max_iter=2, tol=None, device="cpu", random_state=0)


def _inputs(*sizes, layers=(16,)):
    """One MLP branch per input function, ``sizes`` columns each (product merge)."""
    return MultiBranch([MLPBranch(layers=layers, n_sensors=s) for s in sizes])


@pytest.fixture(scope="module")
def two_fields():
    """u -> (antiderivative of u, 1000 * u): known exactly, very different scales."""
    U, Y, G = make_antiderivative(800, random_state=0)
    return U, Y, np.hstack([G, 1000.0 * U])


@pytest.fixture(scope="module")
def fitted_two_fields(two_fields):
    U, Y, G = two_fields
    return DeepONetRegressor(coords=Y, n_outputs=2, **RECIPE).fit(U[:600], G[:600])


# ------------------------------------------------------------- several outputs
def test_each_output_field_is_learned(two_fields, fitted_two_fields):
    U, Y, G = two_fields
    pred = fitted_two_fields.predict(U[600:])
    assert pred.shape == (200, 200)
    per_field = mean_function_r2(G[600:], pred, n_outputs=2, multioutput="raw_values")
    assert per_field.shape == (2,) and np.all(per_field >= 0.96), per_field  # 0.988, 0.969
    # each field standardised on its own scale
    scale = fitted_two_fields.network_.g_scale.numpy()
    assert scale[1] / scale[0] > 100


def test_split_layout_is_documented_reshape(two_fields, fitted_two_fields):
    U, Y, G = two_fields
    pred = fitted_two_fields.predict(U[600:700]).reshape(100, 2, 100)
    assert mean_function_r2(G[600:700, :100], pred[:, 0]) >= 0.95
    assert mean_function_r2(1000 * U[600:700], pred[:, 1]) >= 0.95
    fine = np.linspace(0, 1, 37).reshape(-1, 1)
    out = fitted_two_fields.predict(U[600:610], coords=fine)
    assert out.shape == (10, 74)
    # field 1 at new points: u interpolated
    u_fine = np.array([np.interp(fine[:, 0], Y[:, 0], u) for u in U[600:610]])
    assert mean_function_r2(1000 * u_fine, out[:, 37:]) > 0.9


def test_score_and_metrics_treat_each_field_as_outputs(two_fields, fitted_two_fields):
    U, Y, G = two_fields
    est = fitted_two_fields
    pred = est.predict(U[600:])
    raw = variance_weighted_r2(G[600:], pred, n_outputs=2, multioutput="raw_values")
    assert est.score(U[600:], G[600:]) == pytest.approx(raw.mean())
    # without n_outputs the large field would dominate a pooled score
    per_function = mean_function_r2(G[600:], pred, n_outputs=2)
    assert per_function == pytest.approx(np.mean(
        mean_function_r2(G[600:], pred, n_outputs=2, multioutput="raw_values")))
    assert mean_function_r2_scorer(est, U[600:], G[600:]) == pytest.approx(per_function)
    rel = mean_relative_l2_error(G[600:], pred, n_outputs=2, multioutput="raw_values")
    assert rel.shape == (2,) and np.all(rel < 0.2)


@pytest.mark.parametrize("strategy", ["split_branch", "split_trunk", "split_both",
                                      "independent"])
def test_every_strategy_trains_and_predicts(two_fields, strategy):
    U, Y, G = two_fields
    est = DeepONetRegressor(coords=Y, n_outputs=2, multi_output_strategy=strategy,
                            **RECIPE).fit(U[:600], G[:600])
    per_field = mean_function_r2(G[600:], est.predict(U[600:]), n_outputs=2,
                                 multioutput="raw_values")
    assert np.all(per_field >= 0.96), per_field  # measured 0.968 to 0.988
    b = est.network_.encode_branch(torch.zeros(1, 100))
    t = est.network_.encode_trunk(torch.zeros(3, 1))
    split_b = strategy != "split_trunk"
    split_t = strategy != "split_branch"
    assert b.shape == (1, (2 if split_b else 1) * est.n_basis)
    assert t.shape == (3, (2 if split_t else 1) * est.n_basis)


def test_sampling_draws_points_not_point_field_pairs(two_fields):
    U, Y, G = two_fields
    one = DeepONetRegressor(coords=Y, n_eval=7, batch_size=5, **FAST)
    two = DeepONetRegressor(coords=Y, n_eval=7, n_outputs=2, batch_size=5, **FAST)
    one.fit(U[:100], G[:100, :100])
    two.fit(U[:100], G[:100])
    # the trunk runs at the 5 x 7 sampled points of each of the 20 steps,
    # whatever n_outputs (fewer than the 100 grid points)
    assert one.history_[0]["trunk_evals"] == two.history_[0]["trunk_evals"] == 20 * 5 * 7


@pytest.mark.parametrize("sampling", ["random", "full", "stratified"])
def test_several_outputs_with_missing_values_and_early_stopping(two_fields, sampling):
    U, Y, G = two_fields
    G = G[:200].copy()
    rng = np.random.default_rng(0)
    G[rng.uniform(size=G.shape) < 0.3] = np.nan
    est = DeepONetRegressor(coords=Y, n_outputs=2, sampling=sampling, early_stopping=True,
                            **{**FAST, "max_iter": 3}).fit(U[:200], G)
    assert np.all(np.isfinite(est.validation_scores_))
    assert np.isfinite(est.score(U[:200], G))


def test_several_outputs_stream_from_a_memmap(two_fields, tmp_path, monkeypatch):
    import skoperator._data as data_module

    U, Y, G = two_fields
    path = tmp_path / "G.dat"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=(200, 200))
    mm[:] = G[:200]
    mm[5, 10] = np.nan
    mm.flush()
    G_mm = np.memmap(path, dtype=np.float32, mode="r", shape=(200, 200))
    monkeypatch.setattr(data_module, "MEMMAP_BYTES", 1000)  # stream even this small array
    est = DeepONetRegressor(coords=Y, n_outputs=2, **FAST).fit(U[:200], G_mm)
    assert est.predict(U[:3]).shape == (3, 200)


def test_several_outputs_pickle_and_search(two_fields):
    U, Y, G = two_fields
    est = DeepONetRegressor(coords=Y, n_outputs=2, **FAST)
    search = GridSearchCV(est, {"multi_output_strategy": ["split_branch", "independent"]},
                          cv=2, scoring=mean_function_r2_scorer).fit(U[:100], G[:100])
    best = search.best_estimator_
    again = pickle.loads(pickle.dumps(best))
    np.testing.assert_array_equal(again.predict(U[:5]), best.predict(U[:5]))


def test_columns_must_be_a_multiple_of_n_outputs(two_fields):
    U, Y, G = two_fields
    with pytest.raises(ValueError, match="coords has 100 rows but G has 200 columns"):
        DeepONetRegressor(coords=Y, **FAST).fit(U[:50], G[:50])
    with pytest.raises(ValueError, match="199 columns, which is not a multiple of n_outputs=2"):
        DeepONetRegressor(coords=Y, n_outputs=2, **FAST).fit(U[:50], G[:50, :199])


# ------------------------------------------------------------ several inputs
def _two_inputs(n, seed=0):
    """u1 on 100 sensors, u2 on 50: s(x) = int_0^x u1 + u2(x), exact on the grid."""
    U1, Y, G1 = make_antiderivative(n, random_state=seed)
    U2, _, _ = make_antiderivative(n, n_points=50, random_state=seed + 1)
    x50 = np.linspace(0, 1, 50)
    u2 = np.array([np.interp(Y[:, 0], x50, u) for u in U2])
    return np.hstack([U1, U2]), Y, G1 + u2


@pytest.fixture(scope="module")
def two_inputs():
    return _two_inputs(1200)


def test_two_input_functions_mionet(two_inputs):
    U, Y, G = two_inputs
    est = DeepONetRegressor(coords=Y, branch=_inputs(100, 50, layers=(40, 40, 40)),
                            **RECIPE).fit(U[:1000], G[:1000])
    assert len(est.network_.branch.nets) == 2 and est.input_sizes_ == (100, 50)
    assert mean_function_r2(G[1000:], est.predict(U[1000:])) >= 0.97  # measured 0.979
    # each input function has its own scale
    scale = est.network_.u_scale.numpy()
    assert np.all(scale[:100] == scale[0]) and np.all(scale[100:] == scale[100])


def test_column_transformer_preprocesses_each_input_function(two_inputs):
    U, Y, G = two_inputs
    per_input = ColumnTransformer([("u1", StandardScaler(), slice(0, 100)),
                                   ("u2", FunctionTransformer(lambda x: 10 * x), slice(100, 150))])
    pipe = make_pipeline(per_input, DeepONetRegressor(coords=Y, **{**FAST,
                                                                   "branch": _inputs(100, 50)}))
    pipe.fit(U[:100], G[:100])
    search = GridSearchCV(pipe, {"deeponetregressor__n_eval": [2, 5]}, cv=2).fit(U[:100],
                                                                                 G[:100])
    assert search.best_estimator_.predict(U[:4]).shape == (4, 100)


def test_one_branch_kind_per_input(two_inputs):
    U, Y, G = two_inputs
    rng = np.random.default_rng(0)
    image = rng.normal(size=(len(U), 64))
    X = np.hstack([U[:, :100], image])
    branch = MultiBranch([MLPBranch(layers=(16,), n_sensors=100),
                          CNNBranch(grid=(8, 8), filters=(4,), layers=(16,))])
    est = DeepONetRegressor(coords=Y, **{**FAST, "branch": branch}).fit(X[:50], G[:50])
    assert type(est.network_.branch.nets[1]).__name__ == "ConvNet"
    assert est.predict(X[:3]).shape == (3, 100)


def test_grids_with_several_channels():
    rng = np.random.default_rng(0)
    U = rng.normal(size=(60, 2 * 8 * 8))
    coords = rng.uniform(size=(10, 2))
    G = U[:, :10] - U[:, 64:74] * coords[:, 0]
    cnn = CNNBranch(grid=(8, 8), channels=2, filters=(4,), layers=(16,))
    est = DeepONetRegressor(coords=coords, **{**FAST, "branch": cnn}).fit(U, G)
    assert est.network_.branch.features[0].in_channels == 2
    # the same data as a 4-D array of grids
    est4 = DeepONetRegressor(coords=coords, **{**FAST, "branch": cnn}).fit(
        U.reshape(60, 2, 8, 8), G)
    np.testing.assert_allclose(est4.predict(U.reshape(60, 2, 8, 8)), est.predict(U))


# --------------------------------------------------------- exact constraints
def vanish_at_zero(y, out):
    """s(0) = 0 exactly: a module-level function, so the model pickles."""
    return y[..., 0] * out


def test_output_transform_imposes_the_boundary_value_exactly():
    U, Y, G = make_antiderivative(800, random_state=3)
    plain = DeepONetRegressor(coords=Y, **RECIPE).fit(U[:600], G[:600])
    exact = DeepONetRegressor(coords=Y, output_transform=vanish_at_zero, **RECIPE)
    exact.fit(U[:600], G[:600])
    pred = exact.predict(U[600:])
    assert np.all(pred[:, 0] == 0.0)
    assert np.all(exact.predict(U[600:], coords=[[0.0], [0.5]])[:, 0] == 0.0)
    r2_exact = mean_function_r2(G[600:], pred)
    r2_plain = mean_function_r2(G[600:], plain.predict(U[600:]))
    assert r2_exact >= r2_plain, (r2_exact, r2_plain)
    again = pickle.loads(pickle.dumps(exact))
    np.testing.assert_array_equal(again.predict(U[:5]), exact.predict(U[:5]))


def test_output_transform_sees_every_field(two_fields):
    U, Y, G = two_fields
    seen = {}

    def transform(y, out):
        seen["shapes"] = (tuple(y.shape), tuple(out.shape))
        return out * (y[..., :1] >= 0)

    est = DeepONetRegressor(coords=Y, n_outputs=2, output_transform=transform, **FAST)
    est.fit(U[:20], G[:20])
    est.predict(U[:3])
    y_shape, out_shape = seen["shapes"]
    assert out_shape[-2:] == (100, 2) and y_shape == (100, 1)


@pytest.mark.parametrize("sampling", ["random", "shared", "full", "grouped", "fixed",
                                      "stratified", "adaptive"])
def test_several_outputs_and_inputs_train_with_every_sampling_mode(sampling):
    t, x = np.meshgrid(np.linspace(0, 1, 4), np.linspace(0, 1, 10), indexing="ij")
    coords = np.column_stack([t.ravel(), x.ravel()])
    rng = np.random.default_rng(0)
    U = rng.normal(size=(40, 9))
    field = U[:, :1] * coords[:, 0] + U[:, 5:6] * np.sin(3 * coords[:, 1])
    G = np.hstack([field, 2 * field + 1])
    G[rng.uniform(size=G.shape) < 0.1] = np.nan
    G[:, [0, 40]] = 1.0  # every function keeps an observed value
    est = DeepONetRegressor(coords=coords, n_outputs=2, sampling=sampling, n_eval=3,
                            loss="relative_l2", early_stopping=True, validation_fraction=0.25,
                            **{**FAST, "branch": _inputs(5, 4)}).fit(U, G)
    assert est.predict(U).shape == (40, 80)
    assert np.all(np.isfinite(est.validation_scores_))


def test_relative_l2_loss_streams_from_a_memmap(two_fields, tmp_path, monkeypatch):
    import skoperator._data as data_module

    U, Y, G = two_fields
    path = tmp_path / "G.dat"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=(100, 200))
    mm[:] = G[:100]
    mm[3, 7] = np.nan
    mm.flush()
    G_mm = np.memmap(path, dtype=np.float32, mode="r", shape=(100, 200))
    monkeypatch.setattr(data_module, "MEMMAP_BYTES", 1000)
    # the same computation on both sides: every point, every step
    streamed = DeepONetRegressor(coords=Y, n_outputs=2, loss="relative_l2", sampling="full",
                                 **FAST)
    streamed.fit(U[:100], G_mm)
    in_memory = DeepONetRegressor(coords=Y, n_outputs=2, loss="relative_l2", sampling="full",
                                  **FAST)
    in_memory.fit(U[:100], np.array(G_mm))
    np.testing.assert_allclose(streamed.loss_curve_, in_memory.loss_curve_, rtol=1e-4)
