"""Choose MultiBranch's default merge: two input functions, additive and multiplicative operators.

Two independent input functions u1, u2 (Gaussian random fields on 100
sensors, ``make_antiderivative``) side by side in U; two operators:

- additive: s = antiderivative(u1) + antiderivative(u2) (any linear problem
  with two forcings);
- multiplicative: s = antiderivative(u1) * u2.

For every merge of :data:`skoperator.networks.MERGES`, a DeepONet with two MLP
branches (``MultiBranch``) is trained on 1,000 functions for 300 epochs of
random sampling and scored by the mean per-function R2 on 500 new functions.
The default merge must reach >= 0.98 on the additive and >= 0.97 on the
multiplicative operator (issue 18).

Run: ``python benchmarks/bench_merge.py`` (about 10 minutes on one thread;
``--quick`` for a smoke run).
"""

import time

import _common
import numpy as np
from _common import parser, setup

from skoperator import DeepONetRegressor
from skoperator.datasets import make_antiderivative
from skoperator.metrics import mean_function_r2
from skoperator.networks import MERGES, MLPBranch, MultiBranch


def problems(n, seed=0):
    U1, Y, G1 = make_antiderivative(n, random_state=seed)
    U2, _, G2 = make_antiderivative(n, random_state=seed + 1)
    U = np.hstack([U1, U2])
    return U, Y, {"additive": G1 + G2, "multiplicative": G1 * U2}


def main():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", type=_common.positive_int, default=300)
    p.add_argument("--seeds", type=_common.nonnegative_int, nargs="+", default=[0])
    p.add_argument("--merges", nargs="+", default=sorted(MERGES))
    p.add_argument("--n-basis", type=_common.positive_int, default=80)
    p.add_argument("--lr", type=_common.positive_float, default=3e-3)
    args = p.parse_args()
    setup(args)
    n_train, n_test, epochs = (200, 100, 20) if args.quick else (1000, 500, args.epochs)
    U, Y, targets = problems(n_train + n_test)
    default = MultiBranch([MLPBranch()]).merge
    print(f"# {n_train} training functions, {epochs} epochs, random sampling n_eval=32, "
          f"n_basis {args.n_basis}, one-cycle peak {args.lr}; default merge: {default}")
    print("merge,operator,seed,mean_r2,fit_seconds")
    results = {}
    for merge in args.merges:
        for name, G in targets.items():
            for seed in args.seeds:
                est = DeepONetRegressor(
                    coords=Y, branch=MultiBranch([MLPBranch(n_sensors=100), MLPBranch()],
                                                 merge=merge),
                    n_eval=32, max_iter=epochs, learning_rate="onecycle", n_basis=args.n_basis,
                    learning_rate_init=args.lr, tol=None, random_state=seed)
                tic = time.perf_counter()
                est.fit(U[:n_train], G[:n_train])
                seconds = time.perf_counter() - tic
                r2 = mean_function_r2(G[n_train:], est.predict(U[n_train:]))
                results.setdefault((merge, name), []).append(r2)
                print(f"{merge},{name},{seed},{r2:.4f},{seconds:.1f}", flush=True)
    for name, target in (("additive", 0.98), ("multiplicative", 0.97)):
        r2 = float(np.mean(results.get((default, name), [np.nan])))
        print(f"TARGET default merge ({default}) on the {name} operator: mean R2 {r2:.4f} "
              f">= {target}: {'PASS' if r2 >= target else 'FAIL'}")


if __name__ == "__main__":
    main()
