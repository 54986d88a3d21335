"""Full-resolution generators (Burgers 8,192 -> 1,024, Darcy 421 -> 85), both
Burgers laws, and the disk cache of the generators."""

import numpy as np
import pytest

from skoperator.datasets import _cache


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
