"""Plant deliberate breakages, one at a time in a copy, and check that the tests catch each.

For every breakage of the table below: copy the working tree's files
(``git ls-files -co --exclude-standard``) into a fresh temporary directory
(the working tree is never touched), replace one exact string in one file of the copy (the old
string must be there exactly once), check that Python run from the copy
imports the copy's package, then run pytest on the breakage's test files in
the copy (``-x``: it stops at the first failure)::

    python -m pytest -x -q -p no:cacheprovider -o addopts= -m "not slow" FILES

and print one line per breakage: its name and the node id of the first
failing test, or ``NOT CAUGHT`` when every selected test passes. A failing
test is rerun on an unbroken copy: one that fails there too is no catch.

Usage::

    python benchmarks/plant_breakages.py              # every breakage
    python benchmarks/plant_breakages.py --only huber-delta --only merge-concat
    python benchmarks/plant_breakages.py --list

Each breakage is the smallest patch that does exactly the harm named (issue
29, "Test-suite holes" and the contracts fixed in 0.4.0).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class Breakage:
    name: str
    harm: str
    path: str  # file of the package, relative to the repository root
    old: str
    new: str
    tests: tuple  # test files (or node ids), relative to the repository root


BREAKAGES = [
    Breakage(
        "physics-partial-data",
        "physics with a partly observed G drops the data term",
        "skoperator/_planning.py",
        "has_data = not data.has_missing or est.physics is None or bool(_observed_any(tensors))",
        "has_data = not data.has_missing or est.physics is None",
        ("tests/test_physics.py", "tests/test_physics_checks.py")),
    Breakage(
        "polish-physics-data",
        "the L-BFGS polish with physics drops the data term",
        "skoperator/_polish.py",
        "    if plan.has_data:\n        value, report = full_grid_objective(",
        "    if plan.has_data and plan.physics is None:\n"
        "        value, report = full_grid_objective(",
        ("tests/test_physics.py", "tests/test_physics_checks.py", "tests/test_training.py")),
    Breakage(
        "points-first-function",
        "points per function: every function of a batch trained at the first function's points",
        "skoperator/_objective.py",
        "        y = coords[rows]\n",
        "        y = coords[rows[:1]].expand(rows.numel(), -1, -1)\n",
        ("tests/test_points.py",)),
    Breakage(
        "merge-concat",
        'merge="concat" drops the last branch',
        "skoperator/_layers.py",
        "return self.mlp(torch.cat(outs, dim=-1))",
        "return self.mlp(torch.cat(outs[:-1] + [torch.zeros_like(outs[-1])], dim=-1))",
        ("tests/test_components.py",)),
    Breakage(
        "merge-product-sum",
        'merge="product_sum" loses its sum path',
        "skoperator/_layers.py",
        "        return prod + total\n",
        "        return prod\n",
        ("tests/test_components.py",)),
    Breakage(
        "dist-unweighted-gradient",
        "distributed: the gradient averaged without weighting by each rank's rows",
        "skoperator/_distributed.py",
        "        share = float(share)\n",
        "        share = 1.0\n",
        ("tests/test_distributed.py",)),
    Breakage(
        "dist-shard-rank0",
        "distributed: every rank's L-BFGS shard set to rank 0's",
        "skoperator/_distributed.py",
        "return torch.arange(self.rank, n, self.world_size)",
        "return torch.arange(0, n, self.world_size)",
        ("tests/test_distributed.py",)),
    Breakage(
        "dist-no-broadcast",
        "distributed: the initial broadcast skipped",
        "skoperator/_planning.py",
        "    comm.broadcast_module(network)  # every rank starts from rank 0's network\n",
        "",
        ("tests/test_distributed.py",)),
    Breakage(
        "dist-seed-not-shared",
        "distributed: rank 0's seed not shared (each rank its own base seed, random_state=None)",
        "skoperator/_planning.py",
        "base_seed = comm.from_rank0(check_random_state(est.random_state).randint(2**31 - 1))",
        "base_seed = check_random_state(est.random_state).randint(2**31 - 1)",
        ("tests/test_distributed.py",)),
    Breakage(
        "huber-delta",
        "HuberLoss ignoring delta",
        "skoperator/losses.py",
        'reduction="none", delta=self.delta)',
        'reduction="none", delta=1.0)',
        ("tests/test_losses.py", "tests/test_components.py")),
    Breakage(
        "ensemble-bias",
        "ensemble members all given member 0's output bias",
        "skoperator/_network.py",
        "network.bias.copy_(self.bias[c:c + 1])",
        "network.bias.copy_(self.bias[0:1])",
        ("tests/test_uncertainty.py", "tests/test_meta.py")),
    Breakage(
        "burgers-viscosity",
        "make_burgers ignoring viscosity",
        "skoperator/datasets/_burgers.py",
        "        c0,\n        n_points,\n        viscosity=viscosity,\n",
        "        c0,\n        n_points,\n        viscosity=0.1,\n",
        ("tests/test_datasets.py", "tests/test_datasets_pde.py")),
    Breakage(
        "adam-state-shared",
        "contract: the saved Adam state loaded without a copy",
        "skoperator/_planning.py",
        "optimizer.load_state_dict(copy.deepcopy(est._optimizer_state))",
        "optimizer.load_state_dict(est._optimizer_state)",
        ("tests/test_contracts.py", "tests/test_robustness.py", "tests/test_fitted.py")),
    Breakage(
        "predict-copies-network",
        "contract: predict copying the network to the device on every call",
        "skoperator/_estimator.py",
        "        if device not in self._device_networks:\n"
        "            self._device_networks[device] = copy.deepcopy(self.network_).to(device)\n"
        "        return self._device_networks[device]\n",
        "        return copy.deepcopy(self.network_).to(device)\n",
        ("tests/test_contracts.py",)),
    Breakage(
        "streamed-pod-whole",
        "contract: a streamed G loaded whole for a POD trunk",
        "skoperator/_planning.py",
        "    if _data.is_streamed(G):  # never loaded whole (the POD from row chunks)\n",
        "    if False:  # never loaded whole (the POD from row chunks)\n",
        ("tests/test_streaming.py",)),
    Breakage(
        "plan-outside-threads",
        "contract: the fit's plan built outside the n_jobs thread setting",
        "skoperator/_planning.py",
        "    with torch_threads(planning_threads(est.n_jobs)):"
        "  # the user's modules run here too\n",
        "    if True:  # the user's modules run here too\n",
        ("tests/test_design.py", "tests/test_contracts.py")),
    Breakage(
        "wrapper-score-nan",
        "contract: a wrapper's score not ignoring NaN (missing targets scored as zeros)",
        "skoperator/_meta.py",
        "        G = check_targets(y, len(pred))\n",
        "        G = np.nan_to_num(check_targets(y, len(pred)))\n",
        ("tests/test_meta.py", "tests/test_symmetry.py", "tests/test_uncertainty.py")),
    Breakage(
        "r2-nan-padding",
        "NaN padding making score NaN (R2 multiplies NaN predictions by zero weights)",
        "skoperator/metrics.py",
        "self.sse += (w * np.where(w > 0, g - G_pred, 0.0) ** 2).sum(axis=0)",
        "self.sse += (w * (g - G_pred) ** 2).sum(axis=0)",
        ("tests/test_robustness.py", "tests/test_points.py")),
    Breakage(
        "io-raw-error",
        "a tampered file giving a raw error (load converts only ValueError)",
        "skoperator/io.py",
        "    except (KeyError, TypeError, AttributeError, IndexError, RuntimeError,"
        " OverflowError,\n"
        "            ValueError) as exc:\n",
        "    except ValueError as exc:\n",
        ("tests/test_io.py",)),
    Breakage(
        "io-not-json",
        "a tampered file giving a raw error (model.json not JSON: no check)",
        "skoperator/io.py",
        "        try:\n"
        "            document = json.loads(archive.read(_JSON).decode(\"utf-8\"))\n"
        "        except ValueError as exc:  # not UTF-8, or not JSON\n"
        "            raise ValueError(f\"{path} is damaged: its {_JSON} is not JSON \"\n"
        "                             f\"({type(exc).__name__}: {exc}).\") from exc\n",
        "        document = json.loads(archive.read(_JSON).decode(\"utf-8\"))\n",
        ("tests/test_io.py",)),
    Breakage(
        "display-index",
        "an out-of-range Display index giving a raw IndexError",
        "skoperator/_display.py",
        "    if not -n_functions <= index < n_functions:\n",
        "    if False:\n",
        ("tests/test_display.py",)),
]


def copy_checkout(dest):
    """The working tree's files (tracked, and untracked not ignored), copied into ``dest``."""
    names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, names):
        source = os.path.join(ROOT, name)
        if not os.path.isfile(source):  # deleted in the working tree
            continue
        target = os.path.join(dest, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(source, target)


def plant(dest, breakage):
    """Apply the breakage's one replacement in the copy at ``dest``."""
    path = os.path.join(dest, breakage.path)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    count = text.count(breakage.old)
    if count != 1:
        raise RuntimeError(f"{breakage.name}: the old string occurs {count} times in "
                           f"{breakage.path} (expected exactly once); update the patch.")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(breakage.old, breakage.new))


def environment(dest):
    # the copy first for the tests' subprocesses too (the distributed workers)
    path = [dest] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(path),
                OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))


def check_import(dest, env):
    out = subprocess.run([sys.executable, "-c", "import skoperator; print(skoperator.__file__)"],
                         cwd=dest, env=env, capture_output=True, text=True, check=True)
    where = os.path.realpath(out.stdout.strip())
    if not where.startswith(os.path.realpath(dest) + os.sep):
        raise RuntimeError(f"the copy at {dest} imports skoperator from {where}")


# "FAILED node id - message" (a parametrised id may hold spaces)
_FAILED = re.compile(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", re.MULTILINE)


def _pytest(dest, env, targets, timeout, slow):
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
           "-o", "addopts=", "-rfE"]
    if not slow:
        cmd += ["-m", "not slow"]
    return subprocess.run(cmd + list(targets), cwd=dest, env=env, capture_output=True,
                          text=True, timeout=timeout)


def run_one(breakage, timeout, slow=False):
    """(first failing node id or "NOT CAUGHT", seconds, pytest's output).

    A failing test is also run on an unbroken copy: one that fails there
    too is reported as such, not as a catch.
    """
    with tempfile.TemporaryDirectory(prefix=f"plant-{breakage.name}-") as dest:
        copy_checkout(dest)
        plant(dest, breakage)
        env = environment(dest)
        check_import(dest, env)
        tic = time.perf_counter()
        try:
            done = _pytest(dest, env, breakage.tests, timeout, slow)
        except subprocess.TimeoutExpired as exc:
            output = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            return f"TIMEOUT after {timeout:.0f} s", time.perf_counter() - tic, output
        seconds = time.perf_counter() - tic
        output = done.stdout + done.stderr
    if done.returncode == 0:
        return "NOT CAUGHT", seconds, output
    failed = _FAILED.findall(output)
    if not failed:
        return f"pytest exit {done.returncode} (no failing test)", seconds, output
    with tempfile.TemporaryDirectory(prefix="plant-unbroken-") as clean:
        copy_checkout(clean)
        env = environment(clean)
        check_import(clean, env)
        if _pytest(clean, env, [failed[0]], timeout, slow).returncode != 0:
            return f"{failed[0]} FAILS UNBROKEN TOO (not a catch)", seconds, output
    return failed[0], seconds, output


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this breakage (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the breakages and exit")
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds allowed to one breakage's pytest run (default 900)")
    parser.add_argument("--slow", action="store_true", help="include the tests marked slow")
    parser.add_argument("--verbose", action="store_true", help="print pytest's output")
    args = parser.parse_args(argv)
    chosen = BREAKAGES
    if args.only:
        names = {b.name for b in BREAKAGES}
        unknown = sorted(set(args.only) - names)
        if unknown:
            parser.error(f"unknown breakage(s) {unknown}; known: {sorted(names)}")
        chosen = [b for b in BREAKAGES if b.name in args.only]
    if args.list:
        for b in chosen:
            print(f"{b.name:26s} {b.path:34s} {b.harm}")
        return 0
    width = max(len(b.name) for b in chosen)
    print(f"{'breakage':{width}s}  {'seconds':>7s}  first failing test")
    missed = 0
    for b in chosen:
        result, seconds, output = run_one(b, args.timeout, args.slow)
        missed += not result.startswith("tests/") or "FAILS UNBROKEN" in result
        print(f"{b.name:{width}s}  {seconds:7.0f}  {result}", flush=True)
        if args.verbose:
            print(output)
    print(f"# {len(chosen) - missed} of {len(chosen)} caught")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
