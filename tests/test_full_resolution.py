"""Full-resolution generators (Burgers 8,192 -> 1,024, Darcy 421 -> 85), both
Burgers laws, and the disk cache of the generators."""

import numpy as np
import pytest

from skoperator.datasets import _burgers, _cache, make_burgers, solve_burgers


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
