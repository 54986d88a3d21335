"""Data-parallel training on ``torch.distributed``: what the training loop asks of the ranks.

When the default process group is initialised, every rank runs the same
``fit`` on the same arrays; the training loop talks to the other ranks only
through a :class:`Communicator`:

- each global mini-batch of ``world_size * batch_size`` functions (one
  permutation per epoch, the same on every rank) is split between the ranks,
  each reading only its rows of ``G``;
- gradients are summed with one ``all_reduce`` per step, weighted by each
  rank's share of the global batch's loss (its functions; with missing
  targets, its observed entries, or for a per-function loss its observed
  functions: the gradient of the loss over the global batch, exactly as one
  process with the whole batch), together with the batch's objective and the
  ``max_time`` flag, so every rank takes the same step, reports the same loss
  and stops at the same step; with ``physics`` and missing targets the data
  part and the physics term (a mean over functions) are weighed apart, after
  one more small ``all_reduce`` of the counts;
- the base seed is drawn by rank 0 and broadcast (also with
  ``random_state=None``), so the permutation and the validation split are
  the same on every rank;
- the settings are compared between ranks before anything else (memory
  addresses, which differ between processes, left out);
- the epoch's training loss is reduced, the validation score computed by rank
  0 and broadcast, the initial network broadcast from rank 0: every stopping
  decision is the same on every rank;
- the L-BFGS polish evaluates each rank's share of the functions and reduces
  the objective and its gradient (the full-batch gradient).

Without a process group, :class:`Communicator` does nothing and costs nothing.
"""

import functools
import hashlib
import re

import numpy as np
import torch

from ._data import out_of_core_kind


class Communicator:
    """One process: every method is the identity."""

    world_size = 1
    rank = 0

    def split(self, rows):
        """This rank's part of a global mini-batch ``rows`` (all of it here)."""
        return rows

    def shard(self, n):
        """This rank's functions among ``n`` for full-grid passes (all here), or None."""
        return None

    def reduce_step(self, params, share, out_of_time, values):
        """Reduce the gradients of a step and its objective over the ranks.

        Parameters
        ----------
        params : list of Tensor
            The trained parameters; their gradients become the weighted mean
            over the ranks of each rank's gradient, weighted by ``share``.
        share : float
            This rank's weight in the global batch's loss (see
            :func:`skoperator._training.step_share`).
        out_of_time : bool
            Whether this rank's ``max_time`` is up.
        values : list of Tensor
            Scalars of this rank (its objective, its report), averaged like
            the gradients.

        Returns
        -------
        out_of_time : bool
            Whether any rank is out of time.
        values : list of Tensor
            The weighted means of ``values``.
        """
        return out_of_time, values

    def sum_gradients(self, params):
        """Sum the gradients of ``params`` over the ranks."""

    def sum(self, values):
        """Sum floats over the ranks."""
        return list(values)

    def from_rank0(self, value):
        """``value`` as rank 0 has it."""
        return value

    def gather(self, tensor):
        """Every rank's ``tensor`` (same shape and dtype everywhere), stacked by rank."""
        return tensor.unsqueeze(0)

    def broadcast_module(self, module):
        """Give every rank rank 0's parameters and buffers."""
        return module

    def check_same(self, fingerprint):
        """Raise on every rank if the ranks were given different data or settings."""


class ProcessGroupCommunicator(Communicator):
    """The ranks of the default process group (gloo on the CPU, NCCL on GPUs)."""

    def __init__(self):
        import torch.distributed as dist

        self.dist = dist
        self.world_size = dist.get_world_size()
        self.rank = dist.get_rank()

    def split(self, rows):
        return torch.tensor_split(rows, self.world_size)[self.rank]

    def shard(self, n):
        return torch.arange(self.rank, n, self.world_size)

    def reduce_step(self, params, share, out_of_time, values):
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        device = grads[0].device
        dtype = grads[0].dtype if grads[0].dtype.is_floating_point else torch.float32
        share = float(share)
        flat = torch.cat([g.reshape(-1).to(dtype) * share for g in grads]
                         + [v.detach().reshape(1).to(device, dtype) * share for v in values]
                         + [torch.tensor([share, float(out_of_time)], device=device,
                                         dtype=dtype)])
        self.dist.all_reduce(flat)
        total, flag = max(float(flat[-2]), 1.0), float(flat[-1])
        offset = 0
        for p, g in zip(params, grads):
            n = g.numel()
            p.grad = (flat[offset:offset + n] / total).reshape(g.shape).to(g.dtype)
            offset += n
        return flag > 0, [flat[offset + i] / total for i in range(len(values))]

    def sum_gradients(self, params):
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        self.dist.all_reduce(flat)
        offset = 0
        for p, g in zip(params, grads):
            p.grad = flat[offset:offset + g.numel()].reshape(g.shape)
            offset += g.numel()

    def sum(self, values):
        t = torch.tensor(list(values), dtype=torch.float64, device=self._device())
        self.dist.all_reduce(t)
        return t.tolist()

    def from_rank0(self, value):
        box = [value]
        self.dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, tensor):
        # through the backend's device (NCCL gathers CUDA tensors only), back to the CPU
        local = tensor.contiguous().to(self._device())
        out = [torch.empty_like(local) for _ in range(self.world_size)]
        self.dist.all_gather(out, local)
        return torch.stack(out).to(tensor.device)

    def broadcast_module(self, module):
        with torch.no_grad():
            for t in list(module.parameters()) + list(module.buffers()):
                self.dist.broadcast(t.data, src=0)
        return module

    def check_same(self, fingerprint):
        gathered = [None] * self.world_size
        self.dist.all_gather_object(gathered, fingerprint)
        for rank, other in enumerate(gathered):
            if "error" in other:
                raise ValueError(f"rank {rank} of the process group could not start fit: "
                                 f"{other['error']}. Fix it there; every rank stops.")
        for rank, other in enumerate(gathered):
            if other != gathered[0]:
                raise ValueError(
                    f"the ranks of the process group called fit with different data or "
                    f"settings: rank {rank} differs from rank 0 in "
                    f"{_differences(gathered[0], other)}. Every rank must build the same "
                    "estimator and call fit with the same U and G (each rank reads its own "
                    "rows).")

    def _device(self):
        return torch.device("cuda", torch.cuda.current_device()) \
            if self.dist.get_backend() == "nccl" else torch.device("cpu")


def communicator():
    """The communicator of the default process group, or the one-process one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return ProcessGroupCommunicator()
    return Communicator()


_WHOLE_BYTES = 1 << 26
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _digest(array, name, rows=64):
    """A cheap fingerprint of an array: its shape and a hash of its values.

    Arrays up to 64 MiB (memmaps included) are hashed whole; larger ones
    and streamed datasets (HDF5, Zarr, Dask) by ``rows`` rows spread over
    them, so that the check never reads a large array whole. The hash
    starts with which (``"whole:"`` or ``"rows:"``), so that the same
    values in another storage are told apart from other values.
    """
    if array is None:
        return None
    out_of_core_kind(array, name)  # a closed HDF5 dataset: the package's message
    if not hasattr(array, "shape") or hasattr(array, "iloc"):  # a list; a pandas frame
        array = np.asarray(array)
    shape = tuple(array.shape)
    if not shape or shape[0] == 0:
        return shape, ""
    if isinstance(array, np.ndarray) and array.nbytes <= _WHOLE_BYTES:
        idx, how = slice(None), "whole:"
    else:
        idx = sorted(set(np.linspace(0, shape[0] - 1, min(rows, shape[0])).astype(int).tolist()))
        how = "whole:" if len(idx) == shape[0] else "rows:"  # every row: as hashed whole
    try:
        block = np.ascontiguousarray(np.asarray(array[idx], dtype=np.float64))
    except (TypeError, ValueError, KeyError, IndexError):
        return shape, type(array).__name__
    return shape, how + hashlib.sha1(np.nan_to_num(block, nan=1.2345e-300).tobytes()).hexdigest()


def _differences(first, other):
    """What differs between two fingerprints: arrays by (shape, hash), settings by value."""
    found = []
    for key in ("U", "G", "coords"):
        if first.get(key) != other.get(key):
            a, b = first.get(key), other.get(key)
            same_shape = a is not None and b is not None and a[0] == b[0]
            found.append(f"{key} ({'its values' if same_shape else 'shape'}: "
                         f"{a and a[0]} against {b and b[0]})")
    settings, theirs = first.get("settings", {}), other.get("settings", {})
    found += [f"{name} ({settings.get(name)} against {theirs.get(name)})"
              for name in sorted(set(settings) | set(theirs))
              if settings.get(name) != theirs.get(name)]
    return "; ".join(found)


def ranks_agree(fit):
    """Decorate ``fit(est, U, G, coords=None)``: under a process group the ranks first
    compare their calls (data and settings), before any validation, so that a rank that
    fails alone makes every rank fail instead of leaving the others waiting."""
    @functools.wraps(fit)
    def wrapper(est, X, y, coords=None):
        comm = communicator()
        if comm.world_size > 1:
            try:
                found = fingerprint(est, X, y, est.coords if coords is None else coords)
            except Exception as exc:
                try:  # the other ranks raise, naming this one's error
                    comm.check_same({"error": f"{type(exc).__name__}: {exc}"})
                except ValueError:
                    pass
                raise
            comm.check_same(found)
        return fit(est, X, y, coords)
    return wrapper


def _callable_name(value):
    """A callable setting as the ranks and a resumed fit can compare it: a module by its
    layers (their sizes included), a function by its module and qualified name."""
    if isinstance(value, torch.nn.Module):
        return repr(value)
    name = getattr(value, "__qualname__", None)
    if name is None:  # a partial, an instance with __call__
        return type(value).__name__
    return f"{getattr(value, '__module__', None)}.{name}"


def fingerprint(est, U, G, coords):
    """What must agree between ranks: the data's shapes and a sample of it, the settings."""
    settings = {}
    for name, value in est.get_params(deep=False).items():
        if name in ("coords", "verbose", "device", "n_jobs"):  # free per rank
            continue
        if callable(value) and not hasattr(value, "get_params"):
            value = _callable_name(value)
        # without memory addresses (a function inside a component, a RandomState),
        # which differ between the processes
        settings[name] = _ADDRESS.sub("", repr(value))
    return {"U": _digest(U, "U"), "G": _digest(G, "G"), "coords": _digest(coords, "coords"),
            "settings": settings}
