"""skoperator.io: cost of dump/load against pickle, and onnxruntime against predict.

For an MLP model (the paper's 40x3 networks, p = 40) and an FNO-branch model
trained a few epochs on the antiderivative problem, prints the seconds of
``dump`` and ``load`` (medians of repeats) and the file size, beside
``pickle.dumps``/``pickle.loads`` of the same model; then the seconds of
``predict`` (float64 on the CPU) and of the exported graph in onnxruntime
(float32) on the same inputs, and their largest relative difference.
Targets: the loaded model predicts exactly as the saved one (difference 0),
and the ONNX graph agrees with ``predict`` to 1e-5 relative.

    python benchmarks/bench_io.py            # about half a minute on 2 cores
    python benchmarks/bench_io.py --quick

``--stream`` measures instead what a training epoch costs when ``G`` is
streamed from storage (issue 30): the same float32 ``G`` (default
1,000 x 1,000,000, 3.7 GiB; the antiderivatives interpolated to the fine
grid) as a read-only ``np.memmap``, as an uncompressed HDF5 dataset in
chunks of 16 x 65,536 and as a Zarr array with Zarr's default compressor
in the same chunks, each fitted with ``sampling="random", n_eval=32``
(batch 256, one thread). It prints the median epoch of each, their ratios
to the memmap's, the peak anonymous memory of each fit (``RssAnon``), how
far each fit's predictions are from the memmap fit's (the same draws on the
same values: 0), and the same for ``sampling="chunked"``
(:class:`~skoperator.sampling.ChunkSampler` with the storage's chunks) and
for ``sampling="grouped"`` (the same with ``whole_groups=True``: batches of
whole groups of 16 rows; ``--modes`` picks among the three).
Targets: epoch <= 1.5x the memmap's, anonymous memory < 1 GiB. The files
are written once into ``--data-home`` (default
``~/.cache/skoperator/bench_io``) and reused; where the disk cannot hold
three copies, the largest grid that fits is used and the script says so.

``--stream --accuracy`` measures the chunked sampler's accuracy beside
``sampling="random"``'s: the mean relative L2 error of 500 held-out
antiderivatives after the same epochs, for three seeds.

    python benchmarks/bench_io.py --stream --quick    # 1,000 x 131,072 (0.5 GiB a copy)
    python benchmarks/bench_io.py --stream            # 1,000 x 1,000,000 (3.7 GiB a copy)
    python benchmarks/bench_io.py --stream --accuracy # about 3 minutes
"""

import os
import pickle
import shutil
import tempfile
import time
import warnings

import _common
import numpy as np

from skoperator import DeepONetRegressor
from skoperator.io import dump, load, to_onnx
from skoperator.networks import FNOBranch, MLPBranch, MLPTrunk


def timed(function, repeats):
    """Median seconds of ``function()`` over ``repeats`` calls, and its last result."""
    seconds, result = [], None
    for _ in range(repeats):
        tic = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - tic)
    return float(np.median(seconds)), result


def main():
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--stream", action="store_true",
                   help="measure epochs on a G streamed from a memmap, HDF5 and Zarr instead")
    p.add_argument("--data-home", default=os.path.join("~", ".cache", "skoperator", "bench_io"),
                   help="folder of the streamed G's files (written once, then reused)")
    p.add_argument("--n-points", type=_common.positive_int, default=None,
                   help="columns of the streamed G (1,000,000; --quick: 131,072)")
    p.add_argument("--modes", nargs="+", default=["random", "chunked", "grouped"],
                   choices=["random", "chunked", "grouped"],
                   help="with --stream: the samplers measured (grouped: ChunkSampler with "
                        "whole_groups=True)")
    p.add_argument("--accuracy", action="store_true",
                   help="with --stream: the chunked sampler's accuracy beside random's instead")
    args = p.parse_args()
    device = _common.setup(args)
    if args.stream:
        return int(not sampler_accuracy(args, device)) if args.accuracy else stream(args, device)
    repeats = args.repeats or (2 if args.quick else 5)
    n_functions = 200 if args.quick else 1000
    U, Y, G = _common.antiderivative(n_functions, n_points=100)
    models = {
        "mlp": dict(branch=MLPBranch(), trunk=MLPTrunk()),
        "fno": dict(branch=FNOBranch(modes=12, width=16, n_layers=2), trunk=MLPTrunk()),
    }
    ok = True
    folder = tempfile.mkdtemp()
    for name, settings in models.items():
        est = DeepONetRegressor(coords=Y, n_basis=40, max_iter=2 if args.quick else 5,
                                tol=None, device=device, random_state=0, **settings)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(U, G)
        path = os.path.join(folder, f"{name}.skop")
        t_dump, _ = timed(lambda: dump(est, path), repeats)
        t_load, loaded = timed(lambda: load(path), repeats)
        t_pdump, blob = timed(lambda: pickle.dumps(est), repeats)
        t_pload, _ = timed(lambda: pickle.loads(blob), repeats)
        _common.line(f"{name}: dump ({os.path.getsize(path) / 1e6:.2f} MB)", t_dump, "s")
        _common.line(f"{name}: load", t_load, "s")
        _common.line(f"{name}: pickle.dumps ({len(blob) / 1e6:.2f} MB)", t_pdump, "s")
        _common.line(f"{name}: pickle.loads", t_pload, "s")
        t_pred, ref = timed(lambda: est.predict(U), repeats)
        same = float(np.abs(loaded.predict(U) - ref).max())
        ok &= _common.verdict(f"{name}: loaded predict - predict", same, 0.0,
                              at_least=False, what="max |diff|")
        try:
            import onnxruntime
        except ImportError:
            print("# onnxruntime is not installed: the ONNX lines are left out")
            continue
        tic = time.perf_counter()
        graph = to_onnx(est, os.path.join(folder, f"{name}.onnx"))
        _common.line(f"{name}: to_onnx", time.perf_counter() - tic, "s")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = args.threads  # the same threads as predict (0: default)
        session = onnxruntime.InferenceSession(graph, options,
                                               providers=["CPUExecutionProvider"])
        feed = {"U": U.astype(np.float32), "coords": Y.astype(np.float32)}
        t_onnx, got = timed(lambda: session.run(None, feed)[0], repeats)
        _common.line(f"{name}: predict ({n_functions} x {len(Y)}, float64)", t_pred, "s")
        _common.line(f"{name}: onnxruntime (float32)", t_onnx, "s")
        error = float(np.abs(got - ref).max() / np.abs(ref).max())
        ok &= _common.verdict(f"{name}: onnxruntime vs predict", error, 1e-5, at_least=False,
                              what="rel. err")
    return 0 if ok else 1


# ----------------------------------------------------------- streamed targets
CHUNKS = (16, 65536)
MiB = 1 << 20


def _write_once(path, write):
    """Run ``write(tmp)`` into a temporary name, then rename it to ``path``: never half a file."""
    if os.path.exists(path):
        return False
    tmp = path + ".partial"
    if os.path.isdir(tmp):
        shutil.rmtree(tmp)
    elif os.path.exists(tmp):
        os.remove(tmp)
    write(tmp)
    os.replace(tmp, path)
    return True


def stream_files(home, U, G, n_points):
    """The memmap, HDF5 and Zarr copies of G on ``n_points`` columns, written once."""
    import h5py
    import zarr
    from bench_memory import interpolated_rows, write_memmap

    shape = (len(U), n_points)
    stem = os.path.join(home, f"G_{shape[0]}x{shape[1]}")
    paths = {"memmap": stem + ".f32", "hdf5": stem + "_c16x65536.h5",
             "zarr": stem + "_c16x65536.zarr"}
    chunks = (CHUNKS[0], min(CHUNKS[1], n_points))

    def hdf5(tmp):
        with h5py.File(tmp, "w") as f:
            ds = f.create_dataset("G", shape=shape, dtype=np.float32, chunks=chunks)
            for r, block in interpolated_rows(G, n_points):
                ds[r:r + len(block)] = block

    def zarr_(tmp):
        z = zarr.create_array(store=tmp, shape=shape, chunks=chunks, dtype=np.float32)
        for r, block in interpolated_rows(G, n_points):
            z[r:r + len(block)] = block

    for fmt, write in (("memmap", lambda tmp: write_memmap(tmp, U, G, n_points)),
                       ("hdf5", hdf5), ("zarr", zarr_)):
        tic = time.perf_counter()
        if _write_once(paths[fmt], write):
            print(f"# wrote {paths[fmt]} in {time.perf_counter() - tic:.0f} s")
        else:
            print(f"# reusing {paths[fmt]}")
    return paths, chunks


def open_stream(fmt, path, shape):
    """The streamed G, opened read-only, and its closer."""
    if fmt == "memmap":
        return np.memmap(path, dtype=np.float32, mode="r", shape=shape), lambda: None
    if fmt == "hdf5":
        import h5py

        f = h5py.File(path, "r")
        return f["G"], f.close
    import zarr

    return zarr.open_array(path, mode="r"), lambda: None


def stream(args, device):
    """Epochs on a streamed G: memmap, HDF5 and Zarr, random and chunked sampling."""
    from bench_memory import PeakSampler

    from skoperator.sampling import ChunkSampler

    home = os.path.expanduser(args.data_home)
    os.makedirs(home, exist_ok=True)
    n_functions = 1000
    n_points = args.n_points or (131_072 if args.quick else 1_000_000)
    free = shutil.disk_usage(home).free
    need = 3 * n_functions * n_points * 4 + (1 << 30)  # three copies (Zarr compresses a bit)
    print(f"# data home {home}: {free / 2**30:.1f} GiB free, {need / 2**30:.1f} GiB needed "
          f"for 1,000 x {n_points:,}")
    if need > free:
        n_points = max(CHUNKS[1], ((free - (1 << 30)) // (3 * n_functions * 4)
                                   // CHUNKS[1]) * CHUNKS[1])
        print(f"# NOT the requested size: the disk holds {n_points:,} columns at most; "
              "measuring that")
    U, _, G = _common.antiderivative(n_functions)
    U = U.astype(np.float32)
    paths, chunks = stream_files(home, U, G, n_points)
    del G
    coords = np.linspace(0.0, 1.0, n_points).reshape(-1, 1)
    shape = (n_functions, n_points)
    epochs = {"memmap": 12, "hdf5": 12, "zarr": 2}
    if args.quick:
        epochs = {"memmap": 6, "hdf5": 6, "zarr": 2}
    runs = [(fmt, mode) for mode in args.modes for fmt in ("memmap", "hdf5", "zarr")]
    samplers = {"random": lambda: "random", "chunked": lambda: ChunkSampler(chunks=chunks),
                "grouped": lambda: ChunkSampler(chunks=chunks, whole_groups=True)}
    median, reference, ok = {}, {}, True
    for fmt, mode in runs:
        G_disk, close = open_stream(fmt, paths[fmt], shape)
        sampling = samplers[mode]()
        est = DeepONetRegressor(sampling=sampling, n_eval=32, coords=coords, batch_size=256,
                                max_iter=epochs[fmt], tol=None, random_state=0, device=device)
        with PeakSampler() as anon:
            tic = time.perf_counter()
            est.fit(U, G_disk)
            seconds = time.perf_counter() - tic
        close()
        median[fmt, mode] = _common.median_epoch(est, skip=1)
        pred = est.predict(U[:16], coords=coords[::max(1, n_points // 1000)])
        _common.line(f"{fmt} {mode}: fit {epochs[fmt]} epochs (incl. checks of G), wall",
                     seconds, "s")
        _common.line(f"{fmt} {mode}: median epoch", median[fmt, mode])
        _common.line(f"{fmt} {mode}: peak anonymous memory above the start",
                     (anon.peak - anon.start) / MiB, "MiB")
        ok &= _common.verdict(f"{fmt} {mode}: fit anonymous memory / 1 GiB",
                              (anon.peak - anon.start) / 2**30, 1.0, at_least=False)
        if fmt == "memmap":
            reference[mode, epochs[fmt]] = (est.network_.state_dict(), pred)
        else:
            key = (mode, epochs[fmt])
            if key not in reference:  # the memmap fit of as many epochs
                mm, _ = open_stream("memmap", paths["memmap"], shape)
                ref = DeepONetRegressor(**est.get_params(deep=False)).fit(U, mm)
                reference[key] = (ref.network_.state_dict(),
                                  ref.predict(U[:16], coords=coords[::max(1, n_points // 1000)]))
                del mm, ref
            ref_state, ref_pred = reference[key]
            state = est.network_.state_dict()
            same = all(bool((state[k] == ref_state[k]).all()) for k in state)
            print(f"# {fmt} {mode}: weights after {epochs[fmt]} epochs identical to the memmap "
                  f"fit's (same random_state): {same}")
            _common.line(f"{fmt} {mode}: predict - memmap fit's predict, max |diff|",
                         float(np.abs(pred - ref_pred).max()), "")
            ok &= _common.verdict(f"{fmt} {mode} epoch / memmap {mode} epoch",
                                  median[fmt, mode] / median["memmap", mode], 1.5,
                                  at_least=False)
            if mode != "random" and ("memmap", "random") in median:
                _common.line(f"{fmt} {mode} epoch / memmap random epoch",
                             median[fmt, mode] / median["memmap", "random"], "x")
        del G_disk, est
    return 0 if ok else 1


def sampler_accuracy(args, device, seeds=(0, 1, 2)):
    """Mean relative L2 of held-out functions: ``sampling="chunked"`` beside ``"random"``.

    The antiderivative (1,000 training functions, 500 held out, 100 points),
    ``n_eval`` 10, the same epochs; the chunked sampler with chunks of
    16 functions x 25 points (four column chunks, one drawn per group and
    step: a function's 10 points lie in a quarter of the grid), the same
    with groups of one function (``1x25``: what the grouping of rows costs),
    of 16 x 10 (ten chunks: each step's 10 points are one whole chunk) and
    of 16 x 10 with two chunks drawn per step (``, 2``).
    """
    from skoperator.datasets import make_antiderivative
    from skoperator.metrics import mean_relative_l2_error
    from skoperator.sampling import ChunkSampler

    U, Y, G = make_antiderivative(1500, n_points=100, random_state=0)
    epochs = 40 if args.quick else 200
    modes = {"random": "random", "chunked 16x25": ChunkSampler(chunks=(16, 25)),
             "chunked 1x25": ChunkSampler(chunks=(1, 25)),
             "chunked 16x10": ChunkSampler(chunks=(16, 10)),
             "chunked 16x10, 2": ChunkSampler(chunks=(16, 10), n_chunks=2),
             "chunked 16x25, whole groups": ChunkSampler(chunks=(16, 25), whole_groups=True),
             "chunked 16x10, 2, whole groups": ChunkSampler(chunks=(16, 10), n_chunks=2,
                                                            whole_groups=True)}
    errors = {name: [] for name in modes}
    for seed in seeds:
        for name, sampling in modes.items():
            est = DeepONetRegressor(coords=Y, sampling=sampling, n_eval=10, batch_size=256,
                                    max_iter=epochs, tol=None, random_state=seed,
                                    device=device).fit(U[:1000], G[:1000])
            errors[name].append(mean_relative_l2_error(G[1000:], est.predict(U[1000:])))
    print(f"# antiderivative, 1,000 functions, n_eval 10, {epochs} epochs, seeds {seeds}: "
          "mean relative L2 of 500 held-out functions")
    for name, values in errors.items():
        print(f"{name + ':':<32s} " + "  ".join(f"{v:.4e}" for v in values)
              + f"   mean {np.mean(values):.4e}")
    ok = True
    for name in modes:
        if name != "random":
            ok &= _common.verdict(f"{name} / random mean relative L2 (3 seeds)",
                                  np.mean(errors[name]) / np.mean(errors["random"]), 1.1,
                                  at_least=False)
    return ok


if __name__ == "__main__":
    raise SystemExit(main())
