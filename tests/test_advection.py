"""make_advection: exact solutions of periodic linear advection under two published laws."""

import numpy as np
import pytest

from skoperator.datasets import make_advection
from skoperator.datasets._advection import _de_hoop_field


@pytest.mark.parametrize("profile", ["square", "smooth"])
def test_lanthaler_solution_is_the_initial_state_moved(profile):
    # 64 points, shift 0.25: the state moves by exactly 16 points.
    U, Y, G = make_advection(20, law="lanthaler", profile=profile, n_points=64, shift=0.25,
                             random_state=0)
    np.testing.assert_array_equal(G, np.roll(U, 16, axis=1))
    np.testing.assert_array_equal(Y[:, 0], np.arange(64) / 64)


def test_lanthaler_square_waves_follow_the_stated_law():
    U, _, _ = make_advection(500, law="lanthaler", n_points=2048, random_state=0)
    heights = U.max(axis=1)
    widths = (U > 0).mean(axis=1)
    assert U.shape == (500, 2048) and np.all((U == 0) | (U == heights[:, None]))
    assert 0.2 <= heights.min() and heights.max() <= 0.8
    assert 0.05 - 1 / 2048 <= widths.min() and widths.max() <= 0.3 + 1 / 2048


def test_de_hoop_solution_is_the_field_moved_by_half_the_period():
    U, Y, G = make_advection(30, random_state=0)
    x = Y[:, 0]
    np.testing.assert_array_equal(x, np.linspace(0, 1, 200))
    theta = np.random.RandomState(0).standard_normal((30, 100))  # the generator's draws
    field = _de_hoop_field(theta, (x - 0.5) % 1.0)
    np.testing.assert_array_equal(G, np.where(field > 0, 1.0, -1.0))
    np.testing.assert_array_equal(U, np.where(_de_hoop_field(theta, x) > 0, 1.0, -1.0))


def test_de_hoop_smooth_field_is_exactly_shifted():
    # Points j / 100 in [0, 1] and a shift of 0.25: the field at x - 0.25 is the
    # input at the point 25 before (periodic, the last point being the first).
    U, Y, G = make_advection(5, profile="smooth", n_points=101, shift=0.25, random_state=0)
    np.testing.assert_allclose(G[:, 25:], U[:, :76], rtol=0, atol=1e-12)
    np.testing.assert_allclose(G[:, :25], U[:, 75:100], rtol=0, atol=1e-12)


def test_de_hoop_field_has_the_stated_covariance():
    # (-Laplacian + 9)^-2 truncated to frequencies 1..50: pointwise variance
    # sum_k 2 / ((2 pi k)^2 + 9)^2.
    U, _, _ = make_advection(20000, profile="smooth", n_points=3, random_state=0)
    k = np.arange(1, 51)
    variance = np.sum(2 / ((2 * np.pi * k) ** 2 + 9) ** 2)
    np.testing.assert_allclose(U.var(axis=0), variance, rtol=0.05)


def test_same_seed_same_data_and_defaults_per_law():
    a = make_advection(3, law="lanthaler", random_state=1)
    b = make_advection(3, law="lanthaler", random_state=1)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert a[0].shape == (3, 2048)


@pytest.mark.parametrize("kwargs, match", [
    (dict(law="burgers"), "law"),
    (dict(profile="sine"), "profile"),
    (dict(n_points=1), "n_points"),
    (dict(n_points=True), "n_points"),
])
def test_bad_arguments_are_refused_by_name(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make_advection(3, **kwargs)


def test_reproduce_records_report_the_papers_metric():
    from skoperator.reproduce import BENCHMARKS, format_table, run

    assert BENCHMARKS["advection-de-hoop"].metric == "mean_rel_l2"
    assert BENCHMARKS["advection-lanthaler"].metric == "median_rel_l1"
    assert BENCHMARKS["advection-lanthaler"].coords().shape == (2048, 1)
    rows = run("advection-lanthaler", n_trains=(20,), epochs=1, n_test=5, out=None,
               device="cpu", n_basis=8)  # the recipe's 1,170 POD modes need 1,170 functions
    assert 0 < rows[0]["median_rel_l1"] and "med L1 %" in format_table(rows)
    assert "published (median relative L1 error):" in format_table(rows)


@pytest.mark.parametrize("law", ["lanthaler", "de-hoop"])
@pytest.mark.parametrize("shift", [3.0, -2.0, 2.0**52, 1e17])
def test_whole_shifts_of_any_size_give_the_input(law, shift):
    # x - shift rounded x away for a large shift (G was constant at 1e17).
    U, _, G = make_advection(2, law=law, n_points=16, shift=shift, random_state=0)
    np.testing.assert_array_equal(G, U)
