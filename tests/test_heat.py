"""Tests of the heat-conduction solver, generator and reference-data loader."""

import numpy as np
import pytest

from skoperator.datasets import (
    _reference,
    load_heat_reference,
    make_heat_conduction,
    solve_heat_conduction,
)

N = 32
CENTRES = (np.arange(N) + 0.5) / N


def _grid(values):
    """(n, 1024) -> (n, 32, 32) indexed [field, i2, i1]."""
    return np.asarray(values).reshape(-1, N, N)


def _reference_or_skip(**kwargs):
    """The authors' fields, or a skip when they are not on this machine."""
    try:
        return load_heat_reference(**kwargs)
    except FileNotFoundError as exc:
        pytest.skip(f"no heat reference data: {exc}")


@pytest.fixture(scope="module")
def fields():
    U, _, G = make_heat_conduction(8, random_state=0)
    return U, G


def test_solver_reproduces_reference_fields():
    K, coords, T_ref = _reference_or_skip()
    assert K.shape == T_ref.shape == (500, 1024)
    assert K.dtype == T_ref.dtype == np.float64
    np.testing.assert_array_equal(coords, make_heat_conduction(1, random_state=0)[1])
    T = solve_heat_conduction(K)  # float32 values, float64 computation
    assert T.dtype == np.float64
    # The reference is stored in float32 (spacing 6e-8 near 1).
    assert np.abs(T - T_ref).max() <= 1e-6
    assert np.abs(T - T_ref).mean() <= 1e-7


@pytest.mark.parametrize("k", [1.0, 7.3, 0.005])
def test_constant_conductivity_gives_linear_profile(k):
    T = solve_heat_conduction(np.full(1024, k))
    np.testing.assert_allclose(_grid(T)[0], np.tile(1 - CENTRES, (N, 1)), atol=1e-12)


def test_conductivity_varying_along_x1_gives_series_resistances():
    rng = np.random.default_rng(0)
    k1 = np.exp(rng.standard_normal(N))  # K(x1), the same in every row
    T = _grid(solve_heat_conduction(np.tile(k1, N)))[0]
    h = 1.0 / N
    # Resistances in series: half cell, N - 1 faces (arithmetic mean), half cell.
    face = 0.5 * (k1[:-1] + k1[1:])
    drops = np.concatenate([[h / (2 * k1[0])], h / face])
    q = 1.0 / (drops.sum() + h / (2 * k1[-1]))  # flux per unit length
    expected = 1.0 - q * np.cumsum(drops)
    np.testing.assert_allclose(T, np.tile(expected, (N, 1)), rtol=0, atol=1e-12)


def test_flux_is_conserved(fields):
    U, G = fields
    K, T = _grid(U), _grid(G)
    # Heat through every plane x1 = const (per unit depth; h cancels).
    inflow = (2 * K[:, :, 0] * (1 - T[:, :, 0])).sum(axis=1)
    outflow = (2 * K[:, :, -1] * T[:, :, -1]).sum(axis=1)
    k_face = 0.5 * (K[:, :, :-1] + K[:, :, 1:])
    interior = (k_face * (T[:, :, :-1] - T[:, :, 1:])).sum(axis=1)
    assert np.all(inflow > 0)
    np.testing.assert_allclose(outflow, inflow, rtol=1e-10)
    np.testing.assert_allclose(interior, inflow[:, None] * np.ones(N - 1), rtol=1e-10)


def test_maximum_principle(fields):
    _, G = fields
    assert np.all((G > 0) & (G < 1))


def test_single_field_gives_single_result(fields):
    U, G = fields
    T = solve_heat_conduction(U[2])
    assert T.shape == (1024,)
    np.testing.assert_allclose(T, G[2], rtol=0, atol=1e-14)


def test_n_jobs_gives_identical_results():
    U, _, G = make_heat_conduction(260, random_state=5)
    np.testing.assert_array_equal(solve_heat_conduction(U, n_jobs=2), G)


def test_make_heat_conduction_shapes_dtypes_and_coordinates():
    U, Y, G = make_heat_conduction(3, random_state=0)
    assert U.shape == G.shape == (3, 1024) and Y.shape == (1024, 2)
    assert U.dtype == Y.dtype == G.dtype == np.float64
    # Row-major, x1 fastest: index = i2 * 32 + i1.
    np.testing.assert_allclose(Y[:, 0], np.tile(CENTRES, N))
    np.testing.assert_allclose(Y[:, 1], np.repeat(CENTRES, N))
    assert tuple(Y[33]) == (1.5 / N, 1.5 / N)
    np.testing.assert_allclose(G, solve_heat_conduction(U), rtol=0, atol=0)


def test_make_heat_conduction_deterministic_per_seed():
    a = make_heat_conduction(2, random_state=3)
    b = make_heat_conduction(2, random_state=np.random.RandomState(3))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    c = make_heat_conduction(2, random_state=4)
    assert not np.allclose(a[0], c[0])
    # random_state takes what scikit-learn takes: int, RandomState or None.
    with pytest.raises(ValueError, match="'random_state' parameter"):
        make_heat_conduction(2, random_state=np.random.default_rng(3))


def _log_k_statistics(K):
    """Mean, variance and correlations at lags of 3 cells in x1, 5 cells in x2."""
    log_k = np.log(_grid(K))
    log_k = log_k - log_k.mean()
    var = np.mean(log_k**2)
    c1 = np.mean(log_k[:, :, :-3] * log_k[:, :, 3:]) / var
    c2 = np.mean(log_k[:, :-5, :] * log_k[:, 5:, :]) / var
    return np.log(_grid(K)).mean(), var, c1, c2


def test_log_conductivity_statistics():
    U, _, _ = make_heat_conduction(400, random_state=0)
    assert np.all((U >= 0.005) & (U <= 33.115))
    mean, var, c1, c2 = _log_k_statistics(U)
    assert abs(mean) < 0.05
    # Tolerances are about 4 standard errors of these estimates.
    assert var == pytest.approx(1.0, abs=0.1)
    assert c1 == pytest.approx(np.exp(-0.5 * (3 / N / 0.1) ** 2), abs=0.05)
    assert c2 == pytest.approx(np.exp(-0.5 * (5 / N / 0.15) ** 2), abs=0.05)
    # Anisotropic length scales swap the correlations.
    V, _, _ = make_heat_conduction(400, length_scale=(0.15, 0.1), random_state=0)
    _, _, d1, _ = _log_k_statistics(V)
    assert d1 == pytest.approx(np.exp(-0.5 * (3 / N / 0.15) ** 2), abs=0.05)


def test_log_conductivity_statistics_match_reference():
    K_ref, _, _ = _reference_or_skip()
    U, _, _ = make_heat_conduction(500, random_state=0)
    ours, theirs = _log_k_statistics(U), _log_k_statistics(K_ref)
    np.testing.assert_allclose(ours, theirs, atol=0.06)


@pytest.mark.parametrize(
    "K, match",
    [
        (np.ones(1000), r"shape \(n_fields, 1024\).*got shape \(1000,\)"),
        (np.ones((2, 32, 32)), r"got shape \(2, 32, 32\)"),
        (np.ones((0, 1024)), r"n_fields >= 1.*got shape \(0, 1024\)"),
        (np.ones((3, 512)), r"got shape \(3, 512\)"),
        (np.r_[np.ones(1023), 0.0], r"strictly positive.*K\[0, 1023\] = 0.0"),
        (-np.ones((2, 1024)), r"strictly positive.*pass K = exp\(log K\)"),
        (np.r_[np.ones(1023), np.nan], r"finite, got 1 NaN or infinite.*K\[0\]"),
        (np.r_[np.ones(1023), np.inf], r"finite"),
        (["a"] * 1024, r"could not be converted to float64"),
        (2.0, r"'K' parameter of solve_heat_conduction must be an array-like"),
    ],
)
def test_solve_heat_conduction_rejects_bad_input(K, match):
    with pytest.raises(ValueError, match=match):
        solve_heat_conduction(K)


@pytest.mark.parametrize("n_functions", [0, 1.0, False, "2"])
def test_make_heat_conduction_rejects_bad_n_functions(n_functions):
    with pytest.raises(ValueError, match=r"'n_functions' parameter .* range \[1, inf\)"):
        make_heat_conduction(n_functions)


@pytest.mark.parametrize(
    "length_scale, match",
    [
        (0.0, r"'length_scale' parameter .* range \(0.0, inf\) or an array-like"),
        ("0.1", r"'length_scale' parameter"),
        ((0.1, 0.1, 0.1), r"one float > 0 or a pair .* got \(0.1, 0.1, 0.1\)"),
        ((0.1, 0.0), "one float > 0 or a pair"),
        ((0.1, np.inf), "one float > 0 or a pair"),
        (("a", 0.1), "one float > 0 or a pair"),
    ],
)
def test_make_heat_conduction_rejects_bad_length_scale(length_scale, match):
    with pytest.raises(ValueError, match=match):
        make_heat_conduction(2, length_scale=length_scale)


def test_make_heat_conduction_one_length_scale_for_both_directions():
    a = make_heat_conduction(2, length_scale=0.12, random_state=0)
    b = make_heat_conduction(2, length_scale=(0.12, 0.12), random_state=0)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_make_heat_conduction_deprecated_length_scales():
    with pytest.warns(FutureWarning, match="length_scales was renamed to length_scale"):
        old = make_heat_conduction(2, length_scales=(0.15, 0.1), random_state=4)
    new = make_heat_conduction(2, length_scale=(0.15, 0.1), random_state=4)
    for x, y in zip(old, new):
        np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError, match="both length_scales=.*pass length_scale only"):
        make_heat_conduction(2, length_scales=(0.1, 0.1), length_scale=(0.1, 0.1))


def test_authors_predictions_score_as_their_readme_says():
    """The reference README's R2 of the authors' own model, quoted in docs/benchmarks.md."""
    from skoperator.metrics import mean_function_r2

    _, _, T, P = _reference_or_skip(return_prediction=True)
    assert P.shape == (500, 1024) and P.dtype == np.float64
    assert mean_function_r2(T, P) == pytest.approx(0.99582, abs=5e-6)


# ---------------------------------------------------------------------------
# load_heat_reference on small stand-in files
# ---------------------------------------------------------------------------
FILES = ("inputs_test.npy", "target_values_test.npy", "predicted_values_test.npy")


def _write_reference(folder, n_fields=3, seed=0, files=FILES):
    """Stand-in reference files (float32, n_fields x 1024); return their arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = [rng.random((n_fields, 1024)).astype(np.float32) + 0.5 for _ in files]
    for name, array in zip(files, arrays):
        np.save(folder / name, array)
    return arrays


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv("SKOPERATOR_HEAT_REFERENCE", raising=False)


def _assert_loaded(result, arrays):
    K, coords, T, *rest = result
    for got, want in zip([K, T, *rest], [arrays[0], arrays[1], *arrays[2:len(rest) + 2]]):
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, want.astype(np.float64))
    _, Y, _ = make_heat_conduction(1, random_state=0)
    np.testing.assert_array_equal(coords, Y)


@pytest.mark.parametrize("subfolder", ["", "heat2d_reference"])
def test_load_heat_reference_from_data_home(tmp_path, no_env, subfolder):
    arrays = _write_reference(tmp_path / subfolder)
    _assert_loaded(load_heat_reference(tmp_path), arrays)
    result = load_heat_reference(str(tmp_path), return_prediction=True)
    assert len(result) == 4
    _assert_loaded(result, arrays)


def test_load_heat_reference_from_environment_variable(tmp_path, monkeypatch):
    arrays = _write_reference(tmp_path / "env", seed=1)
    monkeypatch.setenv("SKOPERATOR_HEAT_REFERENCE", str(tmp_path / "env"))
    _assert_loaded(load_heat_reference(), arrays)
    # data_home wins over the environment variable.
    other = _write_reference(tmp_path / "home", seed=2)
    _assert_loaded(load_heat_reference(tmp_path / "home"), other)


def test_load_heat_reference_from_shared_folder_next_to_working_directory(
    tmp_path, monkeypatch, no_env
):
    arrays = _write_reference(tmp_path / "shared" / "data" / "heat2d_reference", seed=3)
    (tmp_path / "checkout").mkdir()
    monkeypatch.chdir(tmp_path / "checkout")
    _assert_loaded(load_heat_reference(), arrays)


def test_load_heat_reference_error_names_every_place(tmp_path, monkeypatch, no_env):
    with pytest.raises(FileNotFoundError) as info:
        load_heat_reference(tmp_path)
    message = str(info.value)
    assert f"- {tmp_path}\n" in message
    assert f"- {tmp_path / 'heat2d_reference'}\n" in message
    assert "inputs_test.npy, target_values_test.npy" in message
    assert "SKOPERATOR_HEAT_REFERENCE" in message and "data_home" in message

    monkeypatch.setenv("SKOPERATOR_HEAT_REFERENCE", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=r"\$SKOPERATOR_HEAT_REFERENCE") as info:
        load_heat_reference()
    assert str(tmp_path / "missing") in str(info.value)

    # The default places: next to the working directory and to the checkout.
    monkeypatch.delenv("SKOPERATOR_HEAT_REFERENCE")
    fake_module = tmp_path / "co" / "skoperator" / "datasets" / "_reference.py"
    monkeypatch.setattr(_reference, "__file__", str(fake_module))
    (tmp_path / "cwd" / "work").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "cwd" / "work")
    with pytest.raises(FileNotFoundError, match="default places") as info:
        load_heat_reference()
    message = str(info.value)
    assert str(tmp_path / "cwd" / "shared" / "data" / "heat2d_reference") in message
    assert str(tmp_path / "shared" / "data" / "heat2d_reference") in message


def test_load_heat_reference_needs_the_prediction_file_only_when_asked(tmp_path, no_env):
    arrays = _write_reference(tmp_path, files=FILES[:2])
    _assert_loaded(load_heat_reference(tmp_path), arrays)
    with pytest.raises(FileNotFoundError, match="predicted_values_test.npy"):
        load_heat_reference(tmp_path, return_prediction=True)


def test_load_heat_reference_rejects_files_of_another_shape(tmp_path, no_env):
    _write_reference(tmp_path)
    np.save(tmp_path / "target_values_test.npy", np.ones((3, 512), dtype=np.float32))
    with pytest.raises(ValueError, match=r"shape \(3, 512\), expected \(n_fields, 1024\)"):
        load_heat_reference(tmp_path)
    np.save(tmp_path / "target_values_test.npy", np.ones((4, 1024), dtype=np.float32))
    with pytest.raises(ValueError, match="do not match"):
        load_heat_reference(tmp_path)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"data_home": 3}, "'data_home' parameter"),
        ({"return_prediction": "yes"}, "'return_prediction' parameter"),
    ],
)
def test_load_heat_reference_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_heat_reference(**kwargs)


@pytest.mark.parametrize("scale", [1e-320, 1e308])
def test_conductivity_out_of_float64_range_is_named(scale):
    # SuperLU's bare "Factor is exactly singular" became an error naming K.
    with np.errstate(all="ignore"), pytest.raises(
            FloatingPointError, match="values of K .*divide K by its median"):
        solve_heat_conduction(np.full(1024, scale))
    # The same field rescaled solves, to the constant-K answer T = 1 - x1.
    T = solve_heat_conduction(np.full(1024, scale) / scale).reshape(N, N)
    np.testing.assert_allclose(T, np.broadcast_to(1 - CENTRES, (N, N)), atol=1e-12)
