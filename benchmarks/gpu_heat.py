"""Heat conduction on a GPU: the paper's largest setting within a fit-time budget.

Trains ``make_estimator("heat", n_eval=16)`` (this project's quick recipe) on
5,000 generated fields and scores it on the authors' 500 reference fields
(``SKOPERATOR_HEAT_REFERENCE`` or ../shared/data/heat2d_reference). The number
of epochs is fixed by ``--epochs``; with ``--budget-s`` instead, two warm-up
epochs are timed and the epochs are chosen to fill that fit-time budget (the
number used is printed, so the run can be repeated with ``--epochs``).

Example::

    python benchmarks/gpu_heat.py --n-train 5000 --budget-s 240 --out results/heat_gpu
"""

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from skoperator.datasets import make_heat_conduction
from skoperator.metrics import mean_function_r2
from skoperator.reproduce import heat_reference_dir, make_estimator


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-train", type=int, default=5000)
    parser.add_argument("--n-eval", type=int, default=16)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--budget-s", type=float, default=240.0)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default="results/heat_gpu")
    args = parser.parse_args(argv)

    ref = heat_reference_dir()
    if ref is None:
        raise SystemExit("the authors' reference fields were not found; set "
                         "SKOPERATOR_HEAT_REFERENCE")
    U_test = np.load(ref / "inputs_test.npy").astype(np.float64)
    G_test = np.load(ref / "target_values_test.npy").astype(np.float64)
    tic = time.perf_counter()
    U, _, G = make_heat_conduction(args.n_train, random_state=1000 + args.seed, n_jobs=-1)
    print(f"generated {args.n_train} fields in {time.perf_counter() - tic:.1f} s", flush=True)

    def estimator(max_iter):
        est = make_estimator("heat", n_eval=args.n_eval, random_state=args.seed,
                             device=args.device, max_iter=max_iter)
        if args.batch_size:
            est.set_params(batch_size=args.batch_size)
        if args.lr:
            est.set_params(learning_rate_init=args.lr)
        return est

    epochs = args.epochs
    if epochs is None:
        probe = estimator(3).fit(U, G)
        per_epoch = float(np.median([h["seconds"] for h in probe.history_[1:]]))
        epochs = max(1, int(args.budget_s / per_epoch))
        print(f"{per_epoch:.3f} s per epoch -> {epochs} epochs for {args.budget_s:.0f} s",
              flush=True)
    est = estimator(epochs)
    tic = time.perf_counter()
    est.fit(U, G)
    fit_s = time.perf_counter() - tic
    pred = est.predict(U_test)
    row = dict(benchmark="heat", n_train=args.n_train, n_eval=args.n_eval, seed=args.seed,
               r2=mean_function_r2(G_test, pred), mse=float(np.mean((G_test - pred) ** 2)),
               train_time_s=fit_s, epochs=epochs, batch_size=est.batch_size_,
               learning_rate_init=est.learning_rate_init, device=str(est.device_),
               test_data="reference")
    print(" ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
                   for k, v in row.items()), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.csv", "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if f.tell() == 0:
            writer.writeheader()
        writer.writerow(row)
    return row


if __name__ == "__main__":
    main()
