"""Helpers shared by the benchmark scripts: arguments, timing, reporting.

Every script prints one line per measurement and one line per target with
the measured ratio and PASS or FAIL. Times are medians over epochs (and, for
ratios, medians over interleaved repeats), so that other work on a shared
machine moves both sides of a ratio alike.
"""

import argparse
import os
import platform
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from skoperator.metrics import mean_relative_l2_error  # noqa: E402


def allow_neuralop_without_wandb():
    """Let neuraloperator be imported where ``wandb`` is not installed.

    neuraloperator imports ``wandb`` at import time for its ``Trainer``'s
    logging, which these scripts do not use; the GPU machines have no
    package index, and ``benchmarks/gpu_stage.sh`` carries neuraloperator's
    own wheels without wandb's (20 MB and a dozen dependencies). An empty
    module stands in for it when it is missing.
    """
    try:
        import wandb  # noqa: F401
    except ImportError:
        sys.modules.setdefault("wandb", types.ModuleType("wandb"))


def _number(kind, low, strict, what):
    """An argparse type: ``kind`` of ``text``, at least (``strict``: above) ``low``."""
    def convert(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not np.isfinite(value) or value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    convert.__name__ = what  # argparse's "invalid <name> value" names it
    return convert


#: argparse types of the scripts' options: counts, seeds, seconds, rates.
positive_int = _number(int, 0, True, "a positive int")
nonnegative_int = _number(int, 0, False, "an int >= 0")
positive_float = _number(float, 0.0, True, "a positive number")
nonnegative_float = _number(float, 0.0, False, "a number >= 0")


def parser(description):
    """An ``argparse`` parser with the options every benchmark takes."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(_parser=p)  # setup() reports a bad --device as a usage error
    p.add_argument("--quick", action="store_true",
                   help="fewer epochs and repeats: a smoke run (its length: the script's "
                        "description)")
    p.add_argument("--threads", type=nonnegative_int, default=1,
                   help="torch intra-op threads for both sides of every ratio "
                        "(default 1: the models are small, and on a shared 2-core machine "
                        "a second OpenMP thread mostly waits; 0 keeps torch's default)")
    p.add_argument("--device", default="cpu", help='"cpu" or "cuda"')
    p.add_argument("--repeats", type=positive_int, default=None,
                   help="interleaved repeats of each comparison (median of ratios)")
    return p


def setup(args):
    """Apply ``--threads`` and print the machine line.

    ``--threads`` pins torch and, through ``OMP_NUM_THREADS`` (the budget the
    estimator respects), every fit of the script, so that both sides of a
    ratio run on the same number of threads.
    """
    try:
        device = torch.device(args.device)
    except RuntimeError:
        args._parser.error(f"argument --device: expected 'cpu' or 'cuda' (or 'cuda:N'), got "
                           f"{args.device!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        args._parser.error("argument --device: 'cuda' needs a GPU that torch can see; this "
                           "machine has none (run with --device cpu)")
    if device.type not in ("cpu", "cuda"):
        args._parser.error(f"argument --device: expected 'cpu' or 'cuda', got {args.device!r}")
    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "-"
    print(f"# machine: {platform.machine()} {platform.processor() or ''} "
          f"{os.cpu_count()} cpus, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), numpy {np.__version__}, "
          f"device {device} {gpu}".replace("  ", " "))
    return device


def sync(device):
    """Wait for queued work on ``device`` (a no-op on the CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def median_epoch(estimator, skip=1):
    """Median of ``history_[i]["seconds"]``, leaving out the first ``skip`` epochs."""
    seconds = [h["seconds"] for h in estimator.history_[skip:]]
    return float(np.median(seconds))


def fit_timed(estimator, U, G, device="cpu"):
    """Fit and return (wall seconds, median epoch seconds)."""
    sync(device)
    tic = time.perf_counter()
    estimator.fit(U, G)
    sync(device)
    return time.perf_counter() - tic, median_epoch(estimator)


def line(name, seconds, unit="s/epoch", extra=""):
    """Print one measurement."""
    print(f"{name:<58s} {seconds:10.5f} {unit}{extra}")


def verdict(name, ratio, bound, *, at_least, what="ratio"):
    """Print a target line: the measured ratio (or value), bound and PASS/FAIL; returns pass.

    The one verdict helper of every script (and of ``gpu_all.py``).
    """
    ok = ratio >= bound if at_least else ratio <= bound
    sign = ">=" if at_least else "<="
    print(f"TARGET {name:<51s} {what} {ratio:7.5g}  (target {sign} {bound})  "
          f"{'PASS' if ok else 'FAIL'}")
    return ok


def antiderivative(n_functions=2000, n_points=100):
    """(U, Y, G) of the paper's Example 1 (float64, as the generator gives)."""
    from skoperator.datasets import make_antiderivative

    return make_antiderivative(n_functions, n_points=n_points, random_state=0)


def deepxde_clock(seconds):
    """A DeepXDE callback that stops training after ``seconds`` of wall time.

    Its ``steps`` counts the training steps taken. DeepXDE is imported here,
    when a script asks for a peer run.
    """
    import deepxde as dde

    class Clock(dde.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.start = time.perf_counter()
            self.steps = 0

        def on_batch_end(self):
            self.steps += 1
            if time.perf_counter() - self.start >= seconds:
                self.model.stop_training = True

    return Clock()


def pod_floor(G_train, G_test, n_modes):
    """Mean relative L2 of ``G_test`` projected onto the leading POD modes of ``G_train``.

    The modes come from the Gram matrix of the centred training rows (float64),
    as :class:`~skoperator.networks.PODTrunk` takes them; the projection keeps
    the training mean.
    """
    mean = G_train.mean(axis=0, dtype=np.float64)
    A = np.asarray(G_train, dtype=np.float64) - mean
    eigval, eigvec = np.linalg.eigh(A @ A.T)
    order = np.argsort(eigval)[::-1]
    eigval, eigvec = eigval[order], eigvec[:, order]
    errors = {}
    B = np.asarray(G_test, dtype=np.float64) - mean
    for n in n_modes:
        n = min(n, int(np.sum(eigval > eigval[0] * 1e-12)))
        modes = (A.T @ eigvec[:, :n]) / np.sqrt(eigval[:n])  # orthonormal columns
        projected = mean + (B @ modes) @ modes.T
        errors[n] = mean_relative_l2_error(G_test, projected)
    return errors

