"""Data-parallel training: epoch time and accuracy of N ranks against one.

Runs the heat benchmark's quick recipe (log K, an FNO branch projected on
POD modes, relative L2 loss: the compute-heavy step of this package) on 200
training fields, once under ``torchrun --nproc_per_node 1`` and once with
``--nproc_per_node N``, each rank on ``--threads`` torch threads, with the
two ways of batching on N ranks:

- ``global``: the same global batch as one rank (the recipe's 8 functions,
  split between the ranks: the same steps per epoch, each rank computing its
  share of every step; the exactness tests' setting);
- ``per-rank``: the recipe's batch on every rank (``batch_size`` is per
  rank, DistributedDataParallel's convention: the global batch is N times
  the recipe's and an epoch has 1/N of the steps), and its learning rate
  times N;

and prints the median epoch time of each, the ratios, and the mean R2 on the
authors' 500 test fields (or generated ones) after the same number of
epochs. ``--batch global`` or ``--batch per-rank`` runs one of the two.
The per-rank runs multiply the recipe's learning rate by N, the linear
scaling rule for an N times larger global batch (``--lr-scale S`` sets
another factor; ``--lr-scale 1`` keeps the recipe's rate).

Targets (issue 19), on the 2-core CPU with one thread per rank: 2 ranks at
least 1.6 times faster per epoch than 1, mean R2 within 0.001.

Run: ``python benchmarks/bench_distributed.py`` (about 5 minutes on 2 CPU
cores); on a GPU machine ``python benchmarks/bench_distributed.py --device
cuda --nproc N``.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import _common
from _common import parser, verdict


def worker(args):
    import numpy as np
    import torch
    import torch.distributed as dist

    from skoperator.distributed import init_process_group
    from skoperator.metrics import mean_function_r2
    from skoperator.reproduce import load_benchmark, make_estimator

    if args.threads:
        torch.set_num_threads(args.threads)
    init_process_group()
    rank = dist.get_rank() if dist.is_initialized() else 0
    U, G, U_test, G_test, _ = load_benchmark("heat", args.n_train, n_test=args.n_test)
    # The bare estimator (no mirrored copies): epochs over the fields themselves.
    est = make_estimator("heat", n_eval=args.n_eval, max_iter=args.epochs,
                         random_state=0, device=args.device, n_jobs=args.threads or None,
                         symmetries=False)
    world = dist.get_world_size() if dist.is_initialized() else 1
    if args.batch == "per-rank" and world > 1:
        # N times the global batch: the learning rate scaled (--lr-scale;
        # by default N, the linear scaling rule).
        scale = world if args.lr_scale is None else args.lr_scale
        est[-1].set_params(learning_rate_init=est[-1].learning_rate_init * scale)
    if args.batch == "global":
        # The same global batch as one rank (the recipe's), split between the
        # ranks: the same steps per epoch, each rank doing 1/N of every step.
        est[-1].set_params(batch_size=max(1, est[-1].batch_size // world))
    est.fit(U, G)
    seconds = [h["seconds"] for h in est[-1].history_[1:]]
    if rank == 0:
        r2 = float(mean_function_r2(G_test, est.predict(U_test)))
        with open(args.out, "w") as f:
            json.dump({"epoch_seconds": float(np.median(seconds)), "r2": r2,
                       "epochs": est[-1].n_iter_}, f)
    if dist.is_initialized():
        dist.destroy_process_group()


def launch(args, nproc, out, batch="global"):
    env = dict(os.environ)
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc_per_node", str(nproc), str(Path(__file__).resolve()), "--worker",
           "--out", out, "--n-train", str(args.n_train), "--n-test", str(args.n_test),
           "--epochs", str(args.epochs), "--n-eval", str(args.n_eval),
           "--threads", str(args.threads), "--device", args.device, "--batch", batch,
           *([] if args.lr_scale is None else ["--lr-scale", str(args.lr_scale)])]
    subprocess.run(cmd, env=env, check=True, timeout=3600)
    with open(out) as f:
        return json.load(f)


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--worker", action="store_true", help="internal: run one rank")
    p.add_argument("--out", default=None)
    p.add_argument("--nproc", type=_common.positive_int, default=2)
    p.add_argument("--n-train", type=_common.positive_int, default=200)
    p.add_argument("--n-test", type=_common.positive_int, default=500)
    p.add_argument("--epochs", type=_common.positive_int, default=12)
    p.add_argument("--n-eval", type=_common.positive_int, default=16)
    p.add_argument("--batch", choices=["global", "per-rank", "both"], default="both",
                   help="how N ranks batch (see the module docstring)")
    p.add_argument("--lr-scale", type=_common.positive_float, default=None,
                   help="with per-rank batches on N ranks, multiply the recipe's learning "
                        "rate by this (the global batch is N times larger; default N)")
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)
    if args.quick:
        args.n_train, args.n_test, args.epochs = 160, 40, 3
    modes = ["global", "per-rank"] if args.batch == "both" else [args.batch]
    with tempfile.TemporaryDirectory() as tmp:
        one = launch(args, 1, os.path.join(tmp, "one.json"))
        many = {mode: launch(args, args.nproc, os.path.join(tmp, f"{mode}.json"), mode)
                for mode in modes}
    print(f"# heat quick recipe, {args.n_train} fields, {args.epochs} epochs, n_eval "
          f"{args.n_eval}, {args.threads} thread(s) per rank, device {args.device}")
    print(f"1 rank:  {one['epoch_seconds']:.3f} s/epoch, mean R2 {one['r2']:.5f}")
    for mode, res in many.items():
        print(f"{args.nproc} ranks, {mode} batch: {res['epoch_seconds']:.3f} s/epoch, "
              f"mean R2 {res['r2']:.5f}")
    for mode, res in many.items():
        verdict(f"{args.nproc} ranks vs 1 ({mode} batch): epoch speed-up",
                one["epoch_seconds"] / res["epoch_seconds"],
                1.6 if args.nproc == 2 else 0.8 * args.nproc, at_least=True)
        verdict(f"mean R2 difference ({mode} batch, N ranks - 1 rank)", res["r2"] - one["r2"],
                -0.001, at_least=True, what="value")

if __name__ == "__main__":
    main()
