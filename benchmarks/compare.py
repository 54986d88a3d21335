"""skoperator against the other operator-learning libraries: accuracy against wall time.

For each benchmark (antiderivative, diffusion-reaction, heat, burgers, darcy,
advection-de-hoop, advection-lanthaler, at FNO's resolutions burgers-1024
and darcy-85, and Navier-Stokes on FNO's protocol, navier-stokes-1e-3 and
navier-stokes-1e-5)
and each library that can run it, trains the library's best known recipe on
the same data (the data of ``python -m skoperator.reproduce NAME --seeds 0``:
generated training functions, and the held-out functions of the record, the
authors' own fields for heat) for each wall-time budget, on one thread, and
scores it on the same held-out functions:

* ``skoperator``: ``make_estimator(NAME, budget="quick")`` with
  ``max_time=BUDGET`` (the one-cycle schedule follows the clock; an ensemble recipe
  shares the clock among its members, and its iterations are theirs summed);
* ``neuraloperator``: ``neuralop.models.FNO`` (Fourier layers with channel
  MLPs, padded domain), per-function relative L2 loss (``LpLoss``), Adam with a
  one-cycle schedule that follows the clock, inputs and outputs standardised;
  the input field is broadcast along the output grid's extra axis when the
  output grid has one more axis than the input (diffusion-reaction: the
  source ``s(x)`` repeated at every time); on Navier-Stokes the FNO paper's
  2-D FNO (12 modes, width 20, batches of 20) with the ten input snapshots
  as input channels and the predicted snapshots as output channels, all at
  once (the paper's own recurrent FNO-2D and FNO-3D are the next rows);
* ``fno-2d-recurrent`` and ``fno-3d`` (Navier-Stokes only): the FNO paper's
  own two models for it, with its settings (its scripts ``fourier_2d_time.py``
  and ``fourier_3d.py``), built from ``neuralop.models.FNO``: the recurrent
  2-D FNO (12 modes, width 20, batches of 20, no padding on the torus) maps the
  last ten snapshots to the next one and is trained on its whole rollout
  (the sum of each step's relative L2 loss, gradients through every step);
  the 3-D FNO (8 modes per axis, width 20, batches of 10, the time axis
  padded by 15 %) maps the ten input snapshots, repeated along the output
  times, to the space-time block at once. Both standardise the vorticity with
  one mean and standard deviation (a rollout feeds its outputs back) and
  train with Adam peaking at the paper's 1e-3 on the clock's one-cycle
  schedule (the paper's step decay over 500 epochs has no meaning at a time
  budget);
* ``fno+mirrors`` (where skoperator's recipe uses the problem's symmetries:
  heat trains on its mirror images, darcy-85 averages its predictions over the
  square's eight maps): the same FNO given the same symmetries (the images and
  the group average, or the group average alone), to show what they give the
  peer;
* ``deepxde``: ``deepxde.nn.DeepONetCartesianProd`` on
  ``deepxde.data.TripleCartesianProd`` (``DDE_BACKEND=pytorch``), MLP branch
  and trunk of 3 x 128, ReLU, Adam at 1e-3 with mini-batches of 64 functions,
  inputs and outputs standardised, stopped by a callback at the budget.

Each fit runs in its own process (``--worker``), so that one library's global
settings (DeepXDE sets torch's default dtype) do not reach another. Prints one
table per benchmark (mean relative L2 error, mean R2, fit seconds, epochs or
steps), writes the raw rows to ``benchmarks/results/compare_<benchmark>.csv``
and a figure ``benchmarks/results/compare_<benchmark>.png`` (error against
fit time, log-log).

    python benchmarks/compare.py                                   # everything: hours
    python benchmarks/compare.py --benchmarks burgers --budgets 30 120
    python benchmarks/compare.py --quick                           # a smoke run
    python benchmarks/compare.py --replot                          # redraw figures from the CSVs

Times are one-thread wall times; on a shared machine a budget buys fewer
steps than on an idle one, for every library alike.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BENCHMARKS = ("antiderivative", "diffusion-reaction", "heat", "burgers", "darcy",
              "advection-de-hoop", "advection-lanthaler", "burgers-1024", "darcy-85",
              "navier-stokes-1e-3", "navier-stokes-1e-5")
LIBRARIES = ("skoperator", "neuraloperator", "deepxde", "fno+mirrors", "fno-2d-recurrent",
             "fno-3d")
# The FNO paper's two Navier-Stokes models (Li et al. 2021, its scripts
# fourier_2d_time.py and fourier_3d.py), built from neuraloperator's FNO: see
# train_fno_in_time.
TIME_FNOS = ("fno-2d-recurrent", "fno-3d")

# Grids of the inputs and outputs (row-major, the generators' layouts; the
# first axis of a shape varies slowest).
INPUT_GRID = {"antiderivative": (100,), "diffusion-reaction": (100,), "heat": (32, 32),
              "burgers": (128,), "darcy": (29, 29), "advection-de-hoop": (200,),
              "advection-lanthaler": (2048,), "burgers-1024": (1024,), "darcy-85": (85, 85),
              "navier-stokes-1e-3": (64, 64), "navier-stokes-1e-5": (64, 64)}
OUTPUT_GRID = {"antiderivative": (100,), "diffusion-reaction": (101, 100), "heat": (32, 32),
               "burgers": (128,), "darcy": (29, 29), "advection-de-hoop": (200,),
               "advection-lanthaler": (2048,), "burgers-1024": (1024,), "darcy-85": (85, 85),
               "navier-stokes-1e-3": (64, 64), "navier-stokes-1e-5": (64, 64)}
# Channels (in, out) of the FNO where a function is several snapshots on the grid.
CHANNELS = {"navier-stokes-1e-3": (10, 40), "navier-stokes-1e-5": (10, 10)}
# neuraloperator FNO settings per benchmark: modes per axis, width, batch.
# At FNO's resolutions, the FNO paper's settings (Li et al. 2021: 1-D 16 modes
# width 64, 2-D 12 modes width 32) and its scripts' batches of 20
# (fourier_1d.py, fourier_2d.py); the optimiser is this script's (see train_fno).
FNO = {"antiderivative": ((16,), 64, 16), "diffusion-reaction": ((12, 12), 32, 8),
       "heat": ((12, 12), 32, 8), "burgers": ((16,), 64, 16), "darcy": ((12, 12), 32, 8),
       "advection-de-hoop": ((32,), 64, 16), "advection-lanthaler": ((64,), 64, 16),
       "burgers-1024": ((16,), 64, 20), "darcy-85": ((12, 12), 32, 20),
       "navier-stokes-1e-3": ((12, 12), 20, 20), "navier-stokes-1e-5": ((12, 12), 20, 20)}


def why_not(library, benchmark):
    """Why ``library`` cannot run ``benchmark`` (None when it can)."""
    if library == "fno+mirrors" and not (_recipe_symmetries(benchmark)
                                         or _recipe_group(benchmark)):
        return "skoperator's recipe uses no symmetries here: the same as neuraloperator"
    if library in TIME_FNOS and benchmark not in CHANNELS:
        return "the FNO paper's model for Navier-Stokes (snapshots in time) only"
    if library in ("neuraloperator", "fno+mirrors") + TIME_FNOS:
        try:
            import neuralop  # noqa: F401
        except ImportError:
            return "neuraloperator is not installed (pip install -e '.[benchmarks]')"
    if library == "deepxde" and benchmark in CHANNELS:
        return ("this script's DeepXDE recipe (MLP branch over the flattened input) is not "
                "set up for space-time problems")
    if library == "deepxde":
        try:
            import importlib.util

            if importlib.util.find_spec("deepxde") is None:
                raise ImportError
        except ImportError:
            return "deepxde is not installed (pip install -e '.[benchmarks]')"
    return None


def load(benchmark, quick, cache):
    """(U, G, coords, U_test, G_test, test source), cached as .npz in ``cache``."""
    from skoperator.reproduce import BENCHMARKS as RECORDS
    from skoperator.reproduce import load_benchmark

    spec = RECORDS[benchmark]
    n_train, n_test = (64, 16) if quick else (spec.n_train[0], spec.n_test)
    path = Path(cache) / f"compare_{benchmark}_{n_train}_{n_test}.npz" if cache else None
    if path is not None and path.exists():
        d = np.load(path, allow_pickle=False)
        return d["U"], d["G"], spec.coords(), d["U_test"], d["G_test"], str(d["source"])
    U, G, U_test, G_test, source = load_benchmark(benchmark, n_train, n_test=n_test,
                                                  random_state=1000)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, U=U, G=G, U_test=U_test, G_test=G_test, source=source)
    return U, G, spec.coords(), U_test, G_test, source


# --------------------------------------------------------------------- fits
def fit_skoperator(benchmark, data, budget, seed):
    from skoperator.reproduce import final_estimator, make_estimator

    U, G, _, U_test, _, _ = data
    model = make_estimator(benchmark, budget="quick", random_state=seed, device="cpu",
                           max_time=float(budget), max_iter=1_000_000)
    est = final_estimator(model)
    if est.n_basis > len(U):  # a smoke run's few functions cannot give a POD trunk's modes
        est.set_params(n_basis=len(U))
    # The first torch optimizer of a process imports torch._dynamo (most of a second): the
    # peers build theirs before their clocks start, skoperator inside fit, where its
    # max_time counts. Paid here, before the clock, for equal time.
    import torch

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    tic = time.perf_counter()
    model.fit(U, G)
    seconds = time.perf_counter() - tic
    # an ensemble recipe: every member's epochs (they share the clock)
    inner = getattr(model, "estimator_", model)
    members = getattr(inner, "estimators_", None) or [model]
    return model.predict(U_test), seconds, sum(final_estimator(m).n_iter_ for m in members)


def _input_transform(benchmark):
    return np.log if benchmark == "heat" else (lambda u: u)


def _train_on_clock(model, batch_loss, n, batch, budget, lr):
    """Adam on shuffled batches with a one-cycle schedule that follows the clock.

    ``batch_loss(rows)`` is the loss of a batch (a tensor of row indices).
    Stops when ``budget`` seconds are spent; returns ``(seconds, whole
    epochs)`` and leaves ``model`` in eval mode.
    """
    import torch

    from skoperator.schedules import OneCycleSchedule

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = OneCycleSchedule()
    epochs = 0
    start = time.perf_counter()
    done = False
    while not done:
        perm = torch.randperm(n)
        for i in range(0, n, batch):
            progress = (time.perf_counter() - start) / budget
            if progress >= 1.0:
                done = True
                break
            factor, beta1 = schedule(progress)
            for group in opt.param_groups:
                group["lr"], group["betas"] = lr * factor, (beta1, group["betas"][1])
            loss = batch_loss(perm[i:i + batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
        else:
            epochs += 1
    seconds = time.perf_counter() - start
    model.eval()
    return seconds, epochs


def train_fno(benchmark, U, G, budget, seed):
    """neuraloperator's FNO with the recipe of ``benchmarks/bench_heat.py --fno``.

    Returns ``(predict, seconds, epochs)``: ``predict(U)`` gives rows of G.
    """
    import torch
    from neuralop.losses import LpLoss
    from neuralop.models import FNO as FNOModel


    torch.manual_seed(seed)
    in_grid, out_grid = INPUT_GRID[benchmark], OUTPUT_GRID[benchmark]
    in_channels, out_channels = CHANNELS.get(benchmark, (1, 1))
    f = _input_transform(benchmark)

    def inputs(U):
        x = f(U).reshape(-1, in_channels, *in_grid)
        if len(out_grid) > len(in_grid):  # broadcast along the leading output axes
            x = np.broadcast_to(x[:, :, None], (len(x), 1, *out_grid))
        return x

    x = inputs(U)
    x_mean, x_std = x.mean(axis=0), x.std(axis=0) + 1e-12
    y = G.reshape(-1, out_channels, *out_grid)
    y_mean, y_std = y.mean(axis=0), y.std(axis=0) + 1e-12
    X = torch.tensor((x - x_mean) / x_std, dtype=torch.float32)
    Y = torch.tensor(y, dtype=torch.float32)
    ym, ys = (torch.tensor(a, dtype=torch.float32) for a in (y_mean, y_std))
    modes, width, batch = FNO[benchmark]
    modes = tuple(min(m, s // 2) for m, s in zip(modes, out_grid))
    model = FNOModel(n_modes=modes, in_channels=in_channels, out_channels=out_channels,
                     hidden_channels=width,
                     domain_padding=0.125)
    # per-function relative L2 (over the channels too, as the metric)
    loss_fn = LpLoss(d=len(out_grid) + (benchmark in CHANNELS), p=2, reduction="mean")
    seconds, epochs = _train_on_clock(
        model, lambda idx: loss_fn(model(X[idx]) * ys + ym, Y[idx]), len(X), batch, budget,
        lr=3e-3)

    def predict(U_new):
        with torch.no_grad():
            xt = torch.tensor((inputs(U_new) - x_mean) / x_std, dtype=torch.float32)
            pred = torch.cat([model(xt[i:i + 50]) * ys + ym for i in range(0, len(xt), 50)])
        return pred.reshape(len(U_new), -1).numpy().astype(np.float64)

    return predict, seconds, epochs


def train_fno_in_time(benchmark, U, G, budget, seed, form):
    """The FNO paper's recurrent 2-D (``form="fno-2d-recurrent"``) or 3-D FNO.

    Returns ``(predict, seconds, epochs)`` as :func:`train_fno`.
    """
    import torch
    from neuralop.losses import LpLoss
    from neuralop.models import FNO as FNOModel


    torch.manual_seed(seed)
    grid = OUTPUT_GRID[benchmark]
    n_in, n_out = CHANNELS[benchmark]
    mean, std = float(U.mean()), float(U.std())  # one scale: a rollout feeds outputs back
    X = torch.tensor((U.reshape(-1, n_in, *grid) - mean) / std, dtype=torch.float32)
    Y = torch.tensor(G.reshape(-1, n_out, *grid), dtype=torch.float32)
    recurrent = form == "fno-2d-recurrent"
    if recurrent:  # fourier_2d_time.py: modes 12, width 20, batch 20, periodic
        model = FNOModel(n_modes=(12, 12), in_channels=n_in, out_channels=1,
                         hidden_channels=20)
        batch = 20
    else:  # fourier_3d.py: modes 8, width 20, batch 10, time padded
        model = FNOModel(n_modes=(8, 8, min(8, n_out // 2 + 1)), in_channels=n_in,
                         out_channels=1, hidden_channels=20, domain_padding=[0, 0, 0.15])
        batch = 10
    step_loss = LpLoss(d=2, p=2, reduction="mean")
    block_loss = LpLoss(d=3, p=2, reduction="mean")

    def forward(x, targets=None):
        """Predicted snapshots (physical units) and, with targets, the loss."""
        if not recurrent:
            z = model(x[..., None].expand(*x.shape, n_out))[:, 0]  # (b, x, y, t)
            pred = z.permute(0, 3, 1, 2) * std + mean
            return pred, None if targets is None else block_loss(pred, targets)
        out, loss = [], 0.0
        for t in range(n_out):
            z = model(x)  # (b, 1, x, y), standardised
            pred = z * std + mean
            out.append(pred)
            if targets is not None:
                loss = loss + step_loss(pred, targets[:, t:t + 1])
            x = torch.cat([x[:, 1:], z], dim=1)
        return torch.cat(out, dim=1), loss

    seconds, epochs = _train_on_clock(model, lambda idx: forward(X[idx], Y[idx])[1], len(X),
                                      batch, budget, lr=1e-3)

    def predict(U_new):
        xt = torch.tensor((U_new.reshape(-1, n_in, *grid) - mean) / std, dtype=torch.float32)
        with torch.no_grad():
            pred = torch.cat([forward(xt[i:i + 20])[0] for i in range(0, len(xt), 20)])
        return pred.reshape(len(U_new), -1).numpy().astype(np.float64)

    return predict, seconds, epochs


def fit_fno_in_time(library):
    """A fit of the FNO paper's Navier-Stokes model ``library`` (:func:`train_fno_in_time`)."""
    def fit(benchmark, data, budget, seed):
        U, G, _, U_test, _, _ = data
        predict, seconds, epochs = train_fno_in_time(benchmark, U, G, budget, seed, library)
        return predict(U_test), seconds, epochs
    return fit


def fit_fno(benchmark, data, budget, seed):
    """neuraloperator's FNO (:func:`train_fno`), scored on the held-out functions."""
    U, G, _, U_test, _, _ = data
    predict, seconds, epochs = train_fno(benchmark, U, G, budget, seed)
    return predict(U_test), seconds, epochs


def _recipe_symmetries(benchmark):
    from skoperator.reproduce import BENCHMARKS as RECORDS

    return list(RECORDS[benchmark].params("quick").get("symmetries") or [])


def _recipe_group(benchmark):
    """The finite group whose average skoperator's recipe predicts (darcy-85), or None."""
    from skoperator.reproduce import BENCHMARKS as RECORDS

    return RECORDS[benchmark].params("quick").get("group_average")


def fit_fno_mirrors(benchmark, data, budget, seed):
    """The FNO of :func:`fit_fno` given skoperator's recipe symmetries.

    ``SymmetrizedRegressor`` around it, as around the DeepONet of the recipe
    (heat's mirrors): trained on every training function and its images for
    the same budget, predicting the group average of ``g^-1 f(g u)``; or,
    for a recipe that averages at prediction only (darcy-85's eight maps),
    ``GroupAveragedRegressor``: trained on the data, predicting that average.
    """
    from sklearn.base import BaseEstimator, RegressorMixin

    from skoperator.symmetry import GroupAveragedRegressor, SymmetrizedRegressor

    class FNORegressor(RegressorMixin, BaseEstimator):
        def fit(self, U, G):
            self.predict_, self.seconds_, self.n_iter_ = train_fno(benchmark, U, G, budget,
                                                                   seed)
            return self

        def predict(self, U):
            return self.predict_(U)

    U, G, _, U_test, _, _ = data
    group = _recipe_group(benchmark)
    model = (GroupAveragedRegressor(FNORegressor(), group) if group is not None
             else SymmetrizedRegressor(FNORegressor(), _recipe_symmetries(benchmark))).fit(U, G)
    return model.predict(U_test), model.estimator_.seconds_, model.estimator_.n_iter_


def fit_deepxde(benchmark, data, budget, seed):
    os.environ.setdefault("DDE_BACKEND", "pytorch")
    import deepxde as dde

    U, G, coords, U_test, G_test, _ = data
    dde.config.set_random_seed(seed)
    f = _input_transform(benchmark)
    u, ut = f(U), f(U_test)
    u_mean, u_std = u.mean(axis=0), u.std(axis=0) + 1e-12
    g_mean, g_std = G.mean(axis=0), G.std() + 1e-12
    c = (coords - coords.mean(axis=0)) / (coords.std(axis=0) + 1e-12)
    X_train = (((u - u_mean) / u_std).astype(np.float32), c.astype(np.float32))
    X_test = (((ut - u_mean) / u_std).astype(np.float32), c.astype(np.float32))
    y_train = ((G - g_mean) / g_std).astype(np.float32)
    y_test = ((G_test - g_mean) / g_std).astype(np.float32)
    data_dde = dde.data.TripleCartesianProd(X_train=X_train, y_train=y_train,
                                            X_test=X_test, y_test=y_test)
    net = dde.nn.DeepONetCartesianProd([U.shape[1], 128, 128, 128],
                                       [coords.shape[1], 128, 128, 128], "relu",
                                       "Glorot normal")
    model = dde.Model(data_dde, net)
    model.compile("adam", lr=1e-3)

    from _common import deepxde_clock  # the benchmarks folder: this script's own

    clock = deepxde_clock(budget)
    tic = time.perf_counter()
    model.train(iterations=10_000_000, batch_size=min(64, len(U)), display_every=10**9,
                callbacks=[clock], verbose=0)
    seconds = time.perf_counter() - tic
    pred = model.predict(X_test) * g_std + g_mean
    return np.asarray(pred, dtype=np.float64), seconds, clock.steps


FITS = {"skoperator": fit_skoperator, "neuraloperator": fit_fno, "deepxde": fit_deepxde,
        "fno+mirrors": fit_fno_mirrors,
        **{library: fit_fno_in_time(library) for library in TIME_FNOS}}
UNITS = {"skoperator": "epochs", "neuraloperator": "epochs", "deepxde": "steps",
         "fno+mirrors": "epochs", **{library: "epochs" for library in TIME_FNOS}}


def worker(args):
    """Run one (benchmark, library, budget) fit; print one JSON row."""
    import torch

    torch.set_num_threads(1)
    from skoperator.metrics import mean_function_r2, mean_relative_l2_error

    data = load(args.benchmark, args.quick, args.cache)
    pred, seconds, n = FITS[args.library](args.benchmark, data, args.budget, args.seed)
    G_test = data[4]
    print(json.dumps(dict(benchmark=args.benchmark, library=args.library, budget_s=args.budget,
                          seed=args.seed, rel_l2=mean_relative_l2_error(G_test, pred),
                          median_rel_l1=float(np.median(np.abs(pred - G_test).sum(axis=1)
                                                        / np.abs(G_test).sum(axis=1))),
                          r2=mean_function_r2(G_test, pred), fit_s=seconds, iterations=n,
                          unit=UNITS[args.library], n_train=len(data[0]),
                          n_test=len(G_test), test_data=data[5])))


def run_one(benchmark, library, budget, args):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", DDE_BACKEND="pytorch")
    cmd = [sys.executable, __file__, "--worker", "--benchmarks", benchmark, "--libraries",
           library, "--budgets", str(budget), "--seed", str(args.seed), "--cache", args.cache]
    if args.quick:
        cmd.append("--quick")
    # generous: data loading, the fit, scoring, and a loaded machine
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                          timeout=max(600, 6 * budget + 600))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
        return dict(benchmark=benchmark, library=library, budget_s=budget, seed=args.seed,
                    error=tail[0][:200])
    return json.loads(lines[-1])


def figure(rows, benchmark, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover
        return
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for library in LIBRARIES:
        rs = sorted((r for r in rows if r["library"] == library and "rel_l2" in r),
                    key=lambda r: r["fit_s"])
        if rs:
            ax.plot([r["fit_s"] for r in rs], [100 * r["rel_l2"] for r in rs], marker="o",
                    label=library)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("fit wall time (s, one CPU thread)")
    ax.set_ylabel("mean relative L2 error (%)")
    ax.set_title(f"{benchmark}: accuracy against time")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def replot(benchmarks, out):
    """Redraw ``compare_<benchmark>.png`` from the rows of ``compare_<benchmark>.csv``."""
    for benchmark in benchmarks:
        path = out / f"compare_{benchmark}.csv"
        if not path.exists():
            continue
        with open(path, newline="") as f:
            rows = [dict(r, fit_s=float(r["fit_s"]), rel_l2=float(r["rel_l2"]))
                    for r in csv.DictReader(f) if r.get("rel_l2")]
        figure(rows, benchmark, out / f"compare_{benchmark}.png")
        print(f"redrew {out / f'compare_{benchmark}.png'} from {len(rows)} rows")


def _seconds(text):
    """argparse type of --budgets: a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value > 0 and np.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _seed(text):
    """argparse type of --seed: an int >= 0."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected an int >= 0, got {text!r}")
    return int(text)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--benchmarks", nargs="+", default=list(BENCHMARKS), choices=BENCHMARKS)
    p.add_argument("--libraries", nargs="+", default=list(LIBRARIES), choices=LIBRARIES)
    p.add_argument("--budgets", nargs="+", type=_seconds, default=[30.0, 120.0, 600.0],
                   help="wall-time budgets of each fit, seconds")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 64 training / 16 held-out functions, 3 s budgets")
    p.add_argument("--cache", default="/tmp/skoperator-bench-data",
                   help="folder caching the generated data ('' to regenerate)")
    p.add_argument("--out", default=str(RESULTS), help="folder of the CSV files and figures")
    p.add_argument("--replot", action="store_true",
                   help="only redraw each figure from its CSV in --out (after rows were merged)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.replot:
        return replot(args.benchmarks, Path(args.out))
    if args.quick:
        args.budgets = [3.0]
    if args.worker:
        args.benchmark, args.library, args.budget = (args.benchmarks[0], args.libraries[0],
                                                     args.budgets[0])
        return worker(args)
    out = Path(args.out)
    if not args.quick:  # a quick run writes nothing
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            p.error(f"argument --out: cannot create the folder {out} ({exc.strerror})")
    failed = True
    for benchmark in args.benchmarks:
        print(f"\n## {benchmark}: mean relative L2 error and mean R2 on held-out functions, "
              "one thread per fit")
        print(f"{'library':<17} {'budget s':>8} {'fit s':>7} {'rel L2 %':>9} {'mean R2':>9} "
              f"{'iterations':>11}")
        rows = []
        for library in args.libraries:
            reason = why_not(library, benchmark)
            if reason:
                print(f"{library:<17} cannot run: {reason}")
                rows.append(dict(benchmark=benchmark, library=library, error=reason))
                continue
            for budget in args.budgets:
                r = run_one(benchmark, library, budget, args)
                rows.append(r)
                failed = failed and "error" in r
                if "error" in r:
                    print(f"{library:<17} {budget:>8.0f} failed: {r['error']}", flush=True)
                else:
                    print(f"{library:<17} {budget:>8.0f} {r['fit_s']:>7.1f} "
                          f"{100 * r['rel_l2']:>9.4f} {r['r2']:>9.5f} "
                          f"{r['iterations']:>6} {r['unit']}", flush=True)
        if args.quick or all("error" in r for r in rows):  # no evidence overwritten
            continue
        fields = ["benchmark", "library", "budget_s", "seed", "fit_s", "rel_l2",
                  "median_rel_l1", "r2",
                  "iterations", "unit", "n_train", "n_test", "test_data", "error"]
        with open(out / f"compare_{benchmark}.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
        figure(rows, benchmark, out / f"compare_{benchmark}.png")
        print(f"wrote {out / f'compare_{benchmark}.csv'} and {out / f'compare_{benchmark}.png'}")
    if failed:
        sys.exit("every fit failed (see above); nothing was written")


if __name__ == "__main__":
    main()
