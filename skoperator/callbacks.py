"""Callbacks as components: the protocol, the progress display, logs and checkpoints.

``DeepONetRegressor(callbacks=[...])`` takes a list of callback objects.
Each subclasses :class:`BaseCallback` and overrides any of::

    on_fit_start(info)
    on_epoch_end(record, info) -> bool   # True stops the fit ("callback")
    on_polish_progress(event, info)
    on_preempt(info)
    on_fit_end(info)

``record`` is the epoch's entry of ``history_`` (a dict); ``info`` a
:class:`~skoperator._callbacks.TrainingInfo` (the estimator, the network,
the history, the rank). A fit works on its own deep copies of the
callbacks, so a search or a clone shares nothing; their settings are
searched as ``callbacks`` (the whole list). With a process group every rank
calls its callbacks; the writers here write on rank 0 only.

Built in: :class:`ProgressBar` (what ``verbose`` shows), :class:`CSVLogger`,
:class:`TensorBoard` (needs the ``tensorboard`` package: ``pip install
'skoperator[tensorboard]'``) and :class:`Checkpoint` (exact resume, and
preemption by SIGTERM or SIGUSR1: the fit writes a checkpoint after its
current step and raises :class:`Preempted`, a ``SystemExit`` with code
:data:`PREEMPTED` = 75).
"""

import csv
import os
import signal
import threading
import time
from numbers import Integral, Real

from . import _checkpoint
from ._callbacks import BaseCallback, ProgressBar
from ._compat import Interval
from ._distributed import communicator
from ._records import PREEMPTED, Preempted

__all__ = ["BaseCallback", "ProgressBar", "CSVLogger", "TensorBoard", "Checkpoint",
           "PREEMPTED", "Preempted"]


class CSVLogger(BaseCallback):
    """Write every epoch's record as a row of a CSV file (rank 0).

    Parameters
    ----------
    path : str or path-like
        The file, in an existing directory; written at the fit's start
        with the epochs of ``history_`` so far (a fit that continues an
        earlier one with ``warm_start`` or ``partial_fit``, or resumes from
        a checkpoint), then a row per epoch: it holds every epoch of
        ``history_`` once.

    Examples
    --------
    >>> from skoperator.callbacks import CSVLogger
    >>> CSVLogger("fit.csv")
    CSVLogger(path='fit.csv')
    """

    _parameter_constraints = {"path": [str, os.PathLike]}
    FIELDS = ("epoch", "train_loss", "valid_score", "seconds", "trunk_evals", "n_eval",
              "learning_rate", "solver", "lbfgs_iter")

    def __init__(self, path):
        self.path = path

    def check(self):
        super().check()
        if communicator().rank != 0:  # only rank 0 writes (its folder may be its own)
            return self
        path = os.fspath(self.path)
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path) or not os.path.isdir(folder):
            got = ("a directory" if os.path.isdir(path)
                   else f"a file in {folder}, a directory that does not exist")
            raise ValueError(f"CSVLogger(path={self.path!r}): expected a file name in an "
                             f"existing directory, got {got}; pass a file name such as "
                             "'fit.csv', or create its directory first.")
        return self

    def on_fit_start(self, info):
        if info.rank != 0:
            return
        history = info.history  # a fit that continues (warm start, partial_fit, resume)
        done = _rows_written(self.path, history)
        with open(self.path, "a" if done else "w", newline="") as handle:
            writer = csv.DictWriter(handle, self.FIELDS)
            if not done:
                writer.writeheader()
            for record in history[done:]:
                writer.writerow({k: record.get(k) for k in self.FIELDS})

    def on_epoch_end(self, record, info):
        if info.rank == 0:
            with open(self.path, "a", newline="") as handle:
                csv.DictWriter(handle, self.FIELDS).writerow(
                    {k: record.get(k) for k in self.FIELDS})
        return False


def _check_directory(component, name):
    """The setting ``name`` of ``component`` may be a directory to create, not a file."""
    value = getattr(component, name)
    if os.path.exists(value) and not os.path.isdir(value):
        raise ValueError(f"{type(component).__name__}({name}={value!r}): expected a directory "
                         "(created when needed), got an existing file; pass another "
                         "directory.")


def _rows_written(path, history):
    """How many records of ``history`` the file at ``path`` already ends with (0: rewrite it).

    An earlier call of the same fit wrote them when the file's last row is
    the record of its epoch in ``history``: the file is appended to, not
    rewritten (``partial_fit`` calls would rewrite it whole every time).
    """
    if not history or not os.path.isfile(path):
        return 0
    with open(path, "rb") as handle:
        handle.seek(max(0, handle.seek(0, os.SEEK_END) - 4096))
        raw = handle.read()
    tail = raw.decode("utf-8", "replace").splitlines()
    try:
        with open(path, newline="") as handle:
            header = next(csv.reader(handle))
        if header != list(CSVLogger.FIELDS) or not raw.endswith(b"\n"):
            return 0  # another file, or a last row cut short
        last = dict(zip(header, next(csv.reader(tail[-1:]))))
        epoch = int(last["epoch"])
        record = history[epoch - 1]
        same = record["epoch"] == epoch and float(last["train_loss"]) == record["train_loss"]
    except (StopIteration, KeyError, ValueError, IndexError, TypeError):
        return 0
    return epoch if same and epoch >= 1 else 0


class TensorBoard(BaseCallback):
    """Log the training loss, validation score and learning rate per epoch for TensorBoard.

    Uses :class:`torch.utils.tensorboard.SummaryWriter` (the ``tensorboard``
    package: ``pip install 'skoperator[tensorboard]'``) on rank 0; scalars
    ``loss/train``, ``score/validation`` (with early stopping),
    ``learning_rate`` and ``n_eval``, against the epoch.

    Parameters
    ----------
    log_dir : str or path-like
        The run's directory (``tensorboard --logdir`` its parent).

    Examples
    --------
    >>> from skoperator.callbacks import TensorBoard
    >>> TensorBoard("runs/heat")
    TensorBoard(log_dir='runs/heat')
    """

    _parameter_constraints = {"log_dir": [str, os.PathLike]}

    def __init__(self, log_dir):
        self.log_dir = log_dir

    def check(self):
        super().check()
        _check_directory(self, "log_dir")
        return self

    def on_fit_start(self, info):
        if info.rank != 0:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise ImportError("TensorBoard(log_dir=...) needs the tensorboard package: pip "
                              "install 'skoperator[tensorboard]'.") from exc
        self._writer = SummaryWriter(log_dir=str(self.log_dir))

    def on_epoch_end(self, record, info):
        writer = getattr(self, "_writer", None)
        if writer is not None:
            step = record["epoch"]
            writer.add_scalar("loss/train", record["train_loss"], step)
            if record.get("valid_score") is not None:
                writer.add_scalar("score/validation", record["valid_score"], step)
            if record.get("learning_rate") is not None:
                writer.add_scalar("learning_rate", record["learning_rate"], step)
            if record.get("n_eval") is not None:
                writer.add_scalar("n_eval", record["n_eval"], step)
            writer.flush()
        return False

    def on_fit_end(self, info):
        writer = getattr(self, "_writer", None)
        if writer is not None:
            writer.close()
            self._writer = None


class Checkpoint(BaseCallback):
    """Write the complete training state regularly; resume a fit exactly from it.

    Every ``every_epochs`` epochs and/or ``every_seconds`` seconds (checked
    at the end of each epoch), at the end of the fit, and when a
    preemption signal arrives (after the current step), rank 0 writes
    ``checkpoint-NNNNNNNNN.skc`` into ``directory``: weights, optimizer
    state, every random generator of every rank, the sampler's, loss's and
    physics term's state, the position in the epoch and in the schedule,
    the stopping state, the history and the time spent against
    ``max_time``. Files are JSON and safetensors in a zip (no pickle),
    written beside and renamed into place: a crash mid-write leaves the
    previous checkpoint intact. The last ``keep`` are kept.

    With ``resume=True`` a fit whose ``directory`` holds a checkpoint of the
    same fit (same data and settings, else ``ValueError``) continues from
    the latest one; on the CPU it ends with the same weights, bit for bit,
    as the fit that was never interrupted (without ``max_time``, whose
    clock is not reproducible). A checkpoint written at the end of a fit
    gives back that fit's model without training again. Under ``torchrun``
    every rank resumes from rank 0's file (a filesystem they share), with
    as many processes as wrote it. ``partial_fit`` calls write checkpoints
    that no later call resumes.

    What "the same data" means: arrays up to 64 MiB are compared whole;
    larger ones, memmaps of more than 64 MiB and streamed datasets (HDF5,
    Zarr, Dask) by 64 of their rows, spread over them, so that the check
    never reads them whole: a change elsewhere in such data goes unseen.
    Other callbacks' own state (counters of a stopping rule) is not in the
    checkpoint: a callback that must resume exactly derives its state
    from ``info.history``, which is.

    Parameters
    ----------
    directory : str or path-like
        Where the checkpoints go (created when needed).
    every_epochs : int or None, default=1
        Write every this many epochs; None: by time only.
    every_seconds : float or None, default=None
        Write when this many seconds have passed since the last write.
    keep : int, default=2
        Checkpoints kept (the oldest are deleted).
    resume : bool, default=True
        Continue from the latest checkpoint of ``directory`` when there is one.
    signals : tuple of str, default=("SIGTERM", "SIGUSR1")
        Preemption signals (SLURM sends SIGTERM, or the signal of
        ``--signal``): on one, the fit finishes its step, writes a
        checkpoint and raises :class:`Preempted` (exit code 75); during the
        L-BFGS polish it stops after the current round of iterations
        without a new checkpoint (the polish is not checkpointed: the
        resumed fit polishes again from the last one). Installed while the
        fit runs, in the main thread only; () installs none.

    Examples
    --------
    >>> from skoperator.callbacks import Checkpoint
    >>> Checkpoint("ckpt", every_epochs=5)
    Checkpoint(directory='ckpt', every_epochs=5)
    """

    #: Capability read by the ensembles: the directory holds one fit's checkpoints.
    one_fit_per_directory = True

    _parameter_constraints = {
        "directory": [str, os.PathLike],
        "every_epochs": [Interval(Integral, 1, None, closed="left"), None],
        "every_seconds": [Interval(Real, 0, None, closed="neither"), None],
        "keep": [Interval(Integral, 1, None, closed="left")],
        "resume": ["boolean"],
        "signals": [tuple, list],
    }

    def __init__(self, directory, every_epochs=1, every_seconds=None, keep=2, resume=True,
                 signals=("SIGTERM", "SIGUSR1")):
        self.directory = directory
        self.every_epochs = every_epochs
        self.every_seconds = every_seconds
        self.keep = keep
        self.resume = resume
        self.signals = signals

    def check(self):
        super().check()
        _check_directory(self, "directory")
        for name in self.signals:
            number = getattr(signal, str(name), None)
            if not isinstance(number, signal.Signals) or str(name).startswith("SIG_") \
                    or number in (getattr(signal, "SIGKILL", None),
                                  getattr(signal, "SIGSTOP", None)):
                raise ValueError(f"Checkpoint(signals={self.signals!r}): {name!r} is not a "
                                 "signal of this platform that a handler can catch; pass "
                                 "names such as 'SIGTERM' or 'SIGUSR1'.")
        return self

    # -- resume (before planning: the seed)
    def latest(self):
        """The latest checkpoint file of ``directory`` to resume from, or None."""
        files = _checkpoint.checkpoints(self.directory) if self.resume else []
        return files[-1] if files else None

    # -- hooks
    def on_fit_start(self, info):
        self._last = time.perf_counter()
        self._handlers = {}
        if threading.current_thread() is not threading.main_thread():
            return
        trainer = info.trainer

        def handler(signum, frame):
            trainer.preempt = signum

        for name in self.signals:
            signum = getattr(signal, name)
            self._handlers[signum] = signal.signal(signum, handler)

    def on_epoch_end(self, record, info):
        if record.get("solver") == "lbfgs":
            return False
        due = self.every_epochs is not None and record["epoch"] % self.every_epochs == 0
        if self.every_seconds is not None:
            due = due or info.comm.from_rank0(
                time.perf_counter() - self._last >= self.every_seconds)
        if due:
            self.save(info)
        return False

    def on_preempt(self, info):
        self.save(info)

    def on_fit_end(self, info):
        for signum, previous in getattr(self, "_handlers", {}).items():
            signal.signal(signum, previous)
        self._handlers = {}
        if info.reason is not None and info.reason != "interrupted":
            self.save(info, finished=info.reason)

    def save(self, info, finished=None):
        """Write a checkpoint of the fit now (every rank calls it: it gathers generators)."""
        document, tensors = _checkpoint.capture(info.trainer, info.trainer.fingerprint,
                                                finished)
        if info.rank == 0:
            _checkpoint.write(self.directory, document, tensors, self.keep)
        if info.comm.world_size > 1:  # no rank goes on (or exits) before the file is there
            info.comm.from_rank0(True)
        self._last = time.perf_counter()
