"""The compiled training step against the eager one; time budgets; L-BFGS; mixed precision."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks
from torch import nn
from torch._dynamo.backends.common import aot_autograd
from torch._dynamo.utils import counters

from skoperator import DeepONetRegressor, _compiling
from skoperator._planning import prepared_loss
from skoperator._training import step_objective
from skoperator.datasets import make_antiderivative
from skoperator.losses import LOSSES
from skoperator.metrics import mean_function_r2
from skoperator.networks import (
    BRANCHES,
    MERGES,
    TRUNKS,
    CNNBranch,
    FNOBranch,
    MLPBranch,
    MLPTrunk,
    MultiBranch,
    NOMADTrunk,
    PODTrunk,
    ResNetTrunk,
    ShiftedTrunk,
)
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


def test_each_architecture_compiles_under_its_own_recompile_limit():
    # torch keeps a function's graphs on its code object and, past its recompile limit,
    # runs the function eagerly without an error: with one shared objective, a process's
    # later architectures would silently not be compiled (here, with the limit lowered
    # from 8 to 2, from the second width on). Refits of an architecture reuse its graphs.
    U, Y, G = make_antiderivative(48, n_points=20, random_state=0)
    torch._dynamo.reset()
    new_graphs = []
    with torch._dynamo.config.patch(recompile_limit=2):
        for width in (5, 6, 7, 5):
            before = counters["stats"]["unique_graphs"]
            params = dict(FAST, coords=Y, branch=MLPBranch(layers=(width,)), batch_size=16,
                          max_iter=1)
            DeepONetRegressor(compile=True, **params).fit(U, G)
            new_graphs.append(counters["stats"]["unique_graphs"] - before)
    assert all(n >= 1 for n in new_graphs[:3]), new_graphs  # each width compiled
    assert new_graphs[3] == 0, new_graphs  # width 5 again: its graphs reused
    assert len(_compiling._copies) <= _compiling.KEPT
    # partial_fit: the first call compiles, the next ones reuse its graphs
    est = DeepONetRegressor(compile=True, **dict(params, branch=MLPBranch(layers=(8,))))
    est.partial_fit(U, G)
    before = counters["stats"]["unique_graphs"]
    est.partial_fit(U, G)
    est.partial_fit(U, G)
    assert counters["stats"]["unique_graphs"] == before


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


# ---------------------------------------------------- every built-in component
def _grid_problem():
    """48 functions of two inputs on an 8 x 8 grid (2 x 64 sensors), targets on its 64 points."""
    rng = np.random.default_rng(0)
    x = np.linspace(0, 1, 8)
    Y = np.stack(np.meshgrid(x, x, indexing="ij"), -1).reshape(-1, 2)
    U = rng.normal(size=(48, 128)).astype(np.float32)
    G = (U[:, :64] * 0.5 + np.sin(3 * Y[:, 0]) * U[:, 64:65]).astype(np.float32)
    return U, Y, G


def _mlps(merge):
    return MultiBranch([MLPBranch(layers=(16,), n_sensors=64), MLPBranch(layers=(16,))],
                       merge=merge)


def _fno(head):
    return FNOBranch(grid=(8, 8), width=4, modes=2, n_layers=1, head=head, head_layers=(16,))


# Compiled configurations, named "branches-merge-trunk-loss" (inductor compiles for many
# seconds on a CPU, so each built-in component is compiled once, not every combination).
# With test_compiled_fit_matches_eager_fit_and_recompiles_rarely ("mlp-none-mlp-mse") they
# cover every key of BRANCHES, MERGES, TRUNKS and LOSSES, and both heads of the FNO branch
# (pooled; projected on the POD trunk's modes).
COMPONENTS = {
    "cnn,fno-product-resnet-huber": dict(
        branch=MultiBranch([CNNBranch(grid=(8, 8), filters=(4,), layers=(16,)),
                            _fno("pooled")], merge="product"),
        trunk=ResNetTrunk(layers=(16, 16)), loss="huber"),
    "fno-none-pod-relative_l2": dict(branch=_fno("auto"), trunk=PODTrunk(),
                                     loss="relative_l2", single=True),
    "mlp,mlp-sum-nomad-relative_l2": dict(branch=_mlps("sum"), trunk=NOMADTrunk(layers=(16,)),
                                          loss="relative_l2"),
    "mlp,mlp-product_sum-shifted-mse": dict(branch=_mlps("product_sum"),
                                            trunk=ShiftedTrunk(MLPTrunk(layers=(16,)))),
    "mlp,mlp-concat-pod_corrected-huber": dict(
        branch=_mlps("concat"), trunk=PODTrunk(correction=True, layers=(16,)), loss="huber"),
}


def test_component_configurations_cover_the_registries():
    names = [*COMPONENTS, "mlp-none-mlp-mse"]
    branches, merges, trunks, losses = zip(*(name.split("-") for name in names))
    assert set(BRANCHES) <= {b for names in branches for b in names.split(",")}
    assert set(MERGES) <= set(merges) and set(TRUNKS) <= set(trunks)
    assert set(LOSSES) <= set(losses)


@pytest.mark.parametrize("name", list(COMPONENTS))
def test_compiled_fit_of_every_component_matches_eager(name):
    # compile=True on the CPU: a finite fit whose first epoch's loss is the eager fit's
    # within 1e-4 relative (the compiled kernels round differently).
    U, Y, G = _grid_problem()
    params = dict(COMPONENTS[name])
    if params.pop("single", False):
        U = U[:, :64]
    params = dict(params, coords=Y, n_basis=8, n_eval=16, batch_size=16, max_iter=2,
                  tol=None, device="cpu", random_state=0)
    eager = DeepONetRegressor(**params).fit(U, G)
    torch._dynamo.reset()  # each configuration compiles afresh (and under the recompile limit)
    before = counters["stats"]["unique_graphs"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compiled = DeepONetRegressor(compile=True, **params).fit(U, G)
    assert counters["stats"]["unique_graphs"] > before  # it did compile
    assert not [w for w in caught if "torch.compile failed" in str(w.message)]
    assert np.all(np.isfinite(compiled.loss_curve_))
    assert np.all(np.isfinite(compiled.predict(U[:4])))
    np.testing.assert_allclose(compiled.loss_curve_[0], eager.loss_curve_[0], rtol=1e-4)


# ------------------------------------------------------------ falling back
class _Failing:
    """A torch.compile backend that fails in the forward's or the backward's compilation."""

    def __init__(self, where):
        self.where = where

    def __call__(self, gm, example_inputs):
        def fail(gm, example_inputs):
            raise RuntimeError("no kernel for this graph\nsecond line")

        def keep(gm, example_inputs):
            return gm.forward

        fw, bw = (fail, keep) if self.where == "forward" else (keep, fail)
        return aot_autograd(fw_compiler=fw, bw_compiler=bw)(gm, example_inputs)


class SquareBranch(nn.Module):
    """A user's branch (its class is named in the warning)."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)

    def forward(self, u):
        return self.linear(u) ** 2


@pytest.mark.parametrize("where", ["forward", "backward"])
def test_compile_failure_falls_back_to_eager_with_one_warning(monkeypatch, where):
    # The backend is the compile entry point's one replaceable part: here it raises when
    # AOTAutograd compiles the forward graph, or the backward graph (which torch would
    # compile lazily, at the first backward, and CompiledObjective compiles with the forward).
    U, Y, G = make_antiderivative(64, n_points=20, random_state=0)
    params = dict(FAST, coords=Y, branch=SquareBranch, batch_size=16, max_iter=2)
    eager = DeepONetRegressor(**params).fit(U, G)
    torch._dynamo.reset()
    monkeypatch.setattr(_compiling, "BACKEND", _Failing(where))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compiled = DeepONetRegressor(compile=True, **params).fit(U, G)
    messages = [str(w.message) for w in caught if "torch.compile failed" in str(w.message)]
    assert len(messages) == 1, messages
    assert messages[0] == (
        "compile (mode 'default'): torch.compile failed on the module SquareBranch "
        "(BackendCompilerFailed: "
        "RuntimeError: no kernel for this graph); this fit continues without compilation, as "
        "with compile=False. Pass compile=False to skip the attempt.")
    np.testing.assert_array_equal(compiled.loss_curve_, eager.loss_curve_)
    np.testing.assert_array_equal(compiled.predict(U), eager.predict(U))


class BatchOf16Fails(SquareBranch):
    """A user's branch with a bug of its own: it raises on batches of 16."""

    def forward(self, u):
        if u.shape[0] == 16:
            raise ValueError("a bug of the branch itself")
        return super().forward(u)


def test_an_error_of_the_step_itself_raises_as_without_compilation():
    U, Y, G = make_antiderivative(64, n_points=20, random_state=0)
    params = dict(FAST, coords=Y, branch=BatchOf16Fails, batch_size=16, max_iter=1)
    torch._dynamo.reset()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="a bug of the branch itself"):
            DeepONetRegressor(compile=True, **params).fit(U, G)
    assert not [w for w in caught if "torch.compile failed" in str(w.message)]
