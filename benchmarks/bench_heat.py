"""Heat benchmark: the quick recipe's accuracy and fit time, against neuraloperator's FNO.

Trains ``make_estimator("heat", budget="quick", random_state=0)`` (the
recipe's own ``n_eval``, 128 random points per field and step) on generated
training fields (raw K, as the generator returns them), scores it with the
paper's metric on the paper authors' own 500 test fields, and checks the issue's targets: mean R2 >= 0.997 with at most
120 s of fit on one CPU thread (500 training fields).

``--fno`` also trains neuraloperator's FNO (12 x 12 modes, width 32, padded
domain, per-field relative L2 loss, Adam at 3e-3 with a one-cycle schedule,
batch 8; the same log-K input and the same fields) for the same wall time, on
one thread, and prints both scores. It needs the ``benchmarks`` extra
(``pip install -e ".[benchmarks]"``).

``--open-question`` measures the paper's open question 2 (does random sampling
of the loss points help other operators?): the FNO-branch DeepONet of the
recipe at ``n_eval`` 16, 128 and the full grid, three seeds each.

    python benchmarks/bench_heat.py                       # about 2 minutes
    python benchmarks/bench_heat.py --fno                 # about 4 minutes
    python benchmarks/bench_heat.py --open-question       # about 16 minutes
    python benchmarks/bench_heat.py --n-train 2500        # a larger training set

On a GPU, ``--gpu-target`` checks the GPU target instead (5,000 training
fields, mean R2 >= 0.998 within 60 s of fit): the recipe with batch 32,
``compile=True`` (CUDA graphs) and ``max_time=55``, once in float32 and once
with ``mixed_precision=True`` (bfloat16 autocast):

    python benchmarks/bench_heat.py --device cuda --n-train 5000 --gpu-target
"""

import time

import _common
import numpy as np
import torch

from skoperator.datasets import load_heat_reference, make_heat_conduction
from skoperator.metrics import mean_function_r2
from skoperator.reproduce import make_estimator


def fit_recipe(U, G, K_test, T_test, n_eval=None, sampling="random", seed=0, device="cpu",
               **params):
    """Fit the quick recipe; return (R2 on the reference fields, fit seconds, epochs)."""
    model = make_estimator("heat", n_eval=n_eval, sampling=sampling, budget="quick",
                           random_state=seed, device=device, **params)
    _common.sync(device)
    tic = time.perf_counter()
    model.fit(U, G)
    _common.sync(device)
    seconds = time.perf_counter() - tic
    est = model[-1] if hasattr(model, "steps") else model
    return mean_function_r2(T_test, model.predict(K_test)), seconds, est.n_iter_


def fit_fno(U, G, K_test, T_test, budget_s, seed=0, device="cpu"):
    """neuraloperator's FNO on log K, trained for ``budget_s`` seconds; (R2, seconds, epochs)."""
    from neuralop.losses import LpLoss
    from neuralop.models import FNO

    torch.manual_seed(seed)
    dev = torch.device(device)
    x = np.log(U).reshape(-1, 1, 32, 32)
    x_mean, x_std = x.mean(axis=0), x.std(axis=0)
    y = G.reshape(-1, 1, 32, 32)
    y_mean, y_std = y.mean(axis=0), y.std(axis=0) + 1e-12
    X = torch.tensor((x - x_mean) / x_std, dtype=torch.float32, device=dev)
    Y = torch.tensor(y, dtype=torch.float32, device=dev)
    ym = torch.tensor(y_mean, dtype=torch.float32, device=dev)
    ys = torch.tensor(y_std, dtype=torch.float32, device=dev)
    model = FNO(n_modes=(12, 12), in_channels=1, out_channels=1, hidden_channels=32,
                domain_padding=0.125).to(dev)
    loss_fn = LpLoss(d=2, p=2, reduction="mean")
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    batch, n = 8, len(X)
    from skoperator.schedules import OneCycleSchedule

    onecycle_schedule = OneCycleSchedule()

    epochs = 0
    _common.sync(device)
    start = time.perf_counter()
    while True:
        perm = torch.randperm(n, device=dev)
        for i in range(0, n, batch):
            progress = (time.perf_counter() - start) / budget_s
            factor, beta1 = onecycle_schedule(progress)
            for group in opt.param_groups:
                group["lr"], group["betas"] = 3e-3 * factor, (beta1, group["betas"][1])
            idx = perm[i:i + batch]
            pred = model(X[idx]) * ys + ym
            loss = loss_fn(pred, Y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        epochs += 1
        _common.sync(device)
        if time.perf_counter() - start >= budget_s:
            break
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        xt = torch.tensor((np.log(K_test).reshape(-1, 1, 32, 32) - x_mean) / x_std,
                          dtype=torch.float32, device=dev)
        pred = torch.cat([model(xt[i:i + 50]) * ys + ym for i in range(0, len(xt), 50)])
    pred = pred.reshape(len(K_test), -1).cpu().numpy().astype(np.float64)
    return mean_function_r2(T_test, pred), seconds, epochs


def main(argv=None):
    p = _common.parser(__doc__)
    p.add_argument("--n-train", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fno", action="store_true", help="also train neuraloperator's FNO")
    p.add_argument("--open-question", action="store_true",
                   help="n_eval 16 / 128 / full, three seeds")
    p.add_argument("--gpu-target", action="store_true",
                   help="5,000 fields within 60 s on a GPU: batch 32, compiled, max_time 55")
    args = p.parse_args(argv)
    device = _common.setup(args)
    K_test, _, T_test = load_heat_reference()
    U, _, G = make_heat_conduction(args.n_train, random_state=1000 + args.seed)
    print(f"# {args.n_train} generated training fields (raw K), scored on the authors' "
          f"{len(K_test)} reference fields")
    if args.gpu_target:
        for mixed in (False, True):
            r2, seconds, epochs = fit_recipe(U, G, K_test, T_test, seed=args.seed,
                                             device=str(device), batch_size=32, compile=True,
                                             max_time=55.0, max_iter=10_000,
                                             mixed_precision=mixed)
            name = "bfloat16 autocast" if mixed else "float32"
            _common.line(f"recipe, batch 32, compiled, {name}: mean R2 {r2:.5f}", seconds,
                         "s of fit", f"  ({epochs} epochs)")
            _common.verdict(f"heat R2, {args.n_train} fields, {name} [{device.type}]", r2,
                            0.998, at_least=True, what="value")
            _common.verdict(f"heat fit seconds, {args.n_train} fields [{device.type}]", seconds,
                            60.0, at_least=False, what="value")
        return
    r2, seconds, epochs = fit_recipe(U, G, K_test, T_test, seed=args.seed,
                                     device=str(device))
    _common.line(f"skoperator quick recipe: mean R2 {r2:.5f}", seconds, "s of fit",
                 f"  ({epochs} epochs)")
    if args.n_train == 500 and not args.quick:
        _common.verdict(f"heat R2, 500 fields, quick recipe [{device.type}]", r2, 0.997,
                        at_least=True, what="value")
        _common.verdict(f"heat fit seconds, 500 fields, one thread [{device.type}]",
                        seconds, 120.0, at_least=False, what="value")
    if args.fno:
        f_r2, f_seconds, f_epochs = fit_fno(U, G, K_test, T_test, seconds, seed=args.seed,
                                            device=str(device))
        _common.line(f"neuraloperator FNO, same wall time: mean R2 {f_r2:.5f}", f_seconds,
                     "s of fit", f"  ({f_epochs} epochs)")
        print(f"# error ratio (1 - R2): FNO / skoperator = {(1 - f_r2) / (1 - r2):.2f}")
    if args.open_question:
        print(f"{'n_eval':>6} {'mean R2':>9} {'std':>8} {'fit s':>7}  (3 seeds)")
        for n_eval in (16, 128, "full"):
            rows = []
            for seed in (0, 1, 2):
                U_s, _, G_s = make_heat_conduction(args.n_train, random_state=1000 + seed)
                rows.append(fit_recipe(U_s, G_s, K_test, T_test, n_eval=n_eval, seed=seed,
                                       device=str(device)))
            r2s = np.array([r[0] for r in rows])
            print(f"{n_eval!s:>6} {r2s.mean():>9.5f} {r2s.std():>8.5f} "
                  f"{np.mean([r[1] for r in rows]):>7.1f}", flush=True)


if __name__ == "__main__":
    main()
