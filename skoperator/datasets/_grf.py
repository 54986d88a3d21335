"""Gaussian random fields with a squared-exponential kernel (variance 1)."""

import numpy as np


def _se_kernel_factor(points, length_scale, jitter=1e-10):
    """Cholesky factor ``L`` of a 1-D squared-exponential kernel matrix.

    ``L @ L.T == exp(-(x_i - x_j)**2 / (2 * length_scale**2)) + jitter * I``.
    The jitter grows tenfold (up to 1e-6) until the factorisation succeeds.
    """
    points = np.asarray(points, dtype=np.float64)
    diff = points[:, None] - points[None, :]
    kernel = np.exp(-0.5 * (diff / length_scale) ** 2)
    eye = np.eye(points.size)
    while True:
        try:
            return np.linalg.cholesky(kernel + jitter * eye)
        except np.linalg.LinAlgError:
            if jitter >= 1e-6:
                raise
            jitter *= 10.0


def _sample_grf(n_functions, points, length_scale, rng):
    """Draw ``n_functions`` zero-mean fields at the 1-D ``points``.

    Returns ``Z @ L.T`` of shape (n_functions, n_points), with ``Z`` standard
    normal drawn from ``rng`` row by row (the draws every generator of this
    package has always made) and ``L`` from :func:`_se_kernel_factor`.
    """
    factor = _se_kernel_factor(points, length_scale)
    return rng.standard_normal((n_functions, len(points))) @ factor.T
