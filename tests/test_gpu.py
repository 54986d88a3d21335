"""GPU paths: CUDA training, CUDA graphs through compile, no host sync per step, bfloat16.

Marked ``gpu`` and skipped on machines without CUDA (the project's CI has none;
``benchmarks/gpu_all.py`` measures the same paths on a GPU).
"""

import pickle
import warnings

import numpy as np
import pytest
import torch

from skoperator import DeepONetRegressor
from skoperator.datasets import make_antiderivative, make_heat_conduction
from skoperator.metrics import mean_function_r2

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


@pytest.fixture(scope="module")
def data():
    return make_antiderivative(700, random_state=0)


@pytest.mark.parametrize("compile_mode", [False, "reduce-overhead"])
def test_cuda_fit_is_accurate_and_pickles_to_cpu(data, compile_mode):
    U, Y, G = data
    est = DeepONetRegressor(coords=Y, n_eval=10, max_iter=100, learning_rate="onecycle",
                            learning_rate_init=5e-3, tol=None, device="cuda",
                            compile=compile_mode, random_state=0).fit(U[:500], G[:500])
    assert est.device_.type == "cuda"
    assert mean_function_r2(G[500:], est.predict(U[500:])) >= 0.95
    cpu = pickle.loads(pickle.dumps(est))
    assert next(cpu.network_.parameters()).device.type == "cpu"


@pytest.mark.parametrize("compile_mode", [False, "reduce-overhead"])
def test_no_host_synchronisation_inside_an_epoch(data, compile_mode):
    U, Y, G = data
    counts = {}
    for epochs in (2, 5):
        est = DeepONetRegressor(coords=Y, n_eval=10, batch_size=100, max_iter=epochs, tol=None,
                                device="cuda", compile=compile_mode, random_state=0)
        est.fit(U[:500], G[:500])  # warm-up (compilation, CUDA graph capture)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                est.fit(U[:500], G[:500])
            finally:
                torch.cuda.set_sync_debug_mode(0)
        counts[epochs] = sum("synchroniz" in str(w.message) for w in caught)
    # 3 more epochs of 5 steps each: at most the one read of the epoch loss per epoch
    assert counts[5] - counts[2] <= 3, counts


def test_heat_recipe_with_bfloat16_on_cuda():
    from skoperator.reproduce import make_estimator

    U, _, G = make_heat_conduction(200, random_state=0)
    model = make_estimator("heat", n_eval=16, device="cuda", max_iter=5, mixed_precision=True,
                           symmetries=False,
                           n_basis=100, random_state=0).fit(U, G)
    assert np.all(np.isfinite(model.predict(U[:10])))


def test_targets_within_the_budget_are_copied_to_the_device_and_others_stay_on_the_host(
        data, monkeypatch):
    from skoperator import _device

    budget = _device.resident_budget(torch.device("cuda"))
    free, _ = torch.cuda.mem_get_info()
    assert 0 < budget <= free
    U, Y, G = data
    params = dict(coords=Y, n_eval=10, max_iter=2, tol=None, device="cuda", random_state=0)
    resident = DeepONetRegressor(**params).fit(U[:500], G[:500])
    monkeypatch.setattr(_device, "resident_budget", lambda device: 1000)
    with pytest.warns(UserWarning, match="stay in host memory"):
        host = DeepONetRegressor(**params).fit(U[:500], G[:500])
    np.testing.assert_allclose(host.predict(U[500:]), resident.predict(U[500:]), rtol=1e-4,
                               atol=1e-5)
