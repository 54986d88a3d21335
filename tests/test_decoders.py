"""Conditioned trunks: NOMAD's nonlinear decoder and shift-DeepONet's shifted trunk."""

import os

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks

from skoperator import DeepONetRegressor
from skoperator.datasets import make_advection
from skoperator.io import dump, load, to_onnx
from skoperator.networks import TRUNKS, MLPBranch, MLPTrunk, NOMADTrunk, PODTrunk, ShiftedTrunk

FAST = dict(n_basis=8, max_iter=3, tol=None, random_state=0, device="cpu")
TRUNK_CASES = [NOMADTrunk(layers=(16,)), ShiftedTrunk(MLPTrunk(layers=(16,)))]


@pytest.fixture(scope="module")
def data():
    return make_advection(60, law="lanthaler", n_points=24, random_state=0)


def _fit(trunk, U, Y, G, **params):
    return DeepONetRegressor(coords=Y, branch=MLPBranch(layers=(16,)), trunk=trunk,
                             **{**FAST, **params}).fit(U, G)


def test_trunks_are_registered():
    assert TRUNKS["nomad"] is NOMADTrunk and TRUNKS["shifted"] is ShiftedTrunk
    assert NOMADTrunk.conditioned and ShiftedTrunk.conditioned and not MLPTrunk.conditioned


def test_shifted_trunk_at_initialisation_is_the_plain_deeponet(data):
    U, Y, G = data
    est = _fit(ShiftedTrunk(MLPTrunk(layers=(16,))), U, Y, G, max_iter=1,
               learning_rate_init=1e-12)
    net = est.network_
    with torch.no_grad():
        net.trunk.head.weight.zero_()
        net.trunk.head.bias.zero_()
        u = torch.as_tensor(U[:5], dtype=torch.float32)
        y = torch.as_tensor(Y, dtype=torch.float32)
        b = net.encode_branch(u)
        t = net.trunk.inner((y - net.y_shift) / net.y_scale)
        plain = net.unscale(b[:, :8] @ t.T + net.bias)
        np.testing.assert_allclose(net(u, y).numpy(), plain.numpy(), rtol=1e-5, atol=1e-6)


def test_shifted_trunk_moves_the_basis_by_the_shift(data):
    U, Y, G = data
    net = _fit(ShiftedTrunk(MLPTrunk(layers=(16,)), scale=False), U, Y, G).network_
    with torch.no_grad():
        net.trunk.head.weight.zero_()
        net.trunk.head.bias.copy_(torch.tensor([0.5, 0.0]))  # shift 0.5 (standardised)
        y = torch.linspace(-1, 1, 7).reshape(-1, 1)
        b = torch.randn(3, 8 + 2, generator=torch.Generator().manual_seed(0))
        expected = b[:, :8] @ net.trunk.inner(y - 0.5).T
        np.testing.assert_allclose(net.trunk(y, b).numpy(), expected.numpy(), rtol=1e-5,
                                   atol=1e-6)


def test_nomad_decoder_is_an_mlp_of_code_and_point(data):
    U, Y, G = data
    net = _fit(NOMADTrunk(layers=(16,)), U, Y, G).network_
    y = torch.linspace(-1, 1, 5).reshape(-1, 1)
    b = torch.randn(3, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        z = torch.cat([b.unsqueeze(1).expand(-1, 5, -1), y.expand(3, -1, -1)], dim=-1)
        expected = net.trunk.mlp(z).squeeze(-1)
        np.testing.assert_allclose(net.trunk(y, b).numpy(), expected.numpy(), rtol=1e-5,
                                   atol=1e-6)


@pytest.mark.parametrize("trunk", TRUNK_CASES, ids=["nomad", "shifted"])
@pytest.mark.parametrize("strategy", ["split_branch", "split_trunk", "split_both"])
def test_conditioned_trunk_shapes_with_several_fields(trunk, strategy, data):
    U, Y, G = data
    G2 = np.hstack([G, -2 * G])
    est = _fit(clone(trunk), U, Y, G2, n_outputs=2, multi_output_strategy=strategy)
    assert est.predict(U[:4]).shape == (4, 2 * Y.shape[0])
    # Each function at its own points: (n, m, d) coordinates.
    points = np.stack([Y[::2]] * 4)
    assert est.predict(U[:4], coords=points).shape == (4, 2 * points.shape[1])


@pytest.mark.parametrize("trunk", TRUNK_CASES, ids=["nomad", "shifted"])
def test_conditioned_trunk_per_function_points_fit_and_predict(trunk, data):
    U, Y, G = data
    rng = np.random.default_rng(0)
    cols = np.stack([rng.choice(len(Y), 10, replace=False) for _ in range(len(U))])
    points = Y[cols]
    values = np.take_along_axis(G, cols, axis=1)
    est = DeepONetRegressor(branch=MLPBranch(layers=(16,)), trunk=clone(trunk), **FAST)
    est.fit(U, values, coords=points)
    shared = est.predict(U[:3], coords=Y)
    own = est.predict(U[:3], coords=np.stack([Y] * 3))
    np.testing.assert_allclose(shared, own, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("trunk", TRUNK_CASES, ids=["nomad", "shifted"])
def test_random_sampling_fit_improves_the_score(trunk, data):
    U, Y, G = data
    short = _fit(clone(trunk), U, Y, G, max_iter=1, n_eval=8)
    long = _fit(clone(trunk), U, Y, G, max_iter=40, n_eval=8, learning_rate_init=3e-3)
    assert long.score(U, G) > short.score(U, G) + 0.05


def test_independent_fields_are_refused_and_estimator_unchanged(data):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, trunk=NOMADTrunk(layers=(8,)), n_outputs=2,
                            multi_output_strategy="independent", **FAST)
    with pytest.raises(ValueError, match="multi_output_strategy='independent'.*NOMADTrunk"):
        est.fit(U, np.hstack([G, G]))
    assert not hasattr(est, "network_")


@pytest.mark.parametrize("inner", [PODTrunk(), NOMADTrunk()], ids=["table", "conditioned"])
def test_shifted_trunk_refuses_an_inner_trunk_it_cannot_move(inner, data):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, trunk=ShiftedTrunk(inner), **FAST)
    with pytest.raises(ValueError, match="ShiftedTrunk.*inner trunk is a"):
        est.fit(U, G)
    assert not hasattr(est, "network_")


def test_grid_search_over_nested_settings(data):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, branch=MLPBranch(layers=(8,)),
                            trunk=ShiftedTrunk(MLPTrunk(layers=(8,))), **FAST)
    assert est.get_params()["trunk__trunk__layers"] == (8,)
    search = GridSearchCV(est, {"trunk__trunk__layers": [(4,), (8,)],
                                "trunk__scale": [True, False]}, cv=2).fit(U, G)
    assert len(search.cv_results_["params"]) == 4
    search = GridSearchCV(DeepONetRegressor(coords=Y, trunk=NOMADTrunk(layers=(8,)), **FAST),
                          {"trunk__layers": [(4,), (8,)]}, cv=2).fit(U, G)
    assert search.best_params_["trunk__layers"] in [(4,), (8,)]


@pytest.mark.parametrize("trunk", TRUNK_CASES, ids=["nomad", "shifted"])
def test_clone_copies_settings_not_weights(trunk, data):
    U, Y, G = data
    est = _fit(clone(trunk), U, Y, G)
    copy = clone(est)
    assert repr(copy.trunk) == repr(est.trunk) and not hasattr(copy, "network_")


@pytest.mark.parametrize("trunk", TRUNK_CASES, ids=["nomad", "shifted"])
def test_io_round_trip_predicts_identically(trunk, data, tmp_path):
    U, Y, G = data
    est = _fit(clone(trunk), U, Y, G)
    path = os.path.join(tmp_path, "model.skop")
    dump(est, path)
    again = load(path)
    np.testing.assert_array_equal(again.predict(U[:5]), est.predict(U[:5]))


@pytest.mark.parametrize("trunk", TRUNK_CASES, ids=["nomad", "shifted"])
def test_onnx_split_export_is_refused_whole_export_matches(trunk, data, tmp_path):
    pytest.importorskip("onnx")
    U, Y, G = data
    est = _fit(clone(trunk), U, Y, G)
    with pytest.raises(ValueError, match="split=True.*conditioned trunk.*split=False"):
        to_onnx(est, os.path.join(tmp_path, "split.onnx"), split=True)
    path = to_onnx(est, os.path.join(tmp_path, "whole.onnx"))
    onnxruntime = pytest.importorskip("onnxruntime")
    session = onnxruntime.InferenceSession(path)
    got = session.run(None, {"U": U[:4].astype(np.float32), "coords": Y.astype(np.float32)})[0]
    np.testing.assert_allclose(got, est.predict(U[:4]), rtol=1e-4, atol=1e-5)


def _nomad_instance():
    return DeepONetRegressor(branch=MLPBranch(layers=(32, 32)),
                             trunk=NOMADTrunk(layers=(32,)), n_basis=16, max_iter=60,
                             learning_rate_init=5e-3, tol=None, device="cpu", random_state=0)


@parametrize_with_checks([_nomad_instance()])
def test_sklearn_checks_with_nomad_trunk(estimator, check):
    check(estimator)


@pytest.mark.parametrize("trunk", [NOMADTrunk(layers=(16,), activation="tanh"),
                                   ShiftedTrunk(MLPTrunk(layers=(16,), activation="tanh"))],
                         ids=["nomad", "shifted"])
def test_physics_residual_trains_through_a_conditioned_trunk(trunk):
    # d/dy of the network flows through the trunk's reading of y: the residual
    # ds/dx = u of the antiderivative trains a conditioned trunk, and the
    # network's derivative equals its finite difference.
    from skoperator.datasets import make_antiderivative
    from skoperator.physics import PDEResidual

    U, Y, G = make_antiderivative(30, n_points=20, random_state=0)
    physics = PDEResidual(_antiderivative_residual, sensors=np.linspace(0, 1, U.shape[1]))
    est = DeepONetRegressor(coords=Y, branch=MLPBranch(layers=(16,), activation="tanh"),
                            trunk=clone(trunk), physics=physics, **FAST).fit(U, G)
    assert np.isfinite(est.loss_curve_).all()
    net = est.network_.double()
    u = torch.as_tensor(U[:2])
    y = torch.tensor([[0.3], [0.6]], dtype=torch.float64, requires_grad=True)
    out = net(u, y)
    (dy,) = torch.autograd.grad(out.sum(), y)
    h = 1e-6
    fd = (net(u, (y + h).detach()) - net(u, (y - h).detach())).sum(0) / (2 * h)
    np.testing.assert_allclose(dy[:, 0].numpy(), fd.detach().numpy(), rtol=1e-5, atol=1e-7)


def _antiderivative_residual(y, s, u, d):
    return d(s, 0) - u


def test_flop_count_of_a_conditioned_trunk_counts_its_network(data):
    # The thread choice reads these rates: a conditioned trunk's network runs in
    # combine, per (function, point) pair, not in encode_trunk.
    from skoperator._parallel import flop_rates

    U, Y, G = data
    net = _fit(NOMADTrunk(layers=(16, 16)), U, Y, G).network_
    _, trunk = flop_rates(net)
    # first layer on y and the code's share, a 16 x 16 layer and the output: about
    # 2 * (16 + 16 * 16 + 16) multiply-adds per pair
    assert trunk >= 2 * (16 * 16 + 16)
