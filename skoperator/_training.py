"""The one training loop, and the LOSSES and SCHEDULES registries it uses.

``Trainer.run`` -> ``run_epoch`` -> ``train_step`` -> ``batch_loss``. The
loss is defined in one place (``batch_loss`` with a :data:`LOSSES` entry).
Everything here sees tensors (and, for targets too large for memory, a numpy
array gathered batch by batch).
"""

import dataclasses
import logging
import math
import time
from typing import Optional

import numpy as np
import torch

logger = logging.getLogger("skoperator")


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
    coords : Tensor of shape (n_points, d)
        Raw coordinates.
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
        self.n_functions, self.n_points = U.shape[0], coords.shape[0]
        self.n_outputs = int(g_shift.numel())
        self.grid_index = torch.arange(self.n_points, device=self.device)
        self._np_shift = g_shift.cpu().numpy().astype(np.float32)
        self._np_scale = g_scale.cpu().numpy().astype(np.float32)
        self._field_offsets = np.arange(self.n_outputs) * self.n_points
        #: per (function, field): squared scale / mean square in units of G
        #: (set by losses that normalise per function)
        self.inverse_mean_square = None

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

    def rows_in_chunks(self, n_elements=1 << 22):
        """Row slices covering the functions, about ``n_elements`` targets each."""
        step = max(1, n_elements // max(1, self.n_points * self.n_outputs))
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


# ------------------------------------------------------------------- losses
class MSELoss:
    """Mean squared error over the sampled (function, point, field) entries.

    In standardised units, so that every output field weighs the same; the
    history reports it in the units of G.

    A loss has two entry points: :meth:`unweighted` for a batch where every
    entry counts once (no missing target, no slot weights), the fast path of
    most fits, and :meth:`weighted`. Both return ``(objective, report)``;
    ``report`` None means ``objective * report_factor(data)``, which the
    training loop then applies once per epoch instead of once per step.
    """

    per_function = False

    def report_factor(self, data):
        """The report in the units of G: the objective times the squared scale."""
        return float(data.g_scale[0]) ** 2 if data.n_outputs == 1 else None

    def unweighted(self, out, target, rows, data):
        """Objective (and report, or None) of outputs and targets of the same shape."""
        if data.n_outputs == 1:
            return torch.nn.functional.mse_loss(out, target), None  # one fused kernel
        per_field = (out - target).pow(2).mean(dim=(0, 1))
        return per_field.mean(), (per_field * data.g_scale.pow(2)).mean()

    def weighted(self, diff2, weight, rows, data):
        """Objective and report from squared errors and weights (0 leaves an entry out)."""
        count = (weight > 0).sum().clamp(min=1)
        if diff2.dim() == 2:
            total = (weight * diff2).sum()
            return total / count, total * data.g_scale[0].pow(2) / count
        per_field = (weight * diff2).sum(dim=(0, 1))
        return per_field.sum() / count, (per_field * data.g_scale.pow(2)).sum() / count


class RelativeL2Loss:
    """Squared relative L2 error of each (function, field), averaged.

    For function ``i`` and field ``c``: the mean squared error over its
    sampled points divided by the mean square of ``G`` over all its observed
    points (computed once before training), both in the units of G. This is
    the objective of FNO's recipes, and closer than the MSE to the
    per-function R2 of the paper. A function whose mean square is 0 is
    divided by the mean over functions instead. The report is the objective.
    """

    per_function = True

    def prepare(self, data):
        """Compute the per-(function, field) normalisation once."""
        ms = data.mean_square()
        fallback = ms.mean(dim=0, keepdim=True).clamp(min=1e-300)
        ms = torch.where(ms > 0, ms, fallback)
        dtype = data.G.dtype if not data.streamed else torch.float32
        data.inverse_mean_square = (data.g_scale.double().pow(2) / ms).to(dtype)

    def report_factor(self, data):
        """The report is the objective itself."""
        return 1.0

    def unweighted(self, out, target, rows, data):
        """Objective of outputs and targets of the same shape; report None."""
        return self.weighted((out - target).pow(2), None, rows, data)[0], None

    def weighted(self, diff2, weight, rows, data):
        """Objective from squared errors and weights (None: every entry counts)."""
        if diff2.dim() == 2:  # one output field
            diff2 = diff2.unsqueeze(-1)
            weight = None if weight is None else weight.unsqueeze(-1)
        inv = data.inverse_mean_square[rows]  # (batch, K)
        if weight is None:
            rel = diff2.mean(dim=1) * inv
            loss = rel.mean()
            return loss, None
        count = (weight > 0).sum(dim=1)  # (batch, K)
        rel = (weight * diff2).sum(dim=1) / count.clamp(min=1) * inv
        used = count > 0
        loss = torch.where(used, rel, 0.0).sum() / used.sum().clamp(min=1)
        return loss, None


#: ``loss=`` name -> loss class.
LOSSES = {
    "mse": MSELoss,
    "relative_l2": RelativeL2Loss,
}


# ---------------------------------------------------------------- schedules
def constant_schedule(progress):
    """A constant learning rate."""
    return 1.0, None


def cosine_schedule(progress):
    """Cosine annealing from ``learning_rate_init`` to zero."""
    return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0))), None


def onecycle_schedule(progress, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
    """One cycle (Smith): up to ``learning_rate_init`` in 30 % of the run, then down.

    As torch's ``OneCycleLR`` with its defaults: the rate starts at 1/25 of
    the peak and ends at 1/250,000 of it, cosine-shaped, and Adam's ``beta1``
    cycles between 0.95 and 0.85 against it.
    """
    p = min(max(progress, 0.0), 1.0)
    initial = 1.0 / div_factor
    final = initial / final_div_factor
    if p <= pct_start:
        q = 0.5 * (1.0 - math.cos(math.pi * p / pct_start))
        return initial + (1.0 - initial) * q, 0.95 - 0.10 * q
    q = 0.5 * (1.0 - math.cos(math.pi * (p - pct_start) / (1.0 - pct_start)))
    return 1.0 + (final - 1.0) * q, 0.85 + 0.10 * q


#: ``learning_rate=`` name -> ``schedule(progress) -> (lr factor, beta1 or None)``.
#: ``progress`` runs from 0 at the first step to 1 at the last, counted in
#: steps of ``max_iter`` epochs or in seconds of ``max_time``, whichever is
#: further along.
SCHEDULES = {
    "constant": constant_schedule,
    "cosine": cosine_schedule,
    "onecycle": onecycle_schedule,
}


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
    """Standardised outputs (batch, m, K) of ``rows`` at ``cols``."""
    b = network.encode_branch(data.U[rows])
    coords = data.coords
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


def trunk_evaluations(n_points, cols, path):
    """Trunk evaluations of one step: the grid, or the sampled points."""
    if cols is None or path == "grid":
        return n_points
    return cols.numel()


def step_objective(network, data, loss, rows, cols, weight, target, path):
    """The training objective (and report, or None) of one mini-batch, given its targets.

    The part of a step that :func:`torch.compile` compiles: tensors in,
    tensors out, no host synchronisation.
    """
    out = forward_at(network, data, rows, cols, path)
    if not data.has_missing and weight is None:
        return loss.unweighted(out, target, rows, data)
    finite = torch.isfinite(target)
    w = finite.to(out.dtype)
    if weight is not None:
        weight = weight if weight.dim() == 2 else weight.expand(rows.numel(), -1)
        w = w * (weight if target.dim() == 2 else weight.unsqueeze(-1))
    diff2 = torch.where(finite, out - torch.nan_to_num(target), 0.0).pow(2)
    return loss.weighted(diff2, w, rows, data)


def batch_loss(network, data, loss, rows, cols, weight, path):
    """The training objective on one mini-batch.

    Parameters
    ----------
    network : DeepONet
    data : TrainingData
    loss : a :data:`LOSSES` entry
    rows : LongTensor of shape (batch,)
    cols : LongTensor of shape (batch, m) or (m,), or None
    weight : Tensor broadcastable to (batch, m), or None
    path : {"grid", "pairs", "shared"}

    Returns
    -------
    objective : scalar Tensor
        What the optimizer minimises.
    report : scalar Tensor
        The loss in the units the history reports (G's units for "mse").
    n_trunk : int
        Number of trunk evaluations in this step.
    """
    target = data.targets(rows, cols)
    value, report = step_objective(network, data, loss, rows, cols, weight, target, path)
    if report is None:
        report = value * loss.report_factor(data)
    return value, report, trunk_evaluations(data.n_points, cols, path)


_COMPILED = {}


def compiled_objective(mode):
    """:func:`step_objective` compiled with ``torch.compile(mode=mode)`` (cached per mode).

    One compiled function per mode serves every fit of the process: dynamo
    guards on the shapes, dtypes and code paths it sees, recompiles once
    with symbolic sizes when a size changes (the last, smaller batch, an
    ``n_eval`` schedule), and reuses the result for later networks of the
    same architecture.
    """
    if mode not in _COMPILED:
        _COMPILED[mode] = torch.compile(step_objective, mode=None if mode == "default" else mode)
    return _COMPILED[mode]


def training_residuals(network, data):
    """Squared error (n_functions, n_points) on the training grid.

    Standardised units, summed over output fields, 0 where the target is
    missing; evaluated without gradients, in chunks of functions.
    """
    out = torch.empty(data.n_functions, data.n_points, device=data.device)
    was_training = network.training
    network.eval()
    with torch.no_grad():
        for rows in data.rows_in_chunks():
            pred = forward_at(network, data, rows, None, "grid")
            err = torch.nan_to_num((pred - data.targets(rows, None)).pow(2), nan=0.0)
            out[rows] = err.sum(dim=-1) if err.dim() == 3 else err
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


# ----------------------------------------------------------------- stopping
@dataclasses.dataclass
class StoppingState:
    """What early stopping and convergence remember across epochs and calls.

    Attributes
    ----------
    history : list of dict
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


# -------------------------------------------------------------------- loop
class Trainer:
    """Run epochs of mini-batch Adam on a DeepONet.

    Parameters
    ----------
    network : DeepONet
    optimizer : torch.optim.Optimizer
    sampler : a sampler (see ``skoperator.sampling``), set up
    data : TrainingData
    loss : a :data:`LOSSES` entry, prepared
    batch_size : int
    generator : torch.Generator
        Shuffles the functions every epoch and feeds the sampler.
    schedule : callable
        A :data:`SCHEDULES` entry.
    total_steps : int
        Steps planned (for the schedule's progress).
    max_time : float or None
        Seconds after which training ends (at the end of the running step).
    validation_fn : callable or None
        ``validation_fn(network) -> float`` score (higher is better) used for
        early stopping; None to stop on the training loss.
    tol : float or None
        Minimum improvement; None trains for every epoch asked.
    n_iter_no_change : int
    progress : callable
        ``progress(record, n_epochs)`` called after every epoch.
    compile_mode : str or None, default=None
        None runs the step eagerly; otherwise the mode of
        :func:`torch.compile` for the step's objective (forward and, through
        AOTAutograd, backward). Sampling and the gathering of targets stay
        outside the compiled region.
    mixed_precision : bool, default=False
        Run the objective under bfloat16 autocast.
    started : float, default=None
        The ``time.perf_counter()`` from which ``max_time`` counts (the start
        of ``fit``, so that validation, planning and the first use of torch's
        optimizers count too); None: now.
    lbfgs_iter : int, default=0
        L-BFGS iterations on the full training grid after the epochs (see
        :meth:`polish`); with ``max_time``, the epochs stop early enough to
        leave them their estimated time.
    """

    def __init__(self, network, optimizer, sampler, data, loss, *, batch_size, generator,
                 schedule, total_steps, max_time, validation_fn, tol, n_iter_no_change,
                 progress, compile_mode=None, mixed_precision=False, lbfgs_iter=0,
                 started=None):
        self.network = network
        self.optimizer = optimizer
        self.sampler = sampler
        self.data = data
        self.loss = loss
        self.batch_size = batch_size
        self.generator = generator
        self.schedule = schedule
        self.total_steps = max(1, total_steps)
        self.max_time = max_time
        self.validation_fn = validation_fn
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.progress = progress
        self.lr0 = [group["lr"] for group in optimizer.param_groups]
        self.step_count = 0
        self.lbfgs_iter = lbfgs_iter
        self.start = time.perf_counter() if started is None else started
        self.deadline = max_time
        if lbfgs_iter and max_time is not None:
            # Leave the L-BFGS iterations their time: one full-grid evaluation
            # (forward and backward) timed now, about 1.3 of them per iteration.
            tic = time.perf_counter()
            self._full_grid_objective(backward=True)
            self.network.zero_grad(set_to_none=True)
            reserve = 1.3 * lbfgs_iter * (time.perf_counter() - tic)
            self.deadline = max(0.5 * max_time, max_time - reserve)
        self.objective = step_objective if compile_mode is None else compiled_objective(
            compile_mode)
        self.mixed_precision = mixed_precision
        table = getattr(network.trunk, "table", False)
        self.trunk_flops = 0 if table else 2 * sum(p.numel() for p in network.trunk.parameters())
        self.trunk_width = network.trunk_fields * network.n_basis

    # -- one step
    def path(self, cols, batch):
        """Which trunk evaluation a step with these columns takes."""
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
        if self.schedule is constant_schedule:
            return
        factor, beta1 = self.schedule(self.progress_fraction())
        for group, lr0 in zip(self.optimizer.param_groups, self.lr0):
            group["lr"] = lr0 * factor
            if beta1 is not None:
                group["betas"] = (beta1, group["betas"][1])

    def train_step(self, rows):
        """One optimizer step on the functions ``rows``.

        Returns the objective, the report (None: the objective times the
        loss's report factor) and the trunk evaluations.
        """
        cols, weight = self.sampler.sample(rows, self.generator)
        self._apply_schedule()
        target = self.data.targets(rows, cols)
        path = self.path(cols, rows.numel())
        if self.mixed_precision:
            with torch.autocast(self.data.device.type, dtype=torch.bfloat16):
                value, report = self.objective(self.network, self.data, self.loss, rows, cols,
                                               weight, target, path)
        else:
            value, report = self.objective(self.network, self.data, self.loss, rows, cols,
                                           weight, target, path)
        self.optimizer.zero_grad(set_to_none=True)
        value.backward()
        self.optimizer.step()
        self.step_count += 1
        return (value.detach(), None if report is None else report.detach(),
                trunk_evaluations(self.data.n_points, cols, path))

    def time_is_up(self, deadline=None):
        deadline = self.deadline if deadline is None else deadline
        return deadline is not None and time.perf_counter() - self.start >= deadline

    def _full_grid_objective(self, backward):
        """The objective on every training function at every point (chunked).

        With ``backward``, gradients are accumulated. Returns (objective,
        report) as floats.
        """
        data = self.data
        chunks = list(data.rows_in_chunks())
        if data.has_missing and not self.loss.per_function:
            counts = [float(torch.isfinite(data.targets(rows, None)).sum()) for rows in chunks]
        else:
            counts = [float(rows.numel()) for rows in chunks]
        total = sum(counts)
        value = report = 0.0
        for rows, count in zip(chunks, counts):
            with torch.set_grad_enabled(backward):
                v, r = step_objective(self.network, data, self.loss, rows, None, None,
                                      data.targets(rows, None), "grid")
                if backward:
                    (v * (count / total)).backward()
            v = float(v.detach())
            r = v * self.loss.report_factor(data) if r is None else float(r.detach())
            value += v * count / total
            report += r * count / total
        return value, report

    def polish(self, state):
        """L-BFGS on the full training grid, after the epochs; appends one record.

        ``lbfgs_iter`` iterations of :class:`torch.optim.LBFGS` (strong Wolfe
        line search, history 50) on the full-grid objective, in rounds of 20
        that stop at ``max_time``. Diverging weights are put back as they
        were before the polish.

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

        def closure():
            lbfgs.zero_grad(set_to_none=True)
            return torch.tensor(self._full_grid_objective(backward=True)[0])

        done, reason = 0, None
        try:
            while done < self.lbfgs_iter:
                lbfgs.param_groups[0]["max_iter"] = min(20, self.lbfgs_iter - done)
                lbfgs.step(closure)
                done += lbfgs.param_groups[0]["max_iter"]
                if self.time_is_up(self.max_time):
                    reason = "max_time"
                    break
        except KeyboardInterrupt:
            reason = "interrupted"
        value, report = self._full_grid_objective(backward=False)
        if not (np.isfinite(value) and np.isfinite(report)):
            restore(self.network, good)
            value, report = self._full_grid_objective(backward=False)
        record = {
            "epoch": len(state.history) + 1,
            "train_loss": report,
            "valid_score": None,
            "seconds": None,
            "trunk_evals": None,
            "n_eval": self.data.n_points,
            "learning_rate": None,
            "solver": "lbfgs",
            "lbfgs_iter": done,
        }
        if self.validation_fn is not None:
            record["valid_score"] = self.validation_fn(self.network)
            if record["valid_score"] < state.best_score and state.best_weights is not None:
                restore(self.network, state.best_weights)  # the polish did not generalise
        record["seconds"] = time.perf_counter() - tic
        state.history.append(record)
        self.progress(record, None)
        return reason

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
        perm = torch.randperm(n, generator=self.generator, device=device)
        total = torch.zeros((), device=device)
        total_report = None
        n_trunk = seen = 0
        out_of_time = False
        check_time = self.deadline is not None
        for start in range(0, n, self.batch_size):
            rows = perm[start:start + self.batch_size]
            objective, report, k = self.train_step(rows)
            total.add_(objective, alpha=rows.numel())
            if report is not None:  # losses that report something else than the objective
                if total_report is None:
                    total_report = torch.zeros((), device=device)
                total_report.add_(report, alpha=rows.numel())
            n_trunk += k
            seen += rows.numel()
            if check_time and self.time_is_up():
                out_of_time = start + self.batch_size < n
                break
        if total_report is None:
            mean = float(total) / seen
            return mean, mean * self.loss.report_factor(self.data), n_trunk, out_of_time
        mean = (torch.stack([total, total_report]) / seen).tolist()
        return mean[0], mean[1], n_trunk, out_of_time

    def residuals(self):
        """Squared error of the current model at every training (function, point)."""
        return training_residuals(self.network, self.data)

    def run(self, n_epochs, state):
        """Train for up to ``n_epochs`` epochs, then polish; updates ``state`` in place.

        Returns the reason training ended: "max_iter", "converged",
        "max_time" or "interrupted". Raises ValueError on divergence, after
        restoring the weights from before the failing epoch.
        """
        reason = self.run_epochs(n_epochs, state)
        if self.lbfgs_iter and reason != "interrupted":
            reason = self.polish(state) or reason
        return reason

    def run_epochs(self, n_epochs, state):
        """The Adam epochs of :meth:`run`."""
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
                return "interrupted"
            if not (np.isfinite(objective) and np.isfinite(report)):
                restore(self.network, good)
                raise ValueError(
                    f"Training diverged at epoch {len(history) + 1}: the loss became "
                    f"{report}. The weights from before that epoch were restored. Likely "
                    "causes: learning_rate_init too large, or inputs/outputs with extreme "
                    "values (keep standardize=True, or scale U and G). Lower "
                    "learning_rate_init and fit again."
                )
            record = {
                "epoch": len(history) + 1,
                "train_loss": report,
                "valid_score": None,
                "seconds": None,
                "trunk_evals": n_trunk,
                "n_eval": n_eval,
                "learning_rate": self.optimizer.param_groups[0]["lr"],
                "solver": "adam",
            }
            if self.validation_fn is not None:
                record["valid_score"] = self.validation_fn(self.network)
            record["seconds"] = time.perf_counter() - tic
            history.append(record)
            self.progress(record, n_epochs)
            if self._update_stopping(record, objective, state):
                self._restore_best(state)
                return "converged"
            if out_of_time or self.time_is_up():
                self._restore_best(state)
                return "max_time"
        self._restore_best(state)
        return "max_iter"

    def _update_stopping(self, record, objective, state):
        if self.validation_fn is not None:
            score = record["valid_score"]
            improved = score > state.best_score + (self.tol or 0.0)
            if score > state.best_score:
                state.best_score = score
                state.best_weights = snapshot(self.network)
        else:
            improved = objective < state.best_loss - (self.tol or 0.0)
            state.best_loss = min(objective, state.best_loss)
        state.no_improvement = 0 if improved else state.no_improvement + 1
        return self.tol is not None and state.no_improvement >= self.n_iter_no_change

    def _restore_best(self, state):
        if self.validation_fn is not None and state.best_weights is not None:
            restore(self.network, state.best_weights)
