"""``python -m skoperator``: the main job, the paper's point in two minutes.

Trains DeepONetRegressor on the antiderivative (Example 1 of Karumuri et
al. 2024) with each output function on a fine grid of 8,000 points, with
randomized trunk sampling at several ``n_eval`` and with the full grid,
and prints the mean per-function R2 and relative L2 error on 1,000
held-out functions and the fit seconds of each: the fit time follows
``n_eval``, not the grid, at the same accuracy. It is
``skoperator.reproduce.run("antiderivative-fine", ...)`` without files
(``--benchmark antiderivative`` runs the paper's 100-point grid, where a
step is all fixed cost and the seconds do not fall).
"""

import argparse
import logging

from .reproduce import (
    BENCHMARKS,
    _count_arg,
    _device_arg,
    _n_eval_arg,
    _seed_arg,
    format_table,
    run,
)


def main(argv=None):
    """The command ``python -m skoperator``.

    Parameters
    ----------
    argv : list of str, default=None
        Command-line arguments (``sys.argv[1:]`` when None).

    Returns
    -------
    rows : list of dict
        The rows of :func:`skoperator.reproduce.run`.
    """
    parser = argparse.ArgumentParser(prog="python -m skoperator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmark", default="antiderivative-fine", choices=list(BENCHMARKS),
                        help="a problem of skoperator.reproduce (default: %(default)s)")
    parser.add_argument("--n-train", type=_count_arg, default=2000)
    parser.add_argument("--n-test", type=_count_arg, default=1000)
    parser.add_argument("--n-eval", nargs="+", type=_n_eval_arg, default=[1, 10, 50, "full"],
                        help="points per function per step; 'full' for the whole grid")
    parser.add_argument("--epochs", type=_count_arg, help="default: the quick recipe's")
    parser.add_argument("--seed", type=_seed_arg, default=0)
    parser.add_argument("--device", type=_device_arg, default="auto")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = run(args.benchmark, n_trains=(args.n_train,), n_evals=args.n_eval, seeds=(args.seed,),
               epochs=args.epochs, device=args.device, out=None, test_data="generated",
               n_test=args.n_test)
    print(format_table(rows))  # the command's output, not library logging
    return rows


if __name__ == "__main__":
    main()
