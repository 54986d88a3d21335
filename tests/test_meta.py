"""The meta-estimators' shared base (skoperator._meta) and the way inside (skoperator._unwrap)."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from skoperator import DeepONetRegressor, _ensemble
from skoperator._unwrap import final_estimator, final_step, fitted_n_outputs
from skoperator.datasets import make_antiderivative
from skoperator.inspection import error_spectrum
from skoperator.metrics import variance_weighted_r2, variance_weighted_r2_scorer
from skoperator.networks import MLPBranch, MLPTrunk
from skoperator.symmetry import (
    BaseSymmetry,
    CanonicalizedRegressor,
    GridPermutation,
    GridPointGroup,
    GridTranslation,
    GroupAveragedRegressor,
    Reflection,
    SymmetrizedRegressor,
)
from skoperator.uncertainty import ConformalBandRegressor, EnsembleRegressor

N_POINTS = 12


def _model(Y, **params):
    """A two-field DeepONet that fits in a fraction of a second."""
    return DeepONetRegressor(**{"coords": Y, "n_outputs": 2, "n_eval": 6, "n_basis": 8,
                                "branch": MLPBranch(layers=(16,)),
                                "trunk": MLPTrunk(layers=(16,)),
                                "max_iter": 4, "batch_size": 16, "tol": None,
                                "device": "cpu", "random_state": 0, **params})


@pytest.fixture(scope="module")
def two_fields():
    """U, coords and G of two fields (the antiderivative and its square), some G missing."""
    U, Y, G = make_antiderivative(60, n_points=N_POINTS, random_state=0)
    G2 = np.hstack([G, G ** 2])
    G_nan = G2.copy()
    G_nan[np.random.default_rng(0).random(G2.shape) < 0.2] = np.nan
    return U, Y, G2, G_nan


def _mirror():
    """The mirror of the sensors' and of each output field's 1-D grid."""
    return Reflection(grid=(N_POINTS,), axis=0)


WRAPPERS = {
    "ensemble": lambda est: EnsembleRegressor(est, n_estimators=2, vectorize=False, n_jobs=1,
                                              random_state=0),
    "conformal": lambda est: ConformalBandRegressor(est, alpha=0.25, random_state=0),
    "symmetrized": lambda est: SymmetrizedRegressor(est, [_mirror()]),
    "canonicalized": lambda est: CanonicalizedRegressor(
        est, GridTranslation(grid=(N_POINTS,), direction=(1,))),
    "group-averaged": lambda est: GroupAveragedRegressor(
        est, GridPointGroup(grid=(N_POINTS,), point_symmetries=[GridPermutation(
            grid=(N_POINTS,), matrix=((-1,),), offset=(N_POINTS - 1,))])),
}


# --------------------------------------------------------------- the way inside
def test_final_estimator_reaches_the_deeponet_through_every_unfitted_wrapper(two_fields):
    _, Y, _, _ = two_fields
    est = _model(Y)
    for wrap in WRAPPERS.values():
        assert final_estimator(wrap(est)) is est
        piped = make_pipeline(StandardScaler(), wrap(make_pipeline(StandardScaler(), est)))
        assert final_estimator(piped) is est
    assert final_estimator(make_pipeline(StandardScaler(), "passthrough")).steps[-1][1] == \
        "passthrough"
    assert final_step(make_pipeline(StandardScaler(), make_pipeline(StandardScaler(), est))) \
        == ("pipeline__deeponetregressor__", est)
    ridge = Ridge()
    assert final_estimator(ridge) is ridge


@pytest.mark.parametrize("name", sorted(WRAPPERS))
def test_final_estimator_reaches_the_fitted_deeponet_and_its_inputs(two_fields, name):
    U, Y, G, _ = two_fields
    scale = FunctionTransformer(lambda U: 2.0 * U)
    model = make_pipeline(scale, WRAPPERS[name](_model(Y))).fit(U, G)
    if name == "canonicalized":  # the estimator inside sees moved inputs: not U
        with pytest.raises(ValueError, match="moved inputs"):
            final_estimator(model, U)
        final, U_seen = model[-1].estimator_, 2.0 * U
    else:
        final, U_seen = final_estimator(model, U)
    assert final is final_estimator(model)
    assert isinstance(final, DeepONetRegressor) and final.n_outputs_ == 2
    assert final is not model[-1].estimator  # the fitted clone, not the template
    np.testing.assert_array_equal(U_seen, 2.0 * U)
    assert fitted_n_outputs(model) == 2
    search = GridSearchCV(WRAPPERS[name](_model(Y)), {"estimator__n_basis": [8]}, cv=2)
    assert fitted_n_outputs(search.fit(U, G)) == 2
    target = TransformedTargetRegressor(_model(Y), func=np.exp, inverse_func=np.log)
    assert fitted_n_outputs(target.fit(U, G)) == 2


def test_fitted_n_outputs_counts_columns_of_other_regressors_as_one_field(two_fields):
    U, _, G, _ = two_fields
    assert fitted_n_outputs(Ridge().fit(U, G)) == 1  # its n_outputs_ (24) counts columns


@pytest.mark.parametrize("name", sorted(WRAPPERS))
def test_error_spectrum_counts_the_fields_of_a_wrapped_model(two_fields, name):
    # The former unwrapping of error_spectrum did not look at estimator_ or
    # estimators_: a wrapped two-field model counted one field of 24 points.
    U, Y, G, _ = two_fields
    model = WRAPPERS[name](_model(Y)).fit(U, G)
    spec = error_spectrum(model, U, G, field=1)
    err = (G - model.predict(U))[:, N_POINTS:]
    assert len(spec.modes[0]) == N_POINTS // 2 + 1
    assert spec.mse == pytest.approx(float(np.mean(err ** 2)), rel=1e-12)


# ---------------------------------------------------------------- one score
@pytest.mark.parametrize("name", sorted(WRAPPERS))
def test_score_is_deeponet_score_per_field_with_missing_targets(two_fields, name):
    U, Y, G, G_nan = two_fields
    model = WRAPPERS[name](_model(Y)).fit(U, G)
    pred = model.predict(U)
    # DeepONetRegressor.score's computation: variance-weighted R2 per field,
    # averaged, NaN targets ignored.
    expected = variance_weighted_r2(G_nan, pred, n_outputs=2)
    assert np.isfinite(expected)
    assert model.score(U, G_nan) == pytest.approx(expected, rel=1e-12)
    w = np.linspace(0.5, 1.5, len(U))
    assert model.score(U, G_nan, sample_weight=w) == pytest.approx(
        variance_weighted_r2(G_nan, pred, w, n_outputs=2), rel=1e-12)
    assert variance_weighted_r2_scorer(model, U, G_nan) == pytest.approx(expected, rel=1e-12)
    # per field, not one pool of 24 columns
    assert expected != pytest.approx(variance_weighted_r2(G_nan, pred, n_outputs=1))


@pytest.mark.parametrize("name", sorted(WRAPPERS))
def test_score_of_a_one_model_wrapper_is_the_models_own_score(two_fields, name):
    U, Y, G, G_nan = two_fields
    wrapper = WRAPPERS[name](_model(Y))
    if name == "ensemble":
        wrapper.set_params(n_estimators=1)
    if name == "symmetrized":
        wrapper.set_params(average=False)
    wrapper.fit(U, G)
    inner = final_estimator(wrapper)
    if name == "canonicalized":
        # the model inside answers for the moved inputs; scored where G is
        k = wrapper.symmetry_.canonical_elements(U)
        pred = wrapper.symmetry_.transform_outputs(
            inner.predict(wrapper.symmetry_.transform_inputs(U, k)), k, inverse=True)
        assert wrapper.score(U, G_nan) == pytest.approx(
            variance_weighted_r2(G_nan, pred, n_outputs=2), rel=1e-12)
        return
    if name == "group-averaged":
        # the mean of the model's prediction and its mirrored prediction of the
        # mirrored inputs, mirrored back field by field
        mirrored = inner.predict(U[:, ::-1]).reshape(len(U), 2, N_POINTS)[:, :, ::-1]
        pred = (inner.predict(U) + mirrored.reshape(len(U), -1)) / 2
        np.testing.assert_allclose(wrapper.predict(U), pred, rtol=1e-6, atol=1e-7)
        assert wrapper.score(U, G_nan) == pytest.approx(
            variance_weighted_r2(G_nan, pred, n_outputs=2), rel=1e-6)
        return
    assert wrapper.score(U, G_nan) == pytest.approx(inner.score(U, G_nan), rel=1e-12)


def test_score_names_a_target_of_the_wrong_shape(two_fields):
    U, Y, G, _ = two_fields
    model = WRAPPERS["symmetrized"](_model(Y)).fit(U, G)
    with pytest.raises(ValueError, match="columns"):
        model.score(U, G[:, :5])
    with pytest.raises(ValueError, match="rows"):
        model.score(U, G[:5])


# --------------------------------------------------------- ensemble members
def test_vectorised_members_are_the_fields_of_the_one_network(monkeypatch):
    U, Y, G = make_antiderivative(60, n_points=N_POINTS, random_state=0)
    seen = {}
    split = _ensemble._members_from_vectorised

    def spy(big, *args):
        seen["big"] = big
        return split(big, *args)

    monkeypatch.setattr(_ensemble, "_members_from_vectorised", spy)
    member = DeepONetRegressor(coords=Y, n_eval=6, n_basis=8, branch=MLPBranch(layers=(16,)),
                               trunk=MLPTrunk(layers=(16,)), max_iter=5, batch_size=16, tol=None,
                               device="cpu", learning_rate_init=1e-2, random_state=0)
    ensemble = EnsembleRegressor(member, n_estimators=3, vectorize=True, n_jobs=1,
                                 random_state=0).fit(U, G)
    big = seen["big"]
    fields = big.predict(U).reshape(len(U), 3, N_POINTS)
    biases = [m.network_.bias.detach().numpy().copy() for m in ensemble.estimators_]
    for m, est in enumerate(ensemble.estimators_):
        np.testing.assert_allclose(est.predict(U), fields[:, m], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(biases[m], big.network_.bias.detach().numpy()[m:m + 1])
    assert not np.array_equal(biases[0], biases[1])  # each member its own output bias


# ------------------------------------------------------------ symmetries
class _SameAxis(BaseSymmetry):
    """A symmetry that says it mirrors axis 0 (not a Reflection)."""

    def __init__(self, axis=0):
        self.axis = axis

    def check_shapes(self, n_sensors, n_points, name):
        pass

    def mirrored_axis(self):
        return self.axis

    def transform_inputs(self, U):
        return U[:, ::-1]

    def transform_outputs(self, G):
        return G[:, ::-1]

    def inverse_outputs(self, G):
        return G[:, ::-1]


def test_two_symmetries_of_one_axis_are_refused_by_capability():
    U = np.random.default_rng(0).normal(size=(10, 6))
    with pytest.raises(ValueError, match=r"symmetries\[0\] and symmetries\[1\] both reflect"):
        SymmetrizedRegressor(Ridge(), [_SameAxis(), Reflection(grid=(6,), axis=0)]).fit(U, U)
    model = SymmetrizedRegressor(Ridge(), [_SameAxis()]).fit(U, U)
    assert model.n_group_ == 2
    assert clone(model).symmetries[0].axis == 0
