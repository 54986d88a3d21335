"""Time the full-resolution generators and check them against reference solves.

FNO's protocol (issue 32): Darcy solved on 421 x 421 nodes and learned on
85 x 85, Burgers solved on 8,192 points and learned on 1,024. Target: 1,200
samples of each (1,000 train + 200 test) in <= 10 minutes on 2 cores.

The machine is shared, so the script times a smaller count with
``n_jobs=2`` and prints a PROJECTION to 1,200 samples, labelled as such. The
generators solve in chunks (16 Darcy fields, 256 Burgers functions), one
chunk per thread at a time; the projection scales the measured time by the
number of chunks each of the 2 threads runs (1,200 samples: 38 Darcy chunks
of 16 on the busiest thread, 3 Burgers chunks of up to 256), which is what
the full run does. Field
sampling (sequential) is scaled with the count too, which overstates it
little. Agreement: each generator's output against the same samples solved
another way (SuperLU on the same grid and CG on an 841 x 841 grid for Darcy;
8,192 points with 10 times the time steps for Burgers).

Two projections are printed: the wall time on this shared machine, and the
process's CPU time per sample times the samples of the busiest thread, which
is the wall time on 2 cores of its own (the TARGET line; the solvers'
threads do not wait on each other).

Run: ``python benchmarks/bench_generators.py`` (about 2 minutes on 2 idle cores;
``--quick`` for a smoke run).
"""

import math
import os
import time

import _common
import numpy as np
from _common import parser, setup, verdict

from skoperator.datasets import _burgers, _darcy, make_burgers, make_darcy

N_FULL = 1200
BUDGET_MINUTES = 10.0


def rel_l2(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def busiest(n, chunk, jobs):
    """Samples the busiest of ``jobs`` threads solves (whole chunks, at most ``n``)."""
    return min(n, math.ceil(math.ceil(n / chunk) / jobs) * chunk)


def timed(make, n, jobs, **kwargs):
    """(wall seconds, CPU seconds of this process, the arrays)."""
    tic, cpu = time.perf_counter(), time.process_time()
    out = make(n, random_state=0, n_jobs=jobs, **kwargs)
    return time.perf_counter() - tic, time.process_time() - cpu, out


def project(name, seconds, cpu, n, chunk, jobs):
    """Print both projections to N_FULL samples; return the CPU-time one (minutes).

    Wall time on this machine counts the other work on it; CPU time counts
    the work of this process only: divided by the threads' share of the
    chunks, it is the wall time on ``jobs`` cores of its own.
    """
    factor = busiest(N_FULL, chunk, jobs) / busiest(n, chunk, jobs)
    wall = seconds * factor / 60
    per_sample = cpu / n
    dedicated = per_sample * busiest(N_FULL, chunk, jobs) / 60
    print(f"{name}: measured {n} samples in {seconds:.1f} s wall, {cpu:.1f} s CPU, "
          f"n_jobs={jobs}\n  PROJECTION to {N_FULL} samples: {wall:.2f} min wall on this "
          f"shared machine (x{factor:g}, chunk-aware); {dedicated:.2f} min on {jobs} cores "
          f"of its own (CPU seconds per sample {per_sample:.3f} x the "
          f"{busiest(N_FULL, chunk, jobs)} samples of the busiest thread)")
    return dedicated


def darcy(args):
    n = 4 if args.quick else args.n_darcy
    seconds, cpu, (U, _, G) = timed(make_darcy, n, args.jobs, n_points=85)
    minutes = project("darcy 421 -> 85 (solver='cg')", seconds, cpu, n,
                      _darcy._CHUNK_SIZE, args.jobs)
    verdict(f"darcy {N_FULL} samples at 421, 2 own cores (projected)", minutes,
            BUDGET_MINUTES, at_least=False, what="minutes")
    k = 2
    _, cpu_direct, (_, _, direct) = timed(make_darcy, k, 1, n_points=85, solver="direct")
    print(f"darcy 421 x 421 CPU seconds per field: SuperLU (solver='direct') "
          f"{cpu_direct / k:.2f}, CG {cpu / n:.2f}")
    print(f"darcy agreement, CG vs SuperLU on the same 421 grid, 85 x 85 nodes, {k} "
          f"fields: relative L2 {rel_l2(G[:k], direct):.1e}")
    if not args.quick:
        fine = make_darcy(k, n_points=85, resolution=841, random_state=0, n_jobs=args.jobs)
        assert np.array_equal(fine[0], U[:k])  # the same permeabilities
        print(f"darcy agreement, 421 vs 841 x 841 (the discretisation; first order in "
              f"h: a jumps), 85 x 85 nodes, {k} fields: relative L2 "
              f"{rel_l2(G[:k], fine[2]):.1e}")


def burgers(args, law):
    n = 16 if args.quick else args.n_burgers
    seconds, cpu, (_, _, G) = timed(make_burgers, n, args.jobs, n_points=1024, law=law)
    steps = _burgers._default_steps(1.0, None, _burgers.LAWS[law].dt)
    minutes = project(f"burgers law={law!r} 8192 -> 1024 ({steps} steps)", seconds, cpu,
                      n, _burgers._CHUNK_SIZE, args.jobs)
    verdict(f"burgers {law} {N_FULL} at 8192, 2 own cores (projected)", minutes,
            BUDGET_MINUTES, at_least=False, what="minutes")
    k = 4
    ref = make_burgers(k, n_points=1024, law=law, n_steps=10 * steps, random_state=0)[2]
    err = np.linalg.norm(G[:k] - ref, axis=1) / np.linalg.norm(ref, axis=1)
    print(f"burgers {law} agreement vs {10 * steps} steps on 8192 points, {k} functions: "
          f"relative L2 mean {err.mean():.1e}, max {err.max():.1e}")


def main():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--jobs", type=_common.positive_int, default=2)
    p.add_argument("--n-darcy", type=_common.positive_int, default=32)
    p.add_argument("--n-burgers", type=_common.positive_int, default=256)
    args = p.parse_args()
    setup(args)
    print(f"# load average before: {os.getloadavg()[0]:.1f} (other work on the machine "
          "slows every time below)")
    darcy(args)
    for law in ("paper", "fno-script"):
        burgers(args, law)


if __name__ == "__main__":
    main()
