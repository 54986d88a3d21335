"""Missing outputs, clear errors for bad input, divergence and Ctrl-C."""

import numpy as np
import pytest
import sklearn
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from skoperator import DeepONetRegressor
from skoperator.datasets import make_antiderivative
from skoperator.metrics import mean_function_r2, mean_relative_l2_error, variance_weighted_r2
from skoperator.networks import CNNBranch, FNOBranch, MLPBranch, MLPTrunk, MultiBranch
from skoperator.symmetry import Reflection, SymmetrizedRegressor
from skoperator.uncertainty import EnsembleRegressor

FAST = dict(branch=MLPBranch(layers=(16,)), trunk=MLPTrunk(layers=(16,)), n_basis=8,
            max_iter=3, tol=None, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def data():
    return make_antiderivative(40, n_points=20, random_state=0)


@pytest.fixture(scope="module")
def fitted(data):
    U, Y, G = data
    return DeepONetRegressor(coords=Y, **FAST).fit(U, G)


# ------------------------------------------------------------ missing values
def _with_gaps(G, fraction, seed):
    G = G.copy()
    G[np.random.default_rng(seed).uniform(size=G.shape) < fraction] = np.nan
    return G


@pytest.mark.parametrize("sampling", ["random", "shared", "full"])
def test_missing_outputs_still_recover_full_fields(sampling):
    U, Y, G = make_antiderivative(700, random_state=1)
    G_gaps = _with_gaps(G[:500], 0.3, seed=0)
    est = DeepONetRegressor(coords=Y, n_eval=10, sampling=sampling, max_iter=200,
                            batch_size=64, learning_rate="onecycle", learning_rate_init=5e-3,
                            tol=None, device="cpu", random_state=0)
    est.fit(U[:500], G_gaps)
    assert mean_function_r2(G[500:], est.predict(U[500:])) >= 0.98  # measured 0.987 to 0.992


def test_missing_outputs_ignored_by_score_and_metrics(fitted, data):
    U, _, G = data
    pred = fitted.predict(U)
    G_gaps = G.copy()
    G_gaps[:, 5] = np.nan
    G_gaps[3, :10] = np.nan
    keep = np.ones(G.shape[1], bool)
    keep[5] = False
    # with a whole column missing, score equals the score without that column
    from skoperator.metrics import variance_weighted_r2
    G_col = G.copy()
    G_col[:, 5] = np.nan
    assert fitted.score(U, G_col) == pytest.approx(variance_weighted_r2(G[:, keep], pred[:, keep]))
    assert np.isfinite(fitted.score(U, G_gaps))
    assert np.isfinite(mean_function_r2(G_gaps, pred))


def test_metrics_leave_out_unobserved_functions_and_refuse_inf_complex_and_nothing():
    rng = np.random.default_rng(0)
    T = rng.normal(size=(4, 6))
    P = T + 0.1 * rng.normal(size=T.shape)
    gap = T.copy()
    gap[1] = np.nan  # function 1 not observed: left out, not a perfect score
    for metric in (mean_function_r2, mean_relative_l2_error):
        assert metric(gap, P) == pytest.approx(metric(np.delete(T, 1, 0), np.delete(P, 1, 0)))
        with pytest.raises(ValueError, match="G_true has no observed value"):
            metric(np.full_like(T, np.nan), P)
    with pytest.raises(ValueError, match="G has no observed value"):
        variance_weighted_r2(np.full_like(T, np.nan), P)
    inf = T.copy()
    inf[0, 0] = np.inf
    for metric in (mean_function_r2, mean_relative_l2_error, variance_weighted_r2):
        with pytest.raises(ValueError, match="Input G_true contains infinity"):
            metric(inf, P)
        with pytest.raises(ValueError, match="Input G_pred contains infinity"):
            metric(T, inf)
        with pytest.raises(ValueError, match="G_pred must be real; got a complex array"):
            metric(T, P + 1j)
        with pytest.raises(ValueError, match="G_true has shape \\(6,\\) but G_pred has shape"):
            metric(T[0], T[0].reshape(2, 3))
    with pytest.raises(ValueError, match="sample_weight must be finite, non-negative"):
        variance_weighted_r2(T, P, sample_weight=-np.ones(4))
    # a validation split during a fit: a field it does not observe is left out, not an error
    from skoperator.metrics import R2Accumulator

    two = np.hstack([T, np.full_like(T, np.nan)])
    acc = R2Accumulator(12, n_outputs=2)
    acc.update(two, np.hstack([P, P]))
    assert acc.result(skip_unobserved=True) == pytest.approx(variance_weighted_r2(T, P))
    with pytest.raises(ValueError, match="no observed value .* output field 1"):
        acc.result()


def test_function_with_fewer_observed_points_than_n_eval_uses_all(data):
    U, Y, G = data
    G = G.copy()
    G[0, 3:] = np.nan  # function 0 has 3 observed points, n_eval is 8
    est = DeepONetRegressor(coords=Y, n_eval=8, **FAST).fit(U, G)
    assert np.all(np.isfinite(est.predict(U)))


def test_early_stopping_validation_ignores_missing(data):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, early_stopping=True, **FAST)
    est.fit(U, _with_gaps(G, 0.3, seed=1))
    assert np.all(np.isfinite(est.validation_scores_))


@pytest.mark.parametrize("make_gap, match", [
    (lambda G: G.__setitem__((4, slice(None)), np.nan), "Function 4 .* has no observed value"),
    (lambda G: G.__setitem__((slice(None), 7), np.nan), "Column 7 of G is missing"),
    (lambda G: G.__setitem__((1, 1), np.inf), "G contains infinity"),
])
def test_unusable_gaps_are_clear_errors(data, make_gap, match):
    U, Y, G = data
    G = G.copy()
    make_gap(G)
    with pytest.raises(ValueError, match=match):
        DeepONetRegressor(coords=Y, **FAST).fit(U, G)


# ------------------------------------------------------------ bad input table
def _bad_inputs(U, Y, G):
    U_inf = U.copy()
    U_inf[0, 0] = np.inf
    U_nan = U.copy()
    U_nan[1, 1] = np.nan
    Y_nan = Y.copy()
    Y_nan[2, 0] = np.nan
    Y_inf = Y.copy()
    Y_inf[2, 0] = np.inf
    return [
        # (name, estimator params, X, y, exception, message pattern)
        ("inf in U", {}, U_inf, G, ValueError, r"infinity.*U \(sklearn's X\) must"),
        ("NaN in U", {}, U_nan, G, ValueError, "NaN.*finite real numbers"),
        ("NaN in coords", {"coords": Y_nan}, U, G, ValueError, "coords contains NaN"),
        ("inf in coords", {"coords": Y_inf}, U, G, ValueError, "coords contains infinity"),
        ("rows differ", {}, U, G[:-1], ValueError, "U has 40 rows .* G has 39"),
        ("coords rows", {"coords": Y[:-1]}, U, G, ValueError,
         "coords has 19 rows but G has 20 columns"),
        ("grid width", {"branch": CNNBranch(grid=(4, 4))}, U, G, ValueError,
         r"CNNBranch reads 16 columns .* but U has 20"),
        ("strings in U", {}, np.full(U.shape, "a"), G, ValueError, "string|convert"),
        ("strings in G", {}, U, np.full(G.shape, "a"), ValueError, "string|convert"),
        ("empty U", {}, U[:0], G[:0], ValueError, "0 sample"),
        ("one function", {}, U[:1], G[:1], ValueError, "n_samples = 1"),
        ("1-D G", {}, U, G[:, 0], ValueError, "G must be 2-D .*G.reshape"),
        ("n_eval 0", {"n_eval": 0}, U, G, ValueError, "'n_eval' parameter"),
        ("n_eval -3", {"n_eval": -3}, U, G, ValueError, "'n_eval' parameter"),
        ("n_eval 1.5", {"n_eval": 1.5}, U, G, ValueError,
         r"'n_eval' parameter.*\(0.0, 1.0\].*Got 1.5"),
        ("n_eval too big", {"n_eval": 21}, U, G, ValueError, "n_eval=21 is larger than"),
        ("negative lr", {"learning_rate_init": -1.0}, U, G, ValueError,
         "'learning_rate_init' parameter"),
        ("batch_size 0", {"batch_size": 0}, U, G, ValueError, "'batch_size' parameter"),
        ("activation", {"branch": MLPBranch(activation="swish")}, U, G, ValueError,
         "'activation'.*'relu'"),
        ("sampling", {"sampling": "sobol"}, U, G, ValueError, "'sampling'.*'random'"),
        ("branch", {"branch": "transformer"}, U, G, ValueError, "'branch'.*'cnn'"),
        ("cnn without shape", {"branch": "cnn"}, U, G, ValueError,
         r"needs grid=\(height, width\)"),
        ("device gpu", {"device": "gpu"}, U, G, ValueError, "device='gpu' is not"),
        ("y None", {}, U, None, ValueError, "requires y to be passed"),
        # every argument names itself, whatever the kind of bad value
        ("device mps", {"device": "mps"}, U, G, ValueError, "device='mps'"),
        ("device xpu", {"device": "xpu"}, U, G, ValueError, "device='xpu' is not supported"),
        ("device nonsense", {"device": "gpu:0"}, U, G, ValueError, "device='gpu:0'"),
        ("empty coords", {"coords": np.empty((0, 1))}, U, G, ValueError, "coords is empty"),
        ("coords without columns", {"coords": np.empty((20, 0))}, U, G, ValueError,
         "0 feature.*coords must be an array"),
        ("3-D coords", {"coords": np.zeros((20, 1, 1))}, U, G, ValueError, "coords"),
        ("string coords", {"coords": [["a"]] * 20}, U, G, ValueError, "coords"),
        ("branch layers 0", {"branch": MLPBranch(layers=(40, 0))}, U, G, ValueError,
         r"MLPBranch\(layers=\(40, 0\)\): expected a sequence of positive ints"),
        ("trunk layers float", {"trunk": MLPTrunk(layers=(2.5,))}, U, G, ValueError,
         r"MLPTrunk\(layers=\(2.5,\)\)"),
        ("cnn filters negative", {"branch": CNNBranch(grid=(4, 5), filters=(-1,))}, U, G,
         ValueError, r"CNNBranch\(filters=\(-1,\)\)"),
        ("n_jobs 0", {"n_jobs": 0}, U, G, ValueError, "'n_jobs' parameter"),
        ("n_outputs 0", {"n_outputs": 0}, U, G, ValueError, "'n_outputs' parameter"),
        ("strategy", {"multi_output_strategy": "shared"}, U, G, ValueError,
         "'multi_output_strategy'.*'split_branch'"),
        ("loss", {"loss": "mae"}, U, G, ValueError, "'loss'.*'relative_l2'"),
        ("learning_rate", {"learning_rate": "step"}, U, G, ValueError, "'learning_rate'.*'cosine'"),
        ("max_time 0", {"max_time": 0}, U, G, ValueError, "'max_time' parameter"),
        ("grid zeros", {"branch": CNNBranch(grid=(0, 20))}, U, G, ValueError,
         r"CNNBranch\(grid=\(0, 20\)\): expected a tuple of positive ints"),
        ("grid strings", {"branch": CNNBranch(grid=("a", "b"))}, U, G, ValueError,
         r"CNNBranch\(grid=\('a', 'b'\)\): expected a tuple of positive ints"),
        ("input sizes zero", {"branch": MultiBranch([MLPBranch(n_sensors=0), MLPBranch()])},
         U, G, ValueError, "n_sensors"),
        ("input sizes floats", {"branch": MultiBranch([MLPBranch(n_sensors=10.5),
                                                       MLPBranch(n_sensors=9.5)])},
         U, G, ValueError, "n_sensors"),
        ("output_transform raises", {"output_transform": lambda y, out: out.nope}, U, G,
         ValueError, "output_transform raised AttributeError"),
        ("output_transform wrong shape", {"output_transform": lambda y, out: out[:, :1]}, U, G,
         ValueError, r"output_transform returned \(2, 1\) for out of shape \(2, 3\)"),
        ("output_transform numpy", {"output_transform": lambda y, out: 1.0}, U, G, ValueError,
         "returned float"),
        ("n_eval callable bad", {"n_eval": lambda e: "many"}, U, G, ValueError,
         r"n_eval\(0\)='many' is not understood"),
        ("G complex", {}, U, G + 1j, ValueError, "[Cc]omplex"),
        ("U complex", {}, U + 1j, G, ValueError, "[Cc]omplex"),
    ]


_CASES = _bad_inputs(*make_antiderivative(40, n_points=20, random_state=0))


@pytest.mark.parametrize("name, params, X, y, exc, match", _CASES, ids=[c[0] for c in _CASES])
def test_bad_fit_input_is_a_clear_error_and_leaves_model_unchanged(
        fitted, data, name, params, X, y, exc, match):
    import copy

    U = data[0]
    est = copy.deepcopy(fitted)
    before = est.predict(U)
    est.set_params(**params)
    with pytest.raises(exc, match=match):
        est.fit(X, y)
    est.set_params(**{k: fitted.get_params()[k] for k in params})
    np.testing.assert_array_equal(est.predict(U), before)
    assert est.n_features_in_ == 20 and est.n_iter_ == fitted.n_iter_


def test_score_and_metrics_name_their_bad_arguments(fitted, data):
    from skoperator.metrics import mean_function_r2, variance_weighted_r2

    U, Y, G = data
    with pytest.raises(ValueError, match=r"sample_weight has shape \(3,\) but G has 40 rows"):
        fitted.score(U, G, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="G has 19 columns but the model predicts 20"):
        fitted.score(U, G[:, :19])
    with pytest.raises(ValueError, match="G_true has shape .* but G_pred has shape"):
        mean_function_r2(G, G[:, :3])
    with pytest.raises(ValueError, match="'multioutput' parameter"):
        variance_weighted_r2(G, G, multioutput="average")
    with pytest.raises(ValueError, match="not a multiple of n_outputs=3"):
        mean_function_r2(G, G, n_outputs=3)
    with pytest.raises(ValueError, match="coords is empty"):
        fitted.predict(U, coords=np.empty((0, 1)))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_device_without_cuda_is_a_clear_error(data):
    U, Y, G = data
    with pytest.raises(ValueError, match="device='cuda' was requested but CUDA is not available"):
        DeepONetRegressor(coords=Y, **{**FAST, "device": "cuda"}).fit(U, G)


@pytest.mark.parametrize("X, kwargs, match", [
    (np.ones((3, 7)), {}, "X has 7 features, but DeepONetRegressor is expecting 20"),
    (np.ones((3, 20)), {"coords": np.ones((5, 2))}, "coords has 2 columns .* fitted on 1-dim"),
    (np.full((3, 20), np.nan), {}, "NaN"),
    (np.ones((3, 20)), {"coords": [[np.nan]]}, "coords contains NaN"),
])
def test_bad_predict_input_is_a_clear_error(fitted, X, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fitted.predict(X, **kwargs)


def test_warm_start_with_other_sensor_count_is_rejected_without_change(fitted, data):
    import copy

    U, _, G = data
    est = copy.deepcopy(fitted).set_params(warm_start=True)
    before = est.predict(U)
    with pytest.raises(ValueError,
                       match="X has 10 features, but DeepONetRegressor is expecting 20"):
        est.fit(U[:, :10], G)
    np.testing.assert_array_equal(est.predict(U), before)


def test_3d_inputs_with_input_shape_are_flattened(data):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, **{**FAST, "branch": CNNBranch(grid=(4, 5), filters=(4,),
                                                                     layers=(16,))})
    est.fit(U.reshape(40, 4, 5), G)
    np.testing.assert_allclose(est.predict(U.reshape(40, 4, 5)), est.predict(U))


# ------------------------------------------------------- faults in training
def test_divergence_leaves_the_model_as_it_was_and_explains(fitted, data):
    import copy

    from sklearn.exceptions import NotFittedError

    U, Y, G = data
    diverging = dict(standardize=False, learning_rate_init=1e9, max_iter=50)
    est = DeepONetRegressor(coords=Y, **{**FAST, **diverging})
    with pytest.raises(ValueError, match="diverged.*learning_rate_init too large"):
        est.fit(U * 1e6, G * 1e6)
    # an unfitted estimator stays unfitted
    assert not any(k.endswith("_") and not k.startswith("_") for k in vars(est))
    with pytest.raises(NotFittedError):
        est.predict(U)
    # a fitted one keeps its model
    est = copy.deepcopy(fitted)
    before = est.predict(U)
    est.set_params(**diverging)
    with pytest.raises(ValueError, match="diverged.*learning_rate_init too large"):
        est.fit(U * 1e6, G * 1e6)
    np.testing.assert_array_equal(est.predict(U), before)
    assert est.n_iter_ == fitted.n_iter_ == len(est.history_) == len(est.loss_curve_)


class _InterruptAfter(torch.nn.Module):
    """A trunk that raises KeyboardInterrupt on its n-th training forward."""

    def __init__(self, d, p, n_calls):
        super().__init__()
        self.net = torch.nn.Linear(d, p)
        self.calls = 0
        self.n_calls = n_calls

    def forward(self, y):
        if torch.is_grad_enabled():
            self.calls += 1
            if self.calls == self.n_calls:
                raise KeyboardInterrupt
        return self.net(y)


def test_keyboard_interrupt_keeps_a_usable_model(data):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, batch_size=10, early_stopping=True,
                            validation_fraction=0.25,
                            **{**FAST, "max_iter": 20,
                               "trunk": lambda d, p: _InterruptAfter(d, p, 12)})
    # the best weights so far are stored, then the interrupt propagates
    with pytest.raises(KeyboardInterrupt):
        est.fit(U, G)
    assert est.stopping_reason_ == "interrupted" and est.history_[-1]["stopped"] == "interrupted"
    assert est.n_iter_ == 3 == len(est.history_) == len(est.validation_scores_)
    assert np.all(np.isfinite(est.predict(U)))


# ------------------------------------------------------- property-based
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n_functions=st.integers(2, 12), n_sensors=st.integers(1, 6),
       n_points=st.integers(1, 15), d=st.integers(1, 3),
       sampling=st.sampled_from(["random", "shared", "full"]),
       n_eval_frac=st.floats(0.01, 1.0), batch_size=st.integers(1, 16),
       missing=st.floats(0.0, 0.6), seed=st.integers(0, 1000))
def test_fit_predict_never_crash_on_valid_input(n_functions, n_sensors, n_points, d, sampling,
                                                n_eval_frac, batch_size, missing, seed):
    rng = np.random.default_rng(seed)
    U = rng.normal(size=(n_functions, n_sensors))
    coords = rng.uniform(size=(n_points, d))
    G = rng.normal(size=(n_functions, n_points))
    gaps = rng.uniform(size=G.shape) < missing
    gaps[:, 0] = False  # every function and ...
    gaps[0, :] = False  # ... every column keeps an observed value
    G[gaps] = np.nan
    n_eval = max(1, int(n_eval_frac * n_points))
    est = DeepONetRegressor(coords=coords, sampling=sampling, n_eval=n_eval,
                            batch_size=batch_size, branch=MLPBranch(layers=(4,)),
                            trunk=MLPTrunk(layers=(4,)), n_basis=3, max_iter=2, tol=None,
                            device="cpu", random_state=seed)
    est.fit(U, G)
    assert est.predict(U).shape == (n_functions, n_points)
    new = rng.uniform(size=(4, d))
    out = est.predict(U[:2], coords=new)
    assert out.shape == (2, 4) and np.all(np.isfinite(out))


# ------------------------------------------------ defaults that must be right
def test_pca_pipeline_reaches_the_accuracy_of_the_estimator_alone():
    # The README's pipeline: before per-input scaling, standardising every
    # column whitened the PCA scores (mean R2 0.46-0.55 here).
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    U, Y, G = make_antiderivative(700, random_state=0)
    params = dict(coords=Y, n_eval=10, max_iter=100, device="cpu", random_state=0)
    pipe = make_pipeline(StandardScaler(), PCA(20), DeepONetRegressor(**params))
    pipe.fit(U[:500], G[:500])
    alone = DeepONetRegressor(**params).fit(U[:500], G[:500])
    r2_pipe = mean_function_r2(G[500:], pipe.predict(U[500:]))
    r2_alone = mean_function_r2(G[500:], alone.predict(U[500:]))
    assert r2_pipe >= 0.96 and r2_pipe >= r2_alone - 0.015, (r2_pipe, r2_alone)  # 0.969
    # the relative scale of the components is kept: one scale for all of them
    scale = pipe[-1].network_.u_scale.numpy()
    assert np.all(scale == scale[0])


def test_input_scaling_keeps_relative_column_scales(data):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, **FAST).fit(U * np.linspace(1, 100, 20), G)
    np.testing.assert_allclose(est.network_.u_scale.numpy(), est.network_.u_scale.numpy()[0])
    np.testing.assert_allclose(est.network_.u_shift.numpy(),
                               (U * np.linspace(1, 100, 20)).mean(axis=0), rtol=1e-5)


def test_early_stopping_refuses_a_single_validation_function():
    U, Y, G = make_antiderivative(12, n_points=10, random_state=0)
    est = DeepONetRegressor(coords=Y, early_stopping=True, **FAST)
    with pytest.raises(ValueError, match="holds out .* = 1 function.* needs at least 2.*"
                                         "raise validation_fraction to at least 0.167"):
        est.fit(U, G)
    est.set_params(validation_fraction=0.2).fit(U, G)
    assert len(est.validation_scores_) == est.n_iter_


# ------------------------------------------------------- inputs that leaked
def test_streamed_memmap_with_gaps_trains_reading_only_sampled_entries(tmp_path, monkeypatch):
    import skoperator._data as data_module
    import skoperator._training as training

    U, Y, G = make_antiderivative(120, n_points=40, random_state=0)
    G = G.astype(np.float32)
    G[np.random.default_rng(0).uniform(size=G.shape) < 0.2] = np.nan
    G[:, 0] = 0.0
    path = tmp_path / "G.dat"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=G.shape)
    mm[:] = G
    mm.flush()
    G_mm = np.memmap(path, dtype=np.float32, mode="r", shape=G.shape)
    monkeypatch.setattr(data_module, "MEMMAP_BYTES", 1000)  # stream this small array
    reads = []
    original = training.TrainingData.targets

    def spy(self, rows, cols):
        out = original(self, rows, cols)
        if self.streamed and self.network_training_read:
            reads.append(tuple(out.shape))
        return out

    monkeypatch.setattr(training.TrainingData, "network_training_read", True, raising=False)
    monkeypatch.setattr(training.TrainingData, "targets", spy)
    for sampling in ("random", "stratified", "fixed"):
        est = DeepONetRegressor(coords=Y, sampling=sampling, n_eval=5, batch_size=16,
                                early_stopping=True, **{**FAST, "max_iter": 2}).fit(U, G_mm)
        assert np.all(np.isfinite(est.validation_scores_))
    # every read during the epochs is one batch at its sampled points
    assert reads and all(shape[0] <= 16 and shape[1] == 5 for shape in reads)
    assert G_mm.flags.writeable is False


def test_warm_start_trains_on_new_coordinates():
    U, Y, G = make_antiderivative(300, n_points=30, random_state=0)
    est = DeepONetRegressor(coords=Y, n_eval=10, max_iter=60, learning_rate_init=5e-3,
                            tol=None, device="cpu", random_state=0, warm_start=True)
    est.fit(U, G)
    order = np.random.default_rng(0).permutation(30)
    est.set_params(coords=Y[order], max_iter=30).fit(U, G[:, order])
    np.testing.assert_array_equal(est.coords_, Y[order])
    # the model kept learning the same operator at the reordered points
    assert mean_function_r2(G[:, order], est.predict(U)) > 0.97  # measured 0.978
    np.testing.assert_allclose(est.predict(U, coords=Y), est.predict(U)[:, np.argsort(order)])
    with pytest.raises(ValueError, match="coords has 2 columns but the model was fitted on "
                                         "1-dimensional"):
        est.set_params(coords=np.zeros((30, 2))).fit(U, G)


def test_read_only_inputs_predict_without_warnings(fitted, data, tmp_path):
    import warnings

    pd = pytest.importorskip("pandas")
    U, Y, G = data
    frozen = U.copy()
    frozen.setflags(write=False)
    path = tmp_path / "U.dat"
    mm = np.memmap(path, dtype=np.float64, mode="w+", shape=U.shape)
    mm[:] = U
    mm.flush()
    U_mm = np.memmap(path, dtype=np.float64, mode="r", shape=U.shape)
    frame = pd.DataFrame(U)
    coords = Y.copy()
    coords.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for X in (frozen, U_mm, frame):
            np.testing.assert_allclose(fitted.predict(X), fitted.predict(U))
            fitted.predict(X, coords=coords)
        DeepONetRegressor(coords=coords, **FAST).fit(frozen, G)
        DeepONetRegressor(coords=coords, **FAST).fit(U_mm, G)


# ------------------------------------- points per function, padded with NaN
def _per_function_points(n=40, m=12, seed=0):
    """Each function at its own 6 to 12 points; NaN rows (and targets) pad the rest."""
    rng = np.random.default_rng(seed)
    U = rng.normal(size=(n, 8))
    P = rng.uniform(size=(n, m, 1))
    G = U[:, :1] * np.sin(3 * P[..., 0]) + U[:, 1:2]
    for i, k in enumerate(rng.integers(6, m + 1, size=n)):
        P[i, k:] = np.nan
        G[i, k:] = np.nan
    return U, P, G


def _r2_by_hand(G, pred):
    """1 - sum SSE / sum SST over the observed entries of the columns that vary."""
    sse = sst = 0.0
    for j in range(G.shape[1]):
        ok = ~np.isnan(G[:, j])
        g, p = G[ok, j], pred[ok, j]
        if ok.sum() and np.var(g) > 0:
            sse += ((g - p) ** 2).sum()
            sst += ((g - g.mean()) ** 2).sum()
    return 1.0 - sse / sst


def test_score_on_points_per_function_is_r2_over_the_observed_entries():
    U, P, G = _per_function_points()
    est = DeepONetRegressor(**FAST).fit(U, G, coords=P)
    pred = est.predict(U, coords=P)
    assert np.isnan(pred[np.isnan(G)]).all()  # the padding points have no prediction
    score = est.score(U, G, coords=P)
    assert np.isfinite(score)
    np.testing.assert_allclose(score, _r2_by_hand(G, pred), rtol=1e-10)


def test_cross_validation_with_metadata_routing_on_points_per_function():
    U, P, G = _per_function_points()
    est = DeepONetRegressor(**FAST)
    with sklearn.config_context(enable_metadata_routing=True):
        est.set_fit_request(coords=True).set_score_request(coords=True)
        scores = cross_val_score(est, U, G, params={"coords": P}, cv=KFold(2))
    assert np.isfinite(scores).all()
    expected = []
    for train, test in KFold(2).split(U):
        fold = clone(est).fit(U[train], G[train], coords=P[train])
        expected.append(_r2_by_hand(G[test], fold.predict(U[test], coords=P[test])))
    np.testing.assert_allclose(scores, expected, rtol=1e-10)


def test_early_stopping_on_points_per_function_scores_every_epoch():
    U, P, G = _per_function_points()
    est = DeepONetRegressor(**{**FAST, "max_iter": 4}, early_stopping=True,
                            validation_fraction=0.25, n_iter_no_change=10).fit(U, G, coords=P)
    scores = [h["valid_score"] for h in est.history_]
    assert len(scores) == 4 and np.isfinite(scores).all()


@pytest.mark.filterwarnings("ignore:One or more of the test scores are non-finite")
def test_search_on_points_per_function_without_routing_names_the_fix():
    """Without metadata routing a search cannot pass coords to score: the error says how."""
    U, P, G = _per_function_points()
    fix = r"enable_metadata_routing=True.*set_score_request\(coords=True\)"
    search = GridSearchCV(DeepONetRegressor(**FAST), {"n_basis": [4, 8]}, cv=2,
                          error_score="raise")
    with pytest.raises(ValueError, match=fix):
        search.fit(U, G, coords=P)
    with pytest.warns(UserWarning, match=fix):
        GridSearchCV(DeepONetRegressor(**FAST), {"n_basis": [4]}, cv=2).fit(U, G, coords=P)


def test_reversed_views_fit_and_predict_as_their_copies(fitted, data):
    """A view with a negative stride (``U[:, ::-1]``, a mirror image) is copied, not
    shared: torch cannot share it, and ``predict`` once raised on it."""
    U, Y, G = data
    flipped = U[:, ::-1]
    assert flipped.strides[1] < 0
    np.testing.assert_array_equal(fitted.predict(flipped), fitted.predict(flipped.copy()))
    np.testing.assert_array_equal(fitted.predict(U[::-1]), fitted.predict(U[::-1].copy()))
    refit = clone(fitted).set_params(max_iter=1)
    first = refit.fit(U[::-1], G[::-1]).predict(U)
    np.testing.assert_array_equal(first, refit.fit(U[::-1].copy(), G[::-1].copy()).predict(U))


# ---- errors that name the argument, found by the 2026-12-07 audit of the outer ring ----

def _small(seed=0):
    rng = np.random.default_rng(seed)
    U = rng.normal(size=(12, 16))
    return U, np.linspace(0, 1, 16)[:, None], np.cumsum(U, axis=1) / 16


def test_ensemble_errors_count_the_users_columns_and_rows():
    U, Y, G = _small()
    ens = EnsembleRegressor(DeepONetRegressor(coords=Y, **FAST), n_estimators=2, n_jobs=1)
    with pytest.raises(ValueError, match="coords has 16 rows but G has 17 columns; pass"):
        ens.fit(U, np.hstack([G, G[:, :1]]))
    with pytest.raises(ValueError, match="y has 5 rows for X of 12 rows"):
        ens.fit(U, G[:5])
    ens.fit(U, G)
    with pytest.raises(ValueError, match="return_std must be True or False; got 'yes'"):
        ens.predict(U, return_std="yes")


def test_symmetrized_checks_weights_first_and_owns_its_group():
    U, _, G = _small()
    mirror = Reflection(grid=(16,), axis=0)
    model = SymmetrizedRegressor(Ridge(), [mirror])
    with pytest.raises(ValueError, match=r"sample_weight.shape == \(3,\), expected \(12,\)"):
        model.fit(U, G, sample_weight=np.ones(3))
    model.fit(U, G)
    before = model.predict(U)
    mirror.set_params(output_sign=-1, output_offset=3.0)  # the user's object, after fit
    np.testing.assert_array_equal(model.predict(U), before)


@pytest.mark.parametrize("grid", [(16.5,), (True, 16), (-16,), ()])
def test_grid_branch_grid_must_be_positive_ints(grid):
    U, Y, G = _small()
    with pytest.raises(ValueError, match="expected a tuple of positive ints"):
        DeepONetRegressor(branch=FNOBranch(grid=grid), coords=Y, **{
            k: v for k, v in FAST.items() if k != "branch"}).fit(U, G)


def test_fno_stride_must_leave_two_nodes_per_axis():
    U, Y, G = _small()
    params = {k: v for k, v in FAST.items() if k != "branch"}
    with pytest.raises(ValueError, match=r"FNOBranch\(stride=16\) leaves .* one node"):
        DeepONetRegressor(branch=FNOBranch(grid=(16,), stride=16), coords=Y, **params).fit(U, G)
    DeepONetRegressor(branch=FNOBranch(grid=(16,), stride=8), coords=Y, **params).fit(U, G)


def test_predict_refuses_a_grid_of_another_shape():
    rng = np.random.default_rng(0)
    U, Y, G = rng.normal(size=(10, 8, 8)), rng.random((5, 2)), rng.normal(size=(10, 5))
    params = {k: v for k, v in FAST.items() if k != "branch"}
    model = DeepONetRegressor(branch=FNOBranch(grid=(8, 8)), coords=Y, **params).fit(U, G)
    expected = model.predict(U)
    np.testing.assert_array_equal(model.predict(U.reshape(10, -1)), expected)
    np.testing.assert_array_equal(model.predict(U[:, None]), expected)
    with pytest.raises(ValueError, match=r"U has shape \(n, 4, 16\) but the model was fitted "
                                         r"on grids of shape \(8, 8\)"):
        model.predict(U.reshape(10, 4, 16))


def test_pod_rank_error_counts_the_early_stopping_hold_out():
    U, Y, G = _small()
    params = dict(FAST, trunk="pod", n_basis=11, early_stopping=True, validation_fraction=0.25)
    with pytest.raises(ValueError, match=r"min\(training functions x fields, points\) = 9 \(the "
                                         "functions held out by early_stopping not counted\\)"):
        DeepONetRegressor(coords=Y, **params).fit(U, G)


# ------------------------------------------------ torch's process-wide settings
class _BatchNormBranch(torch.nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.bn = torch.nn.BatchNorm1d(n_in)
        self.linear = torch.nn.Linear(n_in, n_out)

    def forward(self, x):
        return self.linear(self.bn(x))


class _DropoutBranch(torch.nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.linear = torch.nn.Linear(n_in, n_out)
        self.drop = torch.nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.linear(x))


def _tiny(**params):
    U, Y, G = make_antiderivative(40, n_points=10, random_state=0)
    return U, G, DeepONetRegressor(coords=Y, max_iter=2, tol=None, device="cpu",
                                   random_state=0, **params)


def test_n_jobs_and_the_checks_leave_a_batch_norm_module_alone():
    # Counting flops (n_jobs=None) and checking the module's shapes ran it in train
    # mode: 2 more batch-norm updates, and predictions that depended on n_jobs.
    U, G, est = _tiny(branch=_BatchNormBranch)
    auto = clone(est).set_params(n_jobs=None).fit(U, G)
    one = clone(est).set_params(n_jobs=1).fit(U, G)
    assert int(auto.network_.branch.bn.num_batches_tracked) == 2  # 40 functions, batch 32
    np.testing.assert_array_equal(auto.predict(U), one.predict(U))


def test_a_dropout_module_trains_the_same_twice_and_leaves_the_global_rng():
    U, G, est = _tiny(branch=_DropoutBranch)
    state = torch.get_rng_state()
    first = clone(est).fit(U, G).predict(U)
    assert torch.equal(torch.get_rng_state(), state)  # "no global seed is touched"
    torch.manual_seed(123)  # whatever the caller's global state
    np.testing.assert_array_equal(clone(est).fit(U, G).predict(U), first)


def test_fit_runs_under_the_callers_no_grad_and_float64_default():
    U, G, est = _tiny()
    expected = clone(est).fit(U, G).predict(U)
    with torch.no_grad():
        fitted = clone(est).fit(U, G)
        fitted.partial_fit(U, G)
        assert not torch.is_grad_enabled()
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        np.testing.assert_array_equal(clone(est).fit(U, G).predict(U), expected)
        assert torch.get_default_dtype() == torch.float64
    finally:
        torch.set_default_dtype(default)
    with torch.inference_mode(), pytest.raises(RuntimeError, match="inside torch.inference_"
                                                                   "mode.*outside that block"):
        clone(est).fit(U, G)
