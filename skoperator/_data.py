"""Checks and statistics for the (U, coords, G) data, numpy in and out.

Large targets (``np.memmap`` or arrays over ``STREAM_BYTES``) are never copied
whole: they are checked and summarised in row chunks and gathered batch by
batch during training.
"""

import numbers

import numpy as np
from sklearn.utils import check_array

STREAM_BYTES = 1 << 30  # in-memory targets larger than this stay where they are
MEMMAP_BYTES = 1 << 26  # memory-mapped targets larger than this are never loaded
_CHUNK_ELEMENTS = 1 << 24


def is_streamed(G):
    """Whether G should be gathered per batch instead of copied to a tensor."""
    if not isinstance(G, np.ndarray):
        return False
    return G.nbytes > (MEMMAP_BYTES if isinstance(G, np.memmap) else STREAM_BYTES)


def row_chunks(n_rows, n_cols):
    """Row slices whose blocks hold at most ~16M elements."""
    step = max(1, _CHUNK_ELEMENTS // max(n_cols, 1))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def check_targets(G, n_functions):
    """Validate G of shape (n_functions, n_points); NaN marks missing values.

    Returns
    -------
    G : ndarray of shape (n_functions, n_points)
        float64 copy for in-memory data, the original array when streamed.
    has_missing : bool
    """
    if G is None:
        raise ValueError(
            "DeepONetRegressor requires y to be passed, but the target y is None. "
            "Pass G, an array of shape (n_functions, n_points)."
        )
    if not is_streamed(G):
        G = check_array(G, ensure_2d=False, dtype=np.float64,
                        ensure_all_finite="allow-nan", input_name="G")
    elif not (np.issubdtype(G.dtype, np.floating) or np.issubdtype(G.dtype, np.integer)):
        raise ValueError(f"G must hold real numbers; got dtype {G.dtype}.")
    if G.ndim != 2:
        raise ValueError(
            f"G must be 2-D of shape (n_functions, n_points); got an array of shape {G.shape}. "
            "If every function has one output point, pass G.reshape(-1, 1)."
        )
    if G.shape[0] != n_functions:
        raise ValueError(
            f"U has {n_functions} rows (functions) but G has {G.shape[0]}; "
            "pass one row of G per row of U."
        )
    if G.shape[1] == 0:
        raise ValueError("G has 0 columns; pass at least one output point per function.")
    has_missing = False
    observed_cols = np.zeros(G.shape[1], dtype=bool)
    for rows in row_chunks(*G.shape):
        block = np.asarray(G[rows])
        if np.isinf(block).any():
            raise ValueError(
                "G contains infinity; G must hold finite values (NaN marks a missing value). "
                "Remove or replace the infinite entries."
            )
        nan = np.isnan(block)
        if nan.any():
            has_missing = True
            empty = np.flatnonzero(nan.all(axis=1))
            if empty.size:
                raise ValueError(
                    f"Function {rows.start + empty[0]} (row of G) has no observed value: "
                    "every entry is NaN. Drop that row from U and G."
                )
        observed_cols |= ~nan.all(axis=0)
    if has_missing and not observed_cols.all():
        col = int(np.flatnonzero(~observed_cols)[0])
        raise ValueError(
            f"Column {col} of G is missing (NaN) for every function; drop that column "
            "from G and the matching row from coords."
        )
    return G, has_missing


def resolve_coords(coords, n_points):
    """Training coordinates (n_points, d): ``coords`` or a uniform grid on [0, 1]."""
    if coords is None:
        return np.linspace(0.0, 1.0, n_points).reshape(-1, 1)
    coords = check_coords(coords, "coords")
    if coords.shape[0] != n_points:
        raise ValueError(
            f"coords has {coords.shape[0]} rows but G has {n_points} columns; "
            "pass coords with one row per column of G."
        )
    return coords


def check_coords(coords, name, d=None):
    """Validate coordinates: 2-D float64 (a 1-D array is one coordinate)."""
    coords = check_array(coords, ensure_2d=False, dtype=np.float64, input_name=name)
    if coords.ndim == 1:
        coords = coords.reshape(-1, 1)
    if coords.ndim != 2:
        raise ValueError(f"{name} must be 2-D of shape (n_points, d); got shape {coords.shape}.")
    if d is not None and coords.shape[1] != d:
        raise ValueError(
            f"{name} has {coords.shape[1]} columns (coordinate dimensions) but the model "
            f"was fitted on {d}-dimensional coordinates; pass coords of shape (n_points, {d})."
        )
    return coords


def resolve_n_eval(n_eval, n_available, what="n_points"):
    """Number of points per function from an int, a fraction or "auto"."""
    if isinstance(n_eval, str):
        return min(32, n_available)
    if isinstance(n_eval, numbers.Integral):
        if n_eval > n_available:
            raise ValueError(
                f"n_eval={n_eval} is larger than {what}={n_available}; pass n_eval <= "
                f"{n_available}, a fraction in (0, 1], or sampling='full'."
            )
        return int(n_eval)
    return max(1, int(np.ceil(n_eval * n_available)))


def target_moments(G):
    """NaN-aware mean and standard deviation of all entries of G (float64)."""
    total = total_sq = count = 0.0
    for rows in row_chunks(*G.shape):
        block = np.asarray(G[rows], dtype=np.float64)
        ok = ~np.isnan(block)
        total += block.sum(where=ok)
        total_sq += np.square(block).sum(where=ok)
        count += ok.sum()
    mean = total / count
    var = max(total_sq / count - mean**2, 0.0)
    return mean, float(np.sqrt(var))


def safe_scale(std):
    """Replace zero or tiny scales by 1 so that constants standardise to 0."""
    std = np.asarray(std, dtype=np.float64)
    return np.where(std > 1e-12 * np.maximum(1.0, np.abs(std)), std, 1.0)


def data_rows(G, rows):
    """Rows of G without copying a streamed array (a lazy row view)."""
    if is_streamed(G):
        return RowView(G, rows)
    return G[rows]


class RowView:
    """Row subset of a large array, read only when indexed."""

    def __init__(self, array, rows):
        self.array, self.rows = array, np.asarray(rows)
        self.shape = (len(self.rows), array.shape[1])
        self.dtype = array.dtype

    def __getitem__(self, key):
        if isinstance(key, tuple):
            r, c = key
            return self.array[self.rows[r], c]
        return self.array[self.rows[key]]


def scaling_statistics(U, G, coords, per_sensor):
    """Shifts and scales that standardise inputs, coordinates and outputs.

    Parameters
    ----------
    U : ndarray of shape (n_functions, n_sensors)
    G : array-like of shape (n_functions, n_points)
        In memory, a memmap or a :class:`RowView`; read in row chunks.
    coords : ndarray of shape (n_points, d)
    per_sensor : bool
        One shift and scale per sensor (else one for all of U).

    Returns
    -------
    scaling : dict
        ``u_shift, u_scale, y_shift, y_scale, g_shift, g_scale``.
    """
    g_shift, g_scale = target_moments(G)
    return dict(
        u_shift=U.mean(axis=0) if per_sensor else U.mean(),
        u_scale=safe_scale(U.std(axis=0) if per_sensor else U.std()),
        y_shift=coords.mean(axis=0), y_scale=safe_scale(coords.std(axis=0)),
        g_shift=g_shift, g_scale=float(safe_scale(g_scale)),
    )


def identity_scaling(d):
    """Scalings that leave inputs, coordinates (dimension d) and outputs as they are."""
    return dict(u_shift=0.0, u_scale=1.0, y_shift=np.zeros(d), y_scale=np.ones(d),
                g_shift=0.0, g_scale=1.0)
