"""How the cost of an epoch grows with n_eval, batch size, grid size and n_functions.

Fits ``DeepONetRegressor`` (MLPs 40x3, p = 40) on the antiderivative inputs
for a few epochs per setting and prints the median seconds per epoch; the
grid-size sweep also forces each trunk path ("grid": trunk on every point,
then gather; "pairs": trunk at each sampled point) to show where the engine's
choice (``choose_trunk_path``) switches. Also times ``sample_distinct`` alone
(dense versus rejection draws). Writes the four-panel figure
docs/_static/performance_scaling.png.

    python benchmarks/bench_scaling.py             # under a minute on 2 cores
    python benchmarks/bench_scaling.py --quick
"""

import time

import _common
import numpy as np
import torch
from bench_grid import fine_grid_targets, forced_path

import skoperator._training as training
from skoperator import DeepONetRegressor
from skoperator._sampling import prefer_dense, sample_distinct


def epoch_seconds(U, G, coords, n_epochs, device, **params):
    params = {"sampling": "random", "n_eval": 32, "batch_size": 256, **params}
    est = DeepONetRegressor(coords=coords, max_iter=n_epochs + 1, tol=None, device=device,
                            random_state=0, **params)
    est.fit(U, G)
    return _common.median_epoch(est)


def engine_path(n_points, batch_size, n_eval):
    """The path the Trainer picks for the default 40x3 MLP trunk, d = 1."""
    width, depth, p = 40, 3, 40
    trunk_params = (1 * width + width) + (depth - 1) * (width * width + width) + width * p + p
    return training.choose_trunk_path(n_points, batch_size, n_eval, 2 * trunk_params, p)


def sweep_n_eval(U, Y, G, Yf, Gf, n_epochs, device, quick):
    values = [1, 4, 10, 32] if quick else [1, 2, 4, 10, 32, 64, 100]
    rows = {"100-point grid": [], f"{Gf.shape[1]}-point grid": []}
    for k in values:
        rows["100-point grid"].append(epoch_seconds(U, G, Y, n_epochs, device, n_eval=k))
        rows[f"{Gf.shape[1]}-point grid"].append(
            epoch_seconds(U, Gf, Yf, n_epochs, device, n_eval=k))
        print(f"n_eval {k:6d}: " + "  ".join(f"{n} {v[-1]:.4f}" for n, v in rows.items()))
    full = epoch_seconds(U, G, Y, n_epochs, device, sampling="full")
    print(f"full, 100-point grid: {full:.4f}")
    return values, rows, {"full, 100-point grid": full}


def sweep_batch(U, Y, G, n_epochs, device, quick):
    values = [64, 256, 1024] if quick else [32, 64, 128, 256, 512, 1024, 2000]
    rows = {"random, n_eval 10": [], "full": []}
    for b in values:
        rows["random, n_eval 10"].append(
            epoch_seconds(U, G, Y, n_epochs, device, n_eval=10, batch_size=b))
        rows["full"].append(epoch_seconds(U, G, Y, n_epochs, device, sampling="full",
                                          batch_size=b))
        print(f"batch {b:6d}: " + "  ".join(f"{n} {v[-1]:.4f}" for n, v in rows.items()))
    return values, rows


def sweep_grid(U, G, n_epochs, device, quick):
    values = [100, 1000, 10_000] if quick else [100, 300, 1000, 2000, 4000, 10_000, 30_000,
                                                100_000]
    rows = {"random (engine)": [], "random, grid path": [], "random, pairs path": [],
            "shared": [], "full": []}
    for n in values:
        Yn, Gn = fine_grid_targets(U, G, n)
        rows["random (engine)"].append(epoch_seconds(U, Gn, Yn, n_epochs, device))
        for path in ("grid", "pairs"):
            if path == "grid" and n > 30_000:
                rows["random, grid path"].append(np.nan)  # as slow as full
                continue
            with forced_path(path):
                rows[f"random, {path} path"].append(epoch_seconds(U, Gn, Yn, n_epochs, device))
        rows["shared"].append(epoch_seconds(U, Gn, Yn, n_epochs, device, sampling="shared"))
        rows["full"].append(epoch_seconds(U, Gn, Yn, max(1, n_epochs // 2), device,
                                          sampling="full") if n <= 30_000 else np.nan)
        print(f"grid {n:7d} (engine: {engine_path(n, 256, 32)}): "
              + "  ".join(f"{k} {v[-1]:.4f}" for k, v in rows.items()))
    return values, rows


def sweep_functions(n_epochs, device, quick):
    values = [250, 1000, 4000] if quick else [250, 500, 1000, 2000, 4000, 8000]
    rows = {"random, n_eval 10": [], "full": []}
    for n in values:
        U, Y, G = _common.antiderivative(n)
        rows["random, n_eval 10"].append(epoch_seconds(U, G, Y, n_epochs, device, n_eval=10))
        rows["full"].append(epoch_seconds(U, G, Y, n_epochs, device, sampling="full"))
        print(f"n_functions {n:6d}: " + "  ".join(f"{k} {v[-1]:.4f}" for k, v in rows.items()))
    return values, rows


def sampler_table(device, quick):
    gen = torch.Generator(device=device).manual_seed(0)
    print("# sample_distinct, 256 rows, microseconds per call (median)")
    print(f"{'k':>5s} {'upper':>8s} {'dense':>10s} {'rejection':>10s}  chosen")
    for k in (10, 32):
        for upper in (50, 100, 200, 1000, 10_000) + (() if quick else (200_000,)):
            times = {}
            for dense in (True, False):
                if dense and upper > 10_000 and device.type != "cuda":
                    times[dense] = np.nan
                    continue
                runs = []
                for _ in range(20 if quick else 100):
                    tic = time.perf_counter()
                    sample_distinct(256, k, upper, gen, device, dense=dense)
                    _common.sync(device)
                    runs.append(time.perf_counter() - tic)
                times[dense] = 1e6 * float(np.median(runs))
            chosen = prefer_dense(256, k, upper, upper, device)
            print(f"{k:5d} {upper:8d} {times[True]:10.0f} {times[False]:10.0f}  "
                  f"{'dense' if chosen else 'rejection'}")


def plot(path, panels):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for ax, (title, xlabel, x, rows, refs) in zip(axes.ravel(), panels):
        for name, ys in rows.items():
            ax.plot(x, ys, "o-", label=name)
        for name, y in refs.items():
            ax.axhline(y, ls="--", color="gray", label=name)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(xlabel)
        ax.set_ylabel("seconds per epoch")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"DeepONetRegressor.fit, MLPs 40x3, p = 40; torch {torch.__version__}, "
                 f"{torch.get_num_threads()} thread(s)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"# wrote {path}")


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", type=_common.positive_int, default=None)
    p.add_argument("--plot", default=str(_common.ROOT / "docs" / "_static"
                                         / "performance_scaling.png"),
                   help="where to write the figure ('' for none)")
    args = p.parse_args(argv)
    device = _common.setup(args)
    n_epochs = args.epochs or (2 if args.quick else 6)
    sampler_table(device, args.quick)

    U, Y, G = _common.antiderivative(2000)
    n_fine = 10_000
    Yf, Gf = fine_grid_targets(U, G, n_fine)
    print(f"# antiderivative, batch 256 unless swept, {n_epochs} timed epochs per point; "
          "median s/epoch")
    x1, r1, ref1 = sweep_n_eval(U, Y, G, Yf, Gf, n_epochs, device, args.quick)
    x2, r2 = sweep_batch(U, Y, G, n_epochs, device, args.quick)
    U5, G5 = U[:500], G[:500]
    print("# grid sweep: 500 functions, n_eval 32")
    x3, r3 = sweep_grid(U5, G5, n_epochs, device, args.quick)
    x4, r4 = sweep_functions(n_epochs, device, args.quick)
    if args.plot:
        plot(args.plot, [
            ("n_eval (2,000 functions, random)", "n_eval", x1, r1, ref1),
            ("batch size (2,000 functions, 100 points)", "batch size", x2, r2, {}),
            ("grid size (500 functions, n_eval 32)", "points in the output grid", x3, r3, {}),
            ("n_functions (100 points)", "n_functions", x4, r4, {}),
        ])


if __name__ == "__main__":
    main()
