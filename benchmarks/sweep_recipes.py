"""The recipe sweep: which of the package's parts gives what accuracy, per benchmark.

Each variant is the benchmark's quick recipe (``make_estimator(name,
budget="quick")``) with a few parameters changed: the branch (MLP, CNN,
Fourier layers), the trunk (MLP, MLP with Fourier features, POD), the loss
(mse, relative_l2), the schedule, ``n_eval`` and ``lbfgs_iter``. Every variant
is trained on the same data (the data of ``python -m skoperator.reproduce NAME
--seeds 0``) for the same number of epochs, with ``max_time`` as a guard, on
one thread, and scored on the same held-out functions. The script prints one
line per variant (mean relative L2 error, mean R2, fit seconds, epochs) and
appends the rows to ``benchmarks/results/sweep_<benchmark>.csv``: this is the
evidence behind the recipes in ``skoperator/reproduce.py``.

    python benchmarks/sweep_recipes.py burgers                  # every variant of burgers
    python benchmarks/sweep_recipes.py darcy --variants recipe mlp-branch
    python benchmarks/sweep_recipes.py diffusion-reaction --n-train 1000
    python benchmarks/sweep_recipes.py burgers --epochs 20 --max-time 120
    python benchmarks/sweep_recipes.py burgers --quick          # a smoke run
    python benchmarks/sweep_recipes.py darcy-85 --n-train 1000 --n-test 200 \
        --pod-floor 128 256 512 --variants                       # the POD trunk's floor
    python benchmarks/sweep_recipes.py navier-stokes-1e-5 --n-train 1000 --n-test 200 \
        --epochs 30 --variants one-head128 --seeds 0 1 2 3      # ensembles of seeds

Accuracy at a fixed number of epochs does not depend on the machine's load;
the fit seconds do (they are one-thread wall times on a shared machine).
"""

import csv
import time
from pathlib import Path

import _common
import numpy as np

from skoperator.datasets import darcy_symmetry
from skoperator.metrics import mean_function_r2, mean_relative_l2_error
from skoperator.networks import CNNBranch, FNOBranch, MLPBranch, MLPTrunk, MultiBranch
from skoperator.optimizers import LBFGS, Adam
from skoperator.reproduce import BENCHMARKS, final_estimator, load_benchmark, make_estimator
from skoperator.schedules import OneCycleSchedule

RESULTS = Path(__file__).resolve().parent / "results"


def _twice(U):
    """``U`` side by side with itself: one copy per branch of a MultiBranch."""
    return np.hstack([U, U])


# The diffusion-reaction-physics record before it took 5,000 functions and 256 per step.
FORMER_DR_PHYSICS = dict(batch_size=32, physics__n_points=32, max_iter=942,
                         optimizer=Adam(polish=LBFGS(max_iter=1200)))


def _per_step(batch, points, epochs, note=""):
    """A diffusion-reaction-physics variant: functions per step, points each, epochs."""
    return (f"{batch} functions per step at {points} points, {epochs:,} epochs{note}, "
            "1,200 L-BFGS iterations",
            dict(batch_size=batch, physics__n_points=points, max_iter=epochs,
                 optimizer=Adam(polish=LBFGS(max_iter=1200))))


# name -> (what it changes, estimator parameters overriding the quick recipe).
# "recipe" is the quick recipe itself. Epochs come from --epochs (or the recipe).
VARIANTS = {
    "burgers": {
        "recipe": ("the quick recipe", {}),
        "mse": ("mse loss instead of relative L2", dict(loss="mse")),
        "mlp-branch": ("MLP branch 128x3 (pooled)", dict(
            branch=MLPBranch(layers=(128, 128, 128), activation="gelu"))),
        "mlp-trunk": ("FNO branch (pooled head), MLP trunk", dict(
            branch=FNOBranch(grid=(128,), modes=16, width=64, n_layers=4, head="pooled",
                             head_layers=(128, 128)),
            trunk=MLPTrunk(layers=(128, 128, 128), activation="gelu"), n_basis=64)),
        "fourier-trunk": ("FNO branch (pooled head), MLP trunk + Fourier features", dict(
            branch=FNOBranch(grid=(128,), modes=16, width=64, n_layers=4, head="pooled",
                             head_layers=(128, 128)),
            trunk=MLPTrunk(layers=(128, 128, 128), activation="gelu", fourier_features=32,
                           fourier_scale=4.0), n_basis=64)),
        "width64": ("FNO width 64", dict(branch__width=64)),
        "padding": ("FNO zero padding 0.125 (the problem is periodic)",
                    dict(branch__padding=0.125)),
        "batch16": ("batches of 16", dict(batch_size=16)),
        "modes8": ("FNO 8 modes", dict(branch__modes=8)),
        "pod32": ("32 POD modes", dict(n_basis=32)),
        "n_eval32": ("n_eval 32 random points", dict(n_eval=32)),
        "cosine": ("cosine schedule", dict(learning_rate="cosine")),
        "constant": ("constant learning rate", dict(learning_rate="constant",
                                                      learning_rate_init=1e-3)),
        "lbfgs": ("+ 100 L-BFGS iterations", dict(optimizer=Adam(polish=LBFGS(max_iter=100)))),
    },
    "darcy": {
        "recipe": ("the quick recipe", {}),
        "mse": ("mse loss instead of relative L2", dict(loss="mse")),
        "mlp-branch": ("MLP branch 256x3 (POD trunk)", dict(
            branch=MLPBranch(layers=(256, 256, 256), activation="gelu"))),
        "cnn-branch": ("CNN branch (POD trunk)", dict(
            branch=CNNBranch(grid=(29, 29), filters=(32, 64, 128), layers=(256, 256),
                             activation="gelu"))),
        "mlp-trunk": ("FNO branch (pooled head), MLP trunk", dict(
            branch=FNOBranch(grid=(29, 29), modes=12, width=32, n_layers=4, head="pooled",
                             head_layers=(256, 256)),
            trunk=MLPTrunk(layers=(128, 128, 128), activation="gelu"), n_basis=128)),
        "width24": ("FNO width 24", dict(branch__width=24)),
        "modes12": ("FNO 12 modes", dict(branch__modes=12)),
        "batch16": ("batches of 16", dict(batch_size=16)),
        "pod64": ("64 POD modes", dict(n_basis=64)),
        "n_eval64": ("n_eval 64 random points", dict(n_eval=64)),
        "cosine": ("cosine schedule", dict(learning_rate="cosine")),
    },
    # FNO's resolutions (skoperator/_benchmarks_full.py): a first, small sweep
    # (run with --n-train 200 --n-test 50 --max-time 120), then FNO's 1,000 /
    # 200 functions at fixed epochs (--epochs, --max-time 300 as a guard).
    "burgers-1024": {
        "recipe": ("the quick recipe", {}),
        "modes32": ("FNO 32 modes", dict(branch__modes=32)),
        "width32": ("FNO width 32", dict(branch__width=32)),
        "n_eval128": ("n_eval 128 random points", dict(n_eval=128)),
        # with FNO's 1,000 training functions (--n-train 1000 --n-test 200)
        "width32-n_eval128": ("FNO width 32, n_eval 128 random points",
                              dict(branch__width=32, n_eval=128)),
        "batch16": ("batches of 16", dict(batch_size=16)),
        "batch16-lr6e-3": ("batches of 16, peak learning rate 6e-3",
                           dict(batch_size=16, learning_rate_init=6e-3)),
        "mse": ("mse loss instead of relative L2", dict(loss="mse")),
        "pod32": ("32 POD modes", dict(n_basis=32)),
    },
    "darcy-85": {
        "recipe": ("the quick recipe", {}),
        "pod128": ("128 POD modes, no group average (the recipe before)",
                   dict(n_basis=128, group_average=None)),
        "no-average": ("the bare estimator's prediction (no average over the eight maps)",
                       dict(group_average=None)),
        "width16": ("FNO width 16", dict(branch__width=16)),
        "n_eval256": ("n_eval 256 random points", dict(n_eval=256)),
        "epochs6": ("6 epochs", dict(max_iter=6)),
        "epochs12": ("12 epochs", dict(max_iter=12)),
        # with FNO's 1,000 training fields (--n-train 1000 --n-test 200)
        "batch16": ("batches of 16", dict(batch_size=16)),
        "batch16-lr6e-3": ("batches of 16, peak learning rate 6e-3",
                           dict(batch_size=16, learning_rate_init=6e-3)),
        "n_eval1024": ("n_eval 1,024 random points", dict(n_eval=1024)),
        "mse": ("mse loss instead of relative L2", dict(loss="mse")),
        # the square's eight exact maps (datasets.darcy_symmetry), canonicalised
        "square": ("canonicalised by the square's eight maps (no group average)",
                   dict(canonical=darcy_symmetry(85), group_average=None)),
        # the POD trunk's floor: 128 modes leave 0.89 % of the held-out fields
        # outside their span, 256 modes 0.59 %, 512 modes 0.42 %
        "pod256": ("256 POD modes", dict(n_basis=256)),
        "pod512": ("512 POD modes, no group average", dict(n_basis=512, group_average=None)),
        # the Fourier layers on every other node (43 x 43): a quarter of the cost
        "stride2": ("Fourier layers on every other node, 512 POD modes",
                    dict(branch__stride=2, n_basis=512, group_average=None)),
    },
    # Navier-Stokes (FNO's protocol): --n-train 1000 --n-test 200 --epochs E
    "navier-stokes-1e-5": {
        "recipe": ("the quick recipe (twelve members on every other node, 8 Fourier modes, "
                   "pooled head 512 x 2)", {}),
        "one-head128": ("one member, pooled head 128, on every node (the recipe before)",
                        dict(ensemble=None, branch__head_layers=(128,), branch__stride=1,
                             branch__modes=12)),
        "one-head512": ("one member, pooled head 512, on every node",
                        dict(ensemble=None, branch__head_layers=(512,), branch__stride=1,
                             branch__modes=12)),
        "one": ("one member, pooled head 512 x 2, on every node",
                dict(ensemble=None, branch__stride=1, branch__modes=12)),
        "one-stride2": ("one member, the Fourier layers on every other node (32 x 32)",
                        dict(ensemble=None, branch__stride=2, branch__modes=12)),
        "ten-stride2": ("ten members of 28 epochs on every other node, 12 Fourier modes (the "
                        "recipe before)",
                        dict(ensemble=10, branch__stride=2, branch__modes=12)),
        "ten-modes8": ("ten members of 28 epochs on every other node, 8 Fourier modes",
                       dict(ensemble=10, branch__stride=2, branch__modes=8)),
        "five-stride1": ("five members of 28 epochs on every node (the recipe before)",
                         dict(ensemble=5, branch__stride=1, branch__modes=12)),
        "twelve-modes8": ("twelve members of 28 epochs on every other node, 8 Fourier modes "
                          "(the recipe)", dict(ensemble=12, branch__stride=2, branch__modes=8)),
    },
    "navier-stokes-1e-3": {
        "recipe": ("the quick recipe", {}),
        "head512x2": ("the branch's pooled head 512 x 2 (the recipe's 128)",
                      dict(branch__head_layers=(512, 512))),
        "pad0": ("no zero padding in the Fourier layers (the flow is periodic; the "
                 "recipe's 0.125 pads 64 to 72)", dict(branch__padding=0.0)),
        "pad0-head512x2": ("no padding, pooled head 512 x 2",
                           dict(branch__padding=0.0, branch__head_layers=(512, 512))),
        "projection": ("projection head: 40 fields (one per output time) on the modes",
                       dict(branch__head="projection")),
        "projection-pad0": ("projection head, no padding",
                            dict(branch__head="projection", branch__padding=0.0)),
        "projection-stride2": ("projection head, Fourier layers on every other node (32 x 32)",
                               dict(branch__head="projection", branch__stride=2)),
        "stride2": ("pooled head, Fourier layers on every other node (32 x 32)",
                    dict(branch__stride=2)),
        "stride1": ("pooled head, Fourier layers on every node (the recipe before)",
                    dict(branch__stride=1)),
        "wd1e-4": ("Adam with an L2 penalty of 1e-4 (weight_decay, as FNO's scripts)",
                   dict(optimizer=Adam(weight_decay=1e-4))),
        # the cost of an epoch is the Fourier layers' arithmetic, not the steps' overhead:
        # larger batches are no faster (3 epochs: 64 s, 62 s and 61 s for 8, 16 and 32)
        "stride2-batch16": ("stride 2, batches of 16 at learning rate 3e-3",
                            dict(branch__stride=2, batch_size=16, learning_rate_init=3e-3)),
        "stride2-batch32": ("stride 2, batches of 32 at learning rate 4e-3",
                            dict(branch__stride=2, batch_size=32, learning_rate_init=4e-3)),
        "stride2-modes8": ("stride 2, 8 Fourier modes per axis (the record before: 12)",
                           dict(branch__stride=2, branch__modes=8)),
        "stride2-lr3e-3": ("stride 2, learning rate 3e-3 (2e-3 until the recipe took 3e-3)",
                           dict(branch__stride=2, learning_rate_init=3e-3)),
        "stride2-lr2.5e-3": ("stride 2, learning rate 2.5e-3 (2e-3 until the recipe took 3e-3)",
                             dict(branch__stride=2, learning_rate_init=2.5e-3)),
        "stride2-lr4e-3": ("stride 2, learning rate 4e-3 (2e-3 until the recipe took 3e-3)",
                           dict(branch__stride=2, learning_rate_init=4e-3)),
        "stride2-lr6e-3": ("stride 2, learning rate 6e-3 (2e-3 until the recipe took 3e-3)",
                           dict(branch__stride=2, learning_rate_init=6e-3)),
        "stride2-batch4-lr2e-3": ("stride 2, batches of 4 at learning rate 2e-3",
                                  dict(branch__stride=2, batch_size=4, learning_rate_init=2e-3)),
        "stride2-batch4-lr1.5e-3": ("stride 2, batches of 4 at learning rate 1.5e-3",
                                    dict(branch__stride=2, batch_size=4,
                                         learning_rate_init=1.5e-3)),
        "stride2-batch4-lr2.5e-3": ("stride 2, batches of 4 at learning rate 2.5e-3",
                                    dict(branch__stride=2, batch_size=4,
                                         learning_rate_init=2.5e-3)),
        "stride2-batch4-modes8": ("stride 2, batches of 4 at learning rate 2e-3, 8 Fourier modes",
                                  dict(branch__stride=2, batch_size=4, learning_rate_init=2e-3,
                                       branch__modes=8)),
        "stride2-batch4-modes6": ("stride 2, batches of 4 at learning rate 2e-3, 6 Fourier modes "
                                  "(the record's 8)",
                                  dict(branch__stride=2, batch_size=4, learning_rate_init=2e-3,
                                       branch__modes=6)),
        "stride4": ("the Fourier layers on every fourth node (16 x 16; the recipe's 2)",
                    dict(branch__stride=4)),
        "stride4-modes6": ("every fourth node, 6 Fourier modes per axis (the recipe's 8)",
                           dict(branch__stride=4, branch__modes=6)),
    },
    "diffusion-reaction": {
        "recipe": ("the quick recipe", {}),
        "mse": ("mse loss instead of relative L2", dict(loss="mse")),
        "lbfgs500": ("500 L-BFGS iterations", dict(optimizer=Adam(polish=LBFGS(max_iter=500)))),
        "polish": ("20 epochs, then 500 L-BFGS iterations (the 0.3.0 recipe)",
                   dict(max_iter=20, optimizer=Adam(polish=LBFGS(max_iter=500)))),
        "polish1500": ("20 epochs, then 1,500 L-BFGS iterations",
                       dict(max_iter=20, optimizer=Adam(polish=LBFGS(max_iter=1500)))),
        "epochs1000": ("1,000 epochs", dict(max_iter=1000)),
        "epochs2000": ("2,000 epochs", dict(max_iter=2000)),
        "linear+mlp": ("linear branch + MLP branch, summed (U given twice)", dict(
            input_transform=_twice, branch=MultiBranch(
                [MLPBranch(layers=(), n_sensors=100),
                 MLPBranch(layers=(128, 128, 128), activation="gelu", n_sensors=100)],
                merge="sum"))),
        "mlp-trunk": ("MLP trunk 100x3 (0.3.0 recipe's trunk)", dict(
            trunk=MLPTrunk(layers=(100, 100, 100)), n_basis=100)),
        "pod32": ("32 POD modes", dict(n_basis=32)),
        "pod100": ("100 POD modes", dict(n_basis=100)),
        "n_eval256": ("n_eval 256", dict(n_eval=256)),
        "full": ("every point (full grid)", dict(n_eval="full")),
        "no-lbfgs": ("no L-BFGS polish", dict(optimizer="adam")),
        "tanh": ("tanh branch", dict(branch__activation="tanh")),
        "wide": ("MLP branch 256x3", dict(branch__layers=(256, 256, 256))),
    },
    # Physics-informed (G all NaN: the residual alone), at equal wall time:
    # run with --max-time (the recipes end by the clock).
    "antiderivative-physics": {
        "recipe": ("the quick recipe (SiLU, batches of 64)", {}),
        "tanh": ("tanh networks (0.3.0's first recipe, with batches of 128)",
                 dict(branch__activation="tanh", trunk__activation="tanh", batch_size=128)),
        "tanh64": ("tanh networks", dict(branch__activation="tanh", trunk__activation="tanh")),
        "batch128": ("batches of 128", dict(batch_size=128)),
        "batch32": ("batches of 32", dict(batch_size=32)),
        "lr1e-3": ("learning rate 1e-3", dict(learning_rate_init=1e-3)),
        "points16": ("16 collocation points per function", dict(physics__n_points=16)),
        "width64": ("networks 64 x 3, 64 basis functions", dict(
            branch__layers=(64, 64, 64), trunk__layers=(64, 64, 64), n_basis=64)),
    },
    "diffusion-reaction-physics": {
        "recipe": ("the quick recipe (256 functions per step at 4 points, 1,536 epochs, "
                   "then 2,400 L-BFGS iterations)", {}),
        "lbfgs1200": _per_step(256, 4, 1536),
        "batch128-points8": _per_step(128, 8, 768, " (the same steps)"),
        "batch512-points2": _per_step(512, 2, 3072, " (the same steps)"),
        "adam2304": _per_step(256, 4, 2304, " (45,000 steps)"),
        "former": ("the former recipe: 32 functions per step at 32 points, 942 epochs, "
                   "1,200 L-BFGS iterations", dict(FORMER_DR_PHYSICS)),
        "first": ("64 points per function, batches of 64 (0.3.0's first recipe)",
                  dict(physics__n_points=64, batch_size=64)),
        "silu": ("SiLU networks", dict(branch__activation="silu", trunk__activation="silu")),
        "points16": ("16 points per function", dict(physics__n_points=16)),
        "batch16": ("batches of 16", dict(batch_size=16)),
        "lr4e-3": ("learning rate 4e-3", dict(learning_rate_init=4e-3)),
        "width100": ("networks 100 x 3, 100 basis functions", dict(
            branch__layers=(100, 100, 100), trunk__layers=(100, 100, 100), n_basis=100)),
        "adam-only": ("Adam to the end, no L-BFGS polish", dict(optimizer="adam")),
    },
    "antiderivative": {
        "recipe": ("the quick recipe (MLPs 3 x 40, then L-BFGS)", {}),
        "width128": ("MLPs 3 x 128 (DeepXDE's width in benchmarks/compare.py)",
                     dict(branch__layers=(128,) * 3, trunk__layers=(128,) * 3, n_basis=128)),
        "width128-adam": ("MLPs 3 x 128, Adam only", dict(
            branch__layers=(128,) * 3, trunk__layers=(128,) * 3, n_basis=128, optimizer="adam")),
        "width128-full": ("MLPs 3 x 128, every point", dict(
            branch__layers=(128,) * 3, trunk__layers=(128,) * 3, n_basis=128, n_eval="full")),
        "deepxde-recipe": ("DeepXDE's recipe: MLPs 3 x 128, every point, batch 64, Adam 1e-3",
                           dict(branch__layers=(128,) * 3, trunk__layers=(128,) * 3,
                                n_basis=128, n_eval="full", optimizer="adam", batch_size=64,
                                learning_rate_init=1e-3, learning_rate="constant")),
    },
    "heat": {
        "recipe": ("the quick recipe", {}),
        "no-mirrors": ("without the mirror images (40 epochs over the fields alone)",
                       dict(symmetries=False)),
        "no-average": ("mirror images in training, plain prediction (no group average)",
                       dict(average=False)),
        "n_eval16": ("16 points per field and step", dict(n_eval=16)),
        "n_eval64": ("64 points per field and step", dict(n_eval=64)),
        "n_eval256": ("256 points per field and step", dict(n_eval=256)),
        "lr8e-3": ("peak learning rate 8e-3", dict(learning_rate_init=8e-3)),
        "warmup10": ("one-cycle warm-up 10 % of the run", dict(
            learning_rate=OneCycleSchedule(pct_start=0.1))),
        "mse": ("mse loss", dict(loss="mse")),
        "width32": ("FNO width 32", dict(branch__width=32)),
        "modes12": ("FNO 12 modes", dict(branch__modes=12)),
        "pod64": ("64 POD modes", dict(n_basis=64)),
        "full": ("every point", dict(n_eval="full")),
        "lbfgs": ("+ 50 L-BFGS iterations", dict(optimizer=Adam(polish=LBFGS(max_iter=50)))),
    },
}


def _keep_before(variants, before, names):
    """``variants`` with ``before``'s settings under each named variant's own."""
    return {key: (what, {**before, **params}) if key in names else (what, params)
            for key, (what, params) in variants.items()}


# The diffusion-reaction-physics variants after "former" were measured against the former
# record (1,000 functions, 32 per step at 32 points, --max-time 120), all but "adam-only"
# when it was Adam alone; they keep its settings.
VARIANTS["diffusion-reaction-physics"] = _keep_before(
    _keep_before(VARIANTS["diffusion-reaction-physics"], FORMER_DR_PHYSICS, {"adam-only"}),
    {**FORMER_DR_PHYSICS, "optimizer": "adam"},
    {"first", "silu", "points16", "batch16", "lr4e-3", "width100"})

# The navier-stokes-1e-3 variants up to batches of 4 were measured against the record of
# batches of 8 and 12 Fourier modes at learning rate 3e-3; they keep those settings now that
# the record takes batches of 4 at 2e-3 and 8 modes.
VARIANTS["navier-stokes-1e-3"] = _keep_before(
    VARIANTS["navier-stokes-1e-3"],
    dict(batch_size=8, branch__modes=12, learning_rate_init=3e-3),
    set(VARIANTS["navier-stokes-1e-3"])
    - {"recipe", "stride2-batch4-modes8", "stride2-batch4-modes6"})


def cached_data(name, n_train, n_test, cache, data_seed=1000):
    """``load_benchmark(name, n_train, random_state=data_seed)``, cached in ``cache``.

    ``data_seed`` 1000 + s is the data of ``python -m skoperator.reproduce NAME --seeds s``.
    """
    path = None
    if cache:
        tail = "" if data_seed == 1000 else f"_data{data_seed}"
        path = Path(cache) / f"{name}_{n_train}_{n_test}{tail}.npz"
        if path.exists():
            d = np.load(path, allow_pickle=False)
            return d["U"], d["G"], d["U_test"], d["G_test"]
    U, G, U_test, G_test, _ = load_benchmark(name, n_train, n_test=n_test, random_state=data_seed,
                                             test_data="generated")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, U=U, G=G, U_test=U_test, G_test=G_test)
    return U, G, U_test, G_test


def fit_variant(name, params, data, *, epochs, max_time, seed=0, quick=False):
    """Fit one variant; return (mean rel. L2, mean R2, fit seconds, epochs, prediction).

    A physics-only benchmark's fit never sees ``G``; its error on the training
    functions is printed beside the held-out one (their gap is how much it
    learnt its functions rather than the operator).
    """
    U, G, U_test, G_test = data
    params = dict(params)
    n_eval = params.pop("n_eval", None)
    kwargs = {}
    if epochs is not None and "max_iter" not in params:  # a variant's own epochs win
        kwargs["max_iter"] = epochs
    if max_time is not None:
        params.setdefault("max_time", max_time)
    average = params.pop("average", None)  # a setting of the SymmetrizedRegressor
    model = make_estimator(name, n_eval=n_eval, budget="quick", random_state=seed,
                           device="cpu", **kwargs, **params)
    if average is not None:
        (model[-1] if hasattr(model, "steps") else model).set_params(average=average)
    if quick:  # a smoke run: few POD modes (few functions), a short polish
        est = final_estimator(model)
        est.set_params(n_basis=min(est.n_basis, 16))
        if getattr(est.optimizer, "polish", None) is not None:
            est.set_params(optimizer__polish__max_iter=min(est.optimizer.polish.max_iter, 10))
    solutions = G
    if BENCHMARKS[name].physics_only:  # the residual alone
        G = np.full(G.shape, np.nan)
    tic = time.perf_counter()
    model.fit(U, G)
    seconds = time.perf_counter() - tic
    pred = model.predict(U_test)
    est = final_estimator(model)
    if BENCHMARKS[name].physics_only:
        print(f"#   mean relative L2 on the {len(U)} training functions: "
              f"{mean_relative_l2_error(solutions, model.predict(U)):.3e}", flush=True)
    return (mean_relative_l2_error(G_test, pred), mean_function_r2(G_test, pred), seconds,
            est.n_iter_, pred)


def main(argv=None):
    p = _common.parser(__doc__)
    p.add_argument("benchmark", choices=list(VARIANTS))
    p.add_argument("--variants", nargs="*",
                   help="variant names (default: all; none with --pod-floor alone)")
    p.add_argument("--n-train", type=_common.positive_int,
                   help="training functions (default: the record's)")
    p.add_argument("--n-test", type=_common.positive_int,
                   help="held-out functions (default: the record's)")
    p.add_argument("--epochs", type=_common.positive_int,
                   help="epochs of every variant (default: the recipe's)")
    p.add_argument("--max-time", type=_common.positive_float,
                   help="max_time of every variant (seconds)")
    p.add_argument("--seed", type=_common.nonnegative_int, default=0)
    p.add_argument("--data-seed", type=_common.nonnegative_int, default=1000,
                   help="random_state of the data (1000 + s: the data of reproduce's "
                        "--seeds s; default 1000)")
    p.add_argument("--seeds", type=_common.nonnegative_int, nargs="+",
                   help="several training seeds (instead of --seed): each variant is fitted "
                        "once per seed, then the mean of the first k seeds' predictions is "
                        "scored for every k (the gain of an ensemble of independent fits)")
    p.add_argument("--cache", default="/tmp/skoperator-bench-data",
                   help="folder caching the generated data ('' to regenerate)")
    p.add_argument("--pod-floor", type=_common.positive_int, nargs="+", metavar="K",
                   help="first print the error of the held-out targets projected on the "
                        "first K POD modes of the training targets, for each K")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a parameter changed in every variant (VALUE a Python literal)")
    args = p.parse_args(argv)
    import ast

    names = list(VARIANTS[args.benchmark]) if args.variants is None else args.variants
    unknown = [n for n in names if n not in VARIANTS[args.benchmark]]
    if unknown:  # before the data (minutes for the large problems)
        p.error(f"argument --variants: {args.benchmark} has no variant(s) {unknown}; choose "
                f"from {list(VARIANTS[args.benchmark])}")
    common = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not (key and sep):
            p.error(f"argument --set: expected NAME=VALUE, got {item!r}")
        try:
            common[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            common[key] = value
    _common.setup(args)  # after the checks: a usage error changes no thread setting
    spec = BENCHMARKS[args.benchmark]
    n_train = args.n_train or spec.n_train[0]
    n_test = args.n_test or spec.n_test
    epochs = args.epochs
    if args.quick:
        n_train, n_test, epochs = min(n_train, 64), min(n_test, 16), 1
    data = cached_data(args.benchmark, n_train, n_test, args.cache, args.data_seed)
    for n_modes, err in _common.pod_floor(data[1], data[3], args.pod_floor or []).items():
        print(f"# POD floor, {n_modes:>4d} modes: mean relative L2 {err:.4e}", flush=True)
    print(f"# {args.benchmark}: {n_train} training / {n_test} held-out functions, "
          f"epochs {epochs or 'of the recipe'}, max_time {args.max_time}, "
          f"seed{'s' if args.seeds else ''} {' '.join(map(str, args.seeds or [args.seed]))}, "
          f"data seed {args.data_seed}")
    print(f"{'variant':<14} {'rel. L2':>9} {'mean R2':>9} {'fit s':>7} {'epochs':>6}  change")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"sweep_{args.benchmark}.csv"
    seeds = args.seeds or [args.seed]
    for name in names:
        what, params = VARIANTS[args.benchmark][name]
        predictions = []
        for seed in seeds:
            rel, r2, seconds, n_iter, pred = fit_variant(
                args.benchmark, {**params, **common}, data, epochs=epochs,
                max_time=args.max_time, seed=seed, quick=args.quick)
            predictions.append(pred)
            print(f"{name:<14} {rel:>9.3e} {r2:>9.5f} {seconds:>7.1f} {n_iter:>6}  {what}"
                  + (f" {common}" if common else "") + (f" seed {seed}" if args.seeds else ""),
                  flush=True)
            if not args.quick:
                noted = {**common, **({} if args.data_seed == 1000
                                      else {"data_seed": args.data_seed})}
                _append_row(out, [args.benchmark, name, what, noted or "", n_train, n_test,
                                  epochs, args.max_time, seed, f"{rel:.6g}", f"{r2:.6g}",
                                  f"{seconds:.1f}", n_iter, time.strftime("%Y-%m-%d %H:%M")])
        for k in range(2, len(predictions) + 1):
            mean = np.mean(predictions[:k], axis=0)
            print(f"{name:<14} {mean_relative_l2_error(data[3], mean):>9.3e} "
                  f"{mean_function_r2(data[3], mean):>9.5f}  mean of the first {k} seeds' "
                  "predictions", flush=True)


def _append_row(out, row):
    new = not out.exists()
    with open(out, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["benchmark", "variant", "change", "set", "n_train", "n_test",
                        "epochs", "max_time", "seed", "rel_l2", "r2", "fit_s",
                        "epochs_run", "when"])
        w.writerow(row)


if __name__ == "__main__":
    main()
