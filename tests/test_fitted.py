"""The fitted state: one owner, one forward path, fitted components, continuations."""

import copy
import dataclasses
import pickle

import numpy as np
import pytest
import torch

from skoperator import DeepONetRegressor
from skoperator._fitted import FittedState
from skoperator.datasets import make_antiderivative
from skoperator.networks import MLPBranch, MLPTrunk, ResNetTrunk
from skoperator.physics import PDEResidual

FAST = dict(max_iter=3, tol=None, random_state=0, n_basis=8, device="cpu",
            branch=MLPBranch(layers=(16,)), trunk=MLPTrunk(layers=(16,)))


@pytest.fixture(scope="module")
def data():
    return make_antiderivative(40, n_points=16, random_state=0)


def _state_copy(state):
    return {i: {k: v.clone() if torch.is_tensor(v) else v for k, v in s.items()}
            for i, s in state["state"].items()}


def _same_state(a, b):
    assert a.keys() == b.keys()
    for i in a:
        for k in a[i]:
            assert torch.equal(torch.as_tensor(a[i][k]), torch.as_tensor(b[i][k])), (i, k)


# ------------------------------------------------------------ fitted state API
def test_fitted_state_round_trips_through_set_fitted(data):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, early_stopping=True, validation_fraction=0.25,
                            **FAST).fit(U, G)
    state = est._fitted_state()
    assert isinstance(state, FittedState)
    other = DeepONetRegressor(coords=Y, early_stopping=True, validation_fraction=0.25,
                              **FAST)
    other._set_fitted(state)
    np.testing.assert_array_equal(other.predict(U), est.predict(U))
    for name in ("n_iter_", "loss_curve_", "best_loss_", "validation_scores_",
                 "best_validation_score_", "n_eval_", "batch_size_", "stopping_reason_",
                 "input_sizes_", "n_outputs_", "n_features_in_"):
        assert getattr(other, name) == getattr(est, name), name
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.n_outputs = 2


def test_set_fitted_drops_stale_validation_scores(data):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, early_stopping=True, validation_fraction=0.25,
                            warm_start=True, **FAST).fit(U, G)
    assert hasattr(est, "validation_scores_")
    est.set_params(early_stopping=False, warm_start=False).fit(U, G)
    assert not hasattr(est, "validation_scores_")
    assert not hasattr(est, "best_validation_score_")


def test_split_fields_members_predict_the_fields_of_the_whole_model(data):
    U, Y, G = data
    for vectorize in (True, False):
        big = DeepONetRegressor(coords=Y, n_outputs=3, multi_output_strategy="independent",
                                **{**FAST, "trunk": ResNetTrunk(layers=(16, 16))})
        if vectorize:  # as EnsembleRegressor's vectorised members
            big._fit_fields_batched(U, np.tile(G, (1, 3)))
        else:
            big.fit(U, np.tile(G, (1, 3)))
        whole = big.predict(U).reshape(len(U), 3, -1)
        states = big._fitted_state().split_fields(multi_output_strategy="split_branch")
        assert len(states) == 3
        for m, state in enumerate(states):
            assert state.n_outputs == 1 and state.optimizer_state is None
            assert state.architecture["n_outputs"] == 1
            assert state.architecture["multi_output_strategy"] == "split_branch"
            member = DeepONetRegressor(coords=Y, **{**FAST,
                                                    "trunk": ResNetTrunk(layers=(16, 16))})
            member._set_fitted(state)
            # the same float32 weights; float64 evaluation rounds per matrix layout
            np.testing.assert_allclose(member.predict(U), whole[:, m], rtol=1e-12,
                                       atol=1e-14)
            # a member continues training as an ordinary single-field model
            member.set_params(warm_start=True, max_iter=1).fit(U, G)


def test_split_fields_gives_each_member_its_own_bias(data):
    U, Y, G = data
    big = DeepONetRegressor(coords=Y, n_outputs=2, multi_output_strategy="independent",
                            **FAST).fit(U, np.tile(G, (1, 2)))
    with torch.no_grad():
        big.network_.bias.copy_(torch.tensor([1.0, -2.0]))
    networks = big.network_.split_fields()
    assert [float(n.bias.detach()) for n in networks] == [1.0, -2.0]


def test_split_fields_refuses_a_shared_network(data):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, n_outputs=2, **FAST).fit(U, np.tile(G, (1, 2)))
    with pytest.raises(ValueError, match="independent"):
        est._fitted_state().split_fields(multi_output_strategy="split_branch")


# ------------------------------------------------------------ forward path
def test_forward_is_the_chain_of_its_pieces(data):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, output_transform=_vanish, **FAST).fit(U, G)
    net = est._cpu_network
    u, y = torch.as_tensor(U[:5]), torch.as_tensor(Y)
    with torch.no_grad():
        b, t = net.encode_branch(u), net.encode_trunk(y)
        by_hand = net.unscale(net.transform(y, net.combine(b, t)))
        assert torch.equal(net(u, y), by_hand)
        assert torch.equal(net.outputs(b, t, y), by_hand)
    np.testing.assert_array_equal(est.predict(U[:5]), by_hand.numpy())


def _vanish(y, out):
    return y[..., 0] * out


def test_field_form_reproduces_the_outputs(data):
    U, Y, G = data
    for strategy in ("split_branch", "split_trunk", "split_both"):
        est = DeepONetRegressor(coords=Y, n_outputs=2, multi_output_strategy=strategy,
                                **FAST).fit(U, np.tile(G, (1, 2)))
        net = est._cpu_network
        u, y = torch.as_tensor(U[:4]), torch.as_tensor(Y)
        with torch.no_grad():
            c, t = net.field_coefficients(u), net.field_basis(y)
            k, p = 2, est.n_basis
            g = torch.einsum("nkp,mkp->nkm", c.reshape(4, k, p), t.reshape(-1, k, p))
            g = g + net.field_bias().reshape(1, k, 1)
        np.testing.assert_allclose(g.reshape(4, -1).numpy(), est.predict(U[:4]), rtol=1e-10,
                                   atol=1e-12)


# ------------------------------------------------------------ fitted components
def test_fitted_components_are_the_fits_own_copies(data):
    U, Y, G = data
    sampling = "random"
    est = DeepONetRegressor(coords=Y, sampling=sampling, n_eval=5, loss="huber", **FAST)
    est.fit(U, G)
    assert est.sampler_.n_eval_ == 5 and est.sampler_ is not est.sampling
    assert type(est.loss_).__name__ == "HuberLoss" and est.loss_ is not est.loss
    assert est.loss_.g_scale_ is not None
    assert est.physics_ is None
    assert not hasattr(est.sampler_, "context")  # no link to the training data
    again = pickle.loads(pickle.dumps(est))
    assert again.sampler_.n_eval_ == 5


def _residual(y, s, u, d):
    return d(s, 0) - u


def test_physics_copy_exposes_its_fitted_attributes(data):
    U, Y, G = data
    physics = PDEResidual(_residual, sensors=np.linspace(0, 1, U.shape[1])[:, None],
                          n_points=7)
    est = DeepONetRegressor(coords=Y, physics=physics, **FAST).fit(U, G)
    assert est.physics_ is not physics
    assert est.physics_.n_points_ == 7
    assert not hasattr(physics, "n_points_")  # the parameter is left as it was


# ------------------------------------------------------------ contracts
def _explode(net):
    raise AssertionError("unused")


@pytest.mark.parametrize("continuation", ["warm_start", "partial_fit"])
def test_a_failed_continuation_leaves_the_estimator_unchanged(data, continuation):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, warm_start=True, **{**FAST, "batch_size": 8}).fit(U, G)
    saved_state = _state_copy(est._optimizer_state)
    expected = est.predict(U)
    fresh = copy.deepcopy(est)
    # a learning rate that diverges at the first steps: the fit raises mid-training
    est.set_params(learning_rate_init=1e30)
    with pytest.raises(ValueError):
        if continuation == "warm_start":
            est.fit(U, G)
        else:
            est.partial_fit(U, G)
    _same_state(_state_copy(est._optimizer_state), saved_state)
    np.testing.assert_array_equal(est.predict(U), expected)
    # and a later successful continuation is the one a fresh copy makes
    est.set_params(learning_rate_init=1e-3)
    if continuation == "warm_start":
        est.fit(U, G)
        fresh.fit(U, G)
    else:
        est.partial_fit(U, G)
        fresh.partial_fit(U, G)
    np.testing.assert_array_equal(est.predict(U), fresh.predict(U))


@pytest.mark.parametrize("how", ["pickle", "io"])
def test_predict_on_a_gpu_host_copies_the_network_once(data, monkeypatch, tmp_path, how):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, **FAST).fit(U, G)
    if how == "pickle":
        est = pickle.loads(pickle.dumps(est))
    else:
        pytest.importorskip("safetensors")
        from skoperator.io import dump, load

        est = load(dump(est, tmp_path / "m.skop"))
    gpu = torch.device("cuda")
    monkeypatch.setattr("skoperator._estimator.resolve_device", lambda *a, **k: gpu)
    moves = []
    original_to = torch.nn.Module.to

    def to(self, *args, **kwargs):
        if args and args[0] == gpu:  # pretend: a copy on the GPU
            moves.append(type(self).__name__)
            return self
        return original_to(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "to", to)
    monkeypatch.setattr("skoperator._estimator.predict_any",
                        lambda network, U, coords, out, device: out)
    monkeypatch.setattr("skoperator._estimator.choose_threads", lambda *a, **k: 1)
    for _ in range(3):
        est.predict(U)
    assert moves == ["DeepONet"]
