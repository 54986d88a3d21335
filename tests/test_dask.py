"""Grid search on a real Dask cluster, and torch's thread budget in workers."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, cross_val_score

from skoperator._parallel import thread_budget


def _budget_in_worker():
    """Run in a worker: the thread budget torch gets there."""
    return thread_budget()


# ------------------------------------------------------------ plain process
def test_thread_budget_is_none_in_plain_process(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert thread_budget() is None


@pytest.mark.parametrize("value, expected", [("1", 1), (" 2 ", 2), ("0", None),
                                             ("x", None), ("", None)])
def test_thread_budget_reads_omp_num_threads(monkeypatch, value, expected):
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert thread_budget() == expected


def test_thread_budget_prefers_dask_worker_nthreads(monkeypatch):
    distributed = pytest.importorskip("distributed")

    class FakeWorker:
        class state:  # noqa: N801 - mimics Worker.state
            nthreads = 3

    monkeypatch.setattr(distributed, "get_worker", lambda: FakeWorker())
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert thread_budget() == 3


# ------------------------------------------------------------- real cluster
@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("dask.distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def test_dask_worker_thread_budget(dask_client):
    results = [dask_client.submit(_budget_in_worker, pure=False) for _ in range(2)]
    for n in dask_client.gather(results):
        assert n == 1  # the worker's nthreads


def test_grid_search_on_dask_matches_local_run(dask_client, small_search_problem):
    joblib = pytest.importorskip("joblib")
    from distributed import get_task_stream

    U, G, est = small_search_problem
    grid = {"n_eval": [2, 5], "sampling": ["random", "shared"]}
    local = GridSearchCV(est, grid, cv=3).fit(U, G)
    with get_task_stream(dask_client) as stream:
        with joblib.parallel_config(backend="dask"):
            remote = GridSearchCV(est, grid, cv=3).fit(U, G)
    assert len(stream.data) >= 12  # 4 candidates x 3 folds ran on the workers
    np.testing.assert_array_equal(remote.cv_results_["mean_test_score"],
                                  local.cv_results_["mean_test_score"])
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(remote.predict(U), local.predict(U))


def test_cross_val_score_on_dask_matches_local_run(dask_client, small_search_problem):
    joblib = pytest.importorskip("joblib")
    U, G, est = small_search_problem
    local = cross_val_score(est, U, G, cv=3)
    with joblib.parallel_config(backend="dask"):
        remote = cross_val_score(est, U, G, cv=3)
    np.testing.assert_array_equal(remote, local)

