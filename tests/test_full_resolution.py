"""Full-resolution generators (Burgers 8,192 -> 1,024, Darcy 421 -> 85), both
Burgers laws, and the disk cache of the generators."""

import numpy as np
import pytest

from skoperator import _benchmarks_full
from skoperator.datasets import (
    _burgers,
    _cache,
    _darcy,
    make_burgers,
    make_darcy,
    solve_burgers,
    solve_darcy,
)
from skoperator.reproduce import final_estimator
from skoperator.symmetry import GroupAveragedRegressor


# ---------------------------------------------------------------------------
# Disk cache
# ---------------------------------------------------------------------------
def test_cached_hit_returns_identical_arrays_without_calling_make(tmp_path):
    calls = []

    def make():
        calls.append(1)
        rng = np.random.default_rng(0)
        return rng.standard_normal((3, 4)), np.arange(5)

    first = _cache.cached("demo", {"n": 3, "law": "x", "seed": 0}, make, tmp_path)
    second = _cache.cached("demo", {"seed": 0, "law": "x", "n": 3}, make, tmp_path)
    assert len(calls) == 1
    for a, b in zip(first, second):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    files = list((tmp_path / "demo").iterdir())
    assert [f.suffix for f in files] == [".npz"]  # no temporary file left


def test_cached_other_params_recompute(tmp_path):
    calls = []

    def make():
        calls.append(1)
        return (np.full(2, len(calls), dtype=float),)

    (a,) = _cache.cached("demo", {"n": 1}, make, tmp_path)
    (b,) = _cache.cached("demo", {"n": 2}, make, tmp_path)
    (c,) = _cache.cached("demo", {"n": 1.0}, make, tmp_path)  # a float is another key
    assert len(calls) == 3 and a[0] == 1 and b[0] == 2 and c[0] == 3


def test_cached_partial_or_foreign_file_is_recomputed(tmp_path):
    stem, _ = _cache._key("demo", {"n": 1})
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / f"{stem}.npz").write_bytes(b"not a zip file")
    (a,) = _cache.cached("demo", {"n": 1}, lambda: (np.ones(2),), tmp_path)
    assert np.array_equal(a, np.ones(2))
    (b,) = _cache.cached("demo", {"n": 1}, lambda: (np.zeros(2),), tmp_path)
    assert np.array_equal(b, np.ones(2))  # now stored


def test_cached_failed_make_leaves_nothing(tmp_path):
    def make():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        _cache.cached("demo", {"n": 1}, make, tmp_path)
    assert not list(tmp_path.rglob("*.npz")) and not list(tmp_path.rglob("*.tmp"))


def test_cached_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    def broken_savez(file, **arrays):
        file.write(b"PK partial")
        raise OSError("disk full")

    monkeypatch.setattr(_cache.np, "savez", broken_savez)
    with pytest.warns(RuntimeWarning, match="could not store .*disk full.*not cached"):
        (a,) = _cache.cached("demo", {"n": 1}, lambda: (np.ones(2),), tmp_path)
    assert np.array_equal(a, np.ones(2))  # the solve is not thrown away
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


@pytest.mark.parametrize("content", [b"", "half"], ids=["empty", "truncated"])
def test_cached_empty_or_truncated_file_is_recomputed(tmp_path, content):
    (a,) = _cache.cached("demo", {"n": 1}, lambda: (np.arange(1000.0),), tmp_path)
    (path,) = tmp_path.rglob("*.npz")
    path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2] if content else content)
    (b,) = _cache.cached("demo", {"n": 1}, lambda: (np.ones(3),), tmp_path)
    assert np.array_equal(b, np.ones(3))


def test_cached_folder_that_cannot_be_made_fails_before_the_solve(tmp_path):
    (tmp_path / "demo").write_text("a file where the folder goes")
    calls = []
    with pytest.raises(OSError, match="cannot make its folder .*demo.*data_home"):
        _cache.cached("demo", {"n": 1}, lambda: calls.append(1) or (np.ones(2),), tmp_path)
    assert not calls


def test_cached_rejects_unkeyable_params_and_bad_names(tmp_path):
    with pytest.raises(TypeError, match="random_state.*int random_state"):
        _cache.cached(
            "demo", {"random_state": np.random.RandomState(0)}, tuple, tmp_path
        )
    with pytest.raises(ValueError, match="name must be a folder name"):
        _cache.cached("../up", {}, tuple, tmp_path)


def test_get_data_home_env_and_default(tmp_path, monkeypatch):
    monkeypatch.setenv("SKOPERATOR_DATA", str(tmp_path / "env"))
    assert _cache.get_data_home() == tmp_path / "env"
    assert (tmp_path / "env").is_dir()
    assert _cache.get_data_home(tmp_path / "given") == tmp_path / "given"
    monkeypatch.delenv("SKOPERATOR_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _cache.get_data_home() == tmp_path / "home" / "skoperator_data"


def test_get_data_home_that_cannot_be_made_is_named(tmp_path, monkeypatch):
    # A bare PermissionError used to escape; "" cached into the current folder.
    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(_cache.Path, "mkdir", refuse)
    with pytest.raises(PermissionError, match="data_home .*locked.* cannot be made .*Permission "
                                              "denied.*cache=False"):
        _cache.get_data_home(tmp_path / "locked")
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    for empty in ("", " "):
        with pytest.raises(ValueError, match="data_home must name a folder; got an empty"):
            _cache.get_data_home(empty)
    assert not any(tmp_path.iterdir())


# ---------------------------------------------------------------------------
# Burgers: both laws, FNO's 8,192-point solve
# ---------------------------------------------------------------------------
def _rel_l2(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_burgers_laws_are_the_stated_ones():
    # The paper (Li et al. 2021, section 5.1) and gen_burgers1.m/GRF1.m of
    # FNO's released code: s_k = sigma ((2 pi k)^2 + tau^2)^(-gamma / 2).
    k = np.arange(1, 4097)
    for law, (sigma, tau, gamma, nu) in {"paper": (25, 5, 2, 0.1),
                                         "fno-script": (49, 7, 2.5, 1e-3)}.items():
        spec = _burgers.LAWS[law]
        assert (spec.sigma, spec.tau, spec.gamma, spec.viscosity) == (sigma, tau, gamma, nu)
        expected = sigma * ((2 * np.pi * k) ** 2 + tau**2) ** (-gamma / 2)
        np.testing.assert_allclose(_burgers._field_spectrum(law=spec), expected, rtol=1e-14)
    # Pointwise variances sum_k 2 s_k^2.
    script = np.sum(2 * _burgers._field_spectrum(law=_burgers.LAWS["fno-script"]) ** 2)
    assert abs(script - 0.07513) < 1e-5


def test_make_burgers_fno_script_law_rescales_the_same_draws():
    # On 8,192 points no mode of u0 aliases: the coefficients of the two laws
    # for one seed differ by the ratio of their spectra, exactly.
    kw = dict(n_points=8192, n_steps=1, resolution=16, random_state=3)
    U_paper = make_burgers(2, **kw)[0]
    U_script = make_burgers(2, law="fno-script", **kw)[0]
    ratio = np.fft.rfft(U_script, axis=1)[:, 1:201] / np.fft.rfft(U_paper, axis=1)[:, 1:201]
    spectra = [_burgers._field_spectrum(200, _burgers.LAWS[law])
               for law in ("fno-script", "paper")]
    np.testing.assert_allclose(ratio, np.broadcast_to(spectra[0] / spectra[1], ratio.shape),
                               rtol=1e-9)
    # The law's sample variance (0.0751; few degrees of freedom: k = 1 dominates).
    U = make_burgers(400, law="fno-script", n_points=64, n_steps=1, resolution=16,
                     random_state=0)[0]
    assert abs(U.var() / 0.07513 - 1) < 0.1


def test_make_burgers_fno_script_defaults_are_the_laws():
    a = make_burgers(2, n_points=64, law="fno-script", random_state=0)
    b = make_burgers(2, n_points=64, law="fno-script", viscosity=1e-3, n_steps=500,
                     resolution=1024, random_state=0)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    c = make_burgers(2, n_points=64, law="fno-script", viscosity=0.1, random_state=0)
    assert _rel_l2(c[2], a[2]) > 0.5  # the viscosity is the law's default only


NU_SCRIPT = 1e-3


def _steep_cole_hopf(x, t, t0=0.5, floor=1e-12):
    # phi = floor + periodic heat kernel centred at 1/2 solves phi_t = nu phi_xx,
    # so u = -2 nu phi_x / phi solves Burgers: a sawtooth with a front of width
    # about 2 nu / |u| (max |u| 0.43, max |u_x| 27 at t = 0).
    tt = t + t0
    phi, dphi = floor + 0.0 * x, 0.0 * x
    for m in range(-2, 3):
        d = x - 0.5 - m
        g = np.exp(-d * d / (4 * NU_SCRIPT * tt)) / np.sqrt(tt)
        phi, dphi = phi + g, dphi - d / (2 * NU_SCRIPT * tt) * g
    return -2 * NU_SCRIPT * dphi / phi


@pytest.mark.parametrize("resolution", [2048, 8192])
def test_solve_burgers_at_the_script_viscosity_matches_cole_hopf(resolution):
    x = np.arange(8192) / 8192
    u = solve_burgers(_steep_cole_hopf(x, 0.0), viscosity=NU_SCRIPT,
                      resolution=resolution, n_steps=500)  # the law's time step
    exact = _steep_cole_hopf(x, 1.0)
    err = np.abs(u - exact).max() / np.abs(exact).max()
    print(f"\nsteep Cole-Hopf at nu=1e-3, {resolution} points, 500 steps: {err:.1e}")
    assert err < 5e-8  # measured 1.3e-8 (the time step's error)


def test_make_burgers_default_resolution_is_fnos_above_128_points():
    assert _burgers._default_resolution(128) == 1024
    assert _burgers._default_resolution(129) == 8192
    a = make_burgers(2, n_points=1024, n_steps=20, random_state=0)
    b = make_burgers(2, n_points=1024, n_steps=20, resolution=8192, random_state=0)
    c = make_burgers(2, n_points=1024, n_steps=20, resolution=1024, random_state=0)
    np.testing.assert_array_equal(a[2], b[2])
    assert _rel_l2(c[2], a[2]) < 1e-10  # paper law: the modes above 341 are gone


@pytest.mark.parametrize("law", ["paper", "fno-script"])
def test_make_burgers_coarse_grids_subsample_the_8192_point_data(law):
    # FNO's protocol: solve on 8,192 points, keep every 8th (1,024) or 4th.
    kw = dict(law=law, n_steps=200, resolution=8192, random_state=1)
    U8, Y8, G8 = make_burgers(2, n_points=8192, **kw)
    for n in (1024, 2048):
        U, Y, G = make_burgers(2, n_points=n, **kw)
        step = 8192 // n
        np.testing.assert_allclose(Y, Y8[::step], rtol=0, atol=0)
        np.testing.assert_allclose(U, U8[:, ::step], atol=1e-12)
        np.testing.assert_allclose(G, G8[:, ::step], atol=1e-12)


def test_make_burgers_validates_law_and_cache():
    with pytest.raises(ValueError, match="law.*'fno-script'.*'paper'|law.*'paper'"):
        make_burgers(2, law="fno")
    with pytest.raises(ValueError, match="cache=True needs an int random_state"):
        make_burgers(2, cache=True)
    with pytest.raises(ValueError, match="cache=True needs an int random_state"):
        make_burgers(2, cache=True, random_state=np.random.RandomState(0))


def test_make_burgers_cache_hit_is_identical_and_does_not_solve(tmp_path, monkeypatch):
    kw = dict(n_points=64, n_steps=20, random_state=5)
    plain = make_burgers(3, **kw)
    first = make_burgers(3, cache=True, data_home=tmp_path, **kw)
    assert len(list((tmp_path / "burgers").glob("*.npz"))) == 1

    def no_solve(*args, **kwargs):
        raise AssertionError("a cache hit solved")

    monkeypatch.setattr(_burgers, "_evolve", no_solve)
    second = make_burgers(3, cache=True, data_home=tmp_path, n_jobs=2, **kw)
    for x, y, z in zip(plain, first, second):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)
    with pytest.raises(AssertionError, match="solved"):  # another key: a miss
        make_burgers(3, cache=True, data_home=tmp_path, law="fno-script", **kw)


# ---------------------------------------------------------------------------
# Darcy: conjugate gradients, FNO's 421 x 421 solve
# ---------------------------------------------------------------------------
def _mesh(n):
    t = np.linspace(0, 1, n)
    return np.meshgrid(t, t)


@pytest.mark.parametrize("n", [5, 40, 421])
def test_solve_darcy_cg_constant_a_sine_is_a_discrete_eigenfunction(n):
    x1, x2 = _mesh(n)
    u = np.sin(np.pi * x1) * np.sin(np.pi * x2)
    h = 1 / (n - 1)
    got = solve_darcy(np.full(n * n, 2.5), (2 * np.pi**2 * 2.5 * u).ravel(), solver="cg")
    expected = u * 2 * np.pi**2 * h**2 / (8 * np.sin(np.pi * h / 2) ** 2)
    np.testing.assert_allclose(got, expected.ravel(), rtol=0, atol=1e-12)


def test_solve_darcy_cg_converges_at_second_order():
    # u = x1 sin(pi x1) sin(pi x2), a = 1 + sin(2 pi x1) cos(pi x2) / 2 + x1 x2.
    errors = []
    for n in (17, 33, 65):
        x, y = _mesh(n)
        pi = np.pi
        a = 1 + 0.5 * np.sin(2 * pi * x) * np.cos(pi * y) + x * y
        ax = pi * np.cos(2 * pi * x) * np.cos(pi * y) + y
        ay = -0.5 * pi * np.sin(2 * pi * x) * np.sin(pi * y) + x
        u = x * np.sin(pi * x) * np.sin(pi * y)
        ux = (np.sin(pi * x) + pi * x * np.cos(pi * x)) * np.sin(pi * y)
        uy = pi * x * np.sin(pi * x) * np.cos(pi * y)
        uxx = (2 * pi * np.cos(pi * x) - pi**2 * x * np.sin(pi * x)) * np.sin(pi * y)
        f = -(ax * ux + a * uxx + ay * uy - a * pi**2 * u)
        got = solve_darcy(a.ravel(), f.ravel(), solver="cg")
        np.testing.assert_allclose(got, solve_darcy(a.ravel(), f.ravel(), solver="direct"),
                                   rtol=0, atol=1e-11)
        errors.append(np.abs(got - u.ravel()).max())
    rates = np.log2(np.array(errors[:-1]) / errors[1:])
    assert np.all(np.abs(rates - 2) < 0.1) and errors[-1] < 2e-4


@pytest.mark.parametrize("n", [29, 57])
def test_solve_darcy_cg_agrees_with_superlu_on_benchmark_fields(n):
    rng = np.random.RandomState(0)
    a = np.where(_darcy._sample_field(5, n, rng) >= 0, 12.0, 3.0).reshape(5, -1)
    direct = solve_darcy(a, solver="direct")
    cg = solve_darcy(a, solver="cg")
    diff = np.abs(cg - direct).max() / np.abs(direct).max()
    print(f"\nDarcy {n} x {n}: CG vs SuperLU, max difference / max |u| {diff:.1e}")
    assert diff < 1e-9  # measured about 1e-12 (CG stops at a residual of 1e-10)
    # Each field's iterates are its own: one field alone gives the same values.
    np.testing.assert_array_equal(solve_darcy(a[2], solver="cg"), cg[2])
    assert solve_darcy(a, solver="auto").tobytes() == direct.tobytes()  # <= 141: direct


def test_solve_darcy_cg_zero_source_and_non_convergence(monkeypatch):
    np.testing.assert_array_equal(solve_darcy(np.ones(25), 0.0, solver="cg"), np.zeros(25))
    monkeypatch.setattr(_darcy, "_CG_MAX_ITER", 2)
    with pytest.raises(FloatingPointError, match="did not reach .* solver='direct'"):
        solve_darcy(np.exp(np.random.RandomState(0).standard_normal(81)), solver="cg")


def test_make_darcy_default_resolution_is_fnos_for_its_grids():
    for n in (85, 106, 141, 211, 421):
        assert _darcy._default_resolution(n) == 421
    assert _darcy._default_resolution(29) == 141  # Lu et al.'s grid: unchanged
    assert _darcy._default_resolution(22) == 148
    assert _darcy._solver_name(141) == "direct" and _darcy._solver_name(421) == "cg"


def test_make_darcy_fno_grids_subsample_the_421_solve():
    # One 421 x 421 solve (about 0.5 s); its every 5th node is the 85 x 85 data.
    U421, Y421, G421 = make_darcy(1, n_points=421, random_state=2)
    U85, Y85, G85 = make_darcy(1, n_points=85, random_state=2)
    sub = np.ix_(np.arange(0, 421, 5), np.arange(0, 421, 5))
    np.testing.assert_array_equal(U85.reshape(85, 85), U421.reshape(421, 421)[sub])
    np.testing.assert_allclose(Y85.reshape(85, 85, 2), Y421.reshape(421, 421, 2)[sub],
                               rtol=0, atol=1e-15)
    np.testing.assert_array_equal(G85.reshape(85, 85), G421.reshape(421, 421)[sub])


def test_make_darcy_cg_grid_agrees_with_a_direct_solve_and_a_finer_grid():
    # 211 x 211 (CG by default) against SuperLU on the same grid, and the
    # resolutions 106 and 211 against 421 at the 22 x 22 output nodes.
    cg = make_darcy(2, n_points=22, resolution=211, random_state=0)
    direct = make_darcy(2, n_points=22, resolution=211, solver="direct", random_state=0)
    np.testing.assert_array_equal(cg[0], direct[0])
    assert _rel_l2(cg[2], direct[2]) < 1e-10
    fine = make_darcy(2, n_points=22, resolution=421, random_state=0)[2]
    coarse = make_darcy(2, n_points=22, resolution=106, random_state=0)[2]
    d211, d106 = _rel_l2(cg[2], fine), _rel_l2(coarse, fine)
    print(f"\nDarcy at 22 x 22 vs 421: {d211:.1e} at 211, {d106:.1e} at 106")
    assert d211 < 3e-3 and d211 < 0.7 * d106  # first order: the jumps of a


def test_make_darcy_validates_solver_and_cache(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="'solver' parameter of make_darcy must be a str"):
        make_darcy(2, solver="lu")
    with pytest.raises(ValueError, match="'solver' parameter of solve_darcy"):
        solve_darcy(np.ones(9), solver="lu")
    with pytest.raises(ValueError, match="cache=True needs an int random_state"):
        make_darcy(2, cache=True)
    kw = dict(n_points=8, resolution=15, random_state=4)
    first = make_darcy(3, cache=True, data_home=tmp_path, **kw)
    monkeypatch.setattr(_darcy, "_solver", None)  # a hit does not solve
    second = make_darcy(3, cache=True, data_home=tmp_path, **kw)
    monkeypatch.undo()
    for x, y, z in zip(make_darcy(3, **kw), first, second):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)
    assert len(list((tmp_path / "darcy").glob("*.npz"))) == 1


# ---------------------------------------------------------------------------
# The reproduce records at FNO's resolutions
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("benchmark, n_points, grid", [("burgers-1024", 1024, (1024,)),
                                                       ("darcy-85", 7225, (85, 85))])
def test_full_resolution_records(benchmark, n_points, grid):
    from skoperator.reproduce import BENCHMARKS, make_estimator

    spec = BENCHMARKS[benchmark]
    assert spec in _benchmarks_full.FULL_RESOLUTION
    assert spec.coords().shape[0] == n_points
    assert spec.n_train == (1000,) and spec.n_test == 200  # FNO's protocol
    assert all(0 < error < 0.05 and source for _, error, source in spec.published)
    model = make_estimator(benchmark)
    est = final_estimator(model)
    assert est.branch.grid == grid and est.max_time is None
    U, _, G = spec.make(2, random_state=0)
    assert U.shape == G.shape == (2, n_points)
    est.set_params(max_iter=1, branch__width=4, branch__modes=4, n_basis=2)
    assert model.fit(U, G).predict(U[:1]).shape == (1, n_points)
    if benchmark == "darcy-85":  # the mean over the square's eight maps: equivariant
        assert isinstance(model, GroupAveragedRegressor) and model.n_group_ == 8
        assert not isinstance(make_estimator(benchmark, symmetries=False),
                              GroupAveragedRegressor)
        square = U.reshape(2, *grid)
        pred = model.predict(U).reshape(square.shape)
        for g in (lambda a: np.rot90(a, 1, axes=(1, 2)), lambda a: a.transpose(0, 2, 1),
                  lambda a: a[:, ::-1]):
            got = model.predict(np.ascontiguousarray(g(square)).reshape(2, -1))
            np.testing.assert_allclose(got.reshape(square.shape), g(pred), rtol=1e-5,
                                       atol=1e-6 * np.abs(pred).max())


def test_full_resolution_generators_cache_large_int_seeded_calls(tmp_path, monkeypatch):
    monkeypatch.setenv("SKOPERATOR_DATA", str(tmp_path))
    make = _benchmarks_full.make_burgers_1024
    make(2, random_state=0)  # small: not cached
    assert not list(tmp_path.rglob("*.npz"))
    monkeypatch.setattr(_benchmarks_full, "_CACHE_FROM", 2)
    first = make(2, random_state=0)
    make(2, random_state=None)  # no int seed: not cached
    assert len(list(tmp_path.rglob("*.npz"))) == 1
    for a, b in zip(first, make(2, random_state=0)):
        np.testing.assert_array_equal(a, b)
