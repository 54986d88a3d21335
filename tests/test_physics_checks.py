"""Physics against the rest of the fit: one sampling system, fitted copies, checks, user callables.

Each check of a setting that physics cannot train with is asserted as a
clear error before training (the estimator unchanged after it), each
setting it can train with as a correct result.
"""

import copy

import numpy as np
import pytest
import torch

from skoperator import DeepONetRegressor
from skoperator._planning import make_plan
from skoperator.datasets import make_antiderivative
from skoperator.losses import BaseLoss
from skoperator.networks import MLPBranch, MLPTrunk, PODTrunk
from skoperator.optimizers import LBFGS, Adam
from skoperator.physics import PDEResidual, PhysicsContext
from skoperator.sampling import (
    SAMPLERS,
    AdaptiveSampler,
    ObservedPoints,
    RandomSampler,
    SamplingContext,
    make_sampler,
)

CPU = torch.device("cpu")


def antiderivative_residual(y, s, u, d):
    return d(s, 0) - u


def _small(**kw):
    out = dict(branch=MLPBranch(layers=(16,), activation="tanh"),
               trunk=MLPTrunk(layers=(16,), activation="tanh"), n_basis=8, tol=None,
               device="cpu", random_state=0)
    out.update(kw)
    return out


def _context(coords, n_functions=10, n_eval="auto", seed=0):
    coords = torch.as_tensor(coords, dtype=torch.float32)
    d = coords.shape[-1]
    return PhysicsContext(coords=coords, n_functions=n_functions, n_eval=n_eval, device=CPU,
                          generator=torch.Generator().manual_seed(seed),
                          y_shift=torch.zeros(d), y_scale=torch.ones(d),
                          g_shift=torch.zeros(1), g_scale=torch.ones(1))


def _fitted_state(est):
    return ({k: v.clone() for k, v in est.network_.state_dict().items()},
            copy.deepcopy(est.history_), est.n_iter_)


def _assert_unchanged(est, state):
    params, history, n_iter = state
    assert est.n_iter_ == n_iter and est.history_ == history
    for k, v in est.network_.state_dict().items():
        assert torch.equal(v, params[k]), k


# ------------------------------------------------------------ one sampling system
@pytest.mark.parametrize("name", ["random", "shared", "fixed", "full", "grouped", "stratified"])
def test_physics_sampling_words_are_the_samplers_of_the_registry(name):
    t, x = torch.meshgrid(torch.linspace(0, 1, 5), torch.linspace(0, 1, 8), indexing="ij")
    coords = torch.stack([t.flatten(), x.flatten()], dim=1)  # 5 groups of 8 points
    phys = PDEResidual(antiderivative_residual, sensors=[0, 1], n_points=4,
                       sampling=name).check().prepare(_context(coords))
    assert type(phys.sampler_) is SAMPLERS[name]
    # the draws are the sampler's: the same generator state gives the same points
    sampler = make_sampler(name).setup(SamplingContext(
        n_eval=4, coords=coords, n_functions=10, device=CPU,
        generator=torch.Generator().manual_seed(0), n_epochs=1))
    rows = torch.tensor([1, 4, 4])
    cols, _ = sampler.sample(rows, torch.Generator().manual_seed(3))
    y = phys.collocation_points(rows, torch.Generator().manual_seed(3))
    expected = coords.expand(3, -1, -1) if cols is None else coords[cols]
    assert torch.equal(y, expected.expand_as(y))
    assert phys.n_points_ == sampler.n_eval_


def test_physics_takes_a_sampler_object_and_leaves_it_unchanged():
    coords = torch.linspace(0, 1, 40).reshape(-1, 1)
    user = RandomSampler()
    phys = PDEResidual(antiderivative_residual, sensors=[0, 1], n_points=5, sampling=user)
    phys.check().prepare(_context(coords))
    assert phys.sampler_ is not user and not hasattr(user, "n_eval_")
    assert phys.collocation_points(torch.arange(3), torch.Generator()).shape == (3, 5, 1)


@pytest.mark.parametrize("n_eval", ["auto", 10, 0.25, lambda epoch: 7 + epoch])
def test_physics_n_points_is_resolved_as_the_samplers_resolve_n_eval(n_eval):
    coords = torch.linspace(0, 1, 100).reshape(-1, 1)
    phys = PDEResidual(antiderivative_residual, sensors=[0, 1]).prepare(
        _context(coords, n_eval=n_eval))
    sampler = RandomSampler().setup(SamplingContext(
        n_eval=n_eval, coords=coords, n_functions=10, device=CPU,
        generator=torch.Generator(), n_epochs=1))
    assert phys.n_points_ == sampler.n_eval_


def test_stratified_collocation_weights_enter_the_mean_square():
    # Cells of unequal size: the weights of the stratified sampler weigh the
    # residual; a residual of 1 everywhere has a weighted mean square of 1
    # only if the weights are normalised as the sampler says.
    coords = torch.linspace(0, 1, 10).reshape(-1, 1)
    phys = PDEResidual(antiderivative_residual, sensors=[0, 1], n_points=3,
                       sampling="stratified").prepare(_context(coords))
    y, weight = phys.collocation(torch.arange(4), torch.Generator().manual_seed(0))
    assert weight is not None and weight.shape == (4, 3)
    cells = sorted(torch.bincount(torch.tensor([0, 0, 0, 1, 1, 1, 1, 2, 2, 2])).tolist())
    assert sorted(set(np.round(weight[0].tolist(), 5))) == sorted(
        set(np.round([c * 3 / 10 for c in cells], 5)))


@pytest.mark.parametrize("sampling", ["adaptive", AdaptiveSampler(refresh=2)])
def test_adaptive_collocation_is_refused_with_the_reason(sampling):
    coords = torch.linspace(0, 1, 40).reshape(-1, 1)
    phys = PDEResidual(antiderivative_residual, sensors=[0, 1], n_points=4, sampling=sampling)
    with pytest.raises(ValueError, match=r"PDEResidual\(sampling=.*training residuals"):
        phys.check().prepare(_context(coords))


def test_structured_box_sampling_is_refused_with_the_fix():
    coords = torch.linspace(0, 1, 40).reshape(-1, 1)
    with pytest.raises(ValueError, match="draws_uniformly.*'random', 'shared' or 'fixed'"):
        PDEResidual(antiderivative_residual, sensors=[0, 1], n_points=4, domain=[(0, 1)],
                    sampling="stratified").prepare(_context(coords))


# ------------------------------------------------------------ fitted copy
def test_the_plans_physics_copy_holds_the_fitted_attributes():
    U, Y, G = make_antiderivative(20, random_state=0)
    phys = PDEResidual(antiderivative_residual, sensors=Y[:, 0], n_points=6,
                       sampling="fixed")
    est = DeepONetRegressor(coords=Y, physics=phys, max_iter=1, **_small())
    plan = make_plan(est, U, G, incremental=False)
    assert plan.physics is not phys
    assert plan.physics.n_points_ == 6 and type(plan.physics.sampler_) is SAMPLERS["fixed"]
    assert plan.physics.fixed_points_.shape == (20, 6, 1)
    assert not hasattr(phys, "n_points_")


def test_fitted_estimator_exposes_the_physics_copy():
    U, Y, G = make_antiderivative(20, random_state=0)
    phys = PDEResidual(antiderivative_residual, sensors=Y[:, 0], n_points=6)
    est = DeepONetRegressor(coords=Y, physics=phys, max_iter=1, **_small()).fit(U, G)
    assert est.physics_ is not phys and est.physics_.n_points_ == 6
    assert not hasattr(phys, "n_points_")


# ------------------------------------------------------------ physics against the fit
@pytest.mark.parametrize("observed", ["none", "part", "all"])
def test_a_table_trunk_with_physics_is_refused_before_training(observed):
    U, Y, G = make_antiderivative(20, random_state=0)
    G = G.copy()
    if observed == "none":
        G[:] = np.nan
    elif observed == "part":
        G[:, 5:] = np.nan
    phys = PDEResidual(antiderivative_residual, sensors=Y[:, 0], n_points=8)
    est = DeepONetRegressor(coords=Y, physics=phys, max_iter=2, **_small()).fit(
        U, np.where(np.isnan(G), 0.0, G))
    state = _fitted_state(est)
    est.set_params(trunk=PODTrunk())
    with pytest.raises(ValueError, match="PODTrunk.*table.*trunk='mlp'"):
        est.fit(U, G)
    _assert_unchanged(est, state)


def test_early_stopping_without_observed_validation_targets_is_refused():
    U, Y, G = make_antiderivative(20, random_state=0)
    phys = PDEResidual(antiderivative_residual, sensors=Y[:, 0], n_points=8)
    est = DeepONetRegressor(coords=Y, physics=phys, max_iter=2, **_small()).fit(U, G)
    state = _fitted_state(est)
    est.set_params(early_stopping=True)
    with pytest.raises(ValueError, match="early_stopping=False"):
        est.fit(U, np.full_like(G, np.nan))
    _assert_unchanged(est, state)


def test_physics_with_points_per_function_draws_each_functions_own_points():
    rng = np.random.default_rng(0)
    coords = np.sort(rng.uniform(size=(6, 9, 1)), axis=1)
    coords[2, 5:] = np.nan  # a ragged function: 5 points, padded
    phys = PDEResidual(antiderivative_residual, sensors=[0, 1], n_points=7)
    phys.prepare(_context(coords, n_functions=6))
    rows = torch.tensor([0, 2, 5, 2])
    y, weight = phys.collocation(rows, torch.Generator().manual_seed(0))
    assert y.shape == (4, 7, 1) and torch.isfinite(y).all()
    for b, row in enumerate(rows.tolist()):
        own = set(np.float32(coords[row, :, 0][np.isfinite(coords[row, :, 0])]).tolist())
        used = y[b, :, 0] if weight is None else y[b, weight[b] > 0, 0]
        assert set(used.tolist()) <= own
    assert weight is not None and weight[1].sum() == 5 and weight[0].sum() == 7


def test_physics_trains_with_points_per_function():
    U, P, G = make_antiderivative(30, n_points=12, scattered=True, random_state=0)
    phys = PDEResidual(antiderivative_residual, sensors=np.linspace(0, 1, U.shape[1]),
                       n_points=6)
    est = DeepONetRegressor(physics=phys, max_iter=2, **_small()).fit(U, G, coords=P)
    assert np.isfinite(est.loss_curve_).all()


def test_adaptive_sampling_trains_when_some_functions_have_no_observed_value():
    U, Y, G = make_antiderivative(30, n_points=20, random_state=0)
    G = G.copy()
    G[:10] = np.nan  # ten functions trained by the residual alone
    phys = PDEResidual(antiderivative_residual, sensors=Y[:, 0], n_points=8)
    est = DeepONetRegressor(coords=Y, physics=phys, sampling=AdaptiveSampler(refresh=1),
                            n_eval=5, max_iter=3, **_small()).fit(U, G)
    assert np.isfinite(est.loss_curve_).all()


def test_adaptive_probabilities_of_a_function_without_observed_values():
    mask = torch.tensor([[True, False, True, True], [False] * 4])
    sampler = AdaptiveSampler(floor=0.5).setup(SamplingContext(
        n_eval=2, coords=torch.linspace(0, 1, 4)[:, None], n_functions=2, device=CPU,
        generator=torch.Generator(), n_epochs=1, observed=ObservedPoints.from_mask(mask),
        residuals=lambda: torch.tensor([[1.0, 0.0, 3.0, 0.0], [0.0] * 4])))
    sampler.start_epoch(0)
    q = sampler.probabilities_
    assert torch.allclose(q.sum(dim=1), torch.ones(2))
    assert torch.allclose(q[1], torch.full((4,), 0.25))  # uniform, no NaN
    # function 0: (1 - floor) * r / sum r + floor / n_observed on observed points
    assert torch.allclose(q[0], torch.tensor([0.125 + 0.5 / 3, 0.0, 0.375 + 0.5 / 3, 0.5 / 3]))
    cols, weight = sampler.sample(torch.tensor([0, 1]), torch.Generator().manual_seed(0))
    assert (weight[1] == 0).all() and (weight[0] > 0).all()


# ------------------------------------------------------------ user callables
def three_argument_residual(y, s, u):
    return s


def test_a_residual_with_the_wrong_signature_is_a_type_error_naming_it():
    U, Y, G = make_antiderivative(20, random_state=0)
    est = DeepONetRegressor(coords=Y, physics=PDEResidual(antiderivative_residual,
                                                          sensors=Y[:, 0], n_points=4),
                            max_iter=1, **_small()).fit(U, G)
    state = _fitted_state(est)
    est.set_params(physics=PDEResidual(three_argument_residual, sensors=Y[:, 0], n_points=4))
    with pytest.raises(TypeError, match=r"residual.*residual\(y, s, u, d\).*"
                                        r"three_argument_residual\(y, s, u\)"):
        est.fit(U, G)
    _assert_unchanged(est, state)


class PerFunctionLoss(BaseLoss):
    def __call__(self, residual, weight, rows):
        return residual.square().mean(dim=(1, 2)), None


class OneArgumentLoss(BaseLoss):
    def __call__(self, residual):
        return residual.square().mean(), None


class BareLoss(BaseLoss):
    def __call__(self, residual, weight, rows):
        return residual.square().mean()


@pytest.mark.parametrize("loss, error, match", [
    (PerFunctionLoss(), ValueError, r"loss=PerFunctionLoss\(\) returned a tensor of shape "
                                    r"\(\d+,\) as its objective.*scalar"),
    (OneArgumentLoss(), TypeError, r"loss=OneArgumentLoss\(\).*loss\(residual, weight, rows\)"),
    (BareLoss(), TypeError, r"loss=BareLoss\(\) returned Tensor.*\(objective, None\)"),
])
def test_a_custom_loss_breaking_its_protocol_is_named_before_training(loss, error, match):
    U, Y, G = make_antiderivative(20, random_state=0)
    est = DeepONetRegressor(coords=Y, max_iter=1, **_small()).fit(U, G)
    state = _fitted_state(est)
    est.set_params(loss=loss)
    with pytest.raises(error, match=match):
        est.fit(U, G)
    _assert_unchanged(est, state)


# ------------------------------------------------------------ the data term is kept
def _partly_observed_fit(**kw):
    U, Y, G = make_antiderivative(150, n_points=50, random_state=0)
    Ut, _, Gt = make_antiderivative(50, n_points=50, random_state=1)
    G = G.copy()
    G[np.random.default_rng(0).uniform(size=G.shape) < 0.8] = np.nan
    # No output_transform: the residual fixes s up to a constant per
    # function, only the observed values fix the constant.
    phys = PDEResidual(antiderivative_residual, sensors=Y[:, 0], n_points=16)
    est = DeepONetRegressor(coords=Y, physics=phys, learning_rate_init=3e-3,
                            **_small(branch=MLPBranch(layers=(32,), activation="tanh"),
                                     trunk=MLPTrunk(layers=(32,), activation="tanh"),
                                     n_basis=16, **kw)).fit(U, G)
    return np.linalg.norm(est.predict(Ut) - Gt) / np.linalg.norm(Gt)


def test_physics_with_a_partly_observed_g_keeps_the_data_term():
    # measured 0.16 with the data term; 3.7 without it (the residual alone)
    assert _partly_observed_fit(max_iter=40) < 0.4


def test_the_lbfgs_polish_with_physics_keeps_the_data_term():
    # measured 0.16 with the data term in the polish; 1.4 without it
    assert _partly_observed_fit(max_iter=5, optimizer=Adam(polish=LBFGS(max_iter=30))) < 0.4


def coordinate_residual(y, s, u, d):
    return y[..., 0] + 0.0 * s


def test_the_term_is_the_mean_square_over_the_slots_the_sampler_weighs():
    # A ragged function: its padding slots (weight 0) are left out of the
    # mean, the other slots count once.
    rng = np.random.default_rng(0)
    coords = np.sort(rng.uniform(0.5, 1.0, size=(4, 6, 1)), axis=1)
    coords[1, 3:] = np.nan
    U = rng.normal(size=(4, 5))
    est = DeepONetRegressor(max_iter=1, **_small()).fit(
        U, coords[..., 0], coords=coords)
    phys = PDEResidual(coordinate_residual, sensors=None, n_points=5, weight=2.0)
    phys.prepare(_context(coords, n_functions=4))
    rows = torch.arange(4)
    y, w = phys.collocation(rows, torch.Generator().manual_seed(5))
    term = phys(est.network_.float(), torch.as_tensor(U, dtype=torch.float32), rows,
                torch.Generator().manual_seed(5))
    expected = 2.0 * float((w * y[..., 0] ** 2).sum() / (w > 0).sum())
    assert float(term.detach()) == pytest.approx(expected, rel=1e-5)
    assert int((w[1] > 0).sum()) == 3 and (w[[0, 2, 3]] == 1).all()


# ---------------------------------------------------------------- review fixes (0.4.0)
def test_padding_slots_of_points_per_function_hold_a_point_of_the_function():
    # the slots were filled with y = 0, where this residual is infinite: inf * 0 = NaN
    rng = np.random.default_rng(0)
    U, Y, G = make_antiderivative(64, n_points=20, random_state=0)
    C = np.stack([np.sort(rng.uniform(0.5, 1, 20)) for _ in range(64)])[:, :, None]
    C = C.astype(np.float32)
    C[:, 15:] = np.nan

    def residual(y, s, u, d):
        return d(s, 0) - u / y[..., 0]

    est = DeepONetRegressor(physics=PDEResidual(residual, sensors=Y[:, 0], n_points=18),
                            max_iter=1, tol=None, random_state=0, batch_size=16)
    est.fit(U, np.full((64, 20), np.nan), coords=C)
    assert np.isfinite(est.loss_curve_).all()


def test_the_fitted_physics_sampler_keeps_no_training_data():
    U, Y, G = make_antiderivative(64, n_points=20, random_state=0)
    est = DeepONetRegressor(coords=Y, physics=PDEResidual(antiderivative_residual,
                                                          sensors=Y[:, 0], n_points=5,
                                                          sampling="fixed"),
                            max_iter=1, tol=None, random_state=0)
    est.fit(U, np.full_like(G, np.nan))
    assert sorted(vars(est.physics_.sampler_)) == sorted(vars(est.sampler_)) == ["n_eval_"]


def test_physics_errors_name_what_the_user_passed():
    U, Y, G = make_antiderivative(64, n_points=20, random_state=0)

    def fit(physics, **params):
        DeepONetRegressor(coords=Y, physics=physics, max_iter=1, tol=None, random_state=0,
                          **params).fit(U, np.full_like(G, np.nan))

    with pytest.raises(ValueError, match=r"PDEResidual\(sampling='random', n_points=50\) "
                                         r"could not draw .*a box domain"):
        fit(PDEResidual(antiderivative_residual, sensors=Y[:, 0], n_points=50))

    def nan_residual(y, s, u, d):
        return d(s, 0) - u + float("nan")

    with pytest.raises(ValueError, match="returned NaN or infinite values at the first step"):
        fit(PDEResidual(nan_residual, sensors=Y[:, 0], n_points=5))
    with pytest.raises(ValueError, match="sensors must be numeric positions"):
        fit(PDEResidual(antiderivative_residual, sensors=["a"] * 20, n_points=5))
    with pytest.raises(ValueError, match="domain must give one"):
        fit(PDEResidual(antiderivative_residual, sensors=Y[:, 0], domain=[("0", "one")]))
