"""The optimizer as a component: Adam (0.3's exactly), AdamW, SGD, clipping, the L-BFGS polish."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from skoperator import DeepONetRegressor
from skoperator.datasets import make_antiderivative
from skoperator.networks import MLPBranch, MLPTrunk
from skoperator.optimizers import LBFGS, SGD, Adam, AdamW, BaseOptimizer
from skoperator.schedules import BaseSchedule

U, Y, G = make_antiderivative(80, n_points=20, random_state=0)
FAST = dict(coords=Y, n_eval=5, max_iter=4, tol=None, branch=MLPBranch(layers=(16,)),
            trunk=MLPTrunk(layers=(16,)), n_basis=8, batch_size=16, device="cpu",
            random_state=0)


def _weights(est):
    return [p.detach().clone() for p in est.network_.parameters()]


def _fit(**params):
    return DeepONetRegressor(**{**FAST, **params}).fit(U, G)


def test_the_default_is_torch_adam_with_its_defaults_step_for_step():
    est = _fit()
    plain = _fit(max_iter=1)
    assert est.optimizer == "adam"
    explicit = _fit(optimizer=Adam())
    assert all(torch.equal(a, b) for a, b in zip(_weights(est), _weights(explicit)))
    opt = torch.optim.Adam(plain.network_.parameters())
    assert set(plain._optimizer_state["param_groups"][0]) == set(opt.param_groups[0])
    group = plain._optimizer_state["param_groups"][0]
    assert group["betas"] == (0.9, 0.999) and group["eps"] == 1e-8
    assert group["weight_decay"] == 0.0


@pytest.mark.parametrize("optimizer", [AdamW(), SGD(), SGD(nesterov=True, momentum=0.5),
                                       "adamw", "sgd"])
def test_every_optimizer_trains(optimizer):
    first = _fit(max_iter=1, optimizer=optimizer, learning_rate_init=1e-2)
    later = _fit(max_iter=30, optimizer=optimizer, learning_rate_init=1e-2)
    assert later.loss_curve_[-1] < 0.5 * first.loss_curve_[0]


def test_weight_decay_differs_between_adam_and_adamw():
    a = _fit(optimizer=Adam(weight_decay=0.1))
    w = _fit(optimizer=AdamW(weight_decay=0.1))
    none = _fit()
    assert not all(torch.equal(x, y) for x, y in zip(_weights(a), _weights(w)))
    assert not all(torch.equal(x, y) for x, y in zip(_weights(a), _weights(none)))
    assert a._optimizer_state["param_groups"][0]["weight_decay"] == 0.1


def test_clip_grad_norm_bounds_every_step(monkeypatch):
    seen = []
    original = torch.optim.Adam.step

    def step(self, *args, **kwargs):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        seen.append(float(torch.linalg.vector_norm(torch.stack(
            [torch.linalg.vector_norm(g) for g in grads]))))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    _fit()
    assert max(seen) > 0.05  # the problem's gradients are larger than the clip below
    seen.clear()
    _fit(optimizer=Adam(clip_grad_norm=0.05))
    assert max(seen) <= 0.05 * (1 + 1e-5)


def test_one_cycle_moves_sgd_momentum():
    est = _fit(optimizer=SGD(), learning_rate="onecycle")
    momentum = est._optimizer_state["param_groups"][0]["momentum"]
    assert momentum != 0.9 and 0.85 <= momentum <= 0.95


def test_the_polish_is_an_lbfgs_of_the_optimizer():
    adam = _fit()
    polished = _fit(optimizer=Adam(polish=LBFGS(max_iter=10)))
    record = polished.history_[-1]
    assert record["solver"] == "lbfgs" and record["lbfgs_iter"] == 10
    assert polished.n_iter_ == adam.n_iter_ == 4
    assert record["train_loss"] < adam.loss_curve_[-1]
    assert _fit(optimizer=SGD(polish=LBFGS(max_iter=3))).history_[-1]["solver"] == "lbfgs"


def test_the_polish_settings_are_checked_before_training():
    est = DeepONetRegressor(**FAST)
    for polish, name in [(LBFGS(history_size=0), "history_size"), (LBFGS(max_iter=-5), "max_iter")]:
        for optimizer in (Adam(polish=polish), SGD(polish=polish)):
            with pytest.raises(ValueError, match=f"'{name}' parameter of LBFGS"):
                est.set_params(optimizer=optimizer).fit(U, G)
    assert not hasattr(est, "network_")


def test_the_polish_record_counts_the_iterations_run_and_its_score_is_the_best():
    # a tiny problem: LBFGS meets its tolerance long before 1,000 iterations
    rng = np.random.default_rng(0)
    U8, G8 = rng.normal(size=(8, 3)), rng.normal(size=(8, 5))
    est = DeepONetRegressor(n_basis=4, max_iter=2, tol=None, random_state=0,
                            optimizer=Adam(polish=LBFGS(max_iter=1000))).fit(U8, G8)
    assert 0 < est.history_[-1]["lbfgs_iter"] < 1000
    est = _fit(early_stopping=True, validation_fraction=0.25,
               optimizer=Adam(polish=LBFGS(max_iter=30)))
    polished = est.history_[-1]["valid_score"]
    if polished >= max(h["valid_score"] for h in est.history_[:-1]):  # the polish was kept
        assert est.best_validation_score_ == polished
    else:
        assert est.best_validation_score_ == max(h["valid_score"] for h in est.history_[:-1])


def test_optimizer_settings_are_searched_and_cloned():
    est = DeepONetRegressor(**FAST, optimizer=Adam(polish=LBFGS(max_iter=2)))
    assert est.get_params()["optimizer__polish__max_iter"] == 2
    search = GridSearchCV(est, {"optimizer__clip_grad_norm": [None, 0.1],
                                "optimizer__polish__max_iter": [0, 2]}, cv=2).fit(U, G)
    assert set(search.cv_results_["param_optimizer__clip_grad_norm"]) == {None, 0.1}
    assert clone(est).optimizer is not est.optimizer


def test_a_changed_optimizer_between_warm_starts_starts_its_state_afresh():
    est = _fit(warm_start=True)
    est.set_params(optimizer=SGD()).fit(U, G)
    assert "momentum" in est._optimizer_state["param_groups"][0]
    assert est.n_iter_ == 8


def test_bad_optimizers_are_named_and_change_nothing():
    est = DeepONetRegressor(**FAST)
    with pytest.raises(ValueError, match="optimizer"):
        est.set_params(optimizer="adagrad").fit(U, G)
    with pytest.raises(ValueError, match="clip_grad_norm"):
        est.set_params(optimizer=Adam(clip_grad_norm=-1.0)).fit(U, G)
    with pytest.raises(ValueError, match="Nesterov momentum needs momentum > 0"):
        est.set_params(optimizer=SGD(momentum=0.0, nesterov=True)).fit(U, G)
    for betas in [(2.0, 0.9), (0.9, 0.999, 0.1), (0.9,), ("a", 0.9), (True, 0.9)]:
        with pytest.raises(ValueError, match=r"Adam\(betas=.*expected a pair of floats"):
            est.set_params(optimizer=Adam(betas=betas)).fit(U, G)

    class Unbuilt(BaseOptimizer):
        def build(self, params, lr, context):
            return None

    with pytest.raises(TypeError, match=r"optimizer=Unbuilt\(\): build\(\) returned NoneType"):
        est.set_params(optimizer=Unbuilt()).fit(U, G)
    assert not hasattr(est, "network_")


def test_the_parameters_of_0_3_say_how_to_write_them_now():
    with pytest.raises(TypeError, match=r"alpha=0.01 -> optimizer=Adam\(weight_decay=0.01\)"):
        DeepONetRegressor(alpha=0.01)
    with pytest.raises(TypeError, match=r"optimizer=Adam\(polish=LBFGS\(max_iter=100\)\)"):
        DeepONetRegressor(lbfgs_iter=100)


def test_a_user_optimizer_follows_the_protocol():
    class Plain(BaseOptimizer):
        def __init__(self, clip_grad_norm=None, polish=None):
            self.clip_grad_norm = clip_grad_norm
            self.polish = polish

        def build(self, params, lr, context):
            return torch.optim.SGD(params, lr=lr)

    est = _fit(optimizer=Plain(), learning_rate_init=1e-2, max_iter=20)
    assert np.isfinite(est.loss_curve_).all() and est.loss_curve_[-1] < est.loss_curve_[0]


class _Linear(BaseSchedule):
    def __call__(self, progress):
        return 1.0 - progress  # not the protocol's pair


class _Negative(BaseSchedule):
    def __call__(self, progress):
        return (-1.0 if progress > 0.4 else 1.0), None


class _BadBeta(BaseSchedule):
    def __call__(self, progress):
        return 1.0, 1.5


def test_a_user_schedule_is_checked_against_the_protocol_before_training():
    est = DeepONetRegressor(**FAST)
    for schedule, got in [(_Linear(), "1.0 at progress 0.0"),
                          (_Negative(), r"\(-1.0, None\) at progress 0.5"),
                          (_BadBeta(), r"\(1.0, 1.5\) at progress 0.0")]:
        with pytest.raises(ValueError, match=f"learning_rate=.* returned {got}; expected a pair"):
            est.set_params(learning_rate=schedule).fit(U, G)
    assert not hasattr(est, "network_")


# ---------------------------------------------------------------- review fixes (0.4.0)
def test_a_warm_start_takes_the_new_optimizers_settings_and_the_kind_decides_the_state():
    U, Y, G = make_antiderivative(32, n_points=10, random_state=0)
    est = DeepONetRegressor(coords=Y, max_iter=1, tol=None, n_basis=4, random_state=0,
                            warm_start=True, optimizer=Adam(betas=(0.8, 0.99))).fit(U, G)
    steps = float(est._optimizer_state["state"][0]["step"])
    est.set_params(optimizer=Adam(betas=(0.5, 0.9), eps=1e-3)).fit(U, G)
    group = est._optimizer_state["param_groups"][0]
    assert tuple(group["betas"]) == (0.5, 0.9) and group["eps"] == 1e-3
    assert float(est._optimizer_state["state"][0]["step"]) == 2 * steps  # the moments went on
    est.set_params(optimizer=AdamW(weight_decay=0.01)).fit(U, G)  # another kind: afresh
    group = est._optimizer_state["param_groups"][0]
    assert group["decoupled_weight_decay"] and group["weight_decay"] == 0.01
    assert float(est._optimizer_state["state"][0]["step"]) == steps
    # a schedule's last beta1 (one-cycle's 0.95) does not carry into partial_fit
    cyc = DeepONetRegressor(coords=Y, max_iter=2, tol=None, n_basis=4, random_state=0,
                            learning_rate="onecycle").fit(U, G)
    cyc.partial_fit(U, G)
    assert tuple(cyc._optimizer_state["param_groups"][0]["betas"])[1] == 0.999


def test_adam_takes_int_and_numpy_betas():
    U, Y, G = make_antiderivative(32, n_points=10, random_state=0)
    for betas in [(0, 0.999), (0.9, np.float32(0.99))]:
        DeepONetRegressor(coords=Y, max_iter=1, tol=None, n_basis=4,
                          optimizer=Adam(betas=betas)).fit(U, G)
