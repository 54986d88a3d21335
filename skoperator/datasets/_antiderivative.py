"""Antiderivative benchmark: ds/dx = u(x), s(0) = 0 on [0, 1]."""

import numpy as np

from ._grf import (
    _check_int,
    _check_n_functions,
    _check_random_state,
    _check_real,
    _se_kernel_factor,
)


def make_antiderivative(n_functions, *, n_points=100, length_scale=0.2, random_state=None):
    """Antiderivative operator u -> s with ds/dx = u(x), s(0) = 0 on [0, 1].

    Example 1 of Karumuri et al. (2024). ``u`` is a zero-mean Gaussian random
    field (squared-exponential kernel, variance 1) sampled at ``n_points``
    uniform points of [0, 1], which are both the sensors and the output
    coordinates. ``G`` is the exact integral of the piecewise-linear
    interpolant of ``u`` (cumulative trapezoid), so it is known exactly.

    Parameters
    ----------
    n_functions : int
        Number of input/output function pairs.
    n_points : int, default=100
        Number of sensors and output points.
    length_scale : float, default=0.2
        Length scale of the random field.
    random_state : int, RandomState instance, Generator or None, default=None
        Seed of the draw.

    Returns
    -------
    U : ndarray of shape (n_functions, n_points)
        Input functions at the sensors.
    Y : ndarray of shape (n_points, 1)
        Output coordinates.
    G : ndarray of shape (n_functions, n_points)
        Antiderivatives at ``Y``; ``G[:, 0] == 0``.

    Examples
    --------
    >>> from skoperator.datasets import make_antiderivative
    >>> U, Y, G = make_antiderivative(10, random_state=0)
    >>> U.shape, Y.shape, G.shape
    ((10, 100), (100, 1), (10, 100))
    """
    n_functions = _check_n_functions(n_functions)
    n_points = _check_int(n_points, "n_points", 2)
    length_scale = _check_real(length_scale, "length_scale", positive=True)
    x = np.linspace(0.0, 1.0, n_points)
    factor = _se_kernel_factor(x, length_scale)
    U = _check_random_state(random_state).standard_normal((n_functions, n_points)) @ factor.T
    steps = 0.5 * (U[:, 1:] + U[:, :-1]) * np.diff(x)
    G = np.concatenate([np.zeros((len(U), 1)), np.cumsum(steps, axis=1)], axis=1)
    return U, x.reshape(-1, 1), G
