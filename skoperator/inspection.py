"""Diagnostics of fitted operators: how sharp their minimum is, where their error lives.

Two questions the randomized-sampling paper (Karumuri et al., 2024) raises and
leaves open are measured here:

- :func:`loss_sharpness`: the largest eigenvalue of the Hessian of the
  training loss with respect to the weights, at the fitted weights. The
  paper argues that small ``n_eval`` (noisier gradients) finds flatter
  minima; this measures it.
- :func:`error_spectrum`: the energy of the prediction error per Fourier mode
  along the grid, to see whether sampling a few points per step leaves
  high-frequency errors behind.
"""

import copy
import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import Bunch, check_random_state
from sklearn.utils.validation import check_array, check_is_fitted

from ._compat import Interval, is_count, validate_params
from ._device import to_float64
from ._display import OperatorPredictionDisplay
from ._planning import prepared_loss, training_data, validate_inputs
from ._training import chunk_share, grid_chunks
from ._unwrap import check_single_model, final_estimator, fitted_n_outputs

__all__ = ["loss_sharpness", "error_spectrum", "OperatorPredictionDisplay"]


def power_iteration(hvp, shapes, *, max_iter=100, tol=1e-4, generator=None, dtype=None,
                    device=None):
    """Largest-magnitude eigenvalue of a symmetric operator given by its products.

    Parameters
    ----------
    hvp : callable
        ``hvp(vectors) -> vectors``: the operator (a Hessian) applied to a list
        of tensors of the given ``shapes``.
    shapes : list of torch.Size
        Shapes of the blocks of a vector (one per parameter tensor).
    max_iter : int, default=100
        Iterations at most.
    tol : float, default=1e-4
        Stop when the estimate changes by less than ``tol`` times its size.
    generator : torch.Generator, default=None
        Source of the random start vector.
    dtype, device : torch dtype and device, default=None
        Of the vectors.

    Returns
    -------
    eigenvalue : float
        The estimate.
    n_iter : int
        Iterations run.
    converged : bool
        Whether the tolerance was met.
    """
    v = [torch.randn(s, generator=generator, dtype=dtype, device=device) for s in shapes]
    norm = math.sqrt(sum(float((x * x).sum()) for x in v))
    v = [x / norm for x in v]
    estimate = None
    for it in range(1, max_iter + 1):
        w = hvp(v)
        value = sum(float((a * b).sum()) for a, b in zip(v, w))
        norm = math.sqrt(sum(float((x * x).sum()) for x in w))
        if norm == 0.0:
            return 0.0, it, True
        v = [x / norm for x in w]
        if estimate is not None and abs(value - estimate) <= tol * max(abs(value), 1e-300):
            return value, it, True
        estimate = value
    return estimate, max_iter, False


def _loss_pieces(estimator, U, G, chunk):
    """The fitted network (float64) and a function that yields weighted chunk losses.

    Works through the planning API: the estimator's training data and its
    prepared loss for (U, G), evaluated by the one full-grid evaluator.
    """
    network = to_float64(copy.deepcopy(estimator.network_).cpu())
    network.train()
    G = check_array(G, dtype=np.float64, ensure_all_finite="allow-nan", input_name="G")
    data = training_data(network, np.asarray(U, dtype=np.float64), G, estimator.coords_,
                         torch.device("cpu"), bool(np.isnan(G).any()))
    data.U, data.G, data.coords = data.U.double(), data.G.double(), data.coords.double()
    data.g_shift, data.g_scale = data.g_shift.double(), data.g_scale.double()
    loss = prepared_loss(estimator.loss, data)
    chunks = list(data.rows_in_chunks(step=chunk))
    shares = [chunk_share(loss, data, rows) for rows in chunks]
    total = sum(shares)

    def pieces():
        for (rows, residual, weight), share in zip(grid_chunks(network, data, chunks=chunks),
                                                    shares):
            objective, _ = loss(residual, weight, rows)
            yield objective * (share / total)

    return network, pieces


@validate_params(
    {"estimator": [object], "U": ["array-like"], "G": ["array-like"],
     "max_iter": [Interval(Integral, 1, None, closed="left")],
     "tol": [Interval(Real, 0, None, closed="neither")],
     "batch_size": [Interval(Integral, 1, None, closed="left")],
     "random_state": ["random_state"]},
    prefer_skip_nested_validation=True,
)
def loss_sharpness(estimator, U, G, *, max_iter=100, tol=1e-4, batch_size=256,
                   random_state=None):
    """Sharpness of a fitted model's training loss: the top Hessian eigenvalue.

    The loss is the data term of the estimator's training objective (its
    ``loss``, in standardised units) on the full grid: every function of
    ``U`` at every point of ``coords_``, not a sampled subset. A physics
    term (``physics=``) is not part of it: for a model fitted with one,
    the result is the sharpness of the data term alone, and a model fitted
    from the physics alone (``G`` all missing) has none to measure. Its Hessian with respect to
    all trainable weights is never formed: power iteration multiplies a
    random vector by it, through Hessian-vector products computed by torch
    autograd (double backward), until the Rayleigh quotient changes by less
    than ``tol`` (relative). At a minimum the Hessian is (nearly) positive
    semi-definite and the result is its largest eigenvalue, the usual
    measure of sharpness (flat minima have small values).

    Parameters
    ----------
    estimator : DeepONetRegressor
        A fitted estimator (its ``network_`` is copied, not changed).
    U : array-like of shape (n_functions, n_sensors)
        Input functions, usually the training inputs.
    G : array-like of shape (n_functions, n_outputs * n_points)
        Their outputs at the fitted coordinates (NaN: missing).
    max_iter : int, default=100
        Power iterations at most; a :class:`~sklearn.exceptions.ConvergenceWarning`
        is raised when they do not reach ``tol``.
    tol : float, default=1e-4
        Relative change of the estimate that stops the iteration.
    batch_size : int, default=256
        Functions per chunk of the Hessian-vector product (bounds memory).
    random_state : int, RandomState instance or None, default=None
        Seed of the start vector.

    Returns
    -------
    sharpness : float
        The eigenvalue of largest magnitude of the Hessian of the loss (the
        largest at a minimum, where the Hessian is positive semi-definite;
        a negative value means the model is not at a minimum).

    Notes
    -----
    Cost: every iteration is one Hessian-vector product over all
    ``n_functions x n_points`` pairs, about three times a forward and
    backward pass of a full-grid epoch (computed in float64 on the CPU);
    power iteration usually needs 10 to 50 of them. The Hessian includes
    every trainable parameter, the output bias too.

    Examples
    --------
    >>> from skoperator import DeepONetRegressor
    >>> from skoperator.datasets import make_antiderivative
    >>> from skoperator.inspection import loss_sharpness
    >>> U, Y, G = make_antiderivative(100, n_points=20, random_state=0)
    >>> est = DeepONetRegressor(coords=Y, max_iter=5, tol=None, random_state=0).fit(U, G)
    >>> loss_sharpness(est, U, G, random_state=0) > 0
    True
    """
    check_is_fitted(estimator)
    check_single_model(estimator)
    estimator, U = final_estimator(estimator, U)
    if not hasattr(estimator, "network_"):
        raise TypeError(f"loss_sharpness measures a fitted DeepONetRegressor (or a pipeline or "
                        f"meta-estimator around one); got {type(estimator).__name__}.")
    if estimator.coords_ is None:
        raise ValueError("loss_sharpness needs a model fitted on shared coordinates; this one "
                         "was fitted on points per function.")
    U, _ = validate_inputs(estimator, U, reset=False, dtype=np.float32)
    G = check_array(G, dtype=np.float64, ensure_all_finite="allow-nan", input_name="G")
    if getattr(estimator, "physics", None) is not None:
        warnings.warn("loss_sharpness measures the data term of the training objective "
                      "only; this model's physics term is left out of the Hessian.",
                      UserWarning, stacklevel=2)
    if np.isnan(G).all():
        raise ValueError("G has no observed value (all NaN): there is no loss to measure "
                         "(loss_sharpness measures the data term only, not a physics "
                         "term). Pass the observed outputs.")
    if G.shape != (U.shape[0], estimator.n_outputs_ * estimator.coords_.shape[0]):
        raise ValueError(
            f"G has shape {G.shape}; expected ({U.shape[0]}, "
            f"{estimator.n_outputs_ * estimator.coords_.shape[0]}): one row per row of U, "
            "the outputs at the fitted coordinates."
        )
    network, pieces = _loss_pieces(estimator, U, G, batch_size)
    params = [p for p in network.parameters() if p.requires_grad]
    if any(p.is_complex() for p in params):
        raise ValueError("loss_sharpness needs real parameters; the network has complex ones.")

    def hvp(vectors):
        out = [torch.zeros_like(p) for p in params]
        for objective in pieces():
            grads = torch.autograd.grad(objective, params, create_graph=True,
                                        allow_unused=True)
            dot = sum((g * v).sum() for g, v in zip(grads, vectors) if g is not None)
            if not dot.requires_grad:
                continue
            second = torch.autograd.grad(dot, params, allow_unused=True)
            for acc, s in zip(out, second):
                if s is not None:
                    acc.add_(s)
        return out

    seed = check_random_state(random_state).randint(2**31 - 1)
    value, n_iter, converged = power_iteration(
        hvp, [p.shape for p in params], max_iter=max_iter, tol=tol,
        generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    if not converged:
        warnings.warn(f"loss_sharpness did not reach tol={tol} in max_iter={max_iter} power "
                      "iterations; the estimate may be low. Increase max_iter.",
                      ConvergenceWarning, stacklevel=2)
    return float(value)


@validate_params(
    {"estimator": [object], "U": ["array-like"], "G": ["array-like"],
     "grid_shape": [tuple, list, None], "field": [Interval(Integral, 0, None, closed="left")]},
    prefer_skip_nested_validation=True,
)
def error_spectrum(estimator, U, G, *, grid_shape=None, field=0):
    """Energy of the prediction error per Fourier mode, along each grid axis.

    The error ``G - predict(U)`` of every function is laid out on its grid
    (``grid_shape``, the order of ``coords_``, last axis fastest), and its
    discrete Fourier transform along each axis is taken; the energy per mode
    (mean over functions and over the other axes) is returned beside the
    same spectrum of ``G`` itself, so that the relative error per mode reads
    ``error / target``. Modes count periods over the grid: mode ``k`` is
    ``k`` periods over the axis. A sampled loss that left high-frequency
    errors behind would show as an error spectrum that does not fall with
    ``k`` as the target's does.

    Parameters
    ----------
    estimator : fitted estimator
        Anything with ``predict(U)`` (a :class:`~skoperator.DeepONetRegressor`
        or a pipeline ending in one).
    U : array-like of shape (n_functions, n_sensors)
        Input functions.
    G : array-like of shape (n_functions, n_outputs * n_points)
        True outputs on the grid, complete (no NaN).
    grid_shape : tuple of int, default=None
        Shape of the output grid, ``prod(grid_shape) == n_points``, last axis
        fastest; None is a 1-D grid of ``n_points`` points.
    field : int, default=0
        Output field to analyse when the model has several.

    Returns
    -------
    spectrum : :class:`~sklearn.utils.Bunch`
        ``modes`` (list, per axis, of the mode numbers ``0 .. n // 2``),
        ``error`` and ``target`` (lists, per axis, of the energies per mode),
        and ``mse`` (the mean squared error, which the energies of every axis
        sum to, Parseval's identity).

    Examples
    --------
    >>> import numpy as np
    >>> from skoperator.inspection import error_spectrum
    >>> x = np.linspace(0, 1, 64, endpoint=False)
    >>> class Shifted:  # predicts G minus a mode-3 wave
    ...     def predict(self, U):
    ...         return U - 0.1 * np.sin(2 * np.pi * 3 * x)
    >>> U = np.random.default_rng(0).normal(size=(5, 64))
    >>> spec = error_spectrum(Shifted(), U, U)
    >>> int(np.argmax(spec.error[0]))
    3
    """
    G = check_array(G, dtype=np.float64, input_name="G")
    pred = np.asarray(estimator.predict(U), dtype=np.float64)
    if pred.shape != G.shape:
        raise ValueError(f"predict(U) has shape {pred.shape} but G has shape {G.shape}; pass "
                         "G at the fitted coordinates.")
    n_outputs = fitted_n_outputs(estimator)
    if field >= n_outputs:
        raise ValueError(f"field={field} but the model has {n_outputs} output field(s).")
    n_points = G.shape[1] // n_outputs
    err = (G - pred).reshape(len(G), n_outputs, n_points)[:, field]
    tgt = G.reshape(len(G), n_outputs, n_points)[:, field]
    shape = (n_points,) if grid_shape is None else tuple(grid_shape)
    if not all(is_count(s) for s in shape):
        raise ValueError(f"grid_shape must be a tuple of positive ints; got {grid_shape!r}. "
                         "Pass the grid of coords_, such as grid_shape=(32, 32).")
    if math.prod(shape) != n_points:
        raise ValueError(f"grid_shape={grid_shape} has {math.prod(shape)} points but each "
                         f"output field has {n_points}; pass the grid of coords_.")
    err = err.reshape(len(G), *shape)
    tgt = tgt.reshape(len(G), *shape)
    modes, error, target = [], [], []
    for axis in range(1, err.ndim):
        n = err.shape[axis]
        e, t = _energy(err, axis), _energy(tgt, axis)
        modes.append(np.arange(n // 2 + 1))
        error.append(e)
        target.append(t)
    return Bunch(modes=modes, error=error, target=target, mse=float(np.mean(err**2)))


def _energy(values, axis):
    """Mean energy per non-negative mode along ``axis`` (Parseval-normalised)."""
    n = values.shape[axis]
    c = np.fft.rfft(values, axis=axis)
    power = np.abs(c) ** 2 / n**2
    # fold the negative frequencies onto the positive ones
    power = np.moveaxis(power, axis, -1)
    weight = np.full(power.shape[-1], 2.0)
    weight[0] = 1.0
    if n % 2 == 0:
        weight[-1] = 1.0
    power = power * weight
    return power.reshape(-1, power.shape[-1]).mean(axis=0) * 1.0
