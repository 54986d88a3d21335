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


@pytest.fixture
def tiny_problem():
    """``make(missing, kind)``: a float64 DeepONet, its training data and one step's draws."""
    import numpy as np
    import torch

    from skoperator._network import LAYOUTS, MLP, DeepONet, NetworkParams
    from skoperator._training import TrainingData

    def make(missing, kind):
        gen = torch.Generator().manual_seed(0)
        rng = np.random.default_rng(0)
        params = NetworkParams(branch_layers=(8,), trunk_layers=(8,), activation="tanh")
        scaling = dict(u_shift=np.zeros(6), u_scale=np.ones(6), y_shift=np.zeros(2),
                       y_scale=np.ones(2), g_shift=[0.3], g_scale=[2.0])
        net = DeepONet([MLP.from_params(6, 5, params=params, generator=gen, role="branch")],
                       MLP.from_params(2, 5, params=params, generator=gen, role="trunk"),
                       input_sizes=(6,), n_outputs=1, n_basis=5,
                       layout=LAYOUTS["split_branch"], scaling=scaling)
        U = torch.tensor(rng.normal(size=(9, 6)), dtype=torch.float32)
        coords = torch.tensor(rng.random((14, 2)), dtype=torch.float32)
        G = torch.tensor(rng.normal(size=(9, 14)), dtype=torch.float32)
        if missing:
            G[torch.tensor(rng.random(G.shape) < 0.3)] = float("nan")
            G[:, 0] = 1.0
        data = TrainingData(U, G, coords, torch.tensor([0.3]), torch.tensor([2.0]), missing)
        rows = torch.tensor([3, 0, 7, 5])
        weight = None
        if kind in ("pairs", "grid"):
            cols = torch.tensor(rng.integers(0, 14, size=(4, 5)))
            weight = torch.tensor(rng.random((4, 5)) + 0.5, dtype=torch.float32)
        elif kind == "shared":
            cols = torch.tensor([1, 4, 9])
        else:
            cols = None
        return net, data, rows, cols, weight

    return make
