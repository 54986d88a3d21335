"""The compiled training step against the eager one; time budgets; L-BFGS; mixed precision."""

import numpy as np
import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from skoperator import DeepONetRegressor
from skoperator._planning import prepared_loss
from skoperator._training import step_objective
from skoperator.datasets import make_antiderivative
from skoperator.metrics import mean_function_r2
from skoperator.networks import FNOBranch, MLPBranch, MLPTrunk
from skoperator.optimizers import LBFGS, Adam

FAST = dict(branch=MLPBranch(layers=(16,)), trunk=MLPTrunk(layers=(16,)), n_basis=8,
            max_iter=3, tol=None, device="cpu", random_state=0)


@pytest.mark.parametrize("missing", [False, True])
@pytest.mark.parametrize("kind", ["pairs", "grid", "shared", "full"])
@pytest.mark.parametrize("loss_name", ["mse", "relative_l2"])
def test_compiled_step_matches_eager_on_the_same_draws(tiny_problem, missing, kind, loss_name):
    net, data, rows, cols, weight = tiny_problem(missing, kind)
    loss = prepared_loss(loss_name, data)
    target = data.targets(rows, cols)
    path = {"pairs": "pairs", "grid": "grid", "shared": "shared", "full": "grid"}[kind]
    results = []
    for fn in (step_objective, torch.compile(step_objective)):
        net.zero_grad(set_to_none=True)
        value, report = fn(net, data, loss, rows, cols, weight, target, path)
        value.backward()
        if report is None:
            report = value * loss.report_factor()
        results.append((value.detach(), report.detach(),
                        [p.grad.clone() for p in net.parameters()]))
    (v0, r0, g0), (v1, r1, g1) = results
    torch.testing.assert_close(v1, v0, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(r1, r0, rtol=1e-5, atol=1e-7)
    for a, b in zip(g1, g0):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_compiled_fit_matches_eager_fit_and_recompiles_rarely():
    from torch._dynamo.utils import counters

    U, Y, G = make_antiderivative(70, n_points=20, random_state=0)
    params = dict(FAST, batch_size=32, n_eval=lambda epoch: 4 + 2 * epoch, max_iter=3)
    eager = DeepONetRegressor(coords=Y, **params).fit(U, G)
    torch._dynamo.reset()  # graphs compiled by earlier tests would be reused silently
    before = counters["stats"]["unique_graphs"]
    compiled = DeepONetRegressor(coords=Y, compile=True, **params).fit(U, G)
    graphs = counters["stats"]["unique_graphs"] - before
    # batches of 32, 32 and 6, n_eval 4, 6, 8: a few graphs, not one per step (9)
    assert 1 <= graphs <= 4, graphs  # compile=True compiles (0 would mean it was ignored)
    np.testing.assert_allclose(compiled.loss_curve_, eager.loss_curve_, rtol=1e-3)
    np.testing.assert_allclose(compiled.predict(U), eager.predict(U), rtol=1e-3, atol=1e-4)


def _fast_compiled():
    return DeepONetRegressor(branch=MLPBranch(layers=(16,)), trunk=MLPTrunk(layers=(16,)),
                             n_basis=8, max_iter=20, learning_rate_init=5e-3, tol=None,
                             device="cpu", random_state=0, compile=True)


@parametrize_with_checks([_fast_compiled()])
def test_sklearn_compatible_with_compilation_on(estimator, check):
    check(estimator)


def test_max_time_ends_training_and_schedules_finish_within_it():
    U, Y, G = make_antiderivative(400, random_state=0)
    est = DeepONetRegressor(coords=Y, max_iter=100_000, max_time=1.0, learning_rate="onecycle",
                            learning_rate_init=5e-3, device="cpu", random_state=0)
    import time

    tic = time.perf_counter()
    est.fit(U, G)
    assert time.perf_counter() - tic < 3.0
    assert est.stopping_reason_ == "max_time" and est.history_[-1]["stopped"] == "max_time"
    # the one-cycle schedule ran its course within the budget: it ends near zero
    assert est.history_[-1]["learning_rate"] < 1e-3 * 5e-3


def test_max_time_counts_from_the_start_of_fit(monkeypatch):
    # Validation and planning (and torch's one-time imports on a first fit)
    # spend the budget too: here planning alone outlasts it, so training
    # stops after its first epoch and the L-BFGS polish gets no rounds.
    import time

    from skoperator import _estimator

    U, Y, G = make_antiderivative(200, random_state=0)
    plan = _estimator.make_plan

    def slow_plan(*args, **kwargs):
        time.sleep(0.3)
        return plan(*args, **kwargs)

    monkeypatch.setattr(_estimator, "make_plan", slow_plan)
    est = DeepONetRegressor(coords=Y, max_iter=1000, max_time=0.2,
                            optimizer=Adam(polish=LBFGS(max_iter=100)), tol=None,
                            batch_size=50, device="cpu", random_state=0).fit(U, G)
    assert est.stopping_reason_ == "max_time" and est.n_iter_ == 1
    assert est.history_[-1]["solver"] == "lbfgs" and est.history_[-1]["lbfgs_iter"] <= 20


def test_lbfgs_polish_improves_and_is_recorded():
    U, Y, G = make_antiderivative(600, random_state=0)
    base = dict(coords=Y, max_iter=30, learning_rate="onecycle", learning_rate_init=5e-3,
                tol=None, device="cpu", random_state=0)
    adam = DeepONetRegressor(**base).fit(U[:400], G[:400])
    polished = DeepONetRegressor(optimizer=Adam(polish=LBFGS(max_iter=200)),
                                 **base).fit(U[:400], G[:400])
    assert polished.n_iter_ == 30 and len(polished.history_) == 31
    record = polished.history_[-1]
    assert record["solver"] == "lbfgs" and record["lbfgs_iter"] == 200
    assert record["train_loss"] < adam.loss_curve_[-1]
    assert (mean_function_r2(G[400:], polished.predict(U[400:]))
            > mean_function_r2(G[400:], adam.predict(U[400:])))


@pytest.mark.parametrize("branch", ["mlp", "fno"])
def test_mixed_precision_trains(branch):
    U, Y, G = make_antiderivative(64, n_points=16, random_state=0)
    params = dict(FAST)
    if branch == "fno":
        params["branch"] = FNOBranch(grid=(16,), width=4, modes=3, n_layers=1,
                                     head_layers=(16,), activation="relu")
    est = DeepONetRegressor(coords=Y, mixed_precision=True, **params)
    est.fit(U, G)
    assert np.all(np.isfinite(est.predict(U))) and np.isfinite(est.loss_curve_[-1])
