"""The callback protocol and how the training loop calls it.

:class:`BaseCallback` and :class:`ProgressBar` are public through
:mod:`skoperator.callbacks`, which documents the protocol.
"""

import copy
import dataclasses
import inspect
import warnings

from . import _checkpoint
from ._component import Component
from ._progress import ProgressReporter
from ._records import EpochRecord, PolishProgress


class BaseCallback(Component):
    """Protocol of callbacks (see the module docstring); every hook does nothing by default.

    Examples
    --------
    Stop when the training loss is small enough:

    >>> from skoperator import DeepONetRegressor
    >>> from skoperator.callbacks import BaseCallback
    >>> from skoperator.datasets import make_antiderivative
    >>> class StopBelow(BaseCallback):
    ...     def __init__(self, threshold=1e-3):
    ...         self.threshold = threshold
    ...     def on_epoch_end(self, record, info):
    ...         return record["train_loss"] < self.threshold
    >>> U, Y, G = make_antiderivative(100, n_points=20, random_state=0)
    >>> est = DeepONetRegressor(coords=Y, callbacks=[StopBelow(1.0)], random_state=0)
    >>> est.fit(U, G).stopping_reason_
    'callback'
    """

    def on_fit_start(self, info):
        """Called once the fit is planned, before the first step (and after a resume)."""

    def on_epoch_end(self, record, info):
        """Called after every epoch (and after the L-BFGS polish) with its record.

        Returns
        -------
        stop : bool
            True ends the fit after this epoch (``stopping_reason_``
            "callback"); ignored after the polish.
        """
        return False

    def on_polish_progress(self, event, info):
        """Called as the L-BFGS polish is announced and as its iterations run."""

    def on_preempt(self, info):
        """Called when a preemption signal stops the fit, between two steps."""

    def on_fit_end(self, info):
        """Called once when the fit ends, ``info.reason`` saying why (None: it failed)."""


class ProgressBar(BaseCallback):
    """The progress display of ``verbose`` (added for ``verbose > 0``).

    Parameters
    ----------
    verbose : int, default=1
        1 a progress bar over epochs (tqdm when installed) with the loss,
        validation score and time left; 2 one log line per epoch.

    Examples
    --------
    >>> from skoperator.callbacks import ProgressBar
    >>> ProgressBar(verbose=2)
    ProgressBar(verbose=2)
    """

    _parameter_constraints = {"verbose": ["verbose"]}

    def __init__(self, verbose=1):
        self.verbose = verbose

    @property
    def shows_time_left(self):
        return self.verbose > 0

    def on_fit_start(self, info):
        if info.rank == 0:
            self._reporter = ProgressReporter(self.verbose,
                                              info.n_epochs - info.trainer.first_epoch)

    def on_epoch_end(self, record, info):
        if getattr(self, "_reporter", None) is not None:
            self._reporter(record)
        return False

    def on_polish_progress(self, event, info):
        if getattr(self, "_reporter", None) is not None:
            self._reporter(event)

    def on_fit_end(self, info):
        reporter = getattr(self, "_reporter", None)
        if reporter is None:
            return
        if info.reason is None:
            reporter.close_bars()
        else:
            reporter.close(info.reason)


class TrainingInfo:
    """What a callback sees of a running fit (read it; change nothing but through its methods).

    Attributes
    ----------
    estimator : DeepONetRegressor
        The estimator being fitted. Read its settings, not its fitted
        attributes: they are stored after ``on_fit_end`` (so there they
        are still those of before this call, or partly set up for this
        one); the model being trained is ``network``.
    network : torch.nn.Module
        The network being trained.
    history : list of dict
        The records of the epochs so far (as ``history_`` will hold them).
    n_epochs : int
        Epochs planned in this call.
    rank, world_size : int
        This process's rank and the number of ranks (1 without a process group).
    reason : str or None
        At the fit's end: why it ended ("max_iter", "converged", "max_time",
        "callback", "interrupted"); None while it runs, and at the end of a
        fit that failed or was preempted.
    """

    def __init__(self, trainer, estimator):
        self.trainer = trainer
        self.estimator = estimator
        self.reason = None

    @property
    def network(self):
        return self.trainer.network

    @property
    def history(self):
        return [dict(r) if isinstance(r, dict) else dataclasses.asdict(r)
                for r in self.trainer.state.history]

    @property
    def n_epochs(self):
        return self.trainer.plan.n_epochs

    @property
    def rank(self):
        return self.trainer.comm.rank

    @property
    def world_size(self):
        return self.trainer.comm.world_size

    @property
    def resumed(self):
        """Whether the fit resumed from a checkpoint."""
        return self.trainer.resumed

    @property
    def comm(self):
        """The fit's communicator (collectives every rank must call together)."""
        return self.trainer.comm


class CallbackList:
    """The fit's callbacks, called by the training loop as one ``progress``.

    Parameters
    ----------
    callbacks : list of BaseCallback
        Private copies, in order (the progress display first).
    estimator : DeepONetRegressor
        The estimator being fitted.
    """

    def __init__(self, callbacks, estimator):
        self.callbacks = list(callbacks)
        self.estimator = estimator
        self.info = None

    @property
    def shows_time_left(self):
        """Whether a callback shows the time left (then the polish's cost is estimated)."""
        return any(getattr(cb, "shows_time_left", False) for cb in self.callbacks)

    def start(self, trainer):
        """``on_fit_start`` of every callback (a :class:`Checkpoint` may resume here)."""
        self.info = TrainingInfo(trainer, self.estimator)
        for cb in self.callbacks:
            cb.on_fit_start(self.info)

    def __call__(self, record):
        """An epoch's record (returns whether a callback stops the fit) or a polish event."""
        if isinstance(record, PolishProgress):
            for cb in self.callbacks:
                cb.on_polish_progress(record, self.info)
            return False
        entry = dataclasses.asdict(record) if isinstance(record, EpochRecord) else record
        stops = [bool(cb.on_epoch_end(dict(entry), self.info)) for cb in self.callbacks]
        return any(stops)

    def preempted(self, trainer):
        """A preemption signal arrived: ``on_preempt`` of every callback."""
        for cb in self.callbacks:
            cb.on_preempt(self.info)

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        self.close(None, failed=error)  # a fit that failed (a no-op after close(reason))

    def close(self, reason, failed=None):
        """``on_fit_end`` of every callback, once; ``reason`` None for a failed fit.

        Every callback's ``on_fit_end`` runs (its handlers, writers and
        threads released) even when an earlier one raises; then the first
        such error is raised, unless the fit itself failed with ``failed``
        (which goes on, the callbacks' errors a warning).
        """
        if self.info is None or getattr(self.info, "closed", False):
            return
        self.info.reason = reason
        self.info.closed = True
        errors = []
        for i, cb in enumerate(self.callbacks):
            try:
                cb.on_fit_end(self.info)
            except Exception as exc:  # the others still end
                errors.append((i, cb, exc))
        if errors and failed is None:
            raise errors[0][2]
        for i, cb, exc in errors:
            warnings.warn(f"{type(cb).__name__}.on_fit_end raised {exc!r} while the fit "
                          f"ended on {failed!r}", RuntimeWarning, stacklevel=2)


def fit_callbacks(est):
    """The fit's callbacks: the progress display of ``verbose``, then copies of ``callbacks``.

    Each is checked (``ValueError`` naming the bad setting) before anything
    of the estimator changes.
    """
    from_verbose = [ProgressBar(est.verbose)]  # silent for verbose=0
    given = list(est.callbacks or ())
    for i, cb in enumerate(given):
        if isinstance(cb, type):
            raise TypeError(f"callbacks[{i}] is the class {cb.__name__}; pass an instance, "
                            f"such as {cb.__name__}().")
        if not all(hasattr(cb, hook) for hook in _HOOKS):
            raise TypeError(
                f"callbacks[{i}] = {cb!r} is not a callback: expected an object with the "
                f"methods {', '.join(_HOOKS)}, such as a subclass of "
                "skoperator.callbacks.BaseCallback.")
    resumers = [cb for cb in given if hasattr(cb, "latest")]
    if len(resumers) > 1:
        raise ValueError(f"callbacks holds {len(resumers)} checkpoint writers; pass one "
                         "Checkpoint (a fit resumes from one directory).")
    return from_verbose + [_private_copy(i, cb) for i, cb in enumerate(given)]


def _private_copy(i, cb):
    """The fit's checked copy of ``callbacks[i]``."""
    try:
        copy_ = copy.deepcopy(cb)
        return copy_.check() if hasattr(copy_, "check") else copy_
    except AttributeError as exc:  # get_params of a constructor that renames its arguments
        if getattr(exc, "name", None) not in inspect.signature(type(cb).__init__).parameters:
            raise
        raise TypeError(
            f"callbacks[{i}] = {type(cb).__name__}: {exc}. A callback follows scikit-learn's "
            "constructor rule: every __init__ argument is stored, unchanged, under its own "
            "name (def __init__(self, threshold): self.threshold = threshold).") from exc


_HOOKS = ("on_fit_start", "on_epoch_end", "on_polish_progress", "on_preempt", "on_fit_end")


@dataclasses.dataclass
class ResumePoint:
    """Where a fit starts: the fingerprint its checkpoints carry, and the checkpoint to resume."""

    fingerprint: dict = None
    path: object = None
    document: dict = None
    tensors: dict = None

    @property
    def seed(self):
        return None if self.document is None else int(self.document["seed"])

    def apply(self, trainer):
        """Give ``trainer`` the fingerprint, and the checkpoint's state when resuming."""
        trainer.fingerprint = self.fingerprint
        trainer.resumed = self.document is not None
        if self.document is not None:
            _checkpoint.load_into(trainer, self.document, self.tensors)


def resume_point(callbacks, est, U, G, coords, incremental):
    """The checkpoint a fit resumes from (``partial_fit`` never resumes), checked."""
    writers = [cb for cb in callbacks if hasattr(cb, "latest")]
    if not writers:
        return ResumePoint()
    point = ResumePoint(_checkpoint.fit_fingerprint(est, U, G, coords))
    point.fingerprint["incremental"] = bool(incremental)  # a later fit never resumes these
    path = None if incremental else writers[0].latest()
    if path is not None:
        document, tensors = _checkpoint.read(path)
        if _checkpoint.check_fingerprint(path, document, point.fingerprint):
            point.path, point.document, point.tensors = path, document, tensors
    return point
