"""Checks of what a saved file holds: entries of the right kind, and an optimizer state that
fits the network it is loaded into (used by :mod:`skoperator.io`)."""

import torch

from ._codec import as_complex
from .optimizers import as_optimizer

#: The optimizer states' tensors shaped as their parameter: Adam's moments, SGD's momentum.
_MOMENTS = frozenset({"exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer"})


def _expect(value, kind, where):
    """``value`` if it is a ``kind``, else the ValueError of a damaged file."""
    if isinstance(value, bool) and kind is int or not isinstance(value, kind):
        raise ValueError(f"{where} holds {type(value).__name__} {value!r:.60}; expected "
                         f"{getattr(kind, '__name__', kind)}.")
    return value


def _optimizer(fitted, reader, network, spec):
    """The saved optimizer state, checked against the network's parameters."""
    saved = fitted.get("optimizer")
    if saved is None:
        return None
    _expect(saved, dict, "fitted.optimizer")
    state = {}
    for entry in _expect(saved.get("state"), list, "optimizer.state"):
        index, value = _expect(entry, list, "optimizer.state")
        state[_expect(index, int, "optimizer.state")] = as_complex(_expect(
            reader.decode(value, f"optimizer.state.{index}"), dict, f"optimizer.state.{index}"))
    groups = _expect(reader.decode(saved.get("param_groups"), "optimizer.param_groups"), list,
                     "optimizer.param_groups")
    parameters = list(network.parameters())
    _check_groups(groups, state, len(parameters))
    for index, moments in state.items():
        if not 0 <= index < len(parameters):
            raise ValueError(f"optimizer.state holds parameter {index} of {len(parameters)}.")
        missing = sorted(set(getattr(as_optimizer(spec), "state_keys", ())) - set(moments))
        if missing:
            raise ValueError(f"optimizer.state.{index} lacks the optimizer's {missing}.")
        for key in _MOMENTS.intersection(moments):  # Adam's moments, SGD's momentum
            moment = moments[key]
            if not torch.is_tensor(moment) or moment.shape != parameters[index].shape:
                raise ValueError(f"optimizer.state.{index}.{key} does not have the shape "
                                 f"{tuple(parameters[index].shape)} of its parameter.")
    return {"state": state, "param_groups": groups}


def _check_groups(groups, state, n_parameters):
    """Refuse parameter groups that would pair moments with the wrong parameters (torch's
    fused Adam then writes out of bounds) or set flags the saved moments do not support."""
    assigned = []
    for i, group in enumerate(groups):
        where = f"optimizer.param_groups[{i}]"
        _expect(group, dict, where)
        assigned += [_expect(p, int, f"{where}.params")
                     for p in _expect(group.get("params"), list, f"{where}.params")]
        for key, value in group.items():
            numbers = value if isinstance(value, (list, tuple)) and key != "params" else [value]
            if key != "params" and not all(v is None or isinstance(v, (bool, int, float))
                                           for v in numbers):
                raise ValueError(f"{where}.{key} holds {value!r:.60}; expected a number, a "
                                 "bool or None.")
        if group.get("differentiable"):
            raise ValueError(f"{where}.differentiable is true: a fitted model's optimizer "
                             "is not differentiable.")
        if group.get("amsgrad") and not all("max_exp_avg_sq" in state.get(p, {"": 0})
                                            for p in group["params"] if p in state):
            raise ValueError(f"{where}.amsgrad is true but its state lacks max_exp_avg_sq.")
    if assigned != list(range(n_parameters)):
        raise ValueError(f"optimizer.param_groups assign the parameters {assigned[:12]}"
                         f"{' ...' if len(assigned) > 12 else ''}; expected each of the "
                         f"network's {n_parameters} once, in order.")
