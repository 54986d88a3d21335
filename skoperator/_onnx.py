"""ONNX export of a fitted DeepONetRegressor (:func:`skoperator.io.to_onnx`).

The real network is exported: a copy in float32 on the CPU whose modules
are switched to their export mode (``export_mode()``: an FNO's Fourier
layers as products with cosine and sine matrices, its pooling as averaging
matrices), wrapped in small modules that call the network's own forward
chain (:meth:`~skoperator._network.DeepONet.forward`, or its field form for
the split export). ``onnx`` and ``onnxruntime`` are optional and imported
inside the functions that need them.
"""

import copy
import inspect
import os
import re
import uuid
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._compat import is_count
from ._device import to_float64

#: Above this ``|y_shift| / y_scale`` the float32 graph's error against ``predict``
#: passes the 1e-6 of coordinates near zero (2e-5 at 3e3, 1e-2 at 1e6: tests/test_io.py).
_FAR_COORDINATES = 100.0


def _exportable(network, dtype=torch.float32):
    """A copy of ``network`` on the CPU in ``dtype``, its modules in their export mode.

    Modules with an ``export_mode()`` method (the FNO) switch to operations
    every ONNX exporter has; the function computed is the same.
    """
    net = copy.deepcopy(network).cpu().to(dtype).eval()
    for module in list(net.modules()):
        if callable(getattr(module, "export_mode", None)):
            module.export_mode()
    return net


class _Whole(nn.Module):
    """U and coords (or, for a POD trunk, point indices) -> G in predict's column layout."""

    def __init__(self, network, coords):
        super().__init__()
        self.net = network
        if network.trunk_is_table:  # the raw coordinates of the training points
            self.register_buffer("points", torch.tensor(np.array(coords, dtype=np.float32)))

    def forward(self, u, y):
        if self.net.trunk_is_table:  # y holds indices into the training points
            out = self.net(u, self.points[y], y)
        else:
            out = self.net(u, y)
        if out.dim() == 3:  # (n, m, fields) -> field c at point j in column c * m + j
            out = out.permute(0, 2, 1)
        return out.reshape(out.shape[0], -1)


class _Coefficients(nn.Module):
    """U -> coefficients (n, n_outputs * n_basis), the output scale folded in."""

    def __init__(self, network):
        super().__init__()
        self.net = network

    def forward(self, u):
        return self.net.field_coefficients(u)


class _Basis(nn.Module):
    """coords (or POD point indices) -> basis (m, n_outputs * n_basis)."""

    def __init__(self, network):
        super().__init__()
        self.net = network

    def forward(self, y):
        if self.net.trunk_is_table:
            return self.net.field_basis(None, y)
        return self.net.field_basis(y)


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


def _opset_of(path):
    import onnx

    return next(o.version for o in onnx.load(str(path)).opset_import
                if o.domain in ("", "ai.onnx"))


def _export(module, cases, path, names, outputs, axes, opset, hint):
    """Export to a temporary file beside ``path`` (returned); check the graph.

    The TorchScript exporter first, else the dynamo one; the caller renames
    the file into place, so that a failed export leaves nothing (and an
    existing file at ``path`` as it was).
    """
    import onnx

    path = Path(os.path.realpath(path))  # through a symbolic link: its target is replaced
    # A short name: the target's own name may be near the file system's limit.
    temporary = path.with_name(f".skoperator-{uuid.uuid4().hex}.tmp.onnx")
    errors = []
    try:
        for dynamo in (False, True):
            try:
                _torch_export(module, cases[0], temporary, names, outputs, axes, opset, dynamo)
                onnx.checker.check_model(str(temporary))
                if opset is not None and _opset_of(temporary) != opset:
                    raise RuntimeError(f"it wrote opset {_opset_of(temporary)}, not {opset}")
                _check_graph(temporary, module, cases, names)
                return temporary
            except Exception as exc:  # noqa: BLE001 - every failure is reported below
                text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()  # no terminal colours
                errors.append(f"{'dynamo' if dynamo else 'TorchScript'} exporter: "
                              f"{type(exc).__name__}"
                              + (f": {text.splitlines()[0][:300]}" if text else ""))
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    temporary.unlink(missing_ok=True)
    raise RuntimeError(f"could not export the model to ONNX ({'; '.join(errors)}). {hint}")


def _put_in_place(pairs):
    """Rename each written temporary file onto its path; on a failure remove what is left."""
    try:
        for written, path in pairs:
            os.replace(written, os.path.realpath(path))
    finally:
        for written, _ in pairs:
            Path(written).unlink(missing_ok=True)


def _failure_hint(network, opset):
    """What most likely stops an export of ``network``."""
    hints = []
    if opset is not None:
        hints.append(f"opset={opset} may be one the exporters do not write (None takes "
                     "their default)")
    if network.output_transform is not None:
        hints.append("an output_transform is traced into the graph and must be made of torch "
                     "operations on its arguments (no Python conditions on their values); "
                     "to_onnx(..., split=True) leaves it out")
    hints.append("a branch or trunk module of your own must be traceable by torch (no "
                 "Python conditions on tensor values, no numpy inside forward)")
    return "Likely: " + "; or ".join(hints) + "."


def _check_path(path, split):
    """``path`` names a file in an existing directory (checked before any export)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"to_onnx: path must be a str or path-like; got {type(path).__name__}.")
    folder = Path(path).resolve().parent
    for target in _split_paths(path) if split else (path,):
        if Path(target).is_dir():
            raise ValueError(f"to_onnx: {str(target)!r} is a directory; pass a file name "
                             "such as 'model.onnx'.")
    if not folder.is_dir():
        raise ValueError(f"to_onnx: the directory of path={str(path)!r}, {folder}, does not "
                         "exist; create it first.")


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
        ONNX opset; None takes the exporter's default. The file holds this
        opset or the export fails (no exporter writes it).

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
        ``output_transform`` that is not made of torch operations) or
        writes the ``opset`` asked for; nothing is written then (a file
        already at ``path`` is left as it was).
    ValueError
        For ``split=True`` with a conditioned trunk
        (:class:`~skoperator.networks.NOMADTrunk`,
        :class:`~skoperator.networks.ShiftedTrunk`: the network has no
        separate basis), a ``path`` that is a directory or in a missing
        one, or an ``opset`` that is not an int >= 7.

    Notes
    -----
    A model fitted on points per function (``coords_`` is None) exports the
    same way: the graph's ``coords`` are any points, shared by the functions
    of a call (per-function points are one call per function).

    The graph runs in float32; ``predict`` evaluates the same float32
    weights in float64, so the two agree to about 1e-6 relative, for
    coordinates near zero: the graph rounds coordinates far from zero
    before it takes their mean off (a warning says so when their mean
    passes 100 times their spread). The model
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
    if not callable(getattr(estimator, "_fitted_state", None)):
        raise TypeError(
            f"to_onnx exports a fitted DeepONetRegressor; got {type(estimator).__name__}. "
            "Export the DeepONetRegressor inside (skoperator.reproduce.final_estimator finds "
            "it) and apply the steps around it (an input transform, a group average) to the "
            "graph's inputs and outputs yourself; an ensemble's prediction is the mean of its "
            "members', so export each of its estimators_ and average their outputs.")
    check_is_fitted(estimator)
    _check_path(path, split)
    if opset is not None and not is_count(opset, 7):
        raise ValueError(f"to_onnx: opset must be None or an int >= 7 (an ONNX operator set "
                         f"version, such as 17); got {opset!r}.")
    try:
        import onnx  # noqa: F401
    except ImportError as exc:
        raise ImportError("to_onnx needs the onnx package: pip install 'skoperator[onnx]'.") \
            from exc
    state = estimator._fitted_state()
    network = _exportable(state.network)
    offset = float((network.y_shift.abs() / network.y_scale).max()) if network.y_shift.numel() \
        else 0.0
    if offset > _FAR_COORDINATES and not network.trunk_is_table:
        warnings.warn(f"to_onnx: the coordinates lie far from zero (|mean| = {offset:.3g} times "
                      "their spread): the float32 graph rounds them before taking the mean "
                      "off, and its error against predict grows with that ratio (about 1e-2 "
                      "relative at 1e6). Fit on coordinates shifted near zero (coords - "
                      "coords.mean(axis=0)) to export them precisely.", UserWarning,
                      stacklevel=2)
    n_sensors = sum(state.input_sizes)
    table = network.trunk_is_table
    rng = np.random.default_rng(0)
    coords = state.coords
    if coords is None:  # fitted on points per function: points around the training ones
        coords = (network.y_shift.double().numpy() + network.y_scale.double().numpy()
                  * rng.standard_normal((32, network.y_shift.numel())))
    coords = np.asarray(coords)
    n_points = coords.shape[0]

    def functions(n):
        return torch.tensor(rng.standard_normal((n, n_sensors)), dtype=torch.float32)

    def points(m):
        if table:
            return torch.arange(min(m, n_points), dtype=torch.int64)
        return torch.tensor(coords[rng.integers(0, n_points, m)], dtype=torch.float32)

    second = "index" if table else "coords"
    # traced at the first; checked at every one: the training grid's size and more (a
    # module that branches on a size is traced on one branch), one function, a batch
    sizes = [(3, 4), (5, 7), (1, n_points), (9, min(2 * n_points + 3, 20_000))]
    hint = _failure_hint(network, opset)
    if not split:
        module = _Whole(network, coords).eval()
        written = _export(module, [(functions(n), points(m)) for n, m in sizes], path,
                          ("U", second), ("G",), {"U": {0: "n_functions"},
                                                  second: {0: "n_points"},
                                                  "G": {0: "n_functions", 1: "n_columns"}},
                          opset, hint)
        _put_in_place([(written, path)])
        return str(path)
    if network.trunk_conditioned:
        raise ValueError(
            f"to_onnx(split=True) exports coefficients and a basis, but the trunk "
            f"{type(network.trunk).__name__} reads the branch's output (a conditioned trunk: "
            "NOMADTrunk, ShiftedTrunk), so the network has no separate basis; pass "
            "split=False to export the whole network.")
    if network.output_transform is not None:
        warnings.warn("to_onnx(split=True) leaves output_transform out of the graphs; apply "
                      "it to G = coefficients @ basis.T + bias yourself.", UserWarning,
                      stacklevel=2)
    branch_path, trunk_path = _split_paths(path)
    branch = _export(_Coefficients(network).eval(), [(functions(n),) for n, _ in sizes],
                     branch_path, ("U",), ("coefficients",),
                     {"U": {0: "n_functions"}, "coefficients": {0: "n_functions"}}, opset,
                     hint)
    try:
        trunk = _export(_Basis(network).eval(), [(points(m),) for _, m in sizes], trunk_path,
                        (second,), ("basis",), {second: {0: "n_points"},
                                                "basis": {0: "n_points"}}, opset, hint)
    except BaseException:
        branch.unlink(missing_ok=True)  # both graphs or neither
        raise
    _put_in_place([(branch, branch_path), (trunk, trunk_path)])
    with torch.no_grad():  # in float64, from the float32 weights
        bias = to_float64(copy.deepcopy(state.network).cpu()).field_bias().numpy()
    return str(branch_path), str(trunk_path), bias
