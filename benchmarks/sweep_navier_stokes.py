"""The Navier-Stokes sweep: space-time DeepONets on FNO's protocol, short runs.

Inputs ``w(t)`` for ``t = 1 .. 10`` as 10 channels of a 64 x 64 grid branch;
outputs at ``(x, y, t)`` for ``t = 11 .. t_final`` (20 at ``nu = 1e-5``, 50
at ``nu = 1e-3``), ``t`` a trunk coordinate, trained on ``--n-eval`` random
points per function and step with the relative L2 loss. Every variant is
trained on the same generated trajectories with a wall-clock budget
(``--max-time``, default 100 s) on one thread and scored on the same held-out
trajectories with the mean relative L2 error over the whole space-time
output (FNO's metric). The script first prints the error of persistence
(``w(t) = w(10)`` for every later ``t``), a floor any model must beat.

The data are generated once (float32 solve, cached in ``--data-home``). The
sweep uses far fewer trajectories than the benchmark's 1,000 (default 100
training, 20 held out) and short clocks: its numbers choose a first recipe;
they are not the benchmark's result.

    python benchmarks/sweep_navier_stokes.py 1e-5 --variants fno cnn fno-ff
    python benchmarks/sweep_navier_stokes.py 1e-3 --variants fno --max-time 100

``--pod-floor 256 512`` prints, before any variant, the error of the best
POD-DeepONet with that many modes: the held-out outputs projected onto the
leading POD modes of the training outputs (centred, over every ``(x, y, t)``).
No branch can beat it. The records' data are ``--n-train 1000 --n-test 200
--seed 1000`` (``reproduce`` seeds the data with ``1000 + seed``):

    python benchmarks/sweep_navier_stokes.py 1e-5 --n-train 1000 --n-test 200 \
        --seed 1000 --pod-floor 256 512 1000 --variants

``--canonical`` moves every trajectory along the diagonal ``(x + s, y - s)``
to its canonical position first (:class:`~skoperator.symmetry.GridTranslation`,
an exact symmetry of the flow): the floor is then that of the moved outputs,
and every variant is fitted inside a
:class:`~skoperator.symmetry.CanonicalizedRegressor`. ``--point-symmetries``
adds the flow's glide and rotation to the shifts
(:func:`~skoperator.datasets.navier_stokes_symmetry`).
"""

import argparse
import csv
import time
from pathlib import Path

import _common  # noqa: F401  (puts the checkout first on sys.path)
import numpy as np
import torch

from skoperator import DeepONetRegressor
from skoperator.datasets import make_navier_stokes, navier_stokes_symmetry
from skoperator.metrics import mean_relative_l2_error
from skoperator.networks import CNNBranch, FNOBranch, MLPBranch, MLPTrunk, PODTrunk
from skoperator.symmetry import CanonicalizedRegressor, GridTranslation

RESULTS = Path(__file__).resolve().parent / "results"
T_FINAL = {"1e-5": 20, "1e-3": 50}
STEPS = {"1e-5": 200, "1e-3": 100}


def variant(name, args):
    """Estimator parameters of a variant."""
    trunk = MLPTrunk(layers=(128, 128, 128), activation="gelu")
    fno = FNOBranch(grid=(64, 64), channels=10, modes=12, width=20, n_layers=4,
                    head_layers=(128,))
    branches = {
        "fno": fno,
        "fno-ff": fno,
        "fno-wide": FNOBranch(grid=(64, 64), channels=10, modes=16, width=32, n_layers=4,
                              head_layers=(256,)),
        "cnn": CNNBranch(grid=(64, 64), channels=10, filters=(32, 64, 128), layers=(128,)),
    }
    branches["mlp"] = MLPBranch(layers=(256, 256), activation="gelu")
    if name.startswith("pod-"):
        # POD-DeepONet: the leading POD modes of the training outputs over all
        # (x, y, t) as the trunk, the branch giving their coefficients
        return dict(branch=branches[name[4:]], trunk=PODTrunk(), n_basis=args.n_basis,
                    sampling="full", loss="relative_l2", learning_rate_init=args.lr,
                    learning_rate="onecycle", batch_size=args.batch_size, max_iter=10_000,
                    max_time=args.max_time, tol=None, device="cpu", random_state=0)
    if name == "fno-ff":
        trunk = MLPTrunk(layers=(128, 128, 128), activation="gelu", fourier_features=32,
                         fourier_scale=2.0)
    return dict(branch=branches[name], trunk=trunk, n_basis=args.n_basis, n_eval=args.n_eval,
                loss="relative_l2", learning_rate_init=args.lr, learning_rate="onecycle",
                batch_size=args.batch_size, max_iter=10_000, max_time=args.max_time, tol=None,
                device="cpu", random_state=0)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("viscosity", choices=sorted(T_FINAL))
    p.add_argument("--variants", nargs="*", default=["fno"])
    p.add_argument("--n-train", type=_common.positive_int, default=100)
    p.add_argument("--n-test", type=_common.positive_int, default=20)
    p.add_argument("--n-eval", type=_common.positive_int, default=2048)
    p.add_argument("--n-basis", type=_common.positive_int, default=64)
    p.add_argument("--batch-size", type=_common.positive_int, default=8)
    p.add_argument("--lr", type=_common.positive_float, default=2e-3)
    p.add_argument("--max-time", type=_common.positive_float, default=100.0)
    p.add_argument("--seed", type=_common.nonnegative_int, default=0,
                   help="random_state of the data")
    p.add_argument("--canonical", action="store_true",
                   help="canonicalise the diagonal shifts (x + s, y - s) first")
    p.add_argument("--point-symmetries", action="store_true",
                   help="with --canonical: the glide and the rotation as well")
    p.add_argument("--pod-floor", type=_common.positive_int, nargs="*", default=[],
                   help="print the POD projection error for these numbers of modes")
    p.add_argument("--data-home", default=None, help="cache folder of the generated data")
    args = p.parse_args()
    torch.set_num_threads(1)

    tic = time.perf_counter()
    n = args.n_train + args.n_test
    U, Y, G = make_navier_stokes(n, viscosity=float(args.viscosity),
                                 t_final=T_FINAL[args.viscosity], n_inputs=10,
                                 steps_per_unit=STEPS[args.viscosity], dtype="float32",
                                 random_state=args.seed, cache=True,
                                 data_home=args.data_home)
    print(f"# data: {n} trajectories nu={args.viscosity}, seed {args.seed} "
          f"({time.perf_counter() - tic:.0f} s, cached); train {args.n_train}, test "
          f"{args.n_test}, {G.shape[1]} output points")
    U_train, G_train, U_test, G_test = U[:args.n_train], G[:args.n_train], U[args.n_train:], \
        G[args.n_train:]
    n_out = G.shape[1] // 4096
    last = U_test.reshape(len(U_test), 10, 4096)[:, -1]
    persistence = np.tile(last, (1, n_out))
    print(f"persistence w(t) = w(10): mean relative L2 "
          f"{mean_relative_l2_error(G_test, persistence):.4f}")
    shifts = (navier_stokes_symmetry(64) if args.point_symmetries
              else GridTranslation(grid=(64, 64), direction=(1, -1)))
    if args.pod_floor:
        G_floor, G_floor_test = G_train, G_test
        if args.canonical:
            G_floor = shifts.transform_outputs(G_train, shifts.canonical_elements(U_train))
            G_floor_test = shifts.transform_outputs(G_test, shifts.canonical_elements(U_test))
        for n_modes, err in _common.pod_floor(G_floor, G_floor_test, args.pod_floor).items():
            print(f"POD floor, {n_modes:>4d} modes: mean relative L2 {err:.4f}", flush=True)

    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"sweep_navier_stokes_{args.viscosity}.csv"
    new = not out.exists()
    with out.open("a", newline="") as fh:
        writer = csv.writer(fh)
        if new:
            writer.writerow(["variant", "n_train", "n_eval", "n_basis", "batch_size", "lr",
                             "max_time", "rel_l2", "fit_s", "epochs"])
        for name in args.variants:
            est = DeepONetRegressor(coords=Y, **variant(name, args))
            if args.canonical:
                est = CanonicalizedRegressor(est, shifts)
            tic = time.perf_counter()
            est.fit(U_train, G_train)
            fit_s = time.perf_counter() - tic
            err = mean_relative_l2_error(G_test, est.predict(U_test))
            n_iter = (est.estimator_ if args.canonical else est).n_iter_
            if args.canonical:
                name = f"{name}+group" if args.point_symmetries else f"{name}+canonical"
            print(f"{name:<10s} mean relative L2 {err:.4f}  fit {fit_s:6.1f} s  "
                  f"epochs {n_iter}", flush=True)
            writer.writerow([name, args.n_train, args.n_eval, args.n_basis, args.batch_size,
                             args.lr, args.max_time, f"{err:.5f}", f"{fit_s:.1f}",
                             n_iter])


if __name__ == "__main__":
    main()
