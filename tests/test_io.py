"""skoperator.io: the safe file format (dump/load) and the ONNX export (to_onnx)."""

import ast
import copy
import json
import os
import pickle
import warnings
import zipfile

import numpy as np
import pytest
import torch

from skoperator import DeepONetRegressor, __version__
from skoperator._onnx import _exportable
from skoperator._planning import same_setting
from skoperator.datasets import make_antiderivative
from skoperator.io import dump, load, to_onnx
from skoperator.losses import HuberLoss, RelativeL2Loss
from skoperator.networks import (
    BaseBranch,
    CNNBranch,
    ConcatMerge,
    FNOBranch,
    MLPBranch,
    MLPTrunk,
    MultiBranch,
    PODTrunk,
    ResNetTrunk,
)
from skoperator.sampling import AdaptiveSampler, StratifiedSampler
from skoperator.schedules import CosineSchedule, OneCycleSchedule

pytest.importorskip("safetensors")

FAST = dict(max_iter=2, tol=None, n_basis=6, batch_size=16, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def line():
    """Antiderivative data: 40 functions at 16 sensors, outputs at 16 points of [0, 1]."""
    U, Y, G = make_antiderivative(40, n_points=16, random_state=0)
    return U, Y, G


@pytest.fixture(scope="module")
def plane():
    """Inputs on an 8 x 8 grid, two output fields at 12 scattered points of the plane."""
    rng = np.random.default_rng(0)
    U = rng.standard_normal((40, 64))
    Y = rng.random((12, 2))
    G = np.concatenate([U[:, :12] + Y[:, 0], np.tanh(U[:, 12:24]) * Y[:, 1]], axis=1)
    return U, Y, G


def vanish_at_zero(y, out):
    """An exact constraint of one output field: zero at y = 0."""
    return y[..., 0] * out


class WideMLPBranch(MLPBranch):
    """A component class of the user's own."""


class _ComplexLinear(torch.nn.Module):
    def __init__(self, n_in, n_out, generator):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(n_in, n_out, dtype=torch.cfloat,
                                                generator=generator) / n_in)

    def forward(self, u):
        return (u.to(self.w.dtype) @ self.w).real


class ComplexBranch(BaseBranch):
    """A component of the user's own with complex weights (as classic FNO code has)."""

    def __init__(self, scale=1.0):
        self.scale = scale

    def build(self, n_in, n_out, context):
        return _ComplexLinear(n_in, n_out, context.generator)


def _line_models():
    return {
        "mlp": dict(branch=MLPBranch(layers=(8,)), trunk=MLPTrunk(layers=(8,))),
        "fno+pod": dict(branch=FNOBranch(modes=4, width=4, n_layers=1), trunk="pod"),
        "components": dict(branch=MLPBranch(layers=(8, 8), activation="tanh"),
                           trunk=ResNetTrunk(layers=(8, 8)),
                           loss=RelativeL2Loss(floor=1e-5),
                           learning_rate=OneCycleSchedule(pct_start=0.2),
                           sampling=AdaptiveSampler(refresh=1), n_eval=0.5,
                           early_stopping=True, validation_fraction=0.2,
                           random_state=np.random.RandomState(3)),
    }


def _plane_models():
    return {
        "multibranch": dict(branch=MultiBranch([MLPBranch(layers=(8,), n_sensors=30),
                                                "mlp"], merge=ConcatMerge(layers=(8,))),
                            trunk=MLPTrunk(layers=(8,)), n_outputs=2,
                            multi_output_strategy="split_trunk", loss=HuberLoss(delta=0.5),
                            learning_rate=CosineSchedule(), sampling=StratifiedSampler(),
                            n_eval=4),
        "cnn+fourier, two fields": dict(
            branch=CNNBranch(grid=(8, 8), filters=(4,), layers=(8,)),
            trunk=MLPTrunk(layers=(8,), fourier_features=3, fourier_scale=2.0), n_outputs=2,
            multi_output_strategy="split_both"),
    }


def _fit(data, settings, **extra):
    U, Y, G = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return DeepONetRegressor(coords=Y, **{**FAST, **settings, **extra}).fit(U, G)


def _same(a, b):
    if isinstance(a, np.random.RandomState):
        return all(np.array_equal(x, y) for x, y in zip(a.get_state(), b.get_state()))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    return same_setting(a, b) and type(a) is type(b)


def assert_same_model(original, loaded, U):
    """Same parameters, fitted attributes and private state; identical predictions."""
    params_a, params_b = original.get_params(deep=False), loaded.get_params(deep=False)
    assert params_a.keys() == params_b.keys()
    for name in params_a:
        if name != "output_transform":
            assert _same(params_a[name], params_b[name]), name
    public = [k for k in vars(original) if k.endswith("_") and not k.startswith("_")]
    assert sorted(public) == sorted(k for k in vars(loaded) if k.endswith("_")
                                    and not k.startswith("_"))
    for name in public:
        if name == "network_":
            continue
        a, b = getattr(original, name), getattr(loaded, name)
        if name in ("sampler_", "loss_", "physics_"):  # the fit's copies, fitted attributes too
            assert _same_component(a, b), name
        elif isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and np.array_equal(a, b), name
        else:
            assert a == b and type(a) is type(b), name
    assert original._architecture.keys() == loaded._architecture.keys()
    for name, value in original._architecture.items():
        if name != "output_transform":
            assert same_setting(value, loaded._architecture[name]), name
    assert original._stopping == loaded._stopping
    assert next(loaded.network_.parameters()).device.type == "cpu"
    np.testing.assert_allclose(loaded.predict(U), original.predict(U), rtol=1e-12, atol=1e-12)


def _same_component(a, b):
    if a is None or b is None:
        return a is b
    if type(a) is not type(b) or not same_setting(a, b) or vars(a).keys() != vars(b).keys():
        return False
    for key, value in vars(a).items():
        other = vars(b)[key]
        if torch.is_tensor(value):
            if not (torch.is_tensor(other) and value.dtype == other.dtype
                    and torch.equal(value, other)):
                return False
        elif key.endswith("_") and not _same(value, other):
            return False
    return True


def _rewrite(path, edit):
    """Rewrite ``model.json`` of a dumped file through ``edit(document) -> document``."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["model.json"] = json.dumps(edit(json.loads(members["model.json"]))).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


# ------------------------------------------------------------- dump and load
@pytest.mark.parametrize("name", list(_line_models()))
def test_round_trip_on_a_line(line, tmp_path, name):
    est = _fit(line, _line_models()[name])
    loaded = load(dump(est, tmp_path / "model.skop"))
    assert_same_model(est, loaded, line[0])


@pytest.mark.parametrize("name", list(_plane_models()))
def test_round_trip_in_the_plane(plane, tmp_path, name):
    est = _fit(plane, _plane_models()[name])
    loaded = load(dump(est, tmp_path / "model.skop"))
    assert_same_model(est, loaded, plane[0])
    # elsewhere than at the training points too
    coords = np.random.default_rng(1).random((5, 2))
    np.testing.assert_allclose(loaded.predict(plane[0], coords=coords),
                               est.predict(plane[0], coords=coords), rtol=1e-12, atol=1e-12)


def test_round_trip_of_an_unfitted_estimator_keeps_types(tmp_path):
    est = DeepONetRegressor(
        coords=np.linspace(0, 1, 7)[:, None], n_eval=0.25, n_basis=12,
        branch=MultiBranch([FNOBranch(grid=(4, 4), modes=2), "mlp",
                            MLPBranch(layers=[16, 8], n_sensors=3)], merge="sum"),
        trunk="pod_corrected", loss="huber", random_state=np.random.RandomState(5),
        device=torch.device("cpu"), max_time=float("inf"))
    loaded = load(dump(est, tmp_path / "unfitted.skop"))
    assert not hasattr(loaded, "network_")
    for name, value in est.get_params(deep=False).items():
        assert _same(value, getattr(loaded, name)), name
    assert loaded.branch.branches[0].grid == (4, 4)
    assert isinstance(loaded.branch.branches[2].layers, list)
    assert loaded.device == torch.device("cpu")


def test_round_trip_with_feature_names(line, tmp_path):
    pd = pytest.importorskip("pandas")
    U, Y, G = line
    frame = pd.DataFrame(U, columns=[f"u{i}" for i in range(U.shape[1])])
    est = _fit((frame, Y, G), _line_models()["mlp"])
    loaded = load(dump(est, tmp_path / "model.skop"))
    np.testing.assert_array_equal(loaded.feature_names_in_, est.feature_names_in_)
    assert loaded.feature_names_in_.dtype == object
    np.testing.assert_array_equal(loaded.predict(frame), est.predict(frame))


def test_a_failed_dump_leaves_the_existing_file_as_it_was(line, tmp_path, monkeypatch):
    import skoperator.io as io

    est = _fit(line, _line_models()["mlp"])
    path = dump(est, tmp_path / "model.skop")
    before = open(path, "rb").read()

    def fail(tensors):
        raise ImportError("safetensors is not installed")

    monkeypatch.setattr(io, "save_tensors", fail)
    with pytest.raises(ImportError, match="safetensors"):
        dump(est, path)
    assert open(path, "rb").read() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.skop"]  # no temporary left
    monkeypatch.undo()
    np.testing.assert_array_equal(load(path).predict(line[0]), est.predict(line[0]))


def test_dump_of_a_wrapper_says_how_to_save_it(line, tmp_path):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    with pytest.raises(TypeError, match="Save a Pipeline with pickle or joblib"):
        dump(make_pipeline(StandardScaler(), DeepONetRegressor()), tmp_path / "m.skop")
    assert not list(tmp_path.iterdir())


def test_the_file_is_a_zip_of_json_and_safetensors(line, tmp_path):
    est = _fit(line, _line_models()["mlp"])
    path = dump(est, tmp_path / "model.skop")
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["model.json", "weights.safetensors"]
        document = json.loads(archive.read("model.json"))
    assert document["format"] == "skoperator.DeepONetRegressor"
    assert document["format_version"] == 1
    assert document["skoperator_version"] == __version__
    assert document["torch_version"] == torch.__version__
    assert document["params"]["branch"] == {
        "__component__": "skoperator.networks.MLPBranch",
        "params": {"layers": {"__tuple__": [8]}, "activation": "relu", "n_sensors": None}}
    assert document["fitted"]["attributes"]["coords_"]["__array__"]
    # the same model gives the same bytes
    with open(path, "rb") as f, open(dump(est, tmp_path / "again.skop"), "rb") as g:
        assert f.read() == g.read()


def test_load_unpickles_nothing(line, tmp_path, monkeypatch):
    est = _fit(line, _line_models()["fno+pod"], warm_start=True)
    path = dump(est, tmp_path / "model.skop")

    def refuse(*args, **kwargs):
        raise AssertionError("load must not unpickle")

    for module, name in [(pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"),
                         (torch, "load")]:
        monkeypatch.setattr(module, name, refuse)
    loaded = load(path)
    monkeypatch.undo()
    assert_same_model(est, loaded, line[0])


def test_pickle_of_a_loaded_model(line, tmp_path):
    est = _fit(line, _line_models()["fno+pod"])
    loaded = load(dump(est, tmp_path / "model.skop"))
    again = pickle.loads(pickle.dumps(loaded))
    np.testing.assert_array_equal(again.predict(line[0]), est.predict(line[0]))


def test_warm_start_continues_after_load(line, tmp_path):
    U, Y, G = line
    est = _fit(line, _line_models()["mlp"], warm_start=True, max_iter=3,
               learning_rate_init=1e-2)
    loaded = load(dump(est, tmp_path / "model.skop"))
    assert loaded._optimizer_state["state"].keys() == est._optimizer_state["state"].keys()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(U, G)
        loaded.fit(U, G)
    assert loaded.n_iter_ == est.n_iter_ == 6
    assert [h["epoch"] for h in loaded.history_] == list(range(1, 7))
    assert loaded.loss_curve_ == est.loss_curve_  # the optimizer state was restored
    assert loaded.loss_curve_[-1] < loaded.loss_curve_[0]
    np.testing.assert_array_equal(loaded.predict(U), est.predict(U))


def test_a_model_saved_for_cuda_loads_and_predicts_on_the_cpu(line, tmp_path):
    est = _fit(line, _line_models()["mlp"])
    est.set_params(device="cuda")
    loaded = load(dump(est, tmp_path / "model.skop"))
    assert loaded.device == "cuda"
    assert next(loaded.network_.parameters()).device.type == "cpu"
    if torch.cuda.is_available():  # float32 on the GPU
        np.testing.assert_allclose(loaded.predict(line[0]), est.predict(line[0]), rtol=1e-5,
                                   atol=1e-6)
    else:  # predict falls back to the CPU
        np.testing.assert_array_equal(loaded.predict(line[0]), est.predict(line[0]))


def test_output_transform_is_passed_again(line, tmp_path):
    est = _fit(line, _line_models()["mlp"], output_transform=vanish_at_zero)
    path = dump(est, tmp_path / "model.skop")
    with pytest.raises(ValueError, match="output_transform=.*vanish_at_zero.*pass it again"):
        load(path)
    loaded = load(path, output_transform=vanish_at_zero)
    assert loaded.output_transform is vanish_at_zero
    assert loaded._architecture["output_transform"] is vanish_at_zero
    assert_same_model(est, loaded, line[0])
    plain = dump(_fit(line, _line_models()["mlp"]), tmp_path / "plain.skop")
    with pytest.raises(ValueError, match="without an output_transform"):
        load(plain, output_transform=vanish_at_zero)


@pytest.mark.parametrize("param, value, match", [
    ("n_eval", lambda epoch: 4, "parameter n_eval .*function is code"),
    ("branch", torch.nn.Linear(16, 6), "parameter branch .*torch.nn.Module"),
    ("trunk", lambda d, n: torch.nn.Linear(d, n), "parameter trunk "),
    ("branch", WideMLPBranch(layers=(8,)), "parameter branch .*trusted_types"),
    ("branch", MultiBranch([MLPBranch(n_sensors=6), WideMLPBranch()]),
     r"parameter branch__branches\[1\] "),
])
def test_dump_refuses_what_would_be_code(tmp_path, param, value, match):
    est = DeepONetRegressor(**{param: value})
    with pytest.raises(TypeError, match=match):
        dump(est, tmp_path / "model.skop")
    assert not (tmp_path / "model.skop").exists()


def test_dump_explains_how_to_save_a_physics_model(tmp_path):
    physics = pytest.importorskip("skoperator.physics")
    if not hasattr(physics, "PDEResidual"):
        pytest.skip("no PDEResidual")
    est = DeepONetRegressor(physics=physics.PDEResidual(vanish_at_zero, sensors=None))
    with pytest.raises(TypeError, match=r"physics__residual .*set_params\(physics=None\)"):
        dump(est, tmp_path / "model.skop")
    est.set_params(physics=None)
    assert load(dump(est, tmp_path / "model.skop")).physics is None


def test_trusted_types_round_trip(line, tmp_path):
    est = _fit(line, dict(branch=WideMLPBranch(layers=(8,)), trunk=MLPTrunk(layers=(8,))))
    path = dump(est, tmp_path / "model.skop", trusted_types=[WideMLPBranch])
    with pytest.raises(ValueError, match="WideMLPBranch.*trusted_types"):
        load(path)
    loaded = load(path, trusted_types=[WideMLPBranch])
    assert type(loaded.branch) is WideMLPBranch
    assert_same_model(est, loaded, line[0])
    with pytest.raises(TypeError, match="Pass the class itself"):
        load(path, trusted_types=["tests.test_io.WideMLPBranch"])


@pytest.mark.parametrize("name", ["os.system", "builtins.eval", "subprocess.Popen",
                                  "skoperator.networks._UserBranch",
                                  "torch.nn.modules.linear.Linear"])
def test_load_refuses_classes_outside_the_allow_list(line, tmp_path, name):
    path = dump(_fit(line, _line_models()["mlp"]), tmp_path / "model.skop")

    def edit(document):
        document["params"]["branch"]["__component__"] = name
        return document

    _rewrite(path, edit)
    with pytest.raises(ValueError, match=f"names the class '{name}'.*refuses"):
        load(path)


def test_load_checks_versions(line, tmp_path):
    path = dump(_fit(line, _line_models()["mlp"]), tmp_path / "model.skop")
    _rewrite(path, lambda d: {**d, "skoperator_version": "0.0.1"})
    with pytest.warns(UserWarning, match=f"saved with skoperator 0.0.1 and is loaded with "
                                         f"skoperator {__version__}"):
        load(path)
    _rewrite(path, lambda d: {**d, "format_version": 99})
    with pytest.raises(ValueError, match="format version 99"):
        load(path)


def test_an_sgd_model_round_trips_and_continues(line, tmp_path):
    U, Y, G = line
    est = _fit(line, _line_models()["mlp"], optimizer="sgd", warm_start=True)
    loaded = load(dump(est, tmp_path / "model.skop"))
    assert {"momentum_buffer"} <= set(loaded._optimizer_state["state"][0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(U, G)
        loaded.fit(U, G)
    np.testing.assert_array_equal(loaded.predict(U), est.predict(U))


def test_load_of_a_directory_says_what_it_expected(tmp_path):
    with pytest.raises(ValueError, match="is a directory; expected a file written by"):
        load(tmp_path)


def test_load_refuses_other_files(tmp_path):
    junk = tmp_path / "junk.skop"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a file written by skoperator.io.dump"):
        load(junk)
    with zipfile.ZipFile(junk, "w") as archive:
        archive.writestr("model.json", "{}")
        archive.writestr("weights.safetensors", b"")
    with pytest.raises(ValueError, match="not a file written by skoperator.io.dump"):
        load(junk)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_model_fitted_on_a_gpu_loads_on_the_cpu(line, tmp_path):
    U, Y, G = line
    est = _fit(line, _line_models()["mlp"], device="cuda", warm_start=True)
    loaded = load(dump(est, tmp_path / "model.skop"))
    assert next(loaded.network_.parameters()).device.type == "cpu"
    assert loaded.device_ == est.device_
    est.set_params(device="cpu")
    loaded.set_params(device="cpu")
    np.testing.assert_array_equal(loaded.predict(U), est.predict(U))
    est.set_params(device="cuda")
    loaded.set_params(device="cuda")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded.fit(U, G)
    assert loaded.n_iter_ == 2 * est.n_iter_


# -------------------------------------------------------------------- ONNX
def _onnxruntime():
    pytest.importorskip("onnx")
    return pytest.importorskip("onnxruntime")


def _relative_error(got, ref):
    return float(np.abs(got - ref).max() / np.abs(ref).max())


def _onnx_models():
    return {
        "mlp": ("line", dict(branch=MLPBranch(layers=(8,)), trunk=MLPTrunk(layers=(8,)))),
        "resnet trunk": ("line", dict(branch=MLPBranch(layers=(8,)),
                                      trunk=ResNetTrunk(layers=(8, 8, 8)))),
        "fourier trunk": ("plane", dict(branch=MLPBranch(layers=(8,)),
                                        trunk=MLPTrunk(layers=(8,), fourier_features=4),
                                        n_outputs=2)),
        "cnn branch, two fields": ("plane", dict(
            branch=CNNBranch(grid=(8, 8), filters=(4, 4), layers=(8,)),
            trunk=MLPTrunk(layers=(8,)), n_outputs=2)),
        "independent fields": ("plane", dict(branch=MLPBranch(layers=(8,)),
                                             trunk=MLPTrunk(layers=(8,)), n_outputs=2,
                                             multi_output_strategy="independent")),
        "multibranch": ("plane", _plane_models()["multibranch"]),
        "fno 1-D": ("line", dict(branch=FNOBranch(modes=5, width=4, n_layers=2,
                                                  head_layers=(8,)),
                                 trunk=MLPTrunk(layers=(8,)))),
        "fno 2-D": ("plane", dict(branch=FNOBranch(grid=(8, 8), modes=3, width=4,
                                                   n_layers=2, head_layers=(8,)),
                                  trunk=MLPTrunk(layers=(8,)), n_outputs=2)),
        "pod trunk": ("line", dict(branch=MLPBranch(layers=(8,)),
                                   trunk=PODTrunk(correction=True, layers=(8,)))),
        "fno + pod": ("line", dict(branch=FNOBranch(modes=4, width=4, n_layers=1),
                                   trunk="pod")),
        "output_transform": ("line", dict(branch=MLPBranch(layers=(8,)),
                                          trunk=MLPTrunk(layers=(8,)),
                                          output_transform=vanish_at_zero)),
    }


def _points(est, m, rng):
    """(name, array) of the second input, and the coordinates predict needs."""
    coords = est.coords_
    if est.network_.trunk_is_table:
        index = np.sort(rng.choice(len(coords), m, replace=False)).astype(np.int64)
        return "index", index, coords[index]
    y = rng.random((m, coords.shape[1]))
    return "coords", y.astype(np.float32), y


@pytest.mark.parametrize("name", list(_onnx_models()))
def test_onnx_export_matches_predict(request, tmp_path, name):
    data_name, settings = _onnx_models()[name]
    ort = _onnxruntime()
    data = request.getfixturevalue(data_name)
    U = data[0]
    est = _fit(data, settings)
    rng = np.random.default_rng(0)
    path = to_onnx(est, tmp_path / "model.onnx")
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()][0] == "U"
    for n, m in [(7, 5), (3, 11)]:  # dynamic axes: two sizes in one session
        second, value, coords = _points(est, m, rng)
        got = session.run(None, {"U": U[:n].astype(np.float32), second: value})[0]
        ref = est.predict(U[:n], coords=coords)
        assert got.shape == ref.shape == (n, est.n_outputs_ * m)
        assert _relative_error(got, ref) <= 1e-5

    if est.output_transform is not None:
        with pytest.warns(UserWarning, match="leaves output_transform out"):
            to_onnx(est, tmp_path / "model.onnx", split=True)
        return
    branch_path, trunk_path, bias = to_onnx(est, tmp_path / "model.onnx", split=True)
    assert branch_path == str(tmp_path / "model_branch.onnx")
    assert trunk_path == str(tmp_path / "model_trunk.onnx")
    assert bias.shape == (est.n_outputs_,)
    branch = ort.InferenceSession(branch_path, providers=["CPUExecutionProvider"])
    trunk = ort.InferenceSession(trunk_path, providers=["CPUExecutionProvider"])
    k, p = est.n_outputs_, est.n_basis
    for n, m in [(7, 5), (3, 11)]:
        second, value, coords = _points(est, m, rng)
        coef = branch.run(None, {"U": U[:n].astype(np.float32)})[0]
        basis = trunk.run(None, {second: value})[0]
        assert coef.shape == (n, k * p) and basis.shape == (m, k * p)
        if k == 1:
            got = coef @ basis.T + bias
        else:
            got = np.einsum("nkp,mkp->nkm", coef.reshape(n, k, p),
                            basis.reshape(m, k, p)).reshape(n, k * m) + np.repeat(bias, m)
        assert _relative_error(got, est.predict(U[:n], coords=coords)) <= 1e-5


@pytest.mark.parametrize("grid, modes", [((13,), 4), ((9, 6), 3), ((5, 4, 6), 2)])
def test_exported_fourier_layers_are_the_fft_ones(grid, modes):
    from skoperator._network import LAYOUTS, Scaling, build_network

    gen = torch.Generator().manual_seed(0)
    n_in = int(np.prod(grid))
    net = build_network(
        branch=FNOBranch(grid=grid, modes=modes, width=3, n_layers=2, head_layers=(5,),
                         padding=0.3),
        trunk=ResNetTrunk(layers=(6, 6)), n_sensors=n_in, n_outputs=1, n_basis=4,
        layout=LAYOUTS["split_branch"], scaling=Scaling.identity(n_in, 1, 1), generator=gen,
        coords=torch.rand(7, 1), targets=None, input_shape=None, output_transform=None)
    net = net.double()
    u, y = torch.randn(3, n_in, dtype=torch.float64), torch.rand(7, 1, dtype=torch.float64)
    with torch.no_grad():
        ref, got = net(u, y), _exportable(net, torch.float64)(u, y)
    assert float((ref - got).abs().max() / ref.abs().max()) < 1e-12


def test_to_onnx_explains_a_failed_export(line, tmp_path, monkeypatch):
    import skoperator._onnx as skio

    _onnxruntime()

    def branching(y, out):  # a Python condition on values: frozen by tracing
        return out if float(out.max()) > 0 else -out

    est = _fit(line, _line_models()["mlp"], output_transform=branching)
    original = skio._torch_export

    def no_dynamo(*args):
        if args[-1]:
            raise RuntimeError("dynamo exporter unavailable in this test")
        return original(*args)

    monkeypatch.setattr(skio, "_torch_export", no_dynamo)
    with pytest.raises(RuntimeError, match="could not export .*TracerWarning.*output_transform"):
        to_onnx(est, tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


def test_to_onnx_checks_its_arguments_and_a_failed_export_writes_nothing(line, tmp_path):
    pytest.importorskip("onnx")
    est = _fit(line, _line_models()["mlp"])
    good = to_onnx(est, tmp_path / "good.onnx")
    before = open(good, "rb").read()
    for opset in (True, 17.0, "17", 5):
        with pytest.raises(ValueError, match="opset must be None or an int >= 7"):
            to_onnx(est, good, opset=opset)
    with pytest.raises(RuntimeError, match="not 100"):
        to_onnx(est, good, opset=100)
    assert open(good, "rb").read() == before  # a failed export leaves the file as it was
    with pytest.raises(ValueError, match="is a directory; pass a file name"):
        to_onnx(est, tmp_path)
    with pytest.raises(ValueError, match="does not exist; create it first"):
        to_onnx(est, tmp_path / "missing" / "m.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.onnx"]


def test_to_onnx_needs_a_fitted_model(tmp_path):
    from sklearn.exceptions import NotFittedError

    pytest.importorskip("onnx")
    with pytest.raises(NotFittedError):
        to_onnx(DeepONetRegressor(), tmp_path / "model.onnx")


def test_io_imports_onnx_inside_its_functions_only():
    import skoperator._codec as codec
    import skoperator._onnx as onnx_module
    import skoperator.io as skio

    top = set()
    for module in (skio, onnx_module, codec):
        with open(module.__file__) as f:
            tree = ast.parse(f.read())
        top |= _top_level_imports(tree)
    assert not top & {"onnx", "onnxruntime", "onnxscript", "safetensors", "skops"}


def _top_level_imports(tree):
    top = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            top.add(node.module.split(".")[0])
    return top


def test_to_onnx_names_what_it_exports(tmp_path):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from skoperator.io import to_onnx

    with pytest.raises(TypeError, match="to_onnx exports a fitted DeepONetRegressor; got Pipe"):
        to_onnx(make_pipeline(FunctionTransformer(), DeepONetRegressor()), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


# ------------------------------------------------------- points per function
@pytest.fixture(scope="module")
def scattered():
    """40 functions, each observed at its own 9 to 12 points (NaN-padded to 12)."""
    rng = np.random.default_rng(0)
    U = rng.standard_normal((40, 8))
    P = rng.random((40, 12, 1))
    G = U[:, :1] * np.sin(3 * P[..., 0]) + U[:, 1:2] * P[..., 0]
    for i, n in enumerate(rng.integers(9, 13, 40)):
        P[i, n:] = np.nan
        G[i, n:] = np.nan
    return U, P, G


def _fit_scattered(scattered, **extra):
    U, P, G = scattered
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return DeepONetRegressor(**{**FAST, "branch": MLPBranch(layers=(8,)),
                                    "trunk": MLPTrunk(layers=(8,)), **extra}).fit(U, G, coords=P)


@pytest.mark.parametrize("extra", [{}, {"n_outputs": 1, "early_stopping": True,
                                        "validation_fraction": 0.2}])
def test_round_trip_of_a_model_fitted_on_points_per_function(scattered, tmp_path, extra):
    U, P, G = scattered
    est = _fit_scattered(scattered, **extra)
    assert est.coords_ is None
    loaded = load(dump(est, tmp_path / "model.skop"))
    assert loaded.coords_ is None
    np.testing.assert_array_equal(loaded.predict(U, coords=P), est.predict(U, coords=P))
    Y = np.linspace(0, 1, 7)[:, None]
    np.testing.assert_array_equal(loaded.predict(U, coords=Y), est.predict(U, coords=Y))
    assert_same_model_state(est, loaded)
    # and it continues training as the original does
    a = est.set_params(warm_start=True, max_iter=1).fit(U, G, coords=P)
    b = loaded.set_params(warm_start=True, max_iter=1).fit(U, G, coords=P)
    np.testing.assert_array_equal(a.predict(U, coords=P), b.predict(U, coords=P))


def assert_same_model_state(original, loaded):
    for name in ("history_", "n_iter_", "n_eval_", "input_sizes_", "stopping_reason_"):
        # repr: a NaN validation score equals itself
        assert repr(getattr(original, name)) == repr(getattr(loaded, name)), name
    assert repr(original._stopping) == repr(loaded._stopping)


def test_onnx_export_of_a_model_fitted_on_points_per_function(scattered, tmp_path):
    ort = _onnxruntime()
    U, P, G = scattered
    est = _fit_scattered(scattered)
    Y = np.random.default_rng(1).random((6, 1))
    path = to_onnx(est, tmp_path / "model.onnx")
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = session.run(None, {"U": U[:5].astype(np.float32), "coords": Y.astype(np.float32)})[0]
    assert _relative_error(got, est.predict(U[:5], coords=Y)) <= 1e-5
    branch_path, trunk_path, bias = to_onnx(est, tmp_path / "model.onnx", split=True)
    coef = ort.InferenceSession(branch_path).run(None, {"U": U[:5].astype(np.float32)})[0]
    basis = ort.InferenceSession(trunk_path).run(None, {"coords": Y.astype(np.float32)})[0]
    assert _relative_error(coef @ basis.T + bias, est.predict(U[:5], coords=Y)) <= 1e-5


# ------------------------------------------------------------ damaged files
def _replace_member(path, name, data):
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    members[name] = data
    with zipfile.ZipFile(path, "w") as archive:
        for n, d in members.items():
            archive.writestr(n, d)


def _set(document, keys, value):
    node = document
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return document


def _drop(document, keys):
    node = document
    for key in keys[:-1]:
        node = node[key]
    del node[keys[-1]]
    return document


def _swap_tensor_shape(path):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    with zipfile.ZipFile(path) as archive:
        tensors = safetensors_torch.load(archive.read("weights.safetensors"))
    name = next(k for k in tensors if k.startswith("network.") and k.endswith("weight"))
    tensors[name] = torch.zeros(tuple(s + 1 for s in tensors[name].shape))
    _replace_member(path, "weights.safetensors", safetensors_torch.save(tensors))


_TAMPERINGS = {
    "not JSON": lambda p: _replace_member(p, "model.json", b"{this is not json"),
    "not UTF-8": lambda p: _replace_member(p, "model.json", b"\xff\xfe\x00"),
    "params a list": lambda p: _rewrite(p, lambda d: _set(d, ["params"], [1, 2])),
    "fitted a string": lambda p: _rewrite(p, lambda d: _set(d, ["fitted"], "yes")),
    "attributes a list": lambda p: _rewrite(p, lambda d: _set(d, ["fitted", "attributes"], [])),
    "n_features_in_ a string": lambda p: _rewrite(
        p, lambda d: _set(d, ["fitted", "attributes", "n_features_in_"], "16")),
    "history_ a number": lambda p: _rewrite(
        p, lambda d: _set(d, ["fitted", "attributes", "history_"], 3)),
    "history record a string": lambda p: _rewrite(
        p, lambda d: _set(d, ["fitted", "attributes", "history_"], ["epoch"])),
    "input_sizes_ wrong": lambda p: _rewrite(
        p, lambda d: _set(d, ["fitted", "attributes", "input_sizes_"], {"__tuple__": [3]})),
    "coords_ a string": lambda p: _rewrite(
        p, lambda d: _set(d, ["fitted", "attributes", "coords_"], "grid")),
    "missing coords_": lambda p: _rewrite(
        p, lambda d: _drop(d, ["fitted", "attributes", "coords_"])),
    "missing architecture": lambda p: _rewrite(p, lambda d: _drop(d, ["fitted", "architecture"])),
    "network names a dict": lambda p: _rewrite(p, lambda d: _set(d, ["fitted", "network"], {})),
    "architecture n_basis a string": lambda p: _rewrite(
        p, lambda d: _set(d, ["fitted", "architecture", "n_basis"], "six")),
    "optimizer state a string": lambda p: _rewrite(
        p, lambda d: _set(d, ["fitted", "optimizer", "state"], "adam")),
    "a tuple tag holding a number": lambda p: _rewrite(
        p, lambda d: _set(d, ["fitted", "attributes", "input_sizes_"], {"__tuple__": 16})),
    "an array of an unknown dtype": lambda p: _rewrite(
        p, lambda d: _set(d, ["fitted", "attributes", "coords_", "dtype"], "<nonsense")),
    "a tensor of the wrong shape": _swap_tensor_shape,
    "missing params": lambda p: _rewrite(p, lambda d: _drop(d, ["params"])),
    "missing fitted": lambda p: _rewrite(p, lambda d: _drop(d, ["fitted"])),
    "feature_names_in_ a number": lambda p: _rewrite(
        p, lambda d: _set(d, ["fitted", "attributes", "feature_names_in_"], 3)),
    "n_eval_ negative": lambda p: _rewrite(
        p, lambda d: _set(d, ["fitted", "attributes", "n_eval_"], -1)),
    "Adam state without exp_avg": lambda p: _rewrite(
        p, lambda d: _drop(d, ["fitted", "optimizer", "state", 0, 1, "exp_avg"])),
    "sampler_ a loss": lambda p: _rewrite(p, lambda d: _set(
        d, ["fitted", "components", "sampler_"],
        {"__component__": "skoperator.losses.MSELoss", "params": {}})),
}


@pytest.mark.parametrize("tampering", list(_TAMPERINGS))
def test_a_tampered_file_gives_a_value_error_naming_the_file(line, tmp_path, tampering):
    est = _fit(line, _line_models()["mlp"])
    path = dump(est, tmp_path / "model.skop")
    _TAMPERINGS[tampering](path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=str(tmp_path / "model.skop")) as info:
            load(path)
    assert type(info.value) is ValueError


def test_the_export_traces_the_real_layers():
    from skoperator._fno import FNO, SpectralConv
    from skoperator._layers import ResidualMLP
    from skoperator._network import LAYOUTS, Scaling, build_network

    net = build_network(
        branch=FNOBranch(grid=(8,), modes=3, width=3, n_layers=1, head_layers=(5,)),
        trunk=ResNetTrunk(layers=(6, 6)), n_sensors=8, n_outputs=1, n_basis=4,
        layout=LAYOUTS["split_branch"], scaling=Scaling.identity(8, 1, 1),
        generator=torch.Generator().manual_seed(0), coords=torch.rand(5, 1), targets=None,
        input_shape=None, output_transform=None)
    exported = _exportable(net)
    kinds = {type(m) for m in exported.modules()}
    assert {FNO, SpectralConv, ResidualMLP} <= kinds  # no mirror copies
    assert all(s.dft_grid is not None for s in exported.modules() if type(s) is SpectralConv)
    assert all(getattr(s, "dft_grid", None) is None for s in net.modules())  # a copy


def test_load_stores_the_model_through_the_estimators_fitted_state_api(line, tmp_path,
                                                                       monkeypatch):
    est = _fit(line, _line_models()["mlp"])
    path = dump(est, tmp_path / "model.skop")
    calls = []
    original = DeepONetRegressor._set_fitted

    def recording(self, state):
        calls.append(state)
        return original(self, state)

    monkeypatch.setattr(DeepONetRegressor, "_set_fitted", recording)
    loaded = load(path)
    assert len(calls) == 1 and calls[0].network is loaded.network_


def test_dump_refuses_an_object_without_the_fitted_state_api(tmp_path):
    from sklearn.linear_model import Ridge

    with pytest.raises(TypeError, match="fitted-state API.*got Ridge"):
        dump(Ridge(), tmp_path / "m.skop")
    assert not (tmp_path / "m.skop").exists()


# ---------------------------------------------------------------- review fixes (0.4.0)
def _fitted_small(Y, U, G, **params):
    return DeepONetRegressor(coords=Y, max_iter=2, tol=None, n_basis=6, batch_size=16,
                             device="cpu", random_state=0, branch=MLPBranch(layers=(8,)),
                             trunk=MLPTrunk(layers=(8,)), **params).fit(U, G)


def _edit(path, change):
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    document = json.loads(members["model.json"])
    change(document)
    members["model.json"] = json.dumps(document).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_load_refuses_optimizer_groups_that_pair_moments_with_other_parameters(line,
                                                                                tmp_path):
    # swapped indices made torch's fused Adam write out of bounds on the next fit
    U, Y, G = line
    path = dump(_fitted_small(Y, U, G), tmp_path / "m.skop")

    def swap(document):
        document["fitted"]["optimizer"]["param_groups"][0]["params"][:2] = [1, 0]

    _edit(path, swap)
    with pytest.raises(ValueError, match="expected each of the network's .* once, in order"):
        load(path)


def test_dump_names_the_fitted_output_transform_not_a_later_parameter(line, tmp_path):
    U, Y, G = line
    est = _fitted_small(Y, U, G, output_transform=vanish_at_zero)
    est.set_params(output_transform=None)
    path = dump(est, tmp_path / "m.skop")
    with pytest.raises(ValueError, match="fitted with output_transform=.*vanish_at_zero"):
        load(path)
    np.testing.assert_array_equal(load(path, output_transform=vanish_at_zero).predict(U),
                                  est.predict(U))

    def other(y, out):
        return out

    with pytest.warns(UserWarning, match="it is loaded with .*other"):
        load(path, output_transform=other)


def test_to_onnx_checks_the_graph_at_the_training_grid_size(line, tmp_path):
    pytest.importorskip("onnxscript")
    _onnxruntime()
    U, Y, G = line  # 16 points

    def by_size(y, out):  # a graph traced at 4 points takes the other branch at 16
        return out * 2 if y.shape[-2] > 10 else out

    est = _fitted_small(Y, U, G, output_transform=by_size)
    with pytest.raises(RuntimeError, match="does not reproduce"):
        to_onnx(est, tmp_path / "m.onnx")


def test_load_names_a_damaged_model_json_and_a_bad_path(line, tmp_path):
    U, Y, G = line
    path = dump(_fitted_small(Y, U, G), tmp_path / "m.skop")
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model.json", b"[" * 100000 + b"]" * 100000)
        archive.writestr("weights.safetensors", members["weights.safetensors"])
    with pytest.raises(ValueError, match="is damaged: its model.json cannot be read"):
        load(path)
    with pytest.raises(TypeError, match="path must be a str or path-like"):
        load(123)
    with pytest.raises(TypeError, match=r"trusted_types must be a list of classes; got the "
                                        r"class WideMLPBranch: pass \[WideMLPBranch\]"):
        load(path, trusted_types=WideMLPBranch)


def test_dump_saves_arrays_of_the_other_byte_order(line, tmp_path):
    U, Y, G = line
    est = _fitted_small(Y.astype(">f8"), U, G)
    loaded = load(dump(est, tmp_path / "m.skop"))
    assert loaded.coords.dtype == np.dtype(">f8")
    np.testing.assert_array_equal(loaded.predict(U), est.predict(U))


def test_dump_names_a_directory_a_missing_folder_and_a_frame_parameter(line, tmp_path):
    import pandas as pd
    U, Y, G = line
    est = _fitted_small(Y, U, G)
    with pytest.raises(ValueError, match="is a directory; pass the name of the file"):
        dump(est, tmp_path)
    with pytest.raises(ValueError, match="its folder .* does not exist"):
        dump(est, tmp_path / "nope" / "m.skop")
    with pytest.raises(TypeError, match="path must be a str or path-like"):
        dump(est, 123)
    framed = _fitted_small(pd.DataFrame(Y, columns=["y"]), U, G)
    with pytest.raises(TypeError, match=r"set the parameter to value.to_numpy\(\) before dump"):
        dump(framed, tmp_path / "m.skop")
    assert list(tmp_path.iterdir()) == []  # no file, no temporary left


def test_missing_safetensors_names_the_extra_not_a_damaged_file(line, tmp_path, monkeypatch):
    # load called a good file "damaged", and a resumed fit told the user to delete a
    # good checkpoint, when only the safetensors package was missing.
    import sys

    from skoperator import _checkpoint
    from skoperator.callbacks import Checkpoint

    U, Y, G = line
    path = dump(_fitted_small(Y, U, G), tmp_path / "m.skop")
    _fitted_small(Y, U, G, callbacks=[Checkpoint(tmp_path / "ckpt")])
    saved = _checkpoint.checkpoints(tmp_path / "ckpt")[-1]
    for name in [m for m in sys.modules if m.split(".")[0] == "safetensors"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    with pytest.raises(ImportError, match=r"pip install 'skoperator\[io\]'"):
        load(path)
    with pytest.raises(ImportError, match=r"pip install 'skoperator\[io\]'"):
        _checkpoint.read(saved)
    assert saved.exists()


def test_a_name_near_the_file_system_limit_is_written(line, tmp_path):
    # The temporary files added about 40 characters to the name: a legal name of
    # 230 characters failed with "File name too long" on a file the user never named.
    U, Y, G = line
    est = _fitted_small(Y, U, G)
    skop = tmp_path / ("m" * 230 + ".skop")
    np.testing.assert_array_equal(load(dump(est, skop)).predict(U), est.predict(U))
    pytest.importorskip("onnx")
    onnx_path = to_onnx(est, tmp_path / ("m" * 230 + ".onnx"))
    assert os.path.exists(onnx_path)
    assert sorted(p.name[:3] for p in tmp_path.iterdir()) == ["mmm"] * 2  # no temporary left


def test_onnx_export_warns_for_coordinates_far_from_zero(line, tmp_path):
    # The graph rounds coordinates in float32 before their mean is taken off: its
    # error against predict was 1e-2 at an offset of 3e5, where the docs said 1e-6.
    ort = pytest.importorskip("onnxruntime")
    U, Y, G = line
    errors = {}
    for offset in (0.0, 1e3, 3e5):
        est = _fitted_small(Y + offset, U, G)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            path = to_onnx(est, tmp_path / f"m{offset:g}.onnx")
        far = [w for w in caught if "far from zero" in str(w.message)]
        assert bool(far) == (offset > 0), offset
        out = ort.InferenceSession(path).run(None, {"U": U.astype(np.float32),
                                                    "coords": (Y + offset).astype(np.float32)})
        errors[offset] = np.linalg.norm(out[0] - est.predict(U)) / np.linalg.norm(est.predict(U))
    assert errors[0.0] < 1e-6 < errors[1e3] < 1e-4 < 1e-3 < errors[3e5]


def test_a_file_that_sets_callbacks_says_so_at_load(line, tmp_path):
    # A shared file could name a path that the recipient's next fit truncates
    # (CSVLogger opens it with "w"), with no word at load.
    from skoperator.callbacks import CSVLogger

    U, Y, G = line
    victim = tmp_path / "victim.txt"
    est = _fitted_small(Y, U, G).set_params(callbacks=[CSVLogger(victim)])
    path = dump(est, tmp_path / "shared.skop")
    with pytest.warns(UserWarning, match=r"sets callbacks=\[CSVLogger.*victim.*set_params\("
                                         r"callbacks=None\)"):
        loaded = load(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load(dump(_fitted_small(Y, U, G), tmp_path / "plain.skop"))  # no callbacks: no word
    assert len(loaded.callbacks) == 1 and not victim.exists()


def test_complex_weights_save_with_their_optimizer_state(line, tmp_path):
    # Adam's moments of a complex parameter are complex: dump refused them (as "the
    # parameter optimizer.state...") while checkpoints saved them as real views.
    U, Y, G = line
    est = DeepONetRegressor(coords=Y, branch=ComplexBranch(), trunk=MLPTrunk(layers=(8,)),
                            n_basis=6, max_iter=2, tol=None, device="cpu",
                            random_state=0).fit(U, G)
    loaded = load(dump(est, tmp_path / "m.skop", trusted_types=[ComplexBranch]),
                  trusted_types=[ComplexBranch])
    np.testing.assert_array_equal(loaded.predict(U), est.predict(U))
    more = dict(warm_start=True, max_iter=3)
    np.testing.assert_array_equal(loaded.set_params(**more).fit(U, G).predict(U),
                                  copy.deepcopy(est).set_params(**more).fit(U, G).predict(U))
