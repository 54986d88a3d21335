"""One model trained on two Ray workers (Ray Train's TorchTrainer), returned as an estimator."""

import pickle

import numpy as np
import pytest

pytest.importorskip("ray.train.torch")

from skoperator import DeepONetRegressor  # noqa: E402
from skoperator.datasets import make_antiderivative  # noqa: E402
from skoperator.distributed import fit_ray  # noqa: E402
from skoperator.networks import MLPBranch, MLPTrunk  # noqa: E402


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             ignore_reinit_error=True)
    yield
    ray.shutdown()


@pytest.mark.slow
def test_fit_ray_trains_on_two_workers_and_returns_a_plain_estimator(ray_cluster, tmp_path):
    U, Y, G = make_antiderivative(80, n_points=20, random_state=0)
    params = dict(coords=Y, branch=MLPBranch(layers=(16,)), trunk=MLPTrunk(layers=(16,)),
                  n_basis=8, sampling="full", batch_size=8, max_iter=3, tol=None,
                  random_state=0)
    est = DeepONetRegressor(**params)
    assert fit_ray(est, U, G, num_workers=2, storage_path=str(tmp_path)) is est
    # the same weights as one process with the global batch (2 x 8), to float tolerance
    one = DeepONetRegressor(**{**params, "batch_size": 16}).fit(U, G)
    np.testing.assert_allclose(est.predict(U), one.predict(U), rtol=1e-4, atol=1e-6)
    assert est.n_iter_ == 3 and type(est.network_).__name__ == "DeepONet"
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict(U), est.predict(U))


@pytest.mark.slow
def test_fit_ray_raises_the_workers_error_and_keeps_nothing_of_an_earlier_fit(ray_cluster,
                                                                              tmp_path):
    import pandas as pd

    U, Y, G = make_antiderivative(64, n_points=20, random_state=0)
    params = dict(coords=Y, branch=MLPBranch(layers=(8,)), trunk=MLPTrunk(layers=(8,)),
                  n_basis=4, batch_size=8, max_iter=1, tol=None, random_state=0)
    with pytest.raises(ValueError, match="coords has 20 rows but G has 19 columns"):
        fit_ray(DeepONetRegressor(**params), U, G[:, :19], num_workers=2,
                storage_path=str(tmp_path))
    est = DeepONetRegressor(**params).fit(pd.DataFrame(U, columns=[f"s{i}" for i in
                                                                   range(U.shape[1])]), G)
    fit_ray(est, U, G, num_workers=2, storage_path=str(tmp_path))
    assert not hasattr(est, "feature_names_in_")  # as a plain refit on an array
