"""Compiled training steps and time to accuracy (Example 1, the antiderivative).

Four measurements, in one run, on one thread (``--threads 1``, the default):

1. A steady-state epoch of Example 1 (2,000 functions, ``n_eval=10``, batch
   256) with ``compile=False`` and ``compile=True`` (``torch.compile`` of the
   step; on a GPU its "reduce-overhead" mode, CUDA graphs), interleaved
   repeats, median ratio. Target: compiled at least 1.4x faster on the CPU,
   4x on a GPU. Also the compilation time and how many times a fit compiles
   when the last batch is smaller and when ``n_eval`` changes every epoch.
2. Where the speed-up of compilation comes from: the same Example-1 step
   written in plain torch (random draws outside), eager with torch's default
   Adam (``foreach``), eager with the fused Adam that the estimator uses on
   the CPU, and compiled (the forward and loss; then Adam's step as well).
3. Time to accuracy: the mean R2 on 1,000 held-out functions against wall
   time, for skoperator's quick recipe (a one-cycle schedule completed within
   each ``max_time`` budget) and for a plain full-grid loop with DeepXDE's
   recipe (batch 256, Adam at 1e-3, constant), written in plain torch and
   scored every two seconds. Target: skoperator reaches R2 0.999 in at most
   half the plain loop's time.
4. ``compile=True`` on the quick recipes of heat (FNO branch on the POD
   trunk, the mirrors), Burgers (1-D FNO) and Darcy (2-D FNO): each fits
   (no fall-back to eager, a finite loss, the eager first-epoch loss within
   1e-3), and its steady-state epoch (the median after the first, which
   compiles) is at most 1.1x the eager one, both in the same run: the median
   ratio of ``--repeats`` (3) interleaved pairs of fits, the later compiled
   fits reusing the first one's graphs. Fewer functions with ``--quick`` (48
   heat fields, 256 Burgers and 160 Darcy inputs; 5 epochs), the recipes'
   own sizes otherwise (6 epochs).

    python benchmarks/bench_compile.py            # about 6 minutes on 2 cores
    python benchmarks/bench_compile.py --quick
    python benchmarks/bench_compile.py --quick --only recipes   # section 4: about 4 minutes
"""

import time
import warnings

import _common
import numpy as np
import torch

from skoperator import DeepONetRegressor
from skoperator.metrics import mean_function_r2, mean_relative_l2_error
from skoperator.reproduce import final_estimator, load_benchmark, make_estimator


def example1(compile_mode, n_epochs, device, **params):
    params = {"n_eval": 10, "batch_size": 256, **params}
    return DeepONetRegressor(max_iter=n_epochs, tol=None, device=device, random_state=0,
                             compile=compile_mode, **params)


def compile_counts():
    """Frames dynamo has compiled so far in this process."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def steady_state(U, G, device, repeats, n_epochs):
    """Median epoch seconds, eager and compiled, interleaved."""
    mode = True
    tic = time.perf_counter()
    example1(mode, 2, device).fit(U, G)  # compile (and warm up)
    first = time.perf_counter() - tic
    example1(False, 2, device).fit(U, G)  # warm up
    eager, compiled = [], []
    for _ in range(repeats):
        eager.append(_common.fit_timed(example1(False, n_epochs, device), U, G, device)[1])
        compiled.append(_common.fit_timed(example1(mode, n_epochs, device), U, G, device)[1])
    return np.array(eager), np.array(compiled), first


def plain_loop(U, Y, G, U_test, G_test, budget_s, device, every_s=2.0):
    """DeepXDE's recipe in plain torch: full grid, batch 256, Adam 1e-3; R2 over time."""
    torch.manual_seed(0)
    dev = torch.device(device)

    def mlp(n_in, n_out):
        return torch.nn.Sequential(torch.nn.Linear(n_in, 40), torch.nn.ReLU(),
                                   torch.nn.Linear(40, 40), torch.nn.ReLU(),
                                   torch.nn.Linear(40, 40), torch.nn.ReLU(),
                                   torch.nn.Linear(40, n_out)).to(dev)

    branch, trunk = mlp(U.shape[1], 40), mlp(1, 40)
    bias = torch.nn.Parameter(torch.zeros((), device=dev))
    params = [*branch.parameters(), *trunk.parameters(), bias]
    opt = torch.optim.Adam(params, lr=1e-3)
    u = torch.tensor(U, dtype=torch.float32, device=dev)
    y = torch.tensor(Y, dtype=torch.float32, device=dev)
    g = torch.tensor(G, dtype=torch.float32, device=dev)
    u_test = torch.tensor(U_test, dtype=torch.float32, device=dev)
    curve = []
    elapsed, last_eval = 0.0, -np.inf
    n = len(u)
    while elapsed < budget_s:
        tic = time.perf_counter()
        perm = torch.randperm(n, device=dev)
        for i in range(0, n, 256):
            rows = perm[i:i + 256]
            out = branch(u[rows]) @ trunk(y).T + bias
            loss = torch.mean((out - g[rows]) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
        _common.sync(device)
        elapsed += time.perf_counter() - tic
        if elapsed - last_eval >= every_s:  # scoring is not counted as training time
            with torch.no_grad():
                pred = (branch(u_test) @ trunk(y).T + bias).cpu().numpy()
            curve.append((elapsed, mean_function_r2(G_test, pred.astype(np.float64))))
            last_eval = elapsed
    return curve


def first_time(curve, target):
    """First (seconds) at which the curve reaches ``target``, or None."""
    for seconds, r2 in curve:
        if r2 >= target:
            return seconds
    return None


def main(argv=None):
    p = _common.parser(__doc__)
    p.add_argument("--target-r2", type=float, default=0.999)
    p.add_argument("--only", choices=("compile", "plain", "accuracy", "recipes"),
                   help="run one section")
    args = p.parse_args(argv)
    device = _common.setup(args)
    if args.only == "recipes":
        recipes_section(args, device)
        return
    U, Y, G = _common.antiderivative(3000)
    U_train, G_train, U_test, G_test = U[:2000], G[:2000], U[2000:], G[2000:]

    if args.only in (None, "compile"):
        compiled_section(args, device, U_train, G_train)
    if args.only in (None, "plain"):
        plain_step_section(args, device, U_train, Y, G_train)
    if args.only in (None, "accuracy"):
        accuracy_section(args, device, U_train, Y, G_train, U_test, G_test)
    if args.only in (None, "recipes"):
        recipes_section(args, device)


def compiled_section(args, device, U_train, G_train):
    print("## 1. compiled against eager, Example 1 (2,000 functions, n_eval 10, batch 256)")
    repeats = args.repeats or (1 if args.quick else 5)
    eager, compiled, first = steady_state(U_train, G_train, str(device), repeats,
                                          3 if args.quick else 20)
    _common.line("eager, median epoch", float(np.median(eager)))
    _common.line("compiled, median epoch", float(np.median(compiled)))
    _common.line("first compiled fit (2 epochs, compilation included)", first, "s")
    ratio = float(np.median(eager / compiled))
    print(f"# per-repeat ratios eager / compiled: {np.round(eager / compiled, 2).tolist()}")
    bound = 4.0 if device.type == "cuda" else 1.4
    _common.verdict(f"compiled step, epoch speed-up [{device.type}]", ratio, bound,
                    at_least=True)
    before = compile_counts()
    example1(True, 3, str(device), batch_size=300).fit(U_train, G_train)  # last batch 200
    after_last = compile_counts()
    example1(True, 5, str(device), n_eval=lambda e: 5 + 5 * e).fit(U_train, G_train)
    after_schedule = compile_counts()
    print(f"# graphs compiled: a fit whose last batch is smaller {after_last - before}, "
          f"then a fit with n_eval 5, 10, 15, 20, 25 {after_schedule - after_last} "
          "(once per new kind of size, not per step)")



def plain_step_section(args, device, U_train, Y, G_train):
    """Milliseconds per step of a plain-torch Example-1 step, eager and compiled."""
    print("\n## 2. the same step in plain torch: eager and compiled, ms per step")
    dev = torch.device(device)
    u_all = torch.tensor(U_train, dtype=torch.float32, device=dev)
    g_all = torch.tensor(G_train, dtype=torch.float32, device=dev)
    y = torch.tensor(Y, dtype=torch.float32, device=dev)
    n, m = g_all.shape
    steps = 40 if args.quick else 300
    repeats = args.repeats or (1 if args.quick else 5)

    def objective(branch, trunk, bias, u, cols, g):
        out = (branch(u)[:, None, :] * trunk(y)[cols]).sum(-1) + bias
        return torch.mean((out - g) ** 2)

    def variant(compile_forward, adam, compile_adam):
        """A warmed-up step runner for one way of running the step."""
        torch.manual_seed(0)

        def mlp(n_in):
            return torch.nn.Sequential(torch.nn.Linear(n_in, 40), torch.nn.Tanh(),
                                       torch.nn.Linear(40, 40), torch.nn.Tanh(),
                                       torch.nn.Linear(40, 40), torch.nn.Tanh(),
                                       torch.nn.Linear(40, 40)).to(dev)

        branch, trunk = mlp(u_all.shape[1]), mlp(y.shape[1])
        bias = torch.nn.Parameter(torch.zeros((), device=dev))
        opt = torch.optim.Adam([*branch.parameters(), *trunk.parameters(), bias], lr=1e-3,
                               **{adam: True})
        fn = torch.compile(objective) if compile_forward else objective
        update = torch.compile(opt.step) if compile_adam else opt.step
        gen = torch.Generator(device=dev).manual_seed(0)
        draws = [(torch.randperm(n, generator=gen, device=dev)[:256],
                  torch.randint(0, m, (256, 10), generator=gen, device=dev))
                 for _ in range(steps)]

        def run(batch):
            for rows, cols in batch:
                loss = fn(branch, trunk, bias, u_all[rows], cols,
                          torch.gather(g_all[rows], 1, cols))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                update()
            _common.sync(device)

        run(draws[:20])  # compile and warm up

        def timed():
            tic = time.perf_counter()
            run(draws)
            return (time.perf_counter() - tic) / steps * 1e3

        return timed

    cases = [("eager, Adam foreach (torch's default)", False, "foreach", False),
             ("eager, Adam fused (the estimator's)", False, "fused", False),
             ("compiled forward and loss, Adam foreach", True, "foreach", False),
             ("compiled forward and loss, Adam fused", True, "fused", False),
             ("compiled forward and loss, compiled Adam foreach", True, "foreach", True)]
    runners = {name: variant(*how) for name, *how in cases}
    times = {name: [] for name in runners}
    for _ in range(repeats):  # interleaved: every variant once per repeat
        for name, timed in runners.items():
            times[name].append(timed())
    results = {name: float(np.median(t)) for name, t in times.items()}
    base, fused = results[cases[0][0]], results[cases[1][0]]
    for name, ms in results.items():
        print(f"{name:<50} {ms:8.3f} ms/step   {base / ms:5.2f}x the default eager, "
              f"{fused / ms:5.2f}x the fused eager", flush=True)


def accuracy_section(args, device, U_train, Y, G_train, U_test, G_test):
    quick = args.quick
    print(f"\n## 3. time to a mean R2 of {args.target_r2} (2,000 training, 1,000 held-out)")
    budgets = [2, 4] if quick else [4, 6, 8, 10, 12, 14, 16, 20, 24]
    # The first optimizer of a process imports torch's compiler stack (about
    # 1.6 s, once); neither side's timing should include it.
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    curve_sk = []
    for budget in budgets:
        model = make_estimator("antiderivative", n_eval=10, random_state=0,
                               device=str(device), max_time=budget, max_iter=100_000)
        seconds, _ = _common.fit_timed(model, U_train, G_train, device)
        r2 = mean_function_r2(G_test, model.predict(U_test))
        curve_sk.append((seconds, r2))
        _common.line(f"skoperator quick recipe, max_time={budget}: R2 {r2:.5f}", seconds, "s",
                     f"  ({model.n_iter_} epochs)")
        if r2 >= args.target_r2 and not quick:
            break
    plain_budget = 8 if quick else 120
    curve_plain = plain_loop(U_train, Y, G_train, U_test, G_test, plain_budget, str(device))
    for seconds, r2 in curve_plain[:: max(1, len(curve_plain) // 12)]:
        _common.line(f"plain full-grid loop (DeepXDE recipe): R2 {r2:.5f}", seconds, "s")
    t_sk, t_plain = first_time(curve_sk, args.target_r2), first_time(curve_plain,
                                                                      args.target_r2)
    print(f"# time to R2 {args.target_r2}: skoperator {t_sk}, plain loop {t_plain} "
          f"(None: not within {plain_budget} s; best plain R2 "
          f"{max(r for _, r in curve_plain):.5f})")
    if t_sk is not None:
        ratio = t_sk / (t_plain if t_plain is not None else plain_budget)
        _common.verdict(f"time to R2 {args.target_r2}: skoperator / plain loop "
                        f"[{device.type}]", ratio, 0.5, at_least=False)


def recipe_fit(name, compile_mode, n_train, n_epochs, device):
    """One fit of a quick recipe; (model, its DeepONetRegressor, fall-back warnings, seconds)."""
    U, G, U_test, G_test, _ = load_benchmark(name, n_train, n_test=100)
    model = make_estimator(name, random_state=0, device=device, max_iter=n_epochs,
                           compile=compile_mode)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tic = time.perf_counter()
        model.fit(U, G)
        _common.sync(device)
        seconds = time.perf_counter() - tic
    fallbacks = [str(w.message) for w in caught if "torch.compile failed" in str(w.message)]
    error = mean_relative_l2_error(G_test, model.predict(U_test))
    return final_estimator(model), fallbacks, seconds, error


def recipes_section(args, device):
    """compile=True on the FNO recipes: it fits, and its steady-state epoch against eager."""
    n_epochs = 5 if args.quick else 6
    repeats = args.repeats or 3
    # darcy's recipe projects on 128 POD modes: at least 128 functions
    sizes = ({"heat": 48, "burgers": 256, "darcy": 160} if args.quick
             else {"heat": 500, "burgers": 1000, "darcy": 1000})
    print(f"\n## 4. compile=True on the heat, Burgers and Darcy quick recipes ({n_epochs} "
          "epochs; steady state: the median epoch after the first, compiling, one; then "
          f"{repeats - 1} more eager and compiled fits, interleaved, the compiled ones reusing "
          "the graphs: the median of the per-pair ratios)")
    for name, n_train in sizes.items():
        eager, _, eager_s, eager_err = recipe_fit(name, False, n_train, n_epochs, str(device))
        compiled, fallbacks, compiled_s, compiled_err = recipe_fit(name, True, n_train,
                                                                   n_epochs, str(device))
        epoch_e, epoch_c = _common.median_epoch(eager), _common.median_epoch(compiled)
        first = compiled.history_[0]["seconds"]
        _common.line(f"{name} ({n_train} functions): eager, median epoch", epoch_e)
        _common.line(f"{name}: compiled, median epoch", epoch_c)
        _common.line(f"{name}: compiled, first epoch (compilation included)", first, "s")
        print(f"# {name}: fit {eager_s:.1f} s eager, {compiled_s:.1f} s compiled; first-epoch "
              f"loss {eager.loss_curve_[0]:.6g} eager, {compiled.loss_curve_[0]:.6g} compiled; "
              f"held-out mean rel L2 {eager_err:.4g} eager, {compiled_err:.4g} compiled")
        fits = (not fallbacks and np.all(np.isfinite(compiled.loss_curve_))
                and np.isclose(compiled.loss_curve_[0], eager.loss_curve_[0], rtol=1e-3))
        for message in fallbacks:
            print(f"# {name}: {message}")
        print(f"TARGET {'compile=True fits the ' + name + ' recipe [' + device.type + ']':<51s} "
              f"{'compiled, no fall-back, first-epoch loss within 1e-3 of eager'}  "
              f"{'PASS' if fits else 'FAIL'}")
        ratios = [epoch_c / epoch_e]
        for _ in range(repeats - 1):
            again_e = recipe_fit(name, False, n_train, n_epochs, str(device))[0]
            again_c = recipe_fit(name, True, n_train, n_epochs, str(device))[0]
            ratios.append(_common.median_epoch(again_c) / _common.median_epoch(again_e))
        print(f"# {name}: per-pair ratios compiled / eager {np.round(ratios, 3).tolist()}")
        _common.verdict(f"{name}: compiled / eager steady-state epoch [{device.type}]",
                        float(np.median(ratios)), 1.1, at_least=False)


if __name__ == "__main__":
    main()
