"""The advection sweep: plain DeepONet, NOMAD's decoder and the shifted trunk on moving jumps.

Square-wave advection (:func:`skoperator.datasets.make_advection`) under the
law of de Hoop et al. (mean relative L2 error, as the CViT authors' table) or
of Lanthaler et al. (median relative L1 error at 2,048 points, as that
paper). Each variant is trained on the same data with a wall-clock budget
(``--max-time``) on one thread and scored on the same held-out functions.
The script prints one line per variant (mean relative L2, median relative
L1, fit seconds, epochs) and appends the rows to
``benchmarks/results/sweep_advection_<law>.csv``: the evidence behind the
advection recipes of ``skoperator/reproduce.py``.

    python benchmarks/sweep_advection.py de-hoop --variants plain nomad shifted
    python benchmarks/sweep_advection.py lanthaler --variants nomad-small --max-time 540 \
        --n-train 2000 --n-test 1000 --n-eval 64 --batch-size 64 --lr 2e-3

For de Hoop et al.'s law it first prints the error of the best local guess
(``local floor``). Fit seconds are one-thread wall times on a shared machine;
every command behind docs/benchmarks.md is listed in
``benchmarks/results/sweep_advection.txt``.
"""

import argparse
import csv
import time
from pathlib import Path

import _common
import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline

from skoperator import DeepONetRegressor
from skoperator.datasets import make_advection
from skoperator.networks import MLPBranch, MLPTrunk, NOMADTrunk, PODTrunk, ShiftedTrunk

RESULTS = Path(__file__).resolve().parent / "results"


def relative_errors(G, P):
    """Per function: relative L2 and relative L1 errors."""
    l2 = np.linalg.norm(P - G, axis=1) / np.linalg.norm(G, axis=1)
    l1 = np.abs(P - G).sum(axis=1) / np.abs(G).sum(axis=1)
    return l2, l1


def local_floor(U, Y, G, shift):
    """Errors of the best local guess: the mean of the two inputs around ``x - shift``.

    On the de Hoop et al. grid (200 points of [0, 1], both ends) a shift of
    0.5 lands every output point halfway between two sensors: where a jump
    falls between them, the sign there is not in the sensor values, and the
    mean of the two (0) is the least-squares guess. Its error is the floor of
    any predictor that reads the sensors near ``x - shift`` only.
    """
    x = Y[:, 0]
    n = len(x)
    z = (x - shift) % 1.0 * (n - 1)
    i0 = np.floor(z).astype(int) % n
    i1 = np.minimum(i0 + 1, n - 1)
    return relative_errors(G, 0.5 * (U[:, i0] + U[:, i1]))


def _branch(width=256, depth=3):
    return MLPBranch(layers=(width,) * depth, activation="gelu")


# name -> (what it is, estimator parameters)
VARIANTS = {
    "plain": ("plain DeepONet: MLP branch, MLP trunk 128x3, n_basis 64", dict(
        branch=_branch(), trunk=MLPTrunk(layers=(128, 128, 128), activation="gelu"),
        n_basis=64)),
    "plain-fourier": ("plain DeepONet, trunk on 64 Fourier features", dict(
        branch=_branch(), trunk=MLPTrunk(layers=(128, 128, 128), activation="gelu",
                                         fourier_features=64, fourier_scale=4.0),
        n_basis=64)),
    "pod": ("plain DeepONet: MLP branch onto 100 POD modes", dict(
        branch=_branch(), trunk=PODTrunk(), n_basis=100)),
    "pod-200": ("plain DeepONet: MLP branch onto 200 POD modes", dict(
        branch=_branch(), trunk=PODTrunk(), n_basis=200)),
    "nomad": ("NOMAD: MLP branch, decoder MLP 128x3, code 32", dict(
        branch=_branch(), trunk=NOMADTrunk(layers=(128, 128, 128), activation="gelu"),
        n_basis=32)),
    "nomad-small": ("NOMAD: decoder MLP 64x3, code 16", dict(
        branch=_branch(), trunk=NOMADTrunk(layers=(64, 64, 64), activation="gelu"),
        n_basis=16)),
    "shifted": ("shifted trunk: inner MLP 64x3, n_basis 16", dict(
        branch=_branch(), trunk=ShiftedTrunk(MLPTrunk(layers=(64, 64, 64),
                                                      activation="gelu")),
        n_basis=16)),
    "shifted-fourier": ("shifted trunk, inner MLP on 32 Fourier features, n_basis 16", dict(
        branch=_branch(), trunk=ShiftedTrunk(MLPTrunk(layers=(64, 64, 64), activation="gelu",
                                                      fourier_features=32,
                                                      fourier_scale=1.0)),
        n_basis=16)),
}


def _linear_pca(n):
    """A linear branch on ``n`` whitened principal components of u (a pipeline: PCA first;
    Adam alone crawls on the sensors' correlations) onto ``n`` POD modes; every point, MSE."""
    return (f"linear branch on {n:,} whitened principal components, {n:,} POD modes",
            dict(input_pca=n, branch=MLPBranch(layers=()), trunk=PODTrunk(), n_basis=n,
                 sampling="full", loss="mse"))


# The operator is a fixed shift: linear in u, represented up to the modes' floor.
VARIANTS.update({f"linear-pca{n}": _linear_pca(n) for n in (800, 1000, 1100, 1150, 1170)})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("law", choices=["de-hoop", "lanthaler"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--n-train", type=_common.positive_int, default=2000)
    parser.add_argument("--n-test", type=_common.positive_int, default=1000)
    parser.add_argument("--max-time", type=_common.positive_float, default=120.0)
    parser.add_argument("--max-iter", type=_common.positive_int, default=100000)
    parser.add_argument("--n-eval", type=_common.positive_int, default=64)
    parser.add_argument("--batch-size", type=_common.positive_int, default=128)
    parser.add_argument("--lr", type=_common.positive_float, default=2e-3)
    parser.add_argument("--seed", type=_common.nonnegative_int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    U, Y, G = make_advection(args.n_train + args.n_test, law=args.law, random_state=args.seed)
    Utr, Gtr, Ute, Gte = U[:args.n_train], G[:args.n_train], U[args.n_train:], G[args.n_train:]
    if args.law == "de-hoop":
        l2, l1 = local_floor(Ute, Y, Gte, 0.5)
        print(f"{'local floor':16s} mean rel L2 {l2.mean():.4f}  median rel L1 "
              f"{np.median(l1):.4f}  (mean of the two sensors around x - 0.5)", flush=True)
    if args.law == "lanthaler":  # the operator is a fixed shift: linear in u
        centred = Utr - Utr.mean(axis=0)
        sv = np.linalg.svd(centred, compute_uv=False)
        W = np.linalg.lstsq(np.c_[Utr, np.ones(len(Utr))], Gtr, rcond=None)[0]
        l2, l1 = relative_errors(Gte, np.c_[Ute, np.ones(len(Ute))] @ W)
        print(f"{'least squares':16s} mean rel L2 {l2.mean():.4f}  median rel L1 "
              f"{np.median(l1):.1e}  (G on U; the training inputs span "
              f"{int((sv > 1e-8 * sv[0]).sum())} dimensions)", flush=True)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"sweep_advection_{args.law}.csv"
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(["variant", "n_train", "n_test", "max_time", "n_eval", "batch_size",
                             "lr", "seed", "mean_rel_l2", "median_rel_l1", "fit_s", "epochs"])
        for name in args.variants:
            what, params = VARIANTS[name]
            params = dict(params)
            n_pca = params.pop("input_pca", None)
            kwargs = dict(loss="relative_l2", n_eval=args.n_eval, batch_size=args.batch_size,
                          learning_rate_init=args.lr, learning_rate="onecycle",
                          max_iter=args.max_iter, max_time=args.max_time, tol=None,
                          random_state=args.seed, device="cpu")
            est = DeepONetRegressor(coords=Y, **{**kwargs, **params})
            model = est if n_pca is None else make_pipeline(
                PCA(n_pca, whiten=True, random_state=args.seed), est)
            start = time.perf_counter()
            model.fit(Utr, Gtr)
            seconds = time.perf_counter() - start
            l2, l1 = relative_errors(Gte, model.predict(Ute))
            row = [name, args.n_train, args.n_test, args.max_time, args.n_eval,
                   args.batch_size, args.lr, args.seed, f"{l2.mean():.5f}",
                   f"{np.median(l1):.5f}", f"{seconds:.0f}", est.n_iter_]
            writer.writerow(row)
            f.flush()
            print(f"{name:16s} mean rel L2 {l2.mean():.4f}  median rel L1 {np.median(l1):.4f}  "
                  f"{seconds:.0f} s  {est.n_iter_} epochs  ({what})", flush=True)


if __name__ == "__main__":
    main()
