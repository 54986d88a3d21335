"""Benchmark data generators of Karumuri et al. (2024): numpy in, numpy out.

Each generator returns ``(U, Y, G)``: input functions at the sensors
(n_functions, n_sensors), output coordinates (n_points, d) and outputs
(n_functions, n_points), all float64.
"""

import numbers

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["make_antiderivative", "sample_grf"]


def _check_n_functions(n_functions):
    if not isinstance(n_functions, numbers.Integral) or isinstance(n_functions, bool) \
            or n_functions < 1:
        raise ValueError(f"n_functions must be an integer >= 1; got {n_functions!r}.")
    return int(n_functions)


def sample_grf(points, n_functions, *, length_scale, random_state=None, jitter=1e-10):
    """Zero-mean Gaussian random field with a squared-exponential kernel.

    Parameters
    ----------
    points : array-like of shape (n_points,) or (n_points, d)
        Where the field is sampled.
    n_functions : int
        Number of independent samples.
    length_scale : float or array-like of shape (d,)
        Kernel length scale(s); ``k(x, x') = exp(-|x - x'|^2 / (2 l^2))``
        with unit variance.
    random_state : int, RandomState instance or None, default=None
        Seed of the draw.
    jitter : float, default=1e-10
        Diagonal added to the kernel matrix before its factorisation.

    Returns
    -------
    samples : ndarray of shape (n_functions, n_points)

    Examples
    --------
    >>> import numpy as np
    >>> from skoperator.datasets import sample_grf
    >>> sample_grf(np.linspace(0, 1, 50), 3, length_scale=0.2, random_state=0).shape
    (3, 50)
    """
    n_functions = _check_n_functions(n_functions)
    x = np.asarray(points, dtype=np.float64)
    x = x.reshape(len(x), -1) / np.asarray(length_scale, dtype=np.float64)
    sq = np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1)
    K = np.exp(-0.5 * sq)
    # eigh is robust where a Cholesky of this nearly singular matrix fails.
    w, V = np.linalg.eigh(K + jitter * np.eye(len(x)))
    factor = V * np.sqrt(np.clip(w, 0.0, None))
    z = check_random_state(random_state).standard_normal((n_functions, len(x)))
    return z @ factor.T


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
    random_state : int, RandomState instance or None, default=None
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
    if not isinstance(n_points, numbers.Integral) or n_points < 2:
        raise ValueError(f"n_points must be an integer >= 2; got {n_points!r}.")
    x = np.linspace(0.0, 1.0, n_points)
    U = sample_grf(x, n_functions, length_scale=length_scale, random_state=random_state)
    steps = 0.5 * (U[:, 1:] + U[:, :-1]) * np.diff(x)
    G = np.concatenate([np.zeros((len(U), 1)), np.cumsum(steps, axis=1)], axis=1)
    return U, x.reshape(-1, 1), G
