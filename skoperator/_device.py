"""Devices: resolution, fused kernels, moving fitted state to the CPU."""

import torch


def resolve_device(device, *, for_predict=False):
    """torch.device for "auto", "cpu", "cuda", "cuda:N" or a torch.device."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(
            f"device={device!r} is not a device torch knows; expected 'auto', 'cpu', "
            "'cuda' or 'cuda:N'."
        ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        if for_predict:
            return torch.device("cpu")
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available on this machine; "
            "pass device='cpu' or device='auto'."
        )
    return dev


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
    about writing into them.
    """
    import numpy as np

    array = np.asarray(array)
    if not array.flags.writeable:
        array = np.array(array, dtype=torch.empty((), dtype=dtype).numpy().dtype)
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
