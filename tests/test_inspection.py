"""Diagnostics against known answers: a quadratic's Hessian, an explicit Hessian, Parseval."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import Ridge
from torch.func import functional_call

from skoperator import DeepONetRegressor
from skoperator.datasets import make_antiderivative
from skoperator.inspection import error_spectrum, loss_sharpness, power_iteration
from skoperator.networks import MLPBranch, MLPTrunk
from skoperator.rollout import RolloutRegressor
from skoperator.uncertainty import EnsembleRegressor


def test_power_iteration_finds_the_top_eigenvalue_of_a_quadratic():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    eigenvalues = np.array([7.5, 3.0, 2.9, 1.0] + [0.1] * 8)
    A = torch.tensor(q @ np.diag(eigenvalues) @ q.T)
    x0 = torch.zeros(12, dtype=torch.float64, requires_grad=True)

    def hvp(v):  # Hessian of 0.5 x^T A x, by double backward as the tool does
        loss = 0.5 * x0 @ A @ x0
        (g,) = torch.autograd.grad(loss, x0, create_graph=True)
        (hv,) = torch.autograd.grad((g * v[0]).sum(), x0)
        return [hv]

    value, n_iter, converged = power_iteration(hvp, [x0.shape], max_iter=500, tol=1e-12,
                                               generator=torch.Generator().manual_seed(0),
                                               dtype=torch.float64)
    assert converged and value == pytest.approx(7.5, rel=1e-9)


def _explicit_hessian_top(est, U, G):
    """Largest |eigenvalue| of the Hessian of the full-grid MSE, formed explicitly."""
    import copy

    from skoperator._device import to_float64

    net = to_float64(copy.deepcopy(est.network_))
    names = [n for n, p in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]
    sizes = [p.numel() for p in net.parameters()]
    flat0 = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    U_t = torch.tensor(U, dtype=torch.float64)
    y = torch.tensor(est.coords_, dtype=torch.float64)
    target = (torch.tensor(G) - net.g_shift) / net.g_scale

    def loss(flat):
        params = {n: t.reshape(s) for n, t, s in zip(names, torch.split(flat, sizes), shapes)}
        out = functional_call(net, params, args=(U_t, y))  # units of G
        std = (out - net.g_shift) / net.g_scale  # (functions, points): one field
        return ((std - target) ** 2).mean()

    H = torch.autograd.functional.hessian(loss, flat0)
    eig = torch.linalg.eigvalsh(H)
    return float(eig[eig.abs().argmax()])


def test_loss_sharpness_matches_the_explicit_hessian():
    U, Y, G = make_antiderivative(30, n_points=12, random_state=0)
    est = DeepONetRegressor(coords=Y, branch=MLPBranch(layers=(6,), activation="tanh"),
                            trunk=MLPTrunk(layers=(5,), activation="tanh"), n_basis=4,
                            max_iter=30, tol=None, device="cpu",
                            learning_rate_init=1e-2, random_state=0).fit(U, G)
    expected = _explicit_hessian_top(est, U, G)
    got = loss_sharpness(est, U, G, max_iter=2000, tol=1e-12, batch_size=7, random_state=0)
    assert got == pytest.approx(expected, rel=1e-6)


def test_loss_sharpness_is_reproducible_and_leaves_the_model_alone():
    U, Y, G = make_antiderivative(40, n_points=15, random_state=1)
    est = DeepONetRegressor(coords=Y, branch=MLPBranch(layers=(8,)), trunk=MLPTrunk(layers=(8,)),
                            n_basis=5, max_iter=5, tol=None, device="cpu",
                            random_state=0).fit(U, G)
    before = est.predict(U)
    a = loss_sharpness(est, U, G, random_state=3)
    b = loss_sharpness(est, U, G, random_state=3)
    assert a == b and a > 0
    np.testing.assert_array_equal(est.predict(U), before)
    with pytest.raises(ValueError, match="G has shape"):
        loss_sharpness(est, U, G[:, :5])


def test_error_spectrum_places_the_error_at_its_mode_and_obeys_parseval():
    x = np.linspace(0, 1, 48, endpoint=False)
    rng = np.random.default_rng(0)
    G = rng.normal(size=(6, 48))

    class Model:
        def predict(self, U):
            return U - 0.3 * np.cos(2 * np.pi * 5 * x) - 0.1

    spec = error_spectrum(Model(), G, G)
    err = spec.error[0]
    assert int(np.argmax(err)) == 5
    assert err[5] == pytest.approx(0.3**2 / 2) and err[0] == pytest.approx(0.01)
    assert err.sum() == pytest.approx(spec.mse)
    assert spec.target[0].sum() == pytest.approx(np.mean(G**2))


def test_error_spectrum_per_axis_on_a_2d_grid_and_a_fitted_model():
    rng = np.random.default_rng(1)
    G = rng.normal(size=(4, 6 * 8))

    class Model:
        def predict(self, U):
            err = np.zeros((6, 8))
            err[:, :] = np.cos(2 * np.pi * 2 * np.arange(8) / 8)  # along the fast axis
            return U - err.ravel()

    spec = error_spectrum(Model(), G, G, grid_shape=(6, 8))
    assert len(spec.modes) == 2 and len(spec.modes[1]) == 5
    assert int(np.argmax(spec.error[1])) == 2 and int(np.argmax(spec.error[0])) == 0
    for e in spec.error:
        assert e.sum() == pytest.approx(spec.mse)
    U, Y, G = make_antiderivative(50, n_points=16, random_state=0)
    est = DeepONetRegressor(coords=Y, max_iter=3, tol=None, random_state=0).fit(U, G)
    spec = error_spectrum(est, U, G)
    assert spec.error[0].shape == (9,)
    with pytest.raises(ValueError, match="grid_shape=\\(3, 3\\) has 9 points"):
        error_spectrum(est, U, G, grid_shape=(3, 3))
    for bad in [(8.5, 2), (-4, -4), ("a",)]:
        with pytest.raises(ValueError, match="grid_shape must be a tuple of positive ints"):
            error_spectrum(est, U, G, grid_shape=bad)


def test_loss_sharpness_refuses_what_has_no_single_loss():
    U, Y, G = make_antiderivative(20, n_points=16, random_state=0)
    est = DeepONetRegressor(coords=Y, n_basis=8, max_iter=1, tol=None, random_state=0)
    ensemble = EnsembleRegressor(est, n_estimators=2, random_state=0).fit(U, G)
    with pytest.raises(ValueError, match="EnsembleRegressor holds 2 members"):
        loss_sharpness(ensemble, U, G)
    with pytest.raises(TypeError, match="measures a fitted DeepONetRegressor .* got Ridge"):
        loss_sharpness(Ridge().fit(U, G), U, G)
    with pytest.raises(ValueError, match="G has no observed value"):
        loss_sharpness(est.fit(U, G), U, np.full_like(G, np.nan))
    W = np.random.default_rng(0).normal(size=(6, 6, 8))
    rollout = RolloutRegressor(clone(est).set_params(coords=None), window=2,
                               pushforward=0).fit(W)
    with pytest.raises(ValueError, match="RolloutRegressor fits its estimator on moved inputs"):
        loss_sharpness(rollout, W[:, :2].reshape(6, -1), W[:, 2:4].reshape(6, -1))


def _antiderivative_residual(y, s, u, d):
    return d(s, 0) - u


def test_loss_sharpness_says_it_leaves_a_physics_term_out():
    # The docstring called it "the training objective": a physics term was left out,
    # silently (the same weights gave the same number with and without one).
    from skoperator.physics import PDEResidual

    U, Y, G = make_antiderivative(40, n_points=10, random_state=0)
    params = dict(coords=Y, max_iter=3, tol=None, random_state=0, n_basis=4, device="cpu")
    plain = DeepONetRegressor(**params).fit(U, G)
    physics = PDEResidual(_antiderivative_residual, sensors=Y[:, 0], n_points=10)
    with_physics = DeepONetRegressor(**params, physics=physics).fit(U, G)
    with_physics.network_.load_state_dict(plain.network_.state_dict())
    expected = loss_sharpness(plain, U, G, max_iter=30, random_state=0)
    with pytest.warns(UserWarning, match="data term .* physics term is left out"):
        got = loss_sharpness(with_physics, U, G, max_iter=30, random_state=0)
    assert got == expected
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="data term only"):
        loss_sharpness(with_physics, U, np.full_like(G, np.nan))
