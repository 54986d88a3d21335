"""Points of their own per function: accuracy from scattered measurements, and epoch cost.

1. Accuracy: the antiderivative, 1,000 training functions each observed only
   at 20 random positions of its own (``make_antiderivative(scattered=True)``),
   scored by the mean per-function R2 on the 100-point grid of 500 held-out
   functions; beside it the same budget on the shared 100-point grid.
2. Epoch cost: an epoch on per-function points (20 per function) against an
   epoch on a shared 10,000-point grid, at the same ``n_eval`` and batch
   (where the trunk also runs at every sampled pair), medians of interleaved
   repeats.

Targets (issue 21): R2 >= 0.99; epoch cost ratio <= 1.25.

Run: ``python benchmarks/bench_points.py`` (about 2 minutes on one thread).
"""

import time

import _common
import numpy as np
from _common import parser, setup, verdict

from skoperator import DeepONetRegressor
from skoperator.datasets import make_antiderivative
from skoperator.metrics import mean_function_r2


def recipe(**kw):
    params = dict(n_eval=10, max_iter=300, learning_rate="onecycle", learning_rate_init=5e-3,
                  batch_size=64, tol=None, random_state=0)
    params.update(kw)
    return DeepONetRegressor(**params)


def main():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--seeds", type=_common.nonnegative_int, nargs="+", default=[0])
    args = p.parse_args()
    setup(args)
    epochs = 20 if args.quick else 300
    U, P, G = make_antiderivative(1000, n_points=20, scattered=True, random_state=0)
    U_test, Y, G_test = make_antiderivative(500, random_state=1)
    _, Y_grid, G_grid = make_antiderivative(1000, random_state=0)  # the same fields on the grid
    print("# 1,000 training functions; test: 500 held-out functions on the 100-point grid")
    r2s = []
    for seed in args.seeds:
        tic = time.perf_counter()
        est = recipe(max_iter=epochs, random_state=seed).fit(U, G, coords=P)
        fit = time.perf_counter() - tic
        r2 = mean_function_r2(G_test, est.predict(U_test, coords=Y))
        r2s.append(r2)
        grid = recipe(max_iter=epochs, random_state=seed, coords=Y_grid).fit(U, G_grid)
        r2_grid = mean_function_r2(G_test, grid.predict(U_test))
        print(f"seed {seed}: 20 scattered points per function: mean R2 {r2:.5f} ({fit:.1f} s); "
              f"shared 100-point grid: {r2_grid:.5f}")
    verdict("scattered (20 points per function): mean R2", float(np.mean(r2s)), 0.99,
            at_least=True, what="value")

    # Epoch cost, interleaved, the same n_eval and batch.
    U_big, Y_big, G_big = make_antiderivative(1000, n_points=10_000, random_state=0)
    repeats = 2 if args.quick else 5
    ratios = []
    for _ in range(repeats):
        own = recipe(max_iter=6).fit(U, G, coords=P)
        shared = recipe(max_iter=6, coords=Y_big).fit(U_big, G_big)
        a = np.median([h["seconds"] for h in own.history_[1:]])
        b = np.median([h["seconds"] for h in shared.history_[1:]])
        ratios.append(a / b)
        print(f"epoch: per-function points {a * 1e3:.1f} ms, shared 10,000-point grid "
              f"{b * 1e3:.1f} ms")
    verdict("epoch per-function / shared 10,000-point grid", float(np.median(ratios)), 1.25,
            at_least=False)


if __name__ == "__main__":
    main()
