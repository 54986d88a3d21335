"""Threads on a busy machine: the default fit next to a competing process.

Two measurements, in one run:

1. The target: a 20-epoch antiderivative fit (2,000 functions, the quick
   recipe's network) with the estimator's default threads (``n_jobs=None``),
   on an idle machine and next to one busy process (a Python busy loop, as a
   laptop's other work); the ratio must stay within 1.5x. For contrast, the
   same fit with every core (``n_jobs=-1``, torch's own default) next to the
   busy process.
2. Where more threads pay: the seconds per epoch of steps of growing work
   (MLPs of growing width, the heat benchmark's CNN and FNO recipes), with one
   thread and with every core, on an idle machine, beside the work per step
   that ``skoperator._parallel.step_flops`` estimates and the threads the
   default picks for it (threshold ``THREAD_FLOPS``).

    python benchmarks/bench_threads.py            # about 2 minutes on 2 cores
    python benchmarks/bench_threads.py --quick
"""

import multiprocessing as mp
import os
import time

import _common
import numpy as np
import torch

from skoperator import DeepONetRegressor
from skoperator._parallel import THREAD_FLOPS, choose_threads, step_flops
from skoperator.datasets import make_heat_conduction
from skoperator.networks import CNNBranch, FNOBranch, MLPBranch, MLPTrunk, PODTrunk


def _busy(stop):
    """A competing process: one core of pure Python work."""
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


class Competitor:
    """Context manager running one busy process beside the measurement."""

    def __enter__(self):
        self.stop = mp.Event()
        self.proc = mp.Process(target=_busy, args=(self.stop,), daemon=True)
        self.proc.start()
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.terminate()


def timed_fit(est, U, G, repeats):
    """Median wall time of ``repeats`` fits."""
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        est.fit(U, G)
        times.append(time.perf_counter() - tic)
    return float(np.median(times))


def main(argv=None):
    p = _common.parser(__doc__)
    args = p.parse_args(argv)
    # The point is threading: torch's own default is left alone here, the
    # estimator chooses (or is told) its threads.
    args.threads = 0
    _common.setup(args)
    cores = os.cpu_count()
    repeats = args.repeats or (1 if args.quick else 3)
    epochs = 2 if args.quick else 20
    U, Y, G = _common.antiderivative(2000)

    def estimator(n_jobs):
        return DeepONetRegressor(coords=Y, n_eval=10, max_iter=epochs, batch_size=64,
                                 learning_rate="onecycle", learning_rate_init=5e-3, tol=None,
                                 device="cpu", random_state=0, n_jobs=n_jobs)

    print(f"## 1. a {epochs}-epoch antiderivative fit, {cores} cores")
    default = estimator(None)
    timed_fit(default, U, G, 1)  # warm-up
    idle = timed_fit(default, U, G, repeats)
    with Competitor():
        busy = timed_fit(default, U, G, repeats)
        busy_all = timed_fit(estimator(-1), U, G, repeats)
    all_idle = timed_fit(estimator(-1), U, G, repeats)
    picked = choose_threads(None, default.network_, 64, torch.device("cpu"), 100)
    _common.line(f"default threads ({picked}), idle machine", idle, "s")
    _common.line(f"default threads ({picked}), one busy process", busy, "s")
    _common.line(f"all {cores} cores (n_jobs=-1), idle machine", all_idle, "s")
    _common.line(f"all {cores} cores (n_jobs=-1), one busy process", busy_all, "s")
    _common.verdict("default fit, busy / idle [cpu]", busy / idle, 1.5, at_least=False)
    print(f"# with every core next to the busy process: {busy_all / idle:.1f}x the idle "
          "default")

    print("\n## 2. where a second thread pays (idle machine, seconds per epoch)")
    print(f"{'network':<34} {'flops/step':>11} {'1 thread':>9} {f'{cores} threads':>10} "
          f"{'speed-up':>9} {'default':>8}")
    heat_U, heat_Y, heat_G = make_heat_conduction(64 if args.quick else 256, random_state=0)
    cases = [(f"MLP width {w}", dict(branch=MLPBranch(layers=(w,) * 3),
                                     trunk=MLPTrunk(layers=(w,) * 3), n_basis=min(w, 128)),
              U[:512], Y, G[:512], 64)
             for w in ((40, 512) if args.quick else (40, 128, 256, 512, 1024))]
    cases += [
        ("heat CNN (paper), batch 32",
         dict(branch=CNNBranch(grid=(32, 32), filters=(40, 60, 100), layers=(150,) * 3),
              trunk=MLPTrunk(layers=(150,) * 3), n_basis=150),
         heat_U, heat_Y, heat_G, 32),
        # The recipe's FNO sizes; ReLU as measured so far (the recipe itself uses GELU).
        ("heat FNO (quick recipe), batch 8",
         dict(branch=FNOBranch(grid=(32, 32), modes=8, width=24, activation="relu"),
              trunk=PODTrunk(), n_basis=min(150, len(heat_U))),
         heat_U, heat_Y, heat_G, 8),
    ]
    for name, params, U_c, Y_c, G_c, batch in cases:
        seconds = {}
        for n_jobs in (1, -1):
            est = DeepONetRegressor(coords=Y_c, n_eval=16, max_iter=2 if args.quick else 4,
                                    batch_size=batch, tol=None, device="cpu", random_state=0,
                                    n_jobs=n_jobs, **params).fit(U_c, G_c)
            seconds[n_jobs] = _common.median_epoch(est)
        points = min(len(Y_c), batch * 16)
        flops = step_flops(est.network_, batch, points)
        chosen = choose_threads(None, est.network_, batch, torch.device("cpu"), points)
        print(f"{name:<34} {flops:>11.3g} {seconds[1]:>9.4f} {seconds[-1]:>10.4f} "
              f"{seconds[1] / seconds[-1]:>8.2f}x {chosen:>8d}", flush=True)
    print(f"# the default uses more than one thread from {THREAD_FLOPS:.2g} flops per step")


if __name__ == "__main__":
    main()
