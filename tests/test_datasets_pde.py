"""Tests of the Burgers and Darcy benchmarks (FNO's, as used by Lu et al. 2022):
their solvers against exact solutions, their random fields against their
laws, their default resolutions against finer ones, and argument validation.

The accuracy checks print what they measure (``pytest -s`` shows it); the
docstring Notes of ``make_burgers`` and ``make_darcy`` quote those numbers.
"""

from pathlib import Path

import numpy as np
import pytest

import skoperator.datasets as datasets
from skoperator.datasets import (
    _burgers,
    _darcy,
    make_burgers,
    make_darcy,
    solve_burgers,
    solve_darcy,
)


def _rel_l2(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_public_names_and_api_docs():
    api = (Path(__file__).resolve().parents[1] / "docs" / "api.rst").read_text()
    for name in ["make_burgers", "solve_burgers", "make_darcy", "solve_darcy"]:
        assert name in datasets.__all__
        assert getattr(datasets, name).__module__.startswith("skoperator.datasets.")
        assert f"   {name}\n" in api


# ---------------------------------------------------------------------------
# Burgers
# ---------------------------------------------------------------------------
NU = 0.1
# phi = 2 + sum_k e^{-nu (2 pi k)^2 t} (a_k cos 2 pi k x + b_k sin 2 pi k x) > 0
# solves the heat equation, so u = -2 nu phi_x / phi solves Burgers (Cole-Hopf).
COLE_HOPF_MODES = [(1, 0.8, 0.3), (2, -0.4, 0.5), (3, 0.2, -0.1)]


def _cole_hopf(x, t, nu=NU):
    phi, dphi = 2.0 + 0.0 * x, 0.0 * x
    for k, a, b in COLE_HOPF_MODES:
        w = 2 * np.pi * k
        e = np.exp(-nu * w * w * t)
        phi = phi + e * (a * np.cos(w * x) + b * np.sin(w * x))
        dphi = dphi + e * w * (-a * np.sin(w * x) + b * np.cos(w * x))
    return -2 * nu * dphi / phi


@pytest.mark.parametrize("t_final", [0.1, 0.25, 1.0])
def test_solve_burgers_matches_the_cole_hopf_solution(t_final):
    x = np.arange(128) / 128
    exact = _cole_hopf(x, t_final)
    u = solve_burgers(_cole_hopf(x, 0.0), t_final=t_final)
    error = np.abs(u - exact).max() / np.abs(exact).max()
    print(f"\nBurgers vs Cole-Hopf, t={t_final}, defaults: max error {error:.2e} "
          f"relative to max|u| = {np.abs(exact).max():.3f}")
    assert error < 2e-6  # measured 5e-7 .. 7e-7
    # The nonlinear term matters: the heat equation alone is far off.
    k = np.fft.rfftfreq(128, 1 / 128)
    heat = np.fft.irfft(np.fft.rfft(_cole_hopf(x, 0.0)) * np.exp(-NU * (2 * np.pi * k) ** 2
                                                                   * t_final), 128)
    assert np.abs(heat - exact).max() > 1e3 * np.abs(u - exact).max()


def test_solve_burgers_converges_at_fourth_order_in_time():
    x = np.arange(64) / 64
    u0, exact = _cole_hopf(x, 0.0), _cole_hopf(x, 0.25)
    errors = [np.abs(solve_burgers(u0, t_final=0.25, resolution=128, n_steps=n) - exact).max()
              for n in (10, 20, 40)]
    rates = np.log2(np.array(errors[:-1]) / errors[1:])
    print(f"\nBurgers time-step errors {errors}, observed orders {rates}")
    assert np.all(rates > 3.5)


def test_solve_burgers_conserves_the_mean_and_decays_to_it():
    rng = np.random.default_rng(0)
    x = np.arange(96) / 96
    u0 = 0.7 + 0.5 * np.sin(2 * np.pi * x) + 0.3 * np.cos(6 * np.pi * x + 1.0)
    u0 = np.vstack([u0, rng.standard_normal(96) * 0.1 - 0.2])
    u = solve_burgers(u0, t_final=0.5)
    np.testing.assert_allclose(u.mean(axis=1), u0.mean(axis=1), rtol=0, atol=1e-14)
    # The fluctuation decays at least as exp(-4 pi^2 nu t) (an energy estimate).
    fluct0 = np.linalg.norm(u0 - u0.mean(axis=1, keepdims=True), axis=1)
    fluct = np.linalg.norm(u - u.mean(axis=1, keepdims=True), axis=1)
    assert np.all(fluct <= fluct0 * np.exp(-4 * np.pi**2 * NU * 0.5) * (1 + 1e-9))


@pytest.mark.parametrize("n", [31, 64])
def test_fourier_round_trip_and_folding_are_exact(n):
    rng = np.random.default_rng(n)
    u = rng.standard_normal((3, n))
    c = _burgers._grid_to_coefficients(u)
    np.testing.assert_allclose(_burgers._coefficients_to_grid(c, n), u, atol=1e-13)
    # Point values of a many-mode function, the folding path, against a direct sum.
    c = rng.standard_normal((2, 40)) + 1j * rng.standard_normal((2, 40))
    c[:, 0] = c[:, 0].real
    x = np.arange(n) / n
    k = np.arange(1, 40)
    direct = c[:, :1].real + 2 * (c[:, 1:] @ np.exp(2j * np.pi * np.outer(k, x))).real
    np.testing.assert_allclose(_burgers._coefficients_to_grid(c, n), direct, atol=1e-12)


def test_solve_burgers_grid_and_resolution_do_not_matter_for_smooth_states():
    x = np.arange(256) / 256
    u0 = _cole_hopf(x, 0.0)
    fine = solve_burgers(u0, t_final=0.25, resolution=1024)
    coarse = solve_burgers(u0, t_final=0.25, resolution=192)  # fewer points than u0
    np.testing.assert_allclose(coarse, fine, rtol=0, atol=1e-12)
    x127 = np.arange(127) / 127  # an odd grid, not a subgrid of the others
    odd = solve_burgers(_cole_hopf(x127, 0.0), t_final=0.25)
    np.testing.assert_allclose(odd, _cole_hopf(x127, 0.25), rtol=0, atol=1e-6)
    assert solve_burgers(u0[::4], t_final=0.25).shape == (64,)


def test_solve_burgers_reports_a_blow_up():
    x = np.arange(64) / 64
    with pytest.raises(FloatingPointError, match="resolution=32 and n_steps=2 are too coarse"):
        solve_burgers(20 * np.sin(2 * np.pi * x), viscosity=1e-4, resolution=32, n_steps=2)


def test_make_burgers_shapes_and_conventions():
    U, Y, G = make_burgers(5, random_state=0)
    assert U.shape == G.shape == (5, 128) and Y.shape == (128, 1)
    assert U.dtype == Y.dtype == G.dtype == np.float64
    np.testing.assert_array_equal(Y[:, 0], np.arange(128) / 128)
    # The initial states have mean zero; the solutions too (they are smooth).
    assert np.abs(G.mean(axis=1)).max() < 1e-15
    assert np.abs(U.mean(axis=1)).max() < 1e-3  # sensor mean: aliased modes 128 j only
    U2, Y2, G2 = make_burgers(3, n_points=40, t_final=0.3, viscosity=0.05,
                              resolution=256, n_steps=30, random_state=1)
    assert U2.shape == G2.shape == (3, 40) and Y2.shape == (40, 1)


def test_make_burgers_same_seed_same_arrays_whatever_the_grid():
    a = make_burgers(2, n_points=64, resolution=64, n_steps=20, random_state=7)
    b = make_burgers(2, n_points=64, resolution=64, n_steps=20,
                     random_state=np.random.RandomState(7))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    c = make_burgers(2, n_points=64, resolution=64, n_steps=20, random_state=8)
    assert not np.allclose(a[0], c[0])
    # The same functions at other points and with another solver grid.
    d = make_burgers(2, n_points=128, resolution=96, n_steps=20, random_state=7)
    np.testing.assert_allclose(d[0][:, ::2], a[0], rtol=0, atol=1e-13)
    with pytest.raises(ValueError, match="'random_state' parameter .*RandomState"):
        make_burgers(2, random_state=np.random.default_rng(7))


@pytest.mark.parametrize("viscosity, other", [(0.02, 0.05), (0.05, 0.02)])
def test_make_burgers_solves_at_its_viscosity(viscosity, other):
    # make_burgers's G is the solution of its own initial states U at the
    # viscosity asked for (re-solved from the 64-point U, up to the
    # interpolation of the smooth field), not at another one.
    U, _, G = make_burgers(4, n_points=64, viscosity=viscosity, resolution=256,
                           random_state=0)
    scale = np.abs(G).max()
    same = solve_burgers(U, viscosity=viscosity, resolution=256)
    assert np.abs(same - G).max() < 0.02 * scale  # measured 0.004
    assert np.abs(solve_burgers(U, viscosity=other, resolution=256) - G).max() > 0.3 * scale
    _, _, G_other = make_burgers(4, n_points=64, viscosity=other, resolution=256,
                                 random_state=0)
    assert np.abs(G_other - G).max() > 0.3 * scale


@pytest.mark.parametrize("viscosity", [0.02, 0.1])
def test_solve_burgers_decays_a_small_fourier_mode_at_the_heat_rate(viscosity):
    # At small amplitude the nonlinear term is negligible: a mode sin(2 pi x)
    # decays as exp(-nu (2 pi)^2 t).
    x = np.arange(64) / 64
    u = solve_burgers(1e-4 * np.sin(2 * np.pi * x), viscosity=viscosity, t_final=0.5,
                      resolution=64)
    expected = np.exp(-viscosity * (2 * np.pi) ** 2 * 0.5)
    assert np.abs(u).max() / 1e-4 == pytest.approx(expected, rel=1e-4)


def test_make_burgers_does_not_depend_on_n_jobs():
    kwargs = dict(n_points=32, resolution=32, n_steps=10, random_state=3)
    one = make_burgers(300, n_jobs=1, **kwargs)  # two chunks of 256 functions
    two = make_burgers(300, n_jobs=2, **kwargs)
    for x, y in zip(one, two):
        np.testing.assert_array_equal(x, y)


def test_burgers_initial_states_follow_their_law():
    # Fourier coefficients of 128-point samples: c_k = s_k (xi - i eta) / sqrt(2),
    # s_k = 25 / ((2 pi k)^2 + 25); aliases (k >= 108) change E|c_k|^2 by < 1e-4.
    U = make_burgers(500, resolution=16, n_steps=1, random_state=0)[0]
    c = np.fft.rfft(U, axis=1)[:, 1:21] / 128
    s = _burgers._field_spectrum(20)
    z = np.sqrt(2) * c / s  # xi - i eta: real and imaginary parts standard normal
    parts = np.concatenate([z.real.ravel(), z.imag.ravel()])
    print(f"\nBurgers field, normalised coefficients k=1..20: mean {parts.mean():.4f}, "
          f"variance {parts.var():.4f} (law: 0, 1)")
    assert abs(parts.mean()) < 0.03 and abs(parts.var() - 1) < 0.03
    # Pointwise variance sum_k 2 s_k^2 = 0.352 (dominated by k = 1: few dof).
    theory = np.sum(2 * _burgers._field_spectrum() ** 2)
    assert abs(theory - 0.3523) < 1e-4
    assert abs(U.var() / theory - 1) < 0.1


def test_make_burgers_default_resolution_agrees_with_a_finer_solve():
    U, _, G = make_burgers(4, random_state=0)
    _, _, G_fine = make_burgers(4, random_state=0, resolution=2048, n_steps=600)
    _, _, G_grid = make_burgers(4, random_state=0, resolution=2048)  # same dt
    diff, diff_grid = _rel_l2(G, G_fine), _rel_l2(G, G_grid)
    print(f"\nBurgers defaults (1024 points, 200 steps) vs 2048 points, 600 steps: "
          f"relative L2 {diff:.2e}; vs 2048 points, 200 steps: {diff_grid:.2e}")
    assert diff < 1e-6  # measured 1e-7 (the time step's error)
    assert diff_grid < 1e-10  # measured 2e-12: the grid is not a limit
    # solve_burgers on the sensor values: the only difference is the high modes
    # of u0 aliased onto the 128 sensors, chiefly onto their mean (u0 has mean 0).
    G_sensors = solve_burgers(U - U.mean(axis=1, keepdims=True))
    print(f"solve_burgers(U - mean) vs G: relative L2 {_rel_l2(G_sensors, G):.2e}")
    assert _rel_l2(G_sensors, G) < 1e-3


# ---------------------------------------------------------------------------
# Darcy
# ---------------------------------------------------------------------------
def _mesh(n):
    t = np.linspace(0, 1, n)
    return np.meshgrid(t, t)  # x1 varies along the last axis, as the flattening


@pytest.mark.parametrize("n", [5, 17, 40])
def test_solve_darcy_constant_a_sine_is_a_discrete_eigenfunction(n):
    x1, x2 = _mesh(n)
    u = np.sin(np.pi * x1) * np.sin(np.pi * x2)
    a = 2.5
    h = 1 / (n - 1)
    got = solve_darcy(np.full(n * n, a), (2 * np.pi**2 * a * u).ravel())
    expected = u * 2 * np.pi**2 * h**2 / (8 * np.sin(np.pi * h / 2) ** 2)
    np.testing.assert_allclose(got, expected.ravel(), rtol=0, atol=1e-13)


def _manufactured(n):
    """a, f and the exact u for u = x1 sin(pi x1) sin(pi x2) and a smooth a."""
    x, y = _mesh(n)
    pi = np.pi
    a = 1 + 0.5 * np.sin(2 * pi * x) * np.cos(pi * y) + x * y
    ax = pi * np.cos(2 * pi * x) * np.cos(pi * y) + y
    ay = -0.5 * pi * np.sin(2 * pi * x) * np.sin(pi * y) + x
    u = x * np.sin(pi * x) * np.sin(pi * y)
    ux = (np.sin(pi * x) + pi * x * np.cos(pi * x)) * np.sin(pi * y)
    uy = pi * x * np.sin(pi * x) * np.cos(pi * y)
    uxx = (2 * pi * np.cos(pi * x) - pi**2 * x * np.sin(pi * x)) * np.sin(pi * y)
    uyy = -(pi**2) * u
    f = -(ax * ux + a * uxx + ay * uy + a * uyy)
    return a.ravel(), f.ravel(), u.ravel()


def test_solve_darcy_converges_at_second_order():
    errors = []
    for n in (17, 33, 65):
        a, f, u = _manufactured(n)
        errors.append(np.abs(solve_darcy(a, f) - u).max())
    rates = np.log2(np.array(errors[:-1]) / errors[1:])
    print(f"\nDarcy manufactured solution, max errors {errors}, orders {rates}")
    assert np.all(np.abs(rates - 2) < 0.1)
    assert errors[-1] < 2e-4  # measured 1.4e-4
    # The transpose of a and f gives the transpose of u: x1 and x2 are not mixed up
    # (this a and u are not symmetric).
    a, f, u = _manufactured(17)
    t = lambda v: v.reshape(17, 17).T.ravel()  # noqa: E731
    np.testing.assert_allclose(solve_darcy(t(a), t(f)), t(solve_darcy(a, f)), atol=1e-15)
    assert np.abs(solve_darcy(t(a), f) - solve_darcy(a, f)).max() > 1e-3


def test_solve_darcy_source_forms_and_scaling():
    rng = np.random.default_rng(0)
    a = np.exp(rng.standard_normal((3, 81)))
    u = solve_darcy(a)
    assert u.shape == (3, 81)
    np.testing.assert_array_equal(u, solve_darcy(a, 1.0))
    np.testing.assert_allclose(u, solve_darcy(a, np.ones(81)), rtol=0, atol=1e-15)
    np.testing.assert_allclose(u, solve_darcy(a, np.ones((3, 81))), rtol=0, atol=1e-15)
    np.testing.assert_allclose(solve_darcy(4 * a, 2.0), u / 2, rtol=1e-13)
    np.testing.assert_allclose(solve_darcy(a[1]), u[1], rtol=0, atol=1e-15)
    grid = u.reshape(3, 9, 9)
    assert np.all(grid[:, [0, -1], :] == 0) and np.all(grid[:, :, [0, -1]] == 0)
    assert np.all(grid[:, 1:-1, 1:-1] > 0)  # maximum principle: f > 0
    # Edge values of f are not used.
    f = rng.standard_normal((3, 9, 9))
    g = f.copy()
    g[:, 0], g[:, :, -1] = 5.0, -3.0
    np.testing.assert_array_equal(solve_darcy(a, f.reshape(3, 81)),
                                  solve_darcy(a, g.reshape(3, 81)))


def test_make_darcy_shapes_and_conventions():
    U, Y, G = make_darcy(3, random_state=0)
    assert U.shape == G.shape == (3, 841) and Y.shape == (841, 2)
    assert U.dtype == Y.dtype == G.dtype == np.float64
    assert set(np.unique(U)) == {3.0, 12.0}
    # Nodes row-major with x1 fastest, as make_heat_conduction's cells.
    x1, x2 = _mesh(29)
    np.testing.assert_array_equal(Y, np.column_stack([x1.ravel(), x2.ravel()]))
    assert np.all(Y[1] == [1 / 28, 0]) and np.all(Y[29] == [0, 1 / 28])
    grid = G.reshape(3, 29, 29)
    assert np.all(grid[:, [0, -1], :] == 0) and np.all(grid[:, :, [0, -1]] == 0)
    assert np.all(grid[:, 1:-1, 1:-1] > 0)
    # Solved on the output grid itself, G is solve_darcy(U).
    U1, _, G1 = make_darcy(2, n_points=21, resolution=21, random_state=0)
    np.testing.assert_array_equal(G1, solve_darcy(U1))
    # The discrete compliance sum(u) (f = 1) decreases as a grows: 3 <= a <= 12.
    compliance = G1.sum(axis=1)
    assert np.all(compliance < solve_darcy(np.full(441, 3.0)).sum())
    assert np.all(compliance > solve_darcy(np.full(441, 12.0)).sum())


def test_make_darcy_same_seed_same_arrays_whatever_the_grid():
    a = make_darcy(2, n_points=8, resolution=15, random_state=7)
    b = make_darcy(2, n_points=8, resolution=15, random_state=np.random.RandomState(7))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], make_darcy(2, n_points=8, resolution=15,
                                               random_state=8)[0])
    # The same permeability at the output nodes with another solver grid.
    np.testing.assert_array_equal(make_darcy(2, n_points=8, resolution=22,
                                             random_state=7)[0], a[0])
    with pytest.raises(ValueError, match="'random_state' parameter .*RandomState"):
        make_darcy(2, random_state=np.random.default_rng(7))


def test_make_darcy_does_not_depend_on_n_jobs():
    kwargs = dict(n_points=8, resolution=15, random_state=3)
    one = make_darcy(40, n_jobs=1, **kwargs)  # three chunks of 16 fields
    two = make_darcy(40, n_jobs=2, **kwargs)
    for x, y in zip(one, two):
        np.testing.assert_array_equal(x, y)


def test_darcy_field_follows_its_law():
    # Cosine coefficients of the field at 33 x 33 nodes, by DCT-I: for k1, k2 <= 5
    # they are w_k1 w_k2 s_k xi_k up to aliases of relative size < 1e-3.
    from scipy.fft import dct

    n, kmax = 33, 6
    field = _darcy._sample_field(60, n, np.random.RandomState(0))
    coef = dct(dct(field, type=1, axis=-1), type=1, axis=-2) / (2 * (n - 1)) ** 2
    coef[:, :, 1:-1] *= 2
    coef[:, 1:-1, :] *= 2
    w = _darcy._cosine_weights(kmax)
    scales = _darcy._mode_scales(kmax) * w[:, None] * w[None, :]
    assert coef[:, 0, 0].std() < 0.01 * scales[0, 1]  # no mean mode (aliases only)
    z = (coef[:, :kmax, :kmax] / np.where(scales > 0, scales, np.inf)).reshape(60, -1)[:, 1:]
    print(f"\nDarcy field, normalised coefficients k1, k2 < {kmax}: mean {z.mean():.4f}, "
          f"variance {z.var():.4f} (law: 0, 1)")
    assert abs(z.mean()) < 0.05 and abs(z.var() - 1) < 0.08


def _sign_covariance(n, tau=_darcy._TAU, n_modes=_darcy._N_MODES):
    """E[sign(z(x)) sign(z(y))] = (2 / pi) arcsin(rho(x, y)) at the n x n nodes."""
    k = np.arange(n_modes)
    var = (np.pi**2 * (k[:, None] ** 2 + k[None, :] ** 2) + tau**2) ** -2.0
    var[0, 0] = 0.0
    x = np.linspace(0, 1, n)
    E = np.cos(np.pi * np.outer(x, k)) * _darcy._cosine_weights(n_modes)
    pair = np.einsum("ik,jk->ijk", E, E).reshape(n * n, n_modes)  # [(i, j), k]
    # C[(i2, i1), (j2, j1)] = sum var[k2, k1] pair[(i2, j2), k2] pair[(i1, j1), k1]
    C = (pair @ var @ pair.T).reshape(n, n, n, n).transpose(0, 2, 1, 3).reshape(n * n, n * n)
    d = np.sqrt(np.diag(C))
    return 2 / np.pi * np.arcsin(np.clip(C / np.outer(d, d), -1, 1))


def test_make_darcy_permeability_follows_the_arcsine_law():
    U = make_darcy(400, n_points=8, resolution=8, random_state=1)[0]
    signs = (U - 7.5) / 4.5
    empirical = signs.T @ signs / len(signs)
    gap = np.abs(empirical - _sign_covariance(8)).mean()
    wrong = np.abs(empirical - _sign_covariance(8, tau=5.0)).mean()
    print(f"\nDarcy sign covariance: mean |empirical - arcsine law| {gap:.3f} "
          f"(tau = 5 instead of 3: {wrong:.3f}); P(a = 12) = {(U == 12).mean():.3f}")
    assert gap < 0.045 and wrong > 2 * gap  # measured 0.035 and 0.093
    assert abs((U == 12).mean() - 0.5) < 0.02


def test_make_darcy_default_resolution_agrees_with_a_finer_solve():
    G = {r: make_darcy(2, resolution=r, random_state=0)[2] for r in (85, 141, 281)}
    assert np.array_equal(G[141], make_darcy(2, random_state=0)[2])  # 141: default
    d85, d141 = _rel_l2(G[85], G[281]), _rel_l2(G[141], G[281])
    print(f"\nDarcy at 29 x 29 nodes vs resolution 281: relative L2 {d85:.2e} at 85, "
          f"{d141:.2e} at 141 (default)")
    assert d141 < 5e-3  # measured 3.1e-3 (8 fields vs 421: 4.6e-3)
    assert d141 < 0.7 * d85  # converging


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------
BAD_ARGUMENTS = [
    (make_burgers, (0,), {}, r"'n_functions' parameter of make_burgers must be an int "
                             r"in the range \[1, inf\)\. Got 0 instead"),
    (make_burgers, (True,), {}, "'n_functions' .* Got True instead"),
    (make_burgers, (2,), {"n_points": 1}, r"'n_points' .* \[2, inf\)"),
    (make_burgers, (2,), {"n_points": True}, "'n_points' .* Got True"),
    (make_burgers, (2,), {"viscosity": 0.0}, r"'viscosity' .* \(0.0, inf\)"),
    (make_burgers, (2,), {"viscosity": np.nan}, "'viscosity' parameter"),
    (make_burgers, (2,), {"t_final": -1.0}, "'t_final' parameter"),
    (make_burgers, (2,), {"resolution": 4}, r"'resolution' .* \[8, inf\) or None"),
    (make_burgers, (2,), {"n_steps": 0}, "'n_steps' parameter"),
    (make_burgers, (2,), {"random_state": "0"}, "'random_state' parameter"),
    (make_burgers, (2,), {"n_jobs": 1.5}, "'n_jobs' parameter"),
    (solve_burgers, (np.ones((2, 1)),), {},
     r"u0 must have shape \(n_functions, n_grid\) .*got shape \(2, 1\)"),
    (solve_burgers, ([0.0, np.inf, 1.0],), {}, "u0 must be finite"),
    (solve_burgers, (None,), {}, "'u0' parameter .* array-like"),
    (solve_burgers, (np.ones(8),), {"n_steps": 2.5}, "'n_steps' parameter"),
    (solve_burgers, (np.ones(8),), {"resolution": True}, "'resolution' .* Got True"),
    (make_darcy, (0,), {}, r"'n_functions' parameter of make_darcy must be an int "
                           r"in the range \[1, inf\)\. Got 0 instead"),
    (make_darcy, (True,), {}, "'n_functions' .* Got True instead"),
    (make_darcy, (2,), {"n_points": 2}, r"'n_points' .* \[3, inf\)"),
    (make_darcy, (2,), {"resolution": 100}, r"resolution - 1 must be a multiple of "
                                            r"n_points - 1.*resolution=100 and n_points=29"),
    (make_darcy, (2,), {"resolution": 1}, "'resolution' parameter"),
    (make_darcy, (2,), {"random_state": "0"}, "'random_state' parameter"),
    (solve_darcy, (np.ones(10),), {}, "a must hold the values at n x n nodes .*got 10"),
    (solve_darcy, (np.ones(4),), {}, r"a must have shape \(n_fields, n \* n\) .*>= 9"),
    (solve_darcy, (-np.ones(9),), {}, "a must be strictly positive .*a\\[0, 0\\] = -1"),
    (solve_darcy, (np.ones((2, 9)),), {"f": np.ones((3, 9))}, "f must have one row, or one "
                                                              "row per field of a \\(2\\)"),
    (solve_darcy, (np.ones(9),), {"f": np.ones(16)}, r"f must have shape \(n_fields, 9\)"),
    (solve_darcy, (np.ones(9),), {"f": np.inf}, "f must be finite"),
    (solve_darcy, (np.ones(9),), {"f": "1"}, "'f' parameter"),
    (solve_darcy, ([[1.0, np.nan] * 8 + [1.0]],), {}, "a must be finite"),
]


@pytest.mark.parametrize(
    "func, args, kwargs, match", BAD_ARGUMENTS,
    ids=[f"{f.__name__}-{i}" for i, (f, *_) in enumerate(BAD_ARGUMENTS)])
def test_bad_arguments_raise_a_clear_error(func, args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        func(*args, **kwargs)


@pytest.mark.parametrize("make, kwargs", [
    ("make_advection", {"shift": True}),
    ("make_burgers", {"viscosity": True}),
    ("make_navier_stokes", {"viscosity": True}),
    ("make_diffusion_reaction", {"diffusivity": True}),
])
def test_a_bool_is_not_a_number_for_the_generators(make, kwargs):
    with pytest.raises(ValueError, match=f"'{next(iter(kwargs))}' parameter .* Got True"):
        getattr(datasets, make)(2, **kwargs)


def test_solve_burgers_on_a_coarse_grid_keeps_the_modes_resolution_asks_for():
    # sin(2 pi x) is exact on 16 points; the solve ran on its 8 modes only (6 % off at nu=0.01)
    from skoperator.datasets import solve_burgers
    nu = 0.01
    fine = solve_burgers(np.sin(2 * np.pi * np.arange(1024) / 1024), viscosity=nu,
                         t_final=0.5)[..., ::64]
    coarse = solve_burgers(np.sin(2 * np.pi * np.arange(16) / 16), viscosity=nu, t_final=0.5,
                           resolution=1024)
    np.testing.assert_allclose(coarse, fine, rtol=0, atol=1e-12)


def test_solvers_keep_threads_under_a_process_backend():
    # The solvers write rows into one shared array: a process backend chosen
    # with joblib.parallel_config would lose the writes (np.empty came back).
    from joblib import parallel_config

    from skoperator.datasets import solve_diffusion_reaction

    a = np.ones((32, 25))
    u0 = np.sin(2 * np.pi * np.arange(16) / 16) * np.ones((300, 1))
    S = np.ones((300, 10))
    calls = [lambda **k: solve_darcy(a, **k),
             lambda **k: solve_burgers(u0, resolution=16, n_steps=2, **k),
             lambda **k: solve_diffusion_reaction(S, n_times=3, **k)]
    serial = [call() for call in calls]
    with parallel_config(backend="loky", n_jobs=2):
        for call, expected in zip(calls, serial):
            np.testing.assert_array_equal(call(n_jobs=2), expected)
            np.testing.assert_array_equal(call(), expected)


@pytest.mark.parametrize("kwargs", [dict(a=np.full(81, 1e308)),
                                    dict(a=np.full(81, 1e308), solver="cg"),
                                    dict(a=np.full(81, 1e-320), solver="cg"),
                                    dict(a=np.ones(81), f=1e308)])
def test_solve_darcy_names_inputs_it_cannot_solve_in_float64(kwargs):
    with np.errstate(all="ignore"), pytest.raises(
            FloatingPointError, match="values of a and f .*multiply the result by c / d"):
        solve_darcy(**kwargs)
