"""Components own their settings; protocols are written in code and checked on first use."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skoperator import DeepONetRegressor
from skoperator.datasets import make_antiderivative
from skoperator.inspection import loss_sharpness
from skoperator.losses import LOSSES, BaseLoss, HuberLoss, MSELoss, RelativeL2Loss
from skoperator.networks import (
    BRANCHES,
    MERGES,
    TRUNKS,
    BaseBranch,
    BaseTrunk,
    BuildContext,
    CNNBranch,
    ConcatMerge,
    FNOBranch,
    MLPBranch,
    MLPTrunk,
    MultiBranch,
    PODTrunk,
    ResNetTrunk,
    ShiftedTrunk,
    SumMerge,
    TableModule,
)
from skoperator.sampling import BaseSampler
from skoperator.schedules import SCHEDULES, OneCycleSchedule

FAST = dict(max_iter=3, tol=None, random_state=0, n_basis=8)


@pytest.fixture(scope="module")
def data():
    return make_antiderivative(80, n_points=20, random_state=0)


def test_constructor_has_at_most_30_parameters():
    assert len(DeepONetRegressor().get_params(deep=False)) <= 30


@pytest.mark.parametrize("component", [
    MLPBranch(layers=(8,)), CNNBranch(grid=(8, 8)), FNOBranch(modes=4),
    MultiBranch([MLPBranch(n_sensors=10), MLPBranch()], merge=ConcatMerge(layers=(4,))),
    MLPTrunk(fourier_features=4), MLPTrunk(output_activation=True), ResNetTrunk(),
    PODTrunk(correction=True), MSELoss(),
    RelativeL2Loss(floor=1e-3), HuberLoss(delta=0.5), OneCycleSchedule(pct_start=0.2)])
def test_component_clones_and_reprs_its_settings(component):
    copy = clone(component)
    assert copy is not component and copy.get_params() == component.get_params() or \
        repr(copy) == repr(component)
    assert type(component).__name__ in repr(component)


def test_nested_settings_are_searched_and_shown(data):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, branch=FNOBranch(width=4, n_layers=1), **FAST)
    assert "branch__modes" in est.get_params()
    est.set_params(branch__modes=3)
    assert est.branch.modes == 3 and "modes=3" in repr(est)
    search = GridSearchCV(est, {"branch__modes": [2, 4], "trunk": ["mlp", MLPTrunk(layers=(4,))]},
                          cv=2).fit(U, G)
    assert search.best_params_["branch__modes"] in (2, 4)
    assert search.best_estimator_.branch is not est.branch  # cloned, not shared


def test_string_shortcuts_are_the_default_configuration(data):
    U, Y, G = data
    a = DeepONetRegressor(coords=Y, branch="mlp", trunk="mlp", **FAST).fit(U, G).predict(U)
    b = DeepONetRegressor(coords=Y, branch=MLPBranch(), trunk=MLPTrunk(), **FAST).fit(U, G)
    np.testing.assert_array_equal(a, b.predict(U))
    assert set(BRANCHES) == {"mlp", "cnn", "fno"} and {"mlp", "resnet", "pod"} <= set(TRUNKS)
    assert set(MERGES) == {"product", "sum", "product_sum", "concat"} and "huber" in LOSSES
    assert set(SCHEDULES) == {"constant", "cosine", "onecycle"}


def test_a_bad_component_setting_names_the_component(data):
    U, Y, G = data
    with pytest.raises(ValueError, match="modes.*FNOBranch|FNOBranch.*modes"):
        DeepONetRegressor(coords=Y, branch=FNOBranch(modes=0), **FAST).fit(U, G)
    with pytest.raises(ValueError, match=r"MLPTrunk\(layers="):
        DeepONetRegressor(coords=Y, trunk=MLPTrunk(layers=(4, -1)), **FAST).fit(U, G)
    est = DeepONetRegressor(coords=Y, **FAST)
    with pytest.raises(ValueError, match="delta"):
        est.set_params(loss=HuberLoss(delta=-1)).fit(U, G)
    assert not hasattr(est, "network_")  # a failed call changes nothing


def test_fno_branch_channels_are_channels_not_a_third_axis():
    rng = np.random.default_rng(0)
    U = rng.normal(size=(30, 2 * 6 * 6))
    G = U[:, :36] - U[:, 36:]
    est = DeepONetRegressor(branch=FNOBranch(grid=(6, 6), channels=2, modes=2, width=4),
                            **FAST).fit(U, G)
    fno = est.network_.branch
    assert fno.input_shape == (2, 6, 6) and fno.d == 2
    assert fno.lift.in_channels == 2 + 2  # two channels and two grid coordinates
    with pytest.raises(ValueError, match="FNOBranch reads 108 columns .* U has 72"):
        DeepONetRegressor(branch=FNOBranch(grid=(6, 6), channels=3), **FAST).fit(U, G)


def test_grid_branch_takes_its_grid_from_an_nd_U():
    rng = np.random.default_rng(1)
    U = rng.normal(size=(30, 8, 8))
    G = U.reshape(30, -1)[:, :10]
    est = DeepONetRegressor(branch="cnn", **FAST).fit(U, G)
    assert est.network_.branch.input_shape == (1, 8, 8)
    assert est.predict(U).shape == (30, 10)
    with pytest.raises(ValueError, match="CNNBranch needs grid"):
        DeepONetRegressor(branch="cnn", **FAST).fit(U.reshape(30, -1), G)


def test_multibranch_sizes_and_merges(data):
    U, Y, G = data
    U2 = np.hstack([U, U[:, :7]])
    for merge in ["product", "sum", "concat"]:
        est = DeepONetRegressor(coords=Y, branch=MultiBranch(
            [MLPBranch(n_sensors=20), MLPBranch()], merge=merge), **FAST).fit(U2, G)
        assert est.input_sizes_ == (20, 7)
    plain = DeepONetRegressor(coords=Y, branch=[MLPBranch(n_sensors=20), MLPBranch()],
                              **FAST).fit(U2, G)
    same = DeepONetRegressor(coords=Y, branch=MultiBranch([MLPBranch(n_sensors=20),
                                                           MLPBranch()]), **FAST).fit(U2, G)
    np.testing.assert_array_equal(plain.predict(U2), same.predict(U2))
    with pytest.raises(ValueError, match="at most one"):
        DeepONetRegressor(coords=Y, branch=[MLPBranch(), MLPBranch()], **FAST).fit(U2, G)
    with pytest.raises(ValueError, match=r"reads \[20, 20\].*27 columns"):
        DeepONetRegressor(coords=Y, branch=[MLPBranch(n_sensors=20), MLPBranch(n_sensors=20)],
                          **FAST).fit(U2, G)


def test_sum_merge_is_additive_in_the_inputs(data):
    U, Y, G = data
    U2 = np.hstack([U, U[::-1]])
    est = DeepONetRegressor(coords=Y, branch=MultiBranch(
        [MLPBranch(n_sensors=20), MLPBranch()], merge="sum"), standardize=False,
        **FAST).fit(U2, G)
    net = est.network_.branch
    u = torch.tensor(U2[:4], dtype=torch.float32)
    with torch.no_grad():
        parts = [n(p) for n, p in zip(net.nets, torch.split(u, [20, 20], dim=1))]
        torch.testing.assert_close(net(u), parts[0] + parts[1])


class _BadSampler(BaseSampler):
    def __init__(self, mode="range"):
        self.mode = mode

    def sample(self, rows, generator):
        n = rows.numel()
        if self.mode == "range":
            return torch.full((n, 3), 10_000), None
        if self.mode == "dtype":
            return torch.zeros(n, 3), None
        return torch.zeros(n + 1, 3, dtype=torch.long), None


@pytest.mark.parametrize("mode,match", [("range", "values in"), ("dtype", "dtype"),
                                        ("shape", "shape")])
def test_a_bad_user_sampler_gets_an_error_naming_it_and_the_protocol(data, mode, match):
    U, Y, G = data
    with pytest.raises(ValueError, match=f"_BadSampler broke the sampler protocol: .*{match}"):
        DeepONetRegressor(coords=Y, sampling=_BadSampler(mode), **FAST).fit(U, G)


def test_a_bad_user_module_gets_an_error_naming_it_and_the_protocol(data):
    U, Y, G = data
    with pytest.raises(ValueError, match=r"branch protocol wants a float tensor of shape \(2, 8\)"):
        DeepONetRegressor(coords=Y, branch=torch.nn.Linear(20, 5), **FAST).fit(U, G)

    class NotATable(PODTrunk):
        def build(self, d, n_out, context):
            return torch.nn.Linear(d, n_out)

    with pytest.raises(TypeError, match="table=True but built a Linear"):
        DeepONetRegressor(coords=Y, trunk=NotATable(), **FAST).fit(U, G)


class _L1Loss(BaseLoss):
    """Mean absolute error: a loss that is not a squared error."""

    def __call__(self, residual, weight, rows):
        a = residual.abs()
        if weight is None:
            return a.mean(), None
        w = weight.expand_as(a)
        return (w * a).sum() / (w > 0).sum().clamp(min=1), None


def test_a_loss_that_is_not_a_squared_error_trains(data):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, loss=_L1Loss(), max_iter=40, tol=None, random_state=0,
                            learning_rate_init=3e-3).fit(U, G)
    assert est.loss_curve_[-1] < 0.5 * est.loss_curve_[0]
    assert est.score(U, G) > 0.8


def test_huber_loss_against_a_direct_computation():
    r = torch.tensor([[[0.5], [3.0], [-2.0]]])
    w = torch.tensor([[[1.0], [0.0], [1.0]]])
    direct = (0.5 * 0.25 + 1.0 * (2.0 - 0.5)) / 2
    assert float(HuberLoss(delta=1.0)(r, w, torch.tensor([0]))[0]) == pytest.approx(direct)


def test_relative_l2_with_zero_functions_and_a_zero_field_stays_finite():
    U, Y, G = make_antiderivative(60, n_points=20, random_state=0)
    G = G.copy()
    G[:5] = 0.0                                   # functions that are zero
    G2 = np.hstack([G, np.zeros_like(G)])         # a field that is zero everywhere
    est = DeepONetRegressor(coords=Y, n_outputs=2, loss="relative_l2", max_iter=30, tol=None,
                            random_state=0).fit(U, G2)
    assert np.all(np.isfinite(est.loss_curve_))
    pred = est.predict(U).reshape(60, 2, 20)
    rms = np.sqrt(np.mean(G ** 2))
    assert np.sqrt(np.mean(pred[:, 1] ** 2)) < 0.15 * rms  # measured: 0.10 after 30 epochs
    # the normalisation: a zero function is divided by its field's mean square
    from skoperator._planning import prepared_loss, training_data
    data = training_data(est.network_, U.astype(np.float32), G2, Y, torch.device("cpu"), False)
    inv = prepared_loss("relative_l2", data).inverse_mean_square_
    field = np.mean(G[5:] ** 2, axis=1).sum() / 60
    scale = float(est.network_.g_scale[0])
    assert float(inv[0, 0]) == pytest.approx(scale ** 2 / field, rel=1e-4)
    assert torch.isfinite(inv).all() and float(inv[0, 1]) == pytest.approx(1.0)


def test_max_time_holds_with_an_n_eval_schedule():
    import time

    U, Y, G = make_antiderivative(40, n_points=20, random_state=0)
    tic = time.perf_counter()
    est = DeepONetRegressor(coords=Y, n_eval=lambda epoch: 1 + epoch % 5, max_iter=10**7,
                            max_time=1.0, tol=None, random_state=0).fit(U, G)
    assert time.perf_counter() - tic < 5.0 and est.stopping_reason_ == "max_time"


def test_pod_split_per_field_at_the_default_n_jobs(data):
    U, Y, G = data
    G2 = np.hstack([G, -G])
    for strategy in ["split_trunk", "split_both", "independent"]:
        est = DeepONetRegressor(coords=Y, trunk="pod", n_outputs=2,
                                multi_output_strategy=strategy, **FAST).fit(U, G2)
        assert est.predict(U).shape == G2.shape


def test_loss_sharpness_works_on_a_pipeline(data):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, max_iter=5, tol=None, random_state=0, n_basis=4,
                            branch=MLPBranch(layers=(6,)), trunk=MLPTrunk(layers=(6,)))
    pipe = make_pipeline(FunctionTransformer(lambda u: 2 * u), est).fit(U, G)
    a = loss_sharpness(pipe, U, G, random_state=0, max_iter=30)
    b = loss_sharpness(pipe[-1], 2 * U, G, random_state=0, max_iter=30)
    assert a == pytest.approx(b) and a > 0


def test_components_pickle_inside_a_fitted_estimator(data):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, branch=MLPBranch(layers=(8,)), loss=HuberLoss(),
                            learning_rate=OneCycleSchedule(), **FAST).fit(U, G)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict(U), est.predict(U))
    assert isinstance(again.branch, MLPBranch) and again.branch.layers == (8,)


def test_adding_a_branch_needs_no_estimator_edit(data):
    """A new branch with its own setting: a class, its registry entry, nothing else."""
    U, Y, G = data

    class ScaledMLPBranch(BaseBranch):
        def __init__(self, factor=2.0):
            self.factor = factor

        def build(self, n_in, n_out, context):
            lin = torch.nn.Linear(n_in, n_out)
            return torch.nn.Sequential(lin, torch.nn.Tanh())

    BRANCHES["scaled"] = ScaledMLPBranch
    try:
        est = DeepONetRegressor(coords=Y, branch=ScaledMLPBranch(factor=3.0), **FAST).fit(U, G)
        assert "branch__factor" in est.get_params()
    finally:
        del BRANCHES["scaled"]


def test_an_explicit_grid_must_match_the_axes_of_an_nd_U():
    rng = np.random.default_rng(2)
    U = rng.normal(size=(30, 4, 5))
    G = U.reshape(30, -1)[:, :6]
    with pytest.raises(ValueError, match=r"CNNBranch\(grid=\(5, 4\), channels=1\) but U has "
                                         r"shape \(n, 4, 5\)"):
        DeepONetRegressor(branch=CNNBranch(grid=(5, 4), filters=(2,)), **FAST).fit(U, G)
    est = DeepONetRegressor(branch=CNNBranch(grid=(4, 5), filters=(2,)), **FAST).fit(U, G)
    assert est.network_.branch.input_shape == (1, 4, 5)


def test_an_nd_U_needs_a_grid_branch():
    U = np.random.default_rng(3).normal(size=(20, 4, 5))
    with pytest.raises(ValueError, match=r"U has shape \(20, 4, 5\), but the branch MLPBranch"):
        DeepONetRegressor(**FAST).fit(U, U.reshape(20, -1)[:, :3])


# ----------------------------------------- protocols: capabilities, MultiBranch
def test_vectorizable_is_a_declared_capability():
    assert MLPBranch.vectorizable and MLPTrunk.vectorizable and ResNetTrunk.vectorizable
    for cls in (BaseBranch, BaseTrunk, CNNBranch, FNOBranch, MultiBranch, PODTrunk):
        assert cls.vectorizable is False, cls


def test_branch_input_sizes_is_the_protocol_of_columns():
    """The planner asks the branch for its columns: no class test for MultiBranch."""
    assert MLPBranch().input_sizes(7) == (7,)
    assert MultiBranch([MLPBranch(n_sensors=3), MLPBranch()]).input_sizes(7) == (3, 4)
    with pytest.raises(ValueError, match="reads 5 columns .* but U has 7; .*MultiBranch"):
        MLPBranch(n_sensors=5).input_sizes(7)


class _NestedMulti(BaseBranch):
    """A branch of several inputs written by a user: only the protocol, no MultiBranch."""

    def input_sizes(self, n_columns):
        return (n_columns - 5, 5)

    def build(self, n_in, n_out, context):
        return torch.nn.Linear(n_in, n_out)


def test_user_branch_declares_its_input_sizes(data):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, branch=_NestedMulti(), **FAST).fit(U, G)
    assert est.input_sizes_ == (U.shape[1] - 5, 5)


def test_multibranch_settings_are_nested_parameters():
    mb = MultiBranch([MLPBranch(layers=(8,), n_sensors=10), FNOBranch(modes=4)],
                     merge=ConcatMerge(layers=(4,)))
    est = DeepONetRegressor(branch=mb)
    params = est.get_params(deep=True)
    assert params["branch__0__layers"] == (8,) and params["branch__1__modes"] == 4
    assert params["branch__merge__layers"] == (4,) and params["branch__1"] is mb.branches[1]
    est.set_params(branch__0__layers=(16, 16), branch__1__modes=6, branch__merge__layers=(2,))
    assert mb.branches[0].layers == (16, 16) and mb.branches[1].modes == 6
    assert mb.merge.layers == (2,)
    copy = clone(est)
    assert copy.branch.branches[1] is not mb.branches[1]
    assert copy.get_params()["branch__1__modes"] == 6 and repr(copy) == repr(est)
    est.set_params(branch__1=MLPBranch(layers=(3,)))  # a whole branch replaced
    assert mb.branches[1].get_params() == MLPBranch(layers=(3,)).get_params()
    assert isinstance(mb.branches, list)
    with pytest.raises(ValueError, match="'2__layers' .* 2 branches, named 0 to 1"):
        est.set_params(branch__2__layers=(4,))
    with pytest.raises(ValueError, match="branch 0 is 'mlp', which has no settings.*0=MLPBranch"):
        MultiBranch(["mlp", "mlp"]).set_params(**{"0__layers": (4,)})


def test_a_failed_set_params_changes_nothing_and_names_settings_without_settings():
    mb = MultiBranch([MLPBranch(n_sensors=10), MLPBranch()])
    for bad in ({"0__layers": (8,), "5__layers": (3,)}, {"0__layers": (8,), "1__nope": 1},
                {"0__layers": (8,), "nope": 1}):
        with pytest.raises(ValueError, match="Invalid parameter"):
            mb.set_params(**bad)
        assert mb.branches[0].layers == MLPBranch().layers
    est = DeepONetRegressor(max_iter=5)
    with pytest.raises(ValueError, match="Invalid parameter 'nope' for estimator DeepONet"):
        est.set_params(max_iter=7, nope=1)
    assert est.max_iter == 5
    cases = [
        (DeepONetRegressor(trunk="mlp"), {"trunk__layers": (8,)},
         r"'trunk__layers' .* trunk='mlp' has no settings.*trunk=MLPTrunk\(layers="),
        (DeepONetRegressor(trunk=ShiftedTrunk()), {"trunk__trunk__layers": (8,)},
         "trunk=None has no settings of its own; pass a component as trunk first"),
        (MultiBranch(["mlp", "mlp"]), {"merge__layers": (8,)}, "merge='product' has no settings"),
        (DeepONetRegressor(branch=["mlp", "mlp"]), {"branch__0__layers": (3,)},
         r"pass branch=MultiBranch\(\[...\]\), whose branches are set by position"),
    ]
    for owner, params, match in cases:
        with pytest.raises(ValueError, match=match):
            owner.set_params(**params)
    # a bad nested name is found before the good plain one is set
    est = DeepONetRegressor(trunk=MLPTrunk(layers=(8,)), n_basis=4)
    with pytest.raises(ValueError, match="Invalid parameter 'nonexistent' for estimator MLPT"):
        est.set_params(n_basis=7, trunk__nonexistent=3)
    assert est.n_basis == 4
    with pytest.raises(ValueError, match="set branch i of a MultiBranch as 'i__name'"):
        MultiBranch(["mlp", "mlp"]).set_params(branches__0__layers=(3,))
    # positions refer to the branches the same call sets
    est = DeepONetRegressor(branch=MultiBranch(["mlp"])).set_params(
        branch__branches=[MLPBranch(), MLPBranch()], branch__1__layers=(8,))
    assert est.branch.branches[1].layers == (8,)
    # a component given in the same call takes the nested setting
    est = DeepONetRegressor().set_params(trunk=MLPTrunk(), trunk__layers=(8,))
    assert est.trunk.layers == (8,)


def test_bad_widths_and_merge_results_are_named(data):
    U, Y, G = data
    for trunk in (MLPTrunk(layers=(float("inf"),)), MLPTrunk(layers=(True, 8))):
        with pytest.raises(ValueError, match=r"MLPTrunk\(layers=.*expected a sequence of pos"):
            DeepONetRegressor(coords=Y, trunk=trunk, **FAST).fit(U, G)

    class Negative(SumMerge):
        def branch_width(self, n_out):
            return -1

    U2 = np.hstack([U, U[:, :5]])
    branches = [MLPBranch(layers=(8,)), MLPBranch(layers=(8,), n_sensors=5)]
    with pytest.raises(ValueError, match=r"merge=Negative\(\): branch_width\(8\) returned -1"):
        DeepONetRegressor(coords=Y, branch=MultiBranch(branches, merge=Negative()),
                          **FAST).fit(U2, G)
    with pytest.raises(ValueError, match=r"MultiBranch branches\[1\]: branch=3 is not a branch"):
        DeepONetRegressor(coords=Y, branch=MultiBranch([branches[0], 3]), **FAST).fit(U2, G)


def test_search_reaches_a_setting_of_a_sub_branch(data):
    U, Y, G = data
    U2 = np.hstack([U, U[:, :5]])
    est = DeepONetRegressor(coords=Y, branch=MultiBranch(
        [MLPBranch(layers=(8,)), MLPBranch(layers=(8,), n_sensors=5)]), **FAST)
    search = GridSearchCV(est, {"branch__1__layers": [(4,), (6, 6)]}, cv=2).fit(U2, G)
    assert [p["branch__1__layers"] for p in search.cv_results_["params"]] == [(4,), (6, 6)]
    best = search.best_params_["branch__1__layers"]
    assert search.best_estimator_.branch.branches[1].layers == best
    widths = [m.out_features for m in search.best_estimator_.network_.branch.nets[1].modules()
              if isinstance(m, torch.nn.Linear)]
    assert widths[:-1] == list(best)  # the searched setting built the network
    assert est.branch.branches[1].layers == (8,)  # the search's copies, not the original


def test_multibranch_docstring_lists_every_merge_of_the_registry():
    text = " ".join(MultiBranch.__doc__.split())
    for name, cls in MERGES.items():
        assert f'"{name}"' in text and cls.__name__ in text


def _merged_network(merge, widths=(6, 4)):
    branch = MultiBranch([MLPBranch(layers=(5,), n_sensors=widths[0]), MLPBranch(layers=(5,))],
                         merge=merge)
    context = BuildContext(generator=torch.Generator().manual_seed(0))
    return branch.build(sum(widths), 3, context)


def test_concat_merge_reads_every_branch_exactly():
    """Output = merger MLP of [branch 0 out, branch 1 out]: the last branch is not dropped."""
    module = _merged_network("concat")
    u = torch.randn(4, 10, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        b0, b1 = module.nets[0](u[:, :6]), module.nets[1](u[:, 6:])
        expected = module.merge.mlp(torch.cat([b0, b1], dim=-1))
        got = module(u)
        v = u.clone()
        v[:, -1] += 1.0  # perturb the last input function's last sensor
        moved = module(v)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    assert (moved - got).abs().min() > 0


def test_product_sum_merge_is_product_plus_sum_exactly():
    module = _merged_network("product_sum")
    u = torch.randn(4, 10, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        (p0, s0), (p1, s1) = [net(part).chunk(2, dim=-1) for net, part in
                              zip(module.nets, (u[:, :6], u[:, 6:]))]
        got = module(u)
    assert module.nets[0](u[:, :6]).shape == (4, 6)  # each branch gives 2 x n_out
    torch.testing.assert_close(got, p0 * p1 + (s0 + s1), rtol=1e-6, atol=1e-7)
    assert (got - p0 * p1).abs().max() > 1e-3  # the sum path contributes


class _LookupTrunk(BaseTrunk):
    """A table trunk of a user: the public TableModule, values computed at the points."""

    table = True

    def build(self, d, n_out, context):
        return _CosineTable(context.coords, torch.zeros(len(context.coords), n_out))


class _CosineTable(TableModule):
    def at_index(self, index):
        k = torch.arange(self.modes.shape[1], dtype=self.points.dtype)
        return torch.cos(k * self.points[index][..., :1])


def test_user_table_trunk_through_the_public_protocol(data):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, trunk=_LookupTrunk(), **FAST).fit(U, G)
    assert est.network_.trunk_is_table and est.predict(U[:2], coords=Y[::3]).shape == (2, 7)
    with pytest.raises(ValueError, match="not among them"):
        est.predict(U[:2], coords=Y[:3] + 0.013)


class _FakeTableTrunk(BaseTrunk):
    table = True

    def build(self, d, n_out, context):
        return torch.nn.Linear(d, n_out)


def test_table_trunk_that_builds_no_table_module_is_refused(data):
    U, Y, G = data
    with pytest.raises(TypeError, match="table=True but built a Linear without points, modes, "
                                        "at_index, lookup.*skoperator.networks.TableModule"):
        DeepONetRegressor(coords=Y, trunk=_FakeTableTrunk(), **FAST).fit(U, G)


@pytest.mark.parametrize("merge", list(MERGES))
def test_fitted_multibranch_reads_every_input_function(data, merge):
    """Changing only the last input function changes every prediction (no input ignored)."""
    U, Y, G = data
    U2 = np.hstack([U, U[:, ::-1][:, :5]])
    est = DeepONetRegressor(coords=Y, branch=MultiBranch(
        [MLPBranch(layers=(8,)), MLPBranch(layers=(8,), n_sensors=5)], merge=merge),
        **FAST).fit(U2, G)
    moved = U2.copy()
    moved[:, -5:] += 1.0
    assert np.abs(est.predict(moved[:4]) - est.predict(U2[:4])).min() > 0


@pytest.mark.parametrize("fourier_features", [0, 3])
def test_mlp_trunk_output_activation_applies_the_activation_to_the_basis(fourier_features):
    import torch

    from skoperator._protocols import BuildContext

    context = BuildContext(generator=torch.Generator().manual_seed(0))
    plain = MLPTrunk(layers=(8,), fourier_features=fourier_features).build(1, 5, context)
    context = BuildContext(generator=torch.Generator().manual_seed(0))
    active = MLPTrunk(layers=(8,), fourier_features=fourier_features,
                      output_activation=True).build(1, 5, context)
    y = torch.linspace(-2, 2, 11).reshape(-1, 1)
    # the same weights, then relu on the basis: relu of the linear trunk's output
    torch.testing.assert_close(active(y), torch.relu(plain(y)))
    assert (active(y) >= 0).all() and (plain(y) < 0).any()


# ---------------------------------------------------------------- review fixes (0.4.0)
def _fast():
    return dict(n_basis=4, max_iter=1, tol=None, random_state=0)


def test_a_one_channel_grid_with_its_channel_axis_is_a_2d_grid():
    from skoperator.networks import CNNBranch, FNOBranch
    rng = np.random.default_rng(0)
    Y, G = np.linspace(0, 1, 10)[:, None], rng.normal(size=(16, 10))
    U = rng.normal(size=(16, 1, 8, 8))
    cnn = DeepONetRegressor(coords=Y, branch=CNNBranch(channels=1, filters=(2,)), **_fast())
    assert cnn.fit(U, G).predict(U[:, 0]).shape == (16, 10)
    fno = DeepONetRegressor(coords=Y, branch=FNOBranch(n_layers=1), **_fast()).fit(U, G)
    assert fno.network_.branch.input_shape == (1, 8, 8) and fno.network_.branch.d == 2


def test_independent_fields_refuse_a_grid_of_another_shape():
    from skoperator.networks import FNOBranch
    rng = np.random.default_rng(0)
    U, Y, G = rng.normal(size=(16, 8, 6)), np.linspace(0, 1, 10)[:, None], \
        rng.normal(size=(16, 20))
    est = DeepONetRegressor(coords=Y, branch=FNOBranch(width=4, n_layers=1), n_outputs=2,
                            multi_output_strategy="independent", **_fast()).fit(U, G)
    with pytest.raises(ValueError, match=r"U has shape \(n, 6, 8\) but the model was fitted"):
        est.predict(U.transpose(0, 2, 1))


def test_the_auto_head_projects_only_onto_outputs_on_the_input_grid():
    from skoperator.networks import FNOBranch
    rng = np.random.default_rng(0)
    x = np.linspace(0, 1, 8)
    Y2 = np.stack(np.meshgrid(x, x, indexing="ij"), -1).reshape(-1, 2)
    G = rng.normal(size=(16, 64))
    flat = DeepONetRegressor(coords=Y2, branch=FNOBranch(width=4, n_layers=1), trunk="pod",
                             **_fast()).fit(rng.normal(size=(16, 64)), G)  # a 1-D grid of 64
    assert flat.network_.branch.head_kind == "pooled"
    grid = DeepONetRegressor(coords=Y2, branch=FNOBranch(width=4, n_layers=1), trunk="pod",
                             **_fast()).fit(rng.normal(size=(16, 8, 8)), G)
    assert grid.network_.branch.head_kind == "projection"


def test_the_shifted_trunk_leaves_the_global_rng():
    from skoperator.datasets import make_antiderivative
    U, Y, G = make_antiderivative(64, n_points=20, random_state=0)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    DeepONetRegressor(coords=Y, trunk="shifted", n_basis=8, max_iter=1, tol=None,
                      random_state=0).fit(U, G)
    assert torch.equal(before, torch.get_rng_state())


def test_multibranch_replaces_a_branch_and_sets_its_settings_in_one_call():
    from skoperator.networks import FNOBranch, MLPBranch, MultiBranch
    est = DeepONetRegressor(branch=MultiBranch([MLPBranch(n_sensors=100),
                                                FNOBranch(grid=(32, 32))]))
    est.set_params(branch__1=MLPBranch(), branch__1__layers=(3,))
    assert est.branch.branches[1].get_params()["layers"] == (3,)
