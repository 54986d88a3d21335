"""The one training loop.

``Trainer.run -> run_epochs -> run_epoch -> train_step -> step_objective``:
``step_objective`` computes the residuals of one mini-batch and hands them,
with their weights, to the loss component (:mod:`skoperator.losses`); it is
the part :func:`torch.compile` compiles. :func:`grid_chunks` is the one
chunked evaluator of the whole training grid, used by the L-BFGS polish, by
adaptive sampling's residuals and by :mod:`skoperator.inspection`.
Everything here sees tensors (and, for targets too large for memory, an
array gathered batch by batch).
"""

import dataclasses
import time
from typing import Optional

import numpy as np
import torch

# --------------------------------------------------------------------- data
class TrainingData:
    """Training tensors on the training device.

    Parameters
    ----------
    U : Tensor of shape (n_functions, n_sensors)
        Raw inputs.
    G : Tensor of shape (n_functions, n_points[, n_outputs]), or ndarray of shape (n_functions, n_outputs * n_points)
        Targets (the last axis only with several output fields). A Tensor
        is already standardised; a numpy array (a memmap)
        stays where it is, in the estimator's column layout (field ``c`` at
        point ``j`` in column ``c * n_points + j``), and is gathered and
        standardised per batch.
    coords : Tensor of shape (n_points, d) or (n_functions, n_points, d)
        Raw coordinates: shared by every function, or per function (each
        function's own points; NaN rows pad functions with fewer points, and
        their targets are missing).
    g_shift, g_scale : Tensor of shape (n_outputs,)
        Standardisation of each output field.
    has_missing : bool
        Whether G holds NaN (then the loss is masked).
    """

    def __init__(self, U, G, coords, g_shift, g_scale, has_missing):
        self.U = U
        self.G = G
        self.coords = coords
        self.device = U.device
        self.g_shift = g_shift.to(self.device)
        self.g_scale = g_scale.to(self.device)
        self.has_missing = has_missing
        self.n_functions, self.n_points = U.shape[0], coords.shape[-2]
        self.per_function = coords.dim() == 3
        self.n_outputs = int(g_shift.numel())
        self.grid_index = torch.arange(self.n_points, device=self.device)
        self._np_shift = g_shift.cpu().numpy().astype(np.float32)
        self._np_scale = g_scale.cpu().numpy().astype(np.float32)
        self._field_offsets = np.arange(self.n_outputs) * self.n_points

    @property
    def streamed(self):
        """Whether the targets stay in a numpy array, read per batch."""
        return not torch.is_tensor(self.G)

    def targets(self, rows, cols):
        """Standardised targets for ``rows`` at ``cols``.

        ``cols`` is None (every point), of shape (m,) (the same points for
        every row) or (batch, m). Only the sampled entries are read. The
        result has shape (batch, m) with one output field, (batch, m,
        n_outputs) with several.
        """
        if not self.streamed:
            if cols is None:
                return self.G[rows]
            if cols.dim() == 1:
                return self.G[rows][:, cols]
            return self.G[rows[:, None], cols]
        r = rows.cpu().numpy()
        c = None if cols is None else cols.cpu().numpy()
        if self.n_outputs == 1:
            block = self.G[r] if c is None else self.G[r[:, None], c if c.ndim == 2 else c[None]]
        elif c is None:
            block = self.G[r].reshape(len(r), self.n_outputs, self.n_points).transpose(0, 2, 1)
        else:
            idx = c[..., None] + self._field_offsets  # (m, K) or (batch, m, K)
            block = self.G[r[:, None, None], idx if idx.ndim == 3 else idx[None]]
        block = (np.asarray(block, dtype=np.float32) - self._np_shift) / self._np_scale
        return torch.from_numpy(np.ascontiguousarray(block)).to(self.device, non_blocking=True)

    def rows_in_chunks(self, n_elements=1 << 22, step=None, subset=None):
        """Rows covering the functions (or ``subset``), about ``n_elements`` targets each.

        ``step`` sets the rows per chunk instead.
        """
        if step is None:
            step = max(1, n_elements // max(1, self.n_points * self.n_outputs))
        if subset is not None:
            for start in range(0, subset.numel(), step):
                yield subset[start:start + step].to(self.device)
            return
        for start in range(0, self.n_functions, step):
            yield torch.arange(start, min(start + step, self.n_functions), device=self.device)

    def mean_square(self):
        """Mean square of every (function, field) over its observed points, units of G."""
        out = torch.empty(self.n_functions, self.n_outputs, dtype=torch.float64,
                          device=self.device)
        for rows in self.rows_in_chunks():
            g = self.targets(rows, None).double()
            g = (g if g.dim() == 3 else g.unsqueeze(-1)) * self.g_scale.double() \
                + self.g_shift.double()
            ok = torch.isfinite(g)
            out[rows] = torch.where(ok, g, 0.0).pow(2).sum(dim=1) / ok.sum(dim=1).clamp(min=1)
        return out


# --------------------------------------------------------------- one step
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


def forward_at(network, data, rows, cols, path):
    """Standardised outputs (batch, m[, K]) of ``rows`` at ``cols``."""
    b = network.encode_branch(data.U[rows])
    coords = data.coords
    if data.per_function:  # each function at its own points: the trunk runs at every pair
        y = coords[rows]
        if cols is not None:
            index = cols if cols.dim() == 2 else cols.expand(rows.numel(), -1)
            y = y.gather(1, index.unsqueeze(-1).expand(-1, -1, y.shape[-1]))
        y = torch.nan_to_num(y)  # padding points: their targets are missing, weight 0
        out = network.combine(b, network.encode_trunk(y))
        return out if network.output_transform is None else network.transform(y, out)
    if cols is None or path == "grid":
        out = network.combine(b, network.encode_trunk(coords, data.grid_index))
        if cols is not None:
            index = cols if out.dim() == 2 else cols.unsqueeze(-1).expand(-1, -1, out.shape[-1])
            out = out.gather(1, index)
    else:  # a shared subset (m,) or per-function pairs (batch, m)
        out = network.combine(b, network.encode_trunk(coords[cols], cols))
    if network.output_transform is not None:
        out = network.transform(coords if cols is None else coords[cols], out)
    return out


def trunk_evaluations(n_points, cols, path, n_rows=1, per_function=False):
    """Trunk evaluations of one step: the grid, or the sampled points."""
    if per_function:
        return n_rows * (n_points if cols is None else cols.shape[-1])
    if cols is None or path == "grid":
        return n_points
    return cols.numel()


def residuals(out, target, weight, has_missing):
    """Residuals (batch, m, K) of outputs against targets, and their weights.

    Missing targets (NaN) get residual 0 and weight 0; ``weight`` (the
    sampler's, shape (m,) or (batch, m), or None) multiplies the weights.
    """
    if out.dim() == 2:
        out, target = out.unsqueeze(-1), target.unsqueeze(-1)
    if weight is not None:
        weight = (weight if weight.dim() == 2 else weight.expand(out.shape[0], -1)).unsqueeze(-1)
    if not has_missing:
        return out - target, weight
    finite = torch.isfinite(target)
    w = finite.to(out.dtype) if weight is None else finite.to(out.dtype) * weight
    return torch.where(finite, out - torch.nan_to_num(target), 0.0), w


def step_objective(network, data, loss, rows, cols, weight, target, path):
    """The training objective and report (or None) of one mini-batch, given its targets.

    The part of a step that :func:`torch.compile` compiles: tensors in,
    tensors out, no host synchronisation.
    """
    out = forward_at(network, data, rows, cols, path)
    residual, w = residuals(out, target, weight, data.has_missing)
    return loss(residual, w, rows)


def grid_chunks(network, data, rows_per_chunk=None, subset=None, chunks=None):
    """The one chunked evaluator of the whole training grid.

    Yields ``(rows, residual, weight)`` for chunks of training functions (all,
    those of ``subset``, or the given ``chunks`` of rows) at every training
    point (``residual`` of shape (chunk, n_points, K), in the current grad
    mode; ``weight`` None or 0 where a target is missing).
    """
    if chunks is None:
        chunks = data.rows_in_chunks(step=rows_per_chunk, subset=subset)
    for rows in chunks:
        out = forward_at(network, data, rows, None, "grid")
        yield (rows,) + residuals(out, data.targets(rows, None), None, data.has_missing)


def chunk_share(loss, data, rows):
    """How much a chunk of functions weighs in the full-grid loss: functions or observed entries."""
    if loss.per_function:
        return float(rows.numel())
    if not data.has_missing:
        return float(rows.numel() * data.n_points * data.n_outputs)
    return float(torch.isfinite(data.targets(rows, None)).sum())


def full_grid_objective(network, data, loss, backward=False, comm=None):
    """The loss on every training function at every point, as floats (objective, report).

    Chunks are weighted by :func:`chunk_share` (counted first, so that each
    chunk's gradient is scaled before it accumulates); with ``backward``
    gradients accumulate (those of the full-grid objective). With a process
    group (``comm``), each rank evaluates its share of the functions and the
    objective and its gradient are reduced over the ranks.
    """
    subset = None if comm is None else comm.shard(data.n_functions)
    chunks = list(data.rows_in_chunks(subset=subset))
    shares = [chunk_share(loss, data, rows) for rows in chunks]
    total = sum(shares) if subset is None else comm.sum([sum(shares)])[0]
    value = report = 0.0
    with torch.set_grad_enabled(backward):
        pieces = grid_chunks(network, data, chunks=chunks)
        for (rows, residual, weight), share in zip(pieces, shares):
            v, r = loss(residual, weight, rows)
            if backward:
                (v * (share / total)).backward()
            v = float(v.detach())
            value += v * share / total
            report += (v * loss.report_factor() if r is None else float(r.detach())) \
                * share / total
    if subset is not None:
        value, report = _sum_over_ranks(network, comm, backward, [value, report])
    return value, report


def _sum_over_ranks(network, comm, backward, values):
    """Sum ``values`` (floats) and, with ``backward``, the gradients over the ranks."""
    if backward:
        params = [p for p in network.parameters() if p.requires_grad]
        comm.reduce_step(params, 1, False)  # the mean over ranks of their parts ...
        for p in params:
            p.grad.mul_(comm.world_size)    # ... times the ranks: their sum
    return comm.sum(values)


def physics_objective(physics, network, data, seed, backward=False, comm=None):
    """A physics term over every training function at collocation points fixed by ``seed``.

    The term of each chunk of functions (the chunks of the full-grid
    evaluation) is computed with a generator seeded by ``seed`` and the chunk's
    index, so that calls with the same ``seed`` see the same points: the
    fixed objective an L-BFGS polish needs. Chunks are weighted by their
    share of the functions; with ``backward`` their gradients accumulate.
    With a process group (``comm``), each rank takes its share of the
    functions and the value and gradients are summed over the ranks.
    Returns the value as a float.
    """
    subset = None if comm is None else comm.shard(data.n_functions)
    chunks = list(data.rows_in_chunks(subset=subset))
    total = data.n_functions
    value = 0.0
    with torch.set_grad_enabled(True):  # the residual differentiates the network
        for i, rows in enumerate(chunks):
            generator = torch.Generator(device=data.device).manual_seed(seed + i)
            term = physics(network, data.U[rows], rows, generator) * (rows.numel() / total)
            if backward:
                term.backward()
            value += float(term.detach())
    if subset is not None:
        value = _sum_over_ranks(network, comm, backward, [value])[0]
    return value


def training_residuals(network, data):
    """Squared error (n_functions, n_points) on the training grid.

    Standardised units, summed over output fields, 0 where the target is
    missing; evaluated without gradients, in chunks of functions.
    """
    out = torch.empty(data.n_functions, data.n_points, device=data.device)
    was_training = network.training
    network.eval()
    with torch.no_grad():
        for rows, residual, _ in grid_chunks(network, data):
            out[rows] = residual.square().sum(dim=-1)
    network.train(was_training)
    return out


def snapshot(network):
    """Detached copies of the tensors of ``network.state_dict()``.

    Entries that are not tensors (modules may store metadata such as
    ``_metadata`` or version numbers in their state dict) are kept as they
    are. Cheaper than ``copy.deepcopy`` of the state dict, and taken every
    epoch.
    """
    return {name: t.detach().clone() if torch.is_tensor(t) else t
            for name, t in network.state_dict().items()}


def restore(network, saved):
    """Load a :func:`snapshot` back (non-tensor entries are left to the module)."""
    current = network.state_dict()
    tensors = {k: v for k, v in saved.items() if torch.is_tensor(v)}
    current.update(tensors)
    network.load_state_dict(current)


# ----------------------------------------------------------------- records
@dataclasses.dataclass
class EpochRecord:
    """One entry of ``history_`` (stored there as a dict).

    Attributes
    ----------
    epoch : int
        Counted from 1 over all calls of a model.
    train_loss : float
        The loss's report (units of G for "mse").
    valid_score : float or None
        Validation R2 (early stopping).
    seconds : float
        Wall time of the epoch.
    trunk_evals : int or None
        Trunk evaluations in the epoch.
    n_eval : int
        Points per function and step.
    learning_rate : float or None
        Adam's rate at the end of the epoch.
    solver : str
        "adam", or "lbfgs" for the L-BFGS polish.
    lbfgs_iter : int or None
        L-BFGS iterations (polish records only).
    stopped : str or None
        On the last record of a call: why training ended.
    """

    epoch: int
    train_loss: float
    valid_score: Optional[float] = None
    seconds: Optional[float] = None
    trunk_evals: Optional[int] = None
    n_eval: Optional[int] = None
    learning_rate: Optional[float] = None
    solver: str = "adam"
    lbfgs_iter: Optional[int] = None
    stopped: Optional[str] = None


@dataclasses.dataclass
class StoppingState:
    """What early stopping and convergence remember across epochs and calls.

    Attributes
    ----------
    history : list of EpochRecord
        One record per epoch.
    best_score : float
        Best validation score so far (early stopping).
    best_loss : float
        Lowest training objective so far.
    no_improvement : int
        Epochs since the last improvement.
    best_weights : dict or None
        Snapshot of the best weights (early stopping); not kept after fit.
    """

    history: list = dataclasses.field(default_factory=list)
    best_score: float = -np.inf
    best_loss: float = np.inf
    no_improvement: int = 0
    best_weights: Optional[dict] = None

    def resumed(self, history):
        """A copy that continues from ``history`` (without best weights)."""
        return dataclasses.replace(self, history=list(history), best_weights=None)


def check_sample(sampler, cols, weight, n_rows, n_points):
    """Check a sampler's first draw against the protocol, with an error that names it."""
    name = type(sampler).__name__
    protocol = ("sample(rows, generator) must return (cols, weight): cols None, or an "
                "integer tensor of shape (m,) or (batch, m) with values in [0, n_points); "
                "weight None or a float tensor of the shape of cols")
    problem = None
    if cols is not None:
        if not torch.is_tensor(cols):
            problem = f"cols is a {type(cols).__name__}"
        elif cols.dtype not in (torch.int64, torch.int32):
            problem = f"cols has dtype {cols.dtype}"
        elif cols.dim() not in (1, 2) or (cols.dim() == 2 and cols.shape[0] != n_rows):
            problem = f"cols has shape {tuple(cols.shape)} for a batch of {n_rows}"
        elif cols.numel() and (int(cols.min()) < 0 or int(cols.max()) >= n_points):
            problem = (f"cols holds values in [{int(cols.min())}, {int(cols.max())}] for "
                       f"n_points={n_points}")
    if problem is None and weight is not None:
        if cols is None or not torch.is_tensor(weight) or not weight.dtype.is_floating_point:
            problem = "weight is not a float tensor (or comes without cols)"
        elif tuple(weight.shape) not in (tuple(cols.shape), tuple(cols.shape[-1:])):
            problem = (f"weight has shape {tuple(weight.shape)} for cols of shape "
                       f"{tuple(cols.shape)}")
    if problem is not None:
        raise ValueError(f"The sampler {name} broke the sampler protocol: {problem}. {protocol}.")


# -------------------------------------------------------------------- loop
class Trainer:
    """Run epochs of mini-batch Adam on a DeepONet, then an optional L-BFGS polish.

    Parameters
    ----------
    plan : FitPlan
        Everything the fit needs (network, optimizer, sampler, data, loss,
        schedule, budgets and stopping rules); see ``skoperator._planning``.
    progress : callable
        ``progress(record)`` called after every epoch.
    """

    def __init__(self, plan, progress):
        self.plan = plan
        self.network, self.optimizer, self.sampler = plan.network, plan.optimizer, plan.sampler
        self.data, self.loss, self.generator = plan.data, plan.loss, plan.generator
        self.progress = progress
        self.lr0 = [group["lr"] for group in self.optimizer.param_groups]
        self.step_count = 0
        self.total_steps = max(1, plan.total_steps)
        self.start = plan.started
        self.deadline = plan.max_time
        self.objective = step_objective if plan.compile_mode is None else torch.compile(
            step_objective, mode=None if plan.compile_mode == "default" else plan.compile_mode)
        table = self.network.trunk_is_table
        self.trunk_flops = 0 if table else 2 * sum(
            p.numel() for p in self.network.trunk.parameters())
        self.trunk_width = self.network.trunk_fields * self.network.n_basis
        self.checked = False
        self.comm = plan.comm
        self.params = [p for p in self.network.parameters() if p.requires_grad]

    # -- one step
    def path(self, cols, batch):
        """Which trunk evaluation a step with these columns takes."""
        if self.data.per_function:
            return "pairs"
        if cols is None:
            return "grid"
        if cols.dim() == 1:
            return "shared"
        return choose_trunk_path(self.data.n_points, batch, cols.shape[1], self.trunk_flops,
                                 self.trunk_width)

    def progress_fraction(self):
        """How far the schedule is: steps of the plan or seconds of ``max_time``."""
        p = self.step_count / max(1, self.total_steps - 1)
        if self.deadline is not None:
            p = max(p, (time.perf_counter() - self.start) / self.deadline)
        return p

    def _apply_schedule(self):
        factor, beta1 = self.plan.schedule(self.progress_fraction())
        for group, lr0 in zip(self.optimizer.param_groups, self.lr0):
            group["lr"] = lr0 * factor
            if beta1 is not None:
                group["betas"] = (beta1, group["betas"][1])

    def train_step(self, rows):
        """One optimizer step on the functions ``rows``.

        Returns the objective, the report (None: the objective times the
        loss's report factor), the trunk evaluations and, with a process
        group, whether any rank's time is up (None otherwise).
        """
        if self.comm.world_size > 1:
            return self._distributed_step(rows)
        cols, weight = self.sampler.sample(rows, self.generator)
        if not self.checked:
            check_sample(self.sampler, cols, weight, rows.numel(), self.data.n_points)
            self.checked = True
        self._apply_schedule()
        target = self.data.targets(rows, cols)
        path = self.path(cols, rows.numel())
        value, report = self._objective(rows, cols, weight, target, path)
        self.optimizer.zero_grad(set_to_none=True)
        value.backward()
        self.optimizer.step()
        self.step_count += 1
        return (value.detach(), None if report is None else report.detach(),
                trunk_evaluations(self.data.n_points, cols, path, rows.numel(),
                                  self.data.per_function), None)

    def _objective(self, rows, cols, weight, target, path):
        """Data objective (and report) plus, with ``physics``, its weighted residual term."""
        if self.plan.mixed_precision:
            with torch.autocast(self.data.device.type, dtype=torch.bfloat16):
                return self._terms(rows, cols, weight, target, path)
        return self._terms(rows, cols, weight, target, path)

    def _terms(self, rows, cols, weight, target, path):
        value = report = None
        if self.plan.has_data:
            value, report = self.objective(self.network, self.data, self.loss, rows, cols,
                                           weight, target, path)
        physics = self.plan.physics
        if physics is None:
            return value, report
        term = physics(self.network, self.data.U[rows], rows, self.generator)
        if value is None:
            return term, term
        if report is None:
            report = value * self.loss.report_factor()
        return value + term, report + term

    def _distributed_step(self, rows):
        """:meth:`train_step` of one rank: its rows, then gradients reduced over the ranks."""
        self.optimizer.zero_grad(set_to_none=True)
        value = torch.zeros((), device=self.data.device)
        report, n_trunk = None, 0
        if rows.numel():
            cols, weight = self.sampler.sample(rows, self.generator)
            if not self.checked:
                check_sample(self.sampler, cols, weight, rows.numel(), self.data.n_points)
                self.checked = True
            target = self.data.targets(rows, cols)
            path = self.path(cols, rows.numel())
            value, report = self._objective(rows, cols, weight, target, path)
            value.backward()
            n_trunk = trunk_evaluations(self.data.n_points, cols, path, rows.numel(),
                                        self.data.per_function)
        self._apply_schedule()
        out_of_time = self.comm.reduce_step(self.params, rows.numel(),
                                            self.deadline is not None and self.time_is_up())
        self.optimizer.step()
        self.step_count += 1
        return (value.detach(), None if report is None else report.detach(), n_trunk,
                out_of_time)

    def time_is_up(self, deadline=None):
        deadline = self.deadline if deadline is None else deadline
        return deadline is not None and time.perf_counter() - self.start >= deadline

    def time_is_up_everywhere(self, deadline=None):
        """:meth:`time_is_up` on any rank (the same answer on every rank)."""
        if self.comm.world_size == 1:
            return self.time_is_up(deadline)
        return self.comm.sum([float(self.time_is_up(deadline))])[0] > 0

    def run_epoch(self):
        """One pass over the functions (or until ``max_time``).

        Returns
        -------
        objective, report : float
            Means over the functions seen.
        n_trunk : int
            Trunk evaluations.
        out_of_time : bool
            Whether ``max_time`` ended the epoch.
        """
        n = self.data.n_functions
        device = self.data.device
        batch_size = self.plan.batch_size * self.comm.world_size  # the global batch
        perm = torch.randperm(n, generator=self.plan.perm_generator, device=device)
        total = torch.zeros((), device=device)
        total_report = None
        n_trunk = seen = 0
        out_of_time = False
        check_time = self.deadline is not None
        for start in range(0, n, batch_size):
            rows = self.comm.split(perm[start:start + batch_size])
            objective, report, k, stop = self.train_step(rows)
            total.add_(objective, alpha=rows.numel())
            if report is not None:  # losses that report something else than the objective
                if total_report is None:
                    total_report = torch.zeros((), device=device)
                total_report.add_(report, alpha=rows.numel())
            n_trunk += k
            seen += rows.numel()
            if stop if stop is not None else (check_time and self.time_is_up()):
                out_of_time = start + batch_size < n
                break
        if self.comm.world_size > 1:  # the mean over every rank's functions
            tot, rep, n_trunk, seen = self.comm.sum(
                [float(total), float(total_report if total_report is not None else total),
                 n_trunk, seen])
            factor = self.loss.report_factor() if total_report is None else 1.0
            return tot / seen, rep / seen * factor, int(n_trunk), out_of_time
        if total_report is None:
            mean = float(total) / seen
            return mean, mean * self.loss.report_factor(), n_trunk, out_of_time
        mean = (torch.stack([total, total_report]) / seen).tolist()
        return mean[0], mean[1], n_trunk, out_of_time

    def run(self, n_epochs, state):
        """Train for up to ``n_epochs`` epochs, then polish; updates ``state`` in place.

        Returns the reason training ended: "max_iter", "converged" or
        "max_time". Raises ValueError on divergence, after restoring the
        weights from before the failing epoch. On ``KeyboardInterrupt`` the
        best weights so far are put back and the interrupt propagates.
        """
        lbfgs_iter = self.plan.lbfgs_iter
        if lbfgs_iter and self.plan.max_time is not None:
            # Leave the L-BFGS iterations their time: one evaluation of the
            # polish objective (forward and backward) timed now, about 1.3 of
            # them per iteration.
            tic = time.perf_counter()
            self.polish_objective(backward=True, seed=0)
            self.network.zero_grad(set_to_none=True)
            reserve = 1.3 * lbfgs_iter * (time.perf_counter() - tic)
            self.deadline = max(0.5 * self.plan.max_time, self.plan.max_time - reserve)
        reason = self.run_epochs(n_epochs, state)
        if lbfgs_iter:
            reason = self.polish(state) or reason
        return reason

    def run_epochs(self, n_epochs, state):
        """The Adam epochs of :meth:`run`.

        On ``KeyboardInterrupt`` the weights of the last completed epoch (or,
        with early stopping, of the best one) are put back before the
        interrupt propagates.
        """
        history = state.history
        for epoch in range(n_epochs):
            good = snapshot(self.network)
            tic = time.perf_counter()
            try:
                n_eval = self.sampler.start_epoch(epoch)
                objective, report, n_trunk, out_of_time = self.run_epoch()
            except KeyboardInterrupt:
                restore(self.network, good)
                self._restore_best(state)
                raise
            if not (np.isfinite(objective) and np.isfinite(report)):
                restore(self.network, good)
                raise ValueError(
                    f"Training diverged at epoch {len(history) + 1}: the loss became "
                    f"{report}. The model was left as it was before fit. Likely causes: "
                    "learning_rate_init too large, or inputs/outputs with extreme values "
                    "(keep standardize=True, or scale U and G). Lower learning_rate_init and "
                    "fit again."
                )
            record = EpochRecord(epoch=len(history) + 1, train_loss=report,
                                 trunk_evals=n_trunk, n_eval=n_eval,
                                 learning_rate=self.optimizer.param_groups[0]["lr"])
            try:
                if self.plan.validation_fn is not None:
                    record.valid_score = self.plan.validation_fn(self.network)
                record.seconds = time.perf_counter() - tic
                history.append(record)
                converged = self._update_stopping(record, objective, state)
                self.progress(record)
            except KeyboardInterrupt:
                if record not in history:
                    restore(self.network, good)
                self._restore_best(state)
                raise
            if converged:
                self._restore_best(state)
                return "converged"
            if out_of_time or self.time_is_up_everywhere():
                self._restore_best(state)
                return "max_time"
        self._restore_best(state)
        return "max_iter"

    def polish_objective(self, backward=False, seed=0):
        """(objective, report) of the L-BFGS polish, as floats.

        The data loss on the full training grid when there is data, plus,
        with ``physics``, its term over every training function at
        collocation points fixed by ``seed`` (:func:`physics_objective`).
        """
        value = report = 0.0
        if self.plan.has_data:
            value, report = full_grid_objective(self.network, self.data, self.loss,
                                                backward=backward, comm=self.comm)
        if self.plan.physics is not None:
            term = physics_objective(self.plan.physics, self.network, self.data, seed,
                                     backward=backward, comm=self.comm)
            value, report = value + term, report + term
        return value, report

    def polish(self, state):
        """L-BFGS on the full training grid, after the epochs; appends one record.

        ``lbfgs_iter`` iterations of :class:`torch.optim.LBFGS` (strong Wolfe
        line search, history 50) on the full-grid objective, in rounds of 20
        that stop at ``max_time``. With ``physics`` the objective adds its
        term over every training function, at collocation points drawn once
        for the polish (L-BFGS needs a fixed objective). Diverging weights
        are put back as they were before the polish; with early stopping, so
        are weights that validate worse than the best epoch.

        Returns
        -------
        reason : str or None
            "max_time" if the budget ended the polish, else None.
        """
        tic = time.perf_counter()
        good = snapshot(self.network)
        params = [p for p in self.network.parameters() if p.requires_grad]
        lbfgs = torch.optim.LBFGS(params, lr=1.0, max_iter=20, history_size=50,
                                  line_search_fn="strong_wolfe", tolerance_grad=1e-12,
                                  tolerance_change=1e-15)

        # One seed for the whole polish: the same collocation points at every
        # evaluation (drawn from the fit's generator, so set by random_state).
        seed = int(torch.randint(0, 2**62, (1,), generator=self.generator,
                                 device=self.generator.device))

        def closure():
            lbfgs.zero_grad(set_to_none=True)
            return torch.tensor(self.polish_objective(backward=True, seed=seed)[0])

        done, reason = 0, None
        try:
            while done < self.plan.lbfgs_iter:
                lbfgs.param_groups[0]["max_iter"] = min(20, self.plan.lbfgs_iter - done)
                lbfgs.step(closure)
                done += lbfgs.param_groups[0]["max_iter"]
                if self.time_is_up_everywhere(self.plan.max_time):
                    reason = "max_time"
                    break
        except KeyboardInterrupt:
            restore(self.network, good)
            raise
        value, report = self.polish_objective(seed=seed)
        if not (np.isfinite(value) and np.isfinite(report)):
            restore(self.network, good)
            value, report = self.polish_objective(seed=seed)
        record = EpochRecord(epoch=len(state.history) + 1, train_loss=report,
                             n_eval=self.data.n_points, solver="lbfgs", lbfgs_iter=done)
        if self.plan.validation_fn is not None:
            record.valid_score = self.plan.validation_fn(self.network)
            if record.valid_score < state.best_score and state.best_weights is not None:
                restore(self.network, state.best_weights)  # the polish did not generalise
        record.seconds = time.perf_counter() - tic
        state.history.append(record)
        self.progress(record)
        return reason

    def _update_stopping(self, record, objective, state):
        tol = self.plan.tol
        if self.plan.validation_fn is not None:
            score = record.valid_score
            improved = score > state.best_score + (tol or 0.0)
            if score > state.best_score:
                state.best_score = score
                state.best_weights = snapshot(self.network)
        else:
            improved = objective < state.best_loss - (tol or 0.0)
            state.best_loss = min(objective, state.best_loss)
        state.no_improvement = 0 if improved else state.no_improvement + 1
        return tol is not None and state.no_improvement >= self.plan.n_iter_no_change

    def _restore_best(self, state):
        if self.plan.validation_fn is not None and state.best_weights is not None:
            restore(self.network, state.best_weights)
