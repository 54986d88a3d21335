"""The next mini-batch's streamed targets, read in a background thread while this one trains.

With targets streamed from storage (a memmap, an HDF5 dataset, a Zarr
array: :attr:`~skoperator._objective.TrainingData.streamed`), reading a
batch's sampled entries can take as long as the step itself.
:class:`BatchPrefetch` draws the next batch's points as soon as the
current batch's are drawn, and reads their targets in one background thread
while the current batch trains: a bounded prefetch of one batch.

The draws are the same as without it: the sampler is called for the same
rows in the same order with the same generator, only one step earlier,
which nothing else in a step without a physics term draws from. A batch
drawn ahead and not trained (the epoch stopped for ``max_time``, a
preemption, an error) is discarded and the generator put back to its state
before that draw, so that a checkpoint, a ``warm_start`` or the next fit sees
exactly the state of a fit without prefetch. An exception raised while
reading is raised again in the fit, with a note saying where it came from;
:meth:`BatchPrefetch.close` (called when training ends, also on an error or
``KeyboardInterrupt``) waits for the thread, so that none outlives the fit.
"""

import concurrent.futures
import dataclasses
from typing import Optional

import torch

__all__ = ["BatchPrefetch"]

_NOTE = ("skoperator: raised in the background thread that reads the next mini-batch's "
         "targets from the streamed G while the current one trains (the user guide's "
         "'Arrays on disk' describes these reads).")


@dataclasses.dataclass
class _Ahead:
    """A batch drawn ahead: its rows, draws, pending read and the generator's state before."""

    rows: torch.Tensor
    cols: Optional[torch.Tensor]
    weight: Optional[torch.Tensor]
    future: concurrent.futures.Future
    state: torch.Tensor


class BatchPrefetch:
    """Draws and reads mini-batches, the next one in a background thread.

    Parameters
    ----------
    data : TrainingData
        The training data; its ``targets(rows, cols)`` is what the thread runs.
    sampler : BaseSampler
        The fit's set-up sampler.
    generator : torch.Generator
        The fit's training generator (the sampler's draws).
    enabled : bool
        Whether to read ahead (else :meth:`batch` draws and reads in place,
        as a fit without prefetch does).
    check : callable or None, default=None
        ``check(cols, weight, n_rows)``, called on every draw before its
        targets are read (the sampler protocol's check).
    reads : callable or None, default=None
        ``reads(cols)``: whether a step with these points uses its targets
        (a step on every point through the Gram path does not: its targets
        are in the Gram's sums); the target of a step that does not is None
        and nothing is read. None: every step reads.
    """

    def __init__(self, data, sampler, generator, enabled, check=None, reads=None):
        self.data, self.sampler, self.generator = data, sampler, generator
        self.check = check
        self.reads = reads
        self.enabled = enabled
        self.ahead = None
        self._pool = None
        self.batches_ahead = 0  # batches read in the background (for tests and reports)

    def batch(self, rows, next_rows=None):
        """Points, weights and targets of ``rows``; starts reading ``next_rows``'s.

        Parameters
        ----------
        rows : LongTensor of shape (batch,)
            This step's functions.
        next_rows : LongTensor of shape (batch,) or None
            The next step's functions in this epoch (None: the last step, or
            no prefetch).

        Returns
        -------
        cols, weight : as ``sampler.sample`` returns them
        target : Tensor or None
            The standardised targets of ``rows`` at ``cols`` (None where
            ``reads(cols)`` is false).
        """
        if self.ahead is not None and torch.equal(self.ahead.rows, rows):
            ahead, self.ahead = self.ahead, None
            cols, weight, target = ahead.cols, ahead.weight, self._result(ahead.future)
        else:
            self.discard()
            cols, weight = self._draw(rows)
            target = self._read(rows, cols)
        if self.enabled and next_rows is not None and next_rows.numel():
            self._start(next_rows)
        return cols, weight, target

    def _start(self, rows):
        state = self.generator.get_state()
        cols, weight = self._draw(rows)
        if not self._wants(cols):
            future = concurrent.futures.Future()
            future.set_result(None)  # nothing to read: no thread
            self.ahead = _Ahead(rows, cols, weight, future, state)
            return
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="skoperator-prefetch")
        future = self._pool.submit(self.data.targets, rows, cols)
        self.ahead = _Ahead(rows, cols, weight, future, state)
        self.batches_ahead += 1

    def _wants(self, cols):
        return self.reads is None or self.reads(cols)

    def _read(self, rows, cols):
        return self.data.targets(rows, cols) if self._wants(cols) else None

    def _draw(self, rows):
        cols, weight = self.sampler.sample(rows, self.generator)
        if self.check is not None:
            self.check(cols, weight, rows.numel())
        return cols, weight

    @staticmethod
    def _result(future):
        try:
            return future.result()
        except Exception as exc:
            exc.add_note(_NOTE)
            raise

    def discard(self):
        """Drop a batch drawn ahead: wait for its read, put the generator back."""
        ahead, self.ahead = self.ahead, None
        if ahead is None:
            return
        ahead.future.cancel()
        concurrent.futures.wait([ahead.future])  # its exception, if any, is dropped with it
        self.generator.set_state(ahead.state)

    def close(self):
        """Discard what is ahead and end the thread (waits for it)."""
        try:
            self.discard()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
