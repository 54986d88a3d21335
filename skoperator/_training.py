"""The one training loop: epochs of mini-batch Adam, then an optional L-BFGS polish.

``Trainer.run -> run_epochs -> run_epoch -> train_step ->
step_objective``: ``step_objective`` (:mod:`skoperator._objective`) computes
the residuals of one mini-batch and hands them, with their weights, to the
loss component; it is the part :func:`torch.compile` compiles. With a
process group each step reduces its gradients over the ranks
(:mod:`skoperator._distributed`). After the epochs, :func:`~skoperator._polish.polish`
runs the L-BFGS polish; :mod:`skoperator._records` holds the history's
records and the early-stopping state.

The names of the training modules are re-exported here, where the rest of
the package and the tests import them.
"""

import time

import numpy as np
import torch

from ._compiling import CompiledObjective
from ._objective import (  # noqa: F401  (re-exported)
    TableGram,
    TrainingData,
    check_sample,
    choose_trunk_path,
    chunk_share,
    full_grid_objective,
    grid_chunks,
    physics_objective,
    step_objective,
    step_share,
    training_residuals,
    trunk_evaluations,
)
from ._polish import polish, polish_objective, seconds_per_iteration  # noqa: F401
from ._prefetch import BatchPrefetch
from ._records import (  # noqa: F401  (re-exported)
    EpochRecord,
    EpochRun,
    PolishProgress,
    Preempted,
    StoppingState,
    restore,
    snapshot,
)


class Trainer:
    """Run epochs of mini-batch Adam on a DeepONet, then an optional L-BFGS polish.

    Parameters
    ----------
    plan : FitPlan
        Everything the fit needs (network, optimizer, sampler, data, loss,
        schedule, budgets and stopping rules); see ``skoperator._planning``.
    progress : CallbackList
        The fit's callbacks: ``progress(record)`` after every epoch (True:
        stop), ``progress.start(trainer)`` before the first step,
        ``progress.preempted(trainer)`` on a preemption signal.
    state : StoppingState, default=None
        The stopping state :meth:`run` updates (a checkpoint restores it
        before the run).
    """

    def __init__(self, plan, progress, state=None):
        self.plan = plan
        self.network, self.optimizer, self.sampler = plan.network, plan.optimizer, plan.sampler
        self.data, self.loss, self.generator = plan.data, plan.loss, plan.generator
        self.progress = progress
        self.lr0 = [group["lr"] for group in self.optimizer.param_groups]
        self.step_count = 0
        self.total_steps = max(1, plan.total_steps)
        self.start = plan.started
        self.deadline = plan.max_time
        self.objective = step_objective if plan.compile_mode is None else CompiledObjective(
            step_objective, None if plan.compile_mode == "default" else plan.compile_mode,
            plan.network)
        table = self.network.trunk_is_table
        self.trunk_flops = 0 if table else 2 * sum(
            p.numel() for p in self.network.trunk.parameters())
        self.trunk_width = self.network.trunk_fields * self.network.n_basis
        # full-grid steps over a fixed table trunk (POD) skip the grid (TableGram, built
        # at the first such step): worth its precomputation, about one full-grid
        # forward pass, from two epochs on
        self.gram_pays = (plan.has_data
                          and plan.total_steps * plan.batch_size >= 2 * self.data.n_functions
                          and TableGram.applies(self.network, self.data, self.loss))
        self.checked = False
        self.reports = False
        self.comm = plan.comm
        self.params = [p for p in self.network.parameters() if p.requires_grad]
        self.clip = plan.optimizer_spec.clip_grad_norm
        # where the fit is: a checkpoint resumes it from here (skoperator._checkpoint)
        self.first_epoch, self.current, self.preempt = 0, None, None
        self.epoch_tic = time.perf_counter()  # when the current epoch began (its seconds)
        self.state, self.finished, self.resumed, self.fingerprint = state, None, False, None
        # streamed targets: the next batch read in a thread (not with ranks or a physics
        # term, which draws from the generator within a step)
        self.batches = BatchPrefetch(self.data, self.sampler, self.generator, enabled=(
            self.data.streamed and plan.physics is None and self.comm.world_size == 1),
            check=self._check_sample, reads=self._reads_targets)

    def _check_sample(self, cols, weight, n_rows):
        """The sampler's first draws against its protocol (before any target is read)."""
        if not self.checked:
            check_sample(self.sampler, cols, weight, n_rows, self.data.n_points)
            self.checked = True

    def _reads_targets(self, cols):
        """Whether a step at ``cols`` uses its targets (a Gram step has them in its sums)."""
        return not (cols is None and not self.data.per_function
                    and (self.gram_pays or self.data.gram is not None))

    # -- one step
    def path(self, cols, batch):
        """Which trunk evaluation a step with these columns takes."""
        if self.data.per_function:
            return "pairs"
        if cols is None:
            if self.gram_pays and self.data.gram is None:
                self.data.gram = TableGram(self.network, self.data)
            return "grid" if self.data.gram is None else "gram"
        if cols.dim() == 1:
            return "shared"
        return choose_trunk_path(self.data.n_points, batch, cols.shape[1], self.trunk_flops,
                                 self.trunk_width)

    def progress_fraction(self):
        """How far the schedule is: steps of the plan or seconds of ``max_time``."""
        p = self.step_count / max(1, self.total_steps - 1)
        if self.deadline is not None:
            p = max(p, (time.perf_counter() - self.start) / self.deadline)
        return min(p, 1.0)  # past the deadline: the schedule's end, never beyond

    def _apply_schedule(self):
        factor, beta1 = self.plan.schedule(self.progress_fraction())
        for group, lr0 in zip(self.optimizer.param_groups, self.lr0):
            group["lr"] = lr0 * factor
            if beta1 is not None:
                self.plan.optimizer_spec.set_momentum(group, beta1)

    def train_step(self, rows, next_rows=None):
        """One optimizer step on the functions ``rows`` (then ``next_rows``: read ahead).

        Returns the objective, the report (None: the objective times the
        loss's report factor), the trunk evaluations and, with a process
        group, whether any rank's time is up (None otherwise).
        """
        if self.comm.world_size > 1:
            return self._distributed_step(rows)
        n_trunk = 0
        cols = weight = target = path = None  # the residual alone: nothing to draw or read
        if self.plan.has_data:
            cols, weight, target = self.batches.batch(rows, next_rows)
            path = self.path(cols, rows.numel())
            n_trunk = trunk_evaluations(self.data.n_points, cols, path, rows.numel(),
                                        self.data.per_function)
        self._apply_schedule()
        value, report = self._objective(rows, cols, weight, target, path)
        self.optimizer.zero_grad(set_to_none=True)
        value.backward()
        self._step()
        return (value.detach(), None if report is None else report.detach(), n_trunk, None)

    def _step(self):
        """The optimizer's step, after clipping the gradients' global norm."""
        if self.clip is not None:
            torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        self.optimizer.step()
        self.step_count += 1

    def _objective(self, rows, cols, weight, target, path, factors=None):
        """Data objective (and report) plus, with ``physics``, its weighted residual term.

        ``factors`` (with ranks, data and physics weighed apart): the
        factors of the data part and of the physics term.
        """
        if self.plan.mixed_precision:
            with torch.autocast(self.data.device.type, dtype=torch.bfloat16):
                return self._terms(rows, cols, weight, target, path, factors)
        return self._terms(rows, cols, weight, target, path, factors)

    def _terms(self, rows, cols, weight, target, path, factors=None):
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
        if factors is not None:
            data, phys = factors
            return value * data + term * phys, report * data + term * phys
        return value + term, report + term

    def _distributed_step(self, rows):
        """:meth:`train_step` of one rank: its rows, then gradients reduced over the ranks.

        Each rank's gradient is weighted by its share of the global batch's
        loss (:func:`~skoperator._objective.step_share`). With ``physics``
        and missing targets the data part (a mean over observed entries) and
        the physics term (a mean over functions) weigh differently: the
        ranks first sum both counts, and each rank's objective is scaled to
        its part of the global one.
        """
        self.optimizer.zero_grad(set_to_none=True)
        value = torch.zeros((), device=self.data.device)
        report, n_trunk, share = None, 0, 0.0
        apart = (self.plan.physics is not None and self.plan.has_data
                 and self.data.has_missing)
        if rows.numel() and not self.plan.has_data:  # the residual alone: nothing to draw
            share = float(rows.numel())
            value, report = self._objective(rows, None, None, None, None)
            value.backward()
        elif rows.numel():
            cols, weight = self.sampler.sample(rows, self.generator)
            if not self.checked:
                check_sample(self.sampler, cols, weight, rows.numel(), self.data.n_points)
                self.checked = True
            target = self.data.targets(rows, cols) if self._reads_targets(cols) else None
            path = self.path(cols, rows.numel())
            share = step_share(self.loss, self.data, rows, target, weight)
            factors = self._factors(share, rows.numel()) if apart else None
            value, report = self._objective(rows, cols, weight, target, path, factors)
            value.backward()
            n_trunk = trunk_evaluations(self.data.n_points, cols, path, rows.numel(),
                                        self.data.per_function)
        elif apart:
            self._factors(0.0, 0)  # every rank takes part in the sum of the counts
        if apart:  # the objectives are scaled already: a plain mean over the ranks
            share = 1.0
        self._apply_schedule()
        if rows.numel():  # whether the loss reports is learnt on the first step (never empty)
            self.reports = report is not None
        elif self.reports:
            report = torch.zeros((), device=self.data.device)
        values = [value.detach()] + ([] if report is None else [report.detach()])
        out_of_time, values = self.comm.reduce_step(
            self.params, share,
            self.preempt is not None or (self.deadline is not None and self.time_is_up()),
            values)
        self._step()
        # the objective (and report) of the global batch, the same on every rank
        return values[0], (values[1] if len(values) > 1 else None), n_trunk, out_of_time

    def _factors(self, data_share, n_rows):
        """Factors of this rank's data part and physics term: their parts of the global batch's.

        Times the number of ranks, since the ranks' gradients are then averaged.
        """
        data_total, rows_total = self.comm.sum([data_share, float(n_rows)])
        world = self.comm.world_size
        return world * data_share / max(data_total, 1.0), world * n_rows / max(rows_total, 1.0)

    def time_is_up(self, deadline=None):
        deadline = self.deadline if deadline is None else deadline
        return deadline is not None and time.perf_counter() - self.start >= deadline

    def time_is_up_everywhere(self, deadline=None):
        """:meth:`time_is_up` on any rank (the same answer on every rank)."""
        if self.comm.world_size == 1:
            return self.time_is_up(deadline)
        return self.comm.sum([float(self.time_is_up(deadline))])[0] > 0

    def new_epoch(self, epoch):
        """Start epoch ``epoch`` of this call: the sampler's epoch, then the permutation."""
        n_eval = self.sampler.start_epoch(epoch)
        # a sampler's own order (BaseSampler.order), or uniformly random for a sampler
        # that follows the protocol without deriving from BaseSampler
        order = getattr(self.sampler, "order", None)
        n, generator = self.data.n_functions, self.plan.perm_generator
        perm = (order(n, generator) if order is not None
                else torch.randperm(n, generator=generator, device=self.data.device))
        return EpochRun(epoch=epoch, n_eval=n_eval, perm=perm,
                        total=torch.zeros((), device=self.data.device))

    def run_epoch(self):
        """One pass over the functions (or until ``max_time``), from where ``current`` is.

        After every step ``current`` (an :class:`~skoperator._records.EpochRun`)
        says where the epoch is, so that a checkpoint can be written between
        any two steps and the epoch continued exactly from it.

        Returns
        -------
        objective, report : float
            Means over the functions seen.
        n_trunk : int
            Trunk evaluations.
        out_of_time : bool
            Whether ``max_time`` ended the epoch.
        """
        run = self.current
        n = self.data.n_functions
        batch_size = self.plan.batch_size * self.comm.world_size  # the global batch
        out_of_time = False
        check_time = self.deadline is not None
        while run.next_start < n:
            start = run.next_start
            batch = run.perm[start:start + batch_size]
            ahead = run.perm[start + batch_size:start + 2 * batch_size]
            # with ranks: the objective of the global batch, the same on every rank
            objective, report, k, stop = self.train_step(self.comm.split(batch), ahead)
            run.total.add_(objective, alpha=batch.numel())
            if report is not None:  # losses that report something else than the objective
                if run.total_report is None:
                    run.total_report = torch.zeros((), device=self.data.device)
                run.total_report.add_(report, alpha=batch.numel())
            run.n_trunk += k
            run.seen += batch.numel()
            run.next_start = start + batch_size
            stop = stop if stop is not None else (check_time and self.time_is_up())
            if stop:  # a batch drawn ahead and not trained: undrawn
                self.batches.discard()
            if self.preempted(stop):
                raise Preempted(self.preempt)
            if stop:
                out_of_time = run.next_start < n
                break
        n_trunk = run.n_trunk
        if self.comm.world_size > 1:  # trunk evaluations of every rank
            n_trunk = int(self.comm.sum([n_trunk])[0])
        if run.total_report is None:
            mean = float(run.total) / run.seen
            return mean, mean * self.loss.report_factor(), n_trunk, out_of_time
        mean = (torch.stack([run.total, run.total_report]) / run.seen).tolist()
        return mean[0], mean[1], n_trunk, out_of_time

    def polish_preempted(self):
        """Whether a preemption signal arrived (on any rank) during the L-BFGS polish.

        The polish is not checkpointed: the fit stops after the current
        round, and the resumed fit polishes again from its last checkpoint.
        """
        if self.comm.world_size > 1:
            self._share_signal()
        return self.preempt is not None

    def _share_signal(self):
        """Every rank takes a preemption signal that any rank received (a collective)."""
        signum = self.comm.sum([float(self.preempt or 0)])[0]
        self.preempt = self.preempt or (int(signum) if signum else None)

    def preempted(self, stop):
        """Whether a preemption signal arrived (on any rank): then checkpoint and stop.

        With ranks the signal is looked for only when a step's reduction
        said that some rank stops (a signal sets this rank's stop flag).
        """
        if self.comm.world_size > 1:
            if not stop:
                return False
            self._share_signal()
        if self.preempt is None:
            return False
        self.batches.discard()  # the checkpoint holds no draw ahead
        self.progress.preempted(self)
        return True

    def run(self, n_epochs, state):
        """Train for up to ``n_epochs`` epochs, then polish; updates ``state`` in place.

        Returns the reason training ended: "max_iter", "converged",
        "max_time" or "callback" (a callback stopped it). Raises ValueError
        on divergence, after restoring the weights from before the failing
        epoch. On ``KeyboardInterrupt`` the
        best weights so far are put back and the interrupt propagates.
        """
        try:
            return self._run(n_epochs, state)
        finally:  # no read-ahead thread outlives the fit, also on an error or an interrupt
            self.batches.close()

    def _run(self, n_epochs, state):
        self.state = state
        self.progress.start(self)  # the callbacks' fit start: a Checkpoint may resume here
        if self.finished is not None:  # resumed from the checkpoint of a finished fit
            return self.finished
        lbfgs_iter = self.plan.lbfgs_iter
        if lbfgs_iter:
            # Leave the L-BFGS iterations their time within max_time, and
            # count them in the time left that the progress display shows.
            per_iteration = None
            if self.plan.max_time is not None:
                per_iteration = seconds_per_iteration(self.plan)
                self.deadline = max(0.5 * self.plan.max_time,
                                    self.plan.max_time - lbfgs_iter * per_iteration)
            elif self._time_left_shown():
                per_iteration = seconds_per_iteration(self.plan, keep_state=True)
            self.progress(PolishProgress(0, lbfgs_iter, per_iteration, running=False))
        reason = self.run_epochs(n_epochs, state)
        if lbfgs_iter:
            reason = polish(self, state) or reason
        return reason

    def _time_left_shown(self):
        """Whether the progress display (rank 0's, with ranks) shows the time left."""
        shown = float(bool(getattr(self.progress, "shows_time_left", False)))
        return (shown if self.comm.world_size == 1 else self.comm.sum([shown])[0]) > 0

    def run_epochs(self, n_epochs, state):
        """The Adam epochs of :meth:`run`.

        On ``KeyboardInterrupt`` the weights of the last completed epoch (or,
        with early stopping, of the best one) are put back before the
        interrupt propagates.
        """
        history = state.history
        if self.plan.continuing and self.plan.validation_fn is not None and \
                self.first_epoch == 0 and state.best_weights is None:
            # a warm start's candidates include its starting weights, on its own split
            state.best_score = self.plan.validation_fn(self.network)
            state.best_weights = snapshot(self.network)
        if self.resumed and self.current is None and history and self._stopped(state):
            # resumed from the checkpoint of the epoch that met the tolerance: it stopped there
            self._restore_best(state)
            return "converged"
        for epoch in range(self.first_epoch, n_epochs):
            good = snapshot(self.network)
            tic = time.perf_counter()
            try:
                if self.current is None:  # else: resumed in the middle of this epoch
                    self.current = self.new_epoch(epoch)
                tic -= self.current.seconds
                self.epoch_tic = tic
                objective, report, n_trunk, out_of_time = self.run_epoch()
            except KeyboardInterrupt:
                restore(self.network, good)
                self._restore_best(state)
                raise
            n_eval, self.current = self.current.n_eval, None
            if not (np.isfinite(objective) and np.isfinite(report)):
                restore(self.network, good)
                raise ValueError(
                    f"Training diverged at epoch {len(history) + 1}: the loss became "
                    f"{report}. The model was left as it was before fit. Likely causes: "
                    "learning_rate_init too large, or inputs/outputs with extreme values "
                    "(keep standardize=True, or scale U and G). Lower learning_rate_init "
                    "(or clip the gradients: optimizer=Adam(clip_grad_norm=1.0)) and fit "
                    "again."
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
                self.first_epoch = epoch + 1
                stop = self.progress(record)
            except KeyboardInterrupt:
                if record not in history:
                    restore(self.network, good)
                self._restore_best(state)
                raise
            if converged or stop:
                self._restore_best(state)
                return "converged" if converged else "callback"
            if out_of_time or self.time_is_up_everywhere():
                self._restore_best(state)
                return "max_time"
        self._restore_best(state)
        return "max_iter"

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
        return self._stopped(state)

    def _stopped(self, state):
        """Whether the tolerance is met: ``n_iter_no_change`` epochs without improvement."""
        return self.plan.tol is not None and state.no_improvement >= self.plan.n_iter_no_change

    def _restore_best(self, state):
        if self.plan.validation_fn is not None and state.best_weights is not None:
            restore(self.network, state.best_weights)
