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
