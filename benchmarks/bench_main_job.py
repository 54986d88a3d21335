"""The main job's claim (issue 30): fit seconds follow ``n_eval``, not the grid.

``python benchmarks/bench_main_job.py`` runs ``python -m skoperator`` (the
antiderivative on an 8,000-point output grid, n_eval 1, 10, 50 and the
full grid) on one thread and prints its table, then the target: the fit at
``n_eval`` 1 takes at most a third of the full-grid fit, in the same run,
with the accuracy of each beside it. ``--sweep`` first prints the check
behind the recipe's gradient clipping (the four ``n_eval``, with and
without ``clip_grad_norm=1.0``). ``--quick``: 20 epochs, 500
functions (a smoke run; its ratio is not the target's).
"""

from _common import parser, setup, verdict

from skoperator.__main__ import main as main_job
from skoperator.metrics import mean_function_r2
from skoperator.reproduce import BENCHMARKS, load_benchmark, make_estimator


def sweep(epochs, n_train):
    """R2 of the main job's recipe with and without clipping."""
    print("# sweep: the recipe's clipping "
          f"({n_train} training functions, {epochs} epochs, seed 0)")
    U, G, U_test, G_test, _ = load_benchmark("antiderivative-fine", n_train, n_test=500,
                                             test_data="generated")
    Y = BENCHMARKS["antiderivative-fine"].coords()
    for clip in (None, 1.0):
        for n_eval in (1, 10, 50, "full"):
            est = make_estimator("antiderivative-fine", n_eval=n_eval, max_iter=epochs,
                                 random_state=0, device="cpu", optimizer__clip_grad_norm=clip)
            est.set_params(coords=Y).fit(U, G)
            r2 = mean_function_r2(G_test, est.predict(U_test))
            print(f"clip_grad_norm={clip!s:<5} n_eval={n_eval!s:<5} R2 {r2:9.5f}", flush=True)


def run(argv=None):
    p = parser(__doc__)
    p.add_argument("--sweep", action="store_true", help="print the clipping check first")
    args = p.parse_args(argv)
    setup(args)
    epochs, n_train, n_test = (20, 500, 200) if args.quick else (250, 2000, 1000)
    if args.sweep:
        sweep(epochs, n_train)
    rows = main_job(["--n-train", str(n_train), "--n-test", str(n_test), "--epochs",
                     str(epochs), "--n-eval", "1", "10", "50", "full"])
    seconds = {str(r["n_eval"]): r["train_time_s"] for r in rows}
    r2 = {str(r["n_eval"]): r["r2"] for r in rows}
    print(f"# R2: n_eval 1 {r2['1']:.5f}, full grid {r2['full']:.5f}")
    verdict("main job: fit at n_eval 1 / full-grid fit", seconds["1"] / seconds["full"], 1 / 3,
            at_least=False)


if __name__ == "__main__":
    run()
