"""The docstrings' "never", "always", "exactly", "identical", "unchanged"
claims that had no test of their own (the list, with the claims tested
elsewhere and the false ones, is docs/_claims.md)."""

import copy
import logging
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from skoperator import DeepONetRegressor, _data
from skoperator._data import RowView
from skoperator._distributed import ProcessGroupCommunicator
from skoperator._objective import TrainingData, step_objective, step_share
from skoperator.datasets import make_antiderivative
from skoperator.io import dump, load
from skoperator.losses import MSELoss
from skoperator.metrics import mean_function_r2
from skoperator.networks import MLPBranch, MLPTrunk
from skoperator.reproduce import BENCHMARKS, final_estimator, make_estimator
from skoperator.sampling import AdaptiveSampler, RandomSampler
from skoperator.symmetry import Reflection

FAST = dict(branch=MLPBranch(layers=(16,)), trunk=MLPTrunk(layers=(16,)), n_basis=8,
            batch_size=16, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def data():
    return make_antiderivative(40, n_points=20, random_state=0)


def _fit(data, **params):
    U, Y, G = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return DeepONetRegressor(coords=Y, **{**FAST, "max_iter": 3, **params}).fit(U, G)


def test_tol_none_runs_exactly_max_iter_epochs(data):
    # _estimator.py: "None disables stopping: exactly max_iter epochs are run."
    est = _fit(data, max_iter=7, tol=None, n_iter_no_change=1)
    assert est.n_iter_ == 7 and len(est.loss_curve_) == 7


def test_two_cpu_fits_with_the_same_int_seed_give_identical_predictions(data):
    # _estimator.py: "On the CPU two fits with the same int give identical predictions."
    U = data[0]
    a, b = _fit(data, sampling="random", n_eval=5), _fit(data, sampling="random", n_eval=5)
    np.testing.assert_array_equal(a.predict(U), b.predict(U))


def test_partial_fit_always_uses_the_constant_rate(data):
    # _estimator.py: "partial_fit always uses the constant rate."
    U, Y, G = data
    preds = []
    for schedule in ["constant", "cosine", "onecycle"]:
        est = DeepONetRegressor(coords=Y, learning_rate=schedule, **FAST)
        for _ in range(2):
            est.partial_fit(U, G)
        preds.append(est.predict(U))
    np.testing.assert_array_equal(preds[0], preds[1])
    np.testing.assert_array_equal(preds[0], preds[2])


def test_constant_true_function_scores_one_if_predicted_exactly_else_zero():
    # metrics.py: "A function whose true values are constant scores 1 if
    # predicted exactly, else 0."
    G_true = np.array([[2.0, 2.0, 2.0], [0.0, 1.0, 2.0]])
    exact = G_true.copy()
    off = G_true.copy()
    off[0, 1] = 2.001
    assert mean_function_r2(G_true[:1], exact[:1]) == 1.0
    assert mean_function_r2(G_true[:1], off[:1]) == 0.0


@pytest.mark.parametrize("sampler", [RandomSampler(), AdaptiveSampler(refresh=1)],
                         ids=["random", "adaptive"])
def test_the_sampler_the_user_passed_never_changes(data, sampler):
    # _sampling.py: "the object the user passed never changes".
    before = copy.deepcopy(vars(sampler))
    est = _fit(data, sampling=sampler, n_eval=5)
    assert est.sampling is sampler and vars(sampler).keys() == before.keys()
    assert all(vars(sampler)[k] == v for k, v in before.items())


def test_the_loss_the_user_passed_never_changes_and_prepare_runs_once_per_fit(data):
    # losses.py: "prepare is always called, once per fit, before the first step"
    # (on the fit's private copy of the loss).
    calls = []

    class CountingLoss(MSELoss):
        def prepare(self, context):
            calls.append("prepare")
            return super().prepare(context)

        def __call__(self, residual, weight, rows):
            calls.append("step")
            return super().__call__(residual, weight, rows)

    loss = CountingLoss()
    _fit(data, loss=loss, max_iter=2, tol=None)
    assert calls[0] == "prepare" and calls.count("prepare") == 1 and "step" in calls
    assert not hasattr(loss, "g_scale_")  # the user's object is not the one prepared


def test_a_fit_never_changes_the_loggers_level_or_handlers(data):
    # _progress.py: "the logger's level and handlers are never changed".
    logger = logging.getLogger("skoperator")
    level, handlers = logger.level, list(logger.handlers)
    _fit(data, verbose=2, max_iter=2)
    assert logger.level == level and logger.handlers == handlers


def test_symmetry_maps_never_change_their_arguments():
    # symmetry.py: "they act on whole arrays, rows independently, and never
    # change their arguments."
    rng = np.random.default_rng(0)
    U, G = rng.normal(size=(3, 12)), rng.normal(size=(3, 12))
    U0, G0 = U.copy(), G.copy()
    mirror = Reflection(grid=(3, 4), axis=1, output_sign=-1, output_offset=1.0)
    out = [mirror.transform_inputs(U), mirror.transform_outputs(G), mirror.inverse_outputs(G)]
    np.testing.assert_array_equal(U, U0)
    np.testing.assert_array_equal(G, G0)
    assert not any(np.shares_memory(o, a) for o in out for a in (U, G))
    # rows independently: the map of one row is the row of the map
    np.testing.assert_array_equal(mirror.transform_inputs(U[1:2]), out[0][1:2])


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_recipe_params_are_fresh_copies_never_the_records_own(name):
    # reproduce.py: "its components (branch, trunk, ...) are fresh copies,
    # never the record's own objects."
    bench = BENCHMARKS[name]
    for budget in bench.recipes:
        a, b = bench.params(budget), bench.params(budget)
        for key, value in a.items():
            if hasattr(value, "get_params"):
                assert value is not b[key], (name, budget, key)
                assert all(value is not v for v in vars(bench).values()), (name, key)


def test_recipe_output_transforms_hold_their_conditions_exactly():
    # reproduce.py: "s(0) = 0 exactly." and "s = 0 at t = 0, x = 0 and x = 1 exactly".
    out = torch.randn(4, 5)
    transform = BENCHMARKS["antiderivative-physics"].params("quick")["output_transform"]
    y = torch.rand(4, 5, 1)
    y[:, 0, 0] = 0.0
    assert torch.all(transform(y, out)[:, 0] == 0)
    transform = BENCHMARKS["diffusion-reaction-physics"].params("quick")["output_transform"]
    y = torch.rand(4, 5, 2)
    y[:, 0, 0], y[:, 1, 1], y[:, 2, 1] = 0.0, 0.0, 1.0
    s = transform(y, out)
    assert torch.all(s[:, :3] == 0) and torch.all(s[:, 3:] != 0)


def test_cross_validation_never_splits_coords(data):
    # _estimator.py: "A constructor parameter, not a fit parameter, so that
    # cross-validation never splits it."
    from sklearn.model_selection import cross_validate

    U, Y, G = data
    est = DeepONetRegressor(coords=Y, **{**FAST, "max_iter": 2, "tol": None})
    fitted = cross_validate(est, U, G, cv=2, return_estimator=True)["estimator"]
    for model in fitted:
        np.testing.assert_array_equal(model.coords_, Y)


def test_component_check_returns_the_component_unchanged():
    # _component.py: check() returns "The component, unchanged."
    branch = MLPBranch(layers=(8, 4), activation="tanh")
    params = branch.get_params()
    assert branch.check() is branch and branch.get_params() == params


# ------------------------------------- claims that issue 29 made true (docs/_claims.md)
def test_a_streamed_g_is_never_loaded_whole_with_a_pod_trunk(data, tmp_path, monkeypatch):
    # _estimator.py (fit, y): a streamed G "is read batch by batch, never loaded whole"
    # (with trunk="pod" too: the modes from row chunks, skoperator/_pod.py)
    U, Y, G = data
    path = tmp_path / "G.dat"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=G.shape)
    mm[:] = G
    mm.flush()
    G_mm = np.memmap(path, dtype=np.float32, mode="r", shape=G.shape)
    monkeypatch.setattr(_data, "MEMMAP_BYTES", 1000)  # streamed: read per batch
    monkeypatch.setattr(_data, "_CHUNK_ELEMENTS", 4 * G.shape[1])  # blocks of 4 rows
    reads, getitem = [], RowView.__getitem__

    def spy(self, key):
        out = getitem(self, key)
        reads.append(len(out))
        return out
    monkeypatch.setattr(RowView, "__getitem__", spy)
    params = dict(coords=Y, branch=MLPBranch(layers=(16,)), trunk="pod", n_basis=6,
                  batch_size=4, max_iter=1, tol=None, device="cpu", random_state=0)
    on_disk = DeepONetRegressor(**params).fit(U, G_mm)
    assert reads and max(reads) <= 4 < len(G)  # never more rows than a block or a batch
    in_memory = DeepONetRegressor(**params).fit(U, G.astype(np.float32))
    got, expected = on_disk.network_.trunk.modes, in_memory.network_.trunk.modes
    signs = torch.sign((got * expected).sum(dim=0))  # each mode up to its sign
    torch.testing.assert_close(got * signs, expected, rtol=0, atol=2e-5)


def _scattered():
    """30 functions, each at its own 9 to 12 points (NaN-padded to 12)."""
    rng = np.random.default_rng(0)
    U = rng.standard_normal((30, 8))
    P = rng.random((30, 12, 1))
    G = U[:, :1] * np.sin(3 * P[..., 0]) + U[:, 1:2] * P[..., 0]
    for i, n in enumerate(rng.integers(9, 13, 30)):
        P[i, n:], G[i, n:] = np.nan, np.nan
    return U, P, G


@pytest.mark.parametrize("points", ["shared", "per function"])
def test_the_loaded_model_predicts_exactly_as_the_saved_one(data, tmp_path, points):
    # io.py: "The loaded model predicts exactly as the saved one" (points per function too)
    pytest.importorskip("safetensors")
    if points == "shared":
        U, Y, G = data
        est, kw = _fit(data), {}
    else:
        U, P, G = _scattered()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = DeepONetRegressor(**{**FAST, "max_iter": 3}).fit(U, G, coords=P)
        kw = {"coords": P}
    loaded = load(dump(est, tmp_path / "model.skop"))
    np.testing.assert_array_equal(loaded.predict(U, **kw), est.predict(U, **kw))


def test_predict_copies_the_network_to_another_device_once(data):
    # _estimator.py: predict's copies on another device, made once per device and fitted
    # model; network_ itself never moves (the "meta" device stands in for a GPU here)
    est = _fit(data)
    meta = torch.device("meta")
    first = est._predict_network(meta)
    assert est._predict_network(meta) is first
    assert next(first.parameters()).device == meta
    assert next(est.network_.parameters()).device.type == "cpu"


class _SumWith:
    """A stand-in for ``torch.distributed``: all_reduce adds the other rank's tensor."""

    def __init__(self, other=None):
        self.other, self.seen = other, None

    def all_reduce(self, tensor):
        self.seen = tensor.clone()
        if self.other is not None:
            tensor += self.other


@pytest.mark.parametrize("loss", ["mse", "relative_l2"])
def test_ranks_weighted_by_their_share_of_the_loss_take_the_gradient_of_one_process(
        data, loss):
    # _distributed.py: gradients weighted by each rank's share of the global batch's loss
    # (with missing targets its observed entries): "exactly as one process with the whole
    # batch". Two ranks of an uneven batch (7 + 6 functions), 30 % of G missing.
    U, Y, G = data
    G = G.copy()
    G[np.random.default_rng(0).uniform(size=G.shape) < 0.3] = np.nan
    est = _fit((U, Y, G), loss=loss, max_iter=1)
    net, fitted_loss = est.network_, est.loss_
    params = [p for p in net.parameters() if p.requires_grad]
    as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    train = TrainingData(as_tensor(U), as_tensor(G), as_tensor(Y), torch.zeros(1),
                         torch.ones(1), has_missing=True)

    def gradient(rows):
        net.zero_grad(set_to_none=True)
        target = train.targets(rows, None)
        value, _ = step_objective(net, train, fitted_loss, rows, None, None, target, "grid")
        value.backward()
        return value.detach(), step_share(fitted_loss, train, rows, target, None)

    batch = torch.arange(13)
    gradient(batch)
    one_process = [p.grad.clone() for p in params]
    rank1, rank0 = (object.__new__(ProcessGroupCommunicator) for _ in range(2))
    rank1.dist = _SumWith()
    value, share = gradient(batch[7:])
    rank1.reduce_step(params, share, False, [value])
    rank0.dist = _SumWith(other=rank1.dist.seen)
    value, share = gradient(batch[:7])
    rank0.reduce_step(params, share, False, [value])
    for p, expected in zip(params, one_process):
        torch.testing.assert_close(p.grad, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_recipes_set_no_clock_budget(name):
    # _estimator.py (random_state): identical predictions for the same int, "unless max_time
    # is set"; reproduce.py: every recipe trains for a fixed budget (--max-time is an opt-in)
    bench = BENCHMARKS[name]
    for budget in bench.recipes:
        est = final_estimator(make_estimator(name, budget=budget, random_state=0,
                                             device="cpu"))
        assert est.max_time is None, (name, budget)
    est = final_estimator(make_estimator(name, random_state=0, device="cpu", max_time=5.0))
    # the opt-in reaches the DeepONet (each member's share of the clock in an ensemble recipe)
    assert est.max_time == 5.0 / (bench.recipes["quick"].get("ensemble") or 1)
