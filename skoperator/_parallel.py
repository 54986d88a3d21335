"""Thread budget of torch inside parallel workers.

torch's intra-op thread pool defaults to every core of the machine. When
joblib runs several fits at once (``GridSearchCV(n_jobs=...)``, a Dask or Ray
cluster through ``joblib.parallel_config``), each fit would start that many
threads and the workers would fight over the cores. :func:`choose_threads`
picks torch's threads for a call from the work of a step (:func:`step_flops`),
capped by what the current worker is allowed to use (:func:`thread_budget`),
and :func:`torch_threads` applies them for the call only.
"""

import contextlib
import os

import torch
from torch.utils.flop_counter import FlopCounterMode

from ._device import probing

__all__ = ["thread_budget", "flop_rates", "step_flops", "choose_threads", "planning_threads",
           "torch_threads"]

# Work (floating-point operations of one training step, forward and backward,
# as ``step_flops`` estimates it) from which a second intra-op thread starts to
# pay, and a third from twice as much, and so on; below it, splitting the small
# matrix products of a step costs more in synchronisation than it saves.
# Measured by benchmarks/bench_threads.py (see docs/performance.md).
THREAD_FLOPS = 1.5e8


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


def flop_rates(network):
    """Forward flops of ``network``'s branch per function and trunk per point (estimates).

    The network is left as it was: counted in eval mode (no batch-norm
    statistics updated) on a forked RNG (no dropout draw from the global one).

    Counted with torch's flop counter on two functions and a few coordinates
    (layers it does not know, such as Fourier transforms, count zero); a
    table trunk (POD) is counted at its training points. A module the counter
    cannot trace is counted as two flops per parameter.

    Returns
    -------
    branch, trunk : float
    """
    with probing(network):
        return _counted_rates(network)


def _counted_rates(network):
    device = network.u_shift.device
    dtype = network.u_shift.dtype
    n_sensors = network.u_shift.numel()
    d = network.y_shift.numel()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            network.encode_branch(torch.zeros(2, n_sensors, device=device, dtype=dtype))
        branch = counter.get_total_flops() / 2
        with torch.no_grad():  # a conditioned trunk reads one function's branch output
            b = network.encode_branch(torch.zeros(1, n_sensors, device=device, dtype=dtype))
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            if network.trunk_conditioned:  # it runs once per (function, point) pair
                points = 64
                network.combine(b, network.encode_trunk(
                    torch.zeros(points, d, device=device, dtype=dtype)))
            elif network.trunk_is_table:
                points = min(network.trunk.modes.shape[0], 64)
                network.trunk.at_index(torch.arange(points, device=device))
            else:
                points = 64
                network.encode_trunk(torch.zeros(points, d, device=device, dtype=dtype))
        trunk = counter.get_total_flops() / points
    except Exception:  # a user module the counter cannot trace: count parameters
        branch = 2 * sum(p.numel() for p in network.branch.parameters())
        trunk = 2 * sum(p.numel() for p in network.trunk.parameters())
    return branch, trunk


def step_flops(network, batch_size, trunk_points=None, rates=None):
    """Floating-point operations of one training step of ``network`` (estimate).

    The branch's forward pass on ``batch_size`` functions, the trunk's on
    ``trunk_points`` points (32 per function when None) and the products of
    the two, tripled for the backward pass.

    Parameters
    ----------
    network : DeepONet
    batch_size : int
    trunk_points : int, default=None
    rates : tuple of float, default=None
        :func:`flop_rates` of the network, when already counted.

    Returns
    -------
    flops : float
    """
    branch, trunk = flop_rates(network) if rates is None else rates
    if trunk_points is None:
        trunk_points = 32 * batch_size
    combine = 2 * batch_size * trunk_points * network.n_basis * network.n_outputs
    return 3 * (batch_size * branch + trunk_points * trunk + combine)


def choose_threads(n_jobs, network, batch_size, device, trunk_points=None, rates=None):
    """torch intra-op threads for a fit or predict call.

    Parameters
    ----------
    n_jobs : int or None
        The estimator's ``n_jobs``: None chooses from the work of a step
        (:data:`THREAD_FLOPS`) within the worker's budget
        (:func:`thread_budget`) and torch's current setting
        (``torch.set_num_threads``); a positive int is used as is; -1 is
        every core, -2 all but one, and so on.
    network : DeepONet
        The network to train or evaluate.
    batch_size : int
        Functions per step.
    device : torch.device
        Where it runs; off the CPU, torch's own setting is kept (capped by the
        budget), since the host threads only launch kernels.
    trunk_points : int, default=None
        Trunk evaluations of a step (see :func:`step_flops`).
    rates : tuple of float, default=None
        :func:`flop_rates` of the network, when already counted.

    Returns
    -------
    n_threads : int
    """
    if n_jobs is not None:
        return planning_threads(n_jobs)
    cores = os.cpu_count() or 1
    budget = thread_budget()
    if device.type != "cpu":
        current = torch.get_num_threads()
        return current if budget is None else min(current, budget)
    work = step_flops(network, batch_size, trunk_points, rates)
    # torch's own setting caps the choice: torch.set_num_threads(1) is the user's word
    wanted = max(1, min(cores, torch.get_num_threads(), 1 + int(work // THREAD_FLOPS)))
    return wanted if budget is None else max(1, min(wanted, budget))


def planning_threads(n_jobs):
    """torch intra-op threads while a fit is planned (its networks built and checked).

    The network, whose work :func:`choose_threads` weighs, does not exist
    yet: a positive or negative ``n_jobs`` gives the fit's own threads (as
    :func:`choose_threads`), None keeps torch's setting within the worker's
    budget (:func:`thread_budget`).

    Parameters
    ----------
    n_jobs : int or None
        The estimator's ``n_jobs``.

    Returns
    -------
    n_threads : int

    Examples
    --------
    >>> from skoperator._parallel import planning_threads
    >>> planning_threads(2)
    2
    """
    if n_jobs is not None:
        cores = os.cpu_count() or 1
        # as asked, up to 16 threads per core (torch crashes on a million of them)
        return max(1, cores + 1 + n_jobs if n_jobs < 0 else min(n_jobs, 16 * cores))
    budget = thread_budget()
    current = torch.get_num_threads()
    return current if budget is None else max(1, min(current, budget))


@contextlib.contextmanager
def torch_threads(n_threads):
    """Set torch's intra-op threads to ``n_threads`` for a block, then restore them.

    Examples
    --------
    >>> import torch
    >>> from skoperator._parallel import torch_threads
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    previous = torch.get_num_threads()
    if n_threads == previous:
        yield previous
        return
    torch.set_num_threads(n_threads)
    try:
        yield n_threads
    finally:
        torch.set_num_threads(previous)
