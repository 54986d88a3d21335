"""Reproduce published operator-learning benchmarks, one record per problem in :data:`BENCHMARKS`.

``python -m skoperator.reproduce BENCHMARK`` generates the data, trains one
DeepONetRegressor per (n_train, n_eval, seed), prints a table, and writes
``results.csv`` and ``results.png`` to ``--out``.

Every problem is one :class:`Benchmark` record in :data:`BENCHMARKS`: its
generator (the output coordinates are the generator's own), its
architecture, its training recipes, its default sizes and the published
numbers. The recipes (:func:`make_estimator`) come in two budgets.
``"paper"`` is the architecture and schedule of Karumuri et al. (2024),
arXiv 2409.13280 (Adam, constant learning rate 1e-3, 1e-3 and 1e-4, batch
256, 1000, 1000 and 20000 epochs). ``"quick"`` is this project's recipe,
chosen by measurement to reach the published accuracy in far less compute.
Every recipe's budget is a number of epochs, so that one seed gives the
same model every time; ``--max-time`` (``run(max_time=...)``) ends training
by the clock instead, which is not reproducible.

The ``burgers`` and ``darcy`` records are the problems of Lu et al. (2022)
(DeepONet, POD-DeepONet and FNO compared on FNO's data): a quick recipe only,
chosen by ``benchmarks/sweep_recipes.py``, and the published mean relative
L2 errors (``published``), which the table prints beside ours.
"""

import argparse
import ast
import csv
import logging
import re
import time
from numbers import Integral
from pathlib import Path

import numpy as np

from ._benchmark_record import DATA_SEED_OFFSET, SEED_MAX
from ._benchmarks import (
    BENCHMARKS,
    Benchmark,
    _antiderivative_residual,  # noqa: F401  (pickles of recipes name them here)
    _benchmark,
    _check_counts,
    _diffusion_reaction_residual,  # noqa: F401
    _uses_every_point,
    _zero_at_origin,  # noqa: F401
    _zero_initial_and_boundary,  # noqa: F401
    load_benchmark,
    make_estimator,
)
from ._device import resolve_device
from ._sampling import SAMPLERS
from ._unwrap import final_estimator
from .metrics import mean_function_r2, mean_relative_l2_error

__all__ = ["Benchmark", "BENCHMARKS", "make_estimator", "final_estimator", "load_benchmark",
           "run", "format_table", "main"]

logger = logging.getLogger("skoperator")


def _benchmark_list():
    """One line per benchmark of the registry: its name and title."""
    return "\n".join(f"- ``{name}``: {spec.title}" for name, spec in BENCHMARKS.items())


__doc__ += f"""
The {len(BENCHMARKS)} benchmarks (the keys of :data:`BENCHMARKS`):

{_benchmark_list()}
"""


def run(benchmark, *, n_trains=None, n_evals=None, seeds=(0,), epochs=None, budget="quick",
        sampling="random", device="auto", out="results", test_data="auto", n_test=None,
        verbose=0, max_time=None, **params):
    """Train and score the grid; write ``results.csv`` and ``results.png``.

    Parameters
    ----------
    benchmark : str
        A key of :data:`BENCHMARKS`.
    n_trains : tuple of int, default=None
        Training-set sizes (the benchmark's defaults when None).
    n_evals : tuple, default=None
        ``n_eval`` values, ints or "full" (the benchmark's defaults when None);
        an int equal to the number of points is "full" (unless ``sampling``
        counts points per group).
    seeds : tuple of int, default=(0,)
        One run per seed: it seeds the data (``1000 + seed``) and the training.
    epochs : int, default=None
        Override the recipe's epochs.
    budget : {"quick", "paper"}, default="quick"
        Recipe.
    sampling : str, default="random"
        Sampling mode for the ``n_eval`` values that are not "full".
    device : str, default="auto"
        Training device.
    out : str, Path or None, default="results"
        Folder for ``results.csv`` and ``results.png``; None writes nothing.
    test_data : {"auto", "reference", "generated"}, default="auto"
        See :func:`load_benchmark`.
    n_test : int, default=None
        Held-out functions.
    verbose : int, default=0
        Progress output of each fit.
    max_time : float, default=None
        Also stop each fit after this many seconds (the estimator's
        ``max_time``; its schedule then follows the clock). Not
        reproducible: the same seed gives a different model on a faster or
        busier machine. None trains for the recipe's epochs only, the same
        model for the same seed every time.
    **params : dict
        Estimator parameters overriding the recipe (nested ones such as
        ``branch__layers`` included).

    Returns
    -------
    rows : list of dict
        One per (n_train, n_eval, seed): ``benchmark``, ``n_train``,
        ``n_eval``, ``seed``, ``r2`` (mean per-function R2 on held-out
        functions), ``rel_l2`` (mean relative L2 error), ``mse``,
        ``train_time_s``, ``epochs``, ``budget``, ``sampling``, ``device``,
        ``test_data``.

    Examples
    --------
    >>> from skoperator.reproduce import run
    >>> rows = run("antiderivative", n_trains=(40,), n_evals=(5, "full"), epochs=2,
    ...            n_test=10, out=None, device="cpu")
    >>> [(r["n_eval"], r["sampling"], r["epochs"]) for r in rows]
    [(5, 'random', 2), ('full', 'full', 2)]
    """
    spec = _benchmark(benchmark)
    n_trains = _listed("n_trains", n_trains, spec.n_train, "(1000,)")
    n_evals = _listed("n_evals", n_evals, spec.n_evals, "(10, 'full')")
    seeds = _listed("seeds", seeds, None, "(0, 1)")
    n_points = len(spec.coords())
    counts_points = getattr(SAMPLERS.get(sampling) if isinstance(sampling, str) else sampling,
                            "counts", None) == "n_points"
    _check_counts(n_trains=n_trains, n_test=n_test, epochs=epochs, seeds=seeds)
    resolve_device(device)  # an unknown or unavailable device fails here, not after the data
    for n_eval in n_evals:  # every model checked before any data are made or files written
        if isinstance(n_eval, Integral) and not isinstance(n_eval, bool) and \
                counts_points and n_eval > n_points:
            raise ValueError(f"n_eval={n_eval} is larger than the {n_points} points of "
                             f"{benchmark}'s grid; pass n_eval values of at most {n_points}, "
                             "or 'full'.")
        _checked(lambda: make_estimator(
            benchmark, n_eval=n_eval, sampling=sampling, budget=budget, random_state=seeds[0],
            device=device, max_iter=epochs, verbose=verbose,
            **({} if max_time is None else {"max_time": max_time}), **params))
    if out is not None:
        out = Path(out)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"out (--out on the command line) must be a folder that can be "
                             f"made; got {str(out)!r} ({exc}). Pass another folder.") from exc
    rows = []
    for n_train in n_trains:
        for seed in seeds:
            U, G, U_test, G_test, source = load_benchmark(benchmark, n_train, n_test=n_test,
                                                          random_state=DATA_SEED_OFFSET + seed,
                                                          test_data=test_data)
            for n_eval in n_evals:
                if not _uses_every_point(n_eval) and n_eval == n_points and counts_points:
                    n_eval = "full"  # every point: the full sampler, whatever ``sampling``
                model = make_estimator(benchmark, n_eval=n_eval, sampling=sampling,
                                       budget=budget, random_state=seed, device=device,
                                       max_iter=epochs, verbose=verbose,
                                       **({} if max_time is None else {"max_time": max_time}),
                                       **params)
                tic = time.perf_counter()
                model.fit(U, np.full_like(G, np.nan) if spec.physics_only else G)
                seconds = time.perf_counter() - tic
                pred = model.predict(U_test)
                est = final_estimator(model)
                row = dict(benchmark=benchmark, n_train=n_train, n_eval=n_eval, seed=seed,
                           r2=mean_function_r2(G_test, pred),
                           rel_l2=mean_relative_l2_error(G_test, pred),
                           mse=float(np.mean((G_test - pred) ** 2)), train_time_s=seconds,
                           epochs=est.n_iter_, budget=budget, sampling=est.sampling,
                           device=str(est.device_), test_data=source)
                if spec.metric == "median_rel_l1":
                    row["median_rel_l1"] = _median_relative_l1(G_test, pred)
                rows.append(row)
                logger.info("%s n_train=%d n_eval=%s seed=%d: R2 %.5f, rel. L2 %.3e, "
                            "MSE %.3g, %.1f s", benchmark, n_train, row["n_eval"], seed,
                            row["r2"], row["rel_l2"], row["mse"], seconds)
                if out is not None:
                    _write_csv(rows, out / "results.csv")
    if out is not None:
        _plot(rows, out / "results.png")
    return rows


def _listed(name, value, default, example):
    """``value`` (a non-empty list or tuple) as a list; ``default`` for None."""
    if value is None and default is not None:
        return list(default)
    if not isinstance(value, (list, tuple, np.ndarray)) or len(value) == 0:
        raise ValueError(f"{name} must be a non-empty list or tuple; got {value!r}. Pass, "
                         f"for instance, {name}={example}"
                         + (", or None for the benchmark's own." if default is not None
                            else "."))
    return list(value)


def _checked(build):
    """The model ``build()`` makes, its settings validated (no data, no fit).

    A parameter the model does not have, or a value outside its range, is a
    ``ValueError`` naming it (``--set`` on the command line), raised before
    any data are generated.
    """
    try:
        model = build()
        parts = [model] + list(model.get_params(deep=True).values())
        for part in parts:
            if hasattr(part, "_validate_params"):
                part._validate_params()
            elif callable(getattr(part, "check", None)) and hasattr(part, "get_params"):
                part.check()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the run's estimator settings are invalid: {exc} (an argument of "
                         "run: on the command line an option or --set NAME=VALUE; see "
                         "make_estimator for the recipe's parameters).") from exc
    return model


def _median_relative_l1(G_true, G_pred):
    """Median over functions of ``sum |G_pred - G_true| / sum |G_true|`` (one output field)."""
    G_true, G_pred = np.asarray(G_true, dtype=float), np.asarray(G_pred, dtype=float)
    errors = np.abs(G_pred - G_true).sum(axis=1) / np.abs(G_true).sum(axis=1)
    return float(np.median(errors))


def _write_csv(rows, path):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def summarize(rows):
    """Mean and standard deviation over seeds, per (n_train, n_eval, sampling)."""
    groups = {}
    for r in rows:
        groups.setdefault((r["n_train"], str(r["n_eval"]), r["sampling"]), []).append(r)
    table = []
    for (n_train, n_eval, sampling), rs in groups.items():
        r2 = np.array([r["r2"] for r in rs])
        table.append(dict(n_train=n_train, n_eval=n_eval, sampling=sampling, seeds=len(rs),
                          r2=r2.mean(), r2_std=r2.std(),
                          rel_l2=np.mean([r.get("rel_l2", np.nan) for r in rs]),
                          mse=np.mean([r["mse"] for r in rs]),
                          median_rel_l1=np.mean([r.get("median_rel_l1", np.nan) for r in rs]),
                          train_time_s=np.mean([r["train_time_s"] for r in rs])))
    return table


def format_table(rows):
    """Text table of the rows of :func:`run`, averaged over seeds.

    Parameters
    ----------
    rows : list of dict
        What :func:`run` returns.

    Returns
    -------
    table : str
        One line per (n_train, n_eval, sampling), with the mean relative L2
        error in percent; then, when the rows name a benchmark with published
        results, one line per published result.

    Examples
    --------
    >>> from skoperator.reproduce import format_table
    >>> rows = [dict(n_train=40, n_eval=5, sampling="random", r2=0.9, rel_l2=0.0123,
    ...              mse=0.01, train_time_s=1.0)]
    >>> print(format_table(rows).splitlines()[1].split())
    ['40', '5', 'random', '1', '0.90000', '0.00000', '1.2300', '1.000e-02', '1.0']
    """
    lines = [f"{'n_train':>8} {'n_eval':>7} {'sampling':>10} {'seeds':>5} {'mean R2':>9} "
             f"{'std':>8} {'rel L2 %':>9} {'MSE':>10} {'fit s':>8}"]
    for r in summarize(rows):
        lines.append(f"{r['n_train']:>8} {r['n_eval']:>7} {r['sampling']:>10} {r['seeds']:>5} "
                     f"{r['r2']:>9.5f} {r['r2_std']:>8.5f} {100 * r['rel_l2']:>9.4f} "
                     f"{r['mse']:>10.3e} {r['train_time_s']:>8.1f}")
    spec = BENCHMARKS.get(rows[0].get("benchmark")) if rows else None
    if spec is not None and spec.metric == "median_rel_l1":
        lines[0] += f" {'med L1 %':>9}"
        for i, r in enumerate(summarize(rows), start=1):
            lines[i] += f" {100 * r['median_rel_l1']:>9.4f}"
    if spec is not None and spec.published:
        name = ("median relative L1 error" if spec.metric == "median_rel_l1"
                else "mean relative L2 error")
        lines.append(f"published ({name}):")
        for method, error, source in spec.published:
            lines.append(f"  {method:<40} {100 * error:>9.4f} %  ({source})")
    return "\n".join(lines)


def _plot(rows, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is optional
        logger.warning("matplotlib is not installed: no figure written")
        return
    table = summarize(rows)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for n_train in sorted({r["n_train"] for r in table}):
        rs = [r for r in table if r["n_train"] == n_train]
        labels = [r["n_eval"] for r in rs]
        x = np.arange(len(rs))
        ax1.errorbar(x, [r["r2"] for r in rs], yerr=[r["r2_std"] for r in rs], marker="o",
                     capsize=3, label=f"n_train={n_train}")
        ax2.plot(x, [r["train_time_s"] for r in rs], marker="o", label=f"n_train={n_train}")
        for ax in (ax1, ax2):
            ax.set_xticks(x, labels)
            ax.set_xlabel("n_eval (trunk points per function per step)")
    ax1.set_ylabel("mean per-function R2 (held-out)")
    ax2.set_ylabel("fit time (s)")
    ax2.set_ylim(bottom=0)
    ax1.legend()
    fig.suptitle(f"{BENCHMARKS[rows[0]['benchmark']].title}: accuracy and cost against "
                 f"n_eval ({rows[0]['budget']} budget, {rows[0]['device']})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _n_eval_arg(text):
    """``--n-eval``'s words: an int >= 1 or the name of the sampler of every point ("full")."""
    if _uses_every_point(text):
        return text
    if not (text.isdigit() and int(text) >= 1):
        raise argparse.ArgumentTypeError(f"expected an int >= 1 or 'full'; got {text!r}")
    return int(text)


def _count_arg(text):
    """An option's count (functions, epochs): an int >= 1."""
    if not (text.isdigit() and int(text) >= 1):
        raise argparse.ArgumentTypeError(f"expected an int >= 1; got {text!r}")
    return int(text)


def _seed_arg(text):
    """A seed: an int >= 0, at most :data:`SEED_MAX` (the data's seed is 1000 more)."""
    if not (text.isdigit() and int(text) <= SEED_MAX):
        raise argparse.ArgumentTypeError(f"expected an int from 0 to {SEED_MAX}; got {text!r}")
    return int(text)


def _device_arg(text):
    """A device this machine has ("auto", "cpu", "cuda"...), checked before any data."""
    try:
        resolve_device(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _plain(text):
    """``text`` without reStructuredText markup, for the terminal."""
    text = re.sub(r":(?:\w+:)*\w+:`~?([^`<]*?)(?:\s*<[^>]*>)?`", r"\1", text)  # roles
    return text.replace("``", "")


def _parser():
    """The command line's argument parser (its help is plain text)."""
    budgets = sorted({b for spec in BENCHMARKS.values() for b in spec.recipes})
    parser = argparse.ArgumentParser(prog="python -m skoperator.reproduce",
                                     description=_plain(__doc__),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmark", choices=list(BENCHMARKS))
    parser.add_argument("--n-train", type=_count_arg, nargs="+", help="training-set sizes")
    parser.add_argument("--n-eval", type=_n_eval_arg, nargs="+",
                        help="points per function per step; 'full' for the whole grid")
    parser.add_argument("--seeds", type=_seed_arg, nargs="+", default=[0])
    parser.add_argument("--epochs", type=_count_arg, help="override the budget's epochs")
    parser.add_argument("--max-time", type=float, metavar="S",
                        help="also stop each fit after S seconds; the schedule then follows "
                             "the clock, so the result is NOT reproducible (default: the "
                             "recipe's epochs only, the same model for the same seed)")
    parser.add_argument("--budget", choices=budgets, default="quick")
    parser.add_argument("--sampling", default="random",
                        choices=[s for s, cls in SAMPLERS.items() if cls.uses_n_eval])
    parser.add_argument("--device", type=_device_arg, default="auto")
    parser.add_argument("--test-data", choices=("auto", "reference", "generated"),
                        default="auto")
    parser.add_argument("--n-test", type=_count_arg,
                        help="held-out functions (default: the paper's)")
    parser.add_argument("--out", default="results")
    parser.add_argument("--verbose", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override an estimator parameter of the recipe, for instance "
                             "--set optimizer__polish=None, or a setting of one of its components, "
                             "for instance --set branch__layers=(64,64) (VALUE is a Python "
                             "literal)")
    return parser


def main(argv=None):
    """The command ``python -m skoperator.reproduce``.

    Parameters
    ----------
    argv : list of str, default=None
        Command-line arguments (``sys.argv[1:]`` when None).

    Returns
    -------
    rows : list of dict
        What :func:`run` returned.

    Examples
    --------
    From a shell, ``python -m skoperator.reproduce heat --n-train 500 --n-eval 16 full``;
    from Python:

    >>> from skoperator.reproduce import main
    >>> rows = main(["antiderivative", "--n-train", "2000", "--n-eval", "10"])  # doctest: +SKIP
    """
    parser = _parser()
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.set:
        name, equals, value = item.partition("=")
        if not (equals and name.strip()):
            parser.error(f"--set expects NAME=VALUE, such as --set branch__width=32; got "
                         f"{item!r}.")
        try:
            overrides[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[name] = value
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s",
                        datefmt="%H:%M:%S")
    rows = run(args.benchmark, n_trains=args.n_train, n_evals=args.n_eval, seeds=args.seeds,
               epochs=args.epochs, budget=args.budget, sampling=args.sampling,
               device=args.device, out=args.out, test_data=args.test_data,
               n_test=args.n_test, verbose=args.verbose, max_time=args.max_time, **overrides)
    print(format_table(rows))  # the command's report
    print(f"wrote {Path(args.out) / 'results.csv'} and {Path(args.out) / 'results.png'}")
    return rows


if __name__ == "__main__":
    main()
