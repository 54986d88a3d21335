"""Tests of skoperator.datasets as a whole: the antiderivative and Poisson
problems, the arrays of the old call signatures, argument validation and the
deprecated names. The heat and diffusion-reaction solvers have their own
files."""

import numpy as np
import pytest
from scipy.integrate import cumulative_trapezoid
from scipy.linalg import solve_banded

import skoperator.datasets as datasets
from skoperator.datasets import (
    load_heat_reference,
    make_antiderivative,
    make_diffusion_reaction,
    make_heat_conduction,
    make_poisson,
    solve_antiderivative,
    solve_diffusion_reaction,
    solve_heat_conduction,
    solve_poisson,
)

GENERATORS = [make_antiderivative, make_poisson, make_diffusion_reaction,
              make_heat_conduction]


def test_public_names():
    assert sorted(datasets.__all__) == [
        "darcy_symmetry", "heat_conduction_symmetries", "load_heat_reference", "make_advection",
        "make_antiderivative",
        "make_burgers", "make_darcy",
        "make_diffusion_reaction", "make_heat_conduction", "make_navier_stokes",
        "make_poisson", "navier_stokes_symmetry", "solve_antiderivative", "solve_burgers",
        "solve_darcy",
        "solve_diffusion_reaction", "solve_heat_conduction", "solve_navier_stokes",
        "solve_poisson"]
    for name in datasets.__all__:
        assert getattr(datasets, name).__module__.startswith("skoperator.datasets.")


# ---------------------------------------------------------------------------
# The same seed gives the arrays of the code before the datasets package (the
# paper benchmarks and the docs depend on them). Recorded from commit bd8d0b4
# with its call signatures: (U.sum(), U[-1, 1]) and (G.sum(), G[0, -1],
# G[-1, n_points // 2]).
# ---------------------------------------------------------------------------
RECORDED = [
    (make_antiderivative, dict(n_functions=5, random_state=0),
     (57.64582749998368, -0.6542134279959677),
     (92.26444614309855, 1.1718383099719092, -0.19786705054384093)),
    (make_antiderivative, dict(n_functions=7, n_points=30, random_state=1),
     (34.11356458478173, -1.2001235812999558),
     (8.343467892120856, -0.2421797794976361, 0.010122243293401237)),
    (make_antiderivative, dict(n_functions=4, n_points=50, length_scale=0.5, random_state=2),
     (13.060865086418112, 0.6011642726477167),
     (23.674473895166244, -0.9016635198609627, 0.18972772101916602)),
    (make_diffusion_reaction, dict(n_functions=3, n_x=20, n_t=11, random_state=0),
     (10.111775507427076, -1.3658214749366517),
     (65.78248362359929, 0.3355087947627067, -0.3918586283248076)),
    (make_heat_conduction, dict(n_functions=3, random_state=0),
     (3787.726294300161, 0.24843386650471921),
     (1491.1877216469882, 0.018537199302270144, 0.9804249774566771)),
    (make_heat_conduction, dict(n_functions=2, length_scales=(0.15, 0.1), random_state=4),
     (3759.7940786704344, 1.6893767568749083),
     (1012.5380280023286, 0.008507139394925329, 0.9869442591582849)),
]


def _summary(U, G):
    return ((U.sum(), U[-1, 1]), (G.sum(), G[0, -1], G[-1, G.shape[1] // 2]))


@pytest.mark.filterwarnings("ignore:.*was renamed:FutureWarning")
@pytest.mark.parametrize("make, kwargs, u_values, g_values", RECORDED)
def test_old_call_signatures_give_the_recorded_arrays(make, kwargs, u_values, g_values):
    U, _, G = make(**kwargs)
    got_u, got_g = _summary(U, G)
    # The Gaussian random fields come from an ill-conditioned covariance: its
    # factorisation rounds differently on other CPUs and BLAS builds (relative
    # differences up to 1e-6 measured), while another random stream or a
    # changed generator moves these sums by orders of magnitude more.
    np.testing.assert_allclose(got_u, u_values, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(got_g, g_values, rtol=1e-5, atol=1e-8)


RENAMES = {"n_x": "n_sensors", "n_t": "n_times", "length_scales": "length_scale"}


@pytest.mark.parametrize("make, kwargs", [(m, k) for m, k, _, _ in RECORDED
                                          if set(k) & set(RENAMES)])
def test_deprecated_names_warn_and_give_the_same_arrays(make, kwargs):
    new_kwargs = {RENAMES.get(key, key): value for key, value in kwargs.items()}
    with pytest.warns(FutureWarning, match="was renamed to"):
        old = make(**kwargs)
    for a, b in zip(old, make(**new_kwargs)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("make", GENERATORS)
def test_same_seed_same_arrays(make):
    small = {"n_times": 3} if make is make_diffusion_reaction else {}
    a = make(2, random_state=7, **small)
    b = make(2, random_state=np.random.RandomState(7), **small)
    c = make(2, random_state=8, **small)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.allclose(a[0], c[0])
    # random_state takes what scikit-learn takes: int, RandomState or None.
    with pytest.raises(ValueError, match="'random_state' parameter .*RandomState"):
        make(2, random_state=np.random.default_rng(7), **small)


# ---------------------------------------------------------------------------
# Antiderivative
# ---------------------------------------------------------------------------
def _trapezoid_to(u, sensors, x):
    """int_0^x of the piecewise-linear interpolant of u, the long way."""
    inside = sensors[sensors < x]
    nodes = np.r_[inside, x]
    return np.trapezoid(np.interp(nodes, sensors, u), nodes)


def test_make_antiderivative_shapes_and_defaults():
    U, Y, G = make_antiderivative(60, n_points=30, random_state=0)
    assert U.shape == (60, 30) and Y.shape == (30, 1) and G.shape == (60, 30)
    assert U.dtype == Y.dtype == G.dtype == np.float64
    for x, y in zip(make_antiderivative(4, n_sensors=30, n_points=30, random_state=0),
                    make_antiderivative(4, n_points=30, random_state=0)):
        np.testing.assert_array_equal(x, y)
    U, Y, G = make_antiderivative(3, n_sensors=17, n_points=41, random_state=0)
    assert U.shape == (3, 17) and G.shape == (3, 41)
    np.testing.assert_array_equal(Y[:, 0], np.linspace(0, 1, 41))
    assert np.all(G[:, 0] == 0.0)


def test_antiderivative_exact_at_the_sensors():
    U, Y, G = make_antiderivative(5, n_points=64, random_state=3)
    expected = cumulative_trapezoid(U, Y[:, 0], axis=1, initial=0.0)
    np.testing.assert_allclose(G, expected, rtol=0, atol=1e-14)


def test_antiderivative_exact_between_the_sensors():
    U, Y, G = make_antiderivative(3, n_sensors=11, n_points=37, random_state=4)
    sensors = np.linspace(0, 1, 11)
    expected = [[_trapezoid_to(u, sensors, x) for x in Y[:, 0]] for u in U]
    np.testing.assert_allclose(G, expected, rtol=0, atol=1e-14)
    np.testing.assert_array_equal(G, solve_antiderivative(U, Y))


def test_solve_antiderivative_of_a_linear_function_is_exact():
    a, b = 0.7, -2.3
    x = np.random.default_rng(0).random(50)  # any order
    G = solve_antiderivative(a + b * np.linspace(0, 1, 7), x)
    np.testing.assert_allclose(G, a * x + b * x**2 / 2, rtol=0, atol=1e-15)


def test_solve_antiderivative_accepts_one_function_and_column_points():
    U, Y, G = make_antiderivative(3, n_sensors=9, n_points=20, random_state=0)
    np.testing.assert_array_equal(solve_antiderivative(U[1], Y[:, 0]), G[1])
    assert solve_antiderivative(U[1], Y).shape == (20,)


# ---------------------------------------------------------------------------
# Poisson
# ---------------------------------------------------------------------------
def _fd_poisson(f_fine, n):
    """Second-order finite differences for -s'' = f, s(0) = s(1) = 0 (n cells)."""
    h = 1.0 / n
    bands = np.zeros((3, n - 1))
    bands[0, 1:], bands[1], bands[2, :-1] = -1.0, 2.0, -1.0
    return solve_banded((1, 1), bands / h**2, f_fine[1:-1])


def test_make_poisson_shapes_and_boundary_values():
    U, Y, G = make_poisson(6, n_sensors=33, n_points=57, random_state=0)
    assert U.shape == (6, 33) and Y.shape == (57, 1) and G.shape == (6, 57)
    assert U.dtype == Y.dtype == G.dtype == np.float64
    np.testing.assert_array_equal(Y[:, 0], np.linspace(0, 1, 57))
    assert np.abs(G[:, [0, -1]]).max() <= 1e-14
    assert np.abs(G).max() > 1e-3
    np.testing.assert_array_equal(G, solve_poisson(U, Y))


def test_make_poisson_samples_the_field_of_make_antiderivative():
    U, _, _ = make_poisson(4, n_sensors=40, random_state=5)
    V, _, _ = make_antiderivative(4, n_sensors=40, random_state=5)
    np.testing.assert_array_equal(U, V)


@pytest.mark.parametrize("a, b", [(1.0, 0.0), (0.0, 1.0), (-0.4, 2.5)])
def test_solve_poisson_of_a_linear_source_is_the_cubic(a, b):
    x = np.r_[0.0, np.random.default_rng(1).random(40), 1.0]
    G = solve_poisson(a + b * np.linspace(0, 1, 5), x)
    exact = a * x * (1 - x) / 2 + b * x * (1 - x**2) / 6
    np.testing.assert_allclose(G, exact, rtol=0, atol=1e-12)


def test_solve_poisson_second_difference_is_the_interpolated_source():
    n_sensors, delta = 13, 1e-3
    sensors = np.linspace(0, 1, n_sensors)
    F = make_poisson(3, n_sensors=n_sensors, random_state=2)[0]
    x = np.linspace(2 * delta, 1 - 2 * delta, 2001)
    # A cubic's central second difference is exact: keep stencils inside one
    # sensor interval, where s is one cubic.
    gap = np.abs(x[:, None] - sensors[None, :]).min(axis=1)
    x = x[gap > 1.5 * delta]
    s = [solve_poisson(F, x + shift) for shift in (-delta, 0.0, delta)]
    second = (s[0] - 2 * s[1] + s[2]) / delta**2
    f = np.array([np.interp(x, sensors, row) for row in F])
    np.testing.assert_allclose(-second, f, rtol=0, atol=1e-7 * np.abs(f).max())


def test_solve_poisson_agrees_with_fine_finite_differences():
    U, Y, G = make_poisson(2, n_sensors=25, n_points=101, random_state=6)
    n = 4000  # a multiple of 24 and 100: sensors and points are grid nodes
    x = np.linspace(0, 1, n + 1)
    sensors = np.linspace(0, 1, 25)
    for u, g in zip(U, G):
        s = np.r_[0.0, _fd_poisson(np.interp(x, sensors, u), n), 0.0]
        np.testing.assert_allclose(g, s[:: n // 100], rtol=0, atol=1e-6 * np.abs(g).max())


def test_solve_poisson_accepts_one_function_and_column_points():
    U, Y, G = make_poisson(3, n_sensors=9, n_points=20, random_state=0)
    np.testing.assert_array_equal(solve_poisson(U[2], Y[:, 0]), G[2])


# ---------------------------------------------------------------------------
# Validation: one table for every public function
# ---------------------------------------------------------------------------
BAD_ARGUMENTS = [
    # generators: sklearn's validate_params names the argument and the range
    (make_antiderivative, (0,), {}, r"'n_functions' parameter of make_antiderivative must "
                                    r"be an int in the range \[1, inf\)\. Got 0 instead"),
    (make_antiderivative, (2.0,), {}, "'n_functions' parameter"),
    (make_antiderivative, (True,), {}, "'n_functions' parameter .* Got True instead"),
    (make_antiderivative, (3,), {"n_points": True}, r"'n_points' .* \[2, inf\)\. Got True"),
    (make_poisson, (3,), {"n_sensors": True}, r"'n_sensors' .* Got True"),
    (make_diffusion_reaction, (True,), {}, "'n_functions' .* Got True instead"),
    (make_diffusion_reaction, (3,), {"n_x": True}, "'n_x' .* Got True"),
    (make_heat_conduction, (True,), {}, "'n_functions' .* Got True instead"),
    (solve_diffusion_reaction, (np.ones(4),), {"refine_x": True}, "'refine_x' .* Got True instead"),
    (make_antiderivative, ("3",), {}, "'n_functions' parameter"),
    (make_antiderivative, (3,), {"n_sensors": 1}, r"'n_sensors' .* \[2, inf\) or None"),
    (make_antiderivative, (3,), {"n_points": 1}, r"'n_points' .* \[2, inf\)"),
    (make_antiderivative, (3,), {"length_scale": 0}, r"'length_scale' .* \(0.0, inf\)"),
    (make_antiderivative, (3,), {"length_scale": np.inf}, "'length_scale' parameter"),
    (make_antiderivative, (3,), {"random_state": "0"}, "'random_state' parameter"),
    (make_poisson, (3,), {"n_sensors": None}, r"'n_sensors' .* \[2, inf\)\. Got None"),
    (make_poisson, (3,), {"n_points": 0}, "'n_points' parameter"),
    (make_poisson, (3,), {"length_scale": -1.0}, "'length_scale' parameter"),
    (make_diffusion_reaction, (3,), {"n_sensors": 1}, "'n_sensors' parameter"),
    (make_diffusion_reaction, (3,), {"n_times": 1}, "'n_times' parameter"),
    (make_diffusion_reaction, (3,), {"n_t": 1}, "'n_t' parameter"),
    (make_diffusion_reaction, (3,), {"diffusivity": np.nan}, "'diffusivity' parameter"),
    (make_heat_conduction, (3,), {"length_scale": (0.1,)}, "one float > 0 or a pair"),
    (make_heat_conduction, (3,), {"n_jobs": 1.5}, "'n_jobs' parameter"),
    # solvers: the arrays' shapes and values
    (solve_antiderivative, (np.ones((2, 1)), [0.5]), {},
     r"U must have shape \(n_functions, n_sensors\) with n_functions >= 1 and "
     r"n_sensors >= 2, or \(n_sensors,\).*got shape \(2, 1\)"),
    (solve_antiderivative, (np.ones((0, 5)), [0.5]), {}, r"got shape \(0, 5\)"),
    (solve_antiderivative, ([1.0, np.nan, 2.0], [0.5]), {},
     r"U must be finite, got 1 NaN or infinite values \(first in U\[0\]\)"),
    (solve_antiderivative, ([["a", "b"]], [0.5]), {}, "could not be converted to float64"),
    (solve_antiderivative, (np.ones(5), [0.5, 1.5]), {},
     r"points must lie in \[0, 1\].*points\[1\] = 1\.5"),
    (solve_antiderivative, (np.ones(5), [np.nan]), {}, r"points must lie in \[0, 1\]"),
    (solve_antiderivative, (np.ones(5), np.ones((3, 2))), {},
     r"points must have shape \(n_points,\) or \(n_points, 1\).*got shape \(3, 2\)"),
    (solve_antiderivative, (np.ones(5), []), {}, r"n_points >= 1, got shape \(0,\)"),
    (solve_antiderivative, (np.ones(5), 0.5), {}, "'points' parameter .* array-like"),
    (solve_poisson, (np.ones((2, 3, 4)), [0.5]), {}, r"F must have shape .*got shape \(2, 3, 4\)"),
    (solve_poisson, (np.ones(5), [-0.1]), {}, r"points must lie in \[0, 1\]"),
    (solve_poisson, (None, [0.5]), {}, "'F' parameter .* array-like"),
    (solve_diffusion_reaction, (np.ones((2, 1)),), {}, r"S must have shape .*got shape \(2, 1\)"),
    (solve_diffusion_reaction, (np.ones(4),), {"substeps": 0}, "'substeps' parameter"),
    (solve_heat_conduction, (np.ones((2, 100)),), {}, r"K must have shape \(n_fields, 1024\)"),
    (load_heat_reference, (), {"data_home": 1}, "'data_home' parameter"),
]


@pytest.mark.parametrize(
    "func, args, kwargs, match", BAD_ARGUMENTS,
    ids=[f"{f.__name__}-{i}" for i, (f, *_) in enumerate(BAD_ARGUMENTS)])
def test_bad_arguments_raise_a_clear_error(func, args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        func(*args, **kwargs)


@pytest.mark.parametrize(
    "make, old, new",
    [(make_diffusion_reaction, {"n_x": 20}, {"n_sensors": 20}),
     (make_diffusion_reaction, {"n_t": 3}, {"n_times": 3}),
     (make_heat_conduction, {"length_scales": (0.1, 0.2)}, {"length_scale": (0.1, 0.2)})])
def test_deprecated_and_new_name_together_raise(make, old, new):
    (old_name,), (new_name,) = old, new
    with pytest.raises(ValueError, match=f"both {old_name}=.* pass {new_name} only"):
        make(2, **old, **new)
