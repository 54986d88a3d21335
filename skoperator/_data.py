"""Checks and statistics for the (U, coords, G) data, numpy in and out.

Large targets (``np.memmap`` or arrays over ``STREAM_BYTES``) are never copied
whole: they are checked and summarised in row chunks and gathered batch by
batch during training. So are targets held out of core: an HDF5 dataset
(``h5py.Dataset``), a Zarr array (v2 or v3) or a Dask array, whatever their
size, read through :class:`StreamedArray` (the sampled (row, column) pairs
of HDF5 and Zarr chunk by chunk, by :class:`~skoperator._chunks.ChunkReader`).
Those libraries are imported by nobody here: such an array is recognised by
the module of its type.

Inputs ``U`` (n_functions x n_sensors) are small next to ``G``: one given as
such an array is loaded whole (row chunk by row chunk) by
:func:`materialize_inputs`; ``G`` never is.
"""

import numpy as np
from sklearn.utils import check_array

from ._chunks import ChunkReader

STREAM_BYTES = 1 << 30  # in-memory targets larger than this stay where they are
MEMMAP_BYTES = 1 << 26  # memory-mapped targets larger than this are never loaded
_CHUNK_ELEMENTS = 1 << 24


def out_of_core_kind(array, name="an array"):
    """``"hdf5"``, ``"zarr"`` or ``"dask"`` for an array of those libraries, else None.

    Recognised by the module of the type (or of a base class), so that
    h5py, zarr and dask are never imported here. ``name`` (``"U"``,
    ``"G"``...) names a closed HDF5 dataset in the error.
    """
    for cls in type(array).__mro__:
        module = getattr(cls, "__module__", None) or ""
        root = module.split(".", 1)[0]
        if root == "h5py" and cls.__name__ == "Dataset":
            if not array.id.valid:  # the file was closed
                raise ValueError(f"{name} is an HDF5 dataset whose file is closed, which cannot "
                                 "be read; keep the file open while fit, predict or score "
                                 "reads it.")
            return "hdf5"
        if root == "zarr" and cls.__name__ == "Array":
            return "zarr"
        if module.startswith("dask.array") and cls.__name__ == "Array":
            return "dask"
    return None


def is_streamed(G):
    """Whether G should be gathered per batch instead of copied to a tensor."""
    if isinstance(G, (RowView, StreamedArray)) or out_of_core_kind(G, "G") is not None:
        return True
    if not isinstance(G, np.ndarray):
        return False
    return G.nbytes > (MEMMAP_BYTES if isinstance(G, np.memmap) else STREAM_BYTES)


def row_chunks(n_rows, n_cols):
    """Row slices whose blocks hold at most ~16M elements."""
    step = max(1, _CHUNK_ELEMENTS // max(n_cols, 1))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def check_targets(G, n_functions, allow_unobserved=False):
    """Validate G of shape (n_functions, n_points); NaN marks missing values.

    With ``allow_unobserved`` (physics-informed training), functions and
    points without any observed value are allowed: G may be all NaN.

    Returns
    -------
    G : ndarray of shape (n_functions, n_points)
        float64 copy for in-memory data, the original array when streamed
        (a memmap), a :class:`StreamedArray` over an HDF5 dataset, a Zarr
        array or a Dask array (never loaded whole: checked in row chunks).
    has_missing : bool
    """
    if G is None:
        raise ValueError(
            "DeepONetRegressor requires y to be passed, but the target y is None. "
            "Pass G, an array of shape (n_functions, n_points)."
        )
    if not is_streamed(G):
        try:
            G = check_array(G, ensure_2d=False, dtype=np.float64, ensure_min_features=0,
                            ensure_all_finite="allow-nan", input_name="G")
        except (TypeError, ValueError) as exc:
            text = str(exc).splitlines()[0][:200]  # not the array sklearn may print
            raise ValueError(
                f"G (sklearn's y) could not be read as an array of real numbers: {text} G must "
                "be an array (or an HDF5 dataset, Zarr or Dask array: f['G'], not the file or "
                "group) of shape (n_functions, n_points), NaN marking a missing value.") from exc
    else:
        if out_of_core_kind(G) is not None:  # HDF5, Zarr, Dask: read in row blocks
            G = StreamedArray(G)
        if G.dtype.kind not in "fiub":  # bools as numbers, as in memory
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
            if empty.size and not allow_unobserved:
                raise ValueError(
                    f"Function {rows.start + empty[0]} (row of G) has no observed value: "
                    "every entry is NaN. Drop that row from U and G."
                )
        observed_cols |= ~nan.all(axis=0)
    if has_missing and not observed_cols.all() and not allow_unobserved:
        col = int(np.flatnonzero(~observed_cols)[0])
        raise ValueError(
            f"Column {col} of G is missing (NaN) for every function; drop that column "
            "from G and the matching row from coords."
        )
    return G, has_missing


def data_rows(G, rows):
    """Rows of G without copying a streamed array (a lazy row view)."""
    if is_streamed(G):
        if out_of_core_kind(G) is not None:
            G = StreamedArray(G)
        return RowView(G, rows)
    return G[rows]


def row_view(G):
    """A streamed G as a :class:`RowView` (every row; itself if it is one)."""
    return G if isinstance(G, RowView) else RowView(G, np.arange(len(G)))


class RowView:
    """Row subset of a large array, read only when indexed."""

    ndim = 2

    def __init__(self, array, rows):
        self.array, self.rows = array, np.asarray(rows)
        self.shape = (len(self.rows), array.shape[1])
        self.dtype = array.dtype

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        if isinstance(key, tuple):
            r, c = key
            return self.array[self.rows[r], c]
        return self.array[self.rows[key]]


def _row_index(key, n_rows):
    """A row key (int array, list or boolean mask) as an int64 array in [0, n_rows)."""
    rows = np.asarray(key)
    if rows.dtype == bool:
        if rows.shape != (n_rows,):
            raise IndexError(f"boolean row mask of shape {rows.shape} for {n_rows} rows")
        return np.flatnonzero(rows)
    if rows.size == 0:
        return rows.astype(np.int64)
    if not np.issubdtype(rows.dtype, np.integer):
        raise IndexError(f"rows must be integers; got dtype {rows.dtype}")
    rows = rows.astype(np.int64, copy=False)
    if rows.min() < -n_rows or rows.max() >= n_rows:
        raise IndexError(f"row index out of range for {n_rows} rows")
    return np.where(rows < 0, rows + n_rows, rows)


class StreamedArray:
    """A 2-D HDF5 dataset, Zarr array or Dask array, read in row blocks on demand.

    Nothing is read when it is made: every ``__getitem__`` reads the rows it
    needs, in increasing order, in blocks of at most about ``_CHUNK_ELEMENTS``
    entries (16 rows of a million columns: 64 MiB of float32), and picks the
    columns from each block in numpy, so that one read costs at most one
    block beyond its result. A Dask array is computed on those rows only.

    Supports the indexing of the training loop and of :class:`RowView`:

    - ``A[i]`` (one row), ``A[start:stop:step]`` and ``A[rows]`` (an int
      array or list, in any order, with repeats; a boolean mask), each giving
      full rows;
    - ``A[rows_key, cols]`` with ``cols`` a slice or an int (numpy then
      indexes the columns of the rows);
    - ``A[r, c]`` with two int arrays that broadcast together, as numpy's
      fancy indexing: ``A[r[:, None], c]`` with ``c`` of shape (m,), (1, m)
      or (batch, m), and ``A[r[:, None, None], idx]`` with ``idx`` of shape
      (1, m, K) or (batch, m, K).

    Results are numpy arrays of the source's dtype. Pairs (``A[r, c]``, what
    a training step reads) of an HDF5 dataset or a Zarr array are read
    chunk by chunk by a :class:`~skoperator._chunks.ChunkReader`: only the
    chunks that hold a pair, each once, and straight from the file's bytes
    for an uncompressed HDF5 dataset opened read-only.

    Parameters
    ----------
    array : h5py.Dataset, zarr.Array or dask.array.Array
        Two-dimensional (other dimensions are accepted by
        :func:`materialize_inputs`, but not by the fit).
    """

    def __init__(self, array):
        reader = None
        if isinstance(array, StreamedArray):
            array, reader = array.array, array._reader
        kind = out_of_core_kind(array)
        if kind is None:
            raise TypeError("StreamedArray wraps an h5py.Dataset, a zarr.Array or a "
                            f"dask.array.Array; got {type(array).__name__}.")
        shape = tuple(array.shape)
        if any(isinstance(s, float) and not np.isfinite(s) for s in shape):
            raise ValueError(
                f"The Dask array has unknown dimensions {shape}; call "
                "array.compute_chunk_sizes() (or pass known chunks) first."
            )
        self.array, self.kind, self._reader = array, kind, reader
        self.shape = tuple(int(s) for s in shape)
        self.ndim = len(self.shape)
        try:
            self.dtype = np.dtype(array.dtype)
        except TypeError as exc:
            raise ValueError(f"G must hold real numbers; got dtype {array.dtype}.") from exc

    def __len__(self):
        return self.shape[0]

    @property
    def reader(self):
        """The :class:`~skoperator._chunks.ChunkReader` of pairs (HDF5, Zarr), made once."""
        if self._reader is None:
            self._reader = ChunkReader(self.array, self.kind)
        return self._reader

    def __repr__(self):
        return f"StreamedArray({self.kind}, shape={self.shape}, dtype={self.dtype})"

    @property
    def nbytes(self):
        return int(np.prod(self.shape)) * self.dtype.itemsize

    @property
    def block_rows(self):
        """Rows read per block."""
        per_row = int(np.prod(self.shape[1:], dtype=np.int64)) if self.ndim > 1 else 1
        return max(1, _CHUNK_ELEMENTS // max(per_row, 1))

    def _read_slice(self, start, stop):
        """Rows ``start:stop`` (step 1) as an ndarray, in one read."""
        block = self.array[start:stop]
        if self.kind == "dask":
            block = block.compute()
        return np.asarray(block)

    def _read_sorted(self, rows):
        """Rows ``rows`` (increasing, unique, at most one block) as an ndarray."""
        if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
            return self._read_slice(int(rows[0]), int(rows[-1]) + 1)
        if self.kind == "dask":  # one graph: Dask computes the chunks of these rows only
            return np.asarray(self.array[rows].compute())
        # contiguous runs as slices: h5py's point lists are slow (and must increase),
        # zarr's orthogonal selection by an int array is many times slower than slices
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        starts = np.concatenate([[0], breaks])
        stops = np.concatenate([breaks, [len(rows)]])
        out = np.empty((len(rows),) + self.shape[1:], dtype=self.dtype)
        for a, b in zip(starts, stops):
            out[a:b] = self._read_slice(int(rows[a]), int(rows[b - 1]) + 1)
        return out

    def _blocks(self, unique_rows):
        """``(lo, hi, block)``: rows ``unique_rows[lo:hi]`` read as one block."""
        step = self.block_rows
        for lo in range(0, len(unique_rows), step):
            hi = min(lo + step, len(unique_rows))
            yield lo, hi, self._read_sorted(unique_rows[lo:hi])

    def _take_rows(self, rows):
        """Full rows ``rows`` (any order, repeats allowed)."""
        out = np.empty((len(rows),) + self.shape[1:], dtype=self.dtype)
        if len(rows) == 0:
            return out
        unique, inverse = np.unique(rows, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(unique) + 1))
        for lo, hi, block in self._blocks(unique):
            pos = order[bounds[lo]:bounds[hi]]
            out[pos] = block[inverse[pos] - lo]
        return out

    def _take_pairs(self, r, c):
        """Numpy's ``A[r, c]`` for two broadcasting int arrays."""
        shape = np.broadcast_shapes(np.shape(r), np.shape(c))
        out = np.empty(shape, dtype=self.dtype)
        if out.size == 0:
            return out
        r = _row_index(r, self.shape[0])
        n_cols = self.shape[1]
        c = np.asarray(c)
        if not np.issubdtype(c.dtype, np.integer):
            raise IndexError(f"columns must be integers; got dtype {c.dtype}")
        if c.size and (c.min() < -n_cols or c.max() >= n_cols):
            raise IndexError(f"column index out of range for {n_cols} columns")
        if self.kind != "dask":  # HDF5, Zarr: only the chunks that hold a pair
            flat_r = np.broadcast_to(r, shape).ravel()
            flat_c = np.broadcast_to(c, shape).astype(np.int64, copy=False).ravel()
            flat_c = np.where(flat_c < 0, flat_c + n_cols, flat_c)
            out.reshape(-1)[:] = self.reader.take(flat_r, flat_c)
            return out
        unique, inverse = np.unique(r, return_inverse=True)
        inverse = np.broadcast_to(inverse.reshape(r.shape), shape).ravel()
        cols = np.broadcast_to(c, shape).ravel()
        flat = out.reshape(-1)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(unique) + 1))
        for lo, hi, block in self._blocks(unique):
            pos = order[bounds[lo]:bounds[hi]]
            flat[pos] = block[inverse[pos] - lo, cols[pos]]
        return out

    def _rows(self, key):
        """Full rows for a row key (int, slice or array)."""
        n = self.shape[0]
        if isinstance(key, (int, np.integer)):
            i = int(key)
            if not -n <= i < n:
                raise IndexError(f"row {i} out of range for {n} rows")
            i %= n
            return self._read_slice(i, i + 1)[0]
        if isinstance(key, slice):
            start, stop, step = key.indices(n)
            if step == 1:
                return self._read_slice(start, max(start, stop))
            return self._take_rows(np.arange(start, stop, step))
        if key is Ellipsis:
            return self._read_slice(0, n)
        return self._take_rows(_row_index(key, n))

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            return self._rows(key)
        if len(key) == 1:
            return self._rows(key[0])
        if len(key) != 2 or self.ndim != 2:
            raise IndexError("StreamedArray takes a row key, or a (rows, columns) pair")
        r, c = key
        if isinstance(c, (slice, int, np.integer)) or c is Ellipsis:
            block = self._rows(r)
            return block[..., c] if c is not Ellipsis else block
        if isinstance(r, (slice, int, np.integer)) or r is Ellipsis:  # numpy: rows, then columns
            return self._rows(r)[..., c]
        return self._take_pairs(np.asarray(r), c)

    def __array__(self, dtype=None, copy=None):
        """The whole array (read in row blocks): for small data only."""
        out = np.empty(self.shape, dtype=self.dtype)
        for lo in range(0, self.shape[0], self.block_rows):
            hi = min(lo + self.block_rows, self.shape[0])
            out[lo:hi] = self._read_slice(lo, hi)
        return out if dtype is None else out.astype(dtype, copy=False)


def materialize_inputs(U):
    """Load inputs held in an HDF5 dataset, a Zarr array or a Dask array as numpy.

    ``U`` (n_functions x n_sensors, or a grid per function) is small next to
    ``G`` and is used whole by every step, so it is loaded into memory, row
    chunk by row chunk, keeping its dtype. ``G`` is never loaded this way: it
    stays where it is and is read per batch (see :class:`StreamedArray`).
    Anything else (ndarray, memmap, list, DataFrame...) is returned as it is.

    Parameters
    ----------
    U : array-like

    Returns
    -------
    U : ndarray, or the input unchanged
    """
    if isinstance(U, StreamedArray) or out_of_core_kind(U, "U") is not None:
        if out_of_core_kind(U) == "dask" and any(
                isinstance(s, float) and not np.isfinite(s) for s in U.shape):
            return np.asarray(U.compute())
        return np.asarray(StreamedArray(U))
    return U
