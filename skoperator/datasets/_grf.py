"""Validation and Gaussian-random-field helpers shared by the data generators."""

import numbers

import numpy as np
from sklearn.utils import check_random_state


def _check_n_functions(n_functions):
    """Return ``n_functions`` as an int, or raise a ValueError."""
    if isinstance(n_functions, (bool, np.bool_)) or not isinstance(
        n_functions, numbers.Integral
    ):
        raise ValueError(
            "n_functions must be an int >= 1, got "
            f"{n_functions!r} of type {type(n_functions).__name__}; "
            "pass the number of functions to generate, e.g. n_functions=100."
        )
    if n_functions < 1:
        raise ValueError(
            f"n_functions must be an int >= 1, got {n_functions}; "
            "pass a positive number of functions to generate."
        )
    return int(n_functions)


def _check_int(value, name, minimum):
    """Return ``value`` as an int >= ``minimum``, or raise a ValueError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(
            f"{name} must be an int >= {minimum}, got {value!r} of type "
            f"{type(value).__name__}."
        )
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value}.")
    return int(value)


def _check_real(value, name, *, positive):
    """Return ``value`` as a finite float (optionally > 0), or raise a ValueError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"{name} must be a real number, got {value!r} of type "
            f"{type(value).__name__}."
        )
    value = float(value)
    if not np.isfinite(value) or (positive and value <= 0):
        kind = "a finite number > 0" if positive else "a finite number"
        raise ValueError(f"{name} must be {kind}, got {value}.")
    return value


def _check_random_state(random_state):
    """Turn ``random_state`` into a numpy ``Generator`` or ``RandomState``.

    Accepts None, an int, a ``RandomState`` or a ``Generator``; both returned
    kinds provide ``standard_normal(size)``. No global state is touched.
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    return check_random_state(random_state)


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
