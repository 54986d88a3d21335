"""Target 3: cost of a "random" epoch does not grow with the output grid.

The antiderivative inputs (100 sensors) with outputs on a fine grid of
``--n-points`` points (linear interpolation of the exact values), against
the same functions on the 100-point grid. ``sampling="random"``,
``n_eval = 32``, batch 256; medians of seconds per epoch. Targets:

- random epoch on the fine grid <= 1.5 x random epoch on the 100-point grid;
- on the fine grid, random <= 0.3 x full and shared <= 0.15 x full.

On the 100-point grid the engine evaluates the trunk on the grid once per
step (100 evaluations, cheaper than 256 x 32 pairs); on the fine grid it
evaluates the 256 x 32 sampled pairs. The script also prints the 100-point
epoch with the pairs path forced, which isolates the grid-size dependence
of one and the same computation.

    python benchmarks/bench_grid.py                # under a minute, 5 GB of memory at the peak
    python benchmarks/bench_grid.py --quick        # 20,000 points
"""

import contextlib

import _common
import numpy as np

import skoperator._training as training
from skoperator import DeepONetRegressor


def fine_grid_targets(U, G, n_points, dtype=np.float32):
    """Exact antiderivatives on the sensor grid, interpolated to ``n_points``."""
    x = np.linspace(0.0, 1.0, G.shape[1])
    y = np.linspace(0.0, 1.0, n_points)
    pos = np.minimum(np.searchsorted(x, y, side="right") - 1, len(x) - 2)
    w = ((y - x[pos]) / (x[pos + 1] - x[pos])).astype(dtype)
    out = np.empty((G.shape[0], n_points), dtype=dtype)
    for r in range(0, G.shape[0], 64):
        block = G[r:r + 64].astype(dtype)
        out[r:r + 64] = block[:, pos] * (1 - w) + block[:, pos + 1] * w
    return y.reshape(-1, 1), out


@contextlib.contextmanager
def forced_path(path):
    """Make the Trainer take ``path`` ("grid" or "pairs") whatever it costs."""
    original = training.choose_trunk_path
    training.choose_trunk_path = lambda *args: path
    try:
        yield
    finally:
        training.choose_trunk_path = original


def epoch_seconds(U, G, coords, sampling, n_epochs, device, n_eval=32, batch_size=256):
    est = DeepONetRegressor(sampling=sampling, n_eval=n_eval, coords=coords,
                            batch_size=batch_size, max_iter=n_epochs + 1, tol=None,
                            device=device, random_state=0)
    _common.fit_timed(est, U, G, device)
    return _common.median_epoch(est)


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--n-points", type=_common.positive_int, default=None,
                   help="fine grid size (200000)")
    p.add_argument("--n-functions", type=_common.positive_int, default=1000)
    p.add_argument("--n-eval", type=_common.positive_int, default=32)
    p.add_argument("--epochs", type=_common.positive_int, default=None)
    args = p.parse_args(argv)
    device = _common.setup(args)
    n_fine = args.n_points or (20_000 if args.quick else 200_000)
    n_epochs = args.epochs or (3 if args.quick else 8)
    repeats = args.repeats or (1 if args.quick else 3)
    U, Y, G = _common.antiderivative(args.n_functions)
    U = U.astype(np.float32)
    G_coarse = G.astype(np.float32)
    Y_fine, G_fine = fine_grid_targets(U, G, n_fine)
    print(f"# {args.n_functions} functions, grids of 100 and {n_fine} points, batch 256, "
          f"n_eval {args.n_eval}, {n_epochs} epochs x {repeats} repeats; median s/epoch")

    def run(G_, Y_, sampling, epochs=n_epochs):
        return epoch_seconds(U, G_, Y_, sampling, epochs, device, args.n_eval)

    run(G_coarse, Y, "random", 1)  # warm-up
    keys = ("random 100", "random 100 pairs", "random fine", "shared fine")
    out = {k: [] for k in keys}
    for _ in range(repeats):
        out["random 100"].append(run(G_coarse, Y, "random"))
        with forced_path("pairs"):
            out["random 100 pairs"].append(run(G_coarse, Y, "random"))
        out["random fine"].append(run(G_fine, Y_fine, "random"))
        out["shared fine"].append(run(G_fine, Y_fine, "shared"))
    full_fine = run(G_fine, Y_fine, "full", 2 if args.quick else 3)  # slow: once
    med = {k: float(np.median(v)) for k, v in out.items()}
    _common.line("random, 100-point grid (engine's path: grid)", med["random 100"])
    _common.line("random, 100-point grid, pairs path forced", med["random 100 pairs"])
    _common.line(f"random, {n_fine}-point grid (engine's path: pairs)", med["random fine"])
    _common.line(f"shared, {n_fine}-point grid", med["shared fine"])
    _common.line(f"full, {n_fine}-point grid", full_fine)
    ratio = np.array(out["random fine"]) / np.array(out["random 100"])
    same_path = np.array(out["random fine"]) / np.array(out["random 100 pairs"])
    _common.verdict(f"3 random epoch {n_fine} pts / 100 pts [{device.type}]",
                    float(np.median(ratio)), 1.5, at_least=False)
    _common.verdict(f"3 (same pairs path) {n_fine} pts / 100 pts [{device.type}]",
                    float(np.median(same_path)), 1.5, at_least=False)
    _common.verdict(f"3 random / full at {n_fine} pts [{device.type}]",
                    med["random fine"] / full_fine, 0.3, at_least=False)
    _common.verdict(f"3 shared / full at {n_fine} pts [{device.type}]",
                    med["shared fine"] / full_fine, 0.15, at_least=False)
    if device.type == "cuda":  # issue 30's GPU target, on the 200,000-point grid
        _common.verdict(f"issue 30: random n_eval {args.n_eval} / full epoch at {n_fine} pts "
                        "[cuda]", med["random fine"] / full_fine, 0.1, at_least=False)


if __name__ == "__main__":
    main()
