"""Continuing a fit (``warm_start``, ``partial_fit``): the fitted architecture must stay.

A continued fit keeps the fitted network, so the settings that shape it, the
coordinates' dimension and the inputs must be those it was fitted with.
"""

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone

__all__ = ["ARCHITECTURE", "same_setting", "architecture_snapshot", "check_continuation"]

#: Parameters that shape the network: ``warm_start`` and ``partial_fit`` keep
#: the fitted network, so these must not change between calls.
ARCHITECTURE = ("branch", "trunk", "n_basis", "standardize", "n_outputs",
                "multi_output_strategy", "output_transform")


def same_setting(a, b):
    """Whether two values of a constructor parameter are the same setting."""
    if a is b:
        return True
    if isinstance(a, BaseEstimator) and isinstance(b, BaseEstimator):
        pa, pb = a.get_params(deep=False), b.get_params(deep=False)
        return type(a) is type(b) and pa.keys() == pb.keys() and all(
            same_setting(pa[k], pb[k]) for k in pa)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_setting(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.nn.Module) or isinstance(b, torch.nn.Module) or callable(a) \
            or callable(b):
        return False
    try:
        return bool(np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object)))
    except (TypeError, ValueError):
        return a == b


def _snapshot(value):
    """``value`` as it is now: components rebuilt from their settings (so that a later
    ``set_params`` shows), lists and tuples item by item; modules and functions kept by
    reference (a copy would never be the same setting as the module it copies)."""
    if isinstance(value, BaseEstimator):
        return type(value)(**{k: _snapshot(v) for k, v in value.get_params(deep=False).items()})
    if isinstance(value, (list, tuple)):
        return type(value)(_snapshot(v) for v in value)
    if isinstance(value, torch.nn.Module) or callable(value):
        return value
    return clone(value, safe=False)


def architecture_snapshot(est):
    """The architecture settings, components cloned (so later ``set_params`` shows)."""
    return {name: _snapshot(getattr(est, name)) for name in ARCHITECTURE}


def check_continuation(est, coords, input_sizes):
    """A continued fit must keep the fitted architecture, coordinates' dimension and inputs."""
    # partial_fit continues whatever warm_start says: a new model is fit's job
    fresh = ("set warm_start=False to fit a new model" if est.warm_start
             else "call fit (not partial_fit) to fit a new model")
    changed = [name for name in ARCHITECTURE
               if not same_setting(getattr(est, name), est._architecture[name])]
    if changed:
        raise ValueError(
            f"{', '.join(changed)} changed since the model was fitted, but "
            f"{'warm_start=True' if est.warm_start else 'partial_fit'} keeps the fitted "
            f"network; restore the fitted value(s), or {fresh}.")
    d = est.network_.y_shift.numel()
    if coords.shape[-1] != d:
        raise ValueError(
            f"coords has {coords.shape[-1]} columns but the model was fitted on "
            f"{d}-dimensional coordinates; pass coords of that dimension, or {fresh}.")
    if est.network_.trunk_is_table and not (
            est.coords_ is not None and coords.shape == est.coords_.shape
            and np.array_equal(coords, est.coords_)):
        raise ValueError(
            "the fitted trunk (POD modes) is known at the fitted coordinates only, and coords "
            f"differ from coords_; continue with the fitted coordinates, or {fresh}.")
    if input_sizes != est.input_sizes_:
        raise ValueError(f"the branch reads {input_sizes} columns per input function but the "
                         f"model was fitted with {est.input_sizes_}; {fresh}.")
