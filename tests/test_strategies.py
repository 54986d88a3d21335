"""Sampling strategies and n_eval schedules: each tested for what it promises."""

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV

from skoperator import DeepONetRegressor
from skoperator.callbacks import BaseCallback
from skoperator.datasets import make_antiderivative, make_poisson
from skoperator.metrics import mean_function_r2
from skoperator.networks import MLPBranch, MLPTrunk
from skoperator.sampling import (
    SAMPLERS,
    AdaptiveSampler,
    ObservedPoints,
    SamplingContext,
    balanced_cells,
    make_sampler,
    sample_distinct,
)

CPU = torch.device("cpu")
FAST = dict(branch=MLPBranch(layers=(16,)), trunk=MLPTrunk(layers=(16,)), n_basis=8,
            max_iter=3, tol=None, device="cpu", random_state=0)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _setup(sampler, n_eval, coords, n_functions=20, observed=None, residuals=None,
           n_epochs=4):
    ctx = SamplingContext(n_eval=n_eval, coords=coords, n_functions=n_functions, device=CPU,
                          generator=_gen(0), n_epochs=n_epochs, observed=observed,
                          residuals=residuals)
    sampler.setup(ctx)
    sampler.start_epoch(0)
    return sampler


def _grid(n):
    return torch.linspace(0, 1, n).reshape(-1, 1)


# --------------------------------------------------------------------- fixed
def test_fixed_keeps_one_subset_per_function():
    s = _setup(SAMPLERS["fixed"](), 5, _grid(40))
    rows = torch.tensor([3, 7, 3])
    a, w = s.sample(rows, _gen(1))
    b, _ = s.sample(rows, _gen(2))
    assert w is None and torch.equal(a, b)
    assert torch.equal(a[0], a[2])  # function 3, both times
    assert set(a[0].tolist()) != set(a[1].tolist())
    assert len(set(a[0].tolist())) == 5
    s.start_epoch(3)
    assert torch.equal(s.sample(rows, _gen(3))[0], a)


def test_fixed_subsets_are_uniform_over_functions():
    s = _setup(SAMPLERS["fixed"](), 3, _grid(10), n_functions=20_000)
    cols, _ = s.sample(torch.arange(20_000), _gen(0))
    counts = np.bincount(cols.numpy().ravel(), minlength=10)
    expected = counts.sum() / 10
    assert ((counts - expected) ** 2 / expected).sum() < 40  # chi2, 9 dof


def test_fixed_with_a_schedule_uses_nested_subsets_and_observed_points():
    mask = torch.ones(6, 30, dtype=torch.bool)
    mask[0, 5:] = False  # function 0 observes 5 points
    s = _setup(SAMPLERS["fixed"](), lambda epoch: 2 + 3 * epoch, _grid(30), n_functions=6,
               observed=ObservedPoints.from_mask(mask))
    rows = torch.arange(6)
    small, w_small = s.sample(rows, _gen(0))
    s.start_epoch(2)
    large, w_large = s.sample(rows, _gen(0))
    assert small.shape == (6, 2) and large.shape == (6, 8)
    assert torch.equal(large[:, :2], small)  # nested
    assert (large[0][w_large[0] > 0] < 5).all() and int((w_large[0] > 0).sum()) == 5


# ---------------------------------------------------------------- stratified
@pytest.mark.parametrize("n_points, n_cells", [(100, 10), (100, 7), (101, 1), (10, 10)])
def test_balanced_cells_partition_a_grid_into_equal_cells(n_points, n_cells):
    cells, sizes = balanced_cells(_grid(n_points), n_cells)
    members = [cells[c, :sizes[c]].tolist() for c in range(n_cells)]
    flat = sorted(sum(members, []))
    assert flat == list(range(n_points))  # a partition
    assert int(sizes.max() - sizes.min()) <= 1
    # on a line, every cell is an interval
    for m in members:
        assert max(m) - min(m) == len(m) - 1


def test_balanced_cells_in_two_dimensions_on_scattered_points():
    pts = torch.rand(1000, 2, generator=_gen(0))
    cells, sizes = balanced_cells(pts, 16)
    assert int(sizes.sum()) == 1000 and int(sizes.max() - sizes.min()) <= 1
    # cells are compact: each is much smaller than the domain
    spans = [float((pts[cells[c, :sizes[c]]].max(0).values
                    - pts[cells[c, :sizes[c]]].min(0).values).max()) for c in range(16)]
    assert max(spans) < 0.6


def test_stratified_draws_one_point_per_cell_fresh_every_step():
    coords = _grid(60)
    s = _setup(SAMPLERS["stratified"](), 6, coords)
    rows = torch.arange(20)
    a, w = s.sample(rows, _gen(1))
    b, _ = s.sample(rows, _gen(2))
    assert w is None and a.shape == (20, 6) and not torch.equal(a, b)
    # 60 points in 6 cells of 10 consecutive points: one draw per cell
    assert torch.equal(a // 10, torch.arange(6).expand(20, -1))


def test_stratified_loss_is_unbiased_with_unequal_cells():
    coords = _grid(23)
    s = _setup(SAMPLERS["stratified"](), 5, coords, n_functions=1)
    values = torch.linspace(-1, 3, 23) ** 2
    gen = _gen(3)
    n = 40_000
    rows = torch.zeros(n, dtype=torch.long)
    cols, w = s.sample(rows, gen)
    estimate = (w * values[cols]).sum(dim=1) / 5
    assert float(estimate.mean()) == pytest.approx(float(values.mean()), rel=5e-3)


def test_stratified_with_missing_values_draws_observed_points():
    mask = torch.rand(8, 40, generator=_gen(0)) < 0.5
    mask[:, 0] = True
    s = _setup(SAMPLERS["stratified"](), 4, _grid(40), n_functions=8,
               observed=ObservedPoints.from_mask(mask))
    cols, w = s.sample(torch.arange(8), _gen(1))
    for i in range(8):
        for c, weight in zip(cols[i].tolist(), w[i].tolist()):
            if weight > 0:
                assert mask[i, c]
            else:  # a cell without observed points
                assert not mask[i, (c // 10) * 10:(c // 10) * 10 + 10].any()


# ------------------------------------------------------------------ adaptive
def test_adaptive_loss_is_an_unbiased_estimate_of_the_full_grid_loss():
    n_points, k = 30, 4
    rng = np.random.default_rng(0)
    residual = torch.tensor(rng.gamma(0.5, size=(1, n_points)), dtype=torch.float32)
    errors = torch.tensor(rng.gamma(2.0, size=n_points), dtype=torch.float32)
    s = _setup(AdaptiveSampler(floor=0.1), k, _grid(n_points), n_functions=1,
               residuals=lambda: residual)
    rows = torch.zeros(200_000, dtype=torch.long)
    cols, w = s.sample(rows, _gen(5))
    estimates = (w * errors[cols]).sum(dim=1) / k
    assert float(estimates.mean()) == pytest.approx(float(errors.mean()), rel=4e-3)
    # the draws follow the residuals: the worst point is drawn most often
    counts = np.bincount(cols.numpy().ravel(), minlength=n_points)
    assert counts.argmax() == int(residual.argmax())
    # and the floor keeps every point in play
    q = s.probabilities_[0]
    assert float(q.min()) >= 0.1 / n_points - 1e-7
    assert float(q.sum()) == pytest.approx(1.0, abs=1e-5)


def test_adaptive_refreshes_every_few_epochs():
    calls = []

    def residuals():
        calls.append(1)
        return torch.ones(20, 10)

    s = _setup(AdaptiveSampler(refresh=3), 2, _grid(10), residuals=residuals, n_epochs=7)
    for epoch in range(1, 7):
        s.start_epoch(epoch)
    assert len(calls) == 3  # epochs 0, 3 and 6


def test_adaptive_settings_are_checked_and_a_large_power_stays_a_distribution():
    residual = torch.tensor([[1e-3, 2.0, 4.0, 3.9]])
    for setting in (dict(power=float("inf")), dict(power=0.0), dict(refresh=True),
                    dict(floor=True), dict(power=True)):
        with pytest.raises(ValueError, match=f"AdaptiveSampler {next(iter(setting))}="):
            _setup(AdaptiveSampler(**setting), 2, _grid(4), n_functions=1,
                   residuals=lambda: residual)
    s = _setup(AdaptiveSampler(power=300.0, floor=0.2), 2, _grid(4), n_functions=1,
               residuals=lambda: residual)
    q = s.probabilities_[0].double()
    # share (4 / 3.9) ** -300 ~ 5e-4 on point 2; the floor spreads 0.2 uniformly
    share = torch.tensor([0.0, (2 / 4) ** 300, 1.0, (3.9 / 4) ** 300], dtype=torch.float64)
    torch.testing.assert_close(q, 0.8 * share / share.sum() + 0.05, rtol=1e-5, atol=0)


def test_make_sampler_and_the_draw_helpers_name_bad_arguments():
    with pytest.raises(ValueError, match=r"sampling='rand' is not a sampler: pass one of \["):
        make_sampler("rand")
    with pytest.raises(ValueError, match=r"pass an instance, such as RandomSampler\(\)"):
        make_sampler(SAMPLERS["random"])
    for n_cells in (0, -1, 11, True):
        with pytest.raises(ValueError, match="n_cells=.*an int from 1 to the number of points"):
            balanced_cells(_grid(10), n_cells)
    with pytest.raises(ValueError, match="k=12 draws without replacement need"):
        sample_distinct(2, 12, 10, _gen(0), CPU)


def test_a_schedule_s_n_eval_is_checked_beyond_100_epochs_before_training():
    U, Y, G = make_antiderivative(30, n_points=20, random_state=0)
    est = DeepONetRegressor(coords=Y, n_eval=lambda e: 5 if e < 150 else 21,
                            **{**FAST, "max_iter": 160})
    _Count.seen = []
    with pytest.raises(ValueError, match=r"n_eval\(150\)=21 is larger than n_points=20"):
        est.set_params(callbacks=[_Count()]).fit(U, G)
    assert _Count.seen == []  # no epoch ran
    est.set_params(n_eval=5, max_iter=2).fit(U, G)
    assert _Count.seen == [1, 2]  # the counter counts


def test_adaptive_trains_in_the_estimator():
    # the estimator end to end: trains, and the history records n_eval
    U, Y, G = make_antiderivative(200, n_points=50, random_state=0)
    est = DeepONetRegressor(coords=Y, sampling="adaptive", n_eval=5, **FAST).fit(U, G)
    assert [h["n_eval"] for h in est.history_] == [5, 5, 5]
    assert est.score(U, G) > 0


class _Count(BaseCallback):
    seen = []  # on the class: a fit calls its own deep copy

    def on_epoch_end(self, record, info):
        type(self).seen.append(record["epoch"])


# ------------------------------------------------------------ n_eval schedule
def grow(epoch):
    return 2 + 2 * epoch


def test_n_eval_schedule_is_recorded_per_epoch():
    U, Y, G = make_antiderivative(60, n_points=30, random_state=0)
    est = DeepONetRegressor(coords=Y, n_eval=grow, **{**FAST, "max_iter": 4}).fit(U, G)
    assert [h["n_eval"] for h in est.history_] == [2, 4, 6, 8]
    assert est.n_eval_ == 8
    frac = DeepONetRegressor(coords=Y, n_eval=lambda e: 0.1 * (e + 1),
                             **{**FAST, "max_iter": 3}).fit(U, G)
    assert [h["n_eval"] for h in frac.history_] == [3, 6, 9]


@pytest.mark.parametrize("sampling", sorted(set(SAMPLERS) - {"full"}))
def test_every_mode_trains_with_a_schedule_and_in_a_search(sampling):
    t, x = np.meshgrid(np.linspace(0, 1, 4), np.linspace(0, 1, 10), indexing="ij")
    coords = np.column_stack([t.ravel(), x.ravel()])
    rng = np.random.default_rng(0)
    U = rng.normal(size=(30, 6))
    G = U[:, :1] * coords[:, 0] + np.sin(3 * coords[:, 1]) * U[:, 1:2]
    est = DeepONetRegressor(coords=coords, sampling=sampling, n_eval=lambda e: 1 + e,
                            **FAST).fit(U, G)
    assert [h["n_eval"] for h in est.history_] == [1, 2, 3]
    search = GridSearchCV(DeepONetRegressor(coords=coords, sampling=sampling, **FAST),
                          {"n_eval": [2, 4]}, cv=2).fit(U, G)
    assert np.isfinite(search.best_score_)


# ----------------------------------------------------------- Poisson accuracy
def test_poisson_operator_is_learned_against_its_exact_solution():
    from skoperator.datasets import solve_poisson

    U, Y, G = make_poisson(700, random_state=0)
    est = DeepONetRegressor(coords=Y, n_eval=10, max_iter=100, learning_rate="onecycle",
                            learning_rate_init=5e-3, tol=None, device="cpu",
                            random_state=0).fit(U[:500], G[:500])
    assert mean_function_r2(G[500:], est.predict(U[500:])) >= 0.95
    fine = np.linspace(0, 1, 333)
    exact = solve_poisson(U[500:], fine)
    assert mean_function_r2(exact, est.predict(U[500:], coords=fine.reshape(-1, 1))) >= 0.95
