"""Shared fixtures of the test suite."""

import pytest

from skoperator import DeepONetRegressor
from skoperator.datasets import make_antiderivative


@pytest.fixture
def small_search_problem():
    """A tiny antiderivative problem and a fast estimator, for searches on clusters."""
    U, Y, G = make_antiderivative(60, n_points=20, random_state=0)
    est = DeepONetRegressor(coords=Y, max_iter=5, tol=None, branch_layers=(8,),
                            trunk_layers=(8,), n_basis=8, batch_size=16, device="cpu",
                            random_state=0)
    return U, G, est
