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

    python benchmarks/bench_memory.py                   # 4 GB on disk, under a minute
    python benchmarks/bench_memory.py --n-points 100000 # 400 MB
    python benchmarks/bench_memory.py --quick           # 100,000 points, 1 epoch
"""

import os
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


def write_memmap(path, U, G, n_points, rows_per_chunk=16):
    """Fill a float32 memmap with G interpolated to ``n_points``, chunk by chunk."""
    x = np.linspace(0.0, 1.0, G.shape[1])
    y = np.linspace(0.0, 1.0, n_points)
    pos = np.minimum(np.searchsorted(x, y, side="right") - 1, len(x) - 2)
    w = ((y - x[pos]) / (x[pos + 1] - x[pos])).astype(np.float32)
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=(G.shape[0], n_points))
    for r in range(0, G.shape[0], rows_per_chunk):
        block = G[r:r + rows_per_chunk].astype(np.float32)
        mm[r:r + rows_per_chunk] = block[:, pos] * (1 - w) + block[:, pos + 1] * w
    mm.flush()
    del mm
    return y.reshape(-1, 1)


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--n-points", type=int, default=None, help="grid size (1,000,000)")
    p.add_argument("--n-functions", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--dir", default=None, help="folder for the memmap (default: tempdir)")
    args = p.parse_args(argv)
    device = _common.setup(args)
    n_points = args.n_points or (100_000 if args.quick else 1_000_000)
    n_epochs = args.epochs or (1 if args.quick else 3)
    U, _, G = _common.antiderivative(args.n_functions)
    U = U.astype(np.float32)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = os.path.join(tmp, "G.f32")
        tic = time.perf_counter()
        coords = write_memmap(path, U, G, n_points)
        del G
        G_mm = np.memmap(path, dtype=np.float32, mode="r", shape=(len(U), n_points))
        print(f"# memmap G {G_mm.shape} float32 = {G_mm.nbytes / 2**30:.2f} GiB, read-only, "
              f"written in {time.perf_counter() - tic:.1f} s; {n_epochs} epochs, n_eval 32")
        est = DeepONetRegressor(sampling="random", n_eval=32, coords=coords, batch_size=256,
                                max_iter=n_epochs, tol=None, device=device, random_state=0)
        with PeakSampler() as anon, PeakSampler("VmRSS") as rss:
            tic = time.perf_counter()
            est.fit(U, G_mm)
            seconds = time.perf_counter() - tic
        fit_extra = anon.peak - anon.start
        _common.line("fit on the memmap, wall time", seconds, "s")
        _common.line("fit: median epoch", _common.median_epoch(est, skip=0))
        _common.line("fit: peak anonymous memory above the start", fit_extra / MiB, "MiB")
        _common.line("fit: peak resident memory incl. file pages (for contrast)",
                     (rss.peak - rss.start) / MiB, "MiB")
        print(f"# G stayed a memmap of the same file: {type(G_mm).__name__}, "
              f"G_mm.flags.writeable={G_mm.flags.writeable}")
        _common.verdict(f"4 fit anonymous memory / 1 GiB [{device.type}]",
                        fit_extra / 2**30, 1.0, at_least=False)

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
        del G_mm


if __name__ == "__main__":
    main()
