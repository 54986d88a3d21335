"""Tests of the trunk-point samplers: ranges, distinctness, uniformity, freshness."""

import itertools

import numpy as np
import pytest
import torch

from skoperator._sampling import (
    SAMPLERS,
    ObservedPoints,
    SamplingContext,
    group_table,
    prefer_dense,
    resolve_n_eval,
    sample_distinct,
)

CPU = torch.device("cpu")


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _assert_distinct_rows(idx):
    s = np.sort(idx.numpy(), axis=1)
    assert (np.diff(s, axis=1) > 0).all()


SIZES = [(1, 1, 1), (7, 5, 5), (64, 3, 10), (256, 32, 100), (33, 10, 200_000)]


@pytest.mark.parametrize(
    "n_rows, k, upper, dense",
    [(*size, dense) for size in SIZES for dense in (None, True, False)
     if not (dense and size[2] > 10_000)],  # dense on a huge range: slow, not wrong
)
def test_sample_distinct_in_range_and_distinct(n_rows, k, upper, dense):
    idx = sample_distinct(n_rows, k, upper, _gen(), CPU, dense=dense)
    assert idx.shape == (n_rows, k)
    assert idx.dtype == torch.int64
    assert int(idx.min()) >= 0 and int(idx.max()) < upper
    _assert_distinct_rows(idx)


@pytest.mark.parametrize("dense", [None, True, False])
def test_sample_distinct_per_row_upper(dense):
    upper = torch.tensor([4, 4, 9, 50, 1000, 7])
    idx = sample_distinct(6, 4, upper, _gen(1), CPU, dense=dense, width=1000)
    assert idx.shape == (6, 4)
    assert (idx >= 0).all() and (idx < upper[:, None]).all()
    _assert_distinct_rows(idx)
    # k equal to a row's bound draws that whole row
    assert sorted(idx[0].tolist()) == [0, 1, 2, 3]


def _chi2(counts):
    counts = np.asarray(counts, dtype=float)
    expected = counts.sum() / counts.size
    return float(((counts - expected) ** 2 / expected).sum())


@pytest.mark.parametrize("dense", [True, False])
def test_sample_distinct_uniform_marginals(dense):
    n_rows, k, upper = 20_000, 3, 10
    idx = sample_distinct(n_rows, k, upper, _gen(2), CPU, dense=dense)
    counts = np.bincount(idx.numpy().ravel(), minlength=upper)
    # 9 degrees of freedom: the 99.999% quantile is about 38.
    assert _chi2(counts) < 40


@pytest.mark.parametrize("dense", [True, False])
def test_sample_distinct_uniform_subsets(dense):
    # Uniform marginals are not enough: every 2-subset of 5 must be equally likely.
    n_rows, k, upper = 20_000, 2, 5
    idx = np.sort(sample_distinct(n_rows, k, upper, _gen(3), CPU, dense=dense).numpy(), axis=1)
    subsets = list(itertools.combinations(range(upper), k))
    counts = [np.sum((idx[:, 0] == a) & (idx[:, 1] == b)) for a, b in subsets]
    assert sum(counts) == n_rows
    # 9 degrees of freedom, as above.
    assert _chi2(counts) < 40


def test_sample_distinct_uniform_with_per_row_upper():
    upper = torch.tensor([6, 12]).repeat(10_000)
    idx = sample_distinct(len(upper), 2, upper, _gen(4), CPU, dense=False).numpy()
    for row, n in ((0, 6), (1, 12)):
        counts = np.bincount(idx[row::2].ravel(), minlength=n)
        assert counts.size == n
        assert _chi2(counts) < 45


@pytest.mark.parametrize("dense", [True, False])
def test_sample_distinct_fresh_across_calls(dense):
    gen = _gen(5)
    a = sample_distinct(16, 8, 1000, gen, CPU, dense=dense)
    b = sample_distinct(16, 8, 1000, gen, CPU, dense=dense)
    assert not torch.equal(a, b)
    # and reproducible from the seed
    gen = _gen(5)
    assert torch.equal(a, sample_distinct(16, 8, 1000, gen, CPU, dense=dense))


def test_sample_distinct_rows_are_independent():
    idx = np.sort(sample_distinct(200, 5, 1000, _gen(6), CPU).numpy(), axis=1)
    assert len({tuple(r) for r in idx}) == 200


def test_prefer_dense_decisions():
    assert prefer_dense(256, 32, 100, 100, CPU)  # a third of the candidates
    assert not prefer_dense(256, 10, 100, 100, CPU)
    assert not prefer_dense(256, 32, 200_000, 200_000, CPU)
    cuda = torch.device("cuda")
    assert prefer_dense(256, 10, 1000, 1000, cuda)  # small table: no host sync
    assert prefer_dense(256, 32, 200_000, 200_000, cuda)  # 51M keys: under 2^26
    assert not prefer_dense(256, 32, 1_000_000, 1_000_000, cuda)


def _sampler(sampling, n_eval=4, n_points=30, observed=None, coords=None, n_functions=None):
    if coords is None:
        coords = torch.linspace(0, 1, n_points).reshape(-1, 1)
    n_functions = n_functions or (observed.table.shape[0] if observed is not None else 50)
    context = SamplingContext(n_eval=n_eval, coords=coords, n_functions=n_functions,
                              device=CPU, generator=_gen(8), n_epochs=3, observed=observed)
    sampler = SAMPLERS[sampling]().setup(context)
    sampler.start_epoch(0)
    return sampler


def _draw(sampler, rows, seed=7):
    return sampler.sample(rows, _gen(seed))


def observation_table(mask):
    obs = ObservedPoints.from_mask(mask)
    return obs.table, obs.counts


def test_trunk_sampler_full():
    assert _draw(_sampler("full"), torch.arange(5)) == (None, None)


def test_trunk_sampler_shared():
    cols, valid = _draw(_sampler("shared"), torch.arange(5))
    assert cols.shape == (4,) and valid is None
    assert len(set(cols.tolist())) == 4 and int(cols.max()) < 30


def test_trunk_sampler_random_fresh_each_step():
    sampler = _sampler("random", n_eval=6, n_points=1000)
    rows = torch.arange(10)
    gen = _gen(3)
    first, valid = sampler.sample(rows, gen)
    second, _ = sampler.sample(rows, gen)
    assert first.shape == (10, 6) and valid is None
    _assert_distinct_rows(first)
    _assert_distinct_rows(second)
    assert not torch.equal(first, second)
    assert len({tuple(sorted(r)) for r in first.tolist()}) == 10  # per function


def test_trunk_sampler_grouped():
    t = np.repeat(np.arange(3.0), 5)
    x = np.tile(np.linspace(0, 1, 5), 3)
    coords = torch.tensor(np.column_stack([t, x]))
    groups = group_table(coords)
    cols, valid = _draw(_sampler("grouped", n_eval=2, coords=coords.float()), torch.arange(4))
    assert cols.shape == (4, 6) and valid is None
    for row in cols.numpy():
        for g in range(3):
            picked = row[2 * g:2 * g + 2]
            assert set(picked) <= set(groups[g].tolist())
            assert len(set(picked)) == 2


def test_trunk_sampler_random_observed_only():
    rng = np.random.default_rng(0)
    mask = torch.tensor(rng.random((8, 40)) < 0.5)
    mask[:, 0] = True
    sampler = _sampler("random", n_eval=5, n_points=40, observed=ObservedPoints.from_mask(mask))
    rows = torch.tensor([7, 2, 5])
    cols, valid = _draw(sampler, rows)
    assert cols.shape == (3, 5)
    for a, i in enumerate(rows.tolist()):
        assert mask[i, cols[a]].all()
        assert len(set(cols[a].tolist())) == 5
    assert valid is None  # every function has at least 5 observed points


def test_trunk_sampler_random_few_observed_padded():
    mask = torch.zeros(3, 20, dtype=torch.bool)
    mask[0, [1, 4]] = True   # 2 observed < n_eval
    mask[1, :10] = True
    mask[2, ::2] = True
    sampler = _sampler("random", n_eval=4, n_points=20, observed=ObservedPoints.from_mask(mask))
    gen = _gen(1)
    for _ in range(5):
        cols, valid = sampler.sample(torch.arange(3), gen)
        valid = valid > 0
        assert valid.shape == (3, 4)
        assert valid.sum(dim=1).tolist() == [2, 4, 4]
        assert sorted(cols[0][valid[0]].tolist()) == [1, 4]
        for i in (1, 2):
            assert mask[i, cols[i]].all()
            assert len(set(cols[i].tolist())) == 4


def test_observation_table():
    mask = torch.tensor([[True, False, True, True], [False, False, True, False]])
    table, counts = observation_table(mask)
    assert counts.tolist() == [3, 1]
    assert table.dtype == torch.int32
    assert table[0, :3].tolist() == [0, 2, 3]
    assert table[1, :1].tolist() == [2]


def test_group_table():
    coords = torch.tensor([[1.0, 0.0], [0.0, 0.5], [1.0, 0.5], [0.0, 0.0]])
    groups = group_table(coords)
    assert groups.tolist() == [[1, 3], [0, 2]]


def test_group_table_unequal_groups():
    coords = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match="same number of points"):
        group_table(coords)


@pytest.mark.parametrize("n_eval, n_available, bounded, expected", [
    ("auto", 100, True, 32), ("auto", 10, True, 10), (0.1, 30, True, 3), (1.0, 7, True, 7),
    (5, 5, True, 5), (500, 100, False, 500), (0.25, 100, False, 25),
    (lambda epoch: 4 + epoch, 100, True, 6),
])
def test_resolve_n_eval_is_the_one_resolver(n_eval, n_available, bounded, expected):
    assert resolve_n_eval(n_eval, n_available, epoch=2, bounded=bounded) == expected


@pytest.mark.parametrize("n_eval, match", [
    (500, r"n_eval=500 is larger than n_points=100"), (0, "at least 1"), (1.5, "outside"),
    ("most", "not understood"), (lambda e: 500, r"n_eval\(3\)=500 is larger"),
    (lambda e: 1 / 0, "n_eval schedule raised at epoch 3"),
])
def test_resolve_n_eval_names_the_bad_value(n_eval, match):
    with pytest.raises(ValueError, match=match):
        resolve_n_eval(n_eval, 100, epoch=3)


# ---------------------------------------------------------------- review fixes (0.4.0)
def test_stratified_with_missing_targets_is_unbiased_for_each_functions_observed_mean():
    # cell 1 (points 0-9) observed, error 0; cell 2 observed at point 10 only, error 1
    mask = torch.zeros(1, 20, dtype=torch.bool)
    mask[0, :11] = True
    sampler = _sampler("stratified", n_eval=2, n_points=20,
                       observed=ObservedPoints.from_mask(mask))
    error = torch.zeros(20)
    error[10] = 1.0
    total = 0.0
    for seed in range(200):
        cols, w = _draw(sampler, torch.tensor([0]), seed)
        total += float((w * error[cols]).sum() / (w > 0).sum())
    assert total / 200 == pytest.approx(1 / 11, rel=1e-6)  # every draw: w = [20/11, 2/11]


def test_sample_distinct_refuses_a_k_above_a_rows_upper_bound():
    with pytest.raises(ValueError, match="the smallest of upper is 3"):
        sample_distinct(2, 5, torch.tensor([3, 10]), _gen(), CPU)


def test_a_chunk_samplers_n_eval_schedule_is_checked_before_training():
    from skoperator import DeepONetRegressor
    from skoperator.datasets import make_antiderivative
    from skoperator.sampling import ChunkSampler
    U, Y, G = make_antiderivative(64, n_points=20, random_state=0)
    est = DeepONetRegressor(coords=Y, sampling=ChunkSampler(chunks=(4, 5)),
                            n_eval=lambda epoch: 3 + epoch, max_iter=5, tol=None)
    with pytest.raises(ValueError, match=r"n_eval=6 points per function \(the n_eval "
                                         r"schedule's value at epoch 3\)"):
        est.fit(U, G)
    assert not hasattr(est, "network_")


def test_a_schedule_past_max_time_never_gets_progress_beyond_1():
    from skoperator import DeepONetRegressor
    from skoperator.datasets import make_antiderivative
    from skoperator.schedules import BaseSchedule

    class Linear(BaseSchedule):  # the BaseSchedule docstring's example, uncapped
        def __call__(self, progress):
            return 1.0 - progress, None

    U, Y, G = make_antiderivative(64, n_points=20, random_state=0)
    est = DeepONetRegressor(coords=Y, learning_rate=Linear(), max_iter=50, max_time=1e-6,
                            tol=None, random_state=0).fit(U, G)
    assert min(h["learning_rate"] for h in est.history_) >= 0.0
