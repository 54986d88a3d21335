"""Navier-Stokes benchmark: 2-D incompressible flow on the unit torus, in time.

``w_t + u . grad(w) = viscosity * Laplacian(w) + f`` for the vorticity ``w``,
with the velocity ``u = (psi_y, -psi_x)`` from ``-Laplacian(psi) = w``, on
``[0, 1)**2`` with periodic boundaries. This is the time-dependent benchmark
of the Fourier neural operator paper (Li et al. 2021): forcing
``f = 0.1 (sin 2 pi (x + y) + cos 2 pi (x + y))``, initial vorticity from
``N(0, 7**1.5 (-Laplacian + 49 I)**-2.5)`` in the FNO paper's notation (its
code, followed here, scales the standard deviation by ``7**1.5``: the
covariance is ``7**3 (-Laplacian + 49 I)**-2.5``), snapshots every time unit.

The solver is Fourier pseudo-spectral in torch (batched; CPU or GPU): the
state is the vorticity's Fourier coefficients ``|k_x|, |k_y| <= K`` on an
``n x n`` grid with ``3 K < n`` (the 2/3 dealiasing rule), the viscous term
is Crank-Nicolson and the advection and forcing terms are Heun's method (the
explicit trapezoid), so that the step is second order.
"""

import math
import os
from numbers import Integral, Real

import numpy as np
import torch

from .._canonical import GridTranslation
from .._compat import Interval, StrOptions, validate_params
from .._device import resolve_device
from .._grid_maps import GridPermutation
from ._base import N_JOBS, _map_row_chunks
from ._cache import generated

# The law of the initial vorticity: N(0, sigma**2 (-Laplacian + tau**2 I)**-alpha).
_TAU = 7.0
_ALPHA = 2.5
_SIGMA = _TAU ** (0.5 * (2 * _ALPHA - 2))  # 7**1.5, as FNO's GaussianRF in 2-D
_N_MODES = 32  # modes |k_x|, |k_y| <= 32 are drawn
# Solver defaults (see the Notes of solve_navier_stokes for their accuracy).
_RESOLUTION = 64
_STEPS_PER_UNIT = 200
_CHUNK_SIZE = 32
_CACHE_VERSION = 1  # bump when a change of the solver changes its numbers
_DTYPES = {"float64": (torch.float64, torch.complex128),
           "float32": (torch.float32, torch.complex64)}


def _kept(resolution):
    """Largest mode kept on ``resolution`` points by the 2/3 rule: 3 K < resolution."""
    return (resolution - 1) // 3


def _signed(n):
    """Signed wavenumbers of the ``n`` entries of an FFT axis, as ints."""
    return np.fft.fftfreq(n, d=1.0 / n).round().astype(np.int64)


# ---------------------------------------------------------------------------
# Spectra: a real field is its full 2-D coefficients of exp(2 pi i k . x),
# k = (k_x, k_y) in -M .. M, shape (n, 2 M + 1, 2 M + 1), axis -2 along x.
# ---------------------------------------------------------------------------
def _spectrum_to_grid(c, n):
    """Values at ``(i / n, j / n)`` of the field with centred coefficients ``c``.

    Modes are folded onto the ``n``-point grid (``k -> k mod n``), so the
    values are exact point values of the field for any ``n``.
    """
    M = (c.shape[-1] - 1) // 2
    fold = np.zeros((n, 2 * M + 1))
    fold[np.arange(-M, M + 1) % n, np.arange(2 * M + 1)] = 1.0
    folded = fold @ c @ fold.T
    return np.fft.ifft2(folded, norm="forward").real


def _grid_to_spectrum(w):
    """Centred coefficients (n, 2 M + 1, 2 M + 1) of the interpolant of ``w`` (n, m, m).

    ``M = (m - 1) // 2``: for even ``m`` the Nyquist modes are left out.
    """
    m = w.shape[-1]
    M = (m - 1) // 2
    full = np.fft.fft2(w, norm="forward")
    idx = np.arange(-M, M + 1) % m
    return full[:, idx][:, :, idx]


def _field_scales(M=_N_MODES):
    """``sigma (4 pi**2 |k|**2 + tau**2)**(-alpha / 2)`` on modes -M .. M, 0 at k = 0."""
    k = np.arange(-M, M + 1)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    scales = _SIGMA * (4 * np.pi**2 * k2 + _TAU**2) ** (-_ALPHA / 2)
    scales[M, M] = 0.0
    return scales


def _sample_spectrum(n_functions, rng):
    """Centred coefficients (n, 65, 65) of initial vorticities of the law.

    ``c_k = s_k (z_k + conj(z_-k)) / sqrt(2)`` with ``z_k`` complex standard
    normal (``E |z|**2 = 1``): a real field whose covariance is
    ``sum_k s_k**2 exp(2 pi i k . (x - x'))``, the law's (and that of the
    real part of FNO's ``GaussianRF`` draw).
    """
    Z = rng.standard_normal((n_functions, 2, 2 * _N_MODES + 1, 2 * _N_MODES + 1))
    z = (Z[:, 0] + 1j * Z[:, 1]) / np.sqrt(2.0)
    return _field_scales() / np.sqrt(2.0) * (z + np.conj(z[:, ::-1, ::-1]))


# ---------------------------------------------------------------------------
# Solver: the state is rfft2 coefficients (norm="forward"), shape
# (n, res, res // 2 + 1), axis -2 along x (all k_x), axis -1 along y (k_y >= 0).
# ---------------------------------------------------------------------------
class _Operators:
    """Wavenumber multipliers of the solver grid, on one device and dtype."""

    def __init__(self, resolution, viscosity, dt, forcing, real, complex_, device):
        n, K = resolution, _kept(resolution)
        kx = torch.as_tensor(_signed(n), dtype=real, device=device)[:, None]
        ky = torch.arange(n // 2 + 1, dtype=real, device=device)[None, :]
        self.n = n
        self.mask = ((kx.abs() <= K) & (ky <= K)).to(real)
        lap = 4 * math.pi**2 * (kx**2 + ky**2)  # -Laplacian
        inv = torch.where(lap > 0, 1.0 / torch.clamp(lap, min=1e-300), torch.zeros_like(lap))
        two_pi_i = 2j * math.pi
        # u = psi_y, v = -psi_x, w_x, w_y from w's coefficients, in one stack.
        ones = torch.ones_like(lap)
        self.grad = torch.stack(
            [two_pi_i * ky * inv, -two_pi_i * kx * inv, two_pi_i * kx * ones, two_pi_i * ky * ones]
        ).to(complex_) * self.mask
        self.explicit = (1.0 - 0.5 * dt * viscosity * lap).to(real)
        self.implicit = (1.0 / (1.0 + 0.5 * dt * viscosity * lap)).to(real)
        self.dt = dt
        self.forcing = None
        if forcing is not None:
            x = torch.arange(n, dtype=torch.float64, device=device) / n
            s = x[:, None] + x[None, :]
            f = 0.1 * (torch.sin(2 * math.pi * s) + torch.cos(2 * math.pi * s))
            self.forcing = (torch.fft.rfft2(f, norm="forward") * self.mask).to(complex_)

    def tendency(self, c):
        """``f - u . grad(w)`` of coefficients ``c``, dealiased."""
        fields = torch.fft.irfft2(c[:, None] * self.grad, s=(self.n, self.n), norm="forward")
        advection = fields[:, 0] * fields[:, 2] + fields[:, 1] * fields[:, 3]
        out = -self.mask * torch.fft.rfft2(advection, norm="forward")
        return out if self.forcing is None else out + self.forcing

    def step(self, c):
        """One Crank-Nicolson (viscous) / Heun (advection, forcing) step."""
        n0 = self.tendency(c)
        base = self.explicit * c
        predicted = (base + self.dt * n0) * self.implicit
        n1 = self.tendency(predicted)
        return (base + 0.5 * self.dt * (n0 + n1)) * self.implicit


def _to_solver(spectrum, resolution, complex_, device):
    """Centred coefficients (n, 2 M + 1, 2 M + 1) -> solver state, modes above K dropped."""
    M = (spectrum.shape[-1] - 1) // 2
    K = min(_kept(resolution), M)
    kx = np.arange(-K, K + 1)
    sub = spectrum[:, kx + M][:, :, M : M + K + 1]  # k_y = 0 .. K
    c = np.zeros((spectrum.shape[0], resolution, resolution // 2 + 1), dtype=complex)
    c[:, kx % resolution, : K + 1] = sub
    return torch.as_tensor(c, device=device).to(complex_)


def _from_solver(c, n_out):
    """Solver state -> values (n, n_out, n_out) at the grid points, as float64 numpy."""
    res = c.shape[-2]
    K = _kept(res)
    grid = torch.fft.irfft2(c, s=(res, res), norm="forward")
    full = torch.fft.fft2(grid.to(torch.float64), norm="forward").cpu().numpy()
    idx = np.arange(-K, K + 1) % res
    return _spectrum_to_grid(full[:, idx][:, :, idx], n_out)


def _evolve(spectrum, n_out, *, viscosity, t_final, resolution, steps_per_unit, forcing,
            dtype, device, n_jobs):
    """Snapshots (n, t_final, n_out, n_out) at t = 1 .. t_final from centred coefficients."""
    real, complex_ = _DTYPES[dtype]
    ops = _Operators(resolution, viscosity, 1.0 / steps_per_unit, forcing, real, complex_,
                     device)
    out = np.empty((spectrum.shape[0], t_final, n_out, n_out))

    def solve_rows(rows):
        c = _to_solver(spectrum[rows], resolution, complex_, device)
        with torch.no_grad():
            for t in range(t_final):
                for _ in range(steps_per_unit):
                    c = ops.step(c)
                out[rows, t] = _from_solver(c, n_out)

    n = spectrum.shape[0]
    # Chunks of _CHUNK_SIZE functions whatever n_jobs (torch runs each in
    # batch, and the FFTs' rounding can depend on the batch size: chunks that
    # followed n_jobs made results differ in the last bit between n_jobs).
    _map_row_chunks(solve_rows, n, chunk_size=_CHUNK_SIZE, n_jobs=n_jobs)
    if not np.all(np.isfinite(out)):
        raise FloatingPointError(
            f"the Navier-Stokes solution became non-finite: resolution={resolution} and "
            f"steps_per_unit={steps_per_unit} are too coarse for viscosity={viscosity} "
            "and these initial vorticities; increase resolution and steps_per_unit."
        )
    return out


def _check_vorticity(w0):
    """``w0`` as float64 (n, m, m) with m >= 2, plus a flag for one field."""
    if np.iscomplexobj(w0):
        raise ValueError("w0 must be real (a vorticity field); got a complex array. Pass "
                         "its real part, w0.real, if that is what is meant.")
    try:
        array = np.asarray(w0, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            "w0 must be an array of real numbers of shape (n_functions, n_grid, n_grid) or "
            f"(n_grid, n_grid); it could not be converted to float64 ({exc})."
        ) from exc
    one = array.ndim == 2
    if one:
        array = array[None]
    if array.ndim != 3 or array.shape[0] == 0 or array.shape[1] != array.shape[2] \
            or array.shape[1] < 2:
        raise ValueError(
            "w0 must have shape (n_functions, n_grid, n_grid) or (n_grid, n_grid) with "
            f"n_grid >= 2 (a square grid, x along the first grid axis), got shape "
            f"{np.shape(w0)}; reshape w0 to that layout."
        )
    if not np.all(np.isfinite(array)):
        raise ValueError("w0 must be finite, got NaN or infinite values; remove or replace them.")
    return array, one


def _check_device(device):
    """A torch.device, or a ValueError naming ``device``."""
    return resolve_device(device)


_SOLVER_CONSTRAINTS = {
    "viscosity": [Interval(Real, 0, np.inf, closed="neither")],
    "t_final": [Interval(Integral, 1, None, closed="left")],
    "resolution": [Interval(Integral, 8, None, closed="left"), None],
    "steps_per_unit": [Interval(Integral, 1, None, closed="left"), None],
    "forcing": [StrOptions({"fno"}), None],
    "dtype": [StrOptions(set(_DTYPES))],
    "device": [str, torch.device],
    "n_jobs": N_JOBS,
}


@validate_params({"w0": ["array-like"], **_SOLVER_CONSTRAINTS},
                 prefer_skip_nested_validation=True)
def solve_navier_stokes(
    w0,
    *,
    viscosity=1e-3,
    t_final=50,
    resolution=None,
    steps_per_unit=None,
    forcing="fno",
    dtype="float64",
    device="cpu",
    n_jobs=None,
):
    """Solve 2-D incompressible Navier-Stokes on the unit torus, in vorticity form.

    Solves ``w_t + u . grad(w) = viscosity * Laplacian(w) + f`` with
    ``u = (psi_y, -psi_x)``, ``-Laplacian(psi) = w``, on ``[0, 1)**2`` with
    periodic boundaries, from ``w(., 0) = w0``, and returns the vorticity at
    ``t = 1, 2, ..., t_final``. Each initial vorticity is given at the
    ``n_grid x n_grid`` points ``(i / n_grid, j / n_grid)`` (``x`` along the
    first grid axis); the snapshots are returned at the same points.

    Parameters
    ----------
    w0 : array-like of shape (n_functions, n_grid, n_grid) or (n_grid, n_grid)
        Initial vorticities, finite, ``n_grid >= 2``.

    viscosity : float, default=1e-3
        Viscosity ``nu`` (> 0).

    t_final : int, default=50
        Last snapshot time, at least 1; snapshots are taken every time unit.

    resolution : int, default=None
        Side of the solver's grid, at least 8; it keeps the Fourier modes
        ``|k_x|, |k_y| <= (resolution - 1) // 3`` (the 2/3 dealiasing rule).
        None means 64. It may be more or less than ``n_grid``.

    steps_per_unit : int, default=None
        Time steps per time unit (the step is ``1 / steps_per_unit``). None
        means 200.

    forcing : {"fno"} or None, default="fno"
        ``"fno"``: ``f = 0.1 (sin 2 pi (x + y) + cos 2 pi (x + y))``, the
        benchmark's; None: no forcing.

    dtype : {"float64", "float32"}, default="float64"
        Precision of the solve (the result is float64 either way); float32
        is faster, and changes the snapshots by 2e-5 to 1.2e-4 (the Notes of
        :func:`make_navier_stokes`).

    device : str or torch.device, default="cpu"
        Where to solve: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or
        ``"auto"``.

    n_jobs : int, default=None
        Number of threads solving chunks of functions (at most 32 each) in
        parallel. None means 1 unless in a :obj:`joblib.parallel_backend` context; -1 uses
        all processors. The result does not depend on it.

    Returns
    -------
    W : ndarray of shape (n_functions, t_final, n_grid, n_grid) or (t_final, n_grid, n_grid)
        ``w(x_i, y_j, t)`` for ``t = 1 .. t_final``, float64; without the
        first axis when ``w0`` is 2-D.

    Raises
    ------
    FloatingPointError
        If the solution becomes non-finite (raise ``resolution`` and
        ``steps_per_unit``).

    See Also
    --------
    make_navier_stokes : Sample initial vorticities and solve for them.

    Notes
    -----
    ``w0`` is taken as its trigonometric interpolant through the grid points
    (for even ``n_grid`` without its Nyquist modes); its modes above
    ``(resolution - 1) // 3`` are dropped, and the state keeps only the
    modes below that bound (a Galerkin truncation). The product
    ``u . grad(w)`` is computed on the solver grid and dealiased. A step
    treats the viscous term with Crank-Nicolson and the advection and
    forcing with Heun's method: a predictor ``w* = CN-Euler(w)``, then
    ``w' = CN(w, (N(w) + N(w*)) / 2)``. Snapshots are exact point values of
    the truncated Fourier series.

    FNO's script ``data_generation/navier_stokes/ns_2d.py`` [1]_ solves on a
    256 x 256 grid with a step of 1e-4, Crank-Nicolson for the viscous term
    and explicit Euler for advection and forcing (first order), and keeps
    all modes in its state (dealiasing only the product). The defaults here
    (64 x 64, step 1/200, second order) are chosen for speed on a CPU;
    ``tests/test_navier_stokes.py`` states the measured effect of halving
    the step and of doubling the resolution, and
    ``benchmarks/bench_navier_stokes.py`` prints them.

    Without forcing, the Taylor-Green vortex ``w = W sin(2 pi k x) sin(2 pi k y)``
    is an exact solution that decays as ``exp(-8 pi**2 k**2 nu t)``; the
    solver reproduces it up to the Crank-Nicolson error, about
    ``(8 pi**2 k**2 nu dt)**3 / 12`` per step (relative 3e-9 at ``nu = 1e-3``,
    ``k = 1``, ``t = 1 .. 5`` with the default step).

    References
    ----------
    .. [1] Z. Li, N. Kovachki, K. Azizzadenesheli, B. Liu, K. Bhattacharya,
       A. Stuart and A. Anandkumar, "Fourier neural operator for parametric
       partial differential equations", ICLR (2021); data generation in
       https://github.com/zongyi-li/fourier_neural_operator
       (``data_generation/navier_stokes/ns_2d.py``).

    Examples
    --------
    >>> import numpy as np
    >>> from skoperator.datasets import solve_navier_stokes
    >>> x = np.arange(32) / 32
    >>> w0 = np.sin(2 * np.pi * x)[:, None] * np.sin(2 * np.pi * x)[None, :]
    >>> W = solve_navier_stokes(w0, viscosity=1e-3, t_final=2, forcing=None)
    >>> W.shape
    (2, 32, 32)
    >>> ratio = W[0].max() / w0.max()  # Taylor-Green: exp(-8 pi**2 nu t)
    >>> bool(abs(ratio - np.exp(-8 * np.pi**2 * 1e-3)) < 1e-8)
    True
    """
    w0, one = _check_vorticity(w0)
    W = _evolve(
        _grid_to_spectrum(w0),
        w0.shape[-1],
        viscosity=viscosity,
        t_final=t_final,
        resolution=_RESOLUTION if resolution is None else resolution,
        steps_per_unit=_STEPS_PER_UNIT if steps_per_unit is None else steps_per_unit,
        forcing=forcing,
        dtype=dtype,
        device=_check_device(device),
        n_jobs=n_jobs,
    )
    return W[0] if one else W


@validate_params(
    {
        "n_functions": [Interval(Integral, 1, None, closed="left")],
        "n_points": [Interval(Integral, 2, None, closed="left")],
        "n_inputs": [Interval(Integral, 1, None, closed="left")],
        **{k: v for k, v in _SOLVER_CONSTRAINTS.items() if k != "forcing"},
        "random_state": ["random_state"],
        "cache": ["boolean"],
        "data_home": [str, os.PathLike, None],
    },
    prefer_skip_nested_validation=True,
)
def make_navier_stokes(
    n_functions,
    *,
    n_points=64,
    viscosity=1e-3,
    n_inputs=10,
    t_final=50,
    resolution=None,
    steps_per_unit=None,
    dtype="float64",
    device="cpu",
    random_state=None,
    n_jobs=None,
    cache=False,
    data_home=None,
):
    """Generate the 2-D Navier-Stokes operator-learning benchmark (FNO's).

    Draws initial vorticities ``w0`` from ``N(0, 7**1.5 (-Laplacian + 49
    I)**-2.5)`` in the FNO paper's notation (its code, followed here,
    scales the standard deviation by ``7**1.5``: the covariance is ``7**3
    (-Laplacian + 49 I)**-2.5``) on the unit torus and solves the forced Navier-Stokes
    equations (:func:`solve_navier_stokes`) for them. The operator maps the
    snapshots ``w(t)`` for ``t = 1 .. n_inputs`` to the snapshots for
    ``t = n_inputs + 1 .. t_final``, on an ``n_points x n_points`` grid: the
    inputs are ``n_inputs`` channels of a grid, the outputs live at points
    ``(x, y, t)`` with ``t`` a coordinate. FNO's benchmarks are
    ``viscosity=1e-3, t_final=50`` and ``viscosity=1e-5, t_final=20``, both
    with ``n_inputs=10`` on 64 x 64.

    Parameters
    ----------
    n_functions : int
        Number of trajectories; at least 1.

    n_points : int, default=64
        Side of the output grid ``(i / n_points, j / n_points)``, at least 2.

    viscosity : float, default=1e-3
        Viscosity ``nu`` (> 0).

    n_inputs : int, default=10
        Number of input snapshots, ``t = 1 .. n_inputs``; less than
        ``t_final``.

    t_final : int, default=50
        Last snapshot time; the outputs are ``t = n_inputs + 1 .. t_final``.

    resolution : int, default=None
        Side of the solver's grid (see :func:`solve_navier_stokes`). None
        means 64.

    steps_per_unit : int, default=None
        Time steps per time unit. None means 200.

    dtype : {"float64", "float32"}, default="float64"
        Precision of the solve; the arrays returned are float64.

    device : str or torch.device, default="cpu"
        Where to solve (``"cpu"``, ``"cuda"``, ``"auto"``...).

    random_state : int, RandomState instance or None, default=None
        Seeds the initial vorticities. Pass an int for reproducible output
        across calls (and for the cache).

    n_jobs : int, default=None
        Number of threads solving chunks of trajectories in parallel. None
        means 1 unless in a :obj:`joblib.parallel_backend` context.

    cache : bool, default=False
        Keep the result in ``data_home`` and load it from there on a later
        call with the same arguments (``n_jobs`` aside). Needs an int
        ``random_state``.

    data_home : str or path-like, default=None
        Folder of the cache. None means the environment variable
        ``SKOPERATOR_DATA`` if set, else ``~/skoperator_data``. Files go to
        its ``navier_stokes`` subfolder.

    Returns
    -------
    U : ndarray of shape (n_functions, n_inputs * n_points**2)
        ``w(x_i, y_j, t)`` for ``t = 1 .. n_inputs``, each row in the order
        (t, i, j): ``U.reshape(n_functions, n_inputs, n_points, n_points)``
        is the snapshots as channels of a grid.

    Y : ndarray of shape ((t_final - n_inputs) * n_points**2, 3)
        Output points, columns ``(x, y, t)``, in the order (t, i, j).

    G : ndarray of shape (n_functions, (t_final - n_inputs) * n_points**2)
        ``w`` at the points ``Y``.

    See Also
    --------
    solve_navier_stokes : The solver used for ``U`` and ``G``.
    make_burgers : The 1-D Burgers benchmark of the same paper.

    Notes
    -----
    The initial vorticity is drawn on the Fourier modes ``|k_x|, |k_y| <=
    32`` (FNO's script draws all modes of its 256 x 256 grid; the modes
    beyond 32 hold 5e-5 of the variance) with the law's coefficients, and
    solved from its modes below the solver's 2/3 bound. FNO's data are
    solved on 256 x 256 with a step of 1e-4 and explicit Euler for the
    advection; this generator solves on 64 x 64 with a step of 1/200 and a
    second-order step (see :func:`solve_navier_stokes`), so its trajectories
    follow the same law but are not FNO's: at ``viscosity=1e-5`` the flow is
    not resolved at either resolution and small differences grow in time.
    Measured by ``benchmarks/bench_navier_stokes.py`` (relative L2 change of
    the snapshots, the mean over ``t = 1 .. 20``;
    ``benchmarks/results/navier_stokes_generator.txt``): at
    ``viscosity=1e-5``, halving the step changes them by 1.1e-4, solving in
    float32 by 1.2e-4, and the 128 x 128 solver grid by 2.4 %; at
    ``viscosity=1e-3``, by 1.0e-7, 2.0e-5 and 2.5e-10.

    References
    ----------
    .. [1] Z. Li, N. Kovachki, K. Azizzadenesheli, B. Liu, K. Bhattacharya,
       A. Stuart and A. Anandkumar, "Fourier neural operator for parametric
       partial differential equations", ICLR (2021).

    Examples
    --------
    >>> from skoperator.datasets import make_navier_stokes
    >>> U, Y, G = make_navier_stokes(2, n_points=16, n_inputs=2, t_final=3,
    ...                              steps_per_unit=20, random_state=0)
    >>> U.shape, Y.shape, G.shape
    ((2, 512), (256, 3), (2, 256))
    """
    if n_inputs >= t_final:
        raise ValueError(
            f"n_inputs must be less than t_final (the outputs are t = n_inputs + 1 .. "
            f"t_final), got n_inputs={n_inputs} and t_final={t_final}; pass a larger "
            "t_final or fewer n_inputs."
        )
    resolution = _RESOLUTION if resolution is None else resolution
    steps_per_unit = _STEPS_PER_UNIT if steps_per_unit is None else steps_per_unit
    dev = _check_device(device)

    def solve(rng):
        return (_evolve(_sample_spectrum(n_functions, rng), n_points, viscosity=viscosity,
                        t_final=t_final, resolution=resolution, steps_per_unit=steps_per_unit,
                        forcing="fno", dtype=dtype, device=dev, n_jobs=n_jobs),)

    key = dict(version=_CACHE_VERSION, n_functions=n_functions, n_points=n_points,
               viscosity=float(viscosity), t_final=t_final, resolution=resolution,
               steps_per_unit=steps_per_unit, dtype=dtype, device=dev.type, modes=_N_MODES)
    (W,) = generated("navier_stokes", key, solve, cache=cache, random_state=random_state,
                     data_home=data_home)
    x = np.arange(n_points) / n_points
    t = np.arange(n_inputs + 1, t_final + 1, dtype=np.float64)
    T, X, Yy = np.meshgrid(t, x, x, indexing="ij")
    Y = np.column_stack([X.ravel(), Yy.ravel(), T.ravel()])
    U = W[:, :n_inputs].reshape(n_functions, -1)
    G = W[:, n_inputs:].reshape(n_functions, -1)
    return U, Y, G


@validate_params({"n_points": [Interval(Integral, 4, None, closed="left")]},
                 prefer_skip_nested_validation=True)
def navier_stokes_symmetry(n_points=64):
    """The exact symmetries of FNO's Navier-Stokes flow, for ``CanonicalizedRegressor``.

    FNO's forcing ``0.1 (sin 2 pi (x + y) + cos 2 pi (x + y))`` depends on
    ``x + y`` only, and the solver of :func:`solve_navier_stokes` commutes
    (to rounding, tested) with the maps of the vorticity that keep it:

    * the shifts ``w(x, y) -> w(x + s, y - s)`` along the diagonal;
    * the glide ``w(x, y) -> -w(y + 1/2, x)`` (a reflection across the
      diagonal reverses the orientation: the vorticity changes sign, and the
      half-period shift maps the forcing to its opposite);
    * the rotation by 180 degrees ``w(x, y) -> w(1/4 - x, -y)`` (the quarter
      shift maps ``f(-(x + y))`` back onto ``f``).

    Together they form a group; its canonical form (the glide chosen by the
    gradient energy along ``x`` against ``y``, the rotation by the sign of the
    summed cube of ``dw/dx``, then the diagonal phase) makes a POD basis of
    the outputs far more compact: on ``nu = 1e-5`` the projection of 200
    held-out trajectories onto 512 modes of 1,000 loses 14.7 % raw, 10.7 %
    with the shifts alone and 9.0 % with the whole group
    (``benchmarks/results/sweep_navier_stokes.txt``).

    Parameters
    ----------
    n_points : int, default=64
        Side of the grid of the inputs and outputs (a multiple of 4: the
        rotation's quarter shift is whole cells).

    Returns
    -------
    symmetry : GridTranslation
        The diagonal shifts of an ``n_points x n_points`` grid, with the
        glide and the rotation as ``point_symmetries``; inputs and outputs
        channels of snapshots on that grid, the latest input snapshot the
        reference.

    See Also
    --------
    skoperator.symmetry.CanonicalizedRegressor : Fits in the canonical form.

    Examples
    --------
    >>> from skoperator.datasets import navier_stokes_symmetry
    >>> symmetry = navier_stokes_symmetry(64)
    >>> [type(g).__name__ for g in symmetry.point_symmetries]
    ['GridPermutation', 'GridPermutation']
    """
    if n_points % 4:
        raise ValueError(f"navier_stokes_symmetry n_points must be a multiple of 4 (the "
                         f"rotation shifts by a quarter period in whole cells); got {n_points}. "
                         f"Pass the grid of the data, such as {4 * max(1, round(n_points / 4))}.")
    grid = (n_points, n_points)
    glide = GridPermutation(grid=grid, matrix=((0, 1), (1, 0)), offset=(n_points // 2, 0),
                            input_sign=-1, output_sign=-1, statistic="quadratic")
    rotation = GridPermutation(grid=grid, matrix=((-1, 0), (0, -1)),
                               offset=(n_points // 4, 0), statistic="cubic")
    return GridTranslation(grid=grid, direction=(1, -1), point_symmetries=[glide, rotation])
