"""Tests of the diffusion-reaction generator and its solver."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.interpolate import CubicSpline

from skoperator.datasets import make_diffusion_reaction, solve_diffusion_reaction
from skoperator.datasets._grf import _se_kernel_factor

D = 0.01
CENTRES = (np.arange(100) + 0.5) / 100


@pytest.fixture(scope="module")
def sources():
    """Three sources from the generator's own field."""
    U, _, _ = make_diffusion_reaction(3, random_state=1)
    return U


def test_make_diffusion_reaction_shapes_dtypes_and_layout():
    U, Y, G = make_diffusion_reaction(4, random_state=0)
    assert U.shape == (4, 100) and Y.shape == (10100, 2) and G.shape == (4, 10100)
    assert U.dtype == Y.dtype == G.dtype == np.float64
    t, x = Y[:, 0].reshape(101, 100), Y[:, 1].reshape(101, 100)
    # t-major: each block of 100 rows is one time at all cell centres.
    np.testing.assert_allclose(t, np.repeat(np.linspace(0, 1, 101)[:, None], 100, 1))
    np.testing.assert_allclose(x, np.tile(CENTRES, (101, 1)))
    assert Y[0, 0] == 0.0 and Y[99, 0] == 0.0 and Y[100, 0] == pytest.approx(0.01)
    assert np.all(np.isfinite(G))


def test_make_diffusion_reaction_custom_grid_shapes():
    U, Y, G = make_diffusion_reaction(2, n_sensors=20, n_times=11, random_state=0)
    assert U.shape == (2, 20) and Y.shape == (220, 2) and G.shape == (2, 220)
    np.testing.assert_allclose(Y[:20, 1], (np.arange(20) + 0.5) / 20)
    np.testing.assert_allclose(np.unique(Y[:, 0]), np.linspace(0, 1, 11))


def test_make_diffusion_reaction_deterministic_per_seed():
    a = make_diffusion_reaction(2, n_times=11, random_state=7)
    b = make_diffusion_reaction(2, n_times=11, random_state=np.random.RandomState(7))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    c = make_diffusion_reaction(2, n_times=11, random_state=8)
    assert not np.allclose(a[0], c[0]) and not np.allclose(a[2], c[2])


def test_make_diffusion_reaction_rejects_numpy_generator():
    # random_state takes what scikit-learn takes: int, RandomState or None.
    with pytest.raises(ValueError, match="'random_state' parameter"):
        make_diffusion_reaction(2, n_times=11, random_state=np.random.default_rng(3))


@pytest.mark.parametrize("old, new", [("n_x", "n_sensors"), ("n_t", "n_times")])
def test_make_diffusion_reaction_deprecated_names(old, new):
    grid = {"n_sensors": 20, "n_times": 11}
    value = grid.pop(new)
    with pytest.warns(FutureWarning, match=f"{old} was renamed to {new}"):
        old_result = make_diffusion_reaction(2, random_state=0, **grid, **{old: value})
    new_result = make_diffusion_reaction(2, random_state=0, **grid, **{new: value})
    for x, y in zip(old_result, new_result):
        np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError, match=f"both {old}=.*pass {new} only"):
        make_diffusion_reaction(2, **{old: value, new: value})


def test_make_diffusion_reaction_samples_the_documented_field():
    U, _, _ = make_diffusion_reaction(5, n_times=2, random_state=11)
    factor = _se_kernel_factor(CENTRES, 0.2)
    z = np.random.RandomState(11).standard_normal((5, 100))
    np.testing.assert_allclose(U, z @ factor.T, rtol=0, atol=1e-12)


def test_grf_statistics():
    factor = _se_kernel_factor(CENTRES, 0.2)
    S = np.random.default_rng(0).standard_normal((4000, 100)) @ factor.T
    assert abs(S.mean()) < 0.05
    assert S.var(axis=0).mean() == pytest.approx(1.0, abs=0.05)
    lag = 20  # 0.2 in x: correlation exp(-0.5)
    corr = np.mean(S[:, :-lag] * S[:, lag:]) / np.mean(S * S)
    assert corr == pytest.approx(np.exp(-0.5), abs=0.05)
    corr_small = np.mean(S[:, :-5] * S[:, 5:]) / np.mean(S * S)
    assert corr_small == pytest.approx(np.exp(-0.5 * 0.25**2), abs=0.03)


def test_solution_starts_at_zero_and_vanishes_at_the_walls(sources):
    G = solve_diffusion_reaction(sources).reshape(-1, 101, 100)
    assert np.all(G[:, 0] == 0.0)
    assert np.all(np.abs(G[:, 1:]).max(axis=(1, 2)) > 0)
    # Quadratic extrapolation of the first / last three cells to the walls.
    left = (15 * G[..., 0] - 10 * G[..., 1] + 3 * G[..., 2]) / 8
    right = (15 * G[..., -1] - 10 * G[..., -2] + 3 * G[..., -3]) / 8
    scale = np.abs(G).max()
    assert np.abs(left[:, 50:]).max() < 1e-3 * scale
    assert np.abs(right[:, 50:]).max() < 1e-3 * scale


def test_solution_mirrors_with_the_source(sources):
    G = solve_diffusion_reaction(sources).reshape(-1, 101, 100)
    G_flip = solve_diffusion_reaction(sources[:, ::-1]).reshape(-1, 101, 100)
    np.testing.assert_allclose(G_flip, G[..., ::-1], rtol=0, atol=1e-12)


def test_convergence_under_refinement(sources):
    # Refine space and time together by 2 and 4: fourth-order convergence.
    G1 = solve_diffusion_reaction(sources, refine_x=1, substeps=1)
    G2 = solve_diffusion_reaction(sources, refine_x=2, substeps=2)
    G4 = solve_diffusion_reaction(sources, refine_x=4, substeps=4)
    scale = np.abs(G4).max()
    d12, d24 = np.abs(G1 - G2).max(), np.abs(G2 - G4).max()
    assert d12 / d24 > 12  # ~16 for fourth order
    assert np.abs(G1 - G4).max() < 2e-6 * scale
    # The default resolution is refine_x=1, substeps=1.
    np.testing.assert_array_equal(solve_diffusion_reaction(sources), G1)


def test_time_convergence_with_strong_reaction(sources):
    # With k = 1 the reaction matters; ETDRK4 converges at fourth order in time.
    S = 0.5 * sources
    Gs = [solve_diffusion_reaction(S, reaction=1.0, substeps=m) for m in (1, 2, 4)]
    d1, d2 = np.abs(Gs[0] - Gs[1]).max(), np.abs(Gs[1] - Gs[2]).max()
    assert d1 / d2 > 12
    assert d1 < 1e-7 * np.abs(Gs[2]).max()


def test_exact_solution_without_reaction():
    s = np.sin(np.pi * CENTRES)[None, :]
    G = solve_diffusion_reaction(s, reaction=0.0).reshape(101, 100)
    t = np.linspace(0, 1, 101)[:, None]
    exact = (1 - np.exp(-D * np.pi**2 * t)) * np.sin(np.pi * CENTRES) / (D * np.pi**2)
    assert np.abs(G - exact).max() < 1e-7 * np.abs(exact).max()


def test_matches_independent_method_of_lines_with_strong_reaction(sources):
    # Second-order finite differences + LSODA on a fine grid, k = 1.
    s_sensors, k, n = 0.5 * sources[0], 1.0, 800
    x = np.arange(1, n) / n
    s = CubicSpline(CENTRES, s_sensors)(x)

    def rhs(t, u):
        up = np.concatenate([[0.0], u, [0.0]])
        return D * (up[2:] - 2 * up[1:-1] + up[:-2]) * n**2 + k * u * u + s

    sol = solve_ivp(rhs, (0, 1), np.zeros(n - 1), method="LSODA", lband=1,
                    uband=1, t_eval=np.linspace(0, 1, 101), rtol=1e-10, atol=1e-12)
    reference = sol.y[(n // 200) * (2 * np.arange(100) + 1) - 1].T
    G = solve_diffusion_reaction(s_sensors[None], reaction=k).reshape(101, 100)
    G_linear = solve_diffusion_reaction(s_sensors[None], reaction=0.0)
    scale = np.abs(G).max()
    assert np.abs(G - reference).max() < 1e-5 * scale  # O(h^2) of the reference
    assert np.abs(G.ravel() - G_linear.ravel()).max() > 1e-2 * scale


def test_n_jobs_gives_identical_results():
    S = np.random.default_rng(0).standard_normal((300, 100)) @ _se_kernel_factor(
        CENTRES, 0.2
    ).T
    serial = solve_diffusion_reaction(S, n_times=11)
    threaded = solve_diffusion_reaction(S, n_times=11, n_jobs=2)
    np.testing.assert_array_equal(serial, threaded)


def test_blow_up_raises():
    S = 3.0 * np.ones((1, 100))
    with pytest.raises(FloatingPointError, match="reaction"):
        solve_diffusion_reaction(S, reaction=20.0)


@pytest.mark.parametrize("n_functions", [0, -1, 2.5, "3", None])
def test_bad_n_functions_raises(n_functions):
    with pytest.raises(ValueError, match="'n_functions' parameter .* int in the range"):
        make_diffusion_reaction(n_functions)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"diffusivity": 0.0}, r"'diffusivity' parameter .* range \(0.0, inf\)"),
        ({"diffusivity": np.nan}, "'diffusivity' parameter"),
        ({"reaction": np.inf}, r"'reaction' parameter .* range \(-inf, inf\)"),
        ({"length_scale": -0.2}, "'length_scale' parameter"),
        ({"n_sensors": 1}, r"'n_sensors' parameter .* range \[2, inf\)"),
        ({"n_times": 1.5}, "'n_times' parameter .* int"),
        ({"n_x": 1}, "'n_x' parameter"),
        ({"n_jobs": "2"}, "'n_jobs' parameter"),
    ],
)
def test_bad_parameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_diffusion_reaction(2, **kwargs)


@pytest.mark.parametrize(
    "S, kwargs, match",
    [
        (np.ones((2, 1)), {}, r"S must have shape \(n_functions, n_sensors\).*got shape \(2, 1\)"),
        (np.ones((2, 3, 4)), {}, r"got shape \(2, 3, 4\)"),
        (np.r_[np.ones(9), np.nan], {}, "S must be finite"),
        (np.ones(10), {"n_times": 1}, "'n_times' parameter"),
        (np.ones(10), {"refine_x": 0}, "'refine_x' parameter"),
        (3.0, {}, "'S' parameter .* array-like"),
    ],
)
def test_solve_diffusion_reaction_rejects_bad_input(S, kwargs, match):
    with pytest.raises(ValueError, match=match):
        solve_diffusion_reaction(S, **kwargs)


def test_solve_diffusion_reaction_one_function_gives_one_result(sources):
    G = solve_diffusion_reaction(sources, n_times=11)
    np.testing.assert_array_equal(solve_diffusion_reaction(sources[1], n_times=11), G[1])


def test_unresolved_reaction_raises_instead_of_returning_wrong_values():
    # A constant source of 2.35 with k = 1 grows to |u| = 40 by t = 1, where the
    # default step (dt = 0.01) was off by more than 1e-4, silently; 2.5 blows up.
    S = np.full(100, 2.35)
    with pytest.raises(FloatingPointError, match=r"reaction term: .*= 0\.40.*substeps=3\)"):
        solve_diffusion_reaction(S, reaction=1.0)
    G = solve_diffusion_reaction(S, reaction=1.0, substeps=3)
    reference = solve_diffusion_reaction(S, reaction=1.0, substeps=12)
    assert np.abs(G - reference).max() < 1e-5 * np.abs(reference).max()
    with pytest.raises(FloatingPointError, match="most likely blows up before t = 1"):
        solve_diffusion_reaction(np.full(100, 2.5), reaction=1.0)
    # Through the generator (no substeps there): no data at 1e80 come back.
    with pytest.raises(FloatingPointError, match="reaction coefficient"):
        make_diffusion_reaction(50, reaction=1.0, random_state=0)
