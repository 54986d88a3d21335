"""Burgers benchmark: periodic viscous Burgers' equation on [0, 1).

``u_t + (u**2 / 2)_x = nu u_xx`` with periodic boundary conditions; the
operator maps the initial state ``u(., 0)`` to ``u(., t_final)``. This is the
Burgers problem of the Fourier neural operator paper (Li et al. 2021), used by
Lu et al. (2022) to compare DeepONet and FNO: ``nu = 0.1``, ``t_final = 1``,
initial states from ``N(0, 625 (-Laplacian + 25 I)**-2)``, 128 sensors (the
law the paper states); or the law of FNO's released generation script
(``nu = 1/1000``, ``N(0, 49**2 (-Laplacian + 49 I)**-2.5)``), both in ``LAWS``.

The solver is Fourier pseudo-spectral with the 2/3 dealiasing rule, stepped in
time with the fourth-order exponential time-differencing Runge-Kutta scheme
ETDRK4 (Cox & Matthews; coefficients by contour integrals, Kassam & Trefethen),
for all functions at once: the stiff viscous term is integrated exactly.
"""

import dataclasses
import os
from numbers import Integral, Real

import numpy as np
from scipy.fft import ifft, irfft, rfft

from .._compat import Interval, StrOptions, validate_params
from ._base import N_JOBS, _check_functions, _map_row_chunks
from ._cache import generated
from ._diffusion_reaction import _phi_functions  # the ETD phi functions, shared

# The random field: Fourier modes 1 .. _N_MODES of N(0, sigma**2 (-Lap + tau**2 I)^-gamma),
# as FNO's GRF1 (s / 2 = 4096 modes on its 8,192-point grid).
_N_MODES = 4096
# Solver defaults: grid points (2/3 rule: modes |k| <= 341 are kept) up to
# Lu et al.'s 128 output points, FNO's 8,192 above. See the Notes of
# solve_burgers and make_burgers for their accuracy.
_RESOLUTION = 1024
_RESOLUTION_FNO = 8192
_DT_TARGET = 0.005


@dataclasses.dataclass(frozen=True)
class _Law:
    """A law of the Burgers benchmark: the random field's parameters, the
    viscosity and the solver's largest time step."""

    sigma: float
    tau: float
    gamma: float
    viscosity: float
    dt: float


# "paper": the law the FNO paper states (Li et al. 2021, section 5.1).
# "fno-script": the law of FNO's released generator, gen_burgers1.m (GRF1 with
# gamma=2.5, tau=7, sigma=7**2; visc=1/1000), neuraloperator/neuraloperator,
# data_generation/burgers. Its time step: measured (make_burgers' Notes).
LAWS = {
    "paper": _Law(sigma=25.0, tau=5.0, gamma=2.0, viscosity=0.1, dt=_DT_TARGET),
    "fno-script": _Law(sigma=49.0, tau=7.0, gamma=2.5, viscosity=1e-3, dt=0.002),
}
_CHUNK_SIZE = 256


# ---------------------------------------------------------------------------
# Fourier helpers: a real periodic function is its coefficients c_k of
# exp(2 pi i k x), k = 0 .. K (c_{-k} = conj(c_k)), shape (n_functions, K + 1).
# ---------------------------------------------------------------------------
def _grid_to_coefficients(values):
    """Coefficients of the trigonometric interpolant of ``values`` at ``j / n``.

    For even ``n`` the Nyquist mode ``cos(pi n x)`` is split evenly between
    ``+n/2`` and ``-n/2`` (the interpolant of minimal norm), so that the
    coefficient of ``k = n/2`` is half of the one rfft returns.
    """
    n = values.shape[1]
    c = rfft(values, axis=1, norm="forward")
    if n % 2 == 0:
        c[:, -1] *= 0.5
    return c


def _coefficients_to_grid(c, n):
    """Values at ``x_j = j / n`` (j < n) of the function with coefficients ``c``.

    Exact for any ``n``: modes above ``n / 2`` are folded (aliased) onto the
    ``n``-point grid, which is what point values of the function are.
    """
    K = c.shape[1] - 1
    if 2 * K < n:
        return irfft(c, n, axis=1, norm="forward")
    m = c.shape[0]
    # Modes -K .. K in order, padded to whole periods of n, summed period-wise.
    full = np.concatenate([np.conj(c[:, :0:-1]), c], axis=1)
    n_periods = -(-(2 * K + 1) // n)
    padded = np.zeros((m, n_periods * n), dtype=complex)
    padded[:, : 2 * K + 1] = full
    folded = padded.reshape(m, n_periods, n).sum(axis=1)
    # folded[i] holds the modes k = -K + i (mod n); move mode 0 to index 0.
    folded = np.roll(folded, -K, axis=1)
    return np.ascontiguousarray(ifft(folded, axis=1, norm="forward").real)  # as a cache hit


def _n_kept(resolution):
    """Largest mode the 2/3 rule keeps on ``resolution`` points: 3 K < resolution."""
    return (resolution - 1) // 3


def _field_spectrum(n_modes=_N_MODES, law=LAWS["paper"]):
    """Standard deviations ``sigma_k`` (k = 1 .. n_modes) of the initial field.

    The field is ``sum_k sqrt(2) sigma_k (xi_k cos 2 pi k x + eta_k sin 2 pi k x)``
    with ``sigma_k = sigma ((2 pi k)**2 + tau**2)**(-gamma / 2)``:
    ``sigma_k**2`` are the eigenvalues of ``sigma**2 (-Laplacian + tau**2 I)**-gamma``
    on the orthonormal Fourier basis of [0, 1) (``25 / ((2 pi k)**2 + 25)``
    for the paper's law).
    """
    k = np.arange(1, n_modes + 1)
    return law.sigma * ((2 * np.pi * k) ** 2 + law.tau**2) ** (-law.gamma / 2)


def _sample_coefficients(n_functions, rng, law=LAWS["paper"]):
    """Coefficients (n_functions, _N_MODES + 1) of initial states; mode 0 is 0.

    Draws ``xi`` then ``eta`` (standard normal, ``_N_MODES`` each) per
    function, whatever the grid, so that the functions of a seed do not depend
    on ``n_points`` or ``resolution`` (nor, but for a scale per mode, on
    the law).
    """
    Z = rng.standard_normal((n_functions, 2, _N_MODES))
    c = np.zeros((n_functions, _N_MODES + 1), dtype=complex)
    c[:, 1:] = _field_spectrum(law=law) / np.sqrt(2.0) * (Z[:, 0] - 1j * Z[:, 1])
    return c


# ---------------------------------------------------------------------------
# Solver
# ---------------------------------------------------------------------------
def _solve_coefficients(c0, *, viscosity, t_final, resolution, n_steps):
    """Advance coefficients ``c0`` (n, K + 1), K the kept modes, to ``t_final``."""
    K = c0.shape[1] - 1
    k = np.arange(K + 1)
    dt = t_final / n_steps
    z = -viscosity * (2 * np.pi * k) ** 2 * dt
    e_full, e_half = np.exp(z), np.exp(z / 2.0)
    phi1, phi2, phi3 = _phi_functions(z)
    q_half = 0.5 * dt * _phi_functions(z / 2.0)[0]
    f1 = dt * (phi1 - 3.0 * phi2 + 4.0 * phi3)
    f2 = dt * (2.0 * phi2 - 4.0 * phi3)
    f3 = dt * (4.0 * phi3 - phi2)
    g = -1j * np.pi * k  # -(u**2 / 2)_x = -i pi k (u**2)^_k

    def nonlinear(c):
        u = irfft(c, resolution, axis=1, norm="forward")
        return g * rfft(u * u, axis=1, norm="forward")[:, : K + 1]

    c = c0
    for _ in range(n_steps):
        n_c = nonlinear(c)
        a = e_half * c + q_half * n_c
        n_a = nonlinear(a)
        b = e_half * c + q_half * n_a
        n_b = nonlinear(b)
        d = e_half * a + q_half * (2.0 * n_b - n_c)
        n_d = nonlinear(d)
        c = e_full * c + f1 * n_c + f2 * (n_a + n_b) + f3 * n_d
    return c


def _evolve(c0, n_out, *, viscosity, t_final, resolution, n_steps, n_jobs):
    """Solve from coefficients ``c0`` (any number of modes); values at ``j / n_out``."""
    # the modes the 2/3 rule keeps on `resolution` points, whatever c0 holds: cut above,
    # zeros below (a field on a coarse grid has modes up to n_grid // 2 only; the solution's
    # higher modes grow from them, which a solve on those few modes would lose)
    K = _n_kept(resolution)
    c0 = np.ascontiguousarray(c0[:, : K + 1])
    if c0.shape[1] < K + 1:
        c0 = np.pad(c0, ((0, 0), (0, K + 1 - c0.shape[1])))
    out = np.empty((c0.shape[0], n_out))

    def solve_rows(rows):
        c = _solve_coefficients(
            c0[rows],
            viscosity=viscosity,
            t_final=t_final,
            resolution=resolution,
            n_steps=n_steps,
        )
        out[rows] = _coefficients_to_grid(c, n_out)

    # Blow-up (a viscosity too small for the grid) is reported below.
    with np.errstate(over="ignore", invalid="ignore"):
        _map_row_chunks(solve_rows, c0.shape[0], chunk_size=_CHUNK_SIZE, n_jobs=n_jobs)
    if not np.all(np.isfinite(out)):
        raise FloatingPointError(
            f"the Burgers solution became non-finite: resolution={resolution} and "
            f"n_steps={n_steps} are too coarse for viscosity={viscosity} and these "
            "initial states; increase resolution and n_steps."
        )
    return out


def _default_steps(t_final, n_steps, dt=_DT_TARGET):
    if n_steps is None:
        n_steps = max(1, int(np.ceil(t_final / dt - 1e-9)))
    return n_steps


def _default_resolution(n_points):
    """1,024 up to Lu et al.'s 128 output points, else FNO's 8,192."""
    return _RESOLUTION if n_points <= 128 else _RESOLUTION_FNO


@validate_params(
    {
        "u0": ["array-like"],
        "viscosity": [Interval(Real, 0, np.inf, closed="neither")],
        "t_final": [Interval(Real, 0, np.inf, closed="neither")],
        "resolution": [Interval(Integral, 8, None, closed="left"), None],
        "n_steps": [Interval(Integral, 1, None, closed="left"), None],
        "n_jobs": N_JOBS,
    },
    prefer_skip_nested_validation=True,
)
def solve_burgers(
    u0, *, viscosity=0.1, t_final=1.0, resolution=None, n_steps=None, n_jobs=None
):
    """Solve the periodic viscous Burgers' equation for given initial states.

    Solves ``u_t + (u**2 / 2)_x = viscosity * u_xx`` on ``x`` in [0, 1) with
    periodic boundary conditions, from ``u(x, 0) = u0(x)`` to
    ``t = t_final``. Each row of ``u0`` holds an initial state at the
    ``n_grid`` uniform points ``x_j = j / n_grid`` (``x = 1`` is ``x = 0``
    and is left out); the solution is returned at the same points.

    Parameters
    ----------
    u0 : array-like of shape (n_functions, n_grid) or (n_grid,)
        Initial states at ``np.arange(n_grid) / n_grid``, finite,
        ``n_grid >= 2``.

    viscosity : float, default=0.1
        Viscosity ``nu`` (> 0).

    t_final : float, default=1.0
        Time of the solution returned (> 0).

    resolution : int, default=None
        Number of grid points of the pseudo-spectral solver, at least 8; it
        keeps the Fourier modes ``|k| <= (resolution - 1) // 3`` (the 2/3
        dealiasing rule). None means 1024. It may be more or less than
        ``n_grid``.

    n_steps : int, default=None
        Number of ETDRK4 time steps. None means ``ceil(t_final / 0.005)``.

    n_jobs : int, default=None
        Number of threads solving chunks of functions in parallel. None means
        1 unless in a :obj:`joblib.parallel_backend` context; -1 uses all
        processors. The result does not depend on it.

    Returns
    -------
    G : ndarray of shape (n_functions, n_grid) or (n_grid,)
        ``u(x_j, t_final)``, float64; 1-D when ``u0`` is 1-D.

    Raises
    ------
    FloatingPointError
        If the solution becomes non-finite (the grid is too coarse for the
        viscosity: raise ``resolution`` and ``n_steps``).

    See Also
    --------
    make_burgers : Sample initial states and solve for them.

    Notes
    -----
    ``u0`` is taken as its trigonometric interpolant through the grid points
    (for even ``n_grid`` the ``cos(pi n_grid x)`` mode is split evenly
    between the wavenumbers ``+-n_grid / 2``); its modes above
    ``(resolution - 1) // 3`` are dropped. The Fourier coefficients are then
    advanced with ETDRK4 [1]_, [2]_, with the viscous term integrated exactly
    and ``(u**2)_x`` evaluated on the ``resolution``-point grid with the 2/3
    rule, so that it is free of aliasing. The solution is evaluated exactly at
    the ``n_grid`` points (modes above ``n_grid / 2`` fold onto the grid). The
    mean of ``u`` is conserved to rounding.

    The defaults are sized for ``viscosity`` around 0.1 and ``t_final``
    around 1. Against an exact Cole-Hopf solution on 128 points (initial
    ``max |u|`` 2.6), the error is 5e-7 to 7e-7 relative to ``max |u|`` at
    ``t_final`` = 0.1, 0.25 and 1; it comes from the time step and falls as
    ``n_steps**-4`` (ETDRK4's order, observed 3.9 to 4.0). The grid is not a
    limit: 128 or 8,192 points give the same result to rounding. A much
    smaller viscosity steepens the solution into near-shocks, which need a
    larger ``resolution`` and more ``n_steps``.

    References
    ----------
    .. [1] S. M. Cox and P. C. Matthews, "Exponential time differencing for
       stiff systems", J. Comput. Phys. 176 (2002), 430-455.
    .. [2] A.-K. Kassam and L. N. Trefethen, "Fourth-order time-stepping for
       stiff PDEs", SIAM J. Sci. Comput. 26 (2005), 1214-1233.

    Examples
    --------
    >>> import numpy as np
    >>> from skoperator.datasets import solve_burgers
    >>> x = np.arange(64) / 64
    >>> u0 = np.sin(2 * np.pi * x) + 0.5
    >>> u = solve_burgers(u0)
    >>> u.shape
    (64,)
    >>> float(round(u.mean(), 12))  # the mean is conserved
    0.5
    >>> bool(abs(u - 0.5).max() < 0.05)  # the wave decays, as exp(-4 pi**2 nu t)
    True
    """
    u0, one_function = _check_functions(
        u0, "u0", columns="n_grid", layout="one row per function, one column per point"
    )
    resolution = _RESOLUTION if resolution is None else resolution
    n_steps = _default_steps(t_final, n_steps)
    G = _evolve(
        _grid_to_coefficients(u0),
        u0.shape[1],
        viscosity=viscosity,
        t_final=t_final,
        resolution=resolution,
        n_steps=n_steps,
        n_jobs=n_jobs,
    )
    return G[0] if one_function else G


@validate_params(
    {
        "n_functions": [Interval(Integral, 1, None, closed="left")],
        "n_points": [Interval(Integral, 2, None, closed="left")],
        "law": [StrOptions(set(LAWS))],
        "viscosity": [Interval(Real, 0, np.inf, closed="neither"), None],
        "t_final": [Interval(Real, 0, np.inf, closed="neither")],
        "resolution": [Interval(Integral, 8, None, closed="left"), None],
        "n_steps": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "n_jobs": N_JOBS,
        "cache": ["boolean"],
        "data_home": [str, os.PathLike, None],
    },
    prefer_skip_nested_validation=True,
)
def make_burgers(
    n_functions,
    *,
    n_points=128,
    law="paper",
    viscosity=None,
    t_final=1.0,
    resolution=None,
    n_steps=None,
    random_state=None,
    n_jobs=None,
    cache=False,
    data_home=None,
):
    """Generate the 1-D Burgers operator-learning benchmark.

    The operator maps the initial state ``u0`` of the periodic viscous
    Burgers' equation ``u_t + (u**2 / 2)_x = viscosity * u_xx`` on [0, 1) to
    the solution at ``t_final`` (:func:`solve_burgers`). This is the Burgers
    benchmark of the Fourier neural operator [1]_ and of Lu et al. [2]_:
    ``t_final=1`` and ``u0`` drawn from a periodic Gaussian random field,
    under one of two laws (see Notes): the one the FNO paper states
    (``viscosity=0.1``, the default) or the one of FNO's released
    generation script (``viscosity=1/1000``). Lu et al. learn it on 128
    points; FNO solves on 8,192 points and learns on 1,024 (or 2,048 to
    8,192), which ``n_points=1024`` does by default.

    Parameters
    ----------
    n_functions : int
        Number of initial states to sample and solve for; at least 1.

    n_points : int, default=128
        Number of uniform points ``x_j = j / n_points`` of [0, 1), at least 2:
        the sensors and the output points.

    law : {"paper", "fno-script"}, default="paper"
        The law of the initial states and the default viscosity: "paper" is
        the one the FNO paper states (``N(0, 625 (-Laplacian + 25 I)**-2)``,
        ``viscosity=0.1``); "fno-script" the one FNO's released script
        ``gen_burgers1.m`` sets (``N(0, 49**2 (-Laplacian + 49 I)**-2.5)``,
        ``viscosity=1/1000``). See Notes.

    viscosity : float, default=None
        Viscosity ``nu`` (> 0). None means the law's: 0.1 for "paper",
        1/1000 for "fno-script".

    t_final : float, default=1.0
        Time of the output (> 0).

    resolution : int, default=None
        Number of grid points of the solver (see :func:`solve_burgers`). None
        means 1,024 when ``n_points <= 128`` and FNO's 8,192 above.

    n_steps : int, default=None
        Number of time steps of the solver. None means
        ``ceil(t_final / 0.005)`` for the "paper" law and
        ``ceil(t_final / 0.002)`` for "fno-script".

    random_state : int, RandomState instance or None, default=None
        Seeds the initial states. Pass an int for reproducible output across
        calls. A :class:`numpy.random.Generator` is not accepted (as nowhere
        in scikit-learn); pass an int drawn from it instead.

    n_jobs : int, default=None
        Number of threads solving chunks of functions in parallel. None means
        1 unless in a :obj:`joblib.parallel_backend` context; -1 uses all
        processors. The result does not depend on it.

    cache : bool, default=False
        Keep the arrays in a disk cache under ``data_home`` and return them
        from there when a call with the same arguments (``n_jobs`` aside)
        stored them: the same arrays, bit for bit. Needs an int
        ``random_state``.

    data_home : str or path-like, default=None
        Folder of the disk cache, used with ``cache=True``. None means the
        folder named by the environment variable ``SKOPERATOR_DATA`` when it
        is set, else ``~/skoperator_data``.

    Returns
    -------
    U : ndarray of shape (n_functions, n_points)
        Initial states ``u0`` at the points.

    Y : ndarray of shape (n_points, 1)
        The points ``j / n_points``.

    G : ndarray of shape (n_functions, n_points)
        Solutions ``u(., t_final)`` at the points.

    See Also
    --------
    solve_burgers : The solver used for ``G``.
    make_darcy : The 2-D Darcy-flow benchmark of the same papers.

    Notes
    -----
    The initial state is, for both laws, drawn as FNO's ``GRF1`` draws it:

    ``u0(x) = sum_{k=1}^{4096} sqrt(2) s_k (xi_k cos(2 pi k x) + eta_k sin(2 pi k x))``

    with ``xi_k, eta_k`` independent standard normal and
    ``s_k = sigma ((2 pi k)**2 + tau**2)**(-gamma / 2)``: ``s_k**2`` are the
    eigenvalues of the covariance operator
    ``sigma**2 (-Laplacian + tau**2 I)**-gamma`` on the orthonormal Fourier
    basis of [0, 1). The constant mode is left out, as FNO does, so every
    ``u0`` has mean zero (and so has every solution). ``U`` holds the exact
    values of this 4096-mode function at the points (not an interpolant). A
    seed draws the same ``xi, eta`` under both laws.

    - ``law="paper"``: ``sigma=25, tau=5, gamma=2`` and ``viscosity=0.1``,
      as stated in the FNO paper [1]_ (section 5.1) and used by Lu et
      al. [2]_. Pointwise variance ``sum_k 2 s_k**2 = 0.352``.
    - ``law="fno-script"``: ``sigma=7**2=49, tau=7, gamma=2.5`` and
      ``visc=1/1000``, as set in ``data_generation/burgers/gen_burgers1.m``
      of FNO's released code [3]_ (it solves with chebfun's ``spin``,
      ETDRK4 on ``s`` points, internal time step 1e-4; the script as released
      has ``s=1024``, the authors state ``s=8192`` made
      ``burgers_data_R10.mat`` [4]_ and that the file
      ``burgers_v1000_t200_r1024_N2048.mat`` has viscosity 1/1000 [5]_).
      Pointwise variance 0.0751. Which law made ``burgers_data_R10.mat``,
      the file Lu et al. scored on, is not stated by its authors; at
      ``viscosity=0.1`` the solution decays to a few percent of its start,
      so the two laws give problems of very different difficulty, and a
      published error should be compared on the law it used.

    ``G`` is solved from the modes ``|k| <= (resolution - 1) // 3`` of
    ``u0``. With ``law="paper"``, the default solve grid of 1,024 points
    (for up to 128 output points; modes ``|k| <= 341``; the higher ones have amplitudes below
    1e-5 and are damped as ``exp(-4.6e5 t)``) with 200 ETDRK4 steps (FNO's
    time step, 0.005). At 1,024 points, solved on 8,192, the default time
    step agrees with one ten times smaller to a relative L2 difference of
    2.9e-7 (5.8e-7 for the worst of 4 functions; 200 steps against 2,000)
    with ``law="paper"``, and of 3.2e-8 (1.0e-7; 500 steps against 5,000)
    with ``law="fno-script"`` and its time step 0.002. At 8,192 points,
    0.074 CPU seconds a function for the "paper" law (1.5 CPU minutes for
    1,200) and 0.19 for "fno-script" (500 steps; 3.8 CPU minutes), measured
    by ``benchmarks/bench_generators.py``
    (``benchmarks/results/generators_full_resolution.txt``).

    At ``viscosity=0.1`` the solution decays fast: at ``t = 1`` it is about
    ``exp(-4 pi**2 viscosity) = 0.02`` times the ``k = 1`` mode of ``u0``,
    the higher modes being gone. The sensor values ``U`` alias the modes
    ``|k| >= n_points / 2`` of ``u0``, chiefly onto their mean (at 128
    points ``U.mean(axis=1)`` is of order 5e-5, not 0), so that
    ``solve_burgers(U)`` differs from ``G`` by about 5e-3 (relative L2),
    and ``solve_burgers(U - U.mean(axis=1, keepdims=True))`` by about
    1.4e-4.

    References
    ----------
    .. [1] Z. Li, N. Kovachki, K. Azizzadenesheli, B. Liu, K. Bhattacharya,
       A. Stuart and A. Anandkumar, "Fourier neural operator for parametric
       partial differential equations", ICLR (2021).
    .. [2] L. Lu, X. Meng, S. Cai, Z. Mao, S. Goswami, Z. Zhang and
       G. E. Karniadakis, "A comprehensive and fair comparison of two neural
       operators (with practical extensions) based on FAIR data", Comput.
       Methods Appl. Mech. Engrg. 393 (2022), 114778.
    .. [3] github.com/neuraloperator/neuraloperator (formerly
       zongyi-li/fourier_neural_operator), ``data_generation/burgers/``:
       ``gen_burgers1.m``, ``GRF1.m``, ``burgers1.m``.
    .. [4] github.com/neuraloperator/neuraloperator, issue #29 (2021) and
       pull request #35 (2021, the internal time step).
    .. [5] github.com/neuraloperator/neuraloperator, issue #75 (2022).

    Examples
    --------
    >>> from skoperator.datasets import make_burgers
    >>> U, Y, G = make_burgers(10, random_state=0)
    >>> U.shape, Y.shape, G.shape
    ((10, 128), (128, 1), (10, 128))
    >>> float(abs(G.mean(axis=1)).max()) < 1e-12  # mean zero, conserved
    True
    >>> U, Y, G = make_burgers(2, n_points=256, law="fno-script", random_state=0)
    >>> G.shape
    (2, 256)
    """
    spec = LAWS[law]
    params = dict(
        n_functions=n_functions,
        n_points=n_points,
        law=law,
        viscosity=spec.viscosity if viscosity is None else viscosity,
        t_final=t_final,
        resolution=_default_resolution(n_points) if resolution is None else resolution,
        n_steps=_default_steps(t_final, n_steps, spec.dt),
    )
    return generated(
        "burgers", {**params, "version": 1},
        lambda rng: _make_burgers(rng=rng, n_jobs=n_jobs, **params),
        cache=cache, random_state=random_state, data_home=data_home,
    )


def _make_burgers(
    n_functions, *, n_points, law, viscosity, t_final, resolution, n_steps, rng, n_jobs
):
    """``(U, Y, G)`` of :func:`make_burgers`, its arguments resolved."""
    c0 = _sample_coefficients(n_functions, rng, LAWS[law])
    U = _coefficients_to_grid(c0, n_points)
    G = _evolve(
        c0,
        n_points,
        viscosity=viscosity,
        t_final=t_final,
        resolution=resolution,
        n_steps=n_steps,
        n_jobs=n_jobs,
    )
    return U, (np.arange(n_points) / n_points).reshape(-1, 1), G
