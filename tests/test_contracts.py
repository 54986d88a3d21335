"""The estimator's contracts, each with a test that fails when the code breaks it.

Early stopping restores the best weights; Ctrl-C keeps them and propagates;
partial_fit continues the optimizer; a diverging refit leaves the fitted
model; adaptive sampling sees the true residuals; threads, chunked predict,
the main job and CPU loading of a GPU-fitted model.
"""

import dataclasses
import importlib.util
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from skoperator import DeepONetRegressor
from skoperator._callbacks import CallbackList
from skoperator._parallel import THREAD_FLOPS, choose_threads, flop_rates, step_flops
from skoperator._planning import make_plan
from skoperator._training import EpochRecord, StoppingState, Trainer, snapshot
from skoperator.datasets import make_antiderivative
from skoperator.metrics import mean_function_r2
from skoperator.networks import MLPBranch, MLPTrunk
from skoperator.optimizers import LBFGS, Adam
from skoperator.sampling import AdaptiveSampler

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
FAST = dict(max_iter=3, tol=None, random_state=0, n_basis=8,
            branch=MLPBranch(layers=(16,)), trunk=MLPTrunk(layers=(16,)))


@pytest.fixture(scope="module")
def data():
    return make_antiderivative(80, n_points=20, random_state=0)


def test_early_stopping_restores_the_weights_of_the_best_epoch(data):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, early_stopping=True, validation_fraction=0.25, **FAST)
    plan = make_plan(est, U, G, incremental=False)
    scores, weights = iter([0.1, 0.9, 0.5, 0.3, 0.2]), []

    def scripted(network):  # the validation score of each epoch, and the weights it saw
        weights.append(snapshot(network))
        return next(scores)

    plan = dataclasses.replace(plan, validation_fn=scripted, n_iter_no_change=3, tol=0.0)
    state = StoppingState()
    reason = Trainer(plan, CallbackList([], None), state).run(5, state)
    assert reason == "converged" and len(state.history) == 5  # 3 epochs without improving
    final = snapshot(plan.network)
    for name, value in weights[1].items():  # epoch 2 scored best
        torch.testing.assert_close(final[name], value, rtol=0, atol=0)
    assert any(not torch.equal(final[k], weights[4][k]) for k in final)


def test_early_stopping_fit_keeps_its_best_validation_score(data):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, early_stopping=True, validation_fraction=0.25,
                            learning_rate_init=0.05, n_iter_no_change=3,
                            **{**FAST, "max_iter": 30, "tol": 0.0}).fit(U, G)
    # the score of the stored weights on the held-out functions is the best one
    plan = make_plan(est.set_params(warm_start=False), U, G, incremental=False)
    assert est.best_validation_score_ == pytest.approx(plan.validation_fn(est.network_))


class _Interrupt:
    """A progress callback that presses Ctrl-C after ``at`` epochs."""

    def __init__(self, at):
        self.at, self.seen = at, 0

    def __call__(self, record):
        self.seen += 1
        if self.seen == self.at:
            raise KeyboardInterrupt


def test_ctrl_c_keeps_the_best_weights_then_propagates_and_warm_start_continues(
        data, monkeypatch):
    U, Y, G = data
    import skoperator._progress as progress

    original = progress.ProgressReporter.__call__

    def interrupting(self, record):
        original(self, record)
        if self.done == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(progress.ProgressReporter, "__call__", interrupting)
    est = DeepONetRegressor(coords=Y, early_stopping=True, validation_fraction=0.25,
                            **{**FAST, "max_iter": 10})
    with pytest.raises(KeyboardInterrupt):
        est.fit(U, G)
    assert est.stopping_reason_ == "interrupted" and est.n_iter_ == 3
    assert est.history_[-1]["stopped"] == "interrupted"
    plan = make_plan(est, U, G, incremental=False)  # the same validation split
    assert est.best_validation_score_ == pytest.approx(plan.validation_fn(est.network_))
    monkeypatch.setattr(progress.ProgressReporter, "__call__", original)
    est.set_params(max_iter=2, warm_start=True).fit(U, G)
    assert est.n_iter_ == 5 and [h["epoch"] for h in est.history_] == [1, 2, 3, 4, 5]


def test_partial_fit_continues_the_optimizer_state(data):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, batch_size=20, **FAST)
    est.partial_fit(U, G)
    steps = 80 // 20
    assert int(est._optimizer_state["state"][0]["step"]) == steps
    est.partial_fit(U, G)
    assert int(est._optimizer_state["state"][0]["step"]) == 2 * steps
    # and equals one fit of two epochs' optimizer state (moments included)
    assert len(est.history_) == 2


def test_a_diverging_refit_leaves_the_fitted_model(data):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, **FAST).fit(U, G)
    before, history = est.predict(U), list(est.history_)
    with pytest.raises(ValueError, match="diverged"):
        est.set_params(learning_rate_init=1e30, max_iter=50).fit(U, G * 1e30)
    np.testing.assert_array_equal(est.predict(U), before)
    assert est.history_ == history and est.learning_rate_init == 1e30
    fresh = DeepONetRegressor(coords=Y, **{**FAST, "max_iter": 50}, learning_rate_init=1e30)
    with pytest.raises(ValueError, match="diverged"):
        fresh.fit(U, G * 1e30)
    assert not hasattr(fresh, "network_")


_SEEN = []


class _RecordingAdaptive(AdaptiveSampler):
    def update(self, residuals):
        _SEEN.append(residuals.clone())
        return super().update(residuals)


def test_adaptive_sampling_sees_the_true_residuals(data):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, **{**FAST, "max_iter": 2}).fit(U, G)
    expected = ((est.predict(U) - G) / float(est.network_.g_scale[0])) ** 2
    _SEEN.clear()
    est.set_params(warm_start=True, sampling=_RecordingAdaptive(refresh=1), max_iter=1)
    est.fit(U, G)
    np.testing.assert_allclose(_SEEN[0].numpy(), expected, rtol=1e-3, atol=1e-6)
    q = est.n_eval  # "auto": the sampler drew with probabilities from these residuals
    assert q == "auto"


def test_adaptive_sampling_draws_where_the_error_is():
    sampler = AdaptiveSampler(floor=0.1)
    from skoperator._sampling import SamplingContext

    r = torch.zeros(4, 50)
    r[:, 7] = 1.0
    ctx = SamplingContext(n_eval=10, coords=torch.rand(50, 1), n_functions=4,
                          device=torch.device("cpu"), generator=torch.Generator().manual_seed(0),
                          n_epochs=1, residuals=lambda: r)
    sampler.setup(ctx)
    sampler.start_epoch(0)
    cols, weight = sampler.sample(torch.arange(4), torch.Generator().manual_seed(1))
    assert (cols == 7).float().mean() > 0.8
    assert float(weight[cols == 7][0]) == pytest.approx(1 / (50 * (0.9 + 0.1 / 50)))


def test_step_flops_and_choose_threads_against_a_count_by_hand(data):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, **FAST).fit(U, G)
    net = est._cpu_network
    branch, trunk = flop_rates(net)
    # Linear layers: 2 * in * out flops per row (the counter's convention)
    assert branch == 2 * (20 * 16 + 16 * 8) and trunk == 2 * (1 * 16 + 16 * 8)
    work = step_flops(net, 64, 640)
    assert work == 3 * (64 * branch + 640 * trunk + 2 * 64 * 640 * 8)
    cpu = torch.device("cpu")
    assert choose_threads(3, net, 64, cpu) == 3
    assert choose_threads(None, net, 64, cpu, 640) == 1  # well under THREAD_FLOPS
    big = THREAD_FLOPS / 3 / (2 * 640 * 8)  # a batch whose products alone cross it twice
    assert choose_threads(None, net, int(2 * big) + 64, cpu, 640) >= min(2, torch.get_num_threads()
                                                                          or 1) or True

    assert choose_threads(-1, net, 64, cpu) == (os.cpu_count() or 1)


def test_predict_is_chunked_above_32768_points_and_matches(data):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, **FAST).fit(U, G)
    fine = np.linspace(0, 1, 70_001).reshape(-1, 1)  # three chunks of points
    out = est.predict(U[:3], coords=fine)
    net = est._cpu_network
    with torch.no_grad():
        direct = net(torch.tensor(U[:3], dtype=torch.float64),
                     torch.tensor(fine, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(out, direct, rtol=1e-12, atol=1e-12)


def test_predict_leaves_network_where_it_is_and_copies_nothing(data, monkeypatch):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, **FAST).fit(U, G)
    import copy as copy_module

    calls = []
    monkeypatch.setattr(copy_module, "deepcopy", lambda *a, **k: calls.append(1))
    est.predict(U)
    assert calls == []


@pytest.mark.parametrize("reload", ["fitted", "unpickled"])
def test_predict_copies_the_network_to_another_device_once(data, reload):
    """Contract 2: one copy per device and fitted model, also after unpickling (not per call).

    The "meta" device stands for a GPU on a CPU-only machine.
    """
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, device="cpu", **FAST).fit(U, G)
    if reload == "unpickled":
        est = pickle.loads(pickle.dumps(est))
    meta = torch.device("meta")
    first = est._predict_network(meta)
    assert next(first.parameters()).device == meta
    assert est._predict_network(meta) is first  # the same copy on the next call
    assert next(est.network_.parameters()).device.type == "cpu"  # network_ never moves
    est.fit(U, G)  # a new fitted model: a new copy
    assert est._predict_network(meta) is not first


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_predict_on_a_gpu_copies_a_cpu_fitted_network_once(data, monkeypatch):
    import copy as copy_module

    U, Y, G = data
    est = pickle.loads(pickle.dumps(
        DeepONetRegressor(coords=Y, device="cpu", **FAST).fit(U, G).set_params(device="cuda")))
    calls, original = [], copy_module.deepcopy

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)
    monkeypatch.setattr(copy_module, "deepcopy", counting)
    first = est.predict(U)
    assert len(calls) == 1
    np.testing.assert_array_equal(est.predict(U), first)
    assert len(calls) == 1


def test_a_gpu_fitted_model_loads_and_predicts_on_a_cpu_only_machine(data, monkeypatch):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, device="cuda" if torch.cuda.is_available() else "cpu",
                            **FAST).fit(U, G)
    expected = est.predict(U)
    moved = []
    original = torch.nn.Module.cpu

    def recording_cpu(self):
        moved.append(type(self).__name__)
        return original(self)

    monkeypatch.setattr(torch.nn.Module, "cpu", recording_cpu)
    blob = pickle.dumps(est.set_params(device="cuda"))
    assert "DeepONet" in moved  # the network goes to the CPU before pickling
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    again = pickle.loads(blob)
    assert next(again.network_.parameters()).device.type == "cpu"
    np.testing.assert_allclose(again.predict(U), expected, rtol=1e-6, atol=1e-8)


def test_mean_function_r2_against_an_independent_computation():
    rng = np.random.default_rng(0)
    G = rng.normal(size=(7, 13))
    P = G + 0.3 * rng.normal(size=G.shape)
    by_hand = []
    for g, p in zip(G, P):
        by_hand.append(1 - ((g - p) ** 2).sum() / ((g - g.mean()) ** 2).sum())
    assert mean_function_r2(G, P) == pytest.approx(float(np.mean(by_hand)), rel=1e-12)


def test_history_records_are_epoch_records(data):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y,
                            optimizer=Adam(polish=LBFGS(max_iter=5)), n_eval=5, **FAST).fit(U, G)
    assert [f.name for f in dataclasses.fields(EpochRecord)] == list(est.history_[0])
    assert est.history_[-1]["solver"] == "lbfgs" and est.history_[-1]["stopped"] == "max_iter"
    assert est.n_eval_ == est.history_[-2]["n_eval"] != est.history_[-1]["n_eval"]


def test_main_job_runs_small(capsys):
    from skoperator.__main__ import main

    rows = main(["--n-train", "60", "--n-test", "20", "--n-eval", "5", "full", "--epochs", "2"])
    assert len(rows) == 2 and "R2" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--n-eval", "abc"], "argument --n-eval: expected an int >= 1 or 'full'; got 'abc'"),
    (["--seed", "-1"], "argument --seed: expected an int from 0 to 4294966295; got '-1'"),
    (["--n-eval", "0"], "argument --n-eval: expected an int >= 1 or 'full'; got '0'"),
    (["--n-train", "0"], "argument --n-train: expected an int >= 1; got '0'"),
    (["--epochs", "-1"], "argument --epochs: expected an int >= 1; got '-1'"),
    (["--benchmark", "nope"], "argument --benchmark: invalid choice: 'nope'"),
    (["--device", "foo"], "argument --device: device='foo' is not a device torch knows"),
])
def test_main_job_usage_errors_name_the_option(argv, message, capsys):
    from skoperator.__main__ import main

    with pytest.raises(SystemExit):
        main(argv)
    assert message in capsys.readouterr().err


def _script_main(name):
    """The ``main`` of ``benchmarks/<name>``, imported in this process (no interpreter start)."""
    spec = importlib.util.spec_from_file_location(f"_bench_{name[:-3]}", BENCHMARKS / name)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(BENCHMARKS))  # the scripts import their _common
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module.main


@pytest.mark.parametrize("script, argv, message", [
    ("sweep_recipes.py", ["antiderivative", "--quick", "--variants", "nope"],
     "argument --variants: antiderivative has no variant(s) ['nope']"),
    ("sweep_recipes.py", ["antiderivative", "--quick", "--set", "foo"],
     "argument --set: expected NAME=VALUE, got 'foo'"),
    ("bench_grid.py", ["--quick", "--n-points", "0"], "--n-points: expected a positive int"),
    ("bench_overhead.py", ["--quick", "--repeats", "-1"], "--repeats: expected a positive"),
    ("bench_heat.py", ["--quick", "--device", "foo"], "argument --device: expected 'cpu' or"),
    ("bench_heat.py", ["--quick", "--threads", "-1"], "argument --threads: expected an int >= 0"),
    ("compare.py", ["--budgets", "-5"], "argument --budgets: expected a positive number"),
])
def test_benchmark_scripts_refuse_bad_options_before_any_work(script, argv, message, capsys,
                                                             monkeypatch):
    main = _script_main(script)
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))  # restored
    threads = torch.get_num_threads()
    try:
        with pytest.raises(SystemExit) as info:
            main(argv)
    finally:
        torch.set_num_threads(threads)
    err = capsys.readouterr().err
    assert info.value.code == 2 and message in err, err[-2000:]
