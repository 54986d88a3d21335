"""The reproduction command and its presets."""

import csv

import numpy as np
import pytest

import skoperator.reproduce as reproduce
from skoperator import DeepONetRegressor
from skoperator.networks import CNNBranch, FNOBranch, MLPBranch, MLPTrunk, PODTrunk
from skoperator.reproduce import (
    BENCHMARKS,
    final_estimator,
    load_benchmark,
    main,
    make_estimator,
)
from skoperator.symmetry import SymmetrizedRegressor


@pytest.mark.parametrize("benchmark, n_points, d", [
    ("antiderivative", 100, 1), ("diffusion-reaction", 10100, 2), ("heat", 1024, 2)])
def test_make_estimator_configures_each_benchmark(benchmark, n_points, d):
    model = make_estimator(benchmark, n_eval=16, random_state=3)
    est = final_estimator(model)  # heat: log K, then the mirrors, then the estimator
    assert isinstance(est, DeepONetRegressor)
    assert est.coords.shape == (n_points, d)
    assert est.n_eval == 16 and est.sampling == "random" and est.random_state == 3


def test_paper_budget_is_the_papers_schedule():
    lrs = {"antiderivative": 1e-3, "diffusion-reaction": 1e-3, "heat": 1e-4}
    epochs = {"antiderivative": 1000, "diffusion-reaction": 1000, "heat": 20000}
    for benchmark in lrs:  # the paper's three problems
        est = make_estimator(benchmark, n_eval=10, budget="paper")
        assert est.learning_rate_init == lrs[benchmark]
        assert est.max_iter == epochs[benchmark]
        assert est.batch_size == 256 and est.learning_rate == "constant"
    heat = make_estimator("heat", n_eval=16, budget="paper")
    assert isinstance(heat.branch, CNNBranch) and heat.branch.filters == (40, 60, 100)
    assert heat.branch.grid == (32, 32) and heat.branch.layers == (150, 150, 150)
    assert heat.branch.activation == "relu"
    assert isinstance(heat.trunk, MLPTrunk) and heat.trunk.layers == (150, 150, 150)


@pytest.mark.parametrize("benchmark, width", [("antiderivative", 40),
                                              ("diffusion-reaction", 100)])
def test_mlp_benchmarks_keep_their_widths(benchmark, width):
    # the paper budget keeps the paper's widths; the quick recipes have their own
    # (antiderivative: DeepXDE's nets; diffusion-reaction: a POD-DeepONet, test below)
    est = make_estimator(benchmark, n_eval=10, budget="paper")
    assert est.branch.get_params() == MLPBranch(layers=(width,) * 3).get_params()
    assert est.trunk.get_params() == MLPTrunk(layers=(width,) * 3).get_params()
    assert est.n_basis == width


def test_antiderivative_quick_recipe_is_deepxdes_nets():
    est = make_estimator("antiderivative", n_eval=10)
    assert est.branch.get_params() == MLPBranch(layers=(128, 128)).get_params()
    assert est.trunk.get_params() == MLPTrunk(layers=(128, 128),
                                              output_activation=True).get_params()
    assert est.n_basis == 128 and est.optimizer == "adam"  # no L-BFGS polish


def test_estimators_never_share_components():
    a, b = (make_estimator("heat", n_eval=16) for _ in range(2))
    ea, eb = final_estimator(a), final_estimator(b)
    assert ea.branch is not eb.branch and ea.trunk is not eb.trunk
    assert ea.branch is not BENCHMARKS["heat"].recipes["quick"]["branch"]
    assert a[-1].symmetries[0] is not b[-1].symmetries[0]
    assert a[-1].symmetries[0] is not BENCHMARKS["heat"].recipes["quick"]["symmetries"][0]
    a.set_params(symmetrizedregressor__estimator__branch__width=4)
    assert eb.branch.width == 24 and BENCHMARKS["heat"].recipes["quick"]["branch"].width == 24
    c, d = (make_estimator("antiderivative", n_eval=10) for _ in range(2))
    assert c.branch is not d.branch and c.trunk is not d.trunk
    assert BENCHMARKS["antiderivative"].params("quick")["branch"] is not \
        BENCHMARKS["antiderivative"].architecture["branch"]


def test_nested_overrides_reach_the_components():
    est = make_estimator("antiderivative", n_eval=10, branch__layers=(16,), trunk__layers=(8,))
    assert est.branch.layers == (16,) and est.trunk.layers == (8,)
    assert BENCHMARKS["antiderivative"].architecture["branch"].layers == (40, 40, 40)
    mine = MLPBranch(layers=(12,))
    est = make_estimator("antiderivative", n_eval=10, branch=mine, branch__activation="tanh")
    assert est.branch.activation == "tanh" and mine.activation == "relu"


def test_full_grid_and_bad_names():
    assert final_estimator(make_estimator("heat", n_eval="full")).sampling == "full"
    with pytest.raises(ValueError, match="benchmark must be one of"):
        make_estimator("no-such-benchmark", n_eval=1)
    with pytest.raises(ValueError, match="budget must be"):
        make_estimator("heat", n_eval=1, budget="huge")


def test_coordinates_layouts():
    dr = BENCHMARKS["diffusion-reaction"].coords()
    np.testing.assert_allclose(dr[:100, 0], 0.0)  # t-major, t = 0 first
    np.testing.assert_allclose(dr[:100, 1], (np.arange(100) + 0.5) / 100)
    heat = BENCHMARKS["heat"].coords()
    np.testing.assert_allclose(heat[:32, 0], (np.arange(32) + 0.5) / 32)  # x1 fastest
    np.testing.assert_allclose(heat[:32, 1], 1 / 64)


def test_load_benchmark_generated_split():
    U, G, U_test, G_test, source = load_benchmark("antiderivative", 30, n_test=10)
    assert source == "generated"
    assert U.shape == (30, 100) and U_test.shape == (10, 100) and G_test.shape == (10, 100)


@pytest.mark.parametrize("options, message", [
    (["--epochs", "-1"], "argument --epochs: expected an int >= 1; got '-1'"),
    (["--n-train", "0"], "argument --n-train: expected an int >= 1; got '0'"),
    (["--n-test", "0"], "argument --n-test: expected an int >= 1; got '0'"),
    (["--seeds", "-2"], "argument --seeds: expected an int from 0 to 4294966295; got '-2'"),
    (["--seeds", "4294966296"], "argument --seeds: expected an int from 0 to 4294966295"),
    (["--device", "tpu"], "argument --device: device='tpu' is not a device torch knows"),
])
def test_bad_counts_and_devices_are_usage_errors(options, message, tmp_path, monkeypatch,
                                                 capsys):
    monkeypatch.setattr(reproduce, "load_benchmark",
                        lambda *a, **k: pytest.fail("data generated before the check"))
    with pytest.raises(SystemExit) as info:
        main(["antiderivative", "--out", str(tmp_path / "out")] + options)
    assert info.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_run_checks_its_counts_before_any_data(monkeypatch):
    monkeypatch.setattr(reproduce, "load_benchmark",
                        lambda *a, **k: pytest.fail("data generated before the check"))
    with pytest.raises(ValueError, match=r"epochs \(--epochs on the command line\) must hold"):
        reproduce.run("antiderivative", epochs=-1, out=None)
    with pytest.raises(ValueError, match=r"n_trains \(--n-train .* got \[0\]"):
        reproduce.run("antiderivative", n_trains=(0,), out=None)
    with pytest.raises(ValueError, match=r"seeds \(--seeds .* <= 4294966295; "
                                         r"got \[4294967296\]"):
        reproduce.run("antiderivative", seeds=(2**32,), out=None)
    # Containers: a non-empty list or tuple, named; () no longer falls back silently.
    for name, value in [("seeds", ()), ("n_trains", 20), ("seeds", 0), ("n_evals", 5),
                        ("n_trains", ()), ("n_evals", "full")]:
        with pytest.raises(ValueError, match=f"{name} must be a non-empty list or tuple; "
                                             f"got {value!r}"):
            reproduce.run("antiderivative", out=None, **{name: value})


def test_run_names_an_out_folder_it_cannot_make(tmp_path, monkeypatch):
    monkeypatch.setattr(reproduce, "load_benchmark",
                        lambda *a, **k: pytest.fail("data generated before the check"))
    (tmp_path / "afile").write_text("")
    with pytest.raises(ValueError, match=r"out \(--out .*'.*afile' .*Pass another folder"):
        reproduce.run("antiderivative", n_trains=(8,), n_evals=(2,), epochs=1,
                      out=tmp_path / "afile")


def test_checking_a_navier_stokes_call_writes_no_cache(tmp_path, monkeypatch):
    # Benchmark.coords() solved a trajectory through the disk cache: a call refused
    # for a bad --set wrote a 0.7 MB file.
    from skoperator import _benchmark_record

    monkeypatch.setenv("SKOPERATOR_DATA", str(tmp_path / "data"))
    _benchmark_record._coords.cache_clear()
    try:
        with pytest.raises(ValueError, match="unexpected keyword argument 'nosuch'"):
            main(["navier-stokes-1e-5", "--set", "nosuch=1", "--out", str(tmp_path / "out")])
    finally:
        _benchmark_record._coords.cache_clear()
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").rglob("*.npz"))


def test_make_estimator_refuses_a_max_iter_it_would_truncate():
    for bad in (2.7, "3", True, 0.5, 0):
        with pytest.raises(ValueError, match=f"max_iter must be an int >= 1 .*got {bad!r}"):
            make_estimator("antiderivative", max_iter=bad)
    assert final_estimator(make_estimator("antiderivative", max_iter=np.int64(3))).max_iter == 3


@pytest.mark.parametrize("options, match", [
    (["--set", "nosuch=1"], "unexpected keyword argument 'nosuch'"),
    (["--set", "branch__nosuch=1"], "Invalid parameter 'nosuch' for estimator MLPBranch"),
    (["--set", "branch__width=-3"], "'width' parameter of FNOBranch"),
    (["--set", "batch_size=-4"], "'batch_size' parameter of DeepONetRegressor"),
    (["--max-time", "-1"], "'max_time' parameter"),
])
def test_bad_options_fail_before_any_data_or_file(options, match, tmp_path, monkeypatch):
    monkeypatch.setattr(reproduce, "load_benchmark",
                        lambda *a, **k: pytest.fail("data generated before the check"))
    benchmark = "heat" if "branch__width=-3" in options else "antiderivative"
    with pytest.raises(ValueError, match=match):
        main([benchmark, "--out", str(tmp_path / "out"), "--verbose", "0"] + options)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("item", ["foo", "=5"])
def test_set_without_name_and_value_is_a_usage_error(item, capsys):
    with pytest.raises(SystemExit):
        main(["antiderivative", "--set", item])
    assert f"--set expects NAME=VALUE, such as --set branch__width=32; got {item!r}" \
        in capsys.readouterr().err


def test_make_estimator_takes_coords_and_tol_like_any_parameter():
    assert final_estimator(make_estimator("antiderivative", tol=1e-4)).tol == 1e-4
    Y = np.linspace(0, 1, 7)[:, None]
    assert final_estimator(make_estimator("antiderivative", coords=Y)).coords is Y
    assert final_estimator(make_estimator("antiderivative")).tol is None


def test_load_benchmark_counts_validated():
    with pytest.raises(ValueError, match=r"n_test .* got -1"):
        load_benchmark("antiderivative", 20, n_test=-1)
    with pytest.raises(ValueError, match=r"n_train .* got True"):
        load_benchmark("antiderivative", True)
    with pytest.raises(ValueError, match=r"n_train .* got \[10\]"):
        load_benchmark("antiderivative", [10])


def test_load_benchmark_refuses_more_test_functions_than_the_reference_holds(monkeypatch):
    # The heat record scores on the authors' 500 fields: 600 silently gave 500.
    import dataclasses

    from skoperator._benchmarks import BENCHMARKS

    fields = np.zeros((5, 1024))
    monkeypatch.setitem(BENCHMARKS, "heat", dataclasses.replace(
        BENCHMARKS["heat"], reference=lambda: (fields, None, fields),
        make=lambda *a, **k: pytest.fail("data generated before the check")))
    with pytest.raises(ValueError, match="n_test=6 is more than the 5 functions of heat's "
                                         "reference data; pass n_test <= 5, or test_data="):
        load_benchmark("heat", 8, n_test=6)


def test_command_writes_table_csv_and_figure(tmp_path, capsys):
    rows = main(["antiderivative", "--n-train", "40", "--n-test", "20", "--n-eval", "5", "full",
                 "--seeds", "0", "1", "--epochs", "3", "--out", str(tmp_path), "--verbose", "0"])
    assert len(rows) == 4
    with open(tmp_path / "results.csv") as f:
        table = list(csv.DictReader(f))
    assert {"benchmark", "n_train", "n_eval", "seed", "r2", "mse", "train_time_s"} <= set(table[0])
    assert [r["n_eval"] for r in table] == ["5", "full", "5", "full"]
    assert (tmp_path / "results.png").stat().st_size > 0
    assert "mean R2" in capsys.readouterr().out


def test_grouped_sampling_on_diffusion_reaction(tmp_path):
    rows = main(["diffusion-reaction", "--n-train", "8", "--n-test", "4", "--n-eval", "3",
                 "--sampling", "grouped", "--epochs", "1", "--out", str(tmp_path),
                 "--set", "n_basis=4",  # the POD trunk of the recipe: at most 8 modes here
                 "--verbose", "0"])
    assert rows[0]["sampling"] == "grouped" and np.isfinite(rows[0]["r2"])


def test_heat_quick_recipe_is_log_k_then_fno_branch_and_pod_trunk():
    model = make_estimator("heat", n_eval=16)
    assert model[0].func is np.log
    assert isinstance(model[-1], SymmetrizedRegressor) and len(model[-1].symmetries) == 2
    est = model[-1].estimator
    assert est.max_iter == 10  # passes over the 4 images of each field
    bare = make_estimator("heat", n_eval=16, symmetries=False)
    assert isinstance(bare[-1], DeepONetRegressor) and bare[-1].max_iter == 40  # same steps
    assert make_estimator("heat", symmetries=False, max_iter=7)[-1].max_iter == 7
    assert make_estimator("heat", budget="paper").max_iter == 20000  # no symmetries there
    assert isinstance(est.branch, FNOBranch) and isinstance(est.trunk, PODTrunk)
    assert (est.loss, est.n_basis) == ("relative_l2", 150)
    # 0.2.0's network: gelu, 8 modes, width 24, 4 layers, the architecture's head widths
    assert est.branch.get_params() == FNOBranch(
        grid=(32, 32), modes=8, width=24, n_layers=4, head_layers=(150, 150, 150),
        activation="gelu").get_params()
    pod = PODTrunk(layers=(150, 150, 150), activation="gelu")  # its correction's, if set
    assert est.trunk.get_params() == pod.get_params()
    # the recipe fits raw K
    U, _, G = BENCHMARKS["heat"].make(12, random_state=0)
    model.set_params(symmetrizedregressor__estimator__max_iter=1,
                     symmetrizedregressor__estimator__branch__width=4,
                     symmetrizedregressor__estimator__n_basis=8)
    assert model.fit(U, G).predict(U[:2]).shape == (2, 1024)
    assert model[-1].n_group_ == 4 and final_estimator(model) is model[-1].estimator_


def test_n_eval_of_every_point_is_the_full_sampler():
    from skoperator.reproduce import run
    from skoperator.sampling import SAMPLERS

    assert not SAMPLERS["full"].uses_n_eval
    rows = run("antiderivative", n_trains=(20,), n_evals=(100, "full"), epochs=1, n_test=5,
               out=None, device="cpu")
    assert [(r["n_eval"], r["sampling"]) for r in rows] == [("full", "full"), ("full", "full")]
    assert make_estimator("antiderivative", n_eval="full").n_eval == "auto"


def test_diffusion_reaction_quick_recipe_is_a_pod_deeponet():
    est = make_estimator("diffusion-reaction")
    assert isinstance(est.branch, MLPBranch) and isinstance(est.trunk, PODTrunk)
    assert est.loss == "relative_l2" and est.n_eval == 256 and est.optimizer == "adam"
    assert est.learning_rate == "onecycle" and est.max_iter >= 1000  # long Adam, no polish
    assert est.max_time is None  # epochs only: the same seed gives the same model


@pytest.mark.parametrize("benchmark, n_points, grid", [("burgers", 128, (128,)),
                                                       ("darcy", 841, (29, 29))])
def test_burgers_and_darcy_records(benchmark, n_points, grid):
    spec = BENCHMARKS[benchmark]
    assert spec.coords().shape[0] == n_points and spec.n_train == (1000,)
    assert spec.n_test == 200
    assert {m for m, _, _ in spec.published} == {"DeepONet", "POD-DeepONet", "FNO"}
    est = make_estimator(benchmark)  # n_eval=None: the recipe's own
    assert est.sampling == "full" and est.max_time is None  # epochs only: reproducible
    assert isinstance(est.branch, FNOBranch) and est.branch.grid == grid
    assert isinstance(est.trunk, PODTrunk) and est.loss == "relative_l2"
    assert make_estimator(benchmark, n_eval=32).n_eval == 32  # explicit values still win
    U, _, G = spec.make(6, random_state=0)
    est.set_params(max_iter=1, branch__width=4, branch__modes=4, n_basis=3)
    assert est.fit(U, G).predict(U[:2]).shape == (2, n_points)


def test_table_prints_relative_l2_and_published_rows():
    from skoperator.reproduce import format_table

    rows = [dict(benchmark="burgers", n_train=1000, n_eval="full", sampling="full", r2=0.999,
                 rel_l2=0.0123, mse=1e-5, train_time_s=10.0)]
    table = format_table(rows)
    assert "rel L2 %" in table and "1.2300" in table
    assert "POD-DeepONet" in table and "1.9400 %" in table
    dr = format_table([dict(rows[0], benchmark="diffusion-reaction")])
    assert "0.9710 %" in dr


# ------------------------------------------------ reproducible recipes, plain help
def test_no_shipped_recipe_follows_the_clock():
    # A recipe with max_time follows the wall clock (its schedule and its end):
    # the same seed gave two different models (contract 7).
    for name, spec in BENCHMARKS.items():
        for budget, recipe in spec.recipes.items():
            assert "max_time" not in recipe, (name, budget)
            assert final_estimator(make_estimator(name, budget=budget)).max_time is None


@pytest.mark.parametrize("benchmark, n_train, epochs", [
    ("antiderivative-physics", 24, 2), ("burgers", 70, 1)])
def test_a_recipe_fitted_twice_gives_the_same_model(benchmark, n_train, epochs):
    U, G, U_test, _, _ = load_benchmark(benchmark, n_train, n_test=4, random_state=1000)
    if BENCHMARKS[benchmark].physics_only:
        G = np.full_like(G, np.nan)
    preds = []
    for _ in range(2):
        model = make_estimator(benchmark, random_state=0, device="cpu", max_iter=epochs)
        preds.append(model.fit(U, G).predict(U_test))
    np.testing.assert_array_equal(preds[0], preds[1])


def test_max_time_is_an_opt_in_of_the_command_and_of_run():
    from skoperator.reproduce import _parser, run

    assert _parser().parse_args(["burgers"]).max_time is None
    assert _parser().parse_args(["burgers", "--max-time", "12.5"]).max_time == 12.5
    rows = run("antiderivative", n_trains=(20,), n_evals=(5,), epochs=2, n_test=5, out=None,
               device="cpu", max_time=60.0)
    assert rows[0]["epochs"] == 2
    assert final_estimator(make_estimator("burgers", max_time=3.0)).max_time == 3.0


def test_help_is_plain_text_and_names_every_benchmark(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for markup in (":class:", ":func:", ":data:", ":mod:", "``", "`"):
        assert markup not in out, markup
    assert "--max-time" in out and "reproducible" in out
    for name, spec in BENCHMARKS.items():
        assert f"- {name}: {spec.title}" in out


def test_module_docstring_counts_and_lists_the_registry():
    import skoperator.reproduce

    doc = skoperator.reproduce.__doc__
    assert "three benchmarks" not in doc
    assert f"The {len(BENCHMARKS)} benchmarks" in doc
    for name in BENCHMARKS:
        assert f"``{name}``" in doc


def test_an_ensemble_recipe_shares_the_clock_among_its_members():
    from skoperator.uncertainty import EnsembleRegressor

    model = make_estimator("antiderivative", n_eval=10, random_state=4, ensemble=4,
                           max_time=30.0, max_iter=2)
    assert isinstance(model, EnsembleRegressor)
    assert model.n_estimators == 4 and model.n_jobs == 1 and model.random_state == 4
    member = final_estimator(model)
    assert member.max_time == 7.5 and member.max_iter == 2
    # symmetries=False: one bare member, with the whole clock
    bare = make_estimator("antiderivative", n_eval=10, ensemble=4, max_time=30.0,
                          symmetries=False)
    assert isinstance(bare, DeepONetRegressor) and bare.max_time == 30.0
    # fitted: the members' mean, each a fit of its own
    rows = load_benchmark("antiderivative", 40, n_test=10, random_state=0)
    U, G, U_test = rows[0], rows[1], rows[2]
    model = make_estimator("antiderivative", n_eval=10, random_state=4, ensemble=2, max_iter=2)
    model.fit(U, G)
    members = [m.predict(U_test) for m in model.estimators_]
    np.testing.assert_allclose(model.predict(U_test), np.mean(members, axis=0), rtol=1e-6)
    assert not np.allclose(members[0], members[1])
