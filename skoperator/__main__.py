"""``python -m skoperator``: the main job, a one-minute antiderivative study.

Trains DeepONetRegressor (the quick recipe of ``skoperator.reproduce``) on
the antiderivative benchmark with randomized trunk sampling at several
``n_eval`` and with the full grid, and prints the mean per-function R2 on
1,000 held-out functions and the fit seconds of each. It is
``skoperator.reproduce.run("antiderivative", ...)`` without files.
"""

import argparse
import logging

from .reproduce import _n_eval_arg, format_table, run


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
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--n-eval", nargs="+", default=["1", "5", "10", "25", "50", "full"],
                        help="points per function per step; 'full' for the whole grid")
    parser.add_argument("--epochs", type=int, help="default: the quick recipe's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    n_evals = [_n_eval_arg(n) for n in args.n_eval]
    rows = run("antiderivative", n_trains=(args.n_train,), n_evals=n_evals, seeds=(args.seed,),
               epochs=args.epochs, device=args.device, out=None, test_data="generated",
               n_test=args.n_test)
    print(format_table(rows))  # the command's output, not library logging
    return rows


if __name__ == "__main__":
    main()
