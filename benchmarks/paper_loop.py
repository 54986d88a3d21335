"""Faithful re-implementation of the paper authors' training loop (Example 1).

Karumuri, Graham-Brady and Goswami (arXiv 2409.13280) train DeepONet on the
antiderivative with, at every step and for every function of the batch, a
Python-level draw of ``n_eval`` distinct points (``random.sample`` over
``list(range(n_points))``), a per-row gather of the targets, the trunk
evaluated at the (batch, n_eval) sampled coordinates, an ``einsum`` with the
branch output and ``nn.MSELoss``. This module reproduces that step (their
``DenseNet``, ReLU, Adam at 1e-3, batch 256 with the leftover batch kept) so
that benchmarks can compare ``DeepONetRegressor.fit`` with it on the same
data, model size and ``n_eval``.

Deliberate difference: the authors' script also evaluates the full test loss
after every step (2,000 test functions on the whole grid); that is monitoring,
not training, and is left out here, which makes this baseline *faster* than
the original and the comparison conservative.
"""

import random
import time

import numpy as np
import torch
from torch import nn


class DenseNet(nn.Module):
    """The authors' MLP: Linear layers, activation between them, linear output."""

    def __init__(self, layersizes, activation):
        super().__init__()
        self.activation = activation
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(layersizes[:-1], layersizes[1:]))

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)


class PaperDeepONet(nn.Module):
    """The authors' DeepONet head: ``einsum('ijk, ilk -> il', branch, trunk)``."""

    def __init__(self, n_sensors, d=1, width=40, depth=3, p=40):
        super().__init__()
        self.branch_net = DenseNet([n_sensors] + [width] * depth + [p], nn.ReLU())
        self.trunk_net = DenseNet([d] + [width] * depth + [p], nn.ReLU())

    def forward(self, branch_inputs, trunk_inputs):
        return torch.einsum("ijk, ilk -> il", self.branch_net(branch_inputs),
                            self.trunk_net(trunk_inputs))


def make_state(U, Y, G, *, n_eval=10, batch_size=256, seed=0, device="cpu"):
    """Tensors, model and optimizer of the authors' script."""
    random.seed(seed)
    torch.manual_seed(seed)
    device = torch.device(device)
    model = PaperDeepONet(U.shape[1], Y.shape[1]).to(device)
    return {
        "u": torch.as_tensor(U, dtype=torch.float32, device=device),
        "s": torch.as_tensor(G, dtype=torch.float32, device=device),
        "y": torch.as_tensor(Y, dtype=torch.float32, device=device),
        "model": model,
        "optimizer": torch.optim.Adam(model.parameters(), lr=1e-3),
        "n_eval": n_eval,
        "batch_size": batch_size,
        "device": device,
    }


def train_epoch(state):
    """One epoch of the authors' loop; returns the last batch's loss tensor."""
    u_train, s_train, y = state["u"], state["s"], state["y"]
    model, optimizer, device = state["model"], state["optimizer"], state["device"]
    bs, neval = state["batch_size"], state["n_eval"]
    indices = torch.randperm(len(u_train)).to(device)
    u_shuffled, s_shuffled = u_train[indices], s_train[indices]
    batches = [(u_shuffled[i:i + bs], s_shuffled[i:i + bs])
               for i in range(0, len(u_train), bs)]
    for u_batch, s_batch in batches:
        branch_inputs = u_batch.unsqueeze(1)  # (bs, 1, m)
        selected = torch.zeros((u_batch.shape[0], neval), dtype=torch.int)
        for j in range(u_batch.shape[0]):
            integers = list(range(len(y)))
            selected[j] = torch.tensor(random.sample(integers, neval))
        trunk_inputs = y[selected]  # (bs, neval, d)
        s_needed = torch.zeros((u_batch.shape[0], neval)).to(device)
        for k in range(u_batch.shape[0]):
            s_needed[k] = s_batch[k, selected[k]]
        optimizer.zero_grad()
        loss = nn.MSELoss()(model(branch_inputs, trunk_inputs), s_needed)
        loss.backward()
        optimizer.step()
    return loss.detach()


def time_epochs(state, n_epochs, sync=lambda: None):
    """Seconds of each of ``n_epochs`` epochs (``sync`` waits for the device)."""
    seconds = []
    for _ in range(n_epochs):
        tic = time.perf_counter()
        train_epoch(state)
        sync()
        seconds.append(time.perf_counter() - tic)
    return seconds


if __name__ == "__main__":
    from skoperator.datasets import make_antiderivative

    U, Y, G = make_antiderivative(2000, random_state=0)
    s = time_epochs(make_state(U, Y, G), 10)
    print(f"paper loop: median {np.median(s):.4f} s/epoch")
