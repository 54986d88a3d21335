"""The JSON encoding of :mod:`skoperator.io`'s files: values, tensors and allow-listed components.

:class:`Writer` turns parameters and fitted values into plain JSON (with the
tagged objects the format documents), collecting tensors for
``weights.safetensors``; :class:`Reader` decodes them, creating components
from the allow-list only, and raises ``ValueError`` naming the entry of a
damaged file. No code named by a file is ever run.
"""

import functools
import inspect
import math
import os
import pathlib
import sys

import numpy as np
import torch
from sklearn.base import BaseEstimator
from torch import nn

from . import losses, networks, optimizers, physics, sampling, schedules
from ._component import Component

#: Public modules whose components may be saved, and the registries in each.
_COMPONENT_MODULES = {
    networks: ("BRANCHES", "TRUNKS", "MERGES"),
    losses: ("LOSSES",),
    schedules: ("SCHEDULES",),
    sampling: ("SAMPLERS",),
    optimizers: ("OPTIMIZERS",),
    physics: (),
}
#: Public modules of components that import this one (so not imported here):
#: allowed once imported, as they are by whoever built such a component.
_LATER_MODULES = ("skoperator.callbacks",)
WEIGHTS = "weights.safetensors"
_TAGS = frozenset({"__tuple__", "__float__", "__array__", "__tensor__", "__strings__",
                   "__device__", "__random_state__", "__component__", "__path__"})


def _safetensors():
    try:
        import safetensors.torch
    except ImportError as exc:
        raise ImportError("skoperator.io.dump, load and checkpoints need the safetensors "
                          "package: pip install 'skoperator[io]'.") from exc
    return safetensors.torch


def save_tensors(tensors):
    """``weights.safetensors``'s bytes of a dict of tensors."""
    return _safetensors().save(tensors)


def load_tensors(data):
    """The dict of tensors of ``weights.safetensors``'s bytes."""
    return _safetensors().load(data)


# ------------------------------------------------------------------ complex tensors
_COMPLEX = "complex_as_real"


def as_real(obj):
    """``obj`` with every complex tensor as ``{_COMPLEX: view_as_real}`` (the codec's floats)."""
    if torch.is_tensor(obj) and obj.is_complex():
        return {_COMPLEX: torch.view_as_real(obj.detach())}
    if isinstance(obj, dict):
        return {k: as_real(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(as_real(v) for v in obj)
    return obj


def as_complex(obj):
    """The inverse of :func:`as_real`."""
    if isinstance(obj, dict):
        if set(obj) == {_COMPLEX}:
            return torch.view_as_complex(obj[_COMPLEX].contiguous())
        return {k: as_complex(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(as_complex(v) for v in obj)
    return obj


# ------------------------------------------------------------------ allow-list
def _component_types():
    """Every component class skoperator defines, with the name it is saved under."""
    names = {}
    later = {sys.modules[name]: () for name in _LATER_MODULES if name in sys.modules}
    for module, registries in {**_COMPONENT_MODULES, **later}.items():
        module_name = module.__name__
        for attr in getattr(module, "__all__", ()):
            obj = getattr(module, attr, None)
            if inspect.isclass(obj) and issubclass(obj, Component):
                names.setdefault(obj, f"{module_name}.{attr}")
        for registry in registries:
            for spec in getattr(module, registry, {}).values():
                cls = spec.func if isinstance(spec, functools.partial) else spec
                if inspect.isclass(cls) and issubclass(cls, Component):
                    names.setdefault(cls, f"{cls.__module__}.{cls.__qualname__}")
    # Subclasses of these defined in skoperator's own modules, public and at module
    # level (private ones, such as the wrappers of user modules, are walked through).
    stack, seen = list(names), set(names)
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub in seen or not sub.__module__.startswith("skoperator."):
                continue
            seen.add(sub)
            stack.append(sub)
            module = sys.modules.get(sub.__module__)
            if not sub.__name__.startswith("_") and getattr(module, sub.__name__, None) is sub:
                names[sub] = f"{sub.__module__}.{sub.__qualname__}"
    return names


def allowed_types(trusted_types):
    """The allow-list: class -> saved name, with the caller's ``trusted_types``."""
    names = _component_types()
    if inspect.isclass(trusted_types):
        raise TypeError(f"trusted_types must be a list of classes; got the class "
                        f"{trusted_types.__name__}: pass [{trusted_types.__name__}].")
    for cls in trusted_types or ():
        if not (inspect.isclass(cls) and issubclass(cls, BaseEstimator)):
            raise TypeError(
                f"trusted_types must hold classes of components (subclasses of "
                f"sklearn.base.BaseEstimator, such as a BaseBranch of your own); got {cls!r}. "
                "Pass the class itself, not its name: nothing is imported by name.")
        names.setdefault(cls, f"{cls.__module__}.{cls.__qualname__}")
    return names



# -------------------------------------------------------------------- encoding
class Unsupported(Exception):
    """A value :func:`dump` cannot write (``where`` names it)."""

    def __init__(self, where, value, hint=""):
        super().__init__(where)
        self.where, self.value, self.hint = where, value, hint


def _hint(value):
    if isinstance(value, nn.Module):
        return (" A torch.nn.Module is code (its class) as well as weights, which only "
                "pickle rebuilds; use a component of skoperator.networks instead, or save "
                "this model with pickle or joblib (and load it from trusted sources only).")
    if isinstance(value, BaseEstimator):
        return (f" {type(value).__qualname__} is not one of skoperator's components; if it is "
                "a component of your own whose constructor arguments are plain values, pass "
                f"trusted_types=[{type(value).__qualname__}] to dump and to load.")
    if hasattr(value, "to_numpy"):  # a pandas frame or series as a parameter
        return (f" A {type(value).__name__} is saved as an array: set the parameter to "
                "value.to_numpy() before dump (est.set_params(coords=coords.to_numpy())).")
    if callable(value):
        return (" A function is code, which this format never saves (so that loading runs "
                "none); replace it by a plain value before dump, or save this model with "
                "pickle or joblib.")
    return ""


class Writer:
    """Encodes values as JSON, collecting tensors and arrays for ``weights.safetensors``."""

    def __init__(self, allowed):
        self.allowed = allowed
        self.tensors = {}

    def tensor(self, value, name):
        self.tensors[name] = value.detach().cpu().contiguous().clone()
        return {"__tensor__": name}

    def encode(self, value, where):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, (int, np.integer)):
            return int(value)
        if isinstance(value, (float, np.floating)):
            value = float(value)
            return value if math.isfinite(value) else {"__float__": repr(value)}
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if not isinstance(key, str) or (key.startswith("__") and key.endswith("__")):
                    raise Unsupported(where, value, " Dictionaries are saved with plain "
                                       "string keys only.")
                out[key] = self.encode(item, f"{where}[{key!r}]")
            return out
        if isinstance(value, torch.device):
            return {"__device__": str(value)}
        if isinstance(value, os.PathLike):  # a callback's file or directory
            return {"__path__": self.encode(os.fspath(value), where)}
        if isinstance(value, np.random.RandomState):
            kind, keys, pos, has_gauss, cached = value.get_state()
            return {"__random_state__": {
                "kind": kind, "keys": self.encode(np.asarray(keys, np.int64), f"{where}.keys"),
                "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}}
        if torch.is_tensor(value):
            if value.is_complex() or value.is_sparse:
                raise Unsupported(where, value, " Complex and sparse tensors are not saved.")
            return self.tensor(value, where)
        if isinstance(value, np.ndarray):
            return self._array(value, where)
        if isinstance(value, BaseEstimator) and type(value) in self.allowed:
            params = value.get_params(deep=False)
            return {"__component__": self.allowed[type(value)],
                    "params": {k: self.encode(v, f"{where}__{k}") for k, v in params.items()}}
        raise Unsupported(where, value, _hint(value))

    def fitted_component(self, value, where):
        """A component with its public fitted attributes (names ending in ``_``), or None."""
        if value is None:
            return None
        out = self.encode(value, where)
        out["fitted"] = {k: self.encode(v, f"{where}.{k}") for k, v in vars(value).items()
                         if k.endswith("_") and not k.startswith("_")}
        return out

    def _array(self, value, where):
        if value.dtype.kind in "OUS":
            items = value.tolist() if value.ndim == 1 else None
            if items is None or not all(isinstance(s, str) for s in items):
                raise Unsupported(where, value, " Object arrays are saved when they are "
                                   "one-dimensional arrays of strings only.")
            return {"__strings__": items, "dtype": value.dtype.str}
        if value.dtype.kind not in "biuf":
            raise Unsupported(where, value, f" Arrays of dtype {value.dtype} are not saved.")
        # in this machine's byte order (torch reads no other); dtype below keeps the saved one
        array = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("="))
        try:
            tensor = torch.from_numpy(array.copy())
        except TypeError:  # a dtype torch lacks: stored wider, converted back on load
            tensor = torch.from_numpy(array.astype(np.float64 if value.dtype.kind == "f"
                                                   else np.int64))
        self.tensors[where] = tensor
        return {"__array__": where, "dtype": value.dtype.str}


class Reader:
    """Decodes what :class:`Writer` encoded; creates allow-listed components only."""

    def __init__(self, allowed, tensors):
        self.allowed = {name: cls for cls, name in allowed.items()}
        self.tensors = tensors

    def _entry(self, name, where):
        if not isinstance(name, str) or name not in self.tensors:
            raise ValueError(f"the file is damaged: {where} refers to the tensor {name!r}, "
                             f"which {WEIGHTS} does not hold.")
        return self.tensors[name]

    def decode(self, obj, where):
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj
        if isinstance(obj, list):
            return [self.decode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        if not isinstance(obj, dict):
            raise ValueError(f"the file is damaged: {where} holds {type(obj).__name__}.")
        tags = set(_TAGS.intersection(obj))
        if not tags:
            if any(k.startswith("__") and k.endswith("__") for k in obj):
                raise ValueError(f"{where}: the file holds the unknown tag(s) "
                                 f"{sorted(k for k in obj if k.startswith('__'))}; it was "
                                 "written by another version of skoperator.")
            return {k: self.decode(v, f"{where}[{k!r}]") for k, v in obj.items()}
        tag = tags.pop()
        body = obj[tag]
        if tag == "__tuple__":
            return tuple(self.decode(body, where))
        if tag == "__float__":
            if body not in ("nan", "inf", "-inf"):
                raise ValueError(f"the file is damaged: {where} holds the float {body!r}.")
            return float(body)
        if tag == "__tensor__":
            return self._entry(body, where)
        if tag == "__array__":
            return self._entry(body, where).numpy().astype(np.dtype(str(obj["dtype"])),
                                                           copy=True)
        if tag == "__strings__":
            if not all(isinstance(s, str) for s in body):
                raise ValueError(f"the file is damaged: {where} is not a list of strings.")
            return np.asarray(body, dtype=np.dtype(str(obj["dtype"])))
        if tag == "__device__":
            return torch.device(str(body))
        if tag == "__path__":
            if not isinstance(body, str):
                raise ValueError(f"the file is damaged: {where} is not a path.")
            return pathlib.Path(body)
        if tag == "__random_state__":
            state = np.random.RandomState()
            keys = self.decode(body["keys"], f"{where}.keys").astype(np.uint32)
            state.set_state((str(body["kind"]), keys, int(body["pos"]), int(body["has_gauss"]),
                             float(body["cached_gaussian"])))
            return state
        return self._component(body, obj.get("params", {}), where, obj.get("fitted") or {})

    def _component(self, name, params, where, fitted):
        cls = self.allowed.get(name)
        if cls is None:
            short = str(name).rsplit(".", 1)[-1]
            raise ValueError(
                f"{where}: the file names the class {name!r}, which is not one of skoperator's "
                "components; load refuses to create it (a file must not choose what code "
                "runs). If it is a component class of your own and you trust this file, "
                f"pass the class: load(path, trusted_types=[{short}]).")
        if not isinstance(params, dict):
            raise ValueError(f"the file is damaged: the parameters of {where} are not an object.")
        kwargs = {k: self.decode(v, f"{where}__{k}") for k, v in params.items()}
        try:
            component = cls(**kwargs)
        except TypeError as exc:
            raise ValueError(f"{where}: {name}({', '.join(kwargs)}) failed: {exc}; the file was "
                             "written by another version of skoperator or of the class.") from exc
        if not isinstance(fitted, dict) or not all(
                isinstance(k, str) and k.endswith("_") and not k.startswith("_") for k in fitted):
            raise ValueError(f"the file is damaged: the fitted attributes of {where} are not "
                             "an object of names ending in '_'.")
        for key, value in fitted.items():  # the fit's copy: its fitted attributes
            setattr(component, key, self.decode(value, f"{where}.{key}"))
        return component

