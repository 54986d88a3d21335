"""Progress reporting: the one place that turns ``verbose`` into output.

``verbose=0`` is silent; ``verbose=1`` shows a progress bar over epochs
(tqdm when installed, otherwise a log line every tenth of the run) with the
training loss, the validation score and the time left; ``verbose>=2`` logs one
line per epoch. Messages go through the ``"skoperator"`` logger when logging is
configured to show them (a handler at INFO or below), else straight to
standard error; the logger's level and handlers are never changed, so that
concurrent fits do not race.
"""

import contextlib
import logging
import sys
import time

logger = logging.getLogger("skoperator")

try:  # pragma: no cover - depends on the environment
    from tqdm.auto import tqdm
except ImportError:  # pragma: no cover
    tqdm = None


def _describe(record):
    what = "L-BFGS" if record.get("solver") == "lbfgs" else "epoch"
    text = f"{what} {record['epoch']}: loss {record['train_loss']:.4g}"
    if record["valid_score"] is not None:
        text += f", validation R2 {record['valid_score']:.4f}"
    return text + f", {record['seconds']:.2f} s"


def _emit(message):
    """One line of progress: the logger when it shows INFO, else standard error."""
    if logger.isEnabledFor(logging.INFO) and logger.hasHandlers():
        logger.info(message)
    else:
        sys.stderr.write(f"[skoperator] {message}\n")


class ProgressReporter:
    """Report training progress according to ``verbose``.

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
        self.done = 0
        self.start = time.perf_counter()
        self.bar = None
        if self.verbose == 1 and tqdm is not None and n_epochs > 0:
            self.bar = tqdm(total=n_epochs, unit="epoch", file=sys.stderr, leave=True)

    def __call__(self, record):
        if not isinstance(record, dict):
            record = vars(record)
        self.done += 1
        if self.verbose <= 0:
            return
        if self.bar is not None:
            postfix = {"loss": f"{record['train_loss']:.4g}"}
            if record["valid_score"] is not None:
                postfix["val_R2"] = f"{record['valid_score']:.4f}"
            self.bar.set_postfix(postfix, refresh=False)
            self.bar.update(1)
            return
        every = 1 if self.verbose >= 2 else max(1, self.n_epochs // 10)
        if self.done % every == 0 or self.done == self.n_epochs:
            elapsed = time.perf_counter() - self.start
            left = elapsed / self.done * max(self.n_epochs - self.done, 0)
            _emit(f"{_describe(record)} ({self.done}/{self.n_epochs}, {left:.0f} s left)")

    def close(self, reason):
        if self.bar is not None:
            self.bar.close()
        if self.verbose > 0:
            _emit(f"training stopped after {self.done} epoch{'s' * (self.done != 1)}: {reason}")


@contextlib.contextmanager
def reporting(verbose, n_epochs):
    """Yield a ProgressReporter; close its bar however the block ends."""
    reporter = ProgressReporter(verbose, n_epochs)
    try:
        yield reporter
    finally:
        if reporter.bar is not None:
            reporter.bar.close()
