"""Diffusion-reaction benchmark: a 1-D nonlinear PDE driven by a random source.

The generator samples sources ``s`` from a Gaussian random field and solves

    du/dt = D d2u/dx2 + k u**2 + s(x),   x in [0, 1], t in [0, 1],
    u(0, t) = u(1, t) = 0,   u(x, 0) = 0,

for all sources at once. Space: fourth-order compact finite differences on a
vertex grid that contains the sensor points (the cell centres). Time: the
fourth-order exponential time-differencing Runge-Kutta scheme ETDRK4 of Cox &
Matthews in the discrete sine basis that diagonalises the compact operator, so
the stiff linear part, and the constant source, are integrated exactly; only the
weak reaction term is approximated in time.
"""

from numbers import Integral, Real

import numpy as np
from scipy.fft import dst
from scipy.interpolate import CubicSpline
from sklearn.utils import check_random_state

from .._compat import Hidden, Interval, StrOptions, validate_params
from ._base import (
    N_JOBS,
    _check_functions,
    _map_row_chunks,
    _renamed_parameters,
)
from ._grf import _sample_grf

# Internal resolution targets: grid spacing and time step of the solver. With
# the defaults (D = 0.01, 100 sensors, 101 times) they give h = 0.005 and
# dt = 0.01, a discretisation error of about 1e-6 relative to max|u|.
_H_TARGET = 0.005
_DT_TARGET = 0.01
# The largest |k| max|u| dt the time step may reach: at 0.1 the error is about
# 1e-6 relative, at 0.2 about 1e-5, at 0.7 2e-3 (a constant source near blow-up).
_MAX_REACTION_STEP = 0.2
_CHUNK_SIZE = 256
_N_CONTOUR = 32


# ---------------------------------------------------------------------------
# Solver
# ---------------------------------------------------------------------------
def _phi_functions(z):
    """phi_1, phi_2, phi_3 of ETD schemes at real ``z``, by contour averaging.

    Kassam & Trefethen (2005): the mean of ``f(z + r)`` over points ``r`` on a
    unit circle avoids the cancellation of the direct formulas near ``z = 0``.
    """
    roots = np.exp(1j * np.pi * (np.arange(1, _N_CONTOUR + 1) - 0.5) / _N_CONTOUR)
    w = z[:, None] + roots[None, :]
    ew = np.exp(w)
    phi1 = np.mean((ew - 1.0) / w, axis=1).real
    phi2 = np.mean((ew - 1.0 - w) / w**2, axis=1).real
    phi3 = np.mean((ew - 1.0 - w - w**2 / 2.0) / w**3, axis=1).real
    return phi1, phi2, phi3


def _resolution(n_x, n_t, diffusivity, refine_x, substeps):
    """Default internal refinement factors for ``n_x`` sensors and ``n_t`` times."""
    if refine_x is None:
        h_target = min(_H_TARGET, 0.05 * np.sqrt(diffusivity))
        refine_x = max(1, int(np.ceil(1.0 / (2 * n_x * h_target) - 1e-9)))
    if substeps is None:
        substeps = max(1, int(np.ceil(1.0 / ((n_t - 1) * _DT_TARGET) - 1e-9)))
    return refine_x, substeps


def _solve_chunk(S, out, *, n_t, diffusivity, reaction, refine_x, substeps):
    """Solve for the sources ``S`` (n, n_x) and write u into ``out`` (n, n_t, n_x)."""
    n, n_x = S.shape
    n_int = 2 * n_x * refine_x  # number of grid intervals
    h = 1.0 / n_int
    nodes = np.arange(n_int + 1) * h
    sensors = (np.arange(n_x) + 0.5) / n_x
    s = CubicSpline(sensors, S, axis=1)(nodes)
    # Compact scheme M u_t = D delta2 u + M f with M = (1, 10, 1) / 12. Both
    # tridiagonal Toeplitz operators are diagonal in the DST-I basis.
    a = 1.0 / 12.0
    sin2 = np.sin(np.arange(1, n_int) * np.pi * h / 2.0) ** 2
    mu = 1.0 - 4.0 * a * sin2
    lam = -diffusivity * 4.0 / h**2 * sin2 / mu
    # Constant forcing: interior source plus the boundary nodes' share of M f
    # (u = 0 there, so f = s at the boundary nodes).
    boundary = np.zeros((n, n_int - 1))
    boundary[:, 0] = a * s[:, 0]
    boundary[:, -1] += a * s[:, -1]
    forcing = dst(s[:, 1:-1], type=1, norm="ortho", axis=1)
    forcing += dst(boundary, type=1, norm="ortho", axis=1) / mu

    dt = 1.0 / ((n_t - 1) * substeps)
    z = lam * dt
    e_full, e_half = np.exp(z), np.exp(z / 2.0)
    phi1, phi2, phi3 = _phi_functions(z)
    q_half = 0.5 * dt * _phi_functions(z / 2.0)[0]
    f1 = dt * (phi1 - 3.0 * phi2 + 4.0 * phi3)
    f2 = dt * (2.0 * phi2 - 4.0 * phi3)
    f3 = dt * (4.0 * phi3 - phi2)

    def rhs(v_hat):
        v = dst(v_hat, type=1, norm="ortho", axis=1)
        return forcing + dst(reaction * v * v, type=1, norm="ortho", axis=1)

    sensor_nodes = refine_x * (2 * np.arange(n_x) + 1) - 1  # interior indices
    v_hat = np.zeros((n, n_int - 1))
    out[:, 0] = 0.0
    # A blow-up (k u**2 too strong) is reported by the caller, not warned here.
    with np.errstate(over="ignore", invalid="ignore"):
        for step in range(1, (n_t - 1) * substeps + 1):
            v_hat = _etdrk4_step(v_hat, rhs, e_full, e_half, q_half, f1, f2, f3)
            if step % substeps == 0:
                u = dst(v_hat, type=1, norm="ortho", axis=1)
                out[:, step // substeps] = u[:, sensor_nodes]


def _etdrk4_step(v_hat, rhs, e_full, e_half, q_half, f1, f2, f3):
    """One ETDRK4 step (Cox & Matthews) of ``v' = lam * v + rhs(v)``."""
    r_n = rhs(v_hat)
    a_hat = e_half * v_hat + q_half * r_n
    r_a = rhs(a_hat)
    b_hat = e_half * v_hat + q_half * r_a
    r_b = rhs(b_hat)
    c_hat = e_half * a_hat + q_half * (2.0 * r_b - r_n)
    r_c = rhs(c_hat)
    return e_full * v_hat + f1 * r_n + f2 * (r_a + r_b) + f3 * r_c


@validate_params(
    {
        "S": ["array-like"],
        "n_times": [Interval(Integral, 2, None, closed="left")],
        "diffusivity": [Interval(Real, 0, np.inf, closed="neither")],
        "reaction": [Interval(Real, -np.inf, np.inf, closed="neither")],
        "refine_x": [Interval(Integral, 1, None, closed="left"), None],
        "substeps": [Interval(Integral, 1, None, closed="left"), None],
        "n_jobs": N_JOBS,
    },
    prefer_skip_nested_validation=True,
)
def solve_diffusion_reaction(
    S,
    *,
    n_times=101,
    diffusivity=0.01,
    reaction=0.01,
    refine_x=None,
    substeps=None,
    n_jobs=None,
):
    """Solve the 1-D diffusion-reaction problem for given sources.

    Solves ``du/dt = D d2u/dx2 + k u**2 + s(x)`` for ``x, t`` in [0, 1], with
    ``u = 0`` at ``x = 0``, at ``x = 1`` and at ``t = 0``, for each source
    ``s`` given at the ``n_sensors`` cell centres ``(i + 0.5) / n_sensors``.

    Parameters
    ----------
    S : array-like of shape (n_functions, n_sensors) or (n_sensors,)
        Source values at the cell centres, finite, ``n_sensors >= 2``.

    n_times : int, default=101
        Number of output times, equispaced on [0, 1] and including ``t = 0``.

    diffusivity : float, default=0.01
        Diffusion coefficient ``D`` (> 0).

    reaction : float, default=0.01
        Reaction coefficient ``k`` of the ``k u**2`` term.

    refine_x : int, default=None
        Grid refinement: the solver's grid spacing is
        ``1 / (2 * n_sensors * refine_x)``. None picks the smallest factor
        giving a spacing of at most ``min(0.005, 0.05 * sqrt(D))``.

    substeps : int, default=None
        Time steps per output interval. None picks the smallest number giving
        a step of at most 0.01.

    n_jobs : int, default=None
        Number of threads solving chunks of functions in parallel. None means
        1 unless in a :obj:`joblib.parallel_backend` context; -1 uses all
        processors. The result does not depend on it.

    Returns
    -------
    G : ndarray of shape (n_functions, n_times * n_sensors) or (n_times * n_sensors,)
        ``u`` at the output times and cell centres, t-major (the first
        ``n_sensors`` values are ``t = 0``); 1-D when ``S`` is 1-D.

    Raises
    ------
    FloatingPointError
        If the solution becomes non-finite (the reaction term blew up), or if
        the time step does not resolve the reaction term:
        ``|reaction| * max|u| * dt > 0.2``, where ``dt = 1 / ((n_times - 1) *
        substeps)`` (the message gives the ``substeps`` that would).

    See Also
    --------
    make_diffusion_reaction : Sample sources and solve for them.

    Notes
    -----
    Between the sensors, ``s`` is the not-a-knot cubic spline through its
    sensor values. Space is discretised with fourth-order compact finite
    differences on a vertex grid that contains the cell centres; time with
    the ETDRK4 exponential integrator [1]_, [2]_ in the sine basis that
    diagonalises the compact operator, so the stiff diffusion and the source
    are integrated exactly in time. With the default arguments the
    discretisation error is about 1e-6 relative to ``max |u|``; a strong
    reaction raises it, to about 1e-5 where ``|k| max|u| dt`` reaches 0.2,
    beyond which the step is refused (see Raises).

    References
    ----------
    .. [1] S. M. Cox and P. C. Matthews, "Exponential time differencing for
       stiff systems", J. Comput. Phys. 176 (2002), 430-455.
    .. [2] A.-K. Kassam and L. N. Trefethen, "Fourth-order time-stepping for
       stiff PDEs", SIAM J. Sci. Comput. 26 (2005), 1214-1233.

    Examples
    --------
    >>> import numpy as np
    >>> from skoperator.datasets import solve_diffusion_reaction
    >>> x = (np.arange(20) + 0.5) / 20
    >>> G = solve_diffusion_reaction(np.sin(np.pi * x), n_times=11)
    >>> u = G.reshape(11, 20)  # [time, position]
    >>> u.shape, float(abs(u[0]).max()), bool(u[-1, 10] > u[5, 10] > 0)
    ((11, 20), 0.0, True)
    """
    S, one_function = _check_functions(S, "S")
    n, n_x = S.shape
    n_t = n_times
    refine_x, substeps = _resolution(n_x, n_t, diffusivity, refine_x, substeps)
    out = np.empty((n, n_t, n_x))

    def solve_rows(rows):
        _solve_chunk(
            S[rows],
            out[rows],
            n_t=n_t,
            diffusivity=diffusivity,
            reaction=reaction,
            refine_x=refine_x,
            substeps=substeps,
        )

    _map_row_chunks(solve_rows, n, chunk_size=_CHUNK_SIZE, n_jobs=n_jobs)
    if not np.all(np.isfinite(out)):
        raise FloatingPointError(
            "the diffusion-reaction solution became non-finite (the reaction "
            f"term k * u**2 with k={reaction} blew up before t = 1); use a "
            "smaller reaction coefficient or a weaker source."
        )
    dt = 1.0 / ((n_t - 1) * substeps)
    reaction_step = abs(reaction) * float(np.abs(out).max()) * dt
    if reaction_step > _MAX_REACTION_STEP:
        needed = substeps * reaction_step / _MAX_REACTION_STEP
        remedy = (f"Pass solve_diffusion_reaction(..., substeps={int(np.ceil(needed))}) or "
                  "more, or use" if needed <= 64 * substeps else
                  "u grew so large that it most likely blows up before t = 1, where no "
                  "step suffices: use")
        raise FloatingPointError(
            f"the time step does not resolve the reaction term: |reaction| * max|u| * dt "
            f"= {abs(reaction):.3g} * {np.abs(out).max():.3g} * {dt:.3g} = {reaction_step:.3g} "
            f"> {_MAX_REACTION_STEP} (beyond which the solution's error passes about 1e-5 "
            f"relative, and near a blow-up reaches percents). {remedy} a smaller reaction "
            "coefficient or a weaker source."
        )
    G = out.reshape(n, n_t * n_x)
    return G[0] if one_function else G


# ---------------------------------------------------------------------------
# Public generator
# ---------------------------------------------------------------------------
@validate_params(
    {
        "n_functions": [Interval(Integral, 1, None, closed="left")],
        "n_sensors": [Interval(Integral, 2, None, closed="left")],
        "n_times": [Interval(Integral, 2, None, closed="left")],
        "diffusivity": [Interval(Real, 0, np.inf, closed="neither")],
        "reaction": [Interval(Real, -np.inf, np.inf, closed="neither")],
        "length_scale": [Interval(Real, 0, np.inf, closed="neither")],
        "random_state": ["random_state"],
        "n_jobs": N_JOBS,
        "n_x": [
            Interval(Integral, 2, None, closed="left"),
            Hidden(StrOptions({"deprecated"})),
        ],
        "n_t": [
            Interval(Integral, 2, None, closed="left"),
            Hidden(StrOptions({"deprecated"})),
        ],
    },
    prefer_skip_nested_validation=True,
)
@_renamed_parameters({"n_x": "n_sensors", "n_t": "n_times"})
def make_diffusion_reaction(
    n_functions,
    *,
    n_sensors=100,
    n_times=101,
    diffusivity=0.01,
    reaction=0.01,
    length_scale=0.2,
    random_state=None,
    n_jobs=None,
    n_x="deprecated",
    n_t="deprecated",
):
    """Generate the 1-D diffusion-reaction operator-learning benchmark.

    Samples sources ``s`` from a zero-mean Gaussian random field and solves

    ``du/dt = D d2u/dx2 + k u**2 + s(x)`` on ``x, t`` in ``[0, 1]``, with
    ``u = 0`` at ``x = 0``, at ``x = 1`` and at ``t = 0``
    (:func:`solve_diffusion_reaction`).

    The operator maps ``s``, sampled at the ``n_sensors`` cell centres
    ``(i + 0.5) / n_sensors``, to ``u`` on the ``n_times`` x ``n_sensors``
    grid of output times and the same cell centres.

    Parameters
    ----------
    n_functions : int
        Number of source functions to sample and solve for; at least 1.

    n_sensors : int, default=100
        Number of cells in [0, 1], at least 2; sensors and spatial output
        points are the cell centres ``(i + 0.5) / n_sensors``.

    n_times : int, default=101
        Number of output times, at least 2, equispaced on [0, 1] and
        including ``t = 0``.

    diffusivity : float, default=0.01
        Diffusion coefficient ``D`` (> 0).

    reaction : float, default=0.01
        Reaction coefficient ``k`` of the ``k u**2`` term.

    length_scale : float, default=0.2
        Length scale of the squared-exponential kernel of the source field
        (variance 1).

    random_state : int, RandomState instance or None, default=None
        Seeds the source field. Pass an int for reproducible output across
        calls. A :class:`numpy.random.Generator` is not accepted (as nowhere
        in scikit-learn); pass an int drawn from it instead.

    n_jobs : int, default=None
        Number of threads solving chunks of functions in parallel. None means
        1 unless in a :obj:`joblib.parallel_backend` context; -1 uses all
        processors. The result does not depend on it.

    n_x : int
        Deprecated name of ``n_sensors``.

        .. deprecated:: 0.2.0
           ``n_x`` was renamed ``n_sensors`` and will be removed in 0.5.0.

    n_t : int
        Deprecated name of ``n_times``.

        .. deprecated:: 0.2.0
           ``n_t`` was renamed ``n_times`` and will be removed in 0.5.0.

    Returns
    -------
    U : ndarray of shape (n_functions, n_sensors)
        Sources ``s`` at the cell centres.

    Y : ndarray of shape (n_times * n_sensors, 2)
        Output coordinates, columns ``(t, x)``, t-major: the first
        ``n_sensors`` rows are ``t = 0`` at all ``x``, then the next time,
        and so on.

    G : ndarray of shape (n_functions, n_times * n_sensors)
        Solutions ``u`` at the points ``Y``; the ``t = 0`` block is zero.

    See Also
    --------
    solve_diffusion_reaction : The solver used for ``G``.
    make_heat_conduction : 2-D steady heat conduction with random conductivity.

    Notes
    -----
    The solver's grid spacing is at most ``min(0.005, 0.05 * sqrt(D))`` and
    its time step at most 0.01; with the default arguments the
    discretisation error is about 1e-6 relative to ``max |u|`` (a reaction
    strong enough that ``|k| max|u| * 0.01 > 0.2`` raises
    FloatingPointError). All functions
    are solved together; 2,500 take a few seconds.

    Examples
    --------
    >>> from skoperator.datasets import make_diffusion_reaction
    >>> U, Y, G = make_diffusion_reaction(3, random_state=0)
    >>> U.shape, Y.shape, G.shape
    ((3, 100), (10100, 2), (3, 10100))
    """
    rng = check_random_state(random_state)
    x = (np.arange(n_sensors) + 0.5) / n_sensors
    t = np.linspace(0.0, 1.0, n_times)
    U = _sample_grf(n_functions, x, length_scale, rng)
    G = solve_diffusion_reaction(
        U,
        n_times=n_times,
        diffusivity=diffusivity,
        reaction=reaction,
        n_jobs=n_jobs,
    )
    Y = np.column_stack([np.repeat(t, n_sensors), np.tile(x, n_times)])
    return U, Y, G
