"""Checks and statistics for the (U, coords, G) data, numpy in and out.

Large targets (``np.memmap`` or arrays over ``STREAM_BYTES``) are never copied
whole: they are checked and summarised in row chunks and gathered batch by
batch during training.
"""

import numpy as np
from sklearn.utils import check_array

STREAM_BYTES = 1 << 30  # in-memory targets larger than this stay where they are
MEMMAP_BYTES = 1 << 26  # memory-mapped targets larger than this are never loaded
_CHUNK_ELEMENTS = 1 << 24


def is_streamed(G):
    """Whether G should be gathered per batch instead of copied to a tensor."""
    if isinstance(G, RowView):
        return True
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


def resolve_coords(coords, n_columns, n_outputs=1):
    """Training coordinates (n_points, d): ``coords`` or a uniform grid on [0, 1].

    G has ``n_outputs * n_points`` columns (the output fields side by side).
    """
    if n_columns % n_outputs:
        raise ValueError(
            f"G has {n_columns} columns, which is not a multiple of n_outputs={n_outputs}; "
            "pass G with the output fields side by side, n_outputs * n_points columns "
            "(np.hstack([field_0, field_1, ...]))."
        )
    n_points = n_columns // n_outputs
    if coords is None:
        return np.linspace(0.0, 1.0, n_points).reshape(-1, 1)
    coords = check_coords(coords, "coords")
    if coords.shape[0] != n_points:
        fields = "" if n_outputs == 1 else f" = n_outputs ({n_outputs}) x {n_points} points"
        expect = "one row per column of G" if n_outputs == 1 else (
            "one row per point, G having n_outputs * len(coords) columns")
        raise ValueError(
            f"coords has {coords.shape[0]} rows but G has {n_columns} columns{fields}; "
            f"pass coords with {expect}."
        )
    return coords


def check_coords(coords, name, d=None):
    """Validate coordinates: 2-D float64 (a 1-D array is one coordinate), at least one row."""
    if coords is None:
        raise ValueError(f"{name} is None; pass an array of shape (n_points, d).")
    try:
        coords = check_array(coords, ensure_2d=False, dtype=np.float64, input_name=name,
                             ensure_min_samples=0)
    except ValueError as exc:
        raise ValueError(f"{exc} {name} must be an array of finite real coordinates of shape "
                         "(n_points, d).") from exc
    if coords.ndim == 1:
        coords = coords.reshape(-1, 1)
    if coords.ndim != 2:
        raise ValueError(f"{name} must be 2-D of shape (n_points, d); got shape {coords.shape}.")
    if coords.shape[0] == 0 or coords.shape[1] == 0:
        raise ValueError(
            f"{name} is empty (shape {coords.shape}); pass at least one point with at least "
            "one coordinate, as an array of shape (n_points, d)."
        )
    if d is not None and coords.shape[1] != d:
        raise ValueError(
            f"{name} has {coords.shape[1]} columns (coordinate dimensions) but the model "
            f"was fitted on {d}-dimensional coordinates; pass coords of shape (n_points, {d})."
        )
    return coords


def target_moments(G, n_outputs=1):
    """NaN-aware mean and standard deviation of every output field of G (float64).

    Column ``c * n_points + j`` of G belongs to field ``c``.

    Returns
    -------
    mean, std : ndarray of shape (n_outputs,)
    """
    total = np.zeros(n_outputs)
    total_sq = np.zeros(n_outputs)
    count = np.zeros(n_outputs)
    for rows in row_chunks(*G.shape):
        block = np.asarray(G[rows], dtype=np.float64)
        block = block.reshape(-1, n_outputs, G.shape[1] // n_outputs)
        ok = ~np.isnan(block)
        total += block.sum(axis=(0, 2), where=ok)
        total_sq += np.square(block).sum(axis=(0, 2), where=ok)
        count += ok.sum(axis=(0, 2))
    mean = total / np.maximum(count, 1)
    var = np.maximum(total_sq / np.maximum(count, 1) - mean**2, 0.0)
    return mean, np.sqrt(var)


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


def input_statistics(U, input_sizes):
    """Shift and scale of the branch inputs: per column mean, one scale per input function.

    The sensors of one input function measure one quantity, so they share
    one scale (the root mean square of their centred values): relative
    scales inside a function are kept, which matters when the columns are
    principal-component scores (whitening them would blow up the noise in
    the last components) or grid cells. Each input function of a multi-input
    ``U`` gets its own scale.

    Returns
    -------
    shift, scale : ndarray of shape (n_sensors,)
    """
    shift = U.mean(axis=0)
    scale = np.empty(U.shape[1])
    start = 0
    for size in input_sizes:
        block = U[:, start:start + size] - shift[start:start + size]
        scale[start:start + size] = safe_scale(np.sqrt(np.mean(np.square(block))))
        start += size
    return shift, scale


def scaling_statistics(U, G, coords, input_sizes, n_outputs):
    """Shifts and scales that standardise inputs, coordinates and outputs.

    Parameters
    ----------
    U : ndarray of shape (n_functions, n_sensors)
    G : array-like of shape (n_functions, n_outputs * n_points)
        In memory, a memmap or a :class:`RowView`; read in row chunks.
    coords : ndarray of shape (n_points, d)
    input_sizes : tuple of int
        Columns of U per input function.
    n_outputs : int
        Output fields.

    Returns
    -------
    scaling : dict
        ``u_shift, u_scale`` (per column, see :func:`input_statistics`),
        ``y_shift, y_scale`` (per coordinate), ``g_shift, g_scale`` (per
        output field).
    """
    u_shift, u_scale = input_statistics(U, input_sizes)
    g_shift, g_scale = target_moments(G, n_outputs)
    return dict(
        u_shift=u_shift, u_scale=u_scale,
        y_shift=coords.mean(axis=0), y_scale=safe_scale(coords.std(axis=0)),
        g_shift=g_shift, g_scale=safe_scale(g_scale),
    )


def identity_scaling(n_sensors, d, n_outputs):
    """Scalings that leave inputs, coordinates and outputs as they are."""
    return dict(u_shift=np.zeros(n_sensors), u_scale=np.ones(n_sensors), y_shift=np.zeros(d),
                y_scale=np.ones(d), g_shift=np.zeros(n_outputs), g_scale=np.ones(n_outputs))
