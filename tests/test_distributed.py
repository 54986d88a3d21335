"""Data-parallel training: two (and three) gloo processes on the CPU, launched by torchrun."""

import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge

import skoperator
from skoperator import DeepONetRegressor
from skoperator.datasets import make_antiderivative
from skoperator.distributed import fit_ray
from skoperator.metrics import mean_function_r2
from skoperator.networks import MLPBranch, MLPTrunk, PODTrunk
from skoperator.optimizers import LBFGS, Adam

WORKER = Path(__file__).with_name("distributed_worker.py")
TEARDOWN_ABORT = "terminate called without an active exception"
pytestmark = pytest.mark.skipif(not torch.distributed.is_available(),
                                reason="torch.distributed is not available")


def _launch(scenario, n, out):
    # the workers import the skoperator this test imports (not another installed copy)
    package_root = str(Path(skoperator.__file__).resolve().parents[1])
    path = [package_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(path))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(n),
           "--standalone", str(WORKER), scenario, str(out)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    report = done.stdout[-3000:] + done.stderr[-3000:]
    finished = all((out / f"done-{rank}.pkl").exists() for rank in range(n))
    if done.returncode != 0 and finished and TEARDOWN_ABORT in done.stderr:
        # every rank wrote every result and passed the last barrier; the abort came in the
        # interpreter's teardown, where a gloo worker thread that still holds a tensor of a
        # finished collective takes the GIL (explained in pytorch/pytorch pull request 179291,
        # abandoned: not fixed in torch). What these tests check is complete;
        # test_checkpoint's torchrun test holds the exit path.
        warnings.warn(f"a rank aborted after its last result: {TEARDOWN_ABORT}", stacklevel=2)
        return
    assert done.returncode == 0, report


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    _launch("main", 2, out)

    def load(name, rank):
        with open(out / f"{name}-{rank}.pkl", "rb") as f:
            return pickle.load(f)

    return load, out


def _base(Y):
    return dict(coords=Y, branch=MLPBranch(layers=(16, 16)), trunk=MLPTrunk(layers=(16, 16)),
                n_basis=12, tol=None, random_state=0, learning_rate_init=3e-3)


def _weights(est):
    return {k: v.detach().numpy() for k, v in est.network_.state_dict().items()}


@pytest.mark.parametrize("epochs", [1, 20])
def test_two_ranks_of_batch_b_equal_one_process_of_batch_2b(runs, epochs):
    load, _ = runs
    U, Y, G = make_antiderivative(96, n_points=30, random_state=0)
    one = DeepONetRegressor(sampling="full", batch_size=16, max_iter=epochs, **_base(Y))
    one.fit(U, G)
    ranks = [load(f"full{epochs}", r) for r in (0, 1)]
    for name, value in _weights(one).items():
        for rank in ranks:
            np.testing.assert_array_equal(rank["weights"][name], ranks[0]["weights"][name])
        scale = np.abs(value).max() + 1e-12
        err = np.abs(ranks[0]["weights"][name] - value).max() / scale
        assert err < (1e-5 if epochs == 1 else 1e-3), (name, err)
    np.testing.assert_allclose(ranks[0]["loss"], one.loss_curve_, rtol=1e-4)


def test_two_ranks_on_the_gram_path_equal_one_process(runs):
    # a POD trunk on every point: each rank builds the Gram (6 epochs: enough steps for it
    # to pay at 8 functions a step) and its steps read no targets
    load, _ = runs
    U, Y, G = make_antiderivative(96, n_points=30, random_state=0)
    one = DeepONetRegressor(sampling="full", batch_size=16, max_iter=6,
                            **dict(_base(Y), trunk=PODTrunk(), n_basis=8)).fit(U, G)
    ranks = [load("gram", r) for r in (0, 1)]
    assert [rank["gram_built"] for rank in ranks] == [1, 1]
    for name, value in _weights(one).items():
        np.testing.assert_array_equal(ranks[1]["weights"][name], ranks[0]["weights"][name])
        err = np.abs(ranks[0]["weights"][name] - value).max() / (np.abs(value).max() + 1e-12)
        assert err < 1e-4, (name, err)
    np.testing.assert_allclose(ranks[0]["loss"], one.loss_curve_, rtol=1e-4)


def test_random_sampling_ranks_agree_draw_differently_and_reach_one_process_accuracy(runs):
    load, out = runs
    a, b = load("random", 0), load("random", 1)
    for name in a["weights"]:
        np.testing.assert_array_equal(a["weights"][name], b["weights"][name])
    assert a["n_iter"] == b["n_iter"] == 150
    assert [h["train_loss"] for h in a["history"]] == [h["train_loss"] for h in b["history"]]
    da, db = load("draws", 0)["draws"], load("draws", 1)["draws"]
    assert len(da) == len(db) and not all(np.array_equal(x, y) for x, y in zip(da, db))
    U, Y, G = make_antiderivative(96, n_points=30, random_state=0)
    one = DeepONetRegressor(sampling="random", n_eval=10, batch_size=16, max_iter=150,
                            learning_rate="onecycle", **_base(Y)).fit(U[:80], G[:80])
    r2_one = mean_function_r2(G[80:], one.predict(U[80:]))
    r2_two = mean_function_r2(G[80:], a["pred"])
    assert r2_two > r2_one - 0.02, (r2_two, r2_one)


def test_early_stopping_max_time_and_lbfgs_agree_across_ranks(runs):
    load, _ = runs
    for scenario in ("early", "max_time"):
        a, b = load(scenario, 0), load(scenario, 1)
        assert a["n_iter"] == b["n_iter"] and a["reason"] == b["reason"], scenario
    assert load("early", 0)["reason"] == "converged"
    assert load("early", 0)["scores"] == load("early", 1)["scores"]
    assert load("max_time", 0)["reason"] == "max_time"
    for name, value in load("max_time", 0)["weights"].items():
        np.testing.assert_array_equal(value, load("max_time", 1)["weights"][name])
    a, b = load("lbfgs", 0), load("lbfgs", 1)
    assert a["history"][-1]["solver"] == "lbfgs"
    for name, value in a["weights"].items():
        np.testing.assert_array_equal(value, b["weights"][name])


def _close_to_one_process(ranks, one, rtol, loss_rtol=1e-5):
    """Both ranks hold the same weights, within ``rtol`` (of each tensor's scale) of ``one``."""
    worst = 0.0
    for name, value in _weights(one).items():
        np.testing.assert_array_equal(ranks[1]["weights"][name], ranks[0]["weights"][name])
        scale = np.abs(value).max() + 1e-12
        worst = max(worst, np.abs(ranks[0]["weights"][name] - value).max() / scale)
    assert worst < rtol, worst
    np.testing.assert_allclose(ranks[0]["loss"], one.loss_curve_, rtol=loss_rtol)


def _missing_targets(G):
    missing = G.copy()
    missing[np.random.default_rng(0).random(G.shape) < 0.3] = np.nan
    missing[:5, :25] = np.nan
    return missing


def test_random_state_none_gives_one_permutation_and_one_split_on_every_rank(runs):
    load, _ = runs
    a, b = load("none_rows", 0), load("none_rows", 1)
    np.testing.assert_array_equal(a["U"], b["U"])  # the same validation split
    assert len(a["U"]) == 48
    trained = np.concatenate(a["rows"] + b["rows"])
    np.testing.assert_array_equal(np.sort(trained), np.arange(48))  # each function once


def test_random_state_none_ranks_start_from_rank_0s_network_and_end_identical(runs):
    load, _ = runs
    a, b = load("none_model", 0), load("none_model", 1)
    assert a["scores"] == b["scores"]
    for name, value in a["weights"].items():
        np.testing.assert_array_equal(value, b["weights"][name])


def test_a_random_state_instance_is_accepted_and_rank_0s_draw_used(runs):
    load, _ = runs
    a, b = load("rng_instance", 0), load("rng_instance", 1)
    for name, value in a["weights"].items():
        np.testing.assert_array_equal(value, b["weights"][name])


def test_uneven_last_batch_weighs_each_rank_by_its_rows(runs):
    load, _ = runs
    U, Y, G = make_antiderivative(96, n_points=30, random_state=0)
    one = DeepONetRegressor(sampling="full", batch_size=32, max_iter=2, **_base(Y))
    _close_to_one_process([load("uneven", r) for r in (0, 1)], one.fit(U[:69], G[:69]), 5e-6)


@pytest.mark.parametrize("loss", ["mse", "relative_l2"])
def test_missing_targets_two_ranks_take_the_steps_of_one_process(runs, loss):
    load, _ = runs
    U, Y, G = make_antiderivative(96, n_points=30, random_state=0)
    one = DeepONetRegressor(sampling="full", batch_size=32, max_iter=2, loss=loss, **_base(Y))
    one.fit(U[:69], _missing_targets(G)[:69])
    _close_to_one_process([load(f"nan_{loss}", r) for r in (0, 1)], one, 5e-6)


def antiderivative_residual(y, s, u, d):  # as in distributed_worker.py
    return d(s, 0) - u


@pytest.mark.parametrize("name", ["physics_nan", "physics_only"])
def test_physics_with_missing_targets_two_ranks_take_the_steps_of_one_process(runs, name):
    from skoperator.physics import PDEResidual

    load, _ = runs
    U, Y, G = make_antiderivative(96, n_points=30, random_state=0)
    targets = _missing_targets(G) if name == "physics_nan" else np.full_like(G, np.nan)
    physics = PDEResidual(antiderivative_residual, sensors=np.linspace(0, 1, U.shape[1]),
                          n_points=30)
    one = DeepONetRegressor(sampling="full", batch_size=32, max_iter=1, physics=physics,
                            **_base(Y)).fit(U[:69], targets[:69])
    _close_to_one_process([load(name, r) for r in (0, 1)], one, 5e-6)


def test_lbfgs_polish_of_two_ranks_equals_one_process(runs):
    load, _ = runs
    U, Y, G = make_antiderivative(96, n_points=30, random_state=0)
    one = DeepONetRegressor(sampling="full", batch_size=16, max_iter=1,
                            optimizer=Adam(polish=LBFGS(max_iter=10)),
                            **_base(Y)).fit(U[:69], _missing_targets(G)[:69])
    assert one.history_[-1]["solver"] == "lbfgs"
    # L-BFGS's curvature pairs and line search amplify the all-reduce's float32 rounding:
    # weights 7.3e-5 of a tensor's scale and the final loss 3.8e-5 apart on an AVX-512
    # EPYC, under 3e-5 and 1e-5 on the machine before it (a wrong gradient or step moves
    # them by far more)
    _close_to_one_process([load("lbfgs_full", r) for r in (0, 1)], one, 2e-4, loss_rtol=2e-4)


def test_the_result_pickles_and_predicts_without_a_process_group(runs):
    _, out = runs
    assert not torch.distributed.is_initialized()
    with open(out / "model-0.pkl", "rb") as f:
        est = pickle.load(f)
    U, Y, G = make_antiderivative(96, n_points=30, random_state=0)
    pred = est.predict(U[80:])
    assert pred.shape == (16, 30) and mean_function_r2(G[80:], pred) > 0.5
    assert type(est.network_).__name__ == "DeepONet"  # plain, not wrapped
    from sklearn.base import clone

    clone(est).set_params(max_iter=2).fit(U, G)


def test_mismatched_arrays_are_a_clear_error_on_every_rank(runs):
    load, _ = runs
    for rank in (0, 1):
        assert "rank 1 differs from rank 0 in G (its values: " in load("mismatch", rank)["error"]
        # compared before validation: rank 1's invalid max_iter cannot leave rank 0 waiting
        assert "rank 1 differs from rank 0 in max_iter (2 against -1)" in \
            load("bad_setting", rank)["error"]
        assert "rank 1 differs from rank 0 in coords (its values" in \
            load("fit_coords", rank)["error"]


def test_more_ranks_than_functions_is_a_clear_error_on_every_rank(tmp_path):
    _launch("too_many", 3, tmp_path)
    for rank in range(3):
        with open(tmp_path / f"too_many-{rank}.pkl", "rb") as f:
            error = pickle.load(f)["error"]
        assert "3 ranks but the fit has 2 training functions" in error


def test_a_checkpoint_of_one_process_is_refused_by_two_and_a_frame_is_fingerprinted(tmp_path):
    from skoperator import DeepONetRegressor
    from skoperator.callbacks import Checkpoint
    from skoperator.datasets import make_antiderivative

    U, Y, G = make_antiderivative(64, n_sensors=20, n_points=30, random_state=0)
    DeepONetRegressor(coords=Y, n_basis=8, tol=None, random_state=0, batch_size=8,
                      max_iter=2, callbacks=[Checkpoint(tmp_path / "ckpt")]).fit(U, G)
    _launch("processes", 2, tmp_path)
    for rank in range(2):
        with open(tmp_path / f"processes-{rank}.pkl", "rb") as f:
            found = pickle.load(f)
        assert "the number of processes (1 in the checkpoint, 2 now)" in found["error"]
        # a pandas frame's fingerprint took its columns for rows: every rank failed
        assert found["frame_features"] == [f"s{i}" for i in range(20)]


def test_init_process_group_without_a_launcher_does_nothing(monkeypatch):
    from skoperator.distributed import _first_host, _launcher_environment, init_process_group

    for name in ("RANK", "WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS"):
        monkeypatch.delenv(name, raising=False)
    assert init_process_group() == 1 and not torch.distributed.is_initialized()
    monkeypatch.setenv("SLURM_PROCID", "3")
    monkeypatch.setenv("SLURM_NTASKS", "8")
    monkeypatch.setenv("SLURM_LOCALID", "1")
    monkeypatch.setenv("SLURM_NODELIST", "gpu[07-08],gpu11")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    assert _launcher_environment() == (3, 8, 1, "gpu07", "29500")
    assert _first_host("nodeA,nodeB") == "nodeA"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_init_process_group_checks_backend_and_launcher_variables(monkeypatch):
    from skoperator.distributed import init_process_group

    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.delenv("RANK")  # a plain process checks backend too: a typo fails at once
    with pytest.raises(ValueError, match="backend must be 'gloo', 'nccl' or None; got 'ncll'"):
        init_process_group(backend="ncll")
    monkeypatch.setenv("RANK", "0")
    for backend, match in (("nccl", "backend='nccl' needs CUDA"),
                           ("foo", "backend must be 'gloo', 'nccl' or None; got 'foo'")):
        with pytest.raises(ValueError, match=match):
            init_process_group(backend=backend)
        assert "MASTER_ADDR" not in os.environ  # a failed call changes nothing
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="the environment variable WORLD_SIZE must be an "
                                         "integer .* got 'two'"):
        init_process_group()


@pytest.mark.parametrize("estimator, kwargs, rows, error, match", [
    (Ridge(), {}, 10, TypeError, "fit_ray fits a DeepONetRegressor; got Ridge"),
    (DeepONetRegressor(), {"num_workers": "2"}, 10, ValueError, "num_workers must be an int"),
    (DeepONetRegressor(), {"num_workers": 0}, 10, ValueError, "num_workers must be an int >= 1"),
    (DeepONetRegressor(max_iter=-1), {}, 10, ValueError, "'max_iter' parameter"),
    (DeepONetRegressor(), {}, 5, ValueError, "U has 10 rows but G has 5"),
])
def test_fit_ray_checks_its_call_before_starting_workers(estimator, kwargs, rows, error, match):
    rng = np.random.default_rng(0)
    U, G = rng.normal(size=(10, 4)), rng.normal(size=(rows, 5))
    with pytest.raises(error, match=match):
        fit_ray(estimator, U, G, **kwargs)


def test_ranks_may_differ_in_device_and_n_jobs_not_in_other_settings():
    # the usual data-parallel call gives each rank its own GPU: device=f"cuda:{LOCAL_RANK}"
    from skoperator._distributed import _differences, fingerprint

    rng = np.random.default_rng(0)
    U, G, Y = rng.normal(size=(8, 5)), rng.normal(size=(8, 4)), np.linspace(0, 1, 4)[:, None]

    def found(**params):
        return fingerprint(DeepONetRegressor(coords=Y, **params), U, G, Y)

    assert _differences(found(device="cuda:0", n_jobs=None),
                        found(device="cuda:1", n_jobs=2)) == ""
    assert "max_iter (3 against 4)" in _differences(found(max_iter=3), found(max_iter=4))
