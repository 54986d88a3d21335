"""Reading the sampled entries of a chunked HDF5 dataset or Zarr array, chunk by chunk.

A training step needs ``G[r, c]`` at a few (function, point) pairs. Reading
each sampled function's row whole (what :class:`~skoperator._data.StreamedArray`
does for full rows) costs a whole row per function: 4 MB of a million-point
float32 row for 32 sampled values. :class:`ChunkReader` reads only where the
pairs are:

- the pairs are sorted by chunk (then row, then column), so that every
  chunk that holds a sampled pair is read **once** per call, as the
  smallest chunk-aligned box (hyperslab) that covers its pairs, and no
  chunk without one is touched;
- an **uncompressed** HDF5 dataset in a file opened read-only is not read
  through HDF5 at all: the byte address of every chunk in the file is
  looked up once (``chunk_iter`` / ``get_chunk_info``; a contiguous
  dataset has one address) and the file h5py holds open is memory-mapped
  (through its descriptor, not its name), so that a call
  reads the sampled entries' own bytes (a page each), as from a
  ``np.memmap``. Chunks never written read as the dataset's fill value.
- a Zarr array is read with one ``get_coordinate_selection`` per call,
  which decodes each touched chunk once (concurrently under zarr 3).

h5py and zarr are never imported here: the arrays are used through their
own methods.
"""

import mmap
import os
import stat

import numpy as np

__all__ = ["ChunkReader"]


def _hdf5_direct(ds):
    """``(mmap_of_file, layout)`` for reading an uncompressed HDF5 dataset's bytes, or None.

    Only for a 2-D dataset without filters, in a file of the default
    (``sec2``) driver opened read-only and not in SWMR mode, so that no
    unflushed or concurrent write can hide behind HDF5's caches. ``layout``
    is ``("contiguous", offset)`` or
    ``("chunked", table)`` with ``table[i, j]`` the byte address of chunk
    ``(i, j)`` (-1: never written).
    """
    try:
        f = ds.file
        if f.mode != "r" or f.driver != "sec2" or ds.ndim != 2 or f.swmr_mode:
            return None
        if ds.id.get_create_plist().get_nfilters() != 0 or ds.is_virtual:
            return None
        if getattr(ds, "external", None):
            return None
        # The file h5py has open, through its own descriptor: a path would name
        # another file once the folder changed or the file was replaced.
        fd = f.id.get_vfd_handle()
        if not isinstance(fd, int) or not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        if ds.chunks is None:
            offset = ds.id.get_offset()
            if offset is None:  # never written: nothing on disk
                return None
            layout = ("contiguous", int(offset))
        else:
            layout = ("chunked", _chunk_table(ds))
        size = os.fstat(fd).st_size
        if size == 0:
            return None
        mapped = mmap.mmap(fd, size, access=mmap.ACCESS_READ)  # keeps its own descriptor
        return np.frombuffer(mapped, dtype=np.uint8), layout
    except (AttributeError, OSError, RuntimeError, TypeError, ValueError):
        return None


def _chunk_table(ds):
    """Byte address of every chunk of a chunked 2-D HDF5 dataset (-1 where not written)."""
    cr, cc = ds.chunks
    n_i, n_j = -(-ds.shape[0] // cr), -(-ds.shape[1] // cc)
    table = np.full((n_i, n_j), -1, dtype=np.int64)

    def record(info):
        r0, c0 = info.chunk_offset
        table[r0 // cr, c0 // cc] = info.byte_offset

    dsid = ds.id
    if hasattr(dsid, "chunk_iter"):
        try:
            dsid.chunk_iter(record)
            return table
        except (RuntimeError, ValueError, TypeError):  # old HDF5: one chunk at a time
            table.fill(-1)
    for index in range(dsid.get_num_chunks()):
        info = dsid.get_chunk_info(index)
        if info.byte_offset is not None:
            record(info)
    return table


class ChunkReader:
    """Reads ``A[r, c]`` at pairs of a 2-D HDF5 dataset or Zarr array, only where they are.

    Parameters
    ----------
    array : h5py.Dataset or zarr.Array
        Two-dimensional.
    kind : {"hdf5", "zarr"}
        Which library ``array`` comes from.

    Attributes
    ----------
    chunks : tuple of int
        The array's chunk shape (rows, columns); for a contiguous HDF5
        dataset, whole rows of ``~16M`` entries at most.
    direct : bool
        Whether the entries are read straight from the memory-mapped file
        (uncompressed HDF5 in a file opened read-only).
    """

    def __init__(self, array, kind):
        self.array, self.kind = array, kind
        self.shape = tuple(int(s) for s in array.shape)
        self.dtype = np.dtype(array.dtype)
        chunks = getattr(array, "chunks", None)
        if not chunks:
            chunks = (max(1, (1 << 24) // max(self.shape[1], 1)), self.shape[1])
        self.chunks = tuple(int(c) for c in chunks)
        direct = _hdf5_direct(array) if kind == "hdf5" else None
        self.direct = direct is not None
        if self.direct:
            self._file, (self._layout, self._where) = direct
            fill = getattr(array, "fillvalue", 0)
            self._fill = np.asarray(0 if fill is None else fill).astype(self.dtype)
            size = self.dtype.itemsize
            starts = np.atleast_1d(self._where)
            # the file as an array of values where every chunk starts on a value's boundary
            self._values = None if (starts[starts >= 0] % size).any() else np.frombuffer(
                self._file, dtype=self.dtype, count=len(self._file) // size)

    # -- the one entry point
    def take(self, r, c):
        """Values at the pairs ``(r[k], c[k])``.

        Parameters
        ----------
        r, c : ndarray of int64 of shape (n,)
            Row and column of every pair, in range and non-negative; any
            order, repeats allowed.

        Returns
        -------
        values : ndarray of shape (n,)
            In the array's dtype, in the order of the pairs.
        """
        r = np.asarray(r, dtype=np.int64).ravel()
        c = np.asarray(c, dtype=np.int64).ravel()
        if r.size == 0:
            return np.empty(0, dtype=self.dtype)
        if self.direct:
            return self._take_direct(r, c)
        if self.kind == "zarr":
            return self._take_zarr(r, c)
        return self._take_boxes(r, c)

    # -- uncompressed HDF5: the sampled bytes of the memory-mapped file
    def _take_direct(self, r, c):
        size = self.dtype.itemsize
        if self._layout == "contiguous":
            address = self._where + (r * self.shape[1] + c) * size
            written = None
        else:
            cr, cc = self.chunks
            base = self._where[r // cr, c // cc]
            written = base >= 0
            address = base + ((r % cr) * cc + (c % cc)) * size
            address = np.where(written, address, 0)
        if self._values is not None:  # one gather of the values (the usual alignment)
            values = self._values[address // size]
        else:  # chunks at odd addresses: gather the bytes of every value
            values = self._file[address[:, None] + np.arange(size)].view(self.dtype).ravel()
        if written is not None and not written.all():
            values[~written] = self._fill
        return values

    # -- Zarr: one coordinate selection, each touched chunk decoded once
    def _take_zarr(self, r, c):
        order = np.lexsort((c, r, c // self.chunks[1], r // self.chunks[0]))
        out = np.empty(len(r), dtype=self.dtype)
        out[order] = np.asarray(self.array.get_coordinate_selection((r[order], c[order])))
        return out

    # -- compressed HDF5: one chunk-aligned box per touched chunk
    def _take_boxes(self, r, c):
        cr, cc = self.chunks
        chunk = (r // cr) * (-(-self.shape[1] // cc)) + c // cc
        order = np.lexsort((c, r, chunk))
        chunk, rs, cs = chunk[order], r[order], c[order]
        bounds = np.flatnonzero(np.diff(chunk)) + 1
        starts = np.concatenate([[0], bounds])
        stops = np.concatenate([bounds, [len(chunk)]])
        values = np.empty(len(r), dtype=self.dtype)
        for a, b in zip(starts, stops):
            r0, r1 = rs[a], rs[b - 1] + 1  # sorted by row inside a chunk
            c0, c1 = cs[a:b].min(), cs[a:b].max() + 1
            box = np.asarray(self.array[r0:r1, c0:c1])
            values[a:b] = box[rs[a:b] - r0, cs[a:b] - c0]
        out = np.empty(len(r), dtype=self.dtype)
        out[order] = values
        return out
