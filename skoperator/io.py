"""Saving, loading and exporting fitted models: a file that runs no code when read, and ONNX.

:func:`dump` writes a :class:`~skoperator.DeepONetRegressor` (fitted or not)
to one file and :func:`load` reads it back; :func:`to_onnx` exports the
prediction of a fitted model as an ONNX graph (or two: branch and trunk),
for onnxruntime and other ONNX runtimes.

**Why not pickle, joblib or skops.** Pickle and joblib (which pickles)
execute code chosen by whoever wrote the file when it is read, and
``torch.load`` unpickles too. skops
(``skops.io``) is scikit-learn's answer for estimators, and was tried first
(skops 0.16, torch 2.13): ``skops.io.dump`` of a fitted
``DeepONetRegressor`` fails, because skops has no handler for torch tensors
and its generic fallback (``__reduce__``) cannot rebuild one (``RuntimeError:
Cannot directly construct TensorBase``); it fails on a bare ``torch.Tensor``
or ``nn.Linear`` alike. An unfitted estimator dumps, and
``skops.io.get_untrusted_types`` then lists
``skoperator._estimator.DeepONetRegressor`` and every component class, and,
for a fitted model stripped of its torch objects, also
``skoperator._training.StoppingState``: each would have to be trusted as a
whole type, and the network's state has no safe representation at all. skops
therefore does not serve, and this module writes its own format, from which
nothing but JSON and safetensors is read.

**The file format.** A zip archive (format version 1) holding two members:

``model.json``
    ``format`` ("skoperator.DeepONetRegressor"), ``format_version``, the
    versions of skoperator, torch and numpy that wrote it; ``params``, the
    constructor parameters; ``output_transform`` (None, or the name of the
    function, which is not saved); and ``fitted`` (None for an unfitted
    estimator), which holds the fitted attributes, the architecture the
    network was built from (``_architecture``), the early-stopping state
    (``_stopping``), the Adam state's non-tensor part, the names of the
    network's tensors and, for grid branches, the shape of their inputs.
    Values are plain JSON (strings, numbers, booleans, null, lists, objects)
    or one of these tagged objects: ``{"__tuple__": [...]}``,
    ``{"__float__": "nan" | "inf" | "-inf"}``,
    ``{"__array__": name, "dtype": "<f8"}`` and ``{"__tensor__": name}`` (the
    data is the entry ``name`` of ``weights.safetensors``),
    ``{"__strings__": [...], "dtype": ...}`` (an array of strings, such as
    ``feature_names_in_``), ``{"__device__": "cuda:0"}``,
    ``{"__random_state__": {...}}`` (a ``numpy.random.RandomState``'s state)
    and ``{"__component__": "skoperator.networks.FNOBranch", "params":
    {...}}``.
``weights.safetensors``
    Every tensor and array: the network's ``state_dict`` (weights, the
    input/output scalings, POD modes, projection bases, random Fourier
    frequencies), the Adam moments, ``coords_`` and array parameters.

Components are created only from an allow-list: the classes of
:mod:`skoperator.networks`, :mod:`skoperator.losses`,
:mod:`skoperator.schedules`, :mod:`skoperator.sampling` and
:mod:`skoperator.physics` (their registries ``BRANCHES``, ``TRUNKS``,
``MERGES``, ``LOSSES``, ``SCHEDULES``, ``SAMPLERS`` and the subclasses of
their base classes defined in skoperator), plus the classes a caller passes
in ``trusted_types``. Anything else in the parameters (a function, a lambda,
a ``torch.nn.Module`` or factory as ``branch``/``trunk``, a component class of
your own) makes :func:`dump` raise a ``TypeError`` that names the parameter,
and a file naming a class outside the allow-list makes :func:`load` raise a
``ValueError``. ``output_transform`` is the exception: it is code, so it is
not saved, and must be passed again to :func:`load`.

:func:`load` rebuilds the network's skeleton with the estimator's own
builder (on placeholder data of the right shapes) and fills it with the saved
tensors (``load_state_dict(strict=True)``), on the CPU; a model fitted on a
GPU loads on a machine without one, and ``predict`` falls back to the CPU
there. The loaded model predicts exactly as the saved one, continues training
with ``warm_start=True`` (the optimizer state is restored) and pickles as
before.
"""

import copy
import dataclasses
import functools
import importlib
import inspect
import json
import math
import re
import sys
import types
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from torch import nn

__all__ = ["dump", "load", "to_onnx"]

#: The ``format`` entry of ``model.json``.
FORMAT = "skoperator.DeepONetRegressor"
#: The format version this module writes; :func:`load` reads the versions in ``_READABLE``.
FORMAT_VERSION = 1
_READABLE = (1,)
_JSON, _WEIGHTS = "model.json", "weights.safetensors"

#: Public modules whose components may be saved, and the registries in each.
_COMPONENT_MODULES = {
    "skoperator.networks": ("BRANCHES", "TRUNKS", "MERGES"),
    "skoperator.losses": ("LOSSES",),
    "skoperator.schedules": ("SCHEDULES",),
    "skoperator.sampling": ("SAMPLERS",),
    "skoperator.physics": (),
}
#: Attributes rebuilt by ``_set_inference_network`` (never saved).
_REBUILT = ("network_", "_cpu_network", "_flop_rates")
_TAGS = frozenset({"__tuple__", "__float__", "__array__", "__tensor__", "__strings__",
                   "__device__", "__random_state__", "__component__"})


# ------------------------------------------------------------------ allow-list
def _component_types():
    """Every component class skoperator defines, with the name it is saved under."""
    from ._component import Component

    names = {}
    for module_name, registries in _COMPONENT_MODULES.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # a module of a later version
            continue
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


def _allowed(trusted_types):
    """The allow-list: class -> saved name, with the caller's ``trusted_types``."""
    names = _component_types()
    for cls in trusted_types or ():
        if not (inspect.isclass(cls) and issubclass(cls, BaseEstimator)):
            raise TypeError(
                f"trusted_types must hold classes of components (subclasses of "
                f"sklearn.base.BaseEstimator, such as a BaseBranch of your own); got {cls!r}. "
                "Pass the class itself, not its name: nothing is imported by name.")
        names.setdefault(cls, f"{cls.__module__}.{cls.__qualname__}")
    return names


# -------------------------------------------------------------------- encoding
class _Unsupported(Exception):
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
    if callable(value):
        return (" A function is code, which this format never saves (so that loading runs "
                "none); replace it by a plain value before dump, or save this model with "
                "pickle or joblib.")
    return ""


class _Writer:
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
                    raise _Unsupported(where, value, " Dictionaries are saved with plain "
                                       "string keys only.")
                out[key] = self.encode(item, f"{where}[{key!r}]")
            return out
        if isinstance(value, torch.device):
            return {"__device__": str(value)}
        if isinstance(value, np.random.RandomState):
            kind, keys, pos, has_gauss, cached = value.get_state()
            return {"__random_state__": {
                "kind": kind, "keys": self.encode(np.asarray(keys, np.int64), f"{where}.keys"),
                "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}}
        if torch.is_tensor(value):
            if value.is_complex() or value.is_sparse:
                raise _Unsupported(where, value, " Complex and sparse tensors are not saved.")
            return self.tensor(value, where)
        if isinstance(value, np.ndarray):
            return self._array(value, where)
        if isinstance(value, BaseEstimator) and type(value) in self.allowed:
            params = value.get_params(deep=False)
            return {"__component__": self.allowed[type(value)],
                    "params": {k: self.encode(v, f"{where}__{k}") for k, v in params.items()}}
        raise _Unsupported(where, value, _hint(value))

    def _array(self, value, where):
        if value.dtype.kind in "OUS":
            items = value.tolist() if value.ndim == 1 else None
            if items is None or not all(isinstance(s, str) for s in items):
                raise _Unsupported(where, value, " Object arrays are saved when they are "
                                   "one-dimensional arrays of strings only.")
            return {"__strings__": items, "dtype": value.dtype.str}
        if value.dtype.kind not in "biuf":
            raise _Unsupported(where, value, f" Arrays of dtype {value.dtype} are not saved.")
        array = np.ascontiguousarray(value)
        try:
            tensor = torch.from_numpy(array.copy())
        except TypeError:  # a dtype torch lacks: stored wider, converted back on load
            tensor = torch.from_numpy(array.astype(np.float64 if value.dtype.kind == "f"
                                                   else np.int64))
        self.tensors[where] = tensor
        return {"__array__": where, "dtype": value.dtype.str}


class _Reader:
    """Decodes what :class:`_Writer` encoded; creates allow-listed components only."""

    def __init__(self, allowed, tensors):
        self.allowed = {name: cls for cls, name in allowed.items()}
        self.tensors = tensors

    def _entry(self, name, where):
        if not isinstance(name, str) or name not in self.tensors:
            raise ValueError(f"the file is damaged: {where} refers to the tensor {name!r}, "
                             f"which {_WEIGHTS} does not hold.")
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
        if tag == "__random_state__":
            state = np.random.RandomState()
            keys = self.decode(body["keys"], f"{where}.keys").astype(np.uint32)
            state.set_state((str(body["kind"]), keys, int(body["pos"]), int(body["has_gauss"]),
                             float(body["cached_gaussian"])))
            return state
        return self._component(body, obj.get("params", {}), where)

    def _component(self, name, params, where):
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
            return cls(**kwargs)
        except TypeError as exc:
            raise ValueError(f"{where}: {name}({', '.join(kwargs)}) failed: {exc}; the file was "
                             "written by another version of skoperator or of the class.") from exc


# --------------------------------------------------------------------- dump
def _describe(function):
    module = getattr(function, "__module__", None)
    name = getattr(function, "__qualname__", None) or type(function).__qualname__
    return f"{module}.{name}" if module else name


def _grid_input_shape(network):
    """``U.shape[1:]`` as the grid branch was built from it (None without a grid branch)."""
    from ._fno import FNO
    from ._layers import ConvNet, Stack

    branch = network.branch
    for module in (branch.nets if isinstance(branch, Stack) else [branch]):
        if isinstance(module, (FNO, ConvNet)):
            channels, *grid = module.input_shape
            return list(grid) if channels == 1 else [channels, *grid]
    return None


def _fitted_state(est, params, writer):
    """The ``fitted`` entry of ``model.json`` (tensors go to ``writer``)."""
    network = est.network_
    state = network.state_dict()
    for key, value in state.items():
        writer.tensor(value, f"network.{key}")
    attributes, optimizer, architecture, stopping = {}, None, None, None
    for name, value in vars(est).items():
        if name in params or name in _REBUILT:
            continue
        if name == "_optimizer_state":
            optimizer = None if value is None else {
                "state": [[int(i), writer.encode(s, f"optimizer.state.{i}")]
                          for i, s in value["state"].items()],
                "param_groups": writer.encode(value["param_groups"], "optimizer.param_groups")}
        elif name == "_architecture":
            architecture = {k: writer.encode(v, f"_architecture.{k}")
                            for k, v in value.items() if k != "output_transform"}
        elif name == "_stopping":
            stopping = {}
            for field in dataclasses.fields(value):
                if field.name == "best_weights":
                    continue
                item = getattr(value, field.name)
                if field.name == "history":
                    item = [dataclasses.asdict(r) if dataclasses.is_dataclass(r) else r
                            for r in item]
                stopping[field.name] = writer.encode(item, f"_stopping.{field.name}")
        else:
            attributes[name] = writer.encode(value, name)
    return {"attributes": attributes, "architecture": architecture, "stopping": stopping,
            "optimizer": optimizer, "network": list(state), "input_shape":
            _grid_input_shape(network)}


def _safetensors():
    try:
        import safetensors.torch
    except ImportError as exc:
        raise ImportError("skoperator.io.dump and load need the safetensors package: pip "
                          "install 'skoperator[io]'.") from exc
    return safetensors.torch


def _write_zip(path, document, tensors):
    save = _safetensors().save
    text = json.dumps(document, indent=1, allow_nan=False).encode("utf-8")
    with zipfile.ZipFile(path, "w") as archive:
        for name, data, method in ((_JSON, text, zipfile.ZIP_DEFLATED),
                                   (_WEIGHTS, save(tensors), zipfile.ZIP_STORED)):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)


def dump(estimator, path, *, trusted_types=None):
    """Save a DeepONetRegressor to a file that :func:`load` reads without running code.

    The file (a zip of ``model.json`` and ``weights.safetensors``; see the
    module documentation) holds the constructor parameters, the fitted
    network's tensors, every fitted attribute and the optimizer state, so
    that the loaded model predicts identically and continues training with
    ``warm_start=True``. ``output_transform`` is not saved (it is code): pass
    it again to :func:`load`.

    Parameters
    ----------
    estimator : DeepONetRegressor
        The estimator, fitted or not.
    path : str or path-like
        The file to write (overwritten). The suffix is free; ``.skop`` is
        a good one.
    trusted_types : list of type, default=None
        Component classes of your own (subclasses of a base class of
        :mod:`skoperator.networks` and the like, whose constructor arguments
        are plain values) to save by name; :func:`load` must be given the same
        classes.

    Returns
    -------
    path : str
        The file written.

    Raises
    ------
    TypeError
        When a parameter or fitted attribute is something this format does
        not hold (a function, a ``torch.nn.Module`` or factory as ``branch``
        or ``trunk``, a component class that is neither skoperator's nor in
        ``trusted_types``); the message names it.

    See Also
    --------
    load : Read the file back.
    to_onnx : Export the prediction as an ONNX graph.

    Examples
    --------
    >>> import os, tempfile
    >>> from skoperator import DeepONetRegressor
    >>> from skoperator.datasets import make_antiderivative
    >>> from skoperator.io import dump, load
    >>> U, Y, G = make_antiderivative(40, n_points=20, random_state=0)
    >>> est = DeepONetRegressor(coords=Y, n_basis=8, max_iter=3, tol=None,
    ...                         random_state=0).fit(U, G)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.skop")
    >>> _ = dump(est, path)
    >>> bool((load(path).predict(U) == est.predict(U)).all())
    True
    """
    from . import __version__
    from ._estimator import DeepONetRegressor

    if type(estimator) is not DeepONetRegressor:
        raise TypeError(f"dump saves a DeepONetRegressor (load creates one); got "
                        f"{type(estimator).__name__}.")
    writer = _Writer(_allowed(trusted_types))
    params = estimator.get_params(deep=False)
    transform = params.pop("output_transform", None)
    document = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "skoperator_version": __version__,
        "torch_version": torch.__version__, "numpy_version": np.__version__,
        "output_transform": None if transform is None else _describe(transform),
    }
    try:
        document["params"] = {k: writer.encode(v, k) for k, v in params.items()}
        document["fitted"] = (_fitted_state(estimator, set(params) | {"output_transform"},
                                            writer)
                              if hasattr(estimator, "network_") else None)
    except _Unsupported as exc:
        value = repr(exc.value)
        value = value if len(value) <= 80 else value[:77] + "..."
        top = exc.where.split(".")[0].split("[")[0].split("__")[0]
        kind = "parameter" if top in params else "fitted attribute"
        hint = exc.hint
        if top == "physics":
            hint += (" The physics term shapes training only: estimator.set_params("
                     "physics=None) before dump saves the fitted model (set it again on the "
                     "loaded one to continue training).")
        raise TypeError(
            f"dump cannot save the {kind} {exc.where} = {value} (a {type(exc.value).__name__}): "
            "the file holds plain values (numbers, strings, lists, tuples, arrays) and "
            f"skoperator's components only, so that loading it runs no code.{hint}") from None
    _write_zip(path, document, writer.tensors)
    return str(path)


# --------------------------------------------------------------------- load
def _read_zip(path):
    load_tensors = _safetensors().load
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{path} is not a file written by skoperator.io.dump (not a zip "
                         "archive).") from exc
    with archive:
        names = set(archive.namelist())
        if _JSON not in names or _WEIGHTS not in names:
            raise ValueError(f"{path} is not a file written by skoperator.io.dump (it lacks "
                             f"{_JSON} or {_WEIGHTS}).")
        document = json.loads(archive.read(_JSON).decode("utf-8"))
        _check_versions(document, path)
        try:
            tensors = load_tensors(archive.read(_WEIGHTS))
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own errors
            raise ValueError(f"{path} is damaged: its {_WEIGHTS} cannot be read "
                             f"({type(exc).__name__}: {exc}).") from exc
    return document, tensors


def _check_versions(document, path):
    from . import __version__

    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"{path} is not a file written by skoperator.io.dump (its "
                         f"{_JSON} has no format {FORMAT!r}).")
    version = document.get("format_version")
    if version not in _READABLE:
        raise ValueError(
            f"{path} has format version {version!r}, which this skoperator ({__version__}) "
            f"does not read (it reads {', '.join(map(str, _READABLE))}); it was written by "
            f"skoperator {document.get('skoperator_version')}. Load it with that version.")
    saved = document.get("skoperator_version")
    if saved != __version__:
        warnings.warn(
            f"This model was saved with skoperator {saved} and is loaded with skoperator "
            f"{__version__}; check its predictions, or load it with skoperator {saved}.",
            UserWarning, stacklevel=4)


def _skeleton(arch, coords, n_features, input_sizes, input_shape):
    """A network of the fitted architecture, built on placeholder data of the right shapes.

    Its tensors (scalings, POD modes, projection bases too) are then
    overwritten by the saved ones.
    """
    from ._planning import build
    from .networks import as_branch, as_trunk

    n_outputs, n_basis = int(arch.n_outputs), int(arch.n_basis)
    n = max(n_basis * n_outputs, 2) + 1  # enough functions for a POD trunk's rank
    U = np.zeros((n, int(n_features)), dtype=np.float32)
    G = np.random.default_rng(0).standard_normal((n, n_outputs * coords.shape[0]))
    return build(arch, U, G, coords, as_branch(arch.branch).check(),
                 as_trunk(arch.trunk).check(), tuple(input_sizes),
                 None if input_shape is None else tuple(int(s) for s in input_shape),
                 torch.Generator().manual_seed(0))


def _restore_fitted(est, fitted, reader, output_transform):
    from ._planning import ARCHITECTURE, architecture_snapshot
    from ._training import StoppingState

    attributes = {k: reader.decode(v, k) for k, v in fitted["attributes"].items()}
    missing = sorted({"coords_", "n_features_in_", "input_sizes_"} - set(attributes))
    if missing or not isinstance(fitted.get("architecture"), dict):
        raise ValueError(f"the file is damaged: its fitted model lacks "
                         f"{missing or ['_architecture']}.")
    arch = {name: getattr(est, name) for name in ARCHITECTURE}  # settings a file may lack
    arch.update({k: reader.decode(v, f"_architecture.{k}")
                 for k, v in fitted["architecture"].items()})
    arch["output_transform"] = output_transform
    arch = types.SimpleNamespace(**arch)
    network = _skeleton(arch, attributes["coords_"], attributes["n_features_in_"],
                        attributes["input_sizes_"], fitted.get("input_shape"))
    state = {k: reader._entry(f"network.{k}", f"network.{k}") for k in fitted["network"]}
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"the saved weights do not fit the network rebuilt from the saved "
                         f"architecture: {exc}") from exc
    for name, value in attributes.items():
        setattr(est, name, value)
    est.network_ = network
    optimizer = fitted.get("optimizer")
    if optimizer is not None:
        optimizer = {
            "state": {int(i): reader.decode(s, f"optimizer.state.{i}")
                      for i, s in optimizer["state"]},
            "param_groups": reader.decode(optimizer["param_groups"], "optimizer.param_groups")}
    est._optimizer_state = optimizer
    est._architecture = architecture_snapshot(arch)
    stopping = {k: reader.decode(v, f"_stopping.{k}")
                for k, v in (fitted.get("stopping") or {}).items()}
    known = {f.name for f in dataclasses.fields(StoppingState)}
    est._stopping = StoppingState(**{k: v for k, v in stopping.items() if k in known})
    est._set_inference_network()


def load(path, *, output_transform=None, trusted_types=None):
    """Load a DeepONetRegressor saved by :func:`dump`, running no code from the file.

    Only JSON and safetensors are read: nothing is unpickled or evaluated,
    and components are created from skoperator's own classes (and
    ``trusted_types``) only. The network is rebuilt from the saved
    architecture and filled with the saved tensors, on the CPU; ``predict``
    gives the saved model's predictions, and ``fit`` with ``warm_start=True``
    continues from the saved weights and optimizer state.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`dump`.
    output_transform : callable, default=None
        The ``output_transform`` the model was fitted with, which the file
        does not hold (it is code); required when the model had one, refused
        when it had none.
    trusted_types : list of type, default=None
        Component classes of your own that the file may name (the classes
        given to :func:`dump`).

    Returns
    -------
    estimator : DeepONetRegressor
        The estimator, fitted when the saved one was.

    Raises
    ------
    ValueError
        When the file is not one :func:`dump` writes, has an unknown format
        version, names a class outside the allow-list, or when
        ``output_transform`` does not match what was saved.

    Warns
    -----
    UserWarning
        When the file was written by another version of skoperator.

    See Also
    --------
    dump : Write the file.

    Examples
    --------
    >>> import os, tempfile
    >>> from skoperator import DeepONetRegressor
    >>> from skoperator.io import dump, load
    >>> path = os.path.join(tempfile.mkdtemp(), "unfitted.skop")
    >>> _ = dump(DeepONetRegressor(n_basis=16, learning_rate="cosine"), path)
    >>> load(path)
    DeepONetRegressor(learning_rate='cosine', n_basis=16)
    """
    from ._estimator import DeepONetRegressor

    document, tensors = _read_zip(path)
    reader = _Reader(_allowed(trusted_types), tensors)
    params = {k: reader.decode(v, k) for k, v in document.get("params", {}).items()}
    known = DeepONetRegressor().get_params(deep=False)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"{path} sets the parameter(s) {unknown}, which this version of "
                         "DeepONetRegressor does not have; load it with the version of "
                         f"skoperator that wrote it ({document.get('skoperator_version')}).")
    params.pop("output_transform", None)
    saved = document.get("output_transform")
    if saved is not None and output_transform is None:
        raise ValueError(
            f"This model was fitted with output_transform={saved}, which the file does not "
            "hold (it is code); pass it again: load(path, output_transform=...).")
    if saved is None and output_transform is not None:
        raise ValueError("This model was saved without an output_transform; loading it with "
                         "one would change its predictions. Leave output_transform=None.")
    estimator = DeepONetRegressor(**params, output_transform=output_transform)
    if document.get("fitted") is not None:
        _restore_fitted(estimator, document["fitted"], reader, output_transform)
    return estimator


# ----------------------------------------------------------------------- ONNX
class _DFTSpectralConv(nn.Module):
    """:class:`~skoperator._fno.SpectralConv` on a fixed grid with real arithmetic only.

    The kept Fourier modes are computed as products with cosine and sine
    matrices (the discrete Fourier transform restricted to those modes), the
    complex weights as pairs of real tensors, and the inverse transform as
    ``irfft`` does it (half-spectrum, the imaginary parts of the zero and
    Nyquist frequencies dropped): the same function as the FFT-based layer,
    in operations every ONNX exporter and runtime has.
    """

    def __init__(self, spectral, shape):
        super().__init__()
        shape = tuple(int(n) for n in shape)
        d = len(shape)
        corners = spectral._corners(shape)
        kept = [s.stop for s in corners[0][1]]
        self.d = d
        dtype = spectral.weights[0].dtype
        # Frequencies along every axis, in the order of the weight blocks.
        freqs = []
        for axis in range(d - 1):
            k, n = kept[axis], shape[axis]
            freqs.append(list(range(k)) + list(range(n - k, n)))
        freqs.append(list(range(kept[-1])))
        for axis, (f, n) in enumerate(zip(freqs, shape)):
            ang = 2 * math.pi * np.outer(np.arange(n), np.asarray(f, dtype=np.float64)) / n
            self.register_buffer(f"fc{axis}", torch.tensor(np.cos(ang), dtype=dtype))
            self.register_buffer(f"fs{axis}", torch.tensor(np.sin(ang), dtype=dtype))
            # The inverse, (len(f), n): irfft counts every kept frequency of the last
            # axis twice (for its conjugate), except zero and the Nyquist frequency.
            f = np.asarray(f)
            twice = np.where((f == 0) | (2 * f == n), 1.0, 2.0) if axis == d - 1 else 1.0
            inv_c = np.cos(ang.T) * (np.reshape(twice, (-1, 1)) / n)
            inv_s = np.sin(ang.T) * (np.reshape(twice, (-1, 1)) / n)
            self.register_buffer(f"ic{axis}", torch.tensor(inv_c, dtype=dtype))
            self.register_buffer(f"is{axis}", torch.tensor(inv_s, dtype=dtype))
        # One weight tensor over all kept modes: the corner blocks side by side.
        full = torch.zeros(spectral.in_channels, spectral.out_channels,
                           *[len(f) for f in freqs], 2, dtype=dtype)
        for corner, weight in enumerate(spectral.weights):
            index = []
            for axis in range(d - 1):
                k = kept[axis]
                index.append(slice(k, 2 * k) if (corner >> axis) & 1 else slice(0, k))
            index.append(slice(0, kept[-1]))
            block = weight.detach()[(slice(None), slice(None)) + tuple(slice(0, k) for k in kept)]
            full[(slice(None), slice(None)) + tuple(index)] = block
        self.register_buffer("w_re", full[..., 0].contiguous())
        self.register_buffer("w_im", full[..., 1].contiguous())
        axes = "xyz"[:d]
        self.equation = f"bi{axes},io{axes}->bo{axes}"

    def _along(self, x, axis, matrix):
        """``x`` times ``matrix`` along grid axis ``axis`` (the last one needs no transpose)."""
        if axis == self.d - 1:
            return x @ matrix
        dim = 2 + axis
        return (x.transpose(dim, -1) @ matrix).transpose(dim, -1)

    def forward(self, x):
        d = self.d
        re = self._along(x, d - 1, getattr(self, f"fc{d - 1}"))
        im = -self._along(x, d - 1, getattr(self, f"fs{d - 1}"))
        for axis in range(d - 1):  # exp(-i a) = cos a - i sin a
            c, s = getattr(self, f"fc{axis}"), getattr(self, f"fs{axis}")
            re, im = (self._along(re, axis, c) + self._along(im, axis, s),
                      self._along(im, axis, c) - self._along(re, axis, s))
        eq = self.equation
        re, im = (torch.einsum(eq, re, self.w_re) - torch.einsum(eq, im, self.w_im),
                  torch.einsum(eq, re, self.w_im) + torch.einsum(eq, im, self.w_re))
        for axis in range(d - 1):  # exp(+i a) / n
            c, s = getattr(self, f"ic{axis}"), getattr(self, f"is{axis}")
            re, im = (self._along(re, axis, c) - self._along(im, axis, s),
                      self._along(re, axis, s) + self._along(im, axis, c))
        return self._along(re, d - 1, getattr(self, f"ic{d - 1}")) - \
            self._along(im, d - 1, getattr(self, f"is{d - 1}"))


class _AveragePool(nn.Module):
    """Adaptive average pooling of a fixed grid as one averaging matrix per axis."""

    def __init__(self, grid, output_size, dtype):
        super().__init__()
        grid = tuple(int(n) for n in grid)
        sizes = (output_size,) * len(grid) if isinstance(output_size, int) else output_size
        self.d = len(grid)
        for axis, (n, m) in enumerate(zip(grid, sizes)):
            matrix = np.zeros((n, m))
            for i in range(m):
                start, stop = (i * n) // m, ((i + 1) * n + m - 1) // m
                matrix[start:stop, i] = 1.0 / (stop - start)
            self.register_buffer(f"p{axis}", torch.tensor(matrix, dtype=dtype))

    def forward(self, x):
        for axis in range(self.d):
            dim = 2 + axis
            x = (x.transpose(dim, -1) @ getattr(self, f"p{axis}")).transpose(dim, -1)
        return x


class _StaticResidualMLP(nn.Module):
    """:class:`~skoperator._layers.ResidualMLP` with its skip connections decided once.

    The original compares the shapes of activations at every call, which a
    tracing exporter would have to freeze; a block has a skip connection
    exactly when its input and output widths agree.
    """

    def __init__(self, residual):
        super().__init__()
        self.lift, self.blocks, self.out, self.act = (residual.lift, residual.blocks,
                                                      residual.out, residual.act)
        self.skips = tuple(b.in_features == b.out_features for b in residual.blocks)

    def forward(self, x):
        h = self.act(self.lift(x))
        for block, skip in zip(self.blocks, self.skips):
            z = self.act(block(h))
            h = h + z if skip else z
        return self.out(h)


def _exportable(network, dtype=torch.float32):
    """A copy of ``network`` on the CPU in ``dtype``, in operations that export to ONNX.

    Fourier layers use no FFT or complex numbers, and residual MLPs no
    comparison of shapes.
    """
    from ._fno import FNO
    from ._layers import ResidualMLP

    net = copy.deepcopy(network).cpu().to(dtype).eval()
    for module in list(net.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, ResidualMLP):
                setattr(module, name, _StaticResidualMLP(child))
    for module in list(net.modules()):
        if not isinstance(module, FNO):
            continue
        grid = module.input_shape[1:]
        padded = tuple(n + p for n, p in zip(grid, module.pad))
        module.spectral = nn.ModuleList(_DFTSpectralConv(s, padded) for s in module.spectral)
        last = module.project[-1]
        if isinstance(last, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)):
            module.project[-1] = _AveragePool(grid, last.output_size, dtype)
    return net


class _Whole(nn.Module):
    """U and coords (or, for a POD trunk, point indices) -> G in predict's column layout."""

    def __init__(self, network, coords):
        super().__init__()
        self.net = network
        if network.trunk_is_table:  # the raw coordinates of the training points
            self.register_buffer("points", torch.as_tensor(coords, dtype=torch.float32))

    def forward(self, u, y):
        net = self.net
        if net.trunk_is_table:  # y holds indices into the training points
            index, y = y, self.points[y]
            t = net.encode_trunk(y, index)
        else:
            t = net.encode_trunk(y)
        out = net.unscale(net.transform(y, net.combine(net.encode_branch(u), t)))
        if out.dim() == 3:  # (n, m, fields) -> field c at point j in column c * m + j
            out = out.permute(0, 2, 1)
        return out.reshape(out.shape[0], -1)


class _Coefficients(nn.Module):
    """U -> coefficients (n, n_outputs * n_basis), the output scale folded in."""

    def __init__(self, network):
        super().__init__()
        self.net = network
        k, p = network.n_outputs, network.n_basis
        self.repeat = k if network.branch_fields == 1 else 1
        self.register_buffer("scale", network.g_scale.detach().float().repeat_interleave(p))

    def forward(self, u):
        b = self.net.encode_branch(u)
        if self.repeat > 1:
            b = b.repeat(1, self.repeat)
        return b * self.scale


class _Basis(nn.Module):
    """coords (or POD point indices) -> basis (m, n_outputs * n_basis)."""

    def __init__(self, network):
        super().__init__()
        self.net = network
        self.repeat = network.n_outputs if network.trunk_fields == 1 else 1

    def forward(self, y):
        net = self.net
        t = net.trunk.at_index(y) if net.trunk_is_table else net.encode_trunk(y)
        if self.repeat > 1:
            t = t.repeat(1, self.repeat)
        return t


def _torch_export(module, args, path, names, outputs, axes, opset, dynamo):
    """One ``torch.onnx.export`` call with the TorchScript or the dynamo exporter."""
    has_dynamo = "dynamo" in inspect.signature(torch.onnx.export).parameters
    if dynamo:
        if not has_dynamo:
            raise RuntimeError("this torch has no dynamo ONNX exporter")
        shapes = tuple({a: torch.export.Dim(n, min=1) for a, n in axes.get(name, {}).items()}
                       or None for name in names)
        torch.onnx.export(module, args, str(path), dynamo=True, input_names=list(names),
                          output_names=list(outputs), dynamic_shapes=shapes,
                          opset_version=opset, external_data=False, verbose=False)
        return
    kwargs = {"dynamo": False} if has_dynamo else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", torch.jit.TracerWarning)
        # torch's notice that this exporter is deprecated concerns this module, not its user.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", message="Constant folding", category=UserWarning)
        torch.onnx.export(module, args, str(path), input_names=list(names),
                          output_names=list(outputs), dynamic_axes=dict(axes),
                          opset_version=opset, do_constant_folding=True, **kwargs)
    for warning in caught:
        # A tracer warning means a value was frozen into the graph: try the other exporter.
        if issubclass(warning.category, torch.jit.TracerWarning):
            raise RuntimeError(f"TracerWarning: {warning.message}")
        warnings.warn_explicit(warning.message, warning.category, warning.filename,
                               warning.lineno)


def _check_graph(path, module, cases, names):
    """Compare the graph with the module on inputs of several sizes (when onnxruntime is there)."""
    try:
        import onnxruntime
    except ImportError:
        return
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for args in cases:
        got = session.run(None, {n: a.numpy() for n, a in zip(names, args)})[0]
        with torch.no_grad():
            ref = module(*args).numpy()
        scale = max(float(np.abs(ref).max()), 1e-30)
        if got.shape != ref.shape or float(np.abs(got - ref).max()) > 1e-4 * scale:
            raise RuntimeError(
                f"the exported graph does not reproduce the model on inputs of shapes "
                f"{[tuple(a.shape) for a in args]} (output {got.shape}, expected {ref.shape})")


def _export(module, cases, path, names, outputs, axes, opset):
    """Export with the TorchScript exporter, else the dynamo one; check the graph."""
    import onnx

    errors = []
    for dynamo in (False, True):
        try:
            _torch_export(module, cases[0], path, names, outputs, axes, opset, dynamo)
            onnx.checker.check_model(str(path))
            _check_graph(path, module, cases, names)
            return
        except Exception as exc:  # noqa: BLE001 - every failure is reported below
            text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()  # no terminal colours
            errors.append(f"{'dynamo' if dynamo else 'TorchScript'} exporter: "
                          f"{type(exc).__name__}"
                          + (f": {text.splitlines()[0][:300]}" if text else ""))
    Path(path).unlink(missing_ok=True)
    raise RuntimeError(
        f"could not export the model to ONNX ({'; '.join(errors)}). An output_transform "
        "is traced into the graph and must be made of torch operations on its arguments "
        "(no Python conditions on their values); to_onnx(..., split=True) leaves it out.")


def _split_paths(path):
    path = Path(path)
    stem = path.with_suffix("") if path.suffix == ".onnx" else path
    return (stem.with_name(stem.name + "_branch.onnx"),
            stem.with_name(stem.name + "_trunk.onnx"))


def to_onnx(estimator, path, *, split=False, opset=None):
    """Export the prediction of a fitted DeepONetRegressor as an ONNX graph.

    The whole prediction, standardisation, output scaling and
    ``output_transform`` included, becomes one float32 graph with inputs

    - ``U``, shape (n_functions, n_sensors), float32;
    - ``coords``, shape (n_points, d), float32: where to evaluate; with a
      POD trunk (:class:`~skoperator.networks.PODTrunk`, known at the
      training points only) the input is ``index`` instead, shape
      (n_points,), int64: the rows of ``coords_`` to evaluate at (the
      training grid is ``index = arange(len(coords_))``);

    and output ``G``, shape (n_functions, n_outputs * n_points), in the
    column layout of ``predict`` (field ``c`` at point ``j`` in column
    ``c * n_points + j``). ``n_functions`` and ``n_points`` are dynamic
    axes. Every branch and trunk of :mod:`skoperator.networks` exports,
    :class:`~skoperator.networks.FNOBranch` included: its Fourier layers are
    exported as products with cosine and sine matrices over the kept modes
    (the same function as the FFT, in operations every ONNX runtime has).

    Parameters
    ----------
    estimator : DeepONetRegressor
        A fitted estimator.
    path : str or path-like
        The ``.onnx`` file to write; with ``split=True`` the stem of the two
        files.
    split : bool, default=False
        Write the branch and the trunk as two graphs instead: ``<stem>_branch.onnx``
        (input ``U`` -> output ``coefficients``, shape (n_functions,
        n_outputs * n_basis), the output scaling folded in) and
        ``<stem>_trunk.onnx`` (input ``coords``, or ``index`` for a POD trunk
        -> output ``basis``, shape (n_points, n_outputs * n_basis)). With one
        output field the prediction is ``G = coefficients @ basis.T + bias``;
        with ``k`` fields of ``p`` basis functions each, field ``c`` uses
        columns ``c * p`` to ``(c + 1) * p`` of both:
        ``G = np.einsum("nkp,mkp->nkm", coefficients.reshape(n, k, p),
        basis.reshape(m, k, p)).reshape(n, k * m) + np.repeat(bias, m)``.
        ``output_transform`` is left out: apply it to ``G`` yourself.
    opset : int, default=None
        ONNX opset; None takes the exporter's default.

    Returns
    -------
    path : str
        With ``split=False``, the file written.
    (branch_path, trunk_path, bias) : tuple of (str, str, ndarray of shape (n_outputs,))
        With ``split=True``: the two files, and the bias of each output
        field in the units of G.

    Raises
    ------
    RuntimeError
        When neither exporter reproduces the model (for instance an
        ``output_transform`` that is not made of torch operations).

    Notes
    -----
    The graph runs in float32; ``predict`` evaluates the same float32
    weights in float64, so the two agree to about 1e-6 relative. The model
    is exported with torch's TorchScript exporter, else its dynamo exporter,
    and, when onnxruntime is installed, the graph is checked against the
    model on inputs of two sizes before this function returns.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import onnxruntime
    >>> from skoperator import DeepONetRegressor
    >>> from skoperator.datasets import make_antiderivative
    >>> from skoperator.io import to_onnx
    >>> U, Y, G = make_antiderivative(40, n_points=20, random_state=0)
    >>> est = DeepONetRegressor(coords=Y, n_basis=8, max_iter=3, tol=None,
    ...                         random_state=0).fit(U, G)
    >>> path = to_onnx(est, os.path.join(tempfile.mkdtemp(), "model.onnx"))
    >>> session = onnxruntime.InferenceSession(path)
    >>> G_onnx = session.run(None, {"U": U.astype(np.float32),
    ...                             "coords": Y.astype(np.float32)})[0]
    >>> bool(np.allclose(G_onnx, est.predict(U), rtol=1e-4, atol=1e-5))
    True
    """
    from ._estimator import DeepONetRegressor

    if not isinstance(estimator, DeepONetRegressor):
        raise TypeError(
            f"to_onnx exports a fitted DeepONetRegressor; got {type(estimator).__name__}. "
            "Export the DeepONetRegressor inside (skoperator.reproduce.final_estimator finds "
            "it) and apply the steps around it (an input transform, a group average) to the "
            "graph's inputs and outputs yourself.")
    check_is_fitted(estimator)
    try:
        import onnx  # noqa: F401
    except ImportError as exc:
        raise ImportError("to_onnx needs the onnx package: pip install 'skoperator[onnx]'.") \
            from exc
    network = _exportable(estimator.network_)
    coords = np.asarray(estimator.coords_)
    n_points, d = coords.shape
    n_sensors = sum(estimator.input_sizes_)
    table = network.trunk_is_table
    rng = np.random.default_rng(0)

    def functions(n):
        return torch.tensor(rng.standard_normal((n, n_sensors)), dtype=torch.float32)

    def points(m):
        if table:
            return torch.arange(min(m, n_points), dtype=torch.int64)
        return torch.tensor(coords[rng.integers(0, n_points, m)], dtype=torch.float32)

    second = "index" if table else "coords"
    sizes = [(3, 4), (5, 7)]
    if not split:
        module = _Whole(network, coords).eval()
        _export(module, [(functions(n), points(m)) for n, m in sizes], path, ("U", second),
                ("G",), {"U": {0: "n_functions"}, second: {0: "n_points"},
                         "G": {0: "n_functions", 1: "n_columns"}}, opset)
        return str(path)
    if network.output_transform is not None:
        warnings.warn("to_onnx(split=True) leaves output_transform out of the graphs; apply "
                      "it to G = coefficients @ basis.T + bias yourself.", UserWarning,
                      stacklevel=2)
    branch_path, trunk_path = _split_paths(path)
    _export(_Coefficients(network).eval(), [(functions(n),) for n, _ in sizes], branch_path,
            ("U",), ("coefficients",), {"U": {0: "n_functions"},
                                        "coefficients": {0: "n_functions"}}, opset)
    _export(_Basis(network).eval(), [(points(m),) for _, m in sizes], trunk_path, (second,),
            ("basis",), {second: {0: "n_points"}, "basis": {0: "n_points"}}, opset)
    with torch.no_grad():
        bias = (estimator.network_.bias.detach().double().cpu()
                * estimator.network_.g_scale.detach().double().cpu()
                + estimator.network_.g_shift.detach().double().cpu()).numpy()
    return str(branch_path), str(trunk_path), bias
