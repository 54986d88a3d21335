"""Training one model on several processes, devices or machines.

skoperator trains data parallel with torch's own machinery whenever the
default ``torch.distributed`` process group is initialised: every process (a
*rank*) builds the same estimator and calls ``fit(U, G)`` with the same
arrays, and ``fit`` shares the work (see the user guide, *Training on several
devices and machines*). This module has the two entry points that start the
ranks:

- :func:`init_process_group`, one line at the top of a script launched by
  ``torchrun`` or by ``srun`` on SLURM, which reads the launcher's
  environment;
- :func:`fit_ray`, one call from a notebook: the fit runs on the workers of a
  Ray cluster (Ray Train's ``TorchTrainer``), and the fitted estimator comes
  back as an ordinary one.
"""

import atexit
import os
import pickle
import sys
import tempfile
import time

import numpy as np

from ._compat import is_count

__all__ = ["init_process_group", "fit_ray"]


def _launcher_environment():
    """(rank, world_size, local_rank, master address, port) from torchrun's or SLURM's variables."""
    env = os.environ
    if "RANK" in env and "WORLD_SIZE" in env:  # torchrun, or a launcher that mimics it
        return (_env_int("RANK"), _env_int("WORLD_SIZE"), _env_int("LOCAL_RANK", "0"),
                env.get("MASTER_ADDR"), env.get("MASTER_PORT"))
    if "SLURM_PROCID" in env and "SLURM_NTASKS" in env:  # srun
        nodes = env.get("SLURM_NODELIST", env.get("SLURM_JOB_NODELIST", "localhost"))
        master = env.get("MASTER_ADDR") or _first_host(nodes)
        return (_env_int("SLURM_PROCID"), _env_int("SLURM_NTASKS"),
                _env_int("SLURM_LOCALID", "0"), master, env.get("MASTER_PORT", "29500"))
    return None


def _env_int(name, default=None):
    """The environment variable ``name`` as an int, else a ValueError naming it."""
    value = os.environ.get(name, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"the environment variable {name} must be an integer (set by the "
                         f"launcher); got {value!r}.") from None


def _first_host(nodelist):
    """The first host of a SLURM node list such as ``node[03-05,07]`` or ``a,b``."""
    head = nodelist.split(",")[0]
    if "[" in head:
        prefix, rest = head.split("[", 1)
        first = rest.rstrip("]").split(",")[0].split("-")[0]
        return prefix + first
    return head


def init_process_group(backend=None, **kwargs):
    """Initialise torch's default process group from the launcher's environment.

    Reads ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
    ``MASTER_PORT`` (set by ``torchrun``), or ``SLURM_PROCID``,
    ``SLURM_NTASKS``, ``SLURM_LOCALID`` and the node list (set by ``srun``),
    selects this rank's GPU when there are GPUs, and calls
    :func:`torch.distributed.init_process_group` (and, at exit, a barrier
    of the ranks, then :func:`torch.distributed.destroy_process_group`, so
    that a rank that ends its fit, e.g. on preemption, exits with its own
    code rather than abort in gloo's teardown). Without a launcher (a plain
    ``python script.py``) it does nothing, so the same script runs on one
    process.

    Parameters
    ----------
    backend : {"gloo", "nccl"}, default=None
        None: NCCL when CUDA is available, else gloo.
    **kwargs : dict
        Passed to :func:`torch.distributed.init_process_group`.

    Returns
    -------
    world_size : int
        Number of ranks (1 without a launcher).

    Examples
    --------
    >>> from skoperator.distributed import init_process_group
    >>> init_process_group()  # a plain process: nothing to do
    1
    """
    import torch
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    if backend not in ("gloo", "nccl", None):  # also in a plain process: a typo fails here
        raise ValueError(f"backend must be 'gloo', 'nccl' or None; got {backend!r}.")
    found = _launcher_environment()
    if found is None:
        return 1
    rank, world, local_rank, addr, port = found
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl" and not torch.cuda.is_available():
        raise ValueError("backend='nccl' needs CUDA, which this machine does not have; pass "
                         "backend='gloo' (or None).")
    os.environ.setdefault("MASTER_ADDR", addr or "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(port or 29500))
    if backend == "nccl":
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
    dist.init_process_group(backend=backend, rank=rank, world_size=world, **kwargs)
    atexit.register(_destroy_process_group)
    return world


def _destroy_process_group():
    """At exit, the group this module made: its threads end before the interpreter's.

    The ranks first meet at a barrier (gloo: one that gives up after a minute
    when a rank is gone). Waiting there, this process lets go of the GIL, and
    gloo's worker threads release the tensors of the last collectives: a worker
    thread that still held one when the interpreter finalised would abort the
    process ("terminate called without an active exception"), turning a
    preempted rank's exit code 75 into SIGABRT. A short sleep after the
    group is destroyed gives the GIL to a worker thread still at it.
    """
    import datetime

    import torch.distributed as dist

    if not dist.is_initialized():
        return
    if getattr(sys, "last_value", None) is not None:
        # exiting on an uncaught error: no barrier, which a rank waiting in another
        # collective would never reach; the launcher then stops the other ranks
        return
    try:
        if dist.get_backend() == "gloo":
            dist.monitored_barrier(timeout=datetime.timedelta(seconds=60))
        else:
            dist.barrier()
    except Exception:  # a rank is gone: nothing to wait for
        pass
    dist.destroy_process_group()
    # gloo runs collectives on two worker threads: the one that ran an earlier
    # collective may still be dropping its tensors (which takes the GIL) when the
    # barrier, on the other, returns. Sleeping lets go of the GIL for it (half a
    # second, a margin for a loaded machine).
    time.sleep(0.5)


def _ray_worker(config):
    """Runs on every Ray Train worker: fit, then rank 0 reports the fitted estimator."""
    import torch
    import torch.distributed as dist
    from ray import train

    estimator = pickle.loads(config["estimator"])
    U, G = config["U"], config["G"]
    if config["threads"]:
        torch.set_num_threads(config["threads"])
    estimator.fit(U, G)
    rank = dist.get_rank() if dist.is_initialized() else 0
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = None
        if rank == 0:
            with open(os.path.join(tmp, "estimator.pkl"), "wb") as f:
                pickle.dump(estimator, f)
            checkpoint = train.Checkpoint.from_directory(tmp)
        train.report({"n_iter": estimator.n_iter_}, checkpoint=checkpoint)


def _check_ray_call(estimator, U, G, num_workers, threads_per_worker):
    """What fails on every worker fails here first, before Ray starts them."""
    if not callable(getattr(estimator, "_fitted_state", None)):
        raise TypeError(f"fit_ray fits a DeepONetRegressor; got {type(estimator).__name__}.")
    for name, value, low in (("num_workers", num_workers, 1),
                             ("threads_per_worker", threads_per_worker, 0)):
        if not is_count(value, low):
            raise ValueError(f"{name} must be an int >= {low}; got {value!r}.")
    estimator._validate_params()
    rows = [len(a) if hasattr(a, "__len__") else None for a in (U, G)]
    if rows[0] != rows[1]:
        raise ValueError(f"U has {rows[0]} rows but G has {rows[1]}; pass one output "
                         "function per input function.")
    if isinstance(U, np.ndarray) and not np.isfinite(U).all():
        raise ValueError("U contains NaN or inf; input functions must be finite.")


def fit_ray(estimator, U, G, *, num_workers=2, use_gpu=False, threads_per_worker=1,
            resources_per_worker=None, storage_path=None):
    """Fit ``estimator`` on ``num_workers`` Ray workers (data parallel), return it fitted.

    Ray Train's ``TorchTrainer`` starts the workers and their process group;
    every worker fits a copy of ``estimator`` on ``(U, G)`` (each reading its
    rows), and the fitted state of rank 0 (the same on every rank) is copied
    into ``estimator``, which is then an ordinary fitted estimator: it
    pickles, clones and predicts in this process with no cluster around (the
    lesson of LightGBM's and XGBoost's Dask estimators, whose ``to_local``
    does this by hand).

    Parameters
    ----------
    estimator : DeepONetRegressor
        The estimator to fit (in place).
    U : array-like of shape (n_functions, n_sensors)
        Input functions; shipped to the workers through Ray's object store.
    G : array-like of shape (n_functions, n_outputs * n_points)
        Output functions.
    num_workers : int, default=2
        Ranks.
    use_gpu : bool, default=False
        One GPU per worker (NCCL); else the CPU (gloo).
    threads_per_worker : int, default=1
        Torch threads of each worker (0 keeps torch's default).
    resources_per_worker : dict, default=None
        Ray resources of each worker, for instance ``{"CPU": 2}``.
    storage_path : str, default=None
        Where Ray Train keeps its run (a temporary directory when None).

    Returns
    -------
    estimator : DeepONetRegressor
        The same object, fitted.

    Notes
    -----
    Why a function and not a constructor parameter: where a fit runs is not a
    property of the model (``GridSearchCV`` would clone it, and a fitted
    estimator must pickle without a cluster handle); joblib's
    ``parallel_config`` and Dask's ``Client`` are chosen at the call site in
    scikit-learn too. Ray must be installed with its ``train`` extra
    (``pip install "skoperator[ray]"``).

    Examples
    --------
    >>> import ray  # doctest: +SKIP
    >>> from skoperator.distributed import fit_ray  # doctest: +SKIP
    >>> fit_ray(DeepONetRegressor(coords=Y), U, G, num_workers=2)  # doctest: +SKIP
    """
    _check_ray_call(estimator, U, G, num_workers, threads_per_worker)
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    if not ray.is_initialized():
        ray.init(num_cpus=max(2, num_workers * max(1, threads_per_worker)),
                 include_dashboard=False, log_to_driver=False)
    storage = storage_path or tempfile.mkdtemp(prefix="skoperator-ray-")
    trainer = TorchTrainer(
        _ray_worker,
        train_loop_config={"estimator": pickle.dumps(estimator), "U": U, "G": G,
                           "threads": threads_per_worker},
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        scaling_config=ScalingConfig(num_workers=num_workers, use_gpu=use_gpu,
                                     resources_per_worker=resources_per_worker),
        run_config=RunConfig(storage_path=storage, name="skoperator-fit"),
    )
    try:
        result = trainer.fit()
    except Exception as exc:  # Ray Train 2 raises its wrapper: the first rank's own error
        failures = getattr(exc, "worker_failures", None)
        if not failures:
            raise
        first = failures[min(failures)]
        raise (getattr(first, "cause", None) or first.__cause__ or first) from exc
    if result.error is not None:  # older Ray Train: the workers' own error, not its wrapper
        raise (result.error.__cause__ or result.error) from result.error
    with result.checkpoint.as_directory() as path:
        with open(os.path.join(path, "estimator.pkl"), "rb") as f:
            fitted = pickle.load(f)
    estimator.__dict__.clear()  # nothing of an earlier fit stays (feature_names_in_)
    estimator.__dict__.update(fitted.__dict__)
    return estimator
