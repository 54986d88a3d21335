"""Exact resume of the shipped recipes: SIGKILL at random steps, resume, compare bit for bit.

For the antiderivative and heat quick recipes (``make_estimator(name,
budget="quick")``, one CPU thread): fits once without interruption, then,
for each of ``--kills`` random steps, runs the same fit with a
``Checkpoint`` in a child process that SIGKILLs itself at that step, resumes
it in this process from the last checkpoint, and checks that the resumed
model's weights and predictions equal the uninterrupted fit's bit for bit.
Also prints what checkpointing every epoch costs: the uninterrupted fit with
``Checkpoint(every_epochs=1)`` against without, interleaved (target <= 3 %
of the heat recipe's fit time).

    python benchmarks/resume_exact.py                         # both recipes, 3 kills each
    python benchmarks/resume_exact.py --problems heat --kills 1
    python benchmarks/resume_exact.py --quick                  # few epochs: a smoke run
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common
import numpy as np
import torch

from skoperator.callbacks import Checkpoint
from skoperator.datasets import make_antiderivative, make_heat_conduction
from skoperator.reproduce import final_estimator, make_estimator
from skoperator.sampling import RandomSampler


class KillingSampler(RandomSampler):
    """Random sampling that SIGKILLs its process at step ``SKOP_KILL_AT`` (when set).

    ``steps`` counts the steps of this process.
    """

    steps = 0

    def sample(self, rows, generator):
        type(self).steps += 1
        self._calls = getattr(self, "_calls", 0) + 1
        if self._calls == int(os.environ.get("SKOP_KILL_AT", "0")):
            os.kill(os.getpid(), signal.SIGKILL)
        return super().sample(rows, generator)


def data(name, quick):
    if name == "antiderivative":
        U, _, G = make_antiderivative(500 if quick else 2000, n_points=100, random_state=0)
    else:
        U, _, G = make_heat_conduction(100 if quick else 500, random_state=1000)
    return U, G


def model(name, quick, directory=None, every=1):
    """The quick recipe with the killing sampler (and a Checkpoint)."""
    params = dict(sampling=KillingSampler(), random_state=0, device="cpu")
    if quick:
        params["max_iter"] = 3
    if directory is not None:
        params["callbacks"] = [Checkpoint(directory, every_epochs=every)]
    return make_estimator(name, budget="quick", **params)


def weights(fitted):
    return {k: v.detach().clone() for k, v in final_estimator(fitted).network_.state_dict().items()}


def child(name, quick, directory, step):
    torch.set_num_threads(1)
    os.environ["SKOP_KILL_AT"] = str(step)
    U, G = data(name, quick)
    model(name, quick, directory).fit(U, G)


def run(name, quick, kills, rng):
    U, G = data(name, quick)
    KillingSampler.steps = 0
    tic = time.perf_counter()
    reference = model(name, quick).fit(U, G)
    plain_seconds = time.perf_counter() - tic
    steps = KillingSampler.steps
    ref_weights, ref_pred = weights(reference), reference.predict(U[:50])
    print(f"{name}: uninterrupted fit {plain_seconds:.1f} s, {steps} steps")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for step in sorted(rng.choice(np.arange(2, steps), size=kills, replace=False)):
            directory = Path(tmp) / f"kill{step}"
            code = subprocess.run([sys.executable, __file__, "--child", name, str(directory),
                                   str(step)] + (["--quick"] * quick),
                                  env={**os.environ, "OMP_NUM_THREADS": "1"}).returncode
            resumed = model(name, quick, directory).fit(U, G)
            same = all(torch.equal(a, b) for a, b in zip(ref_weights.values(),
                                                         weights(resumed).values()))
            same &= bool(np.array_equal(resumed.predict(U[:50]), ref_pred))
            print(f"  SIGKILL at step {step} (exit {code}), resumed: "
                  f"{'bit-identical' if same else 'DIFFERENT'}")
            ok &= _common.verdict(f"{name} resumed after SIGKILL at step {step}", float(same),
                                  1.0, at_least=True, what="identical")
        # the cost of a checkpoint every epoch, interleaved with the plain fit
        times = {"plain": [plain_seconds], "checkpointed": []}
        for repeat in range(1 if quick else 2):
            directory = Path(tmp) / f"cost{repeat}"
            tic = time.perf_counter()
            model(name, quick, directory).fit(U, G)
            times["checkpointed"].append(time.perf_counter() - tic)
            shutil.rmtree(directory)
            if repeat:
                tic = time.perf_counter()
                model(name, quick).fit(U, G)
                times["plain"].append(time.perf_counter() - tic)
        extra = min(times["checkpointed"]) / min(times["plain"]) - 1
        print(f"  checkpoint every epoch: {min(times['checkpointed']):.1f} s against "
              f"{min(times['plain']):.1f} s (best of each), {100 * extra:+.1f} %")
        if name == "heat" and not quick:
            ok &= _common.verdict("heat: cost of a checkpoint every epoch", 100 * extra, 3.0,
                                  at_least=False, what="percent")
    return ok


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        child(argv[1], "--quick" in argv, argv[2], int(argv[3]))
        return True
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--problems", nargs="+", default=["antiderivative", "heat"])
    p.add_argument("--kills", type=_common.positive_int, default=3)
    p.add_argument("--seed", type=_common.nonnegative_int, default=0,
                   help="draws the steps at which to kill")
    args = p.parse_args(argv)
    _common.setup(args)
    rng = np.random.default_rng(args.seed)
    ok = True
    for name in args.problems:
        ok &= run(name, args.quick, args.kills, rng)
    return ok


if __name__ == "__main__":
    main()
