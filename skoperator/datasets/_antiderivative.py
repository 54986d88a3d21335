"""Antiderivative benchmark: ds/dx = u(x), s(0) = 0 on [0, 1]."""

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


@validate_params(
    {"U": ["array-like"], "points": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def solve_antiderivative(U, points):
    """Integrate functions given at uniform sensors, exactly, from 0 to ``points``.

    Each row of ``U`` holds the values of a function ``u`` at ``n_sensors``
    uniform sensors of [0, 1], endpoints included
    (``np.linspace(0, 1, n_sensors)``). The solution is
    ``s(x) = int_0^x u(xi) dxi`` for the piecewise-linear interpolant of ``u``
    through the sensors, which is exact at any ``x``.

    Parameters
    ----------
    U : array-like of shape (n_functions, n_sensors) or (n_sensors,)
        Function values at the sensors, finite, ``n_sensors >= 2``.

    points : array-like of shape (n_points,) or (n_points, 1)
        Where to evaluate ``s``: values of ``x`` in [0, 1], in any order.

    Returns
    -------
    G : ndarray of shape (n_functions, n_points) or (n_points,)
        ``s`` at ``points``, float64; 1-D when ``U`` is 1-D.

    See Also
    --------
    make_antiderivative : Sample functions ``u`` and integrate them.
    solve_poisson : Integrate twice, with zero values at both ends.

    Notes
    -----
    Whole sensor intervals add up by the trapezoid rule (exact for a linear
    function); the part of the last interval up to ``x`` is added in closed
    form.

    Examples
    --------
    >>> import numpy as np
    >>> from skoperator.datasets import solve_antiderivative
    >>> u = np.array([0.0, 1.0, 2.0])  # u(x) = 2 x at sensors 0, 0.5, 1
    >>> solve_antiderivative(u, [0.0, 0.25, 0.5, 1.0])  # s(x) = x**2
    array([0.    , 0.0625, 0.25  , 1.    ])
    """
    U, one_function = _check_functions(U, "U")
    points = _check_points(points)
    sensors = np.linspace(0.0, 1.0, U.shape[1])
    G = _piecewise_linear_integrals(U, sensors, points)
    return G[0] if one_function else G


@validate_params(
    {
        "n_functions": [Interval(Integral, 1, None, closed="left")],
        "n_sensors": [Interval(Integral, 2, None, closed="left"), None],
        "n_points": [Interval(Integral, 2, None, closed="left")],
        "length_scale": [Interval(Real, 0, np.inf, closed="neither")],
        "scattered": ["boolean"],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_antiderivative(
    n_functions, *, n_sensors=None, n_points=100, length_scale=0.2, scattered=False,
    random_state=None
):
    """Generate the antiderivative operator-learning benchmark.

    The operator maps ``u`` to ``s`` with ``ds/dx = u(x)``, ``s(0) = 0`` on
    [0, 1] (Example 1 of Karumuri et al. [1]_). ``u`` is a zero-mean Gaussian
    random field (squared-exponential kernel, variance 1) sampled at
    ``n_sensors`` uniform sensors of [0, 1], endpoints included; ``s`` is the
    exact integral of the piecewise-linear interpolant of ``u`` through the
    sensors (:func:`solve_antiderivative`), at ``n_points`` uniform points of
    [0, 1].

    Parameters
    ----------
    n_functions : int
        Number of input/output function pairs; at least 1.

    n_sensors : int, default=None
        Number of sensors, at least 2. None means ``n_points``: the sensors
        are then the output points too.

    n_points : int, default=100
        Number of output points, at least 2, uniform on [0, 1] with both
        ends.

    length_scale : float, default=0.2
        Length scale of the squared-exponential kernel of ``u`` (> 0).

    scattered : bool, default=False
        Observe every function at ``n_points`` positions of its own, drawn
        uniformly in [0, 1] (continuous positions, exact values of ``s``),
        as scattered measurements are; ``Y`` is then per function. The
        sensors of ``u`` stay the uniform grid (``n_sensors``, 100 when None).

    random_state : int, RandomState instance or None, default=None
        Seeds the draw of ``u``. Pass an int for reproducible output across
        calls. A :class:`numpy.random.Generator` is not accepted (as nowhere
        in scikit-learn); pass an int drawn from it instead.

    Returns
    -------
    U : ndarray of shape (n_functions, n_sensors)
        ``u`` at the sensors.

    Y : ndarray of shape (n_points, 1), or (n_functions, n_points, 1) when scattered
        Output points (with ``scattered``, function ``i``'s own points).

    G : ndarray of shape (n_functions, n_points)
        ``s`` at ``Y``; ``G[:, 0] == 0`` on the grid.

    See Also
    --------
    solve_antiderivative : The solver used for ``G``.
    make_poisson : A second-order problem with the same input field.

    Notes
    -----
    The field is ``Z @ L.T`` with ``Z`` standard normal and ``L`` the Cholesky
    factor of the kernel matrix at the sensors (jitter 1e-10). With the
    default ``n_sensors=None`` the arrays for a given int seed are the ones
    this generator has always returned.

    References
    ----------
    .. [1] S. Karumuri, L. Graham-Brady and S. Goswami, "Efficient training of
       deep neural operator networks via randomized sampling",
       arXiv:2409.13280 (2024).

    Examples
    --------
    >>> from skoperator.datasets import make_antiderivative
    >>> U, Y, G = make_antiderivative(10, random_state=0)
    >>> U.shape, Y.shape, G.shape
    ((10, 100), (100, 1), (10, 100))
    >>> U, Y, G = make_antiderivative(10, n_sensors=50, n_points=200, random_state=0)
    >>> U.shape, Y.shape, G.shape
    ((10, 50), (200, 1), (10, 200))
    >>> U, P, G = make_antiderivative(10, n_points=20, scattered=True, random_state=0)
    >>> U.shape, P.shape, G.shape
    ((10, 100), (10, 20, 1), (10, 20))
    """
    if scattered:
        n_sensors = 100 if n_sensors is None else n_sensors
    n_sensors = n_points if n_sensors is None else n_sensors
    sensors = np.linspace(0.0, 1.0, n_sensors)
    rng = check_random_state(random_state)
    U = _sample_grf(n_functions, sensors, length_scale, rng)
    if scattered:  # each function at positions of its own, drawn after its field
        P = rng.uniform(0.0, 1.0, size=(n_functions, n_points))
        G = np.stack([solve_antiderivative(u, p) for u, p in zip(U, P)])
        return U, P[:, :, None], G
    points = np.linspace(0.0, 1.0, n_points)
    G = solve_antiderivative(U, points)
    return U, points.reshape(-1, 1), G
