"""Derivatives through autograd, batched over functions and points, and sensor interpolation.

The helpers a physics residual is written with (re-exported by
:mod:`skoperator.physics`, where they are documented for users).
"""

from numbers import Integral

import numpy as np
import torch

__all__ = ["Derivatives", "derivative", "grad", "interpolate_sensors"]


def _axes(axis, order, d):
    """The sequence of coordinate axes to differentiate along, checked."""
    if isinstance(order, bool) or not isinstance(order, Integral) or order < 1:
        raise ValueError(f"order must be an int >= 1; got {order!r}.")
    if isinstance(axis, (Integral, np.integer)) and not isinstance(axis, bool):
        axes = [int(axis)] * int(order)
    else:
        if isinstance(axis, str) or not all(
                isinstance(a, (Integral, np.integer)) and not isinstance(a, bool)
                for a in (axis if hasattr(axis, "__iter__") else [axis])):
            raise ValueError(f"axis must be an int or a sequence of ints; got {axis!r}.")
        axes = [int(a) for a in axis]
        if order != 1:
            raise ValueError("order applies to an int axis; a sequence of axes "
                             f"({tuple(axes)}) already gives the order (got order={order}).")
        if not axes:
            raise ValueError("axis is an empty sequence; name at least one coordinate axis.")
    for a in axes:
        if not -d <= a < d:
            raise ValueError(f"axis {a} is out of range for coordinates of dimension {d}.")
    return [a % d for a in axes]


def grad(s, y, axis=None):
    """First derivatives of ``s`` with respect to the coordinates ``y``, through autograd.

    Batched over functions and points: ``s[b, i]`` must depend on ``y[b, i]``
    only (as a DeepONet with a pointwise trunk does, the output at a point
    depends on that point's coordinates alone), so that one backward pass of
    ``s.sum()`` gives every point's gradient. The graph is kept
    (``create_graph=True``): the result can be differentiated again and
    trained through.

    Parameters
    ----------
    s : Tensor of shape (batch, m) or (batch, m, K)
        Values at the points, computed from ``y``.
    y : Tensor of shape (batch, m, d)
        Coordinates, with ``requires_grad=True``.
    axis : int or None, default=None
        The coordinate to differentiate along; None: all of them.

    Returns
    -------
    ds : Tensor
        Shape (batch, m[, K], d) with ``axis=None``, else the shape of ``s``.
        Zeros where ``s`` does not depend on ``y``.

    Examples
    --------
    >>> import torch
    >>> from skoperator.physics import grad
    >>> y = torch.rand(2, 5, 2, requires_grad=True)
    >>> s = y[..., 0] ** 2 * y[..., 1]
    >>> bool(torch.allclose(grad(s, y, 0), 2 * y[..., 0] * y[..., 1]))
    True
    """
    if not (torch.is_tensor(y) and y.requires_grad):
        raise ValueError("y must be a tensor with requires_grad=True, the coordinates s was "
                         "computed from.")
    if axis is not None and not (isinstance(axis, (Integral, np.integer))
                                 and not isinstance(axis, bool)):
        raise ValueError(f"axis must be an int or None (every coordinate); got {axis!r}. For "
                         "a mixed derivative along several axes, use derivative(s, y, axes).")
    if s.dim() == y.dim():  # several fields: one backward pass per field
        fields = [grad(s[..., k], y, axis) for k in range(s.shape[-1])]
        return torch.stack(fields, dim=-1 if axis is not None else -2)
    if s.shape != y.shape[:-1]:
        raise ValueError(f"s has shape {tuple(s.shape)} but y has shape {tuple(y.shape)}; "
                         "s must be (batch, m) or (batch, m, K) for y of shape (batch, m, d).")
    if not s.requires_grad:
        g = torch.zeros_like(y)
    else:
        (g,) = torch.autograd.grad(s.sum(), y, create_graph=True, allow_unused=True)
        if g is None:
            g = torch.zeros_like(y)
    return g if axis is None else g[..., _axes(axis, 1, y.shape[-1])[0]]


def derivative(s, y, axis, order=1):
    """A derivative of ``s`` along one coordinate (any order) or several (mixed).

    Parameters
    ----------
    s : Tensor of shape (batch, m) or (batch, m, K)
        Values at the points, computed from ``y``.
    y : Tensor of shape (batch, m, d)
        Coordinates, with ``requires_grad=True``.
    axis : int or sequence of int
        Coordinate to differentiate along (negative counts from the last);
        a sequence differentiates along each in turn: ``(0, 1)`` is
        ``d2s / dy0 dy1``.
    order : int, default=1
        Order, with an int ``axis``: ``derivative(s, y, 1, order=2)`` is
        ``d2s / dy1^2``.

    Returns
    -------
    ds : Tensor
        The derivative, shaped like ``s``.

    Examples
    --------
    >>> import torch
    >>> from skoperator.physics import derivative
    >>> y = torch.rand(3, 4, 1, requires_grad=True)
    >>> s = torch.sin(y[..., 0])
    >>> bool(torch.allclose(derivative(s, y, 0, order=2), -torch.sin(y[..., 0])))
    True
    """
    for a in _axes(axis, order, y.shape[-1]):
        s = grad(s, y, a)
    return s


class Derivatives:
    """The derivative helper handed to a residual: ``d(s, axis, order=1)``.

    Bound to the collocation coordinates ``y`` of one step. First
    derivatives of a tensor are computed once for all axes and cached, so
    ``d(s, 0)`` then ``d(s, 1)`` cost one backward pass, and ``d(s, 1,
    order=2)`` reuses ``d(s, 1)``.

    Parameters
    ----------
    y : Tensor of shape (batch, m, d)
        Coordinates, with ``requires_grad=True``.

    Examples
    --------
    >>> import torch
    >>> from skoperator.physics import Derivatives
    >>> y = torch.rand(2, 3, 2, requires_grad=True)
    >>> s = y[..., 0] * y[..., 1] ** 3
    >>> d = Derivatives(y)
    >>> bool(torch.allclose(d(s, 1, order=2), 6 * y[..., 0] * y[..., 1]))
    True
    >>> bool(torch.allclose(d(s, (0, 1)), 3 * y[..., 1] ** 2))
    True
    """

    def __init__(self, y):
        self.y = y
        self._cache = []  # (tensor, gradient): identity, not equality, is the key

    def gradient(self, s):
        """All first derivatives of ``s``, computed once and cached.

        Parameters
        ----------
        s : Tensor of shape (batch, m) or (batch, m, K)
            Values computed from ``y``.

        Returns
        -------
        ds : Tensor of shape (batch, m[, K], d)
            The gradient.
        """
        for t, g in self._cache:
            if t is s:
                return g
        g = grad(s, self.y)
        self._cache.append((s, g))
        return g

    def __call__(self, s, axis, order=1):
        """``d^order s / d y_axis^order``, or the mixed derivative along a sequence of axes."""
        for a in _axes(axis, order, self.y.shape[-1]):
            s = self.gradient(s)[..., a]
        return s

    def laplacian(self, s, axes=None):
        """Sum of second derivatives of ``s``.

        Parameters
        ----------
        s : Tensor of shape (batch, m) or (batch, m, K)
            Values computed from ``y``.
        axes : sequence of int, default=None
            The coordinates; all of them when None.

        Returns
        -------
        lap : Tensor
            Shaped like ``s``.
        """
        if axes is None:
            axes = range(self.y.shape[-1])
        elif isinstance(axes, (Integral, np.integer)):
            raise ValueError(f"axes must be a sequence of ints (or None for all); got "
                             f"{axes!r}. Pass axes=({axes},) for one axis.")
        axes = list(axes)
        if not axes:
            raise ValueError("axes is an empty sequence; name at least one coordinate axis, "
                             "or pass None for all of them.")
        return sum(self(s, a, order=2) for a in axes)


def interpolate_sensors(U, sensors, x):
    """Input functions at positions ``x``: linear interpolation between the sensors.

    The rule: piecewise linear through the sensor values, exact on the
    sensors; outside ``[sensors[0], sensors[-1]]`` the first (last) interval's
    line is extended.

    Parameters
    ----------
    U : Tensor of shape (batch, n_sensors)
        Function values at the sensors.
    sensors : Tensor of shape (n_sensors,)
        Increasing sensor positions.
    x : Tensor of shape (batch, m)
        Where to evaluate each function (row ``b`` of ``x`` for function ``b``).

    Returns
    -------
    u : Tensor of shape (batch, m)
        The interpolated values, differentiable in ``x`` (the slope of the
        sensor interval; second derivatives are zero).

    Examples
    --------
    >>> import torch
    >>> from skoperator.physics import interpolate_sensors
    >>> U = torch.tensor([[0.0, 1.0, 0.0]])
    >>> interpolate_sensors(U, torch.tensor([0.0, 0.5, 1.0]), torch.tensor([[0.25, 0.5]]))
    tensor([[0.5000, 1.0000]])
    """
    U, sensors, x = (v if torch.is_tensor(v) else torch.as_tensor(np.asarray(v, np.float32))
                     for v in (U, sensors, x))
    if not (bool(torch.isfinite(sensors).all()) and bool(torch.isfinite(x).all())):
        raise ValueError("sensors and x must be finite; got NaN or infinite values in "
                         f"{'sensors' if not bool(torch.isfinite(sensors).all()) else 'x'}. "
                         "Pass the positions as finite numbers.")
    if U.dim() != 2 or x.dim() != 2 or x.shape[0] != U.shape[0]:
        raise ValueError(f"x must be (batch, m), one row per function (row) of U; got x of "
                         f"shape {tuple(x.shape)} for U of shape {tuple(U.shape)}. Pass "
                         "x[b] for function b (x.expand(len(U), -1) repeats one row).")
    if sensors.dim() != 1 or len(sensors) < 2 or not bool((sensors.diff() > 0).all()) \
            or U.shape[-1] != len(sensors):
        raise ValueError(f"sensors must be 1-D and strictly increasing, one per column of U "
                         f"({U.shape[-1]}); got shape {tuple(sensors.shape)}"
                         f"{'' if sensors.dim() != 1 else ', values ' + str(sensors.tolist())}.")
    return interpolate(U, sensors, x)


def interpolate(U, sensors, x):
    """:func:`interpolate_sensors` on checked tensors (the physics term's, every step)."""
    x = x.to(sensors.dtype)  # its graph kept: a residual may differentiate u (the slope)
    i1 = torch.searchsorted(sensors, x.detach().contiguous()).clamp(1, len(sensors) - 1)
    i0 = i1 - 1
    x0, x1 = sensors[i0], sensors[i1]
    w = ((x - x0) / (x1 - x0)).to(U.dtype)
    return torch.gather(U, 1, i0) * (1 - w) + torch.gather(U, 1, i1) * w
