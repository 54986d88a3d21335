"""Tests of the heat-conduction solver and generator."""

from pathlib import Path

import numpy as np
import pytest

from skoperator.datasets import make_heat_conduction, solve_heat_conduction

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "heat2d_reference"
N = 32
CENTRES = (np.arange(N) + 0.5) / N


def _grid(values):
    """(n, 1024) -> (n, 32, 32) indexed [field, i2, i1]."""
    return np.asarray(values).reshape(-1, N, N)


@pytest.fixture(scope="module")
def fields():
    U, _, G = make_heat_conduction(8, random_state=0)
    return U, G


@pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"no reference data at {REFERENCE}")
def test_solver_reproduces_reference_fields():
    K = np.load(REFERENCE / "inputs_test.npy")
    T_ref = np.load(REFERENCE / "target_values_test.npy")
    assert K.shape == T_ref.shape == (500, 1024)
    T = solve_heat_conduction(K)  # float32 in, float64 computation
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
    g1 = make_heat_conduction(2, random_state=np.random.default_rng(3))
    g2 = make_heat_conduction(2, random_state=np.random.default_rng(3))
    np.testing.assert_array_equal(g1[0], g2[0])


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
    V, _, _ = make_heat_conduction(400, length_scales=(0.15, 0.1), random_state=0)
    _, _, d1, _ = _log_k_statistics(V)
    assert d1 == pytest.approx(np.exp(-0.5 * (3 / N / 0.15) ** 2), abs=0.05)


@pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"no reference data at {REFERENCE}")
def test_log_conductivity_statistics_match_reference():
    K_ref = np.load(REFERENCE / "inputs_test.npy").astype(np.float64)
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
        (np.r_[np.ones(1023), np.nan], r"finite, got 1 NaN or infinite"),
        (np.r_[np.ones(1023), np.inf], r"finite"),
        (["a"] * 1024, r"could not be converted to float64"),
    ],
)
def test_solve_heat_conduction_rejects_bad_input(K, match):
    with pytest.raises(ValueError, match=match):
        solve_heat_conduction(K)


@pytest.mark.parametrize("n_functions", [0, 1.0, False, "2"])
def test_make_heat_conduction_rejects_bad_n_functions(n_functions):
    with pytest.raises(ValueError, match="n_functions must be an int >= 1"):
        make_heat_conduction(n_functions)


@pytest.mark.parametrize(
    "length_scales, match",
    [
        (0.1, "length_scales must be a pair"),
        ((0.1, 0.1, 0.1), "length_scales must be a pair"),
        ((0.1, 0.0), r"length_scales\[1\] must be a finite number > 0"),
    ],
)
def test_make_heat_conduction_rejects_bad_length_scales(length_scales, match):
    with pytest.raises(ValueError, match=match):
        make_heat_conduction(2, length_scales=length_scales)


def test_authors_predictions_score_as_their_readme_says():
    """The reference README's R2 of the authors' own model, quoted in docs/benchmarks.md."""
    if not (REFERENCE / "predicted_values_test.npy").exists():
        pytest.skip("the authors' reference fields are not present")
    from skoperator.metrics import mean_function_r2

    T = np.load(REFERENCE / "target_values_test.npy").astype(np.float64)
    P = np.load(REFERENCE / "predicted_values_test.npy").astype(np.float64)
    assert mean_function_r2(T, P) == pytest.approx(0.99582, abs=5e-6)
