"""Shared fixtures of the test suite."""

import pytest

from skoperator import DeepONetRegressor
from skoperator.datasets import make_antiderivative
from skoperator.networks import MLPBranch, MLPTrunk


@pytest.fixture
def small_search_problem():
    """A tiny antiderivative problem and a fast estimator, for searches on clusters."""
    U, Y, G = make_antiderivative(60, n_points=20, random_state=0)
    est = DeepONetRegressor(coords=Y, max_iter=5, tol=None, branch=MLPBranch(layers=(8,)),
                            trunk=MLPTrunk(layers=(8,)), n_basis=8, batch_size=16,
                            device="cpu", random_state=0)
    return U, G, est


@pytest.fixture
def tiny_problem():
    """``make(missing, kind)``: a float64 DeepONet, its training data and one step's draws."""
    import numpy as np
    import torch

    from skoperator._layers import MLP, built
    from skoperator._network import LAYOUTS, DeepONet, Scaling
    from skoperator._training import TrainingData

    def make(missing, kind):
        gen = torch.Generator().manual_seed(0)
        rng = np.random.default_rng(0)
        scaling = Scaling(u_shift=np.zeros(6), u_scale=np.ones(6), y_shift=np.zeros(2),
                          y_scale=np.ones(2), g_shift=np.array([0.3]), g_scale=np.array([2.0]))
        net = DeepONet(built(MLP, 6, (8,), 5, "tanh", generator=gen),
                       built(MLP, 2, (8,), 5, "tanh", generator=gen),
                       n_outputs=1, n_basis=5, layout=LAYOUTS["split_branch"], scaling=scaling)
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
