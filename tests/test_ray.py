"""Grid search on a local Ray cluster through joblib's Ray backend, as the docs claim."""

import os

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_cluster():
    from ray.util.joblib import register_ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR", configure_logging=False,
             runtime_env={"env_vars": {"PYTHONWARNINGS": "ignore"}})
    register_ray()
    yield
    ray.shutdown()



def test_grid_search_on_ray_matches_local_run(ray_cluster, small_search_problem):
    U, G, est = small_search_problem
    grid = {"n_eval": [2, 10], "sampling": ["random", "shared"]}
    local = GridSearchCV(est, grid, cv=3).fit(U, G)
    with joblib.parallel_config(backend="ray"):
        remote = GridSearchCV(est, grid, cv=3, n_jobs=2).fit(U, G)
    np.testing.assert_allclose(remote.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"], rtol=1e-10)
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(remote.best_estimator_.predict(U),
                                  local.best_estimator_.predict(U))


def test_ray_workers_give_torch_their_thread_budget(ray_cluster):
    @ray.remote(num_cpus=1)
    def budget():
        from skoperator._parallel import thread_budget

        return os.environ.get("OMP_NUM_THREADS"), thread_budget()

    omp, budget_seen = ray.get(budget.remote())
    assert omp == "1" and budget_seen == 1
