"""Checkpoints, exact resume, preemption signals and the callback protocol."""

import csv
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
import torch
from sklearn.base import clone

import skoperator.io
from skoperator import _checkpoint
from skoperator.callbacks import (
    PREEMPTED,
    BaseCallback,
    Checkpoint,
    CSVLogger,
    Preempted,
    TensorBoard,
)
from skoperator.uncertainty import EnsembleRegressor

sys.path.insert(0, str(Path(__file__).parent))
import checkpoint_worker as worker  # noqa: E402

WORKER = str(Path(__file__).parent / "checkpoint_worker.py")


def _weights(est):
    return est.network_.state_dict()


def _same_weights(a, b):
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def _losses(est):
    return [(h["epoch"], h["train_loss"], h["valid_score"], h["learning_rate"])
            for h in est.history_]


def _interrupted(name, directory, sig, step, tmp_path):
    """Run the worker's fit in a subprocess that sends itself ``sig`` at ``step``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(skoperator.io.__file__).parents[1]),
                                          os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, WORKER, name, str(directory), sig, str(step),
                           str(tmp_path / "out.pt")], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("name, sig, step", [("antiderivative", "SIGKILL", 13),
                                             ("antiderivative", "SIGKILL", 27),
                                             ("fno", "SIGKILL", 8),
                                             ("antiderivative", "SIGTERM", 9),
                                             ("fno", "SIGTERM", 14),
                                             ("pod", "SIGKILL", 11),
                                             ("pod", "SIGTERM", 17)])
def test_a_killed_fit_resumes_to_the_same_weights_bit_for_bit(tmp_path, name, sig, step):
    worker.InterruptingSampler.steps_here = 0
    U, G, reference = worker.estimator(name)
    reference.fit(U, G)
    total = worker.InterruptingSampler.steps_here
    if name == "pod":  # every step through the Gram path (the loss counts them)
        assert total == reference.n_iter_ * 8  # 120 functions, batches of 16
    directory = tmp_path / "ckpt"
    run = _interrupted(name, directory, sig, step, tmp_path)
    expected = -signal.SIGKILL if sig == "SIGKILL" else PREEMPTED
    assert run.returncode == expected, run.stderr[-2000:]
    files = _checkpoint.checkpoints(directory)
    assert files, "no checkpoint written before the kill"
    if sig == "SIGTERM":  # written after the signalled step, in the middle of its epoch
        document, _ = _checkpoint.read(files[-1])
        assert document["step_count"] == step and document["current"] is not None

    worker.InterruptingSampler.steps_here = 0
    U, G, resumed = worker.estimator(name, directory)
    resumed.fit(U, G)
    assert 0 < worker.InterruptingSampler.steps_here < total  # it resumed, not restarted
    assert _same_weights(resumed, reference)
    assert _losses(resumed) == _losses(reference)
    assert resumed.n_iter_ == reference.n_iter_
    np.testing.assert_array_equal(resumed.predict(U[:5]), reference.predict(U[:5]))


def test_sigterm_raises_preempted_in_process_and_leaves_the_estimator_unchanged(tmp_path,
                                                                                 monkeypatch):
    monkeypatch.setenv("SKOP_INTERRUPT", "SIGTERM:4")
    before = signal.getsignal(signal.SIGTERM)
    U, G, est = worker.estimator("antiderivative", tmp_path)
    with pytest.raises(Preempted) as info:
        est.fit(U, G)
    assert info.value.code == PREEMPTED == 75 and info.value.signum == signal.SIGTERM
    assert not hasattr(est, "network_")
    assert signal.getsignal(signal.SIGTERM) is before  # the fit's handler is removed


def test_a_crash_mid_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    U, G, est = worker.estimator("antiderivative", tmp_path)
    calls = []
    save = _checkpoint.save_tensors

    def failing(tensors):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return save(tensors)

    monkeypatch.setattr(_checkpoint, "save_tensors", failing)
    with pytest.raises(OSError, match="disk full"):
        est.fit(U, G)
    files = _checkpoint.checkpoints(tmp_path)
    assert [f.name for f in files] == ["checkpoint-000000001.skc", "checkpoint-000000002.skc"]
    document, _ = _checkpoint.read(files[-1])
    assert document["first_epoch"] == 2
    assert [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # the partial one
    monkeypatch.setattr(_checkpoint, "save_tensors", save)
    _, _, reference = worker.estimator("antiderivative")
    est.fit(U, G)  # resumes from epoch 2; the stray partial file is ignored
    assert _same_weights(est, reference.fit(U, G))


def test_keep_counts_and_every_epochs(tmp_path):
    U, G, est = worker.estimator("antiderivative")
    est.set_params(callbacks=[Checkpoint(tmp_path, every_epochs=2, keep=1)]).fit(U, G)
    files = _checkpoint.checkpoints(tmp_path)
    assert len(files) == 1
    document, _ = _checkpoint.read(files[0])
    assert document["finished"] == "max_iter"  # the last one: the fit's end
    numbers = [int(f.name[11:20]) for f in files]
    assert numbers == [3]  # epochs 2 and 4, then the end; the older ones deleted


def test_a_finished_checkpoint_gives_the_model_back_without_training(tmp_path):
    U, G, est = worker.estimator("antiderivative", tmp_path)
    est.fit(U, G)
    worker.InterruptingSampler.steps_here = 0
    _, _, again = worker.estimator("antiderivative", tmp_path)
    again.fit(U, G)
    assert worker.InterruptingSampler.steps_here == 0
    assert _same_weights(again, est) and _losses(again) == _losses(est)
    assert again.stopping_reason_ == est.stopping_reason_


def test_resume_refuses_the_checkpoint_of_another_fit(tmp_path):
    U, G, est = worker.estimator("antiderivative", tmp_path)
    est.fit(U, G)
    other = clone(est).set_params(max_iter=7)
    with pytest.raises(ValueError, match=r"another fit: max_iter \(\d+ in the checkpoint, "
                                         r"7 now\) differ.*resume=False"):
        other.fit(U, G)
    assert not hasattr(other, "network_")
    with pytest.raises(ValueError, match=r"another fit: G \(its shape or values\) differ"):
        clone(est).fit(U, G + 1.0)
    fresh = clone(est).set_params(callbacks=[Checkpoint(tmp_path, resume=False)])
    assert fresh.fit(U, G).n_iter_ == est.n_iter_


def test_a_damaged_checkpoint_is_named(tmp_path):
    (tmp_path / "checkpoint-000000001.skc").write_bytes(b"not a zip")
    U, G, est = worker.estimator("antiderivative", tmp_path)
    with pytest.raises(ValueError, match="checkpoint-000000001.skc is not a readable"):
        est.fit(U, G)


def test_checkpoint_settings_are_checked():
    U, G, est = worker.estimator("antiderivative")
    with pytest.raises(ValueError, match="every_epochs"):
        est.set_params(callbacks=[Checkpoint("x", every_epochs=0)]).fit(U, G)
    with pytest.raises(ValueError, match="'SIGNOPE' is not a signal"):
        est.set_params(callbacks=[Checkpoint("x", signals=("SIGNOPE",))]).fit(U, G)
    with pytest.raises(ValueError, match="one Checkpoint"):
        est.set_params(callbacks=[Checkpoint("x"), Checkpoint("y")]).fit(U, G)
    with pytest.raises(TypeError, match=r"callbacks\[0\] = 3 is not a callback"):
        est.set_params(callbacks=[3]).fit(U, G)
    assert not hasattr(est, "network_")


# ------------------------------------------------------------------ callbacks
class Recorder(BaseCallback):
    def __init__(self, stop_at=None):
        self.stop_at = stop_at

    def on_fit_start(self, info):
        self.events_ = [("start", info.n_epochs, len(info.history))]

    def on_epoch_end(self, record, info):
        self.events_.append(("epoch", record["epoch"], record["solver"]))
        type(self).last = self.events_
        return record["epoch"] == self.stop_at

    def on_fit_end(self, info):
        self.events_.append(("end", info.reason))


def test_callbacks_are_called_in_order_on_private_copies_and_can_stop():
    U, G, est = worker.estimator("antiderivative")
    recorder = Recorder(stop_at=3)
    est.set_params(callbacks=[recorder]).fit(U, G)
    assert est.stopping_reason_ == "callback" and est.n_iter_ == 3
    assert Recorder.last == [("start", 5, 0), ("epoch", 1, "adam"), ("epoch", 2, "adam"),
                             ("epoch", 3, "adam"), ("end", "callback")]
    assert not hasattr(recorder, "events_")  # the estimator's copy, not the user's object
    assert est.get_params()["callbacks"] == [recorder]
    assert clone(est).get_params()["callbacks"][0].stop_at == 3
    pickle.loads(pickle.dumps(est))


def test_csv_logger_writes_every_epoch_once_also_after_a_resume(tmp_path, monkeypatch):
    path = tmp_path / "log.csv"
    U, G, reference = worker.estimator("antiderivative")
    reference.set_params(callbacks=[CSVLogger(path)]).fit(U, G)
    rows = list(csv.DictReader(open(path)))
    assert [float(r["train_loss"]) for r in rows] == [h["train_loss"]
                                                      for h in reference.history_]
    monkeypatch.setenv("SKOP_INTERRUPT", "SIGTERM:20")
    U, G, est = worker.estimator("antiderivative", tmp_path / "ckpt")
    est.set_params(callbacks=[Checkpoint(tmp_path / "ckpt"), CSVLogger(path)])
    with pytest.raises(Preempted):
        est.fit(U, G)
    monkeypatch.delenv("SKOP_INTERRUPT")
    est.fit(U, G)
    assert [float(r["train_loss"]) for r in csv.DictReader(open(path))] == \
        [h["train_loss"] for h in reference.history_]


def test_csv_logger_holds_every_epoch_of_a_warm_start_and_of_partial_fit(tmp_path):
    U, G, est = worker.estimator("antiderivative")
    est.set_params(callbacks=[CSVLogger(tmp_path / "a.csv")], warm_start=True, max_iter=2)
    est.fit(U, G)
    est.fit(U, G)
    rows = list(csv.DictReader(open(tmp_path / "a.csv")))
    assert [int(r["epoch"]) for r in rows] == [h["epoch"] for h in est.history_] == [1, 2, 3, 4]
    est = clone(est).set_params(callbacks=[CSVLogger(tmp_path / "b.csv")])
    for _ in range(3):
        est.partial_fit(U, G)
    rows = list(csv.DictReader(open(tmp_path / "b.csv")))
    assert [float(r["train_loss"]) for r in rows] == [h["train_loss"] for h in est.history_]
    assert len(rows) == 3
    # another fit's file at the path, or one whose last row was cut, is rewritten
    (tmp_path / "b.csv").write_text("epoch,train_loss\n3,0.5\n")
    est.partial_fit(U, G)
    rows = list(csv.DictReader(open(tmp_path / "b.csv")))
    assert [float(r["train_loss"]) for r in rows] == [h["train_loss"] for h in est.history_]
    text = open(tmp_path / "b.csv", newline="").read()
    (tmp_path / "b.csv").write_text(text.rstrip("\r\n"), newline="")
    est.partial_fit(U, G)
    rows = list(csv.DictReader(open(tmp_path / "b.csv")))
    assert [float(r["train_loss"]) for r in rows] == [h["train_loss"] for h in est.history_]


class _EndRaises(BaseCallback):
    def on_fit_end(self, info):
        raise RuntimeError("end raises")


class _EpochRaises(BaseCallback):
    def on_epoch_end(self, record, info):
        raise RuntimeError("epoch raises")


def test_every_on_fit_end_runs_when_one_raises(tmp_path):
    U, G, est = worker.estimator("antiderivative")
    before = signal.getsignal(signal.SIGTERM)
    est.set_params(callbacks=[_EndRaises(), Checkpoint(tmp_path / "ckpt")])
    with pytest.raises(RuntimeError, match="end raises"):
        est.fit(U, G)
    assert signal.getsignal(signal.SIGTERM) is before  # the Checkpoint's handler is gone
    assert not hasattr(est, "network_")
    # the fit's own error is the one raised; the callback's is a warning
    est.set_params(callbacks=[_EpochRaises(), _EndRaises()])
    with pytest.warns(RuntimeWarning, match="_EndRaises.on_fit_end raised"), \
            pytest.raises(RuntimeError, match="epoch raises"):
        est.fit(U, G)


class _Renames(BaseCallback):
    def __init__(self, threshold=1.0):
        self.t = threshold


def test_callback_paths_and_mistakes_are_named_before_anything_is_written(tmp_path):
    U, G, est = worker.estimator("antiderivative")
    (tmp_path / "file").write_text("")
    cases = [
        ([TensorBoard(tmp_path / "tb"), CSVLogger(tmp_path)],
         ValueError, r"CSVLogger\(path=.*got a directory"),
        ([CSVLogger(tmp_path / "missing" / "x.csv")], ValueError,
         "a directory that does not exist; pass a file name"),
        ([TensorBoard(tmp_path / "file")], ValueError, r"TensorBoard\(log_dir=.*existing file"),
        ([Checkpoint(tmp_path / "file")], ValueError, r"Checkpoint\(directory=.*existing file"),
        ([CSVLogger], TypeError, r"callbacks\[0\] is the class CSVLogger; pass an instance"),
        ([_Renames()], TypeError, r"callbacks\[0\] = _Renames: .*constructor rule"),
    ]
    for callbacks, error, match in cases:
        with pytest.raises(error, match=match):
            est.set_params(callbacks=callbacks).fit(U, G)
    assert not (tmp_path / "tb").exists()
    assert not hasattr(est, "network_")


def test_path_like_callback_settings_are_accepted_and_saved(tmp_path):
    U, G, est = worker.estimator("antiderivative")
    est.set_params(callbacks=[CSVLogger(PurePosixPath(tmp_path / "log.csv"))]).fit(U, G)
    assert len(list(csv.DictReader(open(tmp_path / "log.csv")))) == len(est.history_)
    skoperator.io.dump(est, tmp_path / "m.skop", trusted_types=[worker.InterruptingSampler])
    back = skoperator.io.load(tmp_path / "m.skop", trusted_types=[worker.InterruptingSampler])
    assert back.callbacks[0].path == Path(tmp_path / "log.csv")


def test_tensorboard_log_is_read_back_by_its_event_reader(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    U, G, est = worker.estimator("antiderivative")
    est.set_params(callbacks=[TensorBoard(tmp_path)]).fit(U, G)
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    train = [(e.step, e.value) for e in events.Scalars("loss/train")]
    valid = [(e.step, e.value) for e in events.Scalars("score/validation")]
    assert [s for s, _ in train] == [1, 2, 3, 4, 5]
    np.testing.assert_allclose([v for _, v in train],
                               [h["train_loss"] for h in est.history_], rtol=1e-6)
    np.testing.assert_allclose([v for _, v in valid],
                               [h["valid_score"] for h in est.history_], rtol=1e-6)


def test_callbacks_and_optimizer_are_saved_by_io(tmp_path):
    U, G, est = worker.estimator("antiderivative", tmp_path / "ckpt")
    est.set_params(callbacks=[Checkpoint(str(tmp_path / "ckpt"), every_epochs=2),
                              CSVLogger(str(tmp_path / "log.csv"))]).fit(U, G)
    skoperator.io.dump(est, tmp_path / "model.skop",
                       trusted_types=[worker.InterruptingSampler])
    back = skoperator.io.load(tmp_path / "model.skop",
                              trusted_types=[worker.InterruptingSampler])
    assert repr(back.get_params()["callbacks"]) == repr(est.get_params()["callbacks"])
    assert repr(back.optimizer) == repr(est.optimizer)
    np.testing.assert_array_equal(back.predict(U[:3]), est.predict(U[:3]))


@pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")
@pytest.mark.parametrize("sig, expected", [("SIGKILL", -signal.SIGKILL), ("SIGTERM", PREEMPTED)])
def test_two_torchrun_ranks_killed_together_resume_exactly(tmp_path, sig, expected):
    def launch(directory, sig, step, out):
        env = {**os.environ, "OMP_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join([str(Path(skoperator.io.__file__).parents[1]),
                                              os.environ.get("PYTHONPATH", "")])}
        return subprocess.run([sys.executable, "-m", "torch.distributed.run",
                               "--nproc_per_node", "2", "--standalone", WORKER,
                               "antiderivative", str(directory), sig, str(step), str(out)],
                              env=env, capture_output=True, text=True, timeout=300)

    whole = launch("-", "-", 0, tmp_path / "whole.pt")
    assert whole.returncode == 0, whole.stderr[-3000:]
    directory = tmp_path / "ckpt"
    killed = launch(directory, sig, 8, tmp_path / "killed.pt")
    report = killed.stdout[-3000:] + killed.stderr[-3000:]
    assert killed.returncode != 0 and not (tmp_path / "killed.pt").exists(), report
    assert f"exitcode  : {expected}" in killed.stderr, report
    assert "terminate called" not in killed.stderr, report  # no abort in gloo's teardown
    assert _checkpoint.checkpoints(directory), report
    resumed = launch(directory, "-", 0, tmp_path / "resumed.pt")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = torch.load(tmp_path / "whole.pt"), torch.load(tmp_path / "resumed.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    np.testing.assert_array_equal(np.load(tmp_path / "whole.pt.loss.npy"),
                                  np.load(tmp_path / "resumed.pt.loss.npy"))


def test_checkpoints_by_time_only(tmp_path):
    U, G, est = worker.estimator("antiderivative")
    est.set_params(callbacks=[Checkpoint(tmp_path, every_epochs=None, every_seconds=3600,
                                         keep=10)]).fit(U, G)
    assert len(_checkpoint.checkpoints(tmp_path)) == 1  # the fit's end only: an hour not up
    est.set_params(callbacks=[Checkpoint(tmp_path / "often", every_epochs=None,
                                         every_seconds=1e-9, keep=10)]).fit(U, G)
    assert len(_checkpoint.checkpoints(tmp_path / "often")) == 5 + 1  # every epoch, the end


def test_warm_start_calls_continue_and_resume_their_own_checkpoints(tmp_path, monkeypatch):
    U, G, est = worker.estimator("antiderivative", tmp_path, warm_start=True)
    _, _, reference = worker.estimator("antiderivative", warm_start=True)
    est.fit(U, G)
    reference.fit(U, G).fit(U, G)
    est.fit(U, G)  # a second call trains 5 more epochs (the first call's checkpoints are done)
    assert est.n_iter_ == 10 and _same_weights(est, reference)
    third = clone(reference).set_params(callbacks=[Checkpoint(tmp_path / "third")])
    third.fit(U, G)
    monkeypatch.setenv("SKOP_INTERRUPT", "SIGTERM:10")  # the second call's 10th step
    with pytest.raises(Preempted):
        third.fit(U, G)
    monkeypatch.delenv("SKOP_INTERRUPT")
    assert third.n_iter_ == 5  # the failed call changed nothing
    third.fit(U, G)  # resumes the second call from its checkpoint
    assert third.n_iter_ == 10 and _same_weights(third, reference)


def test_a_warm_start_call_with_other_settings_or_data_starts_its_own_checkpoints(tmp_path):
    U, G, est = worker.estimator("antiderivative", tmp_path)
    est.fit(U, G)
    est.set_params(warm_start=True, max_iter=3).fit(U, G)  # the first call's checkpoint is old
    assert est.n_iter_ == 8
    est.fit(U[:30], G[:30])  # other data, a later call: continues, no refusal
    assert est.n_iter_ == 11


def test_an_ensemble_refuses_a_checkpoint_its_fits_would_share(tmp_path):
    U, G, est = worker.estimator("antiderivative", tmp_path)
    for params in (dict(vectorize=False, n_jobs=1), dict(vectorize="auto", n_jobs=2)):
        ensemble = EnsembleRegressor(est, n_estimators=2, random_state=0, **params)
        with pytest.raises(ValueError, match=r"trains its members as 2 fits, and one "
                                             "Checkpoint directory holds the checkpoints of "
                                             "one fit"):
            ensemble.fit(U, G)
    assert not list(Path(tmp_path).glob("*.skc"))  # refused before any member trained


def test_a_model_with_callbacks_loads_in_a_fresh_process(tmp_path):
    U, G, est = worker.estimator("antiderivative")
    est.set_params(sampling="random", callbacks=[CSVLogger(str(tmp_path / "log.csv"))])
    skoperator.io.dump(est.fit(U, G), tmp_path / "model.skop")
    code = ("import skoperator.io; m = skoperator.io.load(r'%s'); "
            "print(type(m.callbacks[0]).__name__)" % (tmp_path / "model.skop"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": str(
                             Path(skoperator.io.__file__).parents[1])})
    assert out.stdout.strip() == "CSVLogger", out.stderr[-2000:]


# ---------------------------------------------------------------- review fixes (0.4.0)
def _small(directory=None, callbacks=(), **params):
    """A 4-step-per-epoch antiderivative fit, checkpointed into ``directory``."""
    from skoperator import DeepONetRegressor
    from skoperator.datasets import make_antiderivative
    from skoperator.networks import MLPBranch, MLPTrunk
    U, Y, G = make_antiderivative(64, n_points=20, random_state=0)
    base = dict(coords=Y, n_eval=6, batch_size=16, max_iter=6, n_basis=8,
                branch=MLPBranch(layers=(16,)), trunk=MLPTrunk(layers=(16,)), tol=None,
                device="cpu", random_state=0)
    base.update(params)
    callbacks = list(callbacks) + ([Checkpoint(directory)] if directory else [])
    return U, Y, G, DeepONetRegressor(**base, callbacks=callbacks or None)


class _CrashAfter(BaseCallback):
    """Raises at the end of epoch ``epoch`` (once), or at the polish's first round."""

    def __init__(self, epoch=None, in_polish=False):
        self.epoch = epoch
        self.in_polish = in_polish

    def on_epoch_end(self, record, info):
        if record["epoch"] == self.epoch and not getattr(self, "done", False):
            self.done = True
            raise RuntimeError("crash")
        return False

    def on_polish_progress(self, event, info):
        if self.in_polish and event.running and not getattr(self, "done", False):
            self.done = True
            raise RuntimeError("crash")


def _antiderivative_residual(y, s, u, d):
    return d(s, 0) - u


@pytest.mark.parametrize("sampling", ["random", "fixed"])
def test_a_physics_fit_resumes_exactly(tmp_path, sampling):
    # the physics term's sampler was saved as its settings only: resuming crashed
    from skoperator.physics import PDEResidual

    def physics():
        return PDEResidual(_antiderivative_residual, sensors=Y[:, 0], n_points=8,
                           sampling=sampling)

    U, Y, G, _ = _small()
    _, _, _, ref = _small(max_iter=4, physics=physics())
    ref.fit(U, G)
    _, _, _, first = _small(tmp_path, callbacks=[_CrashAfter(epoch=2)], max_iter=4,
                            physics=physics())
    with pytest.raises(RuntimeError, match="crash"):
        first.fit(U, G)
    _, _, _, resumed = _small(tmp_path, max_iter=4, physics=physics())
    resumed.fit(U, G)
    assert _same_weights(resumed, ref)
    assert resumed.physics_.sampler_.n_eval_ == ref.physics_.sampler_.n_eval_


def test_partial_fit_checkpoints_are_not_resumed_by_fit(tmp_path):
    U, _, G, est = _small(tmp_path)
    for _ in range(3):
        est.partial_fit(U, G)
    est.fit(U, G)
    assert est.n_iter_ == 6 and est.stopping_reason_ == "max_iter"


def test_an_early_stop_is_kept_when_the_polish_crashes(tmp_path):
    from skoperator.optimizers import LBFGS, Adam
    params = dict(max_iter=30, early_stopping=True, validation_fraction=0.25,
                  n_iter_no_change=2, tol=0.5, optimizer=Adam(polish=LBFGS(max_iter=3)))
    U, _, G, ref = _small(**params)
    ref.fit(U, G)
    assert ref.stopping_reason_ == "converged"
    _, _, _, first = _small(tmp_path, callbacks=[_CrashAfter(in_polish=True)], **params)
    with pytest.raises(RuntimeError, match="crash"):
        first.fit(U, G)
    _, _, _, resumed = _small(tmp_path, **params)
    resumed.fit(U, G)
    assert [h["solver"] for h in resumed.history_] == [h["solver"] for h in ref.history_]
    assert resumed.stopping_reason_ == "converged" and _same_weights(resumed, ref)


def _vanish_at_0(y, g):
    return g * y[:, 0]


def _shift_by_one(y, g):
    return g + 1.0


def test_the_fingerprint_tells_functions_and_modules_apart(tmp_path):
    U, _, G, est = _small(tmp_path, max_iter=2, output_transform=_vanish_at_0)
    est.fit(U, G)
    _, _, _, other = _small(tmp_path, max_iter=2, output_transform=_shift_by_one)
    with pytest.raises(ValueError, match="output_transform .*_vanish_at_0' in the checkpoint"):
        other.fit(U, G)
    modules = tmp_path / "modules"
    _, _, _, tanh = _small(modules, max_iter=2, branch=torch.nn.Sequential(
        torch.nn.Linear(20, 16), torch.nn.Tanh(), torch.nn.Linear(16, 8)))
    tanh.fit(U, G)
    _, _, _, relu = _small(modules, max_iter=2, branch=torch.nn.Sequential(
        torch.nn.Linear(20, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8)))
    with pytest.raises(ValueError, match="another fit: branch"):
        relu.fit(U, G)


def test_a_small_memmap_is_compared_whole(tmp_path):
    U, _, G, est = _small(tmp_path / "ckpt", max_iter=2)
    G_map = np.lib.format.open_memmap(tmp_path / "G.npy", mode="w+", dtype=G.dtype,
                                      shape=G.shape)
    G_map[:] = G
    est.fit(U, G_map)
    G_map[1:3] += 100.0  # rows between the 64 a sampled fingerprint reads
    with pytest.raises(ValueError, match=r"another fit: G \(its shape or values\)"):
        clone(est).fit(U, G_map)


def test_the_same_g_in_another_storage_is_named_as_such(tmp_path):
    # An in-memory G is hashed whole, an HDF5 one on 64 rows: resuming with the
    # same values in the other storage was refused as "its shape or values".
    h5py = pytest.importorskip("h5py")
    from skoperator import DeepONetRegressor
    from skoperator.datasets import make_antiderivative

    U, Y, G = make_antiderivative(100, n_points=10, random_state=0)
    with h5py.File(tmp_path / "G.h5", "w") as f:
        f.create_dataset("G", data=G)
    params = dict(coords=Y, n_eval=4, batch_size=50, max_iter=2, n_basis=4, tol=None,
                  device="cpu", random_state=0)
    with h5py.File(tmp_path / "G.h5", "r") as f:
        DeepONetRegressor(**params, callbacks=[Checkpoint(tmp_path / "ckpt")]).fit(U, f["G"])
    with pytest.raises(ValueError, match=r"another fit: G \(its storage: streamed or larger, "
                                         r"hashed on 64 rows in the checkpoint, an array of at "
                                         r"most 64 MiB, hashed whole now; pass G as"):
        DeepONetRegressor(**params, callbacks=[Checkpoint(tmp_path / "ckpt")]).fit(U, G)
    # 64 rows or fewer are read whole either way: the same fingerprint.
    with h5py.File(tmp_path / "G64.h5", "w") as f:
        f.create_dataset("G", data=G[:64])
    with h5py.File(tmp_path / "G64.h5", "r") as f:
        DeepONetRegressor(**params, callbacks=[Checkpoint(tmp_path / "c64")]).fit(U[:64],
                                                                                 f["G"])
    resumed = DeepONetRegressor(**params, callbacks=[Checkpoint(tmp_path / "c64")]).fit(
        U[:64], G[:64])
    assert resumed.n_iter_ == 2


def test_a_preemption_during_the_polish_stops_the_fit(tmp_path):
    from skoperator.optimizers import LBFGS, Adam

    class TermInPolish(BaseCallback):
        def on_polish_progress(self, event, info):
            if event.running and event.done == 1 and not getattr(self, "sent", False):
                self.sent = True
                os.kill(os.getpid(), signal.SIGTERM)

    params = dict(max_iter=2, optimizer=Adam(polish=LBFGS(max_iter=60)))
    U, _, G, ref = _small(**params)
    ref.fit(U, G)
    _, _, _, first = _small(tmp_path, callbacks=[TermInPolish()], **params)
    with pytest.raises(Preempted):
        first.fit(U, G)
    _, _, _, resumed = _small(tmp_path, **params)
    resumed.fit(U, G)  # the polish again, from the last epoch's checkpoint
    assert _same_weights(resumed, ref)


def test_a_checkpoint_with_damaged_weights_or_state_is_named(tmp_path):
    import zipfile
    U, _, G, est = _small(tmp_path, max_iter=1)
    est.fit(U, G)
    path = _checkpoint.checkpoints(tmp_path)[-1]
    with zipfile.ZipFile(path) as archive:
        state = archive.read("state.json")
    for weights in (b"garbage", b"\x08\x00\x00\x00\x00\x00\x00\x00{}"):
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("state.json", state)
            archive.writestr("weights.safetensors", weights)
        with pytest.raises(ValueError, match="is not a readable skoperator checkpoint"):
            clone(est).fit(U, G)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("state.json", b"[1, 2]")
        archive.writestr("weights.safetensors", b"")
    with pytest.raises(ValueError, match="not a skoperator checkpoint|not a readable"):
        clone(est).fit(U, G)


@pytest.mark.parametrize("name", ["SIGKILL", "SIG_IGN", "NSIG", "SIGSTOP"])
def test_checkpoint_refuses_signals_no_handler_can_catch(tmp_path, name):
    with pytest.raises(ValueError, match="that a handler can catch"):
        Checkpoint(tmp_path, signals=(name,)).check()


def test_a_resumed_epoch_counts_the_seconds_before_the_preemption(tmp_path, monkeypatch):
    from skoperator import _training
    step, calls = _training.Trainer._step, {"n": 0, "at": 3}

    def slow_step(self):  # 4 steps of at least 0.2 s: the epoch lasts at least 0.8 s
        time.sleep(0.2)
        step(self)
        calls["n"] += 1
        if calls["n"] == calls["at"]:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(_training.Trainer, "_step", slow_step)
    U, _, G, first = _small(tmp_path, max_iter=1)
    with pytest.raises(Preempted):
        first.fit(U, G)
    calls["at"] = None
    _, _, _, resumed = _small(tmp_path, max_iter=1)
    resumed.fit(U, G)
    assert resumed.history_[0]["seconds"] >= 0.75  # 3 steps before, 1 after
