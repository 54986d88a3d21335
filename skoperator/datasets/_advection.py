"""Periodic linear advection of square waves and smooth profiles, solved exactly.

``u_t + c u_x = 0`` on the periodic domain [0, 1) moves the initial state:
``u(x, t) = u0((x - c t) mod 1)``. The generator draws ``u0`` from one of two
published laws and evaluates the input and the moved state exactly at the
points (no solver, no interpolation).
"""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from .._compat import Interval, StrOptions, validate_params

#: de Hoop et al.: KL terms, exponent and inverse length of (-Laplacian + tau^2)^-d.
_DE_HOOP_TERMS, _DE_HOOP_D, _DE_HOOP_TAU = 100, 2.0, 3.0

#: law -> (default points, default shift c t)
_LAWS = {"de-hoop": (200, 0.5), "lanthaler": (2048, 0.25)}


def _de_hoop_field(theta, x):
    """The truncated Karhunen-Loeve field of de Hoop et al. at ``x``, one row per ``theta``."""
    k = np.arange(1, _DE_HOOP_TERMS // 2 + 1)
    amp = np.sqrt(2.0) * ((2 * np.pi * k) ** 2 + _DE_HOOP_TAU ** 2) ** (-_DE_HOOP_D / 2)
    phase = 2 * np.pi * np.outer(k, x)  # (n_modes, n_points)
    return (theta[:, 0::2] * amp) @ np.cos(phase) + (theta[:, 1::2] * amp) @ np.sin(phase)


def _lanthaler_profile(params, x, profile):
    """``h`` times a box (or a cosine-squared bump) of width ``w`` centred at ``xi``, periodic."""
    h, xi, w = (params[:, i:i + 1] for i in range(3))
    r = np.abs(((x[None, :] - xi + 0.5) % 1.0) - 0.5)  # periodic distance to the centre
    if profile == "square":
        return h * (r < w / 2)
    return h * np.where(r < w / 2, np.cos(np.pi * r / w) ** 2, 0.0)


@validate_params(
    {
        "n_functions": [Interval(Integral, 1, None, closed="left")],
        "law": [StrOptions(set(_LAWS))],
        "profile": [StrOptions({"square", "smooth"})],
        "n_points": [Interval(Integral, 2, None, closed="left"), None],
        "shift": [Interval(Real, None, None, closed="neither"), None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_advection(n_functions, *, law="de-hoop", profile="square", n_points=None, shift=None,
                   random_state=None):
    """Generate periodic linear advection problems with discontinuous (or smooth) states.

    The operator maps the initial state ``u0`` of ``u_t + c u_x = 0`` on the
    periodic domain [0, 1) to the state at time ``t``, ``u0((x - shift) mod
    1)`` with ``shift = c t``, computed exactly. A square wave's jumps move
    with the input: a DeepONet, linear in its trunk basis, needs many basis
    functions for them, the problem that
    :class:`~skoperator.networks.NOMADTrunk` and
    :class:`~skoperator.networks.ShiftedTrunk` address.

    Parameters
    ----------
    n_functions : int
        Number of initial states; at least 1.

    law : {"de-hoop", "lanthaler"}, default="de-hoop"
        The law of ``u0`` (see Notes): the sign of a Gaussian random field
        (de Hoop et al. [1]_, several jumps), or one square wave of random
        height, centre and width (Lanthaler et al. [2]_).

    profile : {"square", "smooth"}, default="square"
        ``"square"``: the discontinuous states of the papers; ``"smooth"``:
        the Gaussian random field itself (de Hoop) or a cosine-squared bump
        of the same height, centre and width (Lanthaler).

    n_points : int, default=None
        Number of points, at least 2: the sensors and the output points.
        None means the paper's: 200 (de Hoop: ``x_j = j / (n_points - 1)``,
        both ends of [0, 1], as the authors' data) or 2,048 (Lanthaler:
        ``x_j = j / n_points``).

    shift : float, default=None
        The distance ``c t`` the state moves. None means 0.5 (de Hoop) or
        0.25 (Lanthaler, see Notes).

    random_state : int, RandomState instance or None, default=None
        Seeds the initial states. Pass an int for reproducible output across
        calls.

    Returns
    -------
    U : ndarray of shape (n_functions, n_points)
        Initial states at the points.

    Y : ndarray of shape (n_points, 1)
        The points.

    G : ndarray of shape (n_functions, n_points)
        The moved states ``u0((x - shift) mod 1)`` at the points.

    See Also
    --------
    make_burgers : Viscous Burgers' equation (smooth states).

    Notes
    -----
    ``law="de-hoop"`` follows the generator of the authors' data
    (``advection-dc-low/src/adv_model.jl`` in the repository
    Zhengyu-Huang/Operator-Learning, read, not copied; its ``d=2.0``
    overrides the default ``d=1.0`` of ``advection-dc``, whose fields have
    about 11 jumps instead of about 3): a Gaussian field with covariance
    ``(-Laplacian + 9 I)**-2`` on the periodic [0, 1), truncated to its
    first 100 Karhunen-Loeve terms (frequencies 1 to 50,
    ``u(x) = sum_k sqrt(2 lambda_k) (a_k cos 2 pi k x + b_k sin 2 pi k x)``,
    ``lambda_k = ((2 pi k)**2 + 9)**-2``, ``a_k, b_k`` standard normal),
    thresholded to +1 where positive and -1 elsewhere; moved by 0.5; 200
    points ``linspace(0, 1, 200)``. The authors drew 40,000 functions (one
    half for training, the other for testing in their paper; the CViT
    authors' benchmark trains on 20,000 and tests on 10,000). The states
    here are evaluated exactly at the points, as theirs; the draws differ
    (another random generator). A shift of 0.5 puts every output point
    halfway between two sensors: where a jump falls between them the
    output's sign there is not in ``U``, an error floor of about 11 %
    (mean relative L2) for predictions from the sensors
    (``benchmarks/sweep_advection.py``, docs/benchmarks.md).

    ``law="lanthaler"`` is the square-wave advection of Lanthaler et al.
    [2]_: ``u0 = h 1{|x - xi| < w / 2}`` (periodic distance) with ``h``
    uniform on [0.2, 0.8], ``xi`` on [0.3, 0.7] and ``w`` on [0.05, 0.3],
    on 2,048 points. These ranges and the default shift of 0.25 are our
    reading of the paper's description; its full text and data could not be
    checked when this generator was written, so compare errors with the
    paper's as on a problem of the same kind, not the same data.

    References
    ----------
    .. [1] M. V. de Hoop, D. Z. Huang, E. Qian and A. M. Stuart, "The
       cost-accuracy trade-off in operator learning with neural networks",
       J. Mach. Learn. 1 (2022).
    .. [2] S. Lanthaler, R. Molinaro, P. Hadorn and S. Mishra, "Nonlinear
       reconstruction for operator learning of PDEs with discontinuities",
       ICLR (2023).

    Examples
    --------
    >>> import numpy as np
    >>> from skoperator.datasets import make_advection
    >>> U, Y, G = make_advection(5, random_state=0)
    >>> U.shape, Y.shape, G.shape
    ((5, 200), (200, 1), (5, 200))
    >>> sorted(np.unique(U).tolist())
    [-1.0, 1.0]
    >>> U, Y, G = make_advection(3, law="lanthaler", n_points=8, shift=0.25,
    ...                          random_state=0)
    >>> bool(np.array_equal(G, np.roll(U, 2, axis=1)))  # moved by 2 of 8 points
    True
    """
    rng = check_random_state(random_state)
    default_points, default_shift = _LAWS[law]
    n_points = default_points if n_points is None else int(n_points)
    # Reduced first (exact in floating point): x - shift would round x away for a large shift.
    shift = (default_shift if shift is None else float(shift)) % 1.0
    if law == "de-hoop":
        x = np.linspace(0.0, 1.0, n_points)
        theta = rng.standard_normal((n_functions, _DE_HOOP_TERMS))
        U, G = _de_hoop_field(theta, x), _de_hoop_field(theta, (x - shift) % 1.0)
        if profile == "square":
            U, G = np.where(U > 0, 1.0, -1.0), np.where(G > 0, 1.0, -1.0)
    else:
        x = np.arange(n_points) / n_points
        params = np.column_stack([rng.uniform(0.2, 0.8, n_functions),
                                  rng.uniform(0.3, 0.7, n_functions),
                                  rng.uniform(0.05, 0.3, n_functions)])
        U = _lanthaler_profile(params, x, profile)
        G = _lanthaler_profile(params, (x - shift) % 1.0, profile)
    return U, x.reshape(-1, 1), G
