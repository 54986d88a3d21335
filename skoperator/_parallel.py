"""Thread budget of torch inside parallel workers.

torch's intra-op thread pool defaults to every core of the machine. When
joblib runs several fits at once (``GridSearchCV(n_jobs=...)``, a Dask or Ray
cluster through ``joblib.parallel_config``), each fit would start that many
threads and the workers would fight over the cores. ``torch_thread_budget``
caps torch's threads at what the current worker is allowed to use.
"""

import contextlib
import os

import torch

__all__ = ["thread_budget", "torch_thread_budget"]


def _dask_worker_threads():
    """``nthreads`` of the dask.distributed worker running this code, or None."""
    try:
        from distributed import get_worker
    except ImportError:
        return None
    try:
        worker = get_worker()
    except ValueError:  # not inside a worker task
        return None
    # ``Worker.state.nthreads`` in recent releases, ``Worker.nthreads`` before.
    nthreads = getattr(getattr(worker, "state", None), "nthreads", None)
    if nthreads is None:
        nthreads = getattr(worker, "nthreads", None)
    return int(nthreads) if nthreads else None


def _environment_threads():
    """Positive int from ``OMP_NUM_THREADS``, or None when unset or unusable.

    joblib's process backends (loky, and multiprocessing) set this variable in
    their workers to ``cpu_count() // n_jobs`` (or to the ``inner_max_num_threads``
    of ``parallel_config``), so reading it respects their inner limit.
    """
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    try:
        n = int(value)
    except ValueError:
        return None
    return n if n >= 1 else None


def thread_budget():
    """Most intra-op threads torch may use here, or None for no limit.

    Inside a dask.distributed worker it is that worker's ``nthreads``;
    elsewhere it is ``OMP_NUM_THREADS`` when set (as joblib's loky workers
    set it); in a plain process without that variable it is None.

    Returns
    -------
    n_threads : int or None
    """
    n = _dask_worker_threads()
    return n if n is not None else _environment_threads()


@contextlib.contextmanager
def torch_thread_budget():
    """Cap ``torch.get_num_threads()`` at :func:`thread_budget` for a block.

    The cap only lowers the thread count, never raises it, and the previous
    value is restored on exit. In a plain process (not a dask worker and no
    ``OMP_NUM_THREADS``) nothing changes.

    Yields
    ------
    n_threads : int
        torch's intra-op thread count inside the block.

    Examples
    --------
    >>> import torch
    >>> from skoperator._parallel import torch_thread_budget
    >>> before = torch.get_num_threads()
    >>> with torch_thread_budget() as n:
    ...     n <= before
    True
    >>> torch.get_num_threads() == before
    True
    """
    previous = torch.get_num_threads()
    budget = thread_budget()
    if budget is None or budget >= previous:
        yield previous
        return
    torch.set_num_threads(budget)
    try:
        yield budget
    finally:
        torch.set_num_threads(previous)
