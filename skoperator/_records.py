"""What the training loop records and remembers: epoch records, stopping state, snapshots."""

import dataclasses
from typing import Optional

import numpy as np
import torch


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
        Trunk evaluations of the data term in the epoch (0 when a physics
        term trains alone, on entirely missing targets).
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
        """A copy that continues from ``history`` (a ``warm_start`` or ``partial_fit`` call).

        Early stopping starts afresh: the call holds out functions of its
        own (its split is drawn anew), so an earlier call's best score,
        measured on other functions, is no yardstick; the call scores its
        starting weights on its split first, then stops, and restores the
        best weights (the starting ones included), on its own scores.
        """
        return dataclasses.replace(self, history=list(history), best_weights=None,
                                   best_score=-np.inf, no_improvement=0)


@dataclasses.dataclass
class EpochRun:
    """Where an epoch is: what a checkpoint between two steps needs to continue it exactly.

    Attributes
    ----------
    epoch : int
        Index of the epoch in this call (from 0).
    n_eval : int
        The sampler's points per function in this epoch.
    perm : Tensor
        The epoch's order of the functions.
    total : Tensor
        Sum of the steps' objectives, weighted by their batch sizes.
    total_report : Tensor or None
        The same of the loss's reports (losses that report something else).
    n_trunk : int
        Trunk evaluations so far.
    seen : int
        Functions seen so far.
    next_start : int
        Position in ``perm`` of the next mini-batch.
    seconds : float
        Wall time of the epoch before a resume.
    """

    epoch: int
    n_eval: int
    perm: torch.Tensor
    total: torch.Tensor
    total_report: Optional[torch.Tensor] = None
    n_trunk: int = 0
    seen: int = 0
    next_start: int = 0
    seconds: float = 0.0


#: Exit code of a fit stopped by a preemption signal after writing its checkpoint
#: (``EX_TEMPFAIL`` of ``sysexits.h``: a temporary failure; run the job again).
PREEMPTED = 75


class Preempted(SystemExit):
    """A preemption signal (SIGTERM, SIGUSR1) stopped the fit after its checkpoint.

    A ``SystemExit`` with code :data:`PREEMPTED` (75): uncaught, the
    process exits with it, and a requeued job resumes from the checkpoint.

    Parameters
    ----------
    signum : int
        The signal received.
    """

    def __init__(self, signum):
        super().__init__(PREEMPTED)
        self.signum = signum


@dataclasses.dataclass
class PolishProgress:
    """A progress event of the L-BFGS polish (passed to ``progress`` like an epoch's record).

    Attributes
    ----------
    done : int
        L-BFGS iterations done.
    total : int
        Iterations planned (``lbfgs_iter``).
    seconds_per_iteration : float or None
        Estimated seconds per iteration, announced before the epochs (None
        when not measured).
    running : bool
        False for the announcement before the epochs (so that the time left
        counts the polish), True while the polish runs.
    """

    done: int
    total: int
    seconds_per_iteration: Optional[float] = None
    running: bool = True
