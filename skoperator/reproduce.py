"""Reproduce the three benchmarks of Karumuri et al. (2024), arXiv 2409.13280.

``python -m skoperator.reproduce BENCHMARK`` generates the data, trains one
DeepONetRegressor per (n_train, n_eval, seed), prints a table, and writes
``results.csv`` and ``results.png`` to ``--out``.

The presets (:func:`make_estimator`) come in two budgets. ``"paper"`` is the
paper's architecture and schedule (Adam, constant learning rate 1e-3, 1e-3 and
1e-4, batch 256, 1000, 1000 and 20000 epochs). ``"quick"`` is this project's
recipe (standardised inputs and outputs, a one-cycle learning-rate schedule,
smaller batches, far fewer epochs), tuned to reach the paper's accuracy in far
less compute.
"""

import argparse
import csv
import logging
import os
import time
from pathlib import Path

import numpy as np

from .datasets import make_antiderivative, make_diffusion_reaction, make_heat_conduction
from .metrics import mean_function_r2

__all__ = ["BENCHMARKS", "make_estimator", "load_benchmark", "run", "main"]

logger = logging.getLogger("skoperator")

BENCHMARKS = ("antiderivative", "diffusion-reaction", "heat")

# Architectures: the issue text and the paper for the heat CNN branch; MLP
# widths of the other examples are our reading of the paper.
_ARCH = {
    "antiderivative": dict(branch_layers=(40, 40, 40), trunk_layers=(40, 40, 40), n_basis=40),
    "diffusion-reaction": dict(branch_layers=(100, 100, 100), trunk_layers=(100, 100, 100),
                               n_basis=100),
    "heat": dict(branch="cnn", input_shape=(32, 32), cnn_channels=(40, 60, 100),
                 branch_layers=(150, 150, 150), trunk_layers=(150, 150, 150), n_basis=150),
}
_PAPER = {
    "antiderivative": dict(learning_rate_init=1e-3, max_iter=1000),
    "diffusion-reaction": dict(learning_rate_init=1e-3, max_iter=1000),
    "heat": dict(learning_rate_init=1e-4, max_iter=20000),
}
_QUICK = {
    "antiderivative": dict(learning_rate_init=5e-3, learning_rate="onecycle", batch_size=64,
                           max_iter=200),
    "diffusion-reaction": dict(learning_rate_init=2e-3, learning_rate="onecycle",
                               batch_size=64, max_iter=150),
    "heat": dict(learning_rate_init=2e-3, learning_rate="onecycle", batch_size=32,
                 max_iter=150, trunk="resmlp"),
}
# Training-set sizes of the paper's tables (and their held-out test sets).
_DEFAULT_N_TRAIN = {"antiderivative": (2000,), "diffusion-reaction": (500,), "heat": (500,)}
_DEFAULT_N_EVAL = {"antiderivative": (1, 10, 50, 100), "diffusion-reaction": (10, 100, 10100),
                   "heat": (16, 512, 1024)}
_N_TEST = {"antiderivative": 1000, "diffusion-reaction": 500, "heat": 500}


def make_estimator(benchmark, *, n_eval, sampling="random", budget="quick",
                   random_state=None, device="auto", max_iter=None, verbose=0):
    """The DeepONetRegressor configured for one of the paper's benchmarks.

    Parameters
    ----------
    benchmark : {"antiderivative", "diffusion-reaction", "heat"}
        Which problem.
    n_eval : int, float or "full"
        Trunk points per function per step; "full" trains on every point.
    sampling : {"random", "shared", "grouped"}, default="random"
        Sampling strategy when ``n_eval`` is not "full".
    budget : {"quick", "paper"}, default="quick"
        This project's fast recipe, or the paper's schedule.
    random_state : int or None, default=None
        Seed of everything random in training.
    device : str, default="auto"
        Training device.
    max_iter : int, default=None
        Override the budget's number of epochs.
    verbose : int, default=0
        Progress output.

    Returns
    -------
    estimator : DeepONetRegressor
        Unfitted; its ``coords`` are the benchmark's output coordinates.

    Examples
    --------
    >>> from skoperator.reproduce import make_estimator
    >>> est = make_estimator("heat", n_eval=16)
    >>> est.branch, est.input_shape, est.n_eval
    ('cnn', (32, 32), 16)
    """
    from ._estimator import DeepONetRegressor

    if benchmark not in BENCHMARKS:
        raise ValueError(f"benchmark must be one of {BENCHMARKS}; got {benchmark!r}.")
    if budget not in ("quick", "paper"):
        raise ValueError(f"budget must be 'quick' or 'paper'; got {budget!r}.")
    params = dict(_ARCH[benchmark])
    if budget == "paper":
        params.update(_PAPER[benchmark], batch_size=256, standardize=False)
    else:
        params.update(_QUICK[benchmark])
    if max_iter is not None:
        params["max_iter"] = int(max_iter)
    full = isinstance(n_eval, str) and n_eval == "full"
    return DeepONetRegressor(coords=benchmark_coords(benchmark),
                             sampling="full" if full else sampling,
                             n_eval="auto" if full else n_eval, tol=None, device=device,
                             random_state=random_state, verbose=verbose, **params)


def benchmark_coords(benchmark):
    """Output coordinates of a benchmark (n_points, d)."""
    if benchmark == "antiderivative":
        return np.linspace(0.0, 1.0, 100).reshape(-1, 1)
    if benchmark == "diffusion-reaction":
        t, x = np.meshgrid(np.linspace(0, 1, 101), (np.arange(100) + 0.5) / 100, indexing="ij")
        return np.column_stack([t.ravel(), x.ravel()])
    c = (np.arange(32) + 0.5) / 32
    x2, x1 = np.meshgrid(c, c, indexing="ij")
    return np.column_stack([x1.ravel(), x2.ravel()])


def heat_reference_dir():
    """Folder of the authors' heat test fields, or None when absent.

    ``SKOPERATOR_HEAT_REFERENCE`` overrides the default
    ``../shared/data/heat2d_reference`` (next to the repository).
    """
    env = os.environ.get("SKOPERATOR_HEAT_REFERENCE")
    candidates = [Path(env)] if env else []
    repo = Path(__file__).resolve().parents[1]
    candidates += [repo.parent / "shared" / "data" / "heat2d_reference",
                   Path.cwd().parent / "shared" / "data" / "heat2d_reference"]
    for path in candidates:
        if (path / "inputs_test.npy").exists():
            return path
    return None


def load_benchmark(benchmark, n_train, *, n_test=None, random_state=0, test_data="auto"):
    """Training and held-out data of a benchmark.

    Parameters
    ----------
    benchmark : str
        One of :data:`BENCHMARKS`.
    n_train : int
        Training functions.
    n_test : int, default=None
        Held-out functions (the paper's test-set size by default).
    random_state : int, default=0
        Seed of the data.
    test_data : {"auto", "reference", "generated"}, default="auto"
        For "heat", "reference" scores on the authors' 500 fields; "auto"
        uses them when present.

    Returns
    -------
    U_train, G_train, U_test, G_test : ndarray
    test_source : str
        "generated" or "reference".
    """
    n_test = _N_TEST[benchmark] if n_test is None else n_test
    ref = heat_reference_dir() if benchmark == "heat" and test_data != "generated" else None
    if test_data == "reference" and ref is None:
        raise ValueError("test_data='reference' but the authors' heat fields were not found; "
                         "set SKOPERATOR_HEAT_REFERENCE to their folder.")
    n_gen = n_train + (0 if ref is not None else n_test)
    make = {"antiderivative": make_antiderivative,
            "diffusion-reaction": make_diffusion_reaction,
            "heat": make_heat_conduction}[benchmark]
    U, _, G = make(n_gen, random_state=random_state)
    if ref is not None:
        U_test = np.load(ref / "inputs_test.npy").astype(np.float64)[:n_test]
        G_test = np.load(ref / "target_values_test.npy").astype(np.float64)[:n_test]
        return U, G, U_test, G_test, "reference"
    return U[:n_train], G[:n_train], U[n_train:], G[n_train:], "generated"


def run(benchmark, *, n_trains=None, n_evals=None, seeds=(0,), epochs=None, budget="quick",
        sampling="random", device="auto", out="results", test_data="auto", n_test=None,
        verbose=0):
    """Train and score the grid; write ``results.csv`` and ``results.png``.

    Returns
    -------
    rows : list of dict
        One per (n_train, n_eval, seed): ``benchmark``, ``n_train``,
        ``n_eval``, ``seed``, ``r2`` (mean per-function R2 on held-out
        functions), ``mse``, ``train_time_s``, ``epochs``, ``budget``,
        ``sampling``, ``device``, ``test_data``.
    """
    n_trains = n_trains or _DEFAULT_N_TRAIN[benchmark]
    n_evals = n_evals or _DEFAULT_N_EVAL[benchmark]
    n_points = len(benchmark_coords(benchmark))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for n_train in n_trains:
        for seed in seeds:
            U, G, U_test, G_test, source = load_benchmark(benchmark, n_train, n_test=n_test,
                                                          random_state=1000 + seed,
                                                          test_data=test_data)
            for n_eval in n_evals:
                full = n_eval == "full" or (n_eval == n_points and sampling != "grouped")
                est = make_estimator(benchmark, n_eval="full" if full else n_eval,
                                     sampling=sampling, budget=budget, random_state=seed,
                                     device=device, max_iter=epochs, verbose=verbose)
                tic = time.perf_counter()
                est.fit(U, G)
                seconds = time.perf_counter() - tic
                pred = est.predict(U_test)
                row = dict(benchmark=benchmark, n_train=n_train,
                           n_eval="full" if full else n_eval, seed=seed,
                           r2=mean_function_r2(G_test, pred),
                           mse=float(np.mean((G_test - pred) ** 2)), train_time_s=seconds,
                           epochs=est.n_iter_, budget=budget,
                           sampling="full" if full else sampling,
                           device=str(est.device_), test_data=source)
                rows.append(row)
                logger.info("%s n_train=%d n_eval=%s seed=%d: R2 %.5f, MSE %.3g, %.1f s",
                            benchmark, n_train, row["n_eval"], seed, row["r2"], row["mse"],
                            seconds)
                _write_csv(rows, out / "results.csv")
    _plot(rows, out / "results.png")
    return rows


def _write_csv(rows, path):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def summarize(rows):
    """Mean and standard deviation over seeds, per (n_train, n_eval)."""
    groups = {}
    for r in rows:
        groups.setdefault((r["n_train"], str(r["n_eval"])), []).append(r)
    table = []
    for (n_train, n_eval), rs in groups.items():
        r2 = np.array([r["r2"] for r in rs])
        table.append(dict(n_train=n_train, n_eval=n_eval, seeds=len(rs), r2=r2.mean(),
                          r2_std=r2.std(), mse=np.mean([r["mse"] for r in rs]),
                          train_time_s=np.mean([r["train_time_s"] for r in rs])))
    return table


def format_table(rows):
    """Text table of :func:`summarize`."""
    lines = [f"{'n_train':>8} {'n_eval':>7} {'seeds':>5} {'mean R2':>9} {'std':>8} "
             f"{'MSE':>10} {'fit s':>8}"]
    for r in summarize(rows):
        lines.append(f"{r['n_train']:>8} {r['n_eval']:>7} {r['seeds']:>5} {r['r2']:>9.5f} "
                     f"{r['r2_std']:>8.5f} {r['mse']:>10.3e} {r['train_time_s']:>8.1f}")
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
    fig.suptitle(f"{rows[0]['benchmark']}: accuracy and cost against n_eval "
                 f"({rows[0]['budget']} budget, {rows[0]['device']})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _n_eval_arg(text):
    return text if text == "full" else int(text)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m skoperator.reproduce",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmark", choices=BENCHMARKS)
    parser.add_argument("--n-train", type=int, nargs="+", help="training-set sizes")
    parser.add_argument("--n-eval", type=_n_eval_arg, nargs="+",
                        help="points per function per step; 'full' for the whole grid")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, help="override the budget's epochs")
    parser.add_argument("--budget", choices=("quick", "paper"), default="quick")
    parser.add_argument("--sampling", choices=("random", "shared", "grouped"),
                        default="random")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--test-data", choices=("auto", "reference", "generated"),
                        default="auto")
    parser.add_argument("--n-test", type=int, help="held-out functions (default: the paper's)")
    parser.add_argument("--out", default="results")
    parser.add_argument("--verbose", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s",
                        datefmt="%H:%M:%S")
    rows = run(args.benchmark, n_trains=args.n_train, n_evals=args.n_eval, seeds=args.seeds,
               epochs=args.epochs, budget=args.budget, sampling=args.sampling,
               device=args.device, out=args.out, test_data=args.test_data,
               n_test=args.n_test, verbose=args.verbose)
    print(format_table(rows))  # the command's report
    print(f"wrote {Path(args.out) / 'results.csv'} and {Path(args.out) / 'results.png'}")
    return rows


if __name__ == "__main__":
    main()
