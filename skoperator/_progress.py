"""Progress reporting: the one place that turns ``verbose`` into output.

``verbose=0`` is silent; ``verbose=1`` shows a progress bar over epochs
(tqdm when installed, otherwise a log line every tenth of the run) with the
training loss, the validation score and the time left, then a second bar
over the L-BFGS polish's iterations; ``verbose>=2`` logs one line per epoch
and a line every tenth of the polish. The time left counts the polish (its
cost per iteration is estimated before the epochs). Messages go through the
``"skoperator"`` logger when logging is configured to show them (a handler
at INFO or below), else straight to standard error; the logger's level and
handlers are never changed, so that concurrent fits do not race.
"""

import contextlib
import logging
import sys
import time

from ._records import PolishProgress

logger = logging.getLogger("skoperator")

try:  # pragma: no cover - depends on the environment
    from tqdm.auto import tqdm
except ImportError:  # pragma: no cover
    tqdm = None


def _describe(record):
    if record.get("solver") == "lbfgs":
        iterations = record.get("lbfgs_iter") or 0
        text = (f"L-BFGS polish, {iterations} iteration{'s' * (iterations != 1)}: "
                f"loss {record['train_loss']:.4g}")
    else:
        text = f"epoch {record['epoch']}: loss {record['train_loss']:.4g}"
    if record["valid_score"] is not None:
        text += f", validation R2 {record['valid_score']:.4f}"
    return text + f", {record['seconds']:.2f} s"


def _emit(message):
    """One line of progress: the logger when it shows INFO, else standard error."""
    if _logging_shows_info():
        logger.info(message)
    else:
        sys.stderr.write(f"[skoperator] {message}\n")


def _logging_shows_info():
    """Whether an INFO record of ``logger`` reaches a handler at INFO or below."""
    if not logger.isEnabledFor(logging.INFO):
        return False
    node = logger
    while node is not None:
        if any(handler.level <= logging.INFO for handler in node.handlers):
            return True
        if not node.propagate:
            return False
        node = node.parent
    return False


def _clock(seconds):
    """``mm:ss`` (or ``h:mm:ss``) as tqdm writes times."""
    return "?" if seconds is None else tqdm.format_interval(seconds)


def _bar_format(left):
    """tqdm's default layout with the time left computed here (it counts the polish)."""
    return "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<" + _clock(left) + "{postfix}]"


class ProgressReporter:
    """Report training progress according to ``verbose``.

    Called with each epoch's record, with
    :class:`~skoperator._records.PolishProgress` events (the polish
    announced before the epochs, then its iterations) and with the polish's
    record.

    Parameters
    ----------
    verbose : int
        0 silent, 1 progress bar, 2 or more one line per epoch.
    n_epochs : int
        Epochs planned in this call.
    """

    def __init__(self, verbose, n_epochs):
        self.verbose = int(verbose)
        self.n_epochs = n_epochs
        self.done = 0  # epochs (the polish is counted in iterations)
        self.start = time.perf_counter()
        self.lbfgs_total = self.lbfgs_done = 0
        self.lbfgs_seconds = None  # estimated seconds per iteration
        self.polish_start = None
        self.bar = self.polish_bar = None
        if self.verbose == 1 and tqdm is not None and n_epochs > 0:
            self.bar = tqdm(total=n_epochs, unit="epoch", file=sys.stderr, leave=True,
                            desc="epochs", bar_format=_bar_format(None))

    @property
    def shows_time_left(self):
        """Whether the display shows the time left (then the polish's cost is estimated)."""
        return self.verbose > 0

    def __call__(self, record):
        if isinstance(record, PolishProgress):
            self._polish(record)
            return
        if not isinstance(record, dict):
            record = vars(record)
        if record.get("solver") == "lbfgs":
            self._polish_done(record)
            return
        self.done += 1
        if self.verbose <= 0:
            return
        left = self.time_left()
        if self.bar is not None:
            self.bar.bar_format = _bar_format(left)
            self.bar.set_postfix(self._postfix(record), refresh=False)
            self.bar.update(1)
            return
        every = 1 if self.verbose >= 2 else max(1, self.n_epochs // 10)
        if self.done % every == 0 or self.done == self.n_epochs:
            _emit(f"{_describe(record)} ({self.done}/{self.n_epochs}, {left:.0f} s left)")

    def time_left(self):
        """Estimated seconds left: the epochs at their mean time, then the polish."""
        now = time.perf_counter()
        if self.polish_start is not None:  # in the polish: at its own pace so far
            per = ((now - self.polish_start) / self.lbfgs_done if self.lbfgs_done
                   else self.lbfgs_seconds or 0.0)
            return per * max(self.lbfgs_total - self.lbfgs_done, 0)
        epochs = (now - self.start) / max(self.done, 1) * max(self.n_epochs - self.done, 0)
        return epochs + self.lbfgs_total * (self.lbfgs_seconds or 0.0)

    @staticmethod
    def _postfix(record):
        postfix = {"loss": f"{record['train_loss']:.4g}"}
        if record["valid_score"] is not None:
            postfix["val_R2"] = f"{record['valid_score']:.4f}"
        return postfix

    def _polish(self, event):
        self.lbfgs_total = event.total
        if not event.running:  # announced before the epochs
            self.lbfgs_seconds = event.seconds_per_iteration
            return
        if self.polish_start is None:
            self.polish_start = time.perf_counter()
            if self.bar is not None:
                self.bar.close()
                self.polish_bar = tqdm(total=event.total, unit="it", file=sys.stderr,
                                       leave=True, desc="L-BFGS",
                                       bar_format=_bar_format(self.time_left()))
        new = event.done - self.lbfgs_done
        self.lbfgs_done = event.done
        if self.verbose <= 0 or new <= 0 and event.done:
            return
        left = self.time_left()
        if self.polish_bar is not None:
            self.polish_bar.bar_format = _bar_format(left)
            self.polish_bar.update(new)
            return
        every = max(1, event.total // 10)
        if event.done % every == 0 or event.done == event.total:
            _emit(f"L-BFGS {event.done}/{event.total} ({left:.0f} s left)")

    def _polish_done(self, record):
        self.lbfgs_done = record.get("lbfgs_iter") or 0  # as the history counts them
        if self.verbose <= 0:
            return
        if self.polish_bar is not None:
            self.polish_bar.bar_format = _bar_format(0.0)
            self.polish_bar.set_postfix(self._postfix(record), refresh=False)
            self.polish_bar.close()
        elif self.bar is None:
            _emit(_describe(record))

    def close_bars(self):
        """Close the bars without a last message (a fit that failed)."""
        for bar in (self.bar, self.polish_bar):
            if bar is not None:
                bar.close()

    def close(self, reason):
        self.close_bars()
        if self.verbose > 0:
            text = f"training stopped after {self.done} epoch{'s' * (self.done != 1)}"
            if self.lbfgs_done:
                text += (f" and {self.lbfgs_done} L-BFGS iteration"
                         f"{'s' * (self.lbfgs_done != 1)}")
            _emit(f"{text}: {reason}")


@contextlib.contextmanager
def reporting(verbose, n_epochs):
    """Yield a ProgressReporter; close its bars however the block ends."""
    reporter = ProgressReporter(verbose, n_epochs)
    try:
        yield reporter
    finally:
        for bar in (reporter.bar, reporter.polish_bar):
            if bar is not None:
                bar.close()
