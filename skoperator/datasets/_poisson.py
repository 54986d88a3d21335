"""Poisson benchmark: -s'' = f on [0, 1] with s(0) = s(1) = 0."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from .._compat import Interval, validate_params
from ._base import (
    _check_functions,
    _check_points,
    _piecewise_linear_integrals,
)
from ._grf import _sample_grf


def _green_integral(F, sensors, points):
    """``B(x) = int_0^x (x - xi) f(xi) dxi`` for the interpolant of ``F``."""
    I0, I1 = _piecewise_linear_integrals(F, sensors, points, first_moment=True)
    return points * I0 - I1


@validate_params(
    {"F": ["array-like"], "points": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def solve_poisson(F, points):
    """Solve ``-s'' = f`` on [0, 1], ``s(0) = s(1) = 0``, exactly, at ``points``.

    Each row of ``F`` holds the values of a source ``f`` at ``n_sensors``
    uniform sensors of [0, 1], endpoints included
    (``np.linspace(0, 1, n_sensors)``). The solution is exact for the
    piecewise-linear interpolant of ``f`` through the sensors.

    Parameters
    ----------
    F : array-like of shape (n_functions, n_sensors) or (n_sensors,)
        Source values at the sensors, finite, ``n_sensors >= 2``.

    points : array-like of shape (n_points,) or (n_points, 1)
        Where to evaluate ``s``: values of ``x`` in [0, 1], in any order.

    Returns
    -------
    G : ndarray of shape (n_functions, n_points) or (n_points,)
        ``s`` at ``points``, float64; 1-D when ``F`` is 1-D.

    See Also
    --------
    make_poisson : Sample sources ``f`` and solve for them.
    solve_antiderivative : Integrate once, from 0.

    Notes
    -----
    With the Green's function of ``-d2/dx2`` and zero end values,

    ``s(x) = x int_0^1 (1 - xi) f(xi) dxi - int_0^x (x - xi) f(xi) dxi``.

    Both integrals are sums of the moments ``int xi**m f(xi) dxi``
    (``m = 0, 1``) over sensor intervals, where ``f`` is linear, so they are
    closed-form polynomials: ``s`` is a piecewise cubic, twice continuously
    differentiable, with ``-s'' = f`` everywhere. ``s(1)`` is exactly 0.

    Examples
    --------
    >>> import numpy as np
    >>> from skoperator.datasets import solve_poisson
    >>> f = np.full(5, 2.0)  # f = 2 gives s(x) = x (1 - x)
    >>> solve_poisson(f, [0.0, 0.25, 0.5, 1.0])
    array([0.    , 0.1875, 0.25  , 0.    ])
    """
    F, one_function = _check_functions(F, "F")
    points = _check_points(points)
    sensors = np.linspace(0.0, 1.0, F.shape[1])
    whole = _green_integral(F, sensors, np.ones(1))  # B(1), shape (n, 1)
    G = points * whole - _green_integral(F, sensors, points)
    return G[0] if one_function else G


@validate_params(
    {
        "n_functions": [Interval(Integral, 1, None, closed="left")],
        "n_sensors": [Interval(Integral, 2, None, closed="left")],
        "n_points": [Interval(Integral, 2, None, closed="left")],
        "length_scale": [Interval(Real, 0, np.inf, closed="neither")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_poisson(
    n_functions, *, n_sensors=100, n_points=100, length_scale=0.2, random_state=None
):
    """Generate a 1-D Poisson operator-learning problem.

    The operator maps a source ``f`` to the solution ``s`` of
    ``-s''(x) = f(x)`` on [0, 1] with ``s(0) = s(1) = 0``. ``f`` is a
    zero-mean Gaussian random field (squared-exponential kernel, variance 1)
    sampled at ``n_sensors`` uniform sensors of [0, 1], endpoints included;
    ``s`` is solved exactly for the piecewise-linear interpolant of ``f``
    through the sensors (:func:`solve_poisson`), at ``n_points`` uniform
    points of [0, 1].

    Parameters
    ----------
    n_functions : int
        Number of source/solution pairs; at least 1.

    n_sensors : int, default=100
        Number of sensors, at least 2.

    n_points : int, default=100
        Number of output points, at least 2, uniform on [0, 1] with both
        ends.

    length_scale : float, default=0.2
        Length scale of the squared-exponential kernel of ``f`` (> 0).

    random_state : int, RandomState instance or None, default=None
        Seeds the draw of ``f``. Pass an int for reproducible output across
        calls. A :class:`numpy.random.Generator` is not accepted (as nowhere
        in scikit-learn); pass an int drawn from it instead.

    Returns
    -------
    U : ndarray of shape (n_functions, n_sensors)
        ``f`` at the sensors.

    Y : ndarray of shape (n_points, 1)
        Output points.

    G : ndarray of shape (n_functions, n_points)
        ``s`` at ``Y``; zero at both ends.

    See Also
    --------
    solve_poisson : The solver used for ``G``.
    make_antiderivative : A first-order problem with the same input field.

    Notes
    -----
    The field is drawn as in :func:`make_antiderivative`: the same seed and
    ``n_sensors`` give the same ``U`` in both.

    Examples
    --------
    >>> from skoperator.datasets import make_poisson
    >>> U, Y, G = make_poisson(10, n_sensors=50, random_state=0)
    >>> U.shape, Y.shape, G.shape
    ((10, 50), (100, 1), (10, 100))
    >>> float(abs(G[:, [0, -1]]).max())
    0.0
    """
    sensors = np.linspace(0.0, 1.0, n_sensors)
    points = np.linspace(0.0, 1.0, n_points)
    U = _sample_grf(n_functions, sensors, length_scale, check_random_state(random_state))
    G = solve_poisson(U, points)
    return U, points.reshape(-1, 1), G
