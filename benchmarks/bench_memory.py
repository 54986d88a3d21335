"""Target 4: ``fit`` on a memory-mapped G never copies it; ``predict`` streams.

Writes a float32 ``np.memmap`` of shape (n_functions, n_points) (default
1,000 x 1,000,000 = 4 GB) in a temporary folder, filled in row chunks with
the antiderivatives of the inputs interpolated to the fine grid, reopens it
read-only and fits ``DeepONetRegressor(sampling="random", n_eval=32)`` on it
for a few epochs. A thread samples the process's anonymous resident memory
(``RssAnon`` in /proc/self/status; the memmap's pages are file-backed and
count under ``RssFile``) every few milliseconds. Targets: anonymous memory
during ``fit`` grows by less than 1 GiB; ``predict`` uses at most 512 MiB
beyond its output array, at any number of points.

``--format hdf5`` or ``--format zarr`` writes the same G to an HDF5 dataset
(h5py) or a Zarr array instead, chunked by rows (one row per chunk), and fits
on the dataset opened read-only: it is streamed in row blocks (never loaded
whole), and the same target holds for the fit's anonymous memory (HDF5's and
Zarr's buffers included). ``predict`` does not read G: it is measured with
the memmap only.

    python benchmarks/bench_memory.py                   # 4 GB on disk, under a minute
    python benchmarks/bench_memory.py --n-points 100000 # 400 MB
    python benchmarks/bench_memory.py --quick           # 100,000 points, 1 epoch
    python benchmarks/bench_memory.py --format hdf5     # the same G in an HDF5 file
    python benchmarks/bench_memory.py --format zarr --n-points 20000  # a smoke run
"""

import os
import shutil
import signal
import sys
import tempfile
import threading
import time

import _common
import numpy as np

from skoperator import DeepONetRegressor

MiB = 1 << 20


def status_kib(field):
    """A memory field of /proc/self/status, in KiB (0 where unavailable)."""
    try:
        with open("/proc/self/status") as f:
            for row in f:
                if row.startswith(field + ":"):
                    return int(row.split()[1])
    except OSError:
        pass
    return 0


class PeakSampler:
    """Sample a /proc/self/status field in a thread; ``peak`` in bytes."""

    def __init__(self, field="RssAnon", interval=0.002):
        self.field, self.interval = field, interval

    def __enter__(self):
        self.start = self.peak = status_kib(self.field) * 1024
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, status_kib(self.field) * 1024)
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, status_kib(self.field) * 1024)


def interpolated_rows(G, n_points, rows_per_chunk=16):
    """``(start, block)``: float32 rows of G interpolated to ``n_points``, chunk by chunk."""
    x = np.linspace(0.0, 1.0, G.shape[1])
    y = np.linspace(0.0, 1.0, n_points)
    pos = np.minimum(np.searchsorted(x, y, side="right") - 1, len(x) - 2)
    w = ((y - x[pos]) / (x[pos + 1] - x[pos])).astype(np.float32)
    for r in range(0, G.shape[0], rows_per_chunk):
        block = G[r:r + rows_per_chunk].astype(np.float32)
        yield r, block[:, pos] * (1 - w) + block[:, pos + 1] * w


def write_memmap(path, U, G, n_points, rows_per_chunk=16):
    """Fill a float32 memmap with G interpolated to ``n_points``, chunk by chunk."""
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=(G.shape[0], n_points))
    for r, block in interpolated_rows(G, n_points, rows_per_chunk):
        mm[r:r + len(block)] = block
    mm.flush()
    del mm
    return np.linspace(0.0, 1.0, n_points).reshape(-1, 1)


def write_hdf5(path, G, n_points):
    """The same G in an HDF5 dataset ``"G"`` chunked by rows; returns the coords."""
    import h5py

    with h5py.File(path, "w") as f:
        ds = f.create_dataset("G", shape=(G.shape[0], n_points), dtype=np.float32,
                              chunks=(1, n_points))
        for r, block in interpolated_rows(G, n_points):
            ds[r:r + len(block)] = block
    return np.linspace(0.0, 1.0, n_points).reshape(-1, 1)


def write_zarr(path, G, n_points):
    """The same G in a Zarr array chunked by rows (zarr 2 or 3); returns the coords."""
    import zarr

    shape, chunks = (G.shape[0], n_points), (1, n_points)
    if int(zarr.__version__.split(".")[0]) >= 3:
        z = zarr.create_array(store=path, shape=shape, chunks=chunks, dtype=np.float32)
    else:
        z = zarr.open_array(path, mode="w", shape=shape, chunks=chunks, dtype=np.float32)
    for r, block in interpolated_rows(G, n_points):
        z[r:r + len(block)] = block
    return np.linspace(0.0, 1.0, n_points).reshape(-1, 1)


def open_target(fmt, tmp, U, G, n_points):
    """Write G as ``fmt`` under ``tmp`` and open it read-only: (coords, G_disk, closer)."""
    if fmt == "memmap":
        path = os.path.join(tmp, "G.f32")
        coords = write_memmap(path, U, G, n_points)
        G_disk = np.memmap(path, dtype=np.float32, mode="r", shape=(len(U), n_points))
        return coords, G_disk, lambda: None
    if fmt == "hdf5":
        import h5py

        path = os.path.join(tmp, "G.h5")
        coords = write_hdf5(path, G, n_points)
        f = h5py.File(path, "r")
        return coords, f["G"], f.close
    import zarr

    path = os.path.join(tmp, "G.zarr")
    coords = write_zarr(path, G, n_points)
    return coords, zarr.open_array(path, mode="r"), lambda: None


def disk_bytes(path):
    """Bytes under ``path`` (a file or a folder)."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path)
               for f in files)


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--n-points", type=_common.positive_int, default=None,
                   help="grid size (1,000,000)")
    p.add_argument("--n-functions", type=_common.positive_int, default=1000)
    p.add_argument("--epochs", type=_common.positive_int, default=None)
    p.add_argument("--format", choices=("memmap", "hdf5", "zarr"), default="memmap",
                   help="where G lives: a memmap (default), an HDF5 dataset or a Zarr array")
    p.add_argument("--dir", default=None, help="folder for the data on disk (default: tempdir)")
    args = p.parse_args(argv)
    # ``timeout`` sends SIGTERM: exit normally so that the temporary folder is removed
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    device = _common.setup(args)
    n_points = args.n_points or (100_000 if args.quick else 1_000_000)
    n_epochs = args.epochs or (1 if args.quick else 3)
    fmt = args.format
    tmp = tempfile.mkdtemp(dir=args.dir)
    try:
        run(args, device, fmt, tmp, n_points, n_epochs)
    finally:
        remove(tmp)


def remove(folder, tries=20):
    """Remove ``folder``, retrying while a writer thread (Zarr's) may still add to it."""
    for _ in range(tries):
        shutil.rmtree(folder, ignore_errors=True)
        if not os.path.exists(folder):
            return
        time.sleep(0.25)
    print(f"# could not remove {folder}; remove it by hand")


def run(args, device, fmt, tmp, n_points, n_epochs):
    """Write G as ``fmt`` in ``tmp``, fit on it, report; predict with the memmap."""
    U, _, G = _common.antiderivative(args.n_functions)
    U = U.astype(np.float32)
    tic = time.perf_counter()
    coords, G_disk, close = open_target(fmt, tmp, U, G, n_points)
    del G
    nbytes = len(U) * n_points * 4
    print(f"# {fmt} G {tuple(G_disk.shape)} float32 = {nbytes / 2**30:.2f} GiB "
          f"({disk_bytes(os.path.join(tmp, os.listdir(tmp)[0])) / 2**30:.2f} GiB on disk), "
          f"read-only, written in {time.perf_counter() - tic:.1f} s; {n_epochs} epochs, "
          "n_eval 32")
    est = DeepONetRegressor(sampling="random", n_eval=32, coords=coords, batch_size=256,
                            max_iter=n_epochs, tol=None, random_state=0)
    with PeakSampler() as anon, PeakSampler("VmRSS") as rss:
        tic = time.perf_counter()
        est.fit(U, G_disk)
        seconds = time.perf_counter() - tic
    fit_extra = anon.peak - anon.start
    _common.line(f"fit on the {fmt} G, wall time", seconds, "s")
    _common.line("fit: median epoch", _common.median_epoch(est, skip=0))
    _common.line("fit: peak anonymous memory above the start", fit_extra / MiB, "MiB")
    _common.line("fit: peak resident memory incl. file pages (for contrast)",
                 (rss.peak - rss.start) / MiB, "MiB")
    if fmt == "memmap":
        print(f"# G stayed a memmap of the same file: {type(G_disk).__name__}, "
              f"G_mm.flags.writeable={G_disk.flags.writeable}")
    else:
        print(f"# G stayed a {type(G_disk).__module__}.{type(G_disk).__name__} on disk, "
              "read in row blocks")
    label = "" if fmt == "memmap" else f" ({fmt})"
    _common.verdict(f"4 fit anonymous memory{label} / 1 GiB [{device.type}]",
                    fit_extra / 2**30, 1.0, at_least=False)

    if fmt == "memmap":  # predict never reads G: once is enough
        n_test = 32 if args.quick else 64
        extras = []
        for n_pred in (n_points // 10, n_points, 4 * n_points):
            Yp = np.linspace(0.0, 1.0, n_pred).reshape(-1, 1)
            with PeakSampler() as anon:
                tic = time.perf_counter()
                out = est.predict(U[:n_test], coords=Yp)
                seconds = time.perf_counter() - tic
            extra = anon.peak - anon.start - out.nbytes
            extras.append(extra)
            _common.line(f"predict {n_test} functions x {n_pred} points: beyond output "
                         f"({out.nbytes / MiB:.0f} MiB)", extra / MiB, "MiB",
                         f"  ({seconds:.1f} s)")
            del out
        _common.verdict(f"4 predict memory beyond output / 512 MiB [{device.type}]",
                        max(extras) / (512 * MiB), 1.0, at_least=False)
    del G_disk, est
    close()


if __name__ == "__main__":
    main()
