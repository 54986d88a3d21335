"""Symmetries as data: reflections and the symmetrized meta-estimator."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks

from skoperator import DeepONetRegressor
from skoperator.datasets import (
    heat_conduction_symmetries,
    make_heat_conduction,
    solve_heat_conduction,
)
from skoperator.networks import FNOBranch, PODTrunk
from skoperator.symmetry import SYMMETRIES, BaseSymmetry, Reflection, SymmetrizedRegressor


class _Recorder(RegressorMixin, BaseEstimator):
    """Predicts the mean output; remembers what fit saw."""

    def fit(self, X, y, sample_weight=None):
        self.rows_, self.weights_ = X.copy(), sample_weight
        self.mean_ = np.asarray(y).mean(axis=0)
        return self

    def predict(self, X):
        return np.tile(self.mean_, (len(X), 1))


def test_heat_symmetries_map_solutions_to_solutions():
    U, _, G = make_heat_conduction(4, random_state=0)
    for g in heat_conduction_symmetries():
        np.testing.assert_allclose(solve_heat_conduction(g.transform_inputs(U)),
                                   g.transform_outputs(G), atol=1e-12)
        np.testing.assert_allclose(g.inverse_outputs(g.transform_outputs(G)), G, atol=1e-15)
    # and they are not the identity
    x2, x1 = heat_conduction_symmetries()
    assert np.abs(x2.transform_outputs(G) - G).max() > 0.05
    assert np.abs(x1.transform_outputs(G) - G).max() > 0.05


def test_reflection_acts_on_each_channel_and_the_chosen_axis():
    g = Reflection(grid=(2, 3), axis=0)
    U = np.arange(12.0)[None]  # two channels of a 2 x 3 grid
    np.testing.assert_array_equal(g.transform_inputs(U),
                                  [[3, 4, 5, 0, 1, 2, 9, 10, 11, 6, 7, 8]])
    h = Reflection(grid=(2, 3), axis=-1, output_grid=(4,), output_sign=-1, output_offset=2.0)
    np.testing.assert_array_equal(h.transform_outputs(np.array([[0.0, 1, 2, 3]])),
                                  [[-1, 0, 1, 2]])
    assert SYMMETRIES["reflection"] is Reflection


@pytest.mark.parametrize("params, match", [
    (dict(grid=(4,), axis=1), "axis must index a grid of 1"),
    (dict(grid=(0, 2), axis=0), "grid must be a non-empty tuple of positive ints"),
    (dict(grid=(4,), axis=0, output_sign=0), "output_sign must be 1 or -1"),
])
def test_bad_reflections_are_named(params, match):
    U = np.zeros((3, 4))
    model = SymmetrizedRegressor(Ridge(), [Reflection(**params)])
    with pytest.raises(ValueError, match=match):
        model.fit(U, U)


def test_grid_that_does_not_fit_the_data_is_named_and_changes_nothing():
    rng = np.random.default_rng(0)
    U = rng.normal(size=(10, 6))
    model = SymmetrizedRegressor(Ridge(), [Reflection(grid=(6,), axis=0)]).fit(U, U)
    fitted = model.estimator_
    model.set_params(symmetries=[Reflection(grid=(4,), axis=0)])
    with pytest.raises(ValueError, match=r"symmetries\[0\] reflects fields on the grid \(4,\)"):
        model.fit(U, U)
    assert model.estimator_ is fitted
    with pytest.raises(ValueError, match=r"symmetries\[0\] and symmetries\[1\] both reflect"):
        SymmetrizedRegressor(Ridge(), [Reflection(grid=(6,), axis=0),
                                       Reflection(grid=(6,), axis=-1)]).fit(U, U)
    with pytest.raises(ValueError, match="symmetries is empty"):
        SymmetrizedRegressor(Ridge(), []).fit(U, U)
    with pytest.raises(TypeError, match=r"symmetries\[0\] must be a symmetry"):
        SymmetrizedRegressor(Ridge(), ["reflection"]).fit(U, U)
    with pytest.raises(ValueError, match="X has 5 features, but SymmetrizedRegressor is expecti"):
        SymmetrizedRegressor(Ridge(), [Reflection(grid=(6,), axis=0)]).fit(U, U).predict(U[:, :5])


def test_fit_sees_every_image_and_repeats_the_weights():
    rng = np.random.default_rng(1)
    U, G = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    g1, g2 = Reflection(grid=(2, 2), axis=0), Reflection(grid=(2, 2), axis=1, output_sign=-1)
    model = SymmetrizedRegressor(_Recorder(), [g1, g2]).fit(U, G, sample_weight=np.arange(5.0))
    assert model.n_group_ == 4 and len(model.estimator_.rows_) == 20
    expected = np.concatenate([U, g1.transform_inputs(U), g2.transform_inputs(U),
                               g2.transform_inputs(g1.transform_inputs(U))])
    np.testing.assert_array_equal(model.estimator_.rows_, expected)
    np.testing.assert_array_equal(model.estimator_.weights_, np.tile(np.arange(5.0), 4))


def test_averaged_prediction_is_exactly_equivariant():
    # A plain ridge regression of an operator that has no such symmetry: the
    # average over the group is equivariant all the same.
    rng = np.random.default_rng(2)
    U = rng.normal(size=(40, 8))
    G = np.cumsum(U, axis=1)
    g = Reflection(grid=(8,), axis=0, output_sign=-1, output_offset=0.5)
    model = SymmetrizedRegressor(Ridge(alpha=1e-3), [g]).fit(U, G)
    np.testing.assert_allclose(model.predict(g.transform_inputs(U)),
                               g.transform_outputs(model.predict(U)), atol=1e-12)
    plain = model.set_params(average=False).predict(U)
    np.testing.assert_array_equal(plain, model.estimator_.predict(U))


def test_exact_symmetry_is_learned_exactly_by_a_linear_model():
    rng = np.random.default_rng(3)
    U = rng.normal(size=(30, 8))
    G = U + 0.5 * U[:, ::-1]  # commutes with the mirror
    model = SymmetrizedRegressor(Ridge(alpha=1e-8), [Reflection(grid=(8,), axis=0)]).fit(U, G)
    U_new = rng.normal(size=(5, 8))
    np.testing.assert_allclose(model.predict(U_new), U_new + 0.5 * U_new[:, ::-1], atol=1e-6)
    assert model.score(U_new, U_new + 0.5 * U_new[:, ::-1]) > 1 - 1e-10


def test_clone_and_search_reach_the_inner_estimator():
    rng = np.random.default_rng(4)
    U = rng.normal(size=(30, 8))
    G = U + 0.5 * U[:, ::-1] + 0.1 * rng.normal(size=U.shape)
    model = SymmetrizedRegressor(Ridge(), [Reflection(grid=(8,), axis=0)])
    assert clone(model).get_params()["estimator__alpha"] == 1.0
    search = GridSearchCV(model, {"estimator__alpha": [1e-3, 1e3]}, cv=3).fit(U, G)
    assert search.best_params_ == {"estimator__alpha": 1e-3}


def test_deeponet_inside_predicts_equivariant_heat_fields():
    U, _, G = make_heat_conduction(8, random_state=0)
    est = DeepONetRegressor(
        coords=make_heat_conduction(1, random_state=0)[1], n_eval=32,
        branch=FNOBranch(grid=(32, 32), modes=4, width=4, n_layers=1), trunk=PODTrunk(),
        n_basis=8, max_iter=1, tol=None, random_state=0, device="cpu")
    model = SymmetrizedRegressor(est, heat_conduction_symmetries()).fit(np.log(U), G)
    assert model.estimator_.n_iter_ == 1
    pred = model.predict(np.log(U))
    assert pred.shape == (8, 1024) and np.all(np.isfinite(pred))
    x2, x1 = heat_conduction_symmetries()
    for g in (x1, x2):
        np.testing.assert_allclose(model.predict(g.transform_inputs(np.log(U))),
                                   g.transform_outputs(pred), atol=1e-5)


class _Negation(BaseSymmetry):
    """u -> -u, G -> -G: a symmetry of every linear operator, on any shapes."""

    def transform_inputs(self, U):
        return -np.asarray(U)

    def transform_outputs(self, G):
        return -np.asarray(G)

    def inverse_outputs(self, G):
        return -np.asarray(G)


@parametrize_with_checks([SymmetrizedRegressor(Ridge(), [_Negation()])])
def test_sklearn_compatible_meta_estimator(estimator, check):
    check(estimator)


def test_inspection_reaches_the_estimator_inside():
    from skoperator.inspection import loss_sharpness

    U, Y, G = make_heat_conduction(8, random_state=0)
    est = DeepONetRegressor(coords=Y, n_basis=8, max_iter=2, tol=None, random_state=0,
                            device="cpu")
    model = SymmetrizedRegressor(est, heat_conduction_symmetries()).fit(np.log(U), G)
    # the sharpness of the fitted estimator inside, at the same data
    assert loss_sharpness(model, np.log(U), G, max_iter=5, random_state=0) == pytest.approx(
        loss_sharpness(model.estimator_, np.log(U), G, max_iter=5, random_state=0))


def test_symmetries_that_do_not_make_a_group_of_subsets_are_refused():
    from skoperator.symmetry import GridPermutation

    rng = np.random.default_rng(0)
    U = rng.normal(size=(10, 16))
    quarter_turn = GridPermutation(grid=(4, 4), matrix=((0, -1), (1, 0)))
    transpose = GridPermutation(grid=(4, 4), matrix=((0, 1), (1, 0)))
    mirror = GridPermutation(grid=(4, 4), matrix=((-1, 0), (0, 1)))
    model = SymmetrizedRegressor(Ridge(), [transpose]).fit(U, U)  # an involution: accepted
    fitted = model.estimator_
    assert model.n_group_ == 2
    with pytest.raises(ValueError, match=r"symmetries\[0\] \(GridPermutation\) applied twice "
                                         r"does not give back the inputs.*CanonicalizedRegre"):
        model.set_params(symmetries=[quarter_turn]).fit(U, U)
    assert model.estimator_ is fitted  # a failed fit changes nothing
    with pytest.raises(ValueError, match=r"symmetries\[0\] and symmetries\[1\] do not commute "
                                         r"on the inputs"):
        SymmetrizedRegressor(Ridge(), [transpose, mirror]).fit(U, U)
    # a transpose and the mirror of both axes commute: a group of four
    both = GridPermutation(grid=(4, 4), matrix=((-1, 0), (0, -1)))
    assert SymmetrizedRegressor(Ridge(), [transpose, both]).fit(U, U).n_group_ == 4


def test_a_symmetry_that_the_others_compose_is_refused():
    from skoperator.symmetry import GridPermutation

    rng = np.random.default_rng(0)
    U = rng.normal(size=(10, 16))
    mirrors = [Reflection(grid=(4, 4), axis=0), Reflection(grid=(4, 4), axis=1)]
    half_turn = GridPermutation(grid=(4, 4), matrix=((-1, 0), (0, -1)), offset=(3, 3))
    assert SymmetrizedRegressor(Ridge(), mirrors).fit(U, U).n_group_ == 4
    with pytest.raises(ValueError, match=r"the compositions of symmetries\[2\] and of "
                                         r"symmetries\[0, 1\] are the same transformation"):
        SymmetrizedRegressor(Ridge(), mirrors + [half_turn]).fit(U, U)
    identity = GridPermutation(grid=(4, 4), matrix=((1, 0), (0, 1)))
    with pytest.raises(ValueError, match=r"the identity and of symmetries\[1\]"):
        SymmetrizedRegressor(Ridge(), mirrors[:1] + [identity]).fit(U, U)


def test_a_pipelines_sample_weight_is_repeated_for_every_image():
    # Only a bare sample_weight was tiled: "ridge__sample_weight" reached the pipeline
    # untiled, and the error counted the images' rows (40), not the user's 20.
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    U = rng.normal(size=(20, 8))
    G = U + 0.5 * U[:, ::-1]
    w = rng.uniform(0.5, 2.0, size=20)
    group = [Reflection(grid=(8,), axis=0)]
    piped = SymmetrizedRegressor(make_pipeline(StandardScaler(), Ridge()), group)
    piped.fit(U, G, ridge__sample_weight=w)
    by_hand = make_pipeline(StandardScaler(), Ridge()).fit(
        np.vstack([U, U[:, ::-1]]), np.vstack([G, G[:, ::-1]]),
        ridge__sample_weight=np.tile(w, 2))
    np.testing.assert_allclose(piped.estimator_[-1].coef_, by_hand[-1].coef_, rtol=1e-12)
    with pytest.raises(ValueError, match="20"):
        piped.fit(U, G, ridge__sample_weight=w[:5])


def test_symmetry_wrappers_take_single_output_from_the_estimator_inside():
    from sklearn.linear_model import Ridge
    from sklearn.utils import get_tags

    from skoperator import DeepONetRegressor

    group = [Reflection(grid=(8,), axis=0)]
    assert get_tags(SymmetrizedRegressor(Ridge(), group)).target_tags.single_output
    assert not get_tags(SymmetrizedRegressor(DeepONetRegressor(), group)
                        ).target_tags.single_output
