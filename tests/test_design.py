"""The registries drive every list of choices; custom samplers; failed fits change nothing."""

import copy
import pickle
import re

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.utils._param_validation import StrOptions

from skoperator import DeepONetRegressor
from skoperator._layers import ACTIVATIONS
from skoperator._network import LAYOUTS
from skoperator.datasets import make_antiderivative
from skoperator.losses import LOSSES
from skoperator.networks import (
    BRANCHES,
    TRUNKS,
    CNNBranch,
    FNOBranch,
    MLPBranch,
    MLPTrunk,
    MultiBranch,
    PODTrunk,
    ResNetTrunk,
)
from skoperator.reproduce import BENCHMARKS
from skoperator.sampling import SAMPLERS, BaseSampler
from skoperator.schedules import SCHEDULES

REGISTRIES = {
    "sampling": SAMPLERS,
    "branch": BRANCHES,
    "trunk": TRUNKS,
    "multi_output_strategy": LAYOUTS,
    "loss": LOSSES,
    "learning_rate": SCHEDULES,
}
#: components with an ``activation`` setting: its choices come from ACTIVATIONS
ACTIVATION_COMPONENTS = [MLPBranch, CNNBranch, FNOBranch, MLPTrunk, ResNetTrunk, PODTrunk]
FAST = dict(branch=MLPBranch(layers=(16,)), trunk=MLPTrunk(layers=(16,)), n_basis=8,
            max_iter=3, tol=None, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def data():
    return make_antiderivative(40, n_points=20, random_state=0)


@pytest.mark.parametrize("param, registry", REGISTRIES.items())
def test_constraints_come_from_the_registry(param, registry):
    options = [c for c in DeepONetRegressor._parameter_constraints[param]
               if isinstance(c, StrOptions)]
    assert len(options) == 1 and options[0].options == set(registry)


@pytest.mark.parametrize("param, registry", REGISTRIES.items())
def test_docstring_lists_exactly_the_registry_keys(param, registry):
    doc = DeepONetRegressor.__doc__
    line = re.search(rf"^    {param} : \{{([^}}]*)\}}", doc, flags=re.M)
    assert line, f"the docstring of {param} does not list its choices in braces"
    listed = {s.strip().strip('"') for s in line.group(1).split(",")}
    assert listed == set(registry)


@pytest.mark.parametrize("component", ACTIVATION_COMPONENTS, ids=lambda c: c.__name__)
def test_activation_constraints_come_from_the_registry(component):
    options = [c for c in component._parameter_constraints["activation"]
               if isinstance(c, StrOptions)]
    assert len(options) == 1 and options[0].options == set(ACTIVATIONS)


def test_activation_docstring_lists_exactly_the_registry_keys():
    line = re.search(r"^    activation : \{([^}]*)\}", MLPBranch.__doc__, flags=re.M)
    assert line, "the docstring of activation does not list its choices in braces"
    listed = {s.strip().strip('"') for s in line.group(1).split(",")}
    assert listed == set(ACTIVATIONS)


def test_cli_choices_come_from_the_registries():
    from skoperator import reproduce

    parser_choices = {}
    original = reproduce.argparse.ArgumentParser.parse_args

    def capture(self, argv=None, namespace=None):
        for action in self._actions:
            if action.choices is not None:
                parser_choices[action.dest] = list(action.choices)
        raise SystemExit(0)

    reproduce.argparse.ArgumentParser.parse_args = capture
    try:
        with pytest.raises(SystemExit):
            reproduce.main(["heat"])
    finally:
        reproduce.argparse.ArgumentParser.parse_args = original
    assert parser_choices["benchmark"] == list(BENCHMARKS)
    assert set(parser_choices["sampling"]) == set(SAMPLERS) - {"full"}


# ------------------------------------------------------------- custom sampler
class WithEndpoints(BaseSampler):
    """``n_eval`` random points per function (with replacement) plus fixed columns."""

    def __init__(self, always=(0,)):
        self.always = always

    def sample(self, rows, generator):
        n, device = rows.numel(), self.context.device
        cols = torch.randint(self.context.n_points, (n, self.n_eval_), generator=generator,
                             device=device)
        fixed = torch.as_tensor(self.always, device=device).expand(n, -1)
        return torch.cat([fixed, cols], dim=1), None


class Recording(BaseSampler):
    """Counts its draws: to check that the estimator trains a copy."""

    def __init__(self):
        self.calls = 0

    def sample(self, rows, generator):
        self.calls += 1
        return None, None


def test_user_sampler_fits_searches_and_pickles(data):
    U, Y, G = data
    sampler = WithEndpoints(always=(0, 19))
    est = DeepONetRegressor(coords=Y, sampling=sampler, n_eval=4, **FAST).fit(U, G)
    assert est.history_[0]["n_eval"] == 4
    # 2 fixed + 4 random columns per function and step, on the grid path
    assert np.all(np.isfinite(est.predict(U)))
    assert sampler.always == (0, 19) and not hasattr(sampler, "context")  # untouched
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict(U), est.predict(U))
    search = GridSearchCV(DeepONetRegressor(coords=Y, sampling=sampler, **FAST),
                          {"n_eval": [1, 5]}, cv=2).fit(U, G)
    assert search.best_params_["n_eval"] in (1, 5)
    assert isinstance(search.best_estimator_.sampling, WithEndpoints)
    assert clone(est).sampling is not sampler


def test_user_sampler_is_copied_not_trained_in_place(data):
    U, Y, G = data
    sampler = Recording()
    DeepONetRegressor(coords=Y, sampling=sampler, **FAST).fit(U, G)
    assert sampler.calls == 0


def test_object_without_the_protocol_is_a_clear_error(data):
    U, Y, G = data
    with pytest.raises(ValueError, match="'sampling' parameter.*setup.*start_epoch.*sample"):
        DeepONetRegressor(coords=Y, sampling=object(), **FAST).fit(U, G)


def test_registered_sampler_objects_take_settings(data):
    from skoperator.sampling import AdaptiveSampler

    U, Y, G = data
    est = DeepONetRegressor(coords=Y, sampling=AdaptiveSampler(refresh=1, floor=0.5),
                            n_eval=5, **FAST).fit(U, G)
    assert est.n_iter_ == 3


# ------------------------------------------------- failed fits change nothing
def _raising_factory(n_in, n_out):
    raise RuntimeError("no such layer")


def _error_cases(U, Y, G):
    """(name, params, X, y, message): errors a fit raises before its first epoch."""
    return [
        ("early stopping, one validation function", {"early_stopping": True,
                                                     "validation_fraction": 0.03},
         U, G, "needs at least 2"),
        ("cnn grid too small", {"branch": CNNBranch(grid=(4, 5), filters=(4, 4, 4))}, U, G,
         "too small for 3 pooling"),
        ("branch factory raises", {"branch": _raising_factory}, U, G,
         "branch factory raised RuntimeError: no such layer"),
        ("trunk factory returns no module", {"trunk": lambda d, p: 3}, U, G,
         "must return a torch.nn.Module"),
        ("unknown device", {"device": "mps"}, U, G, "device='mps'"),
        ("cuda index", {"device": "cuda:7"}, U, G, "cuda"),
        ("n_eval schedule too large", {"n_eval": lambda epoch: 5 + 10 * epoch}, U, G,
         r"n_eval\(2\)=25 is larger than n_points=20"),
        ("n_eval schedule raises", {"n_eval": lambda epoch: 1 / 0}, U, G,
         "schedule raised at epoch 0"),
        ("input sizes do not sum", {"branch": MultiBranch([MLPBranch(n_sensors=10),
                                                            MLPBranch(n_sensors=5)])},
         U, G, r"MultiBranch reads \[10, 5\] columns"),
        ("input sizes unset", {"branch": ["mlp", "mlp"]}, U, G,
         "do not say how many columns of U they read"),
        ("pod with too many modes", {"trunk": "pod", "n_basis": 25}, U, G,
         "n_basis <= the number of POD modes.*= 20"),
        ("n_outputs does not divide G", {"n_outputs": 3}, U, G, "not a multiple of n_outputs=3"),
        ("empty coords", {"coords": np.empty((0, 1))}, U, G, "coords is empty"),
        ("adaptive floor", {"sampling": _adaptive(floor=0.0)}, U, G, "floor=0.0"),
    ]


def _adaptive(**kw):
    from skoperator.sampling import AdaptiveSampler

    return AdaptiveSampler(**kw)


_DATA = make_antiderivative(40, n_points=20, random_state=0)
_CASES = _error_cases(*_DATA)
#: cases whose settings are checked against the data (the columns of U and G)
#: before a warm start compares them with the fitted ones
_DATA_CHECKED_FIRST = {"input sizes do not sum", "input sizes unset",
                       "n_outputs does not divide G"}


@pytest.fixture(scope="module")
def fitted(data):
    U, Y, G = data
    return DeepONetRegressor(coords=Y, **FAST).fit(U, G)


@pytest.mark.parametrize("name, params, X, y, match", _CASES, ids=[c[0] for c in _CASES])
@pytest.mark.parametrize("warm_start", [False, True])
def test_failed_fit_leaves_a_fitted_model_unchanged(fitted, data, name, params, X, y, match,
                                                    warm_start):
    U = data[0]
    est = copy.deepcopy(fitted).set_params(warm_start=warm_start)
    before = est.predict(U)
    state = {k: copy.deepcopy(v) for k, v in vars(est).items() if k.endswith("_")
             and k != "network_"}
    weights = {k: v.clone() for k, v in est.network_.state_dict().items()}
    est.set_params(**params)
    architecture = {"branch", "trunk", "n_basis", "n_outputs"}
    if warm_start and set(params) & architecture and name not in _DATA_CHECKED_FIRST:
        match = "changed since the model was fitted, but warm_start=True keeps"
    with pytest.raises((ValueError, TypeError), match=match):
        est.fit(X, y)
    est.set_params(**{k: fitted.get_params()[k] for k in params})
    np.testing.assert_array_equal(est.predict(U), before)
    for k, v in state.items():
        assert k in vars(est)
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(getattr(est, k), v)
        elif hasattr(v, "get_params"):  # the fit's components (sampler_, loss_, physics_)
            assert repr(getattr(est, k)) == repr(v), k
        elif not isinstance(v, (torch.device,)):
            assert getattr(est, k) == v, k
    for k, v in est.network_.state_dict().items():
        assert torch.equal(v, weights[k]), k


class _ThreadRecorder(torch.nn.Module):
    """A user's branch module that records torch's threads at every call."""

    seen = []

    def __init__(self, n_in=20, n_out=8):
        super().__init__()
        self.linear = torch.nn.Linear(n_in, n_out)

    def forward(self, u):
        _ThreadRecorder.seen.append(torch.get_num_threads())
        return self.linear(u)


@pytest.mark.parametrize("n_jobs", [1, 3])
def test_n_jobs_threads_cover_the_first_use_check(data, n_jobs):
    """Contract: n_jobs is the threads torch uses during fit, the plan's checks included."""
    U, Y, G = data
    before = torch.get_num_threads()
    _ThreadRecorder.seen = []
    est = DeepONetRegressor(coords=Y, **{**FAST, "branch": _ThreadRecorder(U.shape[1], 8),
                                         "max_iter": 1}, n_jobs=n_jobs)
    est.fit(U, G)
    first_use = _ThreadRecorder.seen[0]  # the shape check of the module, before training
    assert first_use == n_jobs and set(_ThreadRecorder.seen) == {n_jobs}
    assert torch.get_num_threads() == before
