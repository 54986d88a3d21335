"""Devices: resolution, fused kernels, moving fitted state to the CPU; the torch settings
a fit runs under."""

import contextlib
import warnings

import numpy as np
import torch


def _available(kind):
    if kind == "cpu":
        return True
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        return bool(mps is not None and mps.is_available())
    return False


def resolve_device(device, *, for_predict=False):
    """torch.device for "auto", "cpu", "cuda", "cuda:N", "mps" or a torch.device.

    A device that this machine does not have is an error at fit time; at
    predict time a model falls back to the CPU.
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a device torch knows; expected 'auto', 'cpu', "
            "'cuda' or 'cuda:N'."
        ) from exc
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(
            f"device={device!r} is not supported: skoperator trains on 'cpu', 'cuda' "
            "(or 'cuda:N') and 'mps'; pass one of those, or device='auto'."
        )
    if not _available(dev.type):
        if for_predict:
            return torch.device("cpu")
        hint = "CUDA" if dev.type == "cuda" else "MPS (Apple GPUs)"
        raise ValueError(
            f"device={device!r} was requested but {hint} is not available on this machine; "
            "pass device='cpu' or device='auto'."
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        if for_predict:
            return torch.device("cuda")
        raise ValueError(
            f"device={device!r} was requested but this machine has "
            f"{torch.cuda.device_count()} CUDA device(s); pass cuda:0 to "
            f"cuda:{torch.cuda.device_count() - 1}, or device='auto'."
        )
    return dev


#: Training targets are copied to a GPU when their float32 copy takes at most
#: this share of its free memory (the rest is left to the network, its
#: gradients, the optimizer and the step's activations).
RESIDENT_SHARE = 0.5


def resident_budget(device):
    """Bytes of training targets that may be copied to ``device``; None: no limit.

    None on the CPU (the targets are in its memory already), else
    :data:`RESIDENT_SHARE` of the device's free memory at the time of the
    call. Targets over it stay in host memory and are gathered per batch,
    as a ``numpy.memmap`` is.
    """
    if device.type != "cuda":
        return None
    free, _ = torch.cuda.mem_get_info(device)
    return int(RESIDENT_SHARE * free)


def fits_on(device, G):
    """Whether the targets' float32 copy may live on ``device`` (warns when not)."""
    budget, size = resident_budget(device), 4 * np.asarray(G).size
    if budget is None or size <= budget:
        return True
    warnings.warn(
        f"The training targets G take {size / 2**30:.2f} GiB in float32, more than the "
        f"{budget / 2**30:.2f} GiB they may take of the free memory of {device}: they stay in "
        "host memory and each batch's sampled values are copied to the device, as from a "
        "numpy.memmap (slower steps). Free memory on the device, or train on fewer "
        "functions or points, to keep them there.", UserWarning, stacklevel=3)
    return False


def fused_adam(device):
    """Fused Adam kernels: on CUDA, and on the CPU from torch 2.4 on."""
    major, minor = (int(v) for v in torch.__version__.split("+")[0].split(".")[:2])
    return device.type == "cuda" or (device.type == "cpu" and (major, minor) >= (2, 4))


def to_cpu(obj):
    """A copy of ``obj`` (tensors, nested in dicts and lists) with tensors on the CPU."""
    if torch.is_tensor(obj):
        return obj.cpu()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_cpu(v) for v in obj]
    return obj


def as_tensor(array, dtype, device):
    """``torch.as_tensor`` of a numpy array, copying arrays torch cannot share.

    Read-only arrays (memmaps opened read-only, pandas' copy-on-write
    frames) are copied instead of shared, so torch has no reason to warn
    about writing into them; so are views with a negative stride
    (``U[:, ::-1]``), which torch cannot share.
    """
    array = np.asarray(array)
    if not array.flags.writeable or any(s < 0 for s in array.strides):
        array = np.array(array)
    return torch.as_tensor(array, dtype=dtype, device=device)


def to_float64(module):
    """Cast a module's floating tensors to float64 and complex ones to complex128, in place."""

    def convert(t):
        if t.is_complex():
            return t.to(torch.complex128)
        if t.is_floating_point():
            return t.to(torch.float64)
        return t

    return module._apply(convert)


def has_complex_parameters(module):
    """Whether any parameter of ``module`` is complex (fused Adam rejects those)."""
    return any(p.is_complex() for p in module.parameters())


@contextlib.contextmanager
def fit_environment():
    """torch's process-wide settings a fit needs, whatever the caller's, restored after.

    Gradients on (a caller's ``torch.no_grad()`` is left outside), and
    float32 as the default dtype while torch's is another (the layers are
    built in float32, as the data are). Inside ``torch.inference_mode()``
    no gradient can be computed: a RuntimeError says so.
    """
    if torch.is_inference_mode_enabled():
        raise RuntimeError("fit cannot train inside torch.inference_mode(), where torch "
                           "computes no gradient; call fit (or partial_fit) outside that "
                           "block (predict works inside it).")
    dtype = torch.get_default_dtype()
    try:
        if dtype != torch.float32:
            torch.set_default_dtype(torch.float32)
        with torch.enable_grad():
            yield
    finally:
        if dtype != torch.float32:
            torch.set_default_dtype(dtype)


@contextlib.contextmanager
def training_rng(seed, device, rank=0):
    """torch's global RNG seeded from the fit's ``seed`` (and ``rank``), restored after.

    A module of the user's that draws from it (dropout) then draws the same
    numbers in two fits with the same seed, and the caller's RNG is left as
    it was.
    """
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        seed = (seed + 7_919 * (rank + 1)) % 2**63
        torch.default_generator.manual_seed(seed)
        for index in cuda:
            torch.cuda.default_generators[index].manual_seed(seed)
        yield


@contextlib.contextmanager
def probing(module):
    """A forward pass that leaves ``module`` as it was (a check, a flop count).

    No gradient, eval mode (no batch-norm statistics updated) and a forked
    RNG (no dropout draw from the global one); the module's mode is restored.
    """
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            yield
    finally:
        module.train(was_training)
