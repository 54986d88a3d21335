"""Targets held out of core: HDF5 datasets, Zarr arrays and Dask arrays.

Such a ``G`` is always streamed (never loaded whole): ``check_targets`` wraps
it in ``StreamedArray``, which reads the rows an index needs in increasing
order, in bounded blocks, and picks columns in numpy; (row, column) pairs of
HDF5 and Zarr are read chunk by chunk (``skoperator._chunks``), and a fit
reads the next batch's pairs in a background thread (``skoperator._prefetch``).
``U`` given as such an array is loaded by ``materialize_inputs``.
"""

import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from skoperator import _data
from skoperator._data import (
    RowView,
    StreamedArray,
    check_targets,
    data_rows,
    is_streamed,
    materialize_inputs,
)
from skoperator._scaling import target_moments
from skoperator.callbacks import Checkpoint

N_FUNCTIONS, N_COLUMNS = 60, 26
FORMATS = ["hdf5", "zarr", "dask"]


@pytest.fixture
def G_ref():
    """float32 targets with a few missing entries (no row or column all NaN)."""
    rng = np.random.default_rng(0)
    G = rng.normal(1.5, 2.0, size=(N_FUNCTIONS, N_COLUMNS)).astype(np.float32)
    G[rng.uniform(size=G.shape) < 0.1] = np.nan
    G[:, 0] = 1.0
    return G


def write_hdf5(path, G, name="G"):
    h5py = pytest.importorskip("h5py")
    f = h5py.File(path, "w")
    f.create_dataset(name, data=G, chunks=(1,) + G.shape[1:])
    f.close()
    return h5py.File(path, "r")[name]


def write_zarr(path, G):
    zarr = pytest.importorskip("zarr")
    chunks = (3,) + G.shape[1:]
    if int(zarr.__version__.split(".")[0]) >= 3:
        z = zarr.create_array(store=str(path), shape=G.shape, chunks=chunks, dtype=G.dtype)
    else:
        z = zarr.open_array(str(path), mode="w", shape=G.shape, chunks=chunks, dtype=G.dtype)
    z[...] = G
    return zarr.open_array(str(path), mode="r")


def make_dask(G):
    da = pytest.importorskip("dask.array")
    return da.from_array(G, chunks=(7,) + G.shape[1:])


def out_of_core(fmt, G, tmp_path):
    """``G`` written as ``fmt`` (read-only where the format has modes)."""
    if fmt == "hdf5":
        return write_hdf5(tmp_path / "G.h5", G)
    if fmt == "zarr":
        return write_zarr(tmp_path / "G.zarr", G)
    return make_dask(G)


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 4 rows (104 entries), so that every read below spans several blocks."""
    monkeypatch.setattr(_data, "_CHUNK_ELEMENTS", 4 * N_COLUMNS)


# ---------------------------------------------------------------- checks
@pytest.mark.parametrize("fmt", FORMATS)
def test_check_targets_wraps_and_matches_the_in_memory_array(fmt, G_ref, tmp_path,
                                                             small_blocks):
    A = out_of_core(fmt, G_ref, tmp_path)
    assert is_streamed(A)
    S, has_missing = check_targets(A, N_FUNCTIONS)
    assert isinstance(S, StreamedArray) and S.kind == fmt and is_streamed(S)
    assert (S.shape, S.ndim, len(S), S.dtype) == (G_ref.shape, 2, N_FUNCTIONS, np.float32)
    assert S.nbytes == G_ref.nbytes
    G_np, missing_np = check_targets(G_ref, N_FUNCTIONS)
    assert has_missing is missing_np is True
    np.testing.assert_array_equal(np.asarray(S), G_ref)
    # the adapter itself is accepted again, unchanged
    again, _ = check_targets(S, N_FUNCTIONS)
    assert again is S
    complete = tmp_path / "complete"
    complete.mkdir()
    _, has_missing = check_targets(out_of_core(fmt, np.nan_to_num(G_ref), complete),
                                   N_FUNCTIONS)
    assert has_missing is False


@pytest.mark.parametrize("fmt", FORMATS)
def test_check_targets_errors_as_for_a_memmap(fmt, G_ref, tmp_path, small_blocks):
    def checked(G, n=N_FUNCTIONS):
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        folder.mkdir()
        return check_targets(out_of_core(fmt, G, folder), n)

    bad = G_ref.copy()
    bad[41, 3] = np.inf
    with pytest.raises(ValueError, match="G contains infinity"):
        checked(bad)
    bad = G_ref.copy()
    bad[37] = np.nan
    with pytest.raises(ValueError, match="Function 37 .* has no observed value"):
        checked(bad)
    bad = G_ref.copy()
    bad[:, 5] = np.nan
    with pytest.raises(ValueError, match="Column 5 of G is missing"):
        checked(bad)
    with pytest.raises(ValueError, match="U has 59 rows .* G has 60"):
        checked(G_ref, 59)
    with pytest.raises(ValueError, match="G must be 2-D"):
        checked(G_ref[:, 0], N_FUNCTIONS)
    with pytest.raises(ValueError, match="G must hold real numbers"):
        checked(G_ref.astype(np.complex64))


def test_a_closed_hdf5_file_is_named(tmp_path):
    h5py = pytest.importorskip("h5py")
    from skoperator import DeepONetRegressor

    rng = np.random.default_rng(0)
    U, G = rng.normal(size=(10, 4)), rng.normal(size=(10, 6))
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f["G"], f["U"] = G, U
    f = h5py.File(tmp_path / "data.h5", "r")
    G_ds, U_ds = f["G"], f["U"]
    est = DeepONetRegressor(n_basis=4, max_iter=1, tol=None).fit(U, G_ds)
    f.close()
    checkpointed = DeepONetRegressor(n_basis=4, max_iter=1, tol=None,
                                     callbacks=[Checkpoint(tmp_path / "ckpt")])
    for call, name in ((lambda: est.fit(U, G_ds), "G"), (lambda: est.score(U, G_ds), "[Gy]"),
                       (lambda: est.predict(U_ds), "U"),
                       (lambda: checkpointed.fit(U, G_ds), "G")):
        with pytest.raises(ValueError, match=f"^{name} is an HDF5 dataset whose file is closed"):
            call()


def test_unknown_dask_shape_is_explained(G_ref):
    da = pytest.importorskip("dask.array")
    x = da.from_array(np.nan_to_num(G_ref), chunks=(7, N_COLUMNS))
    x = x[x[:, 1] > -100]  # unknown number of rows
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        check_targets(x, N_FUNCTIONS)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_moments_match_the_in_memory_array(fmt, n_outputs, G_ref, tmp_path, small_blocks):
    S, _ = check_targets(out_of_core(fmt, G_ref, tmp_path), N_FUNCTIONS)
    expected = target_moments(G_ref.astype(np.float64), n_outputs)
    for got, want in zip(target_moments(S, n_outputs), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    rows = np.array([50, 3, 3, 17, 0, 44, 21])
    for got, want in zip(target_moments(data_rows(S, rows), n_outputs),
                         target_moments(G_ref[rows].astype(np.float64), n_outputs)):
        np.testing.assert_allclose(got, want, rtol=1e-12)


# -------------------------------------------------------------- indexing
def _keys(rng):
    """Every key of the training loop, RowView and the inference helpers, numpy style."""
    rows = rng.integers(0, N_FUNCTIONS, size=19)  # unsorted, with repeats
    rows[3] = rows[11]
    m, K = 5, 2
    per_row = rng.integers(0, N_COLUMNS, size=(19, m))
    shared = rng.integers(0, N_COLUMNS, size=m)
    idx3 = rng.integers(0, N_COLUMNS // K, size=(19, m, 1)) + np.arange(K) * (N_COLUMNS // K)
    return {
        "int": 7,
        "negative int": -2,
        "rows": rows,
        "rows list": list(rows[:4]),
        "rows sorted": np.sort(np.unique(rows)),
        "negative rows": -rows[:6] - 1,
        "mask": rng.uniform(size=N_FUNCTIONS) < 0.3,
        "empty rows": np.array([], dtype=np.int64),
        "slice": slice(5, 23),
        "slice all": slice(None),
        "slice step": slice(40, 2, -3),
        "slice past end": slice(55, 80),
        "pairs shared (m,)": (rows[:, None], shared),
        "pairs shared (1, m)": (rows[:, None], shared[None]),
        "pairs per row": (rows[:, None], per_row),
        "pairs 3-D shared": (rows[:, None, None], idx3[:1]),
        "pairs 3-D per row": (rows[:, None, None], idx3),
        "pairs slice rows": (slice(10, 29), per_row),
        "rows, column slice": (rows, slice(3, 9)),
        "rows, column int": (rows, 4),
        "int, columns": (9, shared),
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_indexing_matches_numpy(fmt, G_ref, tmp_path, small_blocks):
    S, _ = check_targets(out_of_core(fmt, G_ref, tmp_path), N_FUNCTIONS)
    for name, key in _keys(np.random.default_rng(1)).items():
        got, want = S[key], G_ref[key]
        assert isinstance(got, np.ndarray) and got.dtype == np.float32, name
        assert got.shape == want.shape, name
        np.testing.assert_array_equal(got, want, err_msg=name)
    with pytest.raises(IndexError):
        S[np.array([0, N_FUNCTIONS])]
    with pytest.raises(IndexError):
        S[np.array([[1], [2]]), np.array([0, N_COLUMNS])]
    with pytest.raises(IndexError):
        S[N_FUNCTIONS]


@pytest.mark.parametrize("fmt", FORMATS)
def test_row_view_over_the_adapter_gathers_like_the_training_loop(fmt, G_ref, tmp_path,
                                                                   small_blocks):
    # TrainingData.targets indexes a RowView of the training rows with these keys
    rng = np.random.default_rng(2)
    train = rng.permutation(N_FUNCTIONS)[:45]
    A = out_of_core(fmt, G_ref, tmp_path)
    view = data_rows(A, train)
    assert isinstance(view, RowView) and isinstance(view.array, StreamedArray)
    assert is_streamed(view) and view.shape == (45, N_COLUMNS) and len(view) == 45
    G_train = G_ref[train]
    n_points, K = N_COLUMNS // 2, 2
    offsets = np.arange(K) * n_points
    r = rng.integers(0, 45, size=16)
    c_shared = rng.integers(0, N_COLUMNS, size=6)
    c_rows = rng.integers(0, N_COLUMNS, size=(16, 6))
    idx_shared = rng.integers(0, n_points, size=6)[:, None] + offsets  # (m, K)
    idx_rows = rng.integers(0, n_points, size=(16, 6))[..., None] + offsets  # (batch, m, K)
    for key in [r, slice(0, 30), (r[:, None], c_shared[None]), (r[:, None], c_rows),
                (r[:, None, None], idx_shared[None]), (r[:, None, None], idx_rows)]:
        np.testing.assert_array_equal(view[key], G_train[key])
    # validation_score reads G[rows] with row slices of the RowView
    np.testing.assert_array_equal(np.asarray(view[slice(0, 45)], dtype=np.float64),
                                  G_train.astype(np.float64))


def test_memmap_path_is_unchanged(G_ref, tmp_path, monkeypatch):
    path = tmp_path / "G.dat"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=G_ref.shape)
    mm[:] = G_ref
    mm.flush()
    G_mm = np.memmap(path, dtype=np.float32, mode="r", shape=G_ref.shape)
    assert not is_streamed(G_mm)  # small: copied as before
    monkeypatch.setattr(_data, "MEMMAP_BYTES", 1000)
    assert is_streamed(G_mm)
    checked, has_missing = check_targets(G_mm, N_FUNCTIONS)
    assert checked is G_mm and has_missing
    assert data_rows(G_mm, np.arange(3)).array is G_mm
    assert not is_streamed(G_ref) and not is_streamed([[1.0]])


# ------------------------------------------------------------- laziness
@pytest.fixture
def h5_reads(monkeypatch):
    """Every selection read from an h5py dataset."""
    h5py = pytest.importorskip("h5py")
    reads = []
    original = h5py.Dataset.__getitem__

    def spy(self, key, *args, **kwargs):
        reads.append(key)
        return original(self, key, *args, **kwargs)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    return reads


def _rows_read(key):
    assert isinstance(key, slice) and key.step in (None, 1), key
    return range(key.start, key.stop)


def test_hdf5_reads_only_the_needed_rows_in_bounded_blocks(G_ref, tmp_path, small_blocks,
                                                           h5_reads):
    ds = write_hdf5(tmp_path / "G.h5", G_ref)
    S, _ = check_targets(ds, N_FUNCTIONS)
    # the check reads every row once, a chunk of rows at a time
    assert h5_reads and all(len(_rows_read(k)) <= 4 for k in h5_reads)
    assert sorted(i for k in h5_reads for i in _rows_read(k)) == list(range(N_FUNCTIONS))
    h5_reads.clear()
    rows = np.array([41, 3, 40, 3, 17, 39, 41, 18, 2])
    np.testing.assert_array_equal(S[rows], G_ref[rows])
    # full rows: each distinct row once, in increasing order, runs of one block at most
    assert [i for k in h5_reads for i in _rows_read(k)] == sorted(set(rows.tolist()))
    assert all(len(_rows_read(k)) <= 4 for k in h5_reads)


def test_direct_reads_come_from_the_file_h5py_has_open(G_ref, tmp_path, monkeypatch):
    # The file was mapped again by its name: relative to a folder left since, or
    # replaced on disk (os.replace), the batches came from another file, silently.
    h5py = pytest.importorskip("h5py")
    for folder, values in (("run1", G_ref), ("run2", -G_ref)):
        (tmp_path / folder).mkdir()
        with h5py.File(tmp_path / folder / "G.h5", "w") as f:
            f.create_dataset("G", data=values)
    monkeypatch.chdir(tmp_path / "run1")
    relative = h5py.File("G.h5", "r")["G"]
    monkeypatch.chdir(tmp_path / "run2")
    with h5py.File(tmp_path / "new.h5", "w") as f:
        f.create_dataset("G", data=G_ref + 100)
    replaced = h5py.File(tmp_path / "run2" / "G.h5", "r")["G"]
    (tmp_path / "new.h5").replace(tmp_path / "run2" / "G.h5")
    rows = np.array([41, 3, 40, 17])
    cols = np.random.default_rng(3).integers(0, N_COLUMNS, size=(len(rows), 4))
    for ds, expected in ((relative, G_ref), (replaced, -G_ref)):
        S = StreamedArray(ds)
        assert S.reader.direct
        np.testing.assert_array_equal(S[rows[:, None], cols], expected[rows[:, None], cols])


def test_uncompressed_hdf5_pairs_are_read_from_the_file_bytes(G_ref, tmp_path, h5_reads):
    ds = write_hdf5(tmp_path / "G.h5", G_ref)
    S = StreamedArray(ds)
    rows = np.array([41, 3, 40, 3, 17, 39, 41, 18, 2])
    cols = np.random.default_rng(3).integers(0, N_COLUMNS, size=(len(rows), 4))
    np.testing.assert_array_equal(S[rows[:, None], cols], G_ref[rows[:, None], cols])
    assert S.reader.direct and h5_reads == []  # no HDF5 read: the sampled bytes only
    view = data_rows(ds, np.arange(20, 30))
    np.testing.assert_array_equal(view[np.array([[0], [9]]), np.array([[1, 2]])],
                                  G_ref[[[20], [29]], [[1, 2]]])
    assert h5_reads == []


def _chunk_of(key, chunks):
    """The chunk a box read lies in (asserting that it lies in one)."""
    (r, c), (cr, cc) = key, chunks
    assert r.start // cr == (r.stop - 1) // cr and c.start // cc == (c.stop - 1) // cc, key
    return r.start // cr, c.start // cc


@pytest.mark.parametrize("writable", [False, True])
def test_hdf5_pairs_read_each_touched_chunk_once(G_ref, tmp_path, h5_reads, writable):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "G.h5", "w") as f:
        f.create_dataset("G", data=G_ref, chunks=(4, 8),
                         compression=None if writable else "gzip")
    ds = h5py.File(tmp_path / "G.h5", "r+" if writable else "r")["G"]
    S = StreamedArray(ds)
    assert not S.reader.direct  # compressed, or a file open for writing: through HDF5
    rows = np.array([41, 3, 40, 3, 17, 39, 41, 18, 2, 59])
    cols = np.random.default_rng(3).integers(-N_COLUMNS, N_COLUMNS, size=(len(rows), 5))
    cols[-1] = N_COLUMNS - 1  # the last, partial column chunk
    np.testing.assert_array_equal(S[rows[:, None], cols], G_ref[rows[:, None], cols])
    touched = [_chunk_of(k, (4, 8)) for k in h5_reads]
    pairs = np.broadcast_arrays(rows[:, None], cols % N_COLUMNS)
    expected = sorted(set(zip((pairs[0] // 4).ravel().tolist(),
                              (pairs[1] // 8).ravel().tolist())))
    assert touched == expected  # only chunks with a pair, each once, in order


def test_zarr_reads_only_the_needed_rows(G_ref, tmp_path, monkeypatch):
    z = write_zarr(tmp_path / "G.zarr", G_ref)
    cls = type(z)
    reads = []
    original = cls.get_coordinate_selection

    def spied(self, selection, *args, **kwargs):
        reads.append(selection)
        return original(self, selection, *args, **kwargs)

    monkeypatch.setattr(cls, "get_coordinate_selection", spied)
    monkeypatch.setattr(cls, "get_orthogonal_selection", None)  # full rows are never read
    monkeypatch.setattr(cls, "get_basic_selection", None)
    S = StreamedArray(z)
    assert reads == []
    rows = np.array([41, 3, 40, 3, 17, 39, 41, 18, 2])
    np.testing.assert_array_equal(S[rows[:, None], np.array([[0, 5]])],
                                  G_ref[rows[:, None], np.array([[0, 5]])])
    assert len(reads) == 1
    r, c = reads[0]
    assert r.tolist() == sorted(r.tolist()) and len(r) == len(rows) * 2  # chunks of 3 rows


class RecordingSource:
    """An array-like that records the row ranges read from it (Dask's source)."""

    def __init__(self, G):
        self.G, self.shape, self.dtype, self.ndim = G, G.shape, G.dtype, G.ndim
        self.rows = []

    def __getitem__(self, key):
        r = key[0] if isinstance(key, tuple) else key
        block = self.G[key]
        if np.size(block):
            self.rows.append(range(*r.indices(self.shape[0])))
        return block


def test_dask_computes_only_the_needed_rows(G_ref, small_blocks):
    da = pytest.importorskip("dask.array")
    source = RecordingSource(G_ref)
    x = da.from_array(source, chunks=(5, N_COLUMNS), asarray=True, meta=np.empty((0, 0),
                                                                              G_ref.dtype))
    S = StreamedArray(x)
    source.rows.clear()
    rows = np.array([41, 3, 40, 3, 17])
    np.testing.assert_array_equal(S[rows[:, None], np.array([[1, 2, 3]])],
                                  G_ref[rows[:, None], np.array([[1, 2, 3]])])
    # only the Dask chunks holding rows 3, 17, 40, 41 were computed
    assert sorted((r.start, r.stop) for r in source.rows) == [(0, 5), (15, 20), (40, 45)]
    source.rows.clear()
    check_targets(x, N_FUNCTIONS)
    assert max(len(r) for r in source.rows) <= 5  # never the whole array at once


# ---------------------------------------------------------------- inputs
@pytest.mark.parametrize("fmt", FORMATS)
def test_materialize_inputs_loads_u_as_numpy(fmt, tmp_path, small_blocks):
    rng = np.random.default_rng(4)
    U = rng.normal(size=(N_FUNCTIONS, 9))
    got = materialize_inputs(out_of_core(fmt, U, tmp_path))
    assert type(got) is np.ndarray and got.dtype == U.dtype
    np.testing.assert_array_equal(got, U)
    grids = rng.normal(size=(N_FUNCTIONS, 6, 5)).astype(np.float32)  # a grid per function
    folder = tmp_path / "grids"
    folder.mkdir()
    np.testing.assert_array_equal(materialize_inputs(out_of_core(fmt, grids, folder)), grids)
    for other in (U, [[1.0, 2.0]], np.memmap(tmp_path / "U.dat", mode="w+", shape=(3, 2))):
        assert materialize_inputs(other) is other


def test_materialize_inputs_reads_hdf5_in_row_chunks(tmp_path, small_blocks, h5_reads):
    U = np.random.default_rng(5).normal(size=(N_FUNCTIONS, N_COLUMNS))
    np.testing.assert_array_equal(materialize_inputs(write_hdf5(tmp_path / "U.h5", U)), U)
    assert len(h5_reads) == N_FUNCTIONS // 4
    assert all(len(_rows_read(k)) <= 4 for k in h5_reads)


def test_materialize_inputs_with_unknown_dask_shape():
    da = pytest.importorskip("dask.array")
    x = da.from_array(np.arange(12.0).reshape(6, 2), chunks=(2, 2))
    x = x[x[:, 0] > 3]
    np.testing.assert_array_equal(materialize_inputs(x), [[4.0, 5.0], [6.0, 7.0],
                                                          [8.0, 9.0], [10.0, 11.0]])


def test_recognising_arrays_imports_none_of_their_libraries():
    # _data and its reader (numpy and scikit-learn): plain arrays import nothing new
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(Path(_data.__file__).parents[1])!r})\n"
        "import skoperator._data as d\n"
        "import numpy as np\n"
        "assert not d.is_streamed(np.zeros((3, 3))) and d.out_of_core_kind([1]) is None\n"
        "d.materialize_inputs(np.zeros(2)); d.check_targets(np.ones((2, 2)), 2)\n"
        "bad = [m for m in ('h5py', 'zarr', 'dask') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------ end to end
@pytest.mark.parametrize("fmt", FORMATS)
def test_fit_on_an_out_of_core_g_predicts_as_on_numpy(fmt, tmp_path):
    from skoperator import DeepONetRegressor
    from skoperator.datasets import make_antiderivative

    U, Y, G = make_antiderivative(80, n_points=30, random_state=0)
    G = G.astype(np.float32)
    A = out_of_core(fmt, G, tmp_path)
    params = dict(coords=Y, n_eval=5, max_iter=3, tol=None, random_state=0)
    on_numpy = DeepONetRegressor(**params).fit(U, G)
    on_disk = DeepONetRegressor(**params).fit(U, A)
    np.testing.assert_allclose(on_disk.predict(U[:10]), on_numpy.predict(U[:10]),
                               rtol=1e-5, atol=1e-6)
    if fmt == "hdf5":
        assert A.id.valid  # still open, still the caller's


# ------------------------------------------------------- POD of a streamed G
def _memmap(G, path):
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=G.shape)
    mm[:] = G
    mm.flush()
    return np.memmap(path, dtype=np.float32, mode="r", shape=G.shape)


@pytest.mark.parametrize("n_outputs, missing, n_functions, n_points", [
    (1, False, 60, 20), (2, True, 60, 20),
    # more points than rows (functions x fields): the modes from the rows' Gram matrix
    # (a space-time output of 163,840 points once asked for a 200 GiB points' Gram)
    (1, False, 14, 40), (2, True, 11, 30)])
def test_pod_trunk_on_a_streamed_g_reads_it_in_row_chunks(tmp_path, monkeypatch, n_outputs,
                                                          missing, n_functions, n_points):
    """Contract 3: a streamed G is never loaded whole, also with a POD trunk."""
    from skoperator import DeepONetRegressor
    from skoperator.datasets import make_antiderivative

    U, Y, G = make_antiderivative(n_functions, n_points=n_points, random_state=0)
    G = np.hstack([G, np.sin(G)])[:, :n_points * n_outputs].astype(np.float32)
    if missing:
        G[np.random.default_rng(0).uniform(size=G.shape) < 0.05] = np.nan
        G[:, 0] = 0.5
    G_mm = _memmap(G, tmp_path / "G.dat")
    monkeypatch.setattr(_data, "MEMMAP_BYTES", 1000)  # streamed: read per batch
    monkeypatch.setattr(_data, "_CHUNK_ELEMENTS", 4 * G.shape[1])  # blocks of 4 rows
    reads = []
    getitem = RowView.__getitem__

    def spy(self, key):
        out = getitem(self, key)
        reads.append(len(out))
        return out
    monkeypatch.setattr(RowView, "__getitem__", spy)
    params = dict(coords=Y, trunk="pod", n_basis=6, n_outputs=n_outputs, batch_size=4,
                  branch="mlp", max_iter=1, tol=None, random_state=0, device="cpu")
    on_disk = DeepONetRegressor(**params).fit(U, G_mm)
    assert reads and max(reads) <= 4  # no read of more rows than a block or a batch
    in_memory = DeepONetRegressor(**params).fit(U, G)
    got, expected = on_disk.network_.trunk.modes, in_memory.network_.trunk.modes
    assert got.shape == expected.shape and got.shape[0] == n_points
    signs = torch.sign((got * expected).sum(dim=0))  # each mode up to its sign
    torch.testing.assert_close(got * signs, expected, rtol=0, atol=2e-5)


def test_streamed_pod_refuses_more_modes_than_the_rank(tmp_path, monkeypatch):
    from skoperator import DeepONetRegressor

    rng = np.random.default_rng(0)
    U, G = rng.normal(size=(5, 4)), rng.normal(size=(5, 30)).astype(np.float32)
    monkeypatch.setattr(_data, "MEMMAP_BYTES", 100)
    with pytest.raises(ValueError, match=r"n_basis <= .* = 5 \(the functions .*\); got n_basis=8"):
        DeepONetRegressor(trunk="pod", n_basis=8, max_iter=1).fit(
            U, _memmap(G, tmp_path / "G.dat"))


# --------------------------------------------- issue 30: only where sampled
def _layouts(tmp_path, G):
    """The same G in every storage layout the chunk reader handles, opened for it."""
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "layouts.h5"
    filled = G.copy()
    filled[8:] = -7.5  # rows never written: the fill value
    with h5py.File(path, "w") as f:
        f.create_dataset("chunked", data=G, chunks=(8, 7))  # 26 columns: a partial chunk
        f.create_dataset("contiguous", data=G)
        f.create_dataset("gzip", data=G, chunks=(8, 7), compression="gzip")
        f.create_dataset("shuffled", data=G, chunks=(8, 7), shuffle=True)
        f.create_dataset("big-endian", data=G.astype(">f4"), chunks=(5, 26))
        ds = f.create_dataset("unwritten", shape=G.shape, dtype=np.float32, chunks=(8, 7),
                              fillvalue=-7.5)
        ds[:8] = G[:8]
    f = h5py.File(path, "r")
    out = {name: (f[name], G if name != "unwritten" else filled, direct)
           for name, direct in [("chunked", True), ("contiguous", True), ("gzip", False),
                                ("shuffled", False), ("big-endian", True),
                                ("unwritten", True)]}
    out["writable file"] = (h5py.File(tmp_path / "w.h5", "w").create_dataset(
        "G", data=G, chunks=(8, 7)), G, False)
    zarr = pytest.importorskip("zarr")
    if int(zarr.__version__.split(".")[0]) >= 3:
        z = zarr.create_array(store=str(tmp_path / "c.zarr"), shape=G.shape, chunks=(8, 7),
                              dtype=G.dtype)
    else:
        z = zarr.open_array(str(tmp_path / "c.zarr"), mode="w", shape=G.shape, chunks=(8, 7),
                            dtype=G.dtype)
    z[...] = G
    out["zarr"] = (zarr.open_array(str(tmp_path / "c.zarr"), mode="r"), G, False)
    return out


def _index_sets(rng):
    """(rows, cols) pairs: random, repeated, unsorted, the last partial chunk, one point."""
    rows = rng.integers(0, N_FUNCTIONS, size=40)
    rows[5:9] = rows[0]  # repeated rows
    cols = rng.integers(0, N_COLUMNS, size=40)
    cols[5:9] = cols[0]  # a repeated pair
    return {
        "random": (rows, cols),
        "unsorted rows": (np.array([59, 0, 33, 1, 58, 2]), np.array([25, 0, 13, 24, 1, 6])),
        "last partial chunk": (np.array([56, 57, 58, 59, 59]), np.array([21, 22, 25, 24, 21])),
        "one point": (np.array([31]), np.array([17])),
        "one row, every column": (np.full(N_COLUMNS, 3), np.arange(N_COLUMNS)[::-1]),
    }


def test_chunk_reader_gives_numpy_indexing_in_every_layout(tmp_path, G_ref):
    from skoperator._chunks import ChunkReader

    G = np.nan_to_num(G_ref, nan=2.25)
    for name, (array, want, direct) in _layouts(tmp_path, G).items():
        kind = "zarr" if name == "zarr" else "hdf5"
        reader = ChunkReader(array, kind)
        assert reader.direct == direct, name
        for what, (r, c) in _index_sets(np.random.default_rng(4)).items():
            got = reader.take(r, c)
            assert got.shape == r.shape, (name, what)
            np.testing.assert_array_equal(got, want[r, c], err_msg=f"{name}: {what}")
            if direct:  # chunks at addresses that are no multiple of the item size
                values, reader._values = reader._values, None
                np.testing.assert_array_equal(reader.take(r, c), want[r, c])
                reader._values = values
            # and through StreamedArray, with numpy's broadcasting and negative columns
            np.testing.assert_array_equal(StreamedArray(array)[r[:, None], c[None, :5] - 26],
                                          want[r[:, None], c[None, :5] - 26],
                                          err_msg=f"{name}: {what}")
        assert reader.take(np.array([], dtype=np.int64), np.array([], dtype=np.int64)).size == 0


@pytest.mark.parametrize("layout", ["uncompressed", "gzip", "zarr"])
def test_fit_from_storage_has_the_weights_of_the_in_memory_fit(layout, tmp_path, monkeypatch):
    """Bit-identical weights (same random_state): the same draws, the same values."""
    from skoperator import DeepONetRegressor, _prefetch
    from skoperator.datasets import make_antiderivative

    U, Y, G = make_antiderivative(90, n_points=40, random_state=0)
    G = G.astype(np.float32)
    if layout == "zarr":
        A = write_zarr(tmp_path / "G.zarr", G)
    else:
        h5py = pytest.importorskip("h5py")
        with h5py.File(tmp_path / "G.h5", "w") as f:
            f.create_dataset("G", data=G, chunks=(8, 16),
                             compression="gzip" if layout == "gzip" else None)
        A = h5py.File(tmp_path / "G.h5", "r")["G"]
    ahead = []
    start = _prefetch.BatchPrefetch._start
    monkeypatch.setattr(_prefetch.BatchPrefetch, "_start",
                        lambda self, rows: (ahead.append(len(rows)), start(self, rows)))
    params = dict(coords=Y, n_eval=6, batch_size=16, max_iter=3, tol=None, random_state=0,
                  n_basis=8, device="cpu")
    in_memory = DeepONetRegressor(**params).fit(U, G)
    assert ahead == []  # nothing read ahead in memory
    on_disk = DeepONetRegressor(**params).fit(U, A)
    assert len(ahead) == 3 * 5  # 6 batches an epoch: the next 5 read ahead, every epoch
    want, got = in_memory.network_.state_dict(), on_disk.network_.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)
    np.testing.assert_array_equal(on_disk.predict(U[:5]), in_memory.predict(U[:5]))
    assert not [t for t in threading.enumerate() if t.name.startswith("skoperator-prefetch")]


@pytest.mark.parametrize("streamed", [False, True], ids=["in-memory", "hdf5"])
def test_a_gram_step_reads_no_targets(streamed, tmp_path, monkeypatch):
    """Full-grid steps on a POD trunk take the Gram path: their targets are in its sums.

    The reads of ``G`` (moments, POD modes, the Gram's sums) do not grow with
    the epochs, nothing is read ahead, and the fit is the one that read them.
    """
    from skoperator import DeepONetRegressor, _objective, _prefetch
    from skoperator.datasets import make_antiderivative
    from skoperator.networks import PODTrunk

    U, Y, G = make_antiderivative(90, n_points=40, random_state=0)
    G = G.astype(np.float32)
    if streamed:
        G = write_hdf5(tmp_path / "G.h5", G)
    reads, ahead = [], []
    targets = _objective.TrainingData.targets
    monkeypatch.setattr(_objective.TrainingData, "targets",
                        lambda self, rows, cols: (reads.append(len(rows)),
                                                  targets(self, rows, cols))[1])
    start = _prefetch.BatchPrefetch._start
    monkeypatch.setattr(_prefetch.BatchPrefetch, "_start",
                        lambda self, rows: (ahead.append(len(rows)), start(self, rows)))
    params = dict(coords=Y, trunk=PODTrunk(), n_basis=8, sampling="full", batch_size=16,
                  tol=None, random_state=0, device="cpu")
    counts = []
    for epochs in (2, 5):
        reads.clear()
        est = DeepONetRegressor(max_iter=epochs, **params).fit(U, G)
        assert est.n_iter_ == epochs
        counts.append(len(reads))
    assert counts[0] == counts[1]
    assert len(ahead) == (2 + 5) * 5 * streamed  # drawn ahead, not read: 6 batches an epoch
    with monkeypatch.context() as m:  # the control: an MLP trunk reads every step's targets
        reads.clear()
        m.setattr(_objective.TrainingData, "targets",
                  lambda self, rows, cols: (reads.append(len(rows)),
                                            targets(self, rows, cols))[1])
        DeepONetRegressor(**dict(params, trunk="mlp", max_iter=2)).fit(U, G)
        assert len(reads) >= 2 * 6


def test_targets_over_the_device_budget_stay_in_host_memory(monkeypatch):
    """G larger than the device may hold is gathered per batch from host memory, with one
    warning: the weights of the fit whose G was copied to the device, bit for bit."""
    from skoperator import DeepONetRegressor, _device
    from skoperator.datasets import make_antiderivative

    U, Y, G = make_antiderivative(90, n_points=40, random_state=0)
    params = dict(coords=Y, n_eval=6, batch_size=16, max_iter=3, tol=None, random_state=0,
                  n_basis=8, device="cpu")
    resident = DeepONetRegressor(**params).fit(U, G)
    monkeypatch.setattr(_device, "resident_budget", lambda device: 14_399)  # G: 14,400 bytes
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        host = DeepONetRegressor(**params).fit(U, G)
    messages = [str(w.message) for w in caught if "stay in host memory" in str(w.message)]
    assert len(messages) == 1 and "G take 0.00 GiB in float32" in messages[0], messages
    want, got = resident.network_.state_dict(), host.network_.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)
    monkeypatch.setattr(_device, "resident_budget", lambda device: 14_400)  # fits: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        DeepONetRegressor(**params).fit(U, G)


def _streamed_fit_setup(tmp_path):
    from skoperator.datasets import make_antiderivative

    U, Y, G = make_antiderivative(64, n_points=20, random_state=0)
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "G.h5", "w") as f:
        f.create_dataset("G", data=G.astype(np.float32), chunks=(8, 10))
    return U, Y, h5py.File(tmp_path / "G.h5", "r")["G"]


def _prefetch_threads():
    return [t for t in threading.enumerate() if t.name.startswith("skoperator-prefetch")]


def test_an_error_in_the_read_ahead_thread_is_raised_in_fit(tmp_path, monkeypatch):
    from skoperator import DeepONetRegressor
    from skoperator._objective import TrainingData

    U, Y, A = _streamed_fit_setup(tmp_path)
    targets = TrainingData.targets

    def failing(self, rows, cols):
        if threading.current_thread() is not threading.main_thread():
            raise OSError("disk went away")
        return targets(self, rows, cols)

    monkeypatch.setattr(TrainingData, "targets", failing)
    est = DeepONetRegressor(coords=Y, n_eval=4, batch_size=16, max_iter=2, tol=None,
                            random_state=0, n_basis=8)
    with pytest.raises(OSError, match="disk went away") as info:
        est.fit(U, A)
    assert any("background thread" in note and "next mini-batch" in note
               for note in getattr(info.value, "__notes__", []))
    assert not hasattr(est, "network_")  # a failed first fit leaves it unfitted
    assert _prefetch_threads() == []


def test_an_interrupt_mid_epoch_leaves_no_read_ahead_thread(tmp_path, monkeypatch):
    from skoperator import DeepONetRegressor, _training

    U, Y, A = _streamed_fit_setup(tmp_path)
    step = _training.Trainer._step
    calls = []

    def interrupted(self):
        calls.append(1)
        if len(calls) == 2:  # mid-epoch: the third batch is being read ahead
            raise KeyboardInterrupt
        return step(self)

    monkeypatch.setattr(_training.Trainer, "_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        DeepONetRegressor(coords=Y, n_eval=4, batch_size=16, max_iter=2, tol=None,
                          random_state=0, n_basis=8).fit(U, A)
    assert _prefetch_threads() == []


def test_a_batch_drawn_ahead_and_dropped_leaves_the_generator_as_without_it():
    from skoperator._prefetch import BatchPrefetch
    from skoperator.sampling import RandomSampler, SamplingContext

    def sampler():
        ctx = SamplingContext(n_eval=3, coords=torch.rand(30, 1), n_functions=20,
                              device=torch.device("cpu"), generator=torch.Generator(),
                              n_epochs=1)
        return RandomSampler().setup(ctx)

    class Data:
        def targets(self, rows, cols):
            return cols.float()

    rows, nxt = torch.arange(4), torch.arange(4, 8)
    plain = torch.Generator().manual_seed(1)
    want = sampler().sample(rows, plain)[0]
    ahead_gen = torch.Generator().manual_seed(1)
    prefetch = BatchPrefetch(Data(), sampler(), ahead_gen, enabled=True)
    cols, _, target = prefetch.batch(rows, nxt)
    assert torch.equal(cols, want) and torch.equal(target, want.float())
    assert prefetch.ahead is not None
    prefetch.close()
    assert prefetch.ahead is None and prefetch._pool is None
    assert torch.equal(ahead_gen.get_state(), plain.get_state())  # the draw ahead undone


# --------------------------------------------------------- the chunk sampler
def _chunk_sampler(n_eval=4, n_points=26, n_functions=60, **settings):
    from skoperator.sampling import ChunkSampler, SamplingContext

    ctx = SamplingContext(n_eval=n_eval, coords=torch.linspace(0, 1, n_points)[:, None],
                          n_functions=n_functions, device=torch.device("cpu"),
                          generator=torch.Generator(), n_epochs=1)
    sampler = ChunkSampler(**settings).setup(ctx)
    sampler.start_epoch(0)
    return sampler


def test_chunk_sampler_draws_inside_a_few_chunks_shared_by_a_row_group():
    sampler = _chunk_sampler(n_eval=5, chunks=(8, 7), n_chunks=2)
    gen = torch.Generator().manual_seed(0)
    rows = torch.randperm(60, generator=gen)[:32]
    for _ in range(20):
        cols, weight = sampler.sample(rows, gen)
        assert cols.shape == (32, 5) and cols.min() >= 0 and cols.max() < 26
        assert all(len(set(c.tolist())) == 5 for c in cols)  # distinct within a function
        for g in set((rows // 8).tolist()):
            chunks = set((cols[rows // 8 == g] // 7).ravel().tolist())
            assert len(chunks) <= 2  # the group's two chunks
        # chunks of 7, 7, 7 and 5 points: the slots are weighted (S * 4 / (2 * 26))
        size = torch.tensor([7, 7, 7, 5])
        drawn = [sorted(set((c // 7).tolist())) for c in cols]
        for w, d in zip(weight, drawn):
            if len(d) == 2:
                assert torch.allclose(w, (size[d].sum() * 4 / (2 * 26.0)).expand(5))


def test_chunk_sampler_is_an_unbiased_estimate_of_the_mean_over_all_points():
    # E[weight * 1{point j drawn}] = n_eval / n_points for every point j
    sampler = _chunk_sampler(n_eval=3, n_points=26, chunks=(1, 7), n_chunks=2)
    gen = torch.Generator().manual_seed(0)
    rows = torch.arange(60)
    mass, n = torch.zeros(26, dtype=torch.float64), 0
    for _ in range(400):
        cols, weight = sampler.sample(rows, gen)
        w = torch.ones_like(cols, dtype=torch.float64) if weight is None else weight.double()
        mass.index_add_(0, cols.ravel(), w.ravel())
        n += len(rows)
    np.testing.assert_allclose(mass / n, 3 / 26, rtol=0.06)


def test_chunk_sampler_whole_groups_lays_the_groups_end_to_end():
    sampler = _chunk_sampler(chunks=(8, 7), whole_groups=True)
    gen = torch.Generator().manual_seed(0)
    orders = [sampler.order(60, gen) for _ in range(3)]
    for order in orders:
        assert sorted(order.tolist()) == list(range(60))
        groups = (order // 8).tolist()
        runs = [g for i, g in enumerate(groups) if i == 0 or g != groups[i - 1]]
        assert sorted(runs) == list(range(8))  # each group once, in one piece (the last: 4 rows)
        # a batch of 16 consecutive rows of the order meets at most 3 groups
        assert max(len(set(groups[i:i + 16])) for i in range(0, 60, 16)) <= 3
    assert not torch.equal(orders[0], orders[1])  # a fresh order every epoch
    assert len({tuple((o // 8).tolist()[::8]) for o in orders}) == 3  # the groups' order too
    assert not torch.equal(orders[0][:8].sort().values, orders[0][:8])  # rows shuffled inside
    # without whole_groups: the default order, the one permutation of BaseSampler
    plain = _chunk_sampler(chunks=(8, 7))
    assert torch.equal(plain.order(60, torch.Generator().manual_seed(0)),
                       torch.randperm(60, generator=torch.Generator().manual_seed(0)))


def test_a_sampler_s_order_makes_the_batches_of_a_fit():
    from skoperator import DeepONetRegressor
    from skoperator.datasets import make_antiderivative
    from skoperator.sampling import ChunkSampler

    class Recording(ChunkSampler):
        def setup(self, context):
            self.seen_ = []
            return super().setup(context)

        def sample(self, rows, generator):
            self.seen_.append(rows.clone())
            return super().sample(rows, generator)

    U, Y, G = make_antiderivative(64, n_points=26, random_state=0)
    groups = {}
    for whole in (False, True):
        est = DeepONetRegressor(coords=Y, sampling=Recording(chunks=(8, 7), whole_groups=whole),
                                n_eval=4, max_iter=3, tol=None, random_state=0, n_basis=8,
                                batch_size=16).fit(U, G)
        seen = est.sampler_.seen_
        assert len(seen) == 3 * 4 and all(len(rows) == 16 for rows in seen)
        for epoch in range(3):  # every function once an epoch
            rows = torch.cat(seen[4 * epoch:4 * epoch + 4])
            assert sorted(rows.tolist()) == list(range(64))
        groups[whole] = [len(set((rows // 8).tolist())) for rows in seen]
    assert groups[True] == [2] * 12  # two whole groups of 8 a batch
    assert min(groups[False]) > 2  # rows one by one: most groups in every batch


def test_chunk_sampler_on_a_grid_of_one_chunk_is_the_random_sampler():
    sampler = _chunk_sampler(n_eval=4, n_points=26, chunks=(1, 65536))
    cols, weight = sampler.sample(torch.arange(10), torch.Generator().manual_seed(3))
    assert weight is None and cols.shape == (10, 4)


@pytest.mark.parametrize("settings, match", [
    (dict(chunks=(16,)), "chunks=\\(16,\\) must be a pair of ints >= 1"),
    (dict(chunks=(0, 8)), "chunks=\\(0, 8\\) must be a pair"),
    (dict(chunks="auto"), "chunks='auto' must be a pair"),
    (dict(n_chunks=0), "n_chunks=0 must be an int >= 1"),
    (dict(n_chunks=1.5), "n_chunks=1.5 must be an int >= 1"),
    (dict(whole_groups="yes"), "whole_groups='yes' must be True or False"),
    (dict(chunks=(1, 3), n_chunks=1), "n_eval=4 points .* n_chunks=1 .* hold only 2; "
                                      "raise n_chunks"),
])
def test_chunk_sampler_bad_settings_name_the_parameter(settings, match):
    from skoperator import DeepONetRegressor
    from skoperator.datasets import make_antiderivative
    from skoperator.sampling import ChunkSampler

    with pytest.raises(ValueError, match=match):
        _chunk_sampler(n_eval=4, **settings)
    U, Y, G = make_antiderivative(20, n_points=26, random_state=0)
    est = DeepONetRegressor(coords=Y, sampling=ChunkSampler(**settings), n_eval=4, max_iter=1,
                            n_basis=8)
    before = est.get_params()
    with pytest.raises(ValueError, match=match):
        est.fit(U, G)
    assert est.get_params() == before and not hasattr(est, "network_")


def test_chunk_sampler_is_a_searchable_component(tmp_path):
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV

    from skoperator import DeepONetRegressor
    from skoperator.sampling import SAMPLERS, ChunkSampler

    assert SAMPLERS["chunked"] is ChunkSampler
    est = DeepONetRegressor(sampling=ChunkSampler(chunks=(8, 10)), n_eval=4, max_iter=2,
                            tol=None, random_state=0, n_basis=8, batch_size=16)
    params = est.get_params()
    assert params["sampling__chunks"] == (8, 10) and params["sampling__n_chunks"] == 1
    est.set_params(sampling__n_chunks=2)
    assert est.sampling.n_chunks == 2 and clone(est).sampling.n_chunks == 2
    U, Y, A = _streamed_fit_setup(tmp_path)
    search = GridSearchCV(est.set_params(coords=Y), {"sampling__n_chunks": [1, 2]}, cv=2)
    search.fit(U, np.asarray(A))
    assert search.best_params_["sampling__n_chunks"] in (1, 2)
    # from storage, with the storage's chunks: the draws of the in-memory fit
    a = clone(est).set_params(sampling__chunks=A.chunks).fit(U, A)
    b = clone(est).set_params(sampling__chunks=A.chunks).fit(U, np.asarray(A))
    np.testing.assert_array_equal(a.predict(U[:3]), b.predict(U[:3]))


def test_a_preempted_streamed_fit_resumes_to_the_in_memory_weights(tmp_path, monkeypatch):
    """The checkpoint written mid-epoch holds no draw ahead: the resumed fit is exact."""
    import signal

    from skoperator import DeepONetRegressor, _training
    from skoperator._records import Preempted
    from skoperator.callbacks import Checkpoint

    U, Y, A = _streamed_fit_setup(tmp_path)  # 64 functions, batches of 16: 4 steps an epoch
    params = dict(coords=Y, n_eval=4, batch_size=16, max_iter=3, tol=None, random_state=0,
                  n_basis=8, device="cpu")
    reference = DeepONetRegressor(**params).fit(U, np.asarray(A))
    step, calls = _training.Trainer._step, []

    def signalled(self):
        step(self)
        calls.append(1)
        if len(calls) == 6:  # the second step of epoch 2, the third batch being read ahead
            self.preempt = signal.SIGTERM

    monkeypatch.setattr(_training.Trainer, "_step", signalled)
    est = DeepONetRegressor(**params, callbacks=[Checkpoint(tmp_path / "ckpt")])
    with pytest.raises(Preempted):
        est.fit(U, A)
    assert _prefetch_threads() == []
    monkeypatch.setattr(_training.Trainer, "_step", step)
    est.fit(U, A)  # resumes from the mid-epoch checkpoint
    want, got = reference.network_.state_dict(), est.network_.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)


def test_a_bool_g_is_numbers_streamed_or_in_memory(tmp_path, monkeypatch):
    from skoperator import DeepONetRegressor

    monkeypatch.setattr(_data, "MEMMAP_BYTES", 1000)  # this small memmap is streamed
    rng = np.random.default_rng(0)
    U = rng.normal(size=(20, 6))
    G = np.lib.format.open_memmap(tmp_path / "g.npy", mode="w+", dtype=bool, shape=(20, 200))
    G[:] = rng.random((20, 200)) > 0.5
    assert _data.is_streamed(G)
    streamed = DeepONetRegressor(max_iter=2, tol=None, random_state=0, n_basis=4).fit(U, G)
    in_memory = DeepONetRegressor(max_iter=2, tol=None, random_state=0, n_basis=4).fit(
        U, np.array(G))
    np.testing.assert_array_equal(streamed.predict(U), in_memory.predict(U))


def test_streamed_pod_modes_past_the_numerical_rank_are_orthonormal(tmp_path, monkeypatch):
    # Rank 2, 30 points > 8 rows, n_basis=4: the modes past the rank were A^T u of
    # rounding-level u, copies of the leading ones (T^T T / n had 1.0 off the diagonal).
    from skoperator import DeepONetRegressor

    rng = np.random.default_rng(0)
    x = np.linspace(0, 1, 30)
    U = rng.normal(size=(8, 5))
    G = U[:, :1] * np.sin(2 * np.pi * x) + U[:, 1:2] * np.cos(2 * np.pi * x)  # float64
    monkeypatch.setattr(_data, "MEMMAP_BYTES", 0)
    params = dict(coords=x[:, None], trunk="pod", n_basis=4, max_iter=2, tol=None,
                  random_state=0, device="cpu")
    mm = np.memmap(tmp_path / "G.dat", dtype=np.float64, mode="w+", shape=G.shape)
    mm[:] = G
    mm.flush()
    for G_fit in (G, np.memmap(tmp_path / "G.dat", dtype=np.float64, mode="r", shape=G.shape)):
        modes = DeepONetRegressor(**params).fit(U, G_fit).network_.trunk.modes.double()
        torch.testing.assert_close(modes.T @ modes / 30, torch.eye(4, dtype=torch.float64),
                                   rtol=0, atol=1e-5)
