"""The one training loop: batches, steps, history, early stopping, faults.

``Trainer.run`` -> ``run_epoch`` -> ``train_step`` -> ``batch_loss``. The
loss is defined in ``batch_loss`` only. Everything here sees tensors (and,
for targets too large for memory, a numpy array gathered batch by batch).
"""

import logging
import time

import numpy as np
import torch

logger = logging.getLogger("skoperator")


class TrainingData:
    """Training tensors on the training device.

    Parameters
    ----------
    U : Tensor of shape (n_functions, n_sensors)
        Raw inputs.
    G : Tensor or ndarray of shape (n_functions, n_points)
        Targets, already standardised when a Tensor; a numpy array (for
        instance a memmap) stays where it is and is gathered per batch.
    coords : Tensor of shape (n_points, d)
        Raw coordinates.
    g_shift, g_scale : float
        Standardisation applied to targets gathered from a numpy ``G``.
    has_missing : bool
        Whether G holds NaN (then the loss is masked).
    """

    def __init__(self, U, G, coords, g_shift, g_scale, has_missing):
        self.U = U
        self.G = G
        self.coords = coords
        self.g_shift = g_shift
        self.g_scale = g_scale
        self.has_missing = has_missing
        self.n_functions, self.n_points = U.shape[0], coords.shape[0]

    def targets(self, rows, cols):
        """Standardised targets for ``rows`` at ``cols`` (None, 1-D or 2-D).

        Only the ``len(rows) x n_eval`` sampled entries are read (a 1-D
        ``cols`` is broadcast against ``rows``), never whole rows, unless
        ``cols`` is None.
        """
        if cols is not None and cols.dim() == 1:
            cols = cols[None, :]
        if torch.is_tensor(self.G):
            return self.G[rows] if cols is None else self.G[rows[:, None], cols]
        r = rows.cpu().numpy()
        block = self.G[r] if cols is None else self.G[r[:, None], cols.cpu().numpy()]
        block = (np.asarray(block, dtype=np.float32) - self.g_shift) / self.g_scale
        return torch.from_numpy(block).to(self.U.device, non_blocking=True)


def choose_trunk_path(n_points, batch_size, n_eval, trunk_flops, n_basis):
    """Cheaper way to evaluate per-function samples, from a flop count.

    "grid" evaluates the trunk once on all points, forms the full
    (batch, n_points) product and gathers the samples; "pairs" evaluates the
    trunk at each of the batch x n_eval sampled points. Their costs are about
    ``n_points * trunk_flops + batch * n_points * (n_basis + 8)`` and
    ``batch * n_eval * (trunk_flops + n_basis)``. The ``+ 8`` stands for the
    elementwise passes over the (batch, n_points) block that the grid path
    adds (bias, gather and their backward). For batch 256, n_eval 32 and the
    default 40x3 MLPs this switches at 3,700 points; on a 2-core CPU the
    measured costs cross between 2,000 and 4,000 points
    (``benchmarks/bench_scaling.py``).
    """
    grid = n_points * trunk_flops + batch_size * n_points * (n_basis + 8)
    pairs = batch_size * n_eval * (trunk_flops + n_basis)
    return "grid" if grid <= pairs else "pairs"


def batch_loss(network, data, rows, cols, valid, path):
    """Mean squared error (standardised units) on the sampled pairs.

    Returns
    -------
    loss : scalar Tensor
    n_trunk : int
        Number of trunk evaluations in this step.
    """
    b = network.encode_branch(data.U[rows])
    coords = data.coords
    if cols is None or (cols.dim() == 2 and path == "grid"):
        out = network.combine(b, network.encode_trunk(coords))
        n_trunk = coords.shape[0]
        if cols is not None:
            out = out.gather(1, cols)
    else:  # a shared subset (n_eval,) or per-function pairs (batch, n_eval)
        out = network.combine(b, network.encode_trunk(coords[cols]))
        n_trunk = cols.numel()
    target = data.targets(rows, cols)
    if not data.has_missing and valid is None:
        return torch.nn.functional.mse_loss(out, target), n_trunk  # one fused kernel
    weight = torch.isfinite(target)
    if valid is not None:
        weight = weight & valid
    diff = torch.where(weight, out - torch.nan_to_num(target), 0.0)
    return (diff**2).sum() / weight.sum().clamp(min=1), n_trunk


def snapshot(network):
    """Detached copies of the tensors of ``network.state_dict()``.

    Cheaper than ``copy.deepcopy`` of the state dict (which also copies its
    metadata and goes through Python's memo machinery), and taken every epoch.
    """
    return {name: t.detach().clone() for name, t in network.state_dict().items()}


class Trainer:
    """Run epochs of mini-batch Adam on a DeepONet.

    Parameters
    ----------
    network : DeepONet
    optimizer : torch.optim.Optimizer
    scheduler : torch.optim.lr_scheduler.LRScheduler or None
        Stepped once per optimizer step.
    sampler : TrunkSampler
    data : TrainingData
    batch_size : int
    generator : torch.Generator
        Shuffles the functions every epoch.
    validation_fn : callable or None
        ``validation_fn(network) -> float`` score (higher is better) used for
        early stopping; None to stop on the training loss.
    tol : float or None
        Minimum improvement; None trains for every epoch asked.
    n_iter_no_change : int
    g_var : float
        Variance of G, to report losses in the units of G.
    progress : callable
        ``progress(record, n_epochs)`` called after every epoch.
    """

    def __init__(self, network, optimizer, scheduler, sampler, data, *, batch_size,
                 generator, validation_fn, tol, n_iter_no_change, g_var, progress):
        self.network = network
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.sampler = sampler
        self.data = data
        self.batch_size = batch_size
        self.generator = generator
        self.validation_fn = validation_fn
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.g_var = g_var
        self.progress = progress
        trunk_flops = 2 * sum(p.numel() for p in network.trunk.parameters())
        with torch.no_grad():
            n_basis = network.encode_trunk(data.coords[:1]).shape[-1]
        self.path = choose_trunk_path(data.n_points, batch_size, sampler.per_function,
                                      trunk_flops, n_basis)

    def train_step(self, rows):
        cols, valid = self.sampler.sample(rows)
        loss, n_trunk = batch_loss(self.network, self.data, rows, cols, valid, self.path)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return loss.detach(), n_trunk

    def run_epoch(self):
        """One pass over the functions; returns (mean loss tensor, trunk evals)."""
        n = self.data.n_functions
        device = self.data.U.device
        perm = torch.randperm(n, generator=self.generator, device=device)
        total = torch.zeros((), device=device)
        n_trunk = 0
        for start in range(0, n, self.batch_size):
            rows = perm[start:start + self.batch_size]
            loss, k = self.train_step(rows)
            total.add_(loss, alpha=rows.numel())
            n_trunk += k
        return total / n, n_trunk

    def run(self, n_epochs, state):
        """Train for up to ``n_epochs`` epochs, updating ``state`` in place.

        ``state`` carries ``history`` (list of dicts), ``best_score``,
        ``best_loss``, ``no_improvement`` and ``best_weights`` across calls
        (``partial_fit``). Returns the reason training ended: "max_iter",
        "converged" or "interrupted". Raises ValueError on divergence,
        after restoring the weights from before the failing epoch.
        """
        history = state["history"]
        for _ in range(n_epochs):
            good = snapshot(self.network)
            tic = time.perf_counter()
            try:
                mean_loss, n_trunk = self.run_epoch()
                loss = float(mean_loss) * self.g_var
            except KeyboardInterrupt:
                self.network.load_state_dict(good)
                self._restore_best(state)
                return "interrupted"
            if not np.isfinite(loss):
                self.network.load_state_dict(good)
                raise ValueError(
                    f"Training diverged at epoch {len(history) + 1}: the loss became {loss}. "
                    "The weights from before that epoch were restored. Likely causes: "
                    "learning_rate_init too large, or inputs/outputs with extreme values "
                    "(keep standardize=True, or scale U and G). Lower learning_rate_init "
                    "and fit again."
                )
            record = {
                "epoch": len(history) + 1,
                "train_loss": loss,
                "valid_score": None,
                "seconds": None,
                "trunk_evals": n_trunk,
                "learning_rate": self.optimizer.param_groups[0]["lr"],
            }
            if self.validation_fn is not None:
                record["valid_score"] = self.validation_fn(self.network)
            record["seconds"] = time.perf_counter() - tic
            history.append(record)
            self.progress(record, n_epochs)
            if self._update_stopping(record, state):
                self._restore_best(state)
                return "converged"
        self._restore_best(state)
        return "max_iter"

    def _update_stopping(self, record, state):
        if self.validation_fn is not None:
            score = record["valid_score"]
            improved = score > state["best_score"] + (self.tol or 0.0)
            if score > state["best_score"]:
                state["best_score"] = score
                state["best_weights"] = snapshot(self.network)
        else:
            loss = record["train_loss"] / self.g_var
            improved = loss < state["best_loss"] - (self.tol or 0.0)
            state["best_loss"] = min(loss, state["best_loss"])
        state["no_improvement"] = 0 if improved else state["no_improvement"] + 1
        return self.tol is not None and state["no_improvement"] >= self.n_iter_no_change

    def _restore_best(self, state):
        if self.validation_fn is not None and state.get("best_weights") is not None:
            self.network.load_state_dict(state["best_weights"])
