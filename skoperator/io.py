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
    estimator), which holds the fitted model as the estimator's fitted state
    (``skoperator._fitted.FittedState``) describes it: the fitted attributes
    (``coords_`` is null for a model fitted on points per function), the
    fit's components ``sampler_``, ``loss_`` and ``physics_`` with their
    fitted attributes (``components``; ``physics_`` is saved when the
    ``physics`` parameter is), the architecture the network was built from
    (``_architecture``), the early-stopping state (``_stopping``), the Adam
    state's non-tensor part, the names of the network's tensors and, for
    grid branches, the shape of their inputs.
    Values are plain JSON (strings, numbers, booleans, null, lists, objects)
    or one of these tagged objects: ``{"__tuple__": [...]}``,
    ``{"__float__": "nan" | "inf" | "-inf"}``,
    ``{"__array__": name, "dtype": "<f8"}`` and ``{"__tensor__": name}`` (the
    data is the entry ``name`` of ``weights.safetensors``),
    ``{"__strings__": [...], "dtype": ...}`` (an array of strings, such as
    ``feature_names_in_``), ``{"__device__": "cuda:0"}``,
    ``{"__random_state__": {...}}`` (a ``numpy.random.RandomState``'s state)
    and ``{"__component__": "skoperator.networks.FNOBranch", "params":
    {...}}`` (with ``"fitted": {...}``, its fitted attributes, for the fit's
    components).
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

:func:`load` rebuilds the network from the saved architecture with the
estimator's own builder (on placeholder data of the right shapes), fills it
with the saved tensors (``load_state_dict(strict=True)``), on the CPU, and
hands the whole fitted state to the estimator (``_set_fitted``), which alone
writes fitted attributes; a file that is not what :func:`dump` writes (not
JSON, values of the wrong type, missing entries, tensors of the wrong shape)
gives a ``ValueError`` that names the file and the problem; a model fitted on a
GPU loads on a machine without one, and ``predict`` falls back to the CPU
there. The loaded model predicts exactly as the saved one, continues training
with ``warm_start=True`` (the optimizer state is restored) and pickles as
before.
"""

import dataclasses
import json
import os
import uuid
import warnings
import zipfile
import zlib

import numpy as np
import torch
from sklearn.exceptions import NotFittedError

from . import __version__
from . import callbacks as _callbacks  # noqa: F401  (its components are saved and loaded)
from ._building import network_from_architecture
from ._codec import (
    WEIGHTS,
    Reader,
    Unsupported,
    Writer,
    allowed_types,
    as_real,
    load_tensors,
    save_tensors,
)
from ._continuation import ARCHITECTURE
from ._estimator import DeepONetRegressor
from ._file_checks import _expect, _optimizer
from ._fitted import FittedState
from ._onnx import to_onnx
from ._training import StoppingState

__all__ = ["dump", "load", "to_onnx"]

#: The ``format`` entry of ``model.json``.
FORMAT = "skoperator.DeepONetRegressor"
#: The format version this module writes; :func:`load` reads the versions in ``_READABLE``.
FORMAT_VERSION = 1
_READABLE = (1,)
_JSON = "model.json"
#: The fitted components, saved with their fitted attributes.
_COMPONENTS = ("sampler_", "loss_", "physics_")
#: What each fitted component must be able to do (the protocol's methods).
_COMPONENT_METHODS = {"sampler_": ("setup", "start_epoch", "sample"),
                      "loss_": ("prepare", "from_mean_square"),
                      "physics_": ("check_fit", "prepare")}
#: An optimizer's per-parameter state, shaped as its parameter.
#: Fitted attributes a file must hold, and what each must be.
_REQUIRED = {"coords_": (np.ndarray, type(None)), "n_features_in_": int, "input_sizes_": tuple,
             "n_outputs_": int, "history_": list, "n_eval_": int, "batch_size_": int,
             "device_": torch.device, "stopping_reason_": str}


def _has_fitted_state_api(estimator):
    """Whether ``estimator`` exposes the fitted-state API this format saves and restores."""
    return all(callable(getattr(estimator, name, None))
               for name in ("_fitted_state", "_set_fitted", "get_params"))


# --------------------------------------------------------------------- dump
def _describe(function):
    module = getattr(function, "__module__", None)
    name = getattr(function, "__qualname__", None) or type(function).__qualname__
    return f"{module}.{name}" if module else name


def _grid_input_shape(network):
    """``U.shape[1:]`` as the grid branch was built from it (None without a grid branch)."""
    branch = network.branch
    stacked = hasattr(branch, "unstack") and hasattr(branch, "nets")  # one branch per field
    for module in (branch.nets if stacked else [branch]):
        shape = getattr(module, "input_shape", None)  # grid branches (FNO, CNN) know theirs
        if shape is not None:
            channels, *grid = shape
            return list(grid) if channels == 1 else [channels, *grid]
    return None


def _fitted_document(state, writer, keep_physics):
    """The ``fitted`` entry of ``model.json`` (tensors go to ``writer``)."""
    weights = state.network.state_dict()
    for key, value in weights.items():
        writer.tensor(value, f"network.{key}")
    attributes = {
        "coords_": state.coords, "n_outputs_": state.n_outputs,
        "input_sizes_": tuple(state.input_sizes), "n_features_in_": state.n_features_in,
        "history_": state.history, "n_iter_": state.n_iter, "loss_curve_": state.loss_curve,
        "n_eval_": state.n_eval, "batch_size_": state.batch_size, "device_": state.device,
        "stopping_reason_": state.stopping_reason, "best_loss_": state.best_loss}
    if state.feature_names_in is not None:
        attributes["feature_names_in_"] = state.feature_names_in
    if state.validation_scores is not None:
        attributes["validation_scores_"] = state.validation_scores
        attributes["best_validation_score_"] = state.best_validation_score
    optimizer = state.optimizer_state
    if optimizer is not None:
        optimizer = {"state": [[int(i), writer.encode(as_real(s), f"optimizer.state.{i}")]
                               for i, s in optimizer["state"].items()],
                     "param_groups": writer.encode(optimizer["param_groups"],
                                                   "optimizer.param_groups")}
    stopping = {}
    for field in dataclasses.fields(state.stopping):
        if field.name != "best_weights":
            item = getattr(state.stopping, field.name)
            if field.name == "history":
                item = [dataclasses.asdict(r) if dataclasses.is_dataclass(r) else r
                        for r in item]
            stopping[field.name] = writer.encode(item, f"_stopping.{field.name}")
    components = {"sampler_": state.sampler, "loss_": state.loss,
                  "physics_": state.physics if keep_physics else None}
    return {"attributes": {k: writer.encode(v, k) for k, v in attributes.items()},
            "components": {k: writer.fitted_component(v, k) for k, v in components.items()},
            "architecture": {k: writer.encode(v, f"_architecture.{k}")
                             for k, v in state.architecture.items() if k != "output_transform"},
            "stopping": stopping, "optimizer": optimizer, "network": list(weights),
            "input_shape": _grid_input_shape(state.network)}


def _write_zip(path, document, tensors):
    """Write the file atomically: a failure (or Ctrl-C) leaves an existing file as it was."""
    text = json.dumps(document, indent=1, allow_nan=False).encode("utf-8")
    weights = save_tensors(tensors)  # before anything is written (safetensors may be missing)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path-like naming the file to write; got "
                        f"{type(path).__name__} {path!r:.60}.")
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"path {path!r} is a directory; pass the name of the file to write "
                         "in it, such as os.path.join(path, 'model.skop').")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"path {path!r}: its folder {folder!r} does not exist; create it "
                         "first (os.makedirs(folder, exist_ok=True)).")
    # Beside it (os.replace stays on one disk), and short: path's own name may be near
    # the file system's limit.
    temporary = os.path.join(os.path.dirname(os.path.abspath(path)),
                             f".skoperator-{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "xb") as handle, zipfile.ZipFile(handle, "w") as archive:
            for name, data, method in ((_JSON, text, zipfile.ZIP_DEFLATED),
                                       (WEIGHTS, weights, zipfile.ZIP_STORED)):
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = method
                info.external_attr = 0o644 << 16
                archive.writestr(info, data)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def dump(estimator, path, *, trusted_types=None):
    """Save a DeepONetRegressor to a file that :func:`load` reads without running code.

    The file (a zip of ``model.json`` and ``weights.safetensors``; see the
    module documentation) holds the constructor parameters, the fitted
    network's tensors, every fitted attribute and the optimizer state, so
    that the loaded model predicts identically and continues training with
    ``warm_start=True``. ``output_transform`` is not saved (it is code): pass
    it again to :func:`load`; the file names the one the model was fitted
    with (not a later ``set_params``), and the loaded model takes it as its
    parameter.

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
    if not _has_fitted_state_api(estimator):
        raise TypeError(
            f"dump saves a DeepONetRegressor (an estimator with the fitted-state API "
            f"_fitted_state and _set_fitted; load creates a DeepONetRegressor); got "
            f"{type(estimator).__name__}. Save a {type(estimator).__name__} with pickle or "
            "joblib (load only files you trust), or dump each DeepONetRegressor inside it "
            "(its estimator_, or estimators_[i] of an ensemble) and rebuild it around them.")
    writer = Writer(allowed_types(trusted_types))
    params = estimator.get_params(deep=False)
    transform = params.pop("output_transform", None)
    try:
        state = estimator._fitted_state()
    except NotFittedError:
        state = None
    if state is not None:  # the fitted model's transform, whatever set_params did since
        transform = state.architecture.get("output_transform")
    document = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "skoperator_version": __version__,
        "torch_version": torch.__version__, "numpy_version": np.__version__,
        "output_transform": None if transform is None else _describe(transform),
    }
    kind = "parameter"
    try:
        document["params"] = {k: writer.encode(v, k) for k, v in params.items()}
        kind = "fitted attribute"  # the optimizer's state, say, whose name is a parameter's
        document["fitted"] = (None if state is None else
                              _fitted_document(state, writer, params["physics"] is not None))
    except Unsupported as exc:
        value = repr(exc.value)
        value = value if len(value) <= 80 else value[:77] + "..."
        top = exc.where.split(".")[0].split("[")[0].split("__")[0]
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
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path-like naming a file written by "
                        f"skoperator.io.dump; got {type(path).__name__} {path!r:.60}.")
    if os.path.isdir(path):
        raise ValueError(f"{path} is a directory; expected a file written by "
                         "skoperator.io.dump (pass the .skop file in it).")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{path} is not a file written by skoperator.io.dump (not a zip "
                         "archive).") from exc
    with archive:
        names = set(archive.namelist())
        if _JSON not in names or WEIGHTS not in names:
            raise ValueError(f"{path} is not a file written by skoperator.io.dump (it lacks "
                             f"{_JSON} or {WEIGHTS}).")
        try:
            document = json.loads(archive.read(_JSON).decode("utf-8"))
        except (ValueError, zipfile.BadZipFile, zlib.error, RecursionError,
                NotImplementedError, RuntimeError) as exc:  # not UTF-8, not JSON, bad CRC,
            # bad deflate data, nested past the parser's depth, an unsupported compression
            raise ValueError(f"{path} is damaged: its {_JSON} cannot be read "
                             f"({type(exc).__name__}: {exc}).") from exc
        _check_versions(document, path)
        try:
            tensors = load_tensors(archive.read(WEIGHTS))
        except ImportError:  # safetensors is missing: the [io] extra, not a damaged file
            raise
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own errors
            raise ValueError(f"{path} is damaged: its {WEIGHTS} cannot be read "
                             f"({type(exc).__name__}: {exc}).") from exc
    return document, tensors


def _check_versions(document, path):
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


def _attributes(fitted, reader):
    """The saved fitted attributes, decoded and checked."""
    saved = _expect(fitted.get("attributes"), dict, "fitted.attributes")
    missing = sorted(set(_REQUIRED) - set(saved))
    if missing:
        raise ValueError(f"its fitted model lacks {missing}.")
    attributes = {k: reader.decode(saved[k], k) for k in _REQUIRED}
    for name, kind in _REQUIRED.items():
        _expect(attributes[name], kind, name)
    coords = attributes["coords_"]
    if coords is not None and (coords.ndim != 2 or coords.dtype.kind != "f"):
        raise ValueError(f"coords_ has shape {coords.shape} and dtype {coords.dtype}; expected "
                         "a float array of shape (n_points, d).")
    sizes = attributes["input_sizes_"]
    if not all(isinstance(s, int) for s in sizes) or sum(sizes) != attributes[
            "n_features_in_"]:
        raise ValueError(f"input_sizes_ {sizes} do not add up to n_features_in_ = "
                         f"{attributes['n_features_in_']}.")
    for i, record in enumerate(attributes["history_"]):
        _expect(record, dict, f"history_[{i}]")
        if not {"solver", "train_loss", "n_eval"} <= set(record):
            raise ValueError(f"history_[{i}] lacks solver, train_loss or n_eval.")
    names = reader.decode(saved["feature_names_in_"], "feature_names_in_") \
        if "feature_names_in_" in saved else None
    if names is not None and not (
            isinstance(names, np.ndarray) and names.shape == (attributes["n_features_in_"],)
            and all(isinstance(n, str) for n in names.tolist())):
        raise ValueError(f"feature_names_in_ holds {names!r:.60}; expected an array of "
                         f"{attributes['n_features_in_']} strings (n_features_in_).")
    for name in ("n_eval_", "batch_size_"):
        if attributes[name] < 1:
            raise ValueError(f"{name} = {attributes[name]}; expected a positive int.")
    return attributes, names


def _architecture(fitted, reader, params, output_transform):
    """The saved architecture, parameters of the file filling settings it lacks."""
    saved = _expect(fitted.get("architecture"), dict, "fitted.architecture")
    arch = {name: params.get(name) for name in ARCHITECTURE}
    arch.update({k: reader.decode(v, f"_architecture.{k}") for k, v in saved.items()})
    arch["output_transform"] = output_transform
    return arch


def _network(fitted, reader, arch, attributes):
    """The network rebuilt from the architecture and filled with the saved tensors."""
    names = _expect(fitted.get("network"), list, "fitted.network")
    weights = {k: reader._entry(f"network.{k}", f"network.{k}") for k in names}
    coords = attributes["coords_"]
    if coords is None:  # fitted on points per function: any points of dimension d
        d = _expect(weights.get("y_shift"), torch.Tensor, "network.y_shift").numel()
        coords = np.linspace(0.0, 1.0, 4 * d).reshape(4, d)
    shape = fitted.get("input_shape")
    if shape is not None:
        shape = tuple(_expect(s, int, "fitted.input_shape") for s in
                      _expect(shape, list, "fitted.input_shape"))
    network = network_from_architecture(arch, attributes["n_features_in_"], coords, shape)
    try:
        network.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"the saved weights do not fit the network rebuilt from the saved "
                         f"architecture: {exc}") from exc
    if coords.shape[1] != network.y_shift.numel():
        raise ValueError(f"coords_ has {coords.shape[1]} columns but the network reads "
                         f"{network.y_shift.numel()}-dimensional coordinates.")
    return network


def _fitted_from(fitted, reader, params, output_transform):
    """The :class:`~skoperator._fitted.FittedState` a file holds."""
    _expect(fitted, dict, "fitted")
    attributes, names = _attributes(fitted, reader)
    arch = _architecture(fitted, reader, params, output_transform)
    if attributes["n_outputs_"] != arch["n_outputs"]:
        raise ValueError(f"n_outputs_ = {attributes['n_outputs_']} but the architecture has "
                         f"n_outputs = {arch['n_outputs']}.")
    network = _network(fitted, reader, arch, attributes)
    stopping = {k: reader.decode(v, f"_stopping.{k}") for k, v in
                _expect(fitted.get("stopping") or {}, dict, "fitted.stopping").items()}
    known = {f.name for f in dataclasses.fields(StoppingState)}
    components = _expect(fitted.get("components") or {}, dict, "fitted.components")
    components = {k: reader.decode(components.get(k), k) for k in _COMPONENTS}
    for name, methods in _COMPONENT_METHODS.items():
        value = components[name]
        if value is not None and not all(hasattr(value, m) for m in methods):
            raise ValueError(f"{name} holds {type(value).__name__}, which is not a "
                             f"{name[:-1]} (it lacks {', '.join(methods)}).")
    return FittedState(
        network=network,
        optimizer_state=_optimizer(fitted, reader, network, params.get("optimizer", "adam")),
        architecture=arch, coords=attributes["coords_"],
        stopping=StoppingState(**{k: v for k, v in stopping.items() if k in known}),
        n_outputs=attributes["n_outputs_"], input_sizes=attributes["input_sizes_"],
        n_features_in=attributes["n_features_in_"], feature_names_in=names,
        history=attributes["history_"], n_eval=attributes["n_eval_"],
        batch_size=attributes["batch_size_"], device=attributes["device_"],
        stopping_reason=attributes["stopping_reason_"], sampler=components["sampler_"],
        loss=components["loss_"], physics=components["physics_"])


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
        When the file is not one :func:`dump` writes or is damaged (its
        ``model.json`` not JSON, entries missing or of the wrong type,
        tensors of the wrong shape: the message names the file and the
        entry; the constructor parameters come back as saved and are
        checked, as the constructor's are, when the model is fitted), has
        an unknown format version, names a class outside the
        allow-list, or when ``output_transform`` is given for a model saved
        without one, or not given for a model saved with one.

    Warns
    -----
    UserWarning
        When the file was written by another version of skoperator, or when
        ``output_transform``'s module and name differ from those saved (a
        renamed function is accepted; another function changes the
        predictions), or when the file sets ``callbacks``: a later ``fit``
        runs them, and a ``CSVLogger`` or ``Checkpoint`` writes to the path
        the file names.

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
    allowed = allowed_types(trusted_types)  # a bad argument is a TypeError, not a bad file
    document, tensors = _read_zip(path)
    try:
        return _estimator_from(document, tensors, path, output_transform, allowed)
    except (KeyError, TypeError, AttributeError, IndexError, RuntimeError, OverflowError,
            ValueError) as exc:
        text = str(exc)
        if isinstance(exc, ValueError) and str(path) in text:
            raise
        if not isinstance(exc, ValueError):
            text = f"the file is damaged ({type(exc).__name__}: {exc})"
        raise ValueError(f"{path} cannot be loaded: {text}") from exc


def _estimator_from(document, tensors, path, output_transform, allowed):
    """The estimator of a read file (see :func:`load`)."""
    reader = Reader(allowed, tensors)
    missing = sorted({"params", "fitted"} - set(document))
    if missing:
        raise ValueError(f"the file is damaged: its {_JSON} lacks {missing}.")
    saved_params = _expect(document["params"], dict, "params")
    params = {k: reader.decode(v, k) for k, v in saved_params.items()}
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
    if saved is not None and _describe(output_transform) != saved:
        warnings.warn(f"This model was fitted with output_transform={saved}; it is loaded "
                      f"with {_describe(output_transform)}. If that is another function, "
                      "the predictions change.", UserWarning, stacklevel=3)
    if params.get("callbacks"):  # they act at the next fit: writing files, for one
        warnings.warn(f"{path} sets callbacks={params['callbacks']!r}, which a later fit of "
                      "this model runs (a CSVLogger, Checkpoint or TensorBoard writes to the "
                      "path it names). Drop them with set_params(callbacks=None) unless you "
                      "trust the file's author.", UserWarning, stacklevel=3)
    estimator = DeepONetRegressor(**params, output_transform=output_transform)
    if document["fitted"] is not None:
        estimator._set_fitted(_fitted_from(document["fitted"], reader,
                                           estimator.get_params(deep=False), output_transform))
    return estimator
