"""All GPU numbers in one run (under 5 minutes on one H100).

Needs only torch (with CUDA), numpy and scikit-learn, and this checkout; run
from the repository root:

    PYTHONPATH=. python benchmarks/gpu_all.py            # about 90 s on an H100
    PYTHONPATH=. python benchmarks/gpu_all.py --quick    # a smoke run

Sections (each prints its lines and PASS/FAIL, and a failure in one does
not stop the others):

1. target 1 on the GPU: paper loop / fit(random, n_eval=10), per epoch;
2. the paper's Example 1 budget (1,000 epochs, 2,000 functions, n_eval 10):
   fit timed in full; the paper loop timed for ``--paper-epochs`` epochs and
   extrapolated to 1,000 (said so in its line);
3. GPU busy fraction during fit (torch.profiler: union of kernel and copy
   intervals / wall time) and host-device synchronisations per step
   (``torch.cuda.set_sync_debug_mode``);
4. target 2 on the GPU (fit(full) against the hand-written loop);
5. target 3 on the GPU (200,000-point grid);
6. larger batches: epoch time and steps per second against the batch size;
7. ``sample_distinct`` on the device, dense draws against rejection;
8. an experiment, not the estimator: a hand-written loop with the whole step
   (forward, backward, fused Adam) captured as one CUDA graph, against the
   same loop run eagerly, to size what graph capture would buy.
"""

import time
import traceback
import warnings

import _common
import bench_grid
import bench_overhead
import bench_scaling
import bench_vs_paper
import numpy as np
import paper_loop
import torch

from skoperator import DeepONetRegressor


def section(title):
    print(f"\n## {title}", flush=True)


def target1(U, Y, G, device, args):
    out = bench_vs_paper.compare(U, Y, G, n_epochs=args.epochs, repeats=args.repeats,
                                 device=device)
    for name, values in out.items():
        _common.line(name, float(np.median(values)))
    ratios = np.array(out["paper loop"]) / np.array(out["fit random"])
    _common.verdict(f"1 paper loop / fit (random, n_eval=10) [{device.type}]",
                    float(np.median(ratios)), 6.0, at_least=True)


def example1_budget(U, Y, G, device, args):
    n_epochs = 1000
    est = bench_vs_paper.estimator("random", n_epochs, device)
    wall, epoch = _common.fit_timed(est, U, G, device)
    _common.line(f"fit random n_eval 10, {n_epochs} epochs, whole fit", wall, "s")
    _common.line("  its median epoch", epoch)
    state = paper_loop.make_state(U, Y, G, n_eval=10, device=device)
    paper_loop.time_epochs(state, 1, lambda: _common.sync(device))
    seconds = paper_loop.time_epochs(state, args.paper_epochs, lambda: _common.sync(device))
    paper = float(np.mean(seconds)) * n_epochs
    _common.line(f"paper loop, {n_epochs} epochs (EXTRAPOLATED from {args.paper_epochs})",
                 paper, "s")
    _common.verdict(f"Example-1 budget: paper loop / fit, 1000 epochs [{device.type}]",
                    paper / wall, 6.0, at_least=True)
    print(f"# Example-1 final training loss {est.loss_curve_[-1]:.3g}; "
          f"test R2 on 500 new functions {est.score(*_test_set()):.4f}")


def _test_set():
    from skoperator.datasets import make_antiderivative

    U, _, G = make_antiderivative(500, random_state=1)
    return U, G


def _device_intervals(prof):
    """(start, end) in microseconds of every kernel, copy and memset."""
    spans = []
    for evt in prof.events():
        if getattr(evt, "device_type", None) == torch.autograd.DeviceType.CUDA:
            spans.append((evt.time_range.start, evt.time_range.end))
    if not spans:  # older profilers: total device time only, laid end to end
        total = sum(getattr(e, "self_device_time_total", 0) or 0 for e in prof.key_averages())
        spans = [(0.0, float(total))]
    return spans


def _union(spans):
    total, end = 0.0, -np.inf
    for a, b in sorted(spans):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def busy_and_syncs(U, G, device, args):
    from torch.profiler import ProfilerActivity, profile

    if device.type != "cuda":
        print("# skipped: needs CUDA")
        return

    n_epochs = 10 if args.quick else 30
    for sampling, n_eval in (("random", 10), ("full", 100)):
        est = bench_vs_paper.estimator(sampling, 2, device, n_eval).fit(U, G)  # warm
        est = bench_vs_paper.estimator(sampling, n_epochs, device, n_eval)
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            _common.sync(device)
            tic = time.perf_counter()
            est.fit(U, G)
            _common.sync(device)
            wall = time.perf_counter() - tic
        spans = _device_intervals(prof)
        busy = _union(spans) / 1e6
        steps = n_epochs * int(np.ceil(len(U) / 256))
        _common.line(f"{sampling}: fit {n_epochs} epochs under the profiler, wall", wall, "s")
        _common.line(f"{sampling}: GPU busy (union of {len(spans)} kernels/copies)", busy, "s",
                     f"  = {100 * busy / wall:.1f}% of wall, {len(spans) / steps:.0f} per step")
        train = sum(h["seconds"] for h in est.history_)
        _common.line(f"{sampling}: GPU busy / time inside training epochs", busy / train,
                     "fraction")
    # Host-device synchronisations: count the extra ones of 4 more epochs.
    counts = {}
    for n_epochs in (2, 6):
        est = bench_vs_paper.estimator("random", n_epochs, device)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                est.fit(U, G)
            finally:
                torch.cuda.set_sync_debug_mode(0)
        counts[n_epochs] = sum("synchroniz" in str(w.message) for w in caught)
    steps = 4 * int(np.ceil(len(U) / 256))
    per_step = (counts[6] - counts[2]) / steps
    print(f"# synchronising calls: fit 2 epochs {counts[2]}, fit 6 epochs {counts[6]} -> "
          f"{per_step:.3f} per step (one per epoch, the epoch loss, is "
          f"{1 / int(np.ceil(len(U) / 256)):.3f} per step)")
    _common.verdict(f"5 host syncs per training step, random n_eval 10 [{device.type}]",
                    per_step, 0.2, at_least=False)


def target2(U, Y, G, device, args):
    out, flags = bench_overhead.compare(U, Y, G, n_epochs=args.epochs * 2,
                                        repeats=args.repeats, device=device)
    print(f"# Adam flags {flags}")
    for name, values in out.items():
        _common.line(name, float(np.median(values)), "s")
    epoch = np.array(out["fit epoch"]) / np.array(out["hand epoch"])
    wall = np.array(out["fit wall"]) / np.array(out["hand wall"])
    _common.verdict(f"2 fit / hand loop, per epoch [{device.type}]", float(np.median(epoch)), 1.15,
                    at_least=False)
    _common.verdict(f"2 fit / hand loop, whole fit ({args.epochs * 2} epochs) [{device.type}]",
                    float(np.median(wall)), 1.15, at_least=False)


def target3(device, args):
    n_fine = 20_000 if args.quick else 200_000
    U, Y, G = _common.antiderivative(1000)
    U = U.astype(np.float32)
    Yf, Gf = bench_grid.fine_grid_targets(U, G, n_fine)
    G = G.astype(np.float32)

    def run(G_, Y_, sampling, n_epochs=args.epochs):
        return bench_grid.epoch_seconds(U, G_, Y_, sampling, n_epochs, device)

    run(G, Y, "random", 1)
    keys = ("random 100", "random 100 pairs", "random fine", "shared fine")
    runs = {k: [] for k in keys}
    for _ in range(args.repeats):
        runs["random 100"].append(run(G, Y, "random"))
        with bench_grid.forced_path("pairs"):
            runs["random 100 pairs"].append(run(G, Y, "random"))
        runs["random fine"].append(run(Gf, Yf, "random"))
        runs["shared fine"].append(run(Gf, Yf, "shared"))
    res = {k: float(np.median(v)) for k, v in runs.items()}
    res["full fine"] = run(Gf, Yf, "full", 3)
    print(f"# medians of {args.repeats} repeats (the full epoch: one run)")
    for name, value in res.items():
        _common.line(name.replace("fine", f"{n_fine} pts"), value)
    _common.verdict(f"3 random epoch {n_fine} pts / 100 pts [{device.type}]",
                    res["random fine"] / res["random 100"], 1.5, at_least=False)
    _common.verdict(f"3 (same pairs path) {n_fine} pts / 100 pts [{device.type}]",
                    res["random fine"] / res["random 100 pairs"], 1.5, at_least=False)
    _common.verdict(f"3 random / full at {n_fine} pts [{device.type}]",
                    res["random fine"] / res["full fine"], 0.3, at_least=False)
    _common.verdict(f"3 shared / full at {n_fine} pts [{device.type}]",
                    res["shared fine"] / res["full fine"], 0.15, at_least=False)


def batches(U, G, device, args):
    for batch in (256, 1024, 2000):
        for sampling in ("random", "full"):
            est = DeepONetRegressor(sampling=sampling, n_eval=10, batch_size=batch,
                                    max_iter=args.epochs + 1, tol=None, device=device,
                                    random_state=0)
            _, epoch = _common.fit_timed(est, U, G, device)
            steps = int(np.ceil(len(U) / batch))
            _common.line(f"batch {batch:5d} {sampling:6s}: epoch", epoch, "s/epoch",
                         f"  ({steps / epoch:.0f} steps/s, final loss "
                         f"{est.loss_curve_[-1]:.3g})")


def _graph_experiment_loop(u, y, g, *, n_eval, batch, n_epochs, graphed):
    """Hand-written loop (grid path, dense top-k sampling when n_eval), eager or
    as one captured CUDA graph per step. Returns (epoch seconds, final loss)."""
    torch.manual_seed(0)
    device = u.device
    branch = bench_overhead.mlp(u.shape[1], 40, 3, 40).to(device)
    trunk = bench_overhead.mlp(y.shape[1], 40, 3, 40).to(device)
    bias = torch.nn.Parameter(torch.zeros((), device=device))
    params = [*branch.parameters(), *trunk.parameters(), bias]
    optimizer = torch.optim.Adam(params, lr=1e-3, fused=True, capturable=graphed)
    rows = torch.arange(batch, device=device)

    def loss_fn():
        out = branch(u[rows]) @ trunk(y).T + bias
        target = g[rows]
        if n_eval:
            keys = torch.rand(batch, y.shape[0], device=device)
            cols = keys.topk(n_eval, dim=1, largest=False, sorted=False).indices
            out, target = out.gather(1, cols), target.gather(1, cols)
        return torch.nn.functional.mse_loss(out, target)

    def eager_step():
        loss = loss_fn()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    step = eager_step
    if graphed:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                eager_step()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        optimizer.zero_grad(set_to_none=True)
        with torch.cuda.graph(graph):
            static_loss = loss_fn()
            static_loss.backward()
            optimizer.step()

        def step():
            graph.replay()
            return static_loss.detach()

    n = u.shape[0]
    seconds = []
    for _ in range(n_epochs):
        tic = time.perf_counter()
        perm = torch.randperm(n, device=device)
        total = torch.zeros((), device=device)
        for start in range(0, n - batch + 1, batch):
            rows.copy_(perm[start:start + batch])
            total.add_(step(), alpha=batch)
        loss = float(total) / n
        seconds.append(time.perf_counter() - tic)
    return float(np.median(seconds[1:])), loss


def cuda_graphs(U, Y, G, device, args):
    """What capturing the whole step (forward, backward, fused Adam) would buy."""
    if device.type != "cuda":
        print("# skipped: needs CUDA")
        return
    as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float32, device=device)  # noqa: E731
    u = as_tensor((U - U.mean(0)) / U.std(0))
    y = as_tensor((Y - Y.mean(0)) / Y.std(0))
    g = as_tensor((G - G.mean()) / G.std())
    n_epochs = 5 if args.quick else 40
    print(f"# hand-written loop, batch 250 (8 full steps), {n_epochs} epochs; not the estimator")
    for n_eval in (0, 10):
        name = "full" if not n_eval else f"random n_eval {n_eval}"
        eager, loss_e = _graph_experiment_loop(u, y, g, n_eval=n_eval, batch=250,
                                               n_epochs=n_epochs, graphed=False)
        graph, loss_g = _graph_experiment_loop(u, y, g, n_eval=n_eval, batch=250,
                                               n_epochs=n_epochs, graphed=True)
        _common.line(f"{name}: eager epoch (final loss {loss_e:.3g})", eager)
        _common.line(f"{name}: CUDA-graph epoch (final loss {loss_g:.3g})", graph,
                     extra=f"  speed-up {eager / graph:.1f}x")


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    p.set_defaults(device="cuda")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--paper-epochs", type=int, default=None,
                   help="epochs of the paper loop timed for the 1,000-epoch extrapolation")
    args = p.parse_args(argv)
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_all.py needs CUDA; pass --device cpu --quick for a smoke run.")
    args.epochs = args.epochs or (3 if args.quick else 10)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.paper_epochs = args.paper_epochs or (3 if args.quick else 20)
    device = _common.setup(args)
    U, Y, G = _common.antiderivative(2000)
    tic = time.perf_counter()
    steps = [
        ("target 1: paper loop vs fit (random, n_eval 10)", lambda: target1(U, Y, G, device, args)),
        ("Example-1 budget: 1,000 epochs", lambda: example1_budget(U, Y, G, device, args)),
        ("GPU busy fraction and host syncs", lambda: busy_and_syncs(U, G, device, args)),
        ("target 2: fit(full) vs hand-written loop", lambda: target2(U, Y, G, device, args)),
        ("target 3: 200,000-point grid", lambda: target3(device, args)),
        ("larger batches", lambda: batches(U, G, device, args)),
        ("sample_distinct on the device", lambda: bench_scaling.sampler_table(device, False)),
        ("CUDA graphs: potential (experiment)", lambda: cuda_graphs(U, Y, G, device, args)),
    ]
    for title, step in steps:
        section(title)
        t0 = time.perf_counter()
        try:
            step()
        except Exception:  # report and go on to the next section
            traceback.print_exc()
        print(f"# section took {time.perf_counter() - t0:.1f} s", flush=True)
    print(f"\n# gpu_all.py total {time.perf_counter() - tic:.1f} s")


if __name__ == "__main__":
    main()
