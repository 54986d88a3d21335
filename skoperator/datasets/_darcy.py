"""Darcy-flow benchmark: ``-div(a grad u) = f`` on the unit square, ``u = 0`` on its edge.

The permeability ``a`` is piecewise constant: 12 where a Gaussian random field
is >= 0 and 3 elsewhere; the operator maps ``a`` to the pressure ``u`` for
``f = 1``. This is the Darcy problem of the Fourier neural operator paper
(Li et al. 2021) as used by Lu et al. (2022), on 29 x 29 nodes.

The solver is FNO's: second-order finite differences on the nodes of a
uniform grid, the 5-point stencil with each edge of the grid carrying the
arithmetic mean of ``a`` at its two end nodes, and one sparse direct solve
(SuperLU) per field. Nodes are numbered row-major with ``x1`` fastest:
``index = i2 * n + i1``, at ``(i1 / (n - 1), i2 / (n - 1))``, as the cells of
:func:`make_heat_conduction`.
"""

import functools
import os
from numbers import Integral, Real

import numpy as np
from scipy.fft import dstn
from scipy.sparse import csc_matrix
from scipy.sparse.linalg import splu

from .._canonical import GridPointGroup
from .._compat import Interval, StrOptions, validate_params
from .._grid_maps import GridPermutation
from ._base import (
    N_JOBS,
    _check_functions,
    _check_solution,
    _map_linear_solves,
    _map_row_chunks,
)
from ._cache import generated

# The random field: cosine modes 0 .. _N_MODES - 1 per axis (FNO's GRF.m on
# its 421 x 421 grid) of N(0, (-Laplacian + 9 I)^-2), zero Neumann boundary.
_TAU = 3.0
_ALPHA = 2.0
_N_MODES = 421
_A_HIGH = 12.0
_A_LOW = 3.0
# Default solver grid: nodes per side at least this (141 = 5 * 28 + 1).
_RESOLUTION_TARGET = 141
# FNO's grid, the default for its learning grids (every 5th node: 85 x 85).
_RESOLUTION_FNO = 421
_CHUNK_SIZE = 16
# solver="auto": SuperLU up to this many nodes a side (the grids before
# conjugate gradients existed, whose data stay bit for bit the same), CG above.
_DIRECT_MAX_NODES = 141
_CG_RTOL = 1e-10
_CG_MAX_ITER = 500


# ---------------------------------------------------------------------------
# Random field
# ---------------------------------------------------------------------------
def _mode_scales(n_modes=_N_MODES):
    """Standard deviations (n_modes, n_modes), indexed ``[k2, k1]``, of the modes.

    The field is ``sum_k s_k xi_k phi_k(x)`` over ``k = (k1, k2) != (0, 0)``
    with ``phi_k`` the orthonormal Neumann eigenfunctions of the unit square,
    ``phi_k(x) = c_k1(x1) c_k2(x2)``, ``c_0 = 1``, ``c_j(t) = sqrt(2) cos(pi j t)``,
    and ``s_k = (pi**2 |k|**2 + 9)**-1``: ``s_k**2`` are the eigenvalues of
    ``(-Laplacian + 9 I)**-2``. The mean mode ``(0, 0)`` is left out.
    """
    k = np.arange(n_modes)
    eig = np.pi**2 * (k[:, None] ** 2 + k[None, :] ** 2) + _TAU**2
    scales = eig ** (-_ALPHA / 2)
    scales[0, 0] = 0.0
    return scales


def _cosine_weights(n_modes=_N_MODES):
    """``c_j(t) = w_j cos(pi j t)``: ``w_0 = 1``, ``w_j = sqrt(2)``."""
    w = np.full(n_modes, np.sqrt(2.0))
    w[0] = 1.0
    return w


def _sample_field(n_functions, n_nodes, rng):
    """Gaussian random field (n_functions, n_nodes, n_nodes) at the nodes, [f, i2, i1].

    Draws ``_N_MODES**2`` standard normals per field, ``[k2, k1]`` row-major,
    whatever ``n_nodes``, and sums the series exactly at the nodes
    ``i / (n_nodes - 1)``: the fields of a seed do not depend on the grid.
    """
    w = _cosine_weights()
    scales = _mode_scales() * w[:, None] * w[None, :]
    nodes = np.linspace(0.0, 1.0, n_nodes)
    E = np.cos(np.pi * np.outer(nodes, np.arange(_N_MODES)))  # [i, k]
    field = np.empty((n_functions, n_nodes, n_nodes))
    for start in range(0, n_functions, _CHUNK_SIZE):
        stop = min(start + _CHUNK_SIZE, n_functions)
        Z = rng.standard_normal((stop - start, _N_MODES, _N_MODES))
        field[start:stop] = E @ (Z * scales) @ E.T
    return field


# ---------------------------------------------------------------------------
# Solver
# ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _sparsity_pattern(n_nodes):
    """CSC ``indices``/``indptr`` of the interior 5-point matrix, and the COO -> CSC order.

    Unknowns are the interior nodes, row-major with ``x1`` fastest. Entries
    come in the order: diagonal, x1-edges (i, i + 1), (i + 1, i), x2-edges
    (i, i + m), (i + m, i), with ``m = n_nodes - 2``.
    """
    m = n_nodes - 2
    idx = np.arange(m * m).reshape(m, m)  # [i2, i1]
    left, right = idx[:, :-1].ravel(), idx[:, 1:].ravel()
    low, high = idx[:-1, :].ravel(), idx[1:, :].ravel()
    rows = np.concatenate([idx.ravel(), left, right, low, high])
    cols = np.concatenate([idx.ravel(), right, left, high, low])
    tags = np.arange(1, rows.size + 1, dtype=np.float64)
    pattern = csc_matrix((tags, (rows, cols)), shape=(m * m, m * m))
    order = pattern.data.astype(np.intp) - 1
    return pattern.indices.copy(), pattern.indptr.copy(), order


def _edge_weights(a):
    """``a`` on the edges over ``h**2``: along x1 (n, N, N - 1), along x2 (n, N - 1, N)."""
    scale = (a.shape[1] - 1) ** 2  # 1 / h**2
    e1 = 0.5 * (a[:, :, :-1] + a[:, :, 1:]) * scale  # [f, i2, i1 + 1/2]
    e2 = 0.5 * (a[:, :-1, :] + a[:, 1:, :]) * scale  # [f, i2 + 1/2, i1]
    return e1, e2


def _solve_chunk(a, f, out):
    """Solve for the fields ``a`` (n, N, N) and sources ``f``; write u into ``out``.

    One SuperLU factorisation per field.
    """
    n, N = a.shape[0], a.shape[1]
    m = N - 2
    indices, indptr, order = _sparsity_pattern(N)
    e1, e2 = _edge_weights(a)
    diag = (
        e1[:, 1:-1, :-1] + e1[:, 1:-1, 1:] + e2[:, :-1, 1:-1] + e2[:, 1:, 1:-1]
    ).reshape(n, -1)
    off1 = -e1[:, 1:-1, 1:-1].reshape(n, -1)  # between interior neighbours
    off2 = -e2[:, 1:-1, 1:-1].reshape(n, -1)
    values = np.take(
        np.concatenate([diag, off1, off1, off2, off2], axis=1), order, axis=1
    )
    # Copies: the cached pattern is shared between threads.
    A = csc_matrix((values[0], indices.copy(), indptr.copy()), shape=(m * m, m * m))
    out[:] = 0.0
    for i in range(n):
        A.data = values[i]
        rhs = np.ascontiguousarray(f[i if f.shape[0] > 1 else 0, 1:-1, 1:-1]).ravel()
        out[i, 1:-1, 1:-1] = splu(A, permc_spec="MMD_AT_PLUS_A").solve(rhs).reshape(m, m)


@functools.lru_cache(maxsize=4)
def _inverse_laplacian_eigenvalues(n_nodes):
    """``1 / lambda`` (m, m) of the 5-point ``-Laplacian / h**2``, zero Dirichlet edge.

    Its eigenvectors are the products of ``sin(pi j p / (n_nodes - 1))``: the
    orthonormal type-I sine transform diagonalises it.
    """
    j = np.arange(1, n_nodes - 1)
    s = 4.0 * (n_nodes - 1) ** 2 * np.sin(np.pi * j / (2 * (n_nodes - 1))) ** 2
    return 1.0 / (s[:, None] + s[None, :])


def _solve_chunk_cg(a, f, out):
    """As :func:`_solve_chunk`, by conjugate gradients, all fields at once.

    Preconditioned by the constant-coefficient problem (the 5-point Laplacian,
    solved exactly by two sine transforms): for ``a`` between ``a_min`` and
    ``a_max`` the preconditioned condition number is at most
    ``a_max / a_min`` (4 for the benchmark's 3 and 12), whatever the grid,
    and each field stops at a relative residual of ``_CG_RTOL``. A field's
    iterates depend on that field only (a converged field is frozen), so the
    result does not depend on the chunk it is solved in.
    """
    n, N = a.shape[0], a.shape[1]
    m = N - 2
    e1, e2 = _edge_weights(a)
    left, right = e1[:, 1:-1, :-1], e1[:, 1:-1, 1:]
    below, above = e2[:, :-1, 1:-1], e2[:, 1:, 1:-1]
    diag = left + right + below + above
    inverse = _inverse_laplacian_eigenvalues(N)
    padded = np.zeros((n, N, N))
    scratch = np.empty((n, m, m))

    def operator(p):
        padded[:, 1:-1, 1:-1] = p
        q = diag * p
        for weight, neighbour in (
            (left, padded[:, 1:-1, :-2]),
            (right, padded[:, 1:-1, 2:]),
            (below, padded[:, :-2, 1:-1]),
            (above, padded[:, 2:, 1:-1]),
        ):
            np.multiply(weight, neighbour, out=scratch)
            q -= scratch
        return q

    def precondition(r):
        z = np.empty_like(r)
        for i in range(n):  # field by field: faster than all at once (cache)
            z[i] = dstn(dstn(r[i], type=1, norm="ortho") * inverse, type=1, norm="ortho")
        return z

    def dot(x, y):
        return np.einsum("nij,nij->n", x, y)

    b = np.array(np.broadcast_to(f[:, 1:-1, 1:-1], (n, m, m)))
    x = np.zeros((n, m, m))
    r = b.copy()
    z = precondition(r)
    p = z.copy()
    rz = dot(r, z)
    tolerance = _CG_RTOL * np.sqrt(dot(b, b))
    active = tolerance > 0.0  # a zero source gives u = 0 at once
    for _ in range(_CG_MAX_ITER):
        if not active.any():
            break
        q = operator(p)
        alpha = np.where(active, rz / np.where(active, dot(p, q), 1.0), 0.0)
        x += alpha[:, None, None] * p
        r -= alpha[:, None, None] * q
        active &= np.sqrt(dot(r, r)) > tolerance
        z = precondition(r)
        rz_new = dot(r, z)
        beta = np.where(active, rz_new / np.where(active, rz, 1.0), 0.0)
        p = z + beta[:, None, None] * p
        rz = np.where(active, rz_new, rz)
    else:
        if active.any():
            raise FloatingPointError(
                f"conjugate gradients did not reach a relative residual of "
                f"{_CG_RTOL} in {_CG_MAX_ITER} iterations for {int(active.sum())} "
                "of the fields (a very large ratio max(a) / min(a)); pass "
                "solver='direct'."
            )
    out[:] = 0.0
    out[:, 1:-1, 1:-1] = x


_SOLVERS = ("auto", "direct", "cg")


def _solver_name(n_nodes):
    """What ``solver="auto"`` is on ``n_nodes`` a side."""
    return "direct" if n_nodes <= _DIRECT_MAX_NODES else "cg"


def _solver(solver, n_nodes):
    """The chunk solver of ``solver`` ("auto", "direct" or "cg") on ``n_nodes`` a side."""
    if solver == "auto":
        solver = _solver_name(n_nodes)
    return _solve_chunk if solver == "direct" else _solve_chunk_cg


def _n_side(n_values, name):
    n_side = int(round(np.sqrt(n_values)))
    if n_side * n_side != n_values or n_side < 3:
        raise ValueError(
            f"{name} must hold the values at n x n nodes (n >= 3), flattened with "
            f"x1 fastest, got {n_values} values per field, which is not the square "
            f"of an integer >= 3."
        )
    return n_side


def _check_source(f, n_fields, n_side):
    """``f`` as float64 (1 or n_fields, n_side, n_side)."""
    if f is None:
        return np.ones((1, n_side, n_side))
    if isinstance(f, (bool, np.bool_)):
        raise ValueError(f"f must be a number or an array of source values, not a bool; got "
                         f"{f!r}. Pass f=1.0 for a unit source.")
    if isinstance(f, Real):
        if not np.isfinite(f):
            raise ValueError(f"f must be finite, got {f!r}.")
        return np.full((1, n_side, n_side), float(f))
    f, _ = _check_functions(
        f,
        "f",
        n_columns=n_side * n_side,
        rows="n_fields",
        layout=f"{n_side} x {n_side} nodes, row-major with x1 fastest",
    )
    if f.shape[0] not in (1, n_fields):
        raise ValueError(
            f"f must have one row, or one row per field of a ({n_fields}), got "
            f"{f.shape[0]} rows."
        )
    return f.reshape(-1, n_side, n_side)


def _nodes(n_side):
    """Node coordinates (n_side**2, 2), columns ``(x1, x2)``, x1 fastest."""
    t = np.linspace(0.0, 1.0, n_side)
    x1, x2 = np.meshgrid(t, t)  # x1 varies along the last axis
    return np.column_stack([x1.ravel(), x2.ravel()])


@validate_params(
    {
        "a": ["array-like"],
        "f": [Real, "array-like", None],
        "solver": [StrOptions(set(_SOLVERS))],
        "n_jobs": N_JOBS,
    },
    prefer_skip_nested_validation=True,
)
def solve_darcy(a, f=None, *, solver="auto", n_jobs=None):
    """Solve ``-div(a grad u) = f`` on the unit square with ``u = 0`` on its edge.

    Second-order finite differences on the ``n x n`` nodes of a uniform grid
    of the unit square, with ``a`` and ``f`` given at those nodes.

    Parameters
    ----------
    a : array-like of shape (n_fields, n * n) or (n * n,)
        Permeability (diffusion coefficient) at the nodes, positive and
        finite, row-major with ``x1`` fastest: ``index = i2 * n + i1`` for
        the node ``(i1 / (n - 1), i2 / (n - 1))``; ``n >= 3``.

    f : float or array-like of shape (n_fields, n * n) or (n * n,), default=None
        Right-hand side at the nodes, in the layout of ``a`` (values on the
        edge are not used). One row is used for every field. None means 1,
        the benchmark's.

    solver : {"auto", "direct", "cg"}, default="auto"
        "direct" factorises each field's matrix (SuperLU); "cg" solves all
        the fields of a chunk at once by conjugate gradients preconditioned
        with the constant-coefficient problem (two sine transforms), to a
        relative residual of 1e-10; "auto" is "direct" up to 141 nodes a
        side and "cg" above. The two agree to about 1e-12 relative to
        ``max |u|``; "cg" is about 3 times faster at 421 x 421 and its
        iterations grow with ``max(a) / min(a)``, not with the grid.

    n_jobs : int, default=None
        Number of threads solving chunks of fields in parallel. None means 1
        unless in a :obj:`joblib.parallel_backend` context; -1 uses all
        processors. The result does not depend on it.

    Returns
    -------
    u : ndarray of shape (n_fields, n * n) or (n * n,)
        Solution at the nodes, float64, in the layout of ``a``; zero on the
        edge. 1-D when ``a`` is 1-D.

    Raises
    ------
    FloatingPointError
        If ``a`` or ``f`` is so large or so small (near 1e308 or 1e-308) that
        the system or its solution over- or underflows float64 (``u`` scales
        as ``f / a``: rescale them), or if conjugate gradients do not converge.

    See Also
    --------
    make_darcy : Sample permeability fields and solve for them.

    Notes
    -----
    The scheme is the one of FNO's data generator (``solve_gwf.m``): with
    ``h = 1 / (n - 1)``, each grid edge between neighbouring nodes carries the
    arithmetic mean of ``a`` at its two ends, and at an interior node

    ``(sum over its 4 edges of a_edge (u_node - u_neighbour)) / h**2 = f_node``.

    The matrix is symmetric positive definite; each field's system is
    factorised with SuperLU (:func:`scipy.sparse.linalg.splu`) or solved by
    preconditioned conjugate gradients (``solver``): for ``a`` in ``[3, 12]``,
    about 25 iterations of one matrix product and two sine transforms each
    (0.27 CPU seconds a field at 421 x 421, against 0.86 for SuperLU, in
    ``benchmarks/bench_generators.py``). For a smooth ``a`` the error is of
    order ``h**2``; for a constant ``a`` and
    ``u = sin(pi x1) sin(pi x2)`` the discrete solution is exactly
    ``u * 2 pi**2 h**2 / (8 sin(pi h / 2)**2)`` at the nodes. FNO's script
    also interpolates ``a`` from cell centres to the nodes and ``u`` back with
    splines; here ``a`` is given at the nodes and ``u`` is returned there.

    Examples
    --------
    >>> import numpy as np
    >>> from skoperator.datasets import solve_darcy
    >>> u = solve_darcy(np.ones(5 * 5), f=256.0)  # 3 x 3 interior nodes, h = 1/4
    >>> u.reshape(5, 5).round(10)
    array([[ 0.,  0.,  0.,  0.,  0.],
           [ 0., 11., 14., 11.,  0.],
           [ 0., 14., 18., 14.,  0.],
           [ 0., 11., 14., 11.,  0.],
           [ 0.,  0.,  0.,  0.,  0.]])
    """
    a, one_field = _check_functions(
        a,
        "a",
        min_columns=9,
        rows="n_fields",
        columns="n * n",
        layout="n x n nodes, row-major with x1 fastest",
    )
    if (a <= 0).any():
        row, col = np.argwhere(a <= 0)[0]
        raise ValueError(
            "a must be strictly positive (it is a permeability), got "
            f"a[{row}, {col}] = {a[row, col]}."
        )
    n_fields = a.shape[0]
    n_side = _n_side(a.shape[1], "a")
    f = _check_source(f, n_fields, n_side)
    a = a.reshape(n_fields, n_side, n_side)
    u = np.empty_like(a)
    solve_chunk = _solver(solver, n_side)

    def solve_rows(rows):
        solve_chunk(a[rows], f if f.shape[0] == 1 else f[rows], u[rows])

    hint = ("u scales as f / a: solve for f / c and a / d with constants c and d near "
            "their magnitudes, and multiply the result by c / d.")
    _map_linear_solves(solve_rows, n_fields, chunk_size=_CHUNK_SIZE, n_jobs=n_jobs,
                       inputs="a and f", hint=hint)
    _check_solution(u, inputs="a and f", hint=hint)
    u = u.reshape(n_fields, n_side * n_side)
    return u[0] if one_field else u


def _default_resolution(n_points):
    """FNO's 421 for its grids (85, 106, 141, 211, 421), else the smallest
    ``(n_points - 1) * m + 1`` that is at least ``_RESOLUTION_TARGET``."""
    if n_points >= 85 and (_RESOLUTION_FNO - 1) % (n_points - 1) == 0:
        return _RESOLUTION_FNO
    m = max(1, -(-(_RESOLUTION_TARGET - 1) // (n_points - 1)))
    return (n_points - 1) * m + 1


@validate_params(
    {
        "n_functions": [Interval(Integral, 1, None, closed="left")],
        "n_points": [Interval(Integral, 3, None, closed="left")],
        "resolution": [Interval(Integral, 3, None, closed="left"), None],
        "solver": [StrOptions(set(_SOLVERS))],
        "random_state": ["random_state"],
        "n_jobs": N_JOBS,
        "cache": ["boolean"],
        "data_home": [str, os.PathLike, None],
    },
    prefer_skip_nested_validation=True,
)
def make_darcy(
    n_functions,
    *,
    n_points=29,
    resolution=None,
    solver="auto",
    random_state=None,
    n_jobs=None,
    cache=False,
    data_home=None,
):
    """Generate the 2-D Darcy-flow operator-learning benchmark.

    Samples piecewise-constant permeabilities ``a`` (12 where a Gaussian
    random field is >= 0, 3 elsewhere) and solves ``-div(a grad u) = 1`` on
    the unit square with ``u = 0`` on its edge (:func:`solve_darcy`) on a
    ``resolution x resolution`` grid; ``a`` and ``u`` are returned on the
    ``n_points x n_points`` nodes of a coarser grid contained in it. This is
    the Darcy benchmark of the Fourier neural operator [1]_ and of Lu et
    al. [2]_ (29 x 29 nodes, every 15th node of FNO's 421 x 421 grid). FNO
    solves on 421 x 421 nodes and learns on 85 x 85 (every 5th node; also
    141 and 211), which ``n_points=85`` does by default.

    Parameters
    ----------
    n_functions : int
        Number of permeability fields to sample and solve for; at least 1.

    n_points : int, default=29
        Number of nodes per side of the output grid, at least 3, at
        ``i / (n_points - 1)``; they are the sensors and the output points.

    resolution : int, default=None
        Number of nodes per side of the solver's grid, at least 3, with
        ``resolution - 1`` a multiple of ``n_points - 1`` so that the output
        nodes are solver nodes. None means FNO's 421 for its grids
        (``n_points`` 85, 106, 141, 211 or 421), else the smallest such value
        >= 141 (141 for ``n_points=29``).

    solver : {"auto", "direct", "cg"}, default="auto"
        The linear solver (see :func:`solve_darcy`): "auto" factorises each
        field up to 141 nodes a side and uses preconditioned conjugate
        gradients above.

    random_state : int, RandomState instance or None, default=None
        Seeds the permeability fields. Pass an int for reproducible output
        across calls. A :class:`numpy.random.Generator` is not accepted (as
        nowhere in scikit-learn); pass an int drawn from it instead.

    n_jobs : int, default=None
        Number of threads solving chunks of fields in parallel. None means 1
        unless in a :obj:`joblib.parallel_backend` context; -1 uses all
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
    U : ndarray of shape (n_functions, n_points**2)
        Permeability ``a`` (3 or 12) at the output nodes, row-major with
        ``x1`` fastest: ``index = i2 * n_points + i1``.

    Y : ndarray of shape (n_points**2, 2)
        Node coordinates, columns ``(x1, x2)``, in the same order.

    G : ndarray of shape (n_functions, n_points**2)
        Pressure ``u`` at the output nodes; zero on the edge.

    See Also
    --------
    solve_darcy : The solver used for ``G``.
    make_burgers : The 1-D Burgers benchmark of the same papers.

    Notes
    -----
    The field is FNO's (``GRF.m`` with ``alpha=2, tau=3``): the Gaussian
    field ``N(0, (-Laplacian + 9 I)**-2)`` with zero Neumann boundary, i.e. the
    cosine series

    ``sum_{(k1, k2) != (0, 0)} (pi**2 (k1**2 + k2**2) + 9)**-1 xi_k c_k1(x1) c_k2(x2)``

    over ``0 <= k1, k2 <= 420``, with ``xi_k`` independent standard normal,
    ``c_0 = 1`` and ``c_j(t) = sqrt(2) cos(pi j t)``. Its mean mode is left
    out, as in FNO. FNO scales the series by ``tau**(alpha - 1) = 3``, which
    does not change its sign, hence ``a``. The field is evaluated exactly at
    the solver's nodes, so a seed gives the same ``a`` at the output nodes
    whatever ``resolution``.

    ``a`` jumps across the zero set of the field, which limits the accuracy
    to first order in the grid spacing. At the 29 x 29 output nodes, for 8
    fields (the same ``a``), the default ``resolution=141`` differs from
    FNO's 421 by a relative L2 difference of 4.6e-3 (7.6e-3 for the worst
    field); 85 gives 8.5e-3 and 281 gives 1.3e-3. These differences fall as
    ``1 / (resolution - 1)``, which puts the error of 141 itself near 7e-3
    and that of 421 near 2e-3 (421 differs from 841 by 7.8e-4 at the 85 x 85
    nodes). At 421, 1,200 fields take about 5.4 CPU minutes
    (``solver="cg"``, 0.27 CPU seconds a field; projected to 2.7 minutes on
    2 cores of a machine's own with ``n_jobs=2``; SuperLU takes 0.86 a
    field; ``benchmarks/bench_generators.py``,
    ``benchmarks/results/generators_full_resolution.txt``).

    References
    ----------
    .. [1] Z. Li, N. Kovachki, K. Azizzadenesheli, B. Liu, K. Bhattacharya,
       A. Stuart and A. Anandkumar, "Fourier neural operator for parametric
       partial differential equations", ICLR (2021).
    .. [2] L. Lu, X. Meng, S. Cai, Z. Mao, S. Goswami, Z. Zhang and
       G. E. Karniadakis, "A comprehensive and fair comparison of two neural
       operators (with practical extensions) based on FAIR data", Comput.
       Methods Appl. Mech. Engrg. 393 (2022), 114778.

    Examples
    --------
    >>> from skoperator.datasets import make_darcy
    >>> U, Y, G = make_darcy(2, random_state=0)
    >>> U.shape, Y.shape, G.shape
    ((2, 841), (841, 2), (2, 841))
    >>> sorted(set(U.ravel().tolist()))
    [3.0, 12.0]
    """
    if resolution is None:
        resolution = _default_resolution(n_points)
    elif (resolution - 1) % (n_points - 1) != 0:
        raise ValueError(
            f"resolution - 1 must be a multiple of n_points - 1, so that the "
            f"output nodes are solver nodes; got resolution={resolution} and "
            f"n_points={n_points}. Pass e.g. resolution="
            f"{_default_resolution(n_points)}."
        )
    params = dict(
        n_functions=n_functions,
        n_points=n_points,
        resolution=resolution,
        solver=solver if solver != "auto" else _solver_name(resolution),
    )
    return generated(
        "darcy", {**params, "version": 1},
        lambda rng: _make_darcy(rng=rng, n_jobs=n_jobs, **params),
        cache=cache, random_state=random_state, data_home=data_home,
    )


def _make_darcy(n_functions, *, n_points, resolution, solver, rng, n_jobs):
    """``(U, Y, G)`` of :func:`make_darcy`, its arguments resolved."""
    # The sign of the field, drawn chunk after chunk (the draws of
    # _sample_field); a (12 or 3) is formed chunk by chunk when solving.
    positive = np.empty((n_functions, resolution, resolution), dtype=bool)
    for start in range(0, n_functions, _CHUNK_SIZE):
        stop = min(start + _CHUNK_SIZE, n_functions)
        positive[start:stop] = _sample_field(stop - start, resolution, rng) >= 0.0
    step = (resolution - 1) // (n_points - 1)
    source = np.ones((1, resolution, resolution))
    solve_chunk = _solver(solver, resolution)
    G = np.empty((n_functions, n_points, n_points))

    def solve_rows(rows):
        a = np.where(positive[rows], _A_HIGH, _A_LOW)
        u = np.empty_like(a)
        solve_chunk(a, source, u)
        G[rows] = u[:, ::step, ::step]

    _map_row_chunks(solve_rows, n_functions, chunk_size=_CHUNK_SIZE, n_jobs=n_jobs)
    U = np.where(positive[:, ::step, ::step], _A_HIGH, _A_LOW)
    return U.reshape(n_functions, -1), _nodes(n_points), G.reshape(n_functions, -1)


def darcy_symmetry(n_points=85):
    """The eight symmetries of Darcy's square, for ``CanonicalizedRegressor``.

    With a constant forcing (the benchmark's ``f = 1``) and ``u = 0`` on the
    edge, the problem on the unit square commutes with the maps of the square
    onto itself, and so does the discrete solver of :func:`solve_darcy` (each
    grid edge carries the mean of ``a`` at its two ends, the same in every
    direction): a transposition and the two mirrors generate the eight. The
    canonical form (:class:`~skoperator.symmetry.GridPointGroup`) chooses the
    transposition by the gradient energy of ``a`` along the two axes, then
    each mirror by the sign of the summed cube of the derivative along its
    axis.

    Parameters
    ----------
    n_points : int, default=85
        Nodes a side of the grid of ``a`` and ``u`` (rows of ``n_points **
        2`` values, row-major, as :func:`make_darcy` returns them).

    Returns
    -------
    symmetry : GridPointGroup
        The transposition and the mirrors of the two axes, in that order.

    See Also
    --------
    skoperator.symmetry.CanonicalizedRegressor : Fits in the canonical form.
    skoperator.datasets.navier_stokes_symmetry : The same for a periodic flow.

    Examples
    --------
    >>> from skoperator.datasets import darcy_symmetry
    >>> symmetry = darcy_symmetry(85)
    >>> [g.statistic for g in symmetry.point_symmetries]
    ['quadratic', 'cubic', 'cubic']
    """
    if isinstance(n_points, bool) or not isinstance(n_points, Integral) or n_points < 2:
        raise ValueError(f"darcy_symmetry n_points must be an int >= 2 (nodes a side); got "
                         f"{n_points!r}.")
    n = int(n_points)
    grid = (n, n)
    transpose = GridPermutation(grid=grid, matrix=((0, 1), (1, 0)), statistic="quadratic")
    mirror_0 = GridPermutation(grid=grid, matrix=((-1, 0), (0, 1)), offset=(n - 1, 0),
                               statistic="cubic", axis=0)
    mirror_1 = GridPermutation(grid=grid, matrix=((1, 0), (0, -1)), offset=(0, n - 1),
                               statistic="cubic", axis=1)
    return GridPointGroup(grid=grid, point_symmetries=[transpose, mirror_0, mirror_1])
