"""``python -m skoperator``: the main job, a one-minute antiderivative study.

Trains DeepONetRegressor (the quick recipe of ``skoperator.reproduce``) on
the antiderivative benchmark with randomized trunk sampling at several
``n_eval`` and with the full grid, and prints mean per-function R2 on 1,000
held-out functions and fit seconds.
"""

import argparse
import logging
import time

from .datasets import make_antiderivative
from .metrics import mean_function_r2

logger = logging.getLogger("skoperator")


def run(n_train=2000, n_test=1000, n_evals=(1, 5, 10, 25, 50), max_iter=None,
        random_state=0, device="auto"):
    """Fit and score one model per row; return the rows of the table.

    Returns
    -------
    rows : list of dict
        Keys ``sampling``, ``n_eval``, ``r2``, ``fit_seconds``.
    """
    from .reproduce import make_estimator

    U, Y, G = make_antiderivative(n_train + n_test, random_state=random_state)
    rows = []
    settings = [("random", k) for k in n_evals] + [("full", Y.shape[0])]
    for sampling, n_eval in settings:
        est = make_estimator("antiderivative", n_eval="full" if sampling == "full" else n_eval,
                             random_state=random_state, device=device, max_iter=max_iter)
        tic = time.perf_counter()
        est.fit(U[:n_train], G[:n_train])
        seconds = time.perf_counter() - tic
        r2 = mean_function_r2(G[n_train:], est.predict(U[n_train:]))
        rows.append({"sampling": sampling, "n_eval": n_eval, "r2": r2, "fit_seconds": seconds})
        logger.info("%-7s n_eval=%4d  R2=%.4f  fit %.1f s", sampling, n_eval, r2, seconds)
    return rows


def format_table(rows):
    """The rows of ``run`` as a fixed-width text table."""
    lines = [f"{'sampling':<9}{'n_eval':>7}{'mean R2':>10}{'fit s':>8}"]
    lines += [f"{r['sampling']:<9}{r['n_eval']:>7}{r['r2']:>10.4f}{r['fit_seconds']:>8.1f}"
              for r in rows]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m skoperator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--n-eval", type=int, nargs="+", default=[1, 5, 10, 25, 50])
    parser.add_argument("--epochs", type=int, help="default: the quick recipe's 200")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = run(args.n_train, args.n_test, tuple(args.n_eval), args.epochs, args.seed,
               args.device)
    print(format_table(rows))  # the command's output, not library logging
    return rows


if __name__ == "__main__":
    main()
