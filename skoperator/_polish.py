"""The L-BFGS polish: full-batch L-BFGS on the training grid after the Adam epochs.

:func:`polish` runs the optimizer's ``polish`` iterations of :class:`torch.optim.LBFGS`
on :func:`polish_objective` (the data loss on the full training grid, plus
the physics term at collocation points fixed for the whole polish), reports
its progress iteration by iteration (:class:`~skoperator._records.PolishProgress`)
and appends one record to the history. :func:`seconds_per_iteration`
estimates its cost beforehand, for ``max_time`` and for the time left shown
by the progress display.
"""

import time

import numpy as np
import torch

from ._objective import full_grid_objective, physics_objective
from ._records import EpochRecord, PolishProgress, Preempted, restore, snapshot

#: Iterations per call of ``LBFGS.step`` (its ``max_iter``): ``max_time`` is
#: checked between them.
ROUND = 20

#: Evaluations of the objective (forward and backward) per L-BFGS iteration,
#: about, with the strong Wolfe line search.
EVALUATIONS_PER_ITERATION = 1.3


def polish_objective(plan, backward=False, seed=0):
    """(objective, report) of the L-BFGS polish, as floats.

    The data loss on the full training grid when there is data, plus, with
    ``physics``, its term over every training function at collocation points
    fixed by ``seed`` (:func:`~skoperator._objective.physics_objective`).
    With ``backward`` the gradients accumulate in the network.
    """
    value = report = 0.0
    if plan.has_data:
        value, report = full_grid_objective(plan.network, plan.data, plan.loss,
                                            backward=backward, comm=plan.comm)
    if plan.physics is not None:
        term = physics_objective(plan.physics, plan.network, plan.data, seed,
                                 backward=backward, comm=plan.comm)
        value, report = value + term, report + term
    return value, report


def seconds_per_iteration(plan, keep_state=False):
    """Estimated seconds per L-BFGS iteration: one evaluation timed now, times 1.3.

    With ``keep_state`` the network's parameters and buffers and the random
    generators are put back afterwards, so that the estimate (wanted only by
    the progress display) changes nothing of the fit.
    """
    network = plan.network
    saved = snapshot(network) if keep_state else None
    devices = [plan.data.device.index or 0] if plan.data.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, enabled=keep_state):
        tic = time.perf_counter()
        polish_objective(plan, backward=True, seed=0)
        seconds = time.perf_counter() - tic
    network.zero_grad(set_to_none=True)
    if saved is not None:
        restore(network, saved)
    return EVALUATIONS_PER_ITERATION * seconds


def polish(trainer, state):
    """L-BFGS on the full training grid, after the epochs; appends one record.

    ``polish.max_iter`` iterations of :class:`torch.optim.LBFGS` (strong
    Wolfe line search; the optimizer's :class:`~skoperator.optimizers.LBFGS`)
    on the full-grid objective, in rounds of 20 that stop at ``max_time``.
    With ``physics`` the objective adds its term
    over every training function, at collocation points drawn once for the
    polish (L-BFGS needs a fixed objective). Diverging weights are put back
    as they were before the polish; with early stopping, so are weights that
    validate worse than the best epoch. ``trainer.progress`` gets a
    :class:`~skoperator._records.PolishProgress` as each iteration starts,
    then the polish's record.

    Parameters
    ----------
    trainer : Trainer
        The training loop (its plan, generator, clock and progress).
    state : StoppingState
        Updated in place (the record appended).

    Returns
    -------
    reason : str or None
        "max_time" if the budget ended the polish, else None.
    """
    plan, network = trainer.plan, trainer.network
    total = plan.lbfgs_iter
    tic = time.perf_counter()
    good = snapshot(network)
    params = [p for p in network.parameters() if p.requires_grad]
    lbfgs = plan.optimizer_spec.polish.build(params, ROUND)

    # One seed for the whole polish: the same collocation points at every
    # evaluation (drawn from the fit's generator, so set by random_state).
    seed = int(torch.randint(0, 2**62, (1,), generator=trainer.generator,
                             device=trainer.generator.device))
    shown = [-1]

    def show(done):
        if done > shown[0]:
            shown[0] = done
            trainer.progress(PolishProgress(done, total))

    def closure():
        # LBFGS counts its iterations in its state; the current one is not done
        show(max(0, lbfgs.state[params[0]].get("n_iter", 0) - 1) if params else 0)
        lbfgs.zero_grad(set_to_none=True)
        return torch.tensor(polish_objective(plan, backward=True, seed=seed)[0])

    def ran():  # iterations LBFGS ran (fewer than asked once its tolerances are met)
        return lbfgs.state[params[0]].get("n_iter", 0) if params else 0

    done, reason = 0, None
    try:
        while done < total:
            lbfgs.param_groups[0]["max_iter"] = min(ROUND, total - done)
            lbfgs.step(closure)
            done += lbfgs.param_groups[0]["max_iter"]
            show(min(done, ran()) if params else done)
            if trainer.polish_preempted():
                raise Preempted(trainer.preempt)
            if trainer.time_is_up_everywhere(plan.max_time):
                reason = "max_time"
                break
    except KeyboardInterrupt:
        restore(network, good)
        raise
    value, report = polish_objective(plan, seed=seed)
    if not (np.isfinite(value) and np.isfinite(report)):
        restore(network, good)
        value, report = polish_objective(plan, seed=seed)
    record = EpochRecord(epoch=len(state.history) + 1, train_loss=report,
                         n_eval=plan.data.n_points, solver="lbfgs",
                         lbfgs_iter=min(done, ran()) if params else 0)
    if plan.validation_fn is not None:
        record.valid_score = plan.validation_fn(network)
        if record.valid_score < state.best_score and state.best_weights is not None:
            restore(network, state.best_weights)  # the polish did not generalise
        else:  # the polished weights are kept: they are the best
            state.best_score = record.valid_score
    record.seconds = time.perf_counter() - tic
    state.history.append(record)
    trainer.progress(record)
    return reason
