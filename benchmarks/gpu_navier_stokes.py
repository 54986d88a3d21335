"""GPU target of issue 33: Navier-Stokes nu = 1e-5 <= 9 % in 10 minutes of fit, data on the GPU.

Generates the ``navier-stokes-1e-5`` record's data on ``--device`` (1,000
training and 200 held-out trajectories, data seed 1000, the record's law:
64 x 64, 200 steps per time unit, ``w(1..10) -> w(11..20)``; solved in
batches by :func:`skoperator.datasets.make_navier_stokes` in torch), fits the
record's quick recipe (``make_estimator("navier-stokes-1e-5")``: the mean
of ten POD-DeepONets, canonicalised by the flow's symmetries) with a
``--max-time`` clock (default 600 s, shared by the ten members; the
one-cycle schedule follows it) and
prints the mean relative L2 error on the held-out trajectories, with TARGET
lines for the generation time and the error (Transolver's 9.0 %, Wu et al.
2024, arXiv:2402.02366, as transcribed in issue 33; FNO-2D's published
15.56 %, Li et al. 2021, Table 1).

    python benchmarks/gpu_navier_stokes.py --device cuda          # under 12 minutes on one H100
    python benchmarks/gpu_navier_stokes.py --device cpu --quick   # a smoke run, seconds

Not run for this release: no GPU was lent to it. On one CPU thread the same
recipe reaches 15.21 % in 1,517 s (``python -m skoperator.reproduce
navier-stokes-1e-5``), and the POD floor of these data, canonicalised by the
flow's symmetries, is 9.0 % at 512 modes (``docs/benchmarks.md``): the 9 %
target is out of this recipe's reach on any device.
"""

import time

import _common
import numpy as np

from skoperator.datasets import make_navier_stokes
from skoperator.metrics import mean_relative_l2_error
from skoperator.reproduce import BENCHMARKS, final_estimator, make_estimator

NAME = "navier-stokes-1e-5"


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    p.set_defaults(device="cuda")
    p.add_argument("--max-time", type=_common.positive_float, default=600.0)
    p.add_argument("--n-train", type=_common.positive_int, default=1000)
    p.add_argument("--n-test", type=_common.positive_int, default=200)
    args = p.parse_args(argv)  # --quick: 6 + 2 trajectories, 100 steps per unit, a 5 s clock
    _common.setup(args)
    law = dict(BENCHMARKS[NAME].make.keywords)
    law.update(cache=False, device=args.device)
    n_train, n_test, clock = args.n_train, args.n_test, args.max_time
    if args.quick:
        n_train, n_test, clock = 6, 2, 5.0
        law["steps_per_unit"] = 100

    tic = time.perf_counter()
    U, _, G = make_navier_stokes(n_train + n_test, random_state=1000, **law)
    generation = time.perf_counter() - tic
    print(f"# data: {n_train + n_test} trajectories of nu = {law['viscosity']} on "
          f"{args.device}, {U.shape[1]} inputs, {G.shape[1]} outputs each, in {generation:.1f} s")

    model = make_estimator(NAME, device=args.device, random_state=0, max_time=clock,
                           max_iter=1_000_000)
    est = final_estimator(model)
    if est.n_basis > n_train:  # a smoke run's few trajectories have fewer POD modes
        est.set_params(n_basis=n_train)
    tic = time.perf_counter()
    model.fit(U[:n_train], G[:n_train])
    fit = time.perf_counter() - tic
    error = mean_relative_l2_error(G[n_train:], model.predict(U[n_train:]))
    print(f"fit {fit:.1f} s, {final_estimator(model).n_iter_} epochs: "
          f"mean relative L2 {100 * error:.2f} %")
    total = generation + fit
    print(f"TARGET generation + fit <= 12 minutes: {total / 60:.1f} min "
          f"{'PASS' if total <= 720 else 'FAIL'}")
    print(f"TARGET nu = 1e-5 <= 9.00 % in {clock:.0f} s of fit: {100 * error:.2f} % "
          f"{'PASS' if error <= 0.09 else 'FAIL'} (FNO-2D published: 15.56 %)")
    return error


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
