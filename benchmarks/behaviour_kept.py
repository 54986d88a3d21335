"""Behaviour kept: predictions of small fits with the same seed, saved and compared across versions.

Run it in a checkout of each version with ``--save``, then ``--compare``::

    git worktree add /tmp/old 13012eb
    PYTHONPATH=/tmp/old python benchmarks/behaviour_kept.py --save /tmp/old.npz
    PYTHONPATH=. python benchmarks/behaviour_kept.py --save /tmp/new.npz
    python benchmarks/behaviour_kept.py --compare /tmp/old.npz /tmp/new.npz

(``PYTHONPATH`` names the checkout whose package is measured: an editable install would
otherwise import its own). It covers every sampler but "grouped", the L-BFGS polish, early
stopping, a POD trunk, the four multi-output layouts, warm start, ``partial_fit``, missing
targets, a vectorised ensemble, the three MultiBranch merges and the antiderivative and heat
recipes (their epochs shortened). One CPU thread. The result of the last comparison is in
``benchmarks/results/behaviour_kept.txt``.
"""

import argparse
import warnings

import numpy as np
import torch

from skoperator import DeepONetRegressor
from skoperator.datasets import make_antiderivative
from skoperator.networks import MLPBranch, MLPTrunk, MultiBranch
from skoperator.reproduce import load_benchmark, make_estimator
from skoperator.uncertainty import EnsembleRegressor


def polish(n):
    """Plain Adam, then an L-BFGS polish of ``n`` iterations (None: none).

    A setting of the optimizer from 0.4 on; 0.3's ``lbfgs_iter``.
    """
    if "lbfgs_iter" in DeepONetRegressor().get_params():  # 0.3
        return dict(lbfgs_iter=n or 0)
    from skoperator.optimizers import LBFGS, Adam

    return dict(optimizer=Adam(polish=None if n is None else LBFGS(max_iter=n)))


def cases():
    """Name -> predictions of each small fit."""
    out = {}
    U, Y, G = make_antiderivative(80, n_points=30, random_state=0)
    train, test = slice(0, 60), slice(60, None)
    fast = dict(branch=MLPBranch(layers=(16,)), trunk=MLPTrunk(layers=(16,)), n_basis=8,
                max_iter=5, tol=None, device="cpu", random_state=0)

    def fitted(G=G, U=U, **params):
        return DeepONetRegressor(coords=Y, **{**fast, **params}).fit(U[train], G[train])

    for sampling in ["random", "full", "shared", "fixed", "stratified", "adaptive"]:
        out[f"sampling-{sampling}"] = fitted(sampling=sampling, n_eval=5).predict(U[test])
    out["lbfgs"] = fitted(**polish(5)).predict(U[test])
    out["early"] = fitted(early_stopping=True).predict(U[test])
    out["pod"] = fitted(trunk="pod").predict(U[test])
    for layout in ["split_branch", "split_trunk", "split_both", "independent"]:
        est = fitted(G=np.hstack([G, -G]), n_outputs=2, multi_output_strategy=layout)
        out[f"layout-{layout}"] = est.predict(U[test])
    est = fitted()
    est.set_params(warm_start=True).fit(U[train], G[train])
    out["warm"] = est.predict(U[test])
    est.partial_fit(U[train], G[train])
    out["partial"] = est.predict(U[test])
    missing = G.copy()
    missing[::3, ::4] = np.nan
    out["nan"] = fitted(G=missing).predict(U[test])
    ensemble = EnsembleRegressor(DeepONetRegressor(coords=Y, **fast), n_estimators=3,
                                 random_state=0).fit(U[train], G[train])
    out["ensemble"] = ensemble.predict(U[test])
    UU = np.hstack([U, U[:, ::-1]])
    for merge in ["concat", "product", "product_sum"]:
        branch = MultiBranch([MLPBranch(layers=(16,), n_sensors=U.shape[1]),
                              MLPBranch(layers=(16,))], merge=merge)
        out[f"multi-{merge}"] = fitted(U=UU, branch=branch).predict(UU[test])
    # the recipes without a clock, their epochs shortened
    Ua, Ga, Ut, _, _ = load_benchmark("antiderivative", 200, n_test=50, random_state=0)
    # 0.3.0's quick recipe, spelled out (0.4 changed the record's: issue 32)
    old_recipe = dict(branch=MLPBranch(layers=(40, 40, 40)), trunk=MLPTrunk(layers=(40, 40, 40)),
                      n_basis=40, n_eval=1, learning_rate_init=4e-3, batch_size=128)
    model = make_estimator("antiderivative", random_state=0, device="cpu", max_iter=10,
                           **old_recipe, **polish(20)).fit(Ua, Ga)
    out["recipe-antiderivative"] = model.predict(Ut)
    Uh, Gh, Uht, _, _ = load_benchmark("heat", 40, n_test=4, random_state=0,
                                       test_data="generated")
    # 0.3.0's heat recipe: Adam without the gradient clipping 0.4 added (issue 31)
    model = make_estimator("heat", random_state=0, device="cpu", max_iter=1,
                           **polish(None)).fit(Uh, Gh)
    out["recipe-heat"] = model.predict(Uht)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", metavar="PATH")
    group.add_argument("--compare", nargs=2, metavar=("OLD", "NEW"))
    args = parser.parse_args()
    if args.compare:
        old, new = (np.load(p) for p in args.compare)
        same = 0
        for key in old.files:
            equal = key in new.files and np.array_equal(old[key], new[key], equal_nan=True)
            same += equal
            print(f"{key:24s} {'identical' if equal else 'DIFFERENT'}")
        print(f"{same} of {len(old.files)} cases give identical predictions")
        return
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    out = cases()
    np.savez(args.save, **out)
    print(f"saved {len(out)} cases to {args.save}")


if __name__ == "__main__":
    main()
