"""Uncertainty: whole-function conformal bands and deep ensembles on the antiderivative.

Three measurements, in one run, on the antiderivative (``make_antiderivative``,
100 points; 1,750 functions given to ``fit``, of which
``ConformalBandRegressor`` holds ``--calibration`` (1,000) out for
calibration and trains on the other 750; 500 new functions to test; the
recipe ``n_eval=10``, 150 one-cycle epochs at ``5e-3``):

1. Coverage of the 90 % whole-function band (``alpha=0.1``): the fraction of
   the 500 new functions that lie inside the band at every point, for 5 seeds
   (data, split and model), with the plain estimator (a band of constant
   width) and with a 5-member :class:`EnsembleRegressor` (a band scaled by the
   members' pointwise spread), and the mean band width. Target: every seed
   between 87 % and 95 %. One seed's coverage is itself random even for an
   exact method (the calibration draw, then 500 test functions): with 250
   calibration functions it lands in the range for 90 % of seeds, with 1,000
   for 97 % (the script prints this), so the calibration set is 1,000
   functions; the 500 test functions are the target's.
2. Whether the ensemble's spread ranks the errors: the Spearman correlation,
   over the 500 new functions, between the members' standard deviation
   (averaged over the points) and the RMS error of the mean prediction.
   Target: >= 0.5 for every seed.
3. The fit time of the 5-member ensemble (the default: the members as one
   vectorised network) against one member's fit, interleaved repeats in one
   run (median of the ratios); the same with ``vectorize=False``, members in
   loky worker processes (one torch thread each) and one after the other
   (``n_jobs=1``), which is what the default was chosen against. Target:
   <= 2.5x. ``--threads 0`` lets each fit choose its torch threads (the
   estimator's default); ``--threads 1`` (the default here) pins one. CPU seconds are printed
   beside the wall times: on a machine shared with other work the wall time
   of two processes measures the other work; the busier worker's CPU time
   is the parallel fit's time with the cores to itself. (5 members on 2
   workers: the busier one trains 3, so about 3x one member at best.)

4. Coverage of the plain 90 % band on heat (the quick recipe without its
   mirrors, ``symmetries=False``, for ``--heat-epochs`` epochs on
   ``--heat-train`` (750) generated training fields, ``--calibration``
   (1,000) more to calibrate), on 500 new generated fields per seed (the
   target) and on the authors' 500 test
   fields when ``../shared`` holds them. 5 seeds.

5. ``--only mean`` (not part of the default run): the mean coverage of both
   antiderivative bands over ``--mean-seeds`` (30) seeds, each scored on
   ``--mean-test`` (4,000) new functions, so that a systematic shortfall
   below 90 % would show above the seeds' spread (the standard error of the
   mean is printed).

``--only band``, ``--only time``, ``--only heat`` or ``--only mean`` runs
parts 1-2, 3, 4 or 5.

    python benchmarks/bench_uncertainty.py            # about 5 minutes on 2 idle cores
    python benchmarks/bench_uncertainty.py --quick
"""

import math
import os
import time

import _common
import numpy as np
from scipy.stats import betabinom, spearmanr
from sklearn.base import clone

from skoperator import DeepONetRegressor
from skoperator.datasets import make_antiderivative
from skoperator.metrics import mean_function_r2
from skoperator.uncertainty import ConformalBandRegressor, EnsembleRegressor


def recipe(Y, max_iter, device, seed):
    """The antiderivative recipe: mean R2 about 0.99 in a few seconds."""
    return DeepONetRegressor(coords=Y, n_eval=10, max_iter=max_iter, learning_rate="onecycle",
                             learning_rate_init=5e-3, tol=None, device=device,
                             random_state=seed)


def coverage(band, U, G):
    """Fraction of functions inside the band at every point, and the mean width."""
    lower, upper = band.predict_interval(U)
    inside = ((lower <= G) & (G <= upper)).all(axis=1)
    return float(inside.mean()), float(np.mean(upper - lower))


def timed(estimator, U, G):
    tic = time.perf_counter()
    estimator.fit(U, G)
    return time.perf_counter() - tic


def main(argv=None):
    p = _common.parser(__doc__)
    p.add_argument("--seeds", type=_common.positive_int, default=None,
                   help="seeds of part 1 (default 5)")
    p.add_argument("--only", choices=["band", "time", "heat", "mean"], default=None,
                   help="run parts 1-2 (band), part 3 (time), part 4 (heat) or part 5 "
                        "(mean coverage over many seeds) only")
    p.add_argument("--mean-seeds", type=_common.positive_int, default=30, help="seeds of part 5")
    p.add_argument("--mean-test", type=_common.positive_int, default=4000,
                   help="new functions per seed in part 5")
    p.add_argument("--heat-train", type=_common.positive_int, default=750,
                   help="training fields per seed in part 4")
    p.add_argument("--calibration", type=_common.positive_int, default=1000,
                   help="calibration functions per seed (parts 1 and 4)")
    p.add_argument("--heat-epochs", type=_common.positive_int, default=15,
                   help="epochs of the heat recipe in part 4 (40 without its mirrors)")
    args = p.parse_args(argv)
    device = _common.setup(args)
    n_train, n_test = (200, 100) if args.quick else (1000, 500)
    n_cal = 100 if args.quick else args.calibration
    n_band_train = 150 if args.quick else 750  # the training part of parts 1-2
    max_iter = 10 if args.quick else 150
    n_seeds = args.seeds or (2 if args.quick else 5)
    repeats = args.repeats or (1 if args.quick else 3)
    members = 5
    alpha = 0.1
    ok = True
    if args.only in (None, "band"):
        ok &= band_parts(args, device, n_band_train, n_cal, n_test, max_iter, n_seeds, members,
                         alpha)
    if args.only in (None, "time"):
        ok &= time_part(args, device, n_train, max_iter, repeats, members)
    if args.only in (None, "heat"):
        ok &= heat_part(args, device, n_seeds, alpha, n_cal)
    if args.only == "mean":
        mean_part(args, device, n_band_train, n_cal, max_iter, members, alpha)
    return ok


def mean_part(args, device, n_train, n_cal, max_iter, members, alpha):
    """Part 5: mean coverage of both bands over many seeds, large test sets."""
    n_seeds = 2 if args.quick else args.mean_seeds
    n_test = 200 if args.quick else args.mean_test
    print(f"\n## 5. mean coverage of the {1 - alpha:.0%} band over {n_seeds} seeds: "
          f"{n_train + n_cal} functions to fit ({n_cal} to calibrate), {n_test} new "
          f"functions per seed")
    covs = {"plain": [], "ensemble": []}
    for seed in range(n_seeds):
        n_fit = n_train + n_cal
        U, Y, G = make_antiderivative(n_fit + n_test, n_points=100, random_state=100 + seed)
        base = recipe(Y, max_iter, device, seed)
        models = {"plain": base,
                  "ensemble": EnsembleRegressor(base, n_estimators=members, random_state=seed)}
        row = []
        for name, est in models.items():
            band = ConformalBandRegressor(est, alpha=alpha, calibration_fraction=n_cal,
                                          random_state=seed).fit(U[:n_fit], G[:n_fit])
            covs[name].append(coverage(band, U[n_fit:], G[n_fit:])[0])
            row.append(f"{name} {covs[name][-1]:.4f}")
        print(f"{seed:>4}  " + "  ".join(row), flush=True)
    for name, c in covs.items():
        c = np.array(c)
        print(f"# {name}: mean coverage {c.mean():.4f}, standard error "
              f"{c.std(ddof=1) / math.sqrt(len(c)):.4f}, seeds' std {c.std(ddof=1):.4f}, "
              f"lowest {c.min():.4f}, highest {c.max():.4f}")


def exact_spread(n_cal, n_test, alpha):
    """One seed's coverage for an exact method: mean, std, P(in [0.87, 0.95]).

    The calibration draw gives Beta(k, n_cal + 1 - k), the test functions a
    binomial on top: a beta-binomial count of covered test functions.
    """
    k = math.ceil((n_cal + 1) * (1 - alpha) - 1e-9)
    spread = betabinom(n_test, k, n_cal + 1 - k)
    inside = spread.cdf(math.floor(0.95 * n_test)) - spread.cdf(math.ceil(0.87 * n_test) - 1)
    return k / (n_cal + 1), spread.std() / n_test, inside


def print_spread(n_cal, n_test, alpha):
    mean, std, inside = exact_spread(n_cal, n_test, alpha)
    _, _, inside_250 = exact_spread(250, n_test, alpha)
    print(f"# for an exact method, one seed's coverage has mean {mean:.3f} and standard "
          f"deviation {std:.3f} ({n_cal} calibration and {n_test} test functions): "
          f"{inside:.1%} of seeds land in [0.87, 0.95], all of 5 seeds {inside ** 5:.0%} "
          f"of the time (with 250 calibration functions: {inside_250:.1%})")


def band_parts(args, device, n_train, n_cal, n_test, max_iter, n_seeds, members, alpha):
    """Parts 1 and 2: coverage and width of the band, Spearman of spread and error."""
    ok = True
    print(f"## 1-2. {1 - alpha:.0%} whole-function band: {n_train + n_cal} functions to fit "
          f"({n_cal} of them for calibration), {n_test} new functions, "
          f"{max_iter} epochs")
    print(f"{'seed':>4} {'model':<12} {'R2':>8} {'coverage':>9} {'width':>9} "
          f"{'spearman':>9} {'fit s':>7}")
    results = {"plain": [], "ensemble": []}
    rhos = []
    for seed in range(n_seeds):
        n_fit = n_train + n_cal
        U, Y, G = make_antiderivative(n_fit + n_test, n_points=100, random_state=seed)
        U_fit, G_fit, U_new, G_new = U[:n_fit], G[:n_fit], U[n_fit:], G[n_fit:]
        base = recipe(Y, max_iter, device, seed)
        models = {
            "plain": ConformalBandRegressor(base, alpha=alpha, calibration_fraction=n_cal,
                                            random_state=seed),
            "ensemble": ConformalBandRegressor(
                EnsembleRegressor(base, n_estimators=members, random_state=seed),
                alpha=alpha, calibration_fraction=n_cal, random_state=seed),
        }
        for name, band in models.items():
            seconds = timed(band, U_fit, G_fit)
            cov, width = coverage(band, U_new, G_new)
            mean = band.predict(U_new)
            r2 = mean_function_r2(G_new, mean)
            rho = float("nan")
            if name == "ensemble":
                _, std = band.estimator_.predict(U_new, return_std=True)
                error = np.sqrt(np.mean((G_new - mean) ** 2, axis=1))
                rho = float(spearmanr(std.mean(axis=1), error).statistic)
                rhos.append(rho)
            results[name].append((cov, width))
            print(f"{seed:>4} {name:<12} {r2:>8.5f} {cov:>9.3f} {width:>9.5f} {rho:>9.3f} "
                  f"{seconds:>7.1f}", flush=True)
    print_spread(n_cal, n_test, alpha)
    for name, rows in results.items():
        covs = np.array([c for c, _ in rows])
        widths = np.array([w for _, w in rows])
        print(f"# {name}: coverage {', '.join(f'{c:.3f}' for c in covs)} (mean {covs.mean():.3f}), "
              f"mean band width {widths.mean():.5f}")
        ok &= _common.verdict(f"worst-seed coverage, {name} [{device.type}]", covs.min(), 0.87,
                              at_least=True, what="value")
        ok &= _common.verdict(f"highest-seed coverage, {name} [{device.type}]", covs.max(),
                              0.95, at_least=False, what="value")
    ratio = (np.mean([w for _, w in results["ensemble"]])
             / np.mean([w for _, w in results["plain"]]))
    print(f"# ensemble-normalised band width / plain band width: {ratio:.3f}")
    ok &= _common.verdict(f"worst-seed Spearman(std, error) [{device.type}]", min(rhos), 0.5,
                          at_least=True, what="value")
    return ok


def children_cpu():
    """CPU seconds used so far by each child process (the joblib workers); {} off Linux."""
    me, out = os.getpid(), {}
    try:
        tick = os.sysconf("SC_CLK_TCK")
        pids = [d for d in os.listdir("/proc") if d.isdigit()]
    except (OSError, ValueError, AttributeError):
        return out
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:
            out[pid] = (int(fields[11]) + int(fields[12])) / tick
    return out


def timed_cpu(estimator, U, G):
    """(wall seconds, this process's CPU seconds, each worker's CPU seconds) of a fit."""
    before, cpu = children_cpu(), time.process_time()
    wall = timed(estimator, U, G)
    cpu = time.process_time() - cpu
    workers = [t - before.get(pid, 0.0) for pid, t in children_cpu().items()]
    return wall, cpu, sorted(workers, reverse=True)


def time_part(args, device, n_train, max_iter, repeats, members):
    """Part 3: fit time of the ensemble against one member.

    Wall time is the target. CPU time is printed beside it, because on a
    machine shared with other work the wall time of parallel processes says
    more about the other work than about the ensemble: the busiest worker's
    CPU time is what the parallel fit would take with its cores to itself.
    """
    ok = True
    print(f"\n## 3. fit time of a {members}-member ensemble against one member "
          f"({n_train} functions, {max_iter} epochs, {repeats} interleaved repeats)")
    print(f"# load average before: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    U, Y, G = make_antiderivative(n_train, n_points=100, random_state=0)
    base = recipe(Y, max_iter, device, 0)
    default = EnsembleRegressor(base, n_estimators=members, random_state=0)
    vec_one = EnsembleRegressor(base, n_estimators=members, n_jobs=1, random_state=0)
    vec_two = EnsembleRegressor(base, n_estimators=members, n_jobs=2, random_state=0)
    parallel = EnsembleRegressor(base, n_estimators=members, vectorize=False, random_state=0)
    serial = EnsembleRegressor(base, n_estimators=members, vectorize=False, n_jobs=1,
                               random_state=0)
    workers = parallel._n_workers()
    # warm up this process (torch.func's first use imports a lot), and start
    # the worker processes (joblib keeps them)
    small = clone(base).set_params(max_iter=1)
    small.fit(U[:50], G[:50])
    EnsembleRegressor(small, n_estimators=members, random_state=0).fit(U[:50], G[:50])
    EnsembleRegressor(small, n_estimators=members, vectorize=False,
                      random_state=0).fit(U[:50], G[:50])
    EnsembleRegressor(small, n_estimators=members, n_jobs=2, random_state=0).fit(U[:50], G[:50])
    runs = {"one": [], "vec": [], "vec1": [], "vec2": [], "par": [], "ser": []}
    for _ in range(repeats):
        runs["one"].append(timed_cpu(clone(base), U, G))
        runs["vec"].append(timed_cpu(default, U, G))
        runs["vec1"].append(timed_cpu(vec_one, U, G))
        runs["vec2"].append(timed_cpu(vec_two, U, G))
        runs["par"].append(timed_cpu(parallel, U, G))
        runs["ser"].append(timed_cpu(serial, U, G))
    print(f"# the default trained the members vectorised: {default.vectorized_}")
    wall = {k: np.array([r[0] for r in v]) for k, v in runs.items()}
    cpu = {k: np.array([r[1] for r in v]) for k, v in runs.items()}
    busiest = np.array([r[2][0] if r[2] else np.nan for r in runs["par"]])
    worker_total = np.array([sum(r[2]) for r in runs["par"]])
    vec_ratio = float(np.median(wall["vec"] / wall["one"]))
    par_ratio = float(np.median(wall["par"] / wall["one"]))
    ser_ratio = float(np.median(wall["ser"] / wall["one"]))
    _common.line("one member", float(np.median(wall["one"])), "s",
                 f"  (CPU {np.median(cpu['one']):.2f} s)")
    _common.line(f"{members} members, the default (vectorised, a network per core)",
                 float(np.median(wall["vec"])), "s",
                 f"  {vec_ratio:.2f}x one member (CPU {np.median(cpu['vec']):.2f} s)")
    for key, what in (("vec1", "vectorised, n_jobs=1 (one network, this process)"),
                      ("vec2", "vectorised, n_jobs=2 (a network per worker process)")):
        _common.line(f"{members} members, {what}", float(np.median(wall[key])), "s",
                     f"  {np.median(wall[key] / wall['one']):.2f}x one member")
    _common.line(f"{members} members, vectorize=False ({workers} processes)",
                 float(np.median(wall["par"])), "s",
                 f"  {par_ratio:.2f}x one member (CPU: busiest worker "
                 f"{np.median(busiest):.2f} s, all workers {np.median(worker_total):.2f} s)")
    _common.line(f"{members} members, vectorize=False, n_jobs=1 (one after the other)",
                 float(np.median(wall["ser"])), "s",
                 f"  {ser_ratio:.2f}x one member (CPU {np.median(cpu['ser']):.2f} s)")
    print(f"# processes / sequential, wall: {np.median(wall['par'] / wall['ser']):.2f}; "
          f"with the cores to itself (busiest worker's CPU / sequential CPU): "
          f"{np.median(busiest / cpu['ser']):.2f}, "
          f"{np.median(busiest / cpu['one']):.2f}x one member")
    print(f"# load average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    ok &= _common.verdict(f"{members}-member ensemble fit (default) / one member "
                          f"[{device.type}]", vec_ratio, 2.5, at_least=False)
    return ok


def heat_part(args, device, n_seeds, alpha, n_cal):
    """Part 4: coverage of the plain band on heat (the bare quick recipe, fewer epochs).

    ``--heat-train`` generated training fields per seed and ``n_cal`` more
    for calibration; two sets of 500 new fields: generated ones (new draws
    of the same law, different for every seed) and, when ``../shared`` holds
    them, the authors' test fields (the same for every seed). Coverage does
    not need an accurate model, only exchangeable fields: the recipe runs
    ``--heat-epochs`` epochs to keep the part to minutes.
    """
    from skoperator.datasets import make_heat_conduction
    from skoperator.reproduce import load_benchmark, make_estimator

    ok = True
    epochs = 3 if args.quick else args.heat_epochs
    n_train, n_test = (64, 64) if args.quick else (args.heat_train, 500)
    n_cal = min(n_cal, 64) if args.quick else n_cal
    print(f"\n## 4. {1 - alpha:.0%} whole-function band on heat: {n_train + n_cal} fields to "
          f"fit ({n_cal} for calibration), {n_test} new fields, the quick recipe for "
          f"{epochs} epochs")
    print(f"{'seed':>4} {'R2':>8} {'coverage':>9} {'width':>9} {'cov. ref':>9} {'fit s':>7}")
    covs, widths, refs = [], [], []
    for seed in range(n_seeds):
        U, G, U_ref, G_ref, source = load_benchmark("heat", n_train + n_cal, n_test=n_test,
                                                    random_state=seed)
        U_new, _, G_new = make_heat_conduction(n_test, random_state=10_000 + seed)
        # The bare recipe: the band's calibration is measured on the fields themselves.
        model = make_estimator("heat", random_state=seed, max_iter=epochs,
                               device=device.type, symmetries=False)
        band = ConformalBandRegressor(model, alpha=alpha, calibration_fraction=n_cal,
                                      random_state=seed)
        seconds = timed(band, U, G)
        cov, width = coverage(band, U_new, G_new)
        r2 = mean_function_r2(G_new, band.predict(U_new))
        ref = coverage(band, U_ref, G_ref)[0] if source == "reference" else float("nan")
        covs.append(cov)
        widths.append(width)
        refs.append(ref)
        print(f"{seed:>4} {r2:>8.5f} {cov:>9.3f} {width:>9.5f} {ref:>9.3f} {seconds:>7.1f}",
              flush=True)
    print(f"# heat, plain, generated new fields: coverage {', '.join(f'{c:.3f}' for c in covs)}"
          f" (mean {np.mean(covs):.3f}), mean band width {np.mean(widths):.5f}")
    if not np.isnan(refs).all():
        print(f"# heat, plain, the authors' 500 test fields: coverage "
              f"{', '.join(f'{c:.3f}' for c in refs)} (mean {np.mean(refs):.3f})")
    print_spread(n_cal, n_test, alpha)
    ok &= _common.verdict(f"worst-seed coverage, heat [{device.type}]", min(covs), 0.87,
                          at_least=True, what="value")
    ok &= _common.verdict(f"highest-seed coverage, heat [{device.type}]", max(covs), 0.95,
                          at_least=False, what="value")
    return ok


if __name__ == "__main__":
    main()
