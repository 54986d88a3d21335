"""Heat-conduction benchmark: 2-D steady conduction through a random medium.

``-div(K grad T) = 0`` on the unit square with ``T = 1`` at ``x1 = 0``,
``T = 0`` at ``x1 = 1`` and insulated edges ``x2 = 0`` and ``x2 = 1``, solved
with cell-centred finite volumes on a 32 x 32 grid. Cells are numbered
row-major with ``x1`` fastest: ``index = i2 * 32 + i1``, centre
``((i1 + 0.5) / 32, (i2 + 0.5) / 32)``. This is the heat-conduction example of
Karumuri, Graham-Brady and Goswami (arXiv 2409.13280); the solver reproduces
their reference fields to float32 precision.
"""

from numbers import Integral, Real

import numpy as np
from scipy.sparse import csc_matrix
from scipy.sparse.linalg import splu
from sklearn.utils import check_random_state

from .._compat import Hidden, Interval, StrOptions, validate_params
from ..symmetry import Reflection
from ._base import (
    N_JOBS,
    _check_functions,
    _check_solution,
    _map_linear_solves,
    _renamed_parameters,
)
from ._grf import _se_kernel_factor

_N_SIDE = 32
_N_CELLS = _N_SIDE * _N_SIDE
_K_MIN = 0.005
_K_MAX = 33.115
_CHUNK_SIZE = 250


def _sparsity_pattern():
    """CSC ``indices``/``indptr`` of the 5-point matrix and the COO -> CSC order.

    Entries come in the order: diagonal, x1-faces (i, i + 1), x1-faces
    (i + 1, i), x2-faces (i, i + 32), x2-faces (i + 32, i); ``order`` permutes
    values given in that order into CSC storage order.
    """
    idx = np.arange(_N_CELLS).reshape(_N_SIDE, _N_SIDE)  # [i2, i1]
    left, right = idx[:, :-1].ravel(), idx[:, 1:].ravel()
    low, high = idx[:-1, :].ravel(), idx[1:, :].ravel()
    rows = np.concatenate([idx.ravel(), left, right, low, high])
    cols = np.concatenate([idx.ravel(), right, left, high, low])
    # Tag each entry with its (1-based) position so the CSC data is the order.
    tags = np.arange(1, rows.size + 1, dtype=np.float64)
    pattern = csc_matrix((tags, (rows, cols)), shape=(_N_CELLS, _N_CELLS))
    order = pattern.data.astype(np.intp) - 1
    return pattern.indices.copy(), pattern.indptr.copy(), order


_INDICES, _INDPTR, _ORDER = _sparsity_pattern()


def _assemble(K):
    """Matrix values (CSC order) and right-hand sides for fields ``K`` (n, 1024).

    Interior faces carry the arithmetic mean of the two cell conductivities;
    a Dirichlet face carries its cell's ``K`` over the half-cell distance, i.e.
    ``2 K`` (face length and cell width are both ``h`` and cancel).
    """
    n = K.shape[0]
    k = K.reshape(n, _N_SIDE, _N_SIDE)
    k1 = 0.5 * (k[:, :, :-1] + k[:, :, 1:])  # faces normal to x1
    k2 = 0.5 * (k[:, :-1, :] + k[:, 1:, :])  # faces normal to x2
    diag = np.zeros_like(k)
    diag[:, :, :-1] += k1
    diag[:, :, 1:] += k1
    diag[:, :-1, :] += k2
    diag[:, 1:, :] += k2
    diag[:, :, 0] += 2.0 * k[:, :, 0]
    diag[:, :, -1] += 2.0 * k[:, :, -1]
    k1, k2 = k1.reshape(n, -1), k2.reshape(n, -1)
    values = np.concatenate([diag.reshape(n, -1), -k1, -k1, -k2, -k2], axis=1)
    rhs = np.zeros_like(k)
    rhs[:, :, 0] = 2.0 * k[:, :, 0]  # T = 1 on the x1 = 0 edge
    # np.take keeps the result C-contiguous, as SuperLU requires of each row.
    return np.take(values, _ORDER, axis=1), rhs.reshape(n, _N_CELLS)


def _solve_chunk(K):
    """Solve for each row of ``K`` (n, 1024), one sparse LU per field."""
    values, rhs = _assemble(K)
    T = np.empty_like(rhs)
    # One matrix per chunk; every field only swaps in its values (same pattern).
    A = csc_matrix((values[0], _INDICES, _INDPTR), shape=(_N_CELLS, _N_CELLS))
    for i in range(K.shape[0]):
        A.data = values[i]
        T[i] = splu(A, permc_spec="MMD_AT_PLUS_A").solve(rhs[i])
    return T


def _check_conductivity(K):
    """Validate ``K`` and return it as float64 of shape (n, 1024), plus 1-D flag."""
    K, one_field = _check_functions(
        K,
        "K",
        n_columns=_N_CELLS,
        rows="n_fields",
        layout=f"{_N_SIDE} x {_N_SIDE} cells, row-major with x1 fastest",
    )
    if (K <= 0).any():
        row, col = np.argwhere(K <= 0)[0]
        raise ValueError(
            "K must be strictly positive (it is a conductivity), got "
            f"K[{row}, {col}] = {K[row, col]}; pass K = exp(log K), not log K."
        )
    return K, one_field


def _check_length_scale(length_scale):
    """Return ``(scale along x1, scale along x2)`` from one float or a pair."""
    if isinstance(length_scale, Real):  # > 0 and finite: validate_params saw it
        return float(length_scale), float(length_scale)
    try:
        pair = np.asarray(length_scale, dtype=np.float64)
    except (TypeError, ValueError):
        pair = None
    bools = pair is not None and pair.ndim == 1 and any(
        isinstance(v, (bool, np.bool_)) for v in length_scale)
    if pair is None or bools or pair.shape != (2,) or not np.all((pair > 0) & (pair < np.inf)):
        raise ValueError(
            "length_scale must be one float > 0 or a pair of floats > 0 "
            f"(along x1, along x2), got {length_scale!r}; pass e.g. "
            "length_scale=(0.1, 0.15)."
        )
    return float(pair[0]), float(pair[1])


def _cell_centres():
    """Cell centres (n_cells, 2), columns ``(x1, x2)``, row-major with x1 fastest."""
    centres = (np.arange(_N_SIDE) + 0.5) / _N_SIDE
    x1, x2 = np.meshgrid(centres, centres)  # x1 varies along the last axis
    return np.column_stack([x1.ravel(), x2.ravel()])


@validate_params(
    {"K": ["array-like"], "n_jobs": N_JOBS},
    prefer_skip_nested_validation=True,
)
def solve_heat_conduction(K, *, n_jobs=None):
    """Solve 2-D steady heat conduction for given conductivity fields.

    Solves ``-div(K grad T) = 0`` on the unit square with ``T = 1`` at
    ``x1 = 0``, ``T = 0`` at ``x1 = 1`` and insulated edges at ``x2 = 0`` and
    ``x2 = 1``, with cell-centred finite volumes on a 32 x 32 grid.

    Parameters
    ----------
    K : array-like of shape (n_fields, 1024) or (1024,)
        Conductivity of each cell (positive, finite), row-major with ``x1``
        fastest: ``index = i2 * 32 + i1``.

    n_jobs : int, default=None
        Number of threads solving chunks of fields in parallel. None means 1
        unless in a :obj:`joblib.parallel_backend` context; -1 uses all
        processors. The result does not depend on it.

    Returns
    -------
    T : ndarray of shape (n_fields, 1024) or (1024,)
        Temperature at the cell centres, float64, in the layout of ``K``.

    Raises
    ------
    FloatingPointError
        If ``K`` is so large or so small (near 1e308 or 1e-308) that the
        system cannot be solved in float64; ``T`` does not change when ``K``
        is multiplied by a constant, so rescaling ``K`` fixes it.

    See Also
    --------
    make_heat_conduction : Sample conductivity fields and solve for them.
    load_heat_reference : The authors' reference fields, to check against.

    Notes
    -----
    A face between two cells carries the arithmetic mean of their
    conductivities; a face on a Dirichlet edge carries the cell's own ``K``
    over the half-cell distance ``h / 2``. The linear system of each field is
    assembled vectorised and factorised with SuperLU
    (:func:`scipy.sparse.linalg.splu`). The scheme conserves flux exactly: the
    heat entering at ``x1 = 0`` leaves at ``x1 = 1``. It reproduces the
    reference fields of arXiv 2409.13280 to about 3e-8 (their float32
    rounding).

    Examples
    --------
    >>> import numpy as np
    >>> from skoperator.datasets import solve_heat_conduction
    >>> T = solve_heat_conduction(np.ones((2, 1024)))
    >>> T.shape
    (2, 1024)
    """
    K, one_field = _check_conductivity(K)
    hint = ("T does not change when K is multiplied by a constant: divide K by its "
            "median, say.")
    parts = _map_linear_solves(
        lambda rows: _solve_chunk(K[rows]),
        K.shape[0],
        chunk_size=_CHUNK_SIZE,
        n_jobs=n_jobs,
        inputs="K",
        hint=hint,
    )
    T = np.concatenate(parts, axis=0)
    _check_solution(T, inputs="K", hint=hint)
    return T[0] if one_field else T


@validate_params(
    {
        "n_functions": [Interval(Integral, 1, None, closed="left")],
        "length_scale": [Interval(Real, 0, np.inf, closed="neither"), "array-like"],
        "random_state": ["random_state"],
        "n_jobs": N_JOBS,
        "length_scales": [
            Interval(Real, 0, np.inf, closed="neither"),
            "array-like",
            Hidden(StrOptions({"deprecated"})),
        ],
    },
    prefer_skip_nested_validation=True,
)
@_renamed_parameters({"length_scales": "length_scale"})
def make_heat_conduction(
    n_functions,
    *,
    length_scale=(0.1, 0.15),
    random_state=None,
    n_jobs=None,
    length_scales="deprecated",
):
    """Generate the 2-D heat-conduction operator-learning benchmark.

    Samples conductivity fields ``K`` with ``log K`` a Gaussian random field
    and solves ``-div(K grad T) = 0`` on the unit square (``T = 1`` at
    ``x1 = 0``, ``T = 0`` at ``x1 = 1``, insulated at ``x2 = 0`` and
    ``x2 = 1``) on a fixed 32 x 32 cell grid (the benchmark's; it is not a
    parameter). The operator maps ``K`` to ``T``; the cell centres are both
    the sensors and the output points.

    Parameters
    ----------
    n_functions : int
        Number of conductivity fields to sample and solve for; at least 1.

    length_scale : float or tuple of two floats, default=(0.1, 0.15)
        Length scales of the anisotropic squared-exponential kernel of
        ``log K`` (variance 1): a pair (along ``x1``, along ``x2``), or one
        float for both. Each > 0.

    random_state : int, RandomState instance or None, default=None
        Seeds the conductivity field. Pass an int for reproducible output
        across calls. A :class:`numpy.random.Generator` is not accepted (as
        nowhere in scikit-learn); pass an int drawn from it instead.

    n_jobs : int, default=None
        Number of threads solving chunks of fields in parallel. None means 1
        unless in a :obj:`joblib.parallel_backend` context; -1 uses all
        processors. The result does not depend on it.

    length_scales : tuple of two floats
        Deprecated name of ``length_scale``.

        .. deprecated:: 0.2.0
           ``length_scales`` was renamed ``length_scale`` and will be
           removed in 0.5.0.

    Returns
    -------
    U : ndarray of shape (n_functions, 1024)
        Conductivity ``K`` of each cell (not ``log K``), clipped to
        ``[0.005, 33.115]``; row-major with ``x1`` fastest.

    Y : ndarray of shape (1024, 2)
        Cell centres, columns ``(x1, x2)``, in the same order.

    G : ndarray of shape (n_functions, 1024)
        Temperature ``T`` at the cell centres.

    See Also
    --------
    solve_heat_conduction : The solver used for ``G``.
    load_heat_reference : The authors' 500 reference fields of this benchmark.
    make_diffusion_reaction : 1-D diffusion-reaction benchmark.

    Notes
    -----
    The kernel is separable, ``k(x, x') = k1(x1, x1') k2(x2, x2')``, so
    ``log K = L2 @ Z @ L1.T`` with ``Z`` standard normal (32 x 32) and ``L1``,
    ``L2`` the Cholesky factors of the 1-D kernel matrices (jitter 1e-10),
    which is exact and cheap. 5,000 fields take a few seconds.

    References
    ----------
    .. [1] S. Karumuri, L. Graham-Brady and S. Goswami, "Efficient training of
       deep neural operator networks via randomized sampling",
       arXiv:2409.13280 (2024).

    Examples
    --------
    >>> from skoperator.datasets import make_heat_conduction
    >>> U, Y, G = make_heat_conduction(2, random_state=0)
    >>> U.shape, Y.shape, G.shape
    ((2, 1024), (1024, 2), (2, 1024))
    """
    scale1, scale2 = _check_length_scale(length_scale)
    rng = check_random_state(random_state)

    centres = (np.arange(_N_SIDE) + 0.5) / _N_SIDE
    factor1 = _se_kernel_factor(centres, scale1)
    factor2 = _se_kernel_factor(centres, scale2)
    Z = rng.standard_normal((n_functions, _N_SIDE, _N_SIDE))  # [field, i2, i1]
    log_k = factor2 @ Z @ factor1.T
    U = np.clip(np.exp(log_k), _K_MIN, _K_MAX).reshape(n_functions, _N_CELLS)
    G = solve_heat_conduction(U, n_jobs=n_jobs)
    return U, _cell_centres(), G


def heat_conduction_symmetries():
    """The exact symmetries of the heat-conduction benchmark, as reflections.

    Two mirrors of the unit square map solutions of the benchmark to
    solutions, and its conductivity law to itself (the kernel of ``log K`` is
    stationary and even along each axis, the clipping symmetric):

    - ``x2 -> 1 - x2``: the insulated edges swap; ``T`` is mirrored.
    - ``x1 -> 1 - x1`` with ``T -> 1 - T``: the edges ``T = 1`` and ``T = 0``
      swap.

    They generate a group of four; with
    :class:`~skoperator.symmetry.SymmetrizedRegressor` every training field
    gives four exact examples. ``tests/test_symmetry.py`` checks both against
    :func:`solve_heat_conduction` (agreement to rounding).

    Returns
    -------
    symmetries : list of Reflection
        Fresh objects: ``Reflection(grid=(32, 32), axis=0)`` (``x2``) and
        ``Reflection(grid=(32, 32), axis=1, output_sign=-1,
        output_offset=1.0)`` (``x1``).

    See Also
    --------
    make_heat_conduction : The benchmark's data.
    skoperator.symmetry.SymmetrizedRegressor : Trains on the images.

    Examples
    --------
    >>> from skoperator.datasets import heat_conduction_symmetries
    >>> [g.axis for g in heat_conduction_symmetries()]
    [0, 1]
    """
    grid = (_N_SIDE, _N_SIDE)
    return [Reflection(grid=grid, axis=0),
            Reflection(grid=grid, axis=1, output_sign=-1, output_offset=1.0)]
