"""Physics-informed DeepONet on the antiderivative, at equal wall time on one thread.

Trains ``ds/dx = u``, ``s(0) = 0`` from the residual alone (``G`` entirely
missing) and scores the mean relative L2 error on held-out functions against
the exact antiderivative:

* skoperator, ``PDEResidual(sampling=...)`` with collocation points drawn per
  function and fresh every step ("random"), one set per step for the whole
  mini-batch ("shared", DeepXDE's way) and one set per function drawn once
  ("fixed", the original PI-DeepONet); several seeds, mean and spread;
* DeepXDE's PI-DeepONet (``dde.data.PDEOperatorCartesianProd`` with a soft
  initial condition, ``DDE_BACKEND=pytorch``; one set of collocation points
  shared by every function, drawn once), the same widths, stopped at
  the same wall time, scored on the same held-out functions (its branch reads
  the same 100 sensors).

Run ``python benchmarks/bench_physics.py [--quick] [--seconds S]``.
"""

import os
import time

import _common
import numpy as np
import torch  # noqa: E402  (after _common: the checkout on sys.path)
from _common import deepxde_clock, parser, setup

from skoperator import DeepONetRegressor  # noqa: E402
from skoperator.datasets import make_antiderivative  # noqa: E402
from skoperator.networks import MLPBranch, MLPTrunk  # noqa: E402
from skoperator.physics import PDEResidual  # noqa: E402


def residual(y, s, u, d):
    return d(s, 0) - u


def zero_at_origin(y, out):
    return y[..., 0] * out


def rel_l2(G, P):
    return float(np.mean(np.linalg.norm(P - G, axis=1) / np.linalg.norm(G, axis=1)))


def fit_skoperator(U, Y, Ut, Gt, sampling, seed, seconds, width, n_points, batch,
                   activation="silu"):
    layers = (width,) * 3
    est = DeepONetRegressor(
        coords=Y, branch=MLPBranch(layers=layers, activation=activation),
        trunk=MLPTrunk(layers=layers, activation=activation), n_basis=width,
        physics=PDEResidual(residual, sensors=Y[:, 0], n_points=n_points, sampling=sampling),
        output_transform=zero_at_origin, learning_rate_init=3e-3, learning_rate="onecycle",
        batch_size=batch, max_iter=10**6, max_time=seconds, tol=None, device="cpu",
        random_state=seed)
    tic = time.perf_counter()
    est.fit(U, np.full((len(U), len(Y)), np.nan))
    wall = time.perf_counter() - tic
    steps = est.n_iter_ * int(np.ceil(len(U) / batch))
    return rel_l2(Gt, est.predict(Ut)), wall, steps


def fit_deepxde(Ut, Gt, Y, seed, seconds, width, n_points, batch, n_train):
    os.environ.setdefault("DDE_BACKEND", "pytorch")
    import deepxde as dde

    dde.config.set_random_seed(seed)
    geom = dde.geometry.TimeDomain(0, 1)

    def pde(x, y, v):
        return dde.grad.jacobian(y, x, j=0) - v

    ic = dde.icbc.IC(geom, lambda _: 0, lambda _, on_initial: on_initial)
    pde_data = dde.data.PDE(geom, pde, ic, num_domain=n_points, num_boundary=2, num_test=50)
    sensors = Y  # (100, 1): the branch reads the same 100 sensors as skoperator's
    space = dde.data.GRF(length_scale=0.2)
    data = dde.data.PDEOperatorCartesianProd(pde_data, space, sensors, n_train,
                                             function_variables=[0], num_test=10,
                                             batch_size=batch)
    net = dde.nn.DeepONetCartesianProd([len(sensors)] + [width] * 3, [1] + [width] * 3,
                                       "tanh", "Glorot normal")
    model = dde.Model(data, net)
    model.compile("adam", lr=1e-3)

    clock = deepxde_clock(seconds)
    # (dde.callbacks.PDEPointResampler fails on PDEOperatorCartesianProd in
    # DeepXDE 1.15: no num_bcs; its collocation points stay as drawn.)
    tic = time.perf_counter()
    model.train(iterations=10**7, display_every=10**9, callbacks=[clock], verbose=0)
    wall = time.perf_counter() - tic
    pred = model.predict((Ut.astype(np.float32), Y.astype(np.float32)))
    return rel_l2(Gt, np.asarray(pred, dtype=np.float64)), wall, clock.steps


def main():
    p = parser(__doc__)
    p.add_argument("--seconds", type=_common.positive_float, default=None, help="wall time per fit")
    p.add_argument("--seeds", type=_common.nonnegative_int, nargs="+", default=None)
    p.add_argument("--no-deepxde", action="store_true")
    args = p.parse_args()
    setup(args)
    seconds = args.seconds or (10.0 if args.quick else 120.0)
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    n_train = 200 if args.quick else 1000
    # The antiderivative-physics quick recipe's settings (SiLU, batches of 64);
    # DeepXDE keeps tanh, its examples' activation.
    width, n_points, batch = 40, 32, 64
    U, Y, G = make_antiderivative(n_train + 500, random_state=1000)
    U, Ut, Gt = U[:n_train], U[n_train:], G[n_train:]
    print(f"# antiderivative, residual only: {n_train} training functions, 500 held out, "
          f"{seconds:g} s per fit, widths {width}x3, {n_points} points per function, "
          f"batch {batch}, seeds {seeds}; skoperator SiLU, DeepXDE tanh")
    fit_skoperator(U[:20], Y, Ut[:5], Gt[:5], "random", 0, 1.0, width, n_points, batch)  # warm-up
    rows = []
    for sampling in ("random", "shared", "fixed"):
        errs = []
        for seed in seeds:
            err, wall, steps = fit_skoperator(U, Y, Ut, Gt, sampling, seed, seconds, width,
                                              n_points, batch)
            errs.append(err)
            print(f"skoperator {sampling:<8s} seed {seed}: rel L2 {err:.3e}  "
                  f"({wall:.1f} s, ~{steps} steps)", flush=True)
        rows.append((f"skoperator sampling={sampling}", errs))
    if not args.no_deepxde:
        errs = []
        try:
            for seed in seeds:
                err, wall, steps = fit_deepxde(Ut, Gt, Y, seed, seconds, width, n_points,
                                               batch, n_train)
                errs.append(err)
                print(f"deepxde PI-DeepONet seed {seed}: rel L2 {err:.3e}  ({wall:.1f} s, "
                      f"{steps} steps)", flush=True)
        except Exception as exc:  # report why, keep the table
            print(f"deepxde could not run: {type(exc).__name__}: {exc}")
        if errs:
            rows.append(("deepxde PI-DeepONet (one fixed shared set, soft IC)", errs))
    print(f"\n{'method':<48s} {'mean rel L2':>12s} {'std':>10s} {'seeds':>6s}")
    for name, errs in rows:
        print(f"{name:<48s} {np.mean(errs):>12.3e} {np.std(errs):>10.2e} {len(errs):>6d}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
