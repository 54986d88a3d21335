"""The fitted state of a DeepONetRegressor, as one typed value.

A fitted estimator is assembled (``fit``), stored, saved and loaded
(:mod:`skoperator.io`), and split into ensemble members
(:mod:`skoperator.uncertainty`) through :class:`FittedState`:
``DeepONetRegressor._fitted_state()`` reads one, and
``DeepONetRegressor._set_fitted(state)`` is the one place that writes the
fitted attributes of an estimator. Tensors live in the network and the Adam
state; the rest is plain values.
"""

import copy
import dataclasses
from typing import Any, Optional

import numpy as np
import torch

from ._device import to_cpu
from ._training import StoppingState

#: Attributes of a fitted component that are run-time links to one fit (the
#: training data, generators, the network), not results: the exposed copies
#: (``sampler_``, ``loss_``, ``physics_``) drop them.
_RUN_TIME = ("context", "context_")


def released(component):
    """The fit's copy of a component, without its links to the run.

    The copy keeps the component's settings and its public fitted attributes
    (names ending in ``_``, such as ``PDEResidual.n_points_``), with tensors on
    the CPU; private working state and the fit's context (which holds the
    training tensors and generators) are dropped, so that the estimator
    pickles, keeps no training data alive, and the attributes can be read.

    Parameters
    ----------
    component : object or None
        A sampler, loss or physics component after the fit.

    Returns
    -------
    copy : object or None
        A shallow copy of it (None for None).
    """
    if component is None:
        return None
    out = copy.copy(component)
    if not hasattr(component, "__dict__"):
        return out
    kept = {}
    for name, value in vars(component).items():
        if name.startswith("_") or name in _RUN_TIME:
            continue
        if hasattr(value, "get_params") and hasattr(value, "__dict__"):
            kept[name] = released(value)  # a fitted component inside (a physics term's sampler)
            continue
        kept[name] = value.detach().cpu() if torch.is_tensor(value) else to_cpu(value)
    out.__dict__.clear()
    out.__dict__.update(kept)
    return out


@dataclasses.dataclass(frozen=True)
class FittedState:
    """Everything a fitted DeepONetRegressor holds beyond its parameters.

    Attributes
    ----------
    network : DeepONet
        The fitted network (``network_``).
    optimizer_state : dict or None
        Adam's ``state_dict`` (``warm_start`` and ``partial_fit`` continue it);
        None starts a fresh Adam.
    architecture : dict
        The architecture parameters the network was built from
        (``_planning.architecture_snapshot``).
    stopping : StoppingState
        Early-stopping and convergence state, without best weights.
    coords : ndarray of shape (n_points, d) or None
        Training coordinates (None when fitted on points per function).
    n_outputs : int
        Output fields.
    input_sizes : tuple of int
        Columns of U per input function.
    n_features_in : int
        Columns of U.
    feature_names_in : ndarray of str or None
        Column names of U when it was a frame.
    history : list of dict
        One record per epoch (and per polish).
    n_eval : int
        Points per function per step in the last Adam epoch.
    batch_size : int
        Mini-batch size used.
    device : torch.device
        Device of the fit.
    stopping_reason : str
        Why training stopped.
    sampler, loss, physics : object or None
        The fit's copies of the components (:func:`released`).
    """

    network: torch.nn.Module
    optimizer_state: Optional[dict]
    architecture: dict
    stopping: StoppingState
    coords: Optional[np.ndarray]
    n_outputs: int
    input_sizes: tuple
    n_features_in: int
    history: list
    n_eval: int
    batch_size: int
    device: torch.device
    stopping_reason: str
    feature_names_in: Optional[np.ndarray] = None
    sampler: Any = None
    loss: Any = None
    physics: Any = None

    # ------------------------------------------- the estimator's attributes
    #: field -> the estimator attribute that holds it (``_set_fitted`` writes them)
    STORED = {"network": "network_", "optimizer_state": "_optimizer_state",
              "architecture": "_architecture", "stopping": "_stopping", "coords": "coords_",
              "n_outputs": "n_outputs_", "input_sizes": "input_sizes_",
              "n_features_in": "n_features_in_", "feature_names_in": "feature_names_in_",
              "history": "history_", "n_eval": "n_eval_", "batch_size": "batch_size_",
              "device": "device_", "stopping_reason": "stopping_reason_",
              "sampler": "sampler_", "loss": "loss_", "physics": "physics_"}
    #: derived from the history: property -> attribute
    DERIVED = {"n_iter": "n_iter_", "loss_curve": "loss_curve_",
               "validation_scores": "validation_scores_",
               "best_validation_score": "best_validation_score_", "best_loss": "best_loss_"}
    #: attributes that a fitted estimator lacks when their value is None
    ABSENT_WHEN_NONE = ("feature_names_in_", "validation_scores_", "best_validation_score_")

    @classmethod
    def from_attributes(cls, attributes):
        """The state held in an estimator's ``__dict__`` (fitted attributes, as stored)."""
        return cls(**{field: attributes.get(name) for field, name in cls.STORED.items()})

    @classmethod
    def from_fit(cls, plan, state, reason, **values):
        """The state at the end of a fit: ``plan`` and the loop's ``state`` stopped by ``reason``.

        ``values`` give the fields the estimator knows (architecture,
        n_outputs, n_features_in, feature_names_in).
        """
        history = [r if isinstance(r, dict) else dataclasses.asdict(r) for r in state.history]
        if history:
            history[-1]["stopped"] = reason
        adam = [h for h in history if h["solver"] != "lbfgs"]
        return cls(
            network=plan.network, optimizer_state=plan.optimizer.state_dict(),
            stopping=dataclasses.replace(state, history=[], best_weights=None),
            coords=plan.coords, input_sizes=plan.input_sizes,
            history=history, n_eval=adam[-1]["n_eval"] if adam else plan.sampler.n_eval_,
            batch_size=plan.batch_size, device=plan.device, stopping_reason=reason,
            sampler=released(plan.sampler), loss=released(plan.loss),
            physics=released(plan.physics), **values)

    def attributes(self):
        """The estimator attributes of this state (none of ``ABSENT_WHEN_NONE`` that is None)."""
        values = {name: getattr(self, field)
                  for field, name in {**self.STORED, **self.DERIVED}.items()}
        values["input_sizes_"] = tuple(self.input_sizes)
        return {name: value for name, value in values.items()
                if value is not None or name not in self.ABSENT_WHEN_NONE}

    # ----------------------------------------------------------- derived
    @property
    def n_iter(self):
        """Adam epochs run (the L-BFGS polish is not an epoch)."""
        return sum(1 for h in self.history if h["solver"] != "lbfgs")

    @property
    def loss_curve(self):
        """Training loss of every record."""
        return [h["train_loss"] for h in self.history]

    @property
    def validation_scores(self):
        """Validation score of every record, or None without early stopping."""
        if all(h.get("valid_score") is None for h in self.history):
            return None
        return [h.get("valid_score") for h in self.history]

    @property
    def best_validation_score(self):
        """Best validation score of the last call (its restored weights'), or None without."""
        scores = [s for s in self.validation_scores or () if s is not None]
        best = getattr(self.stopping, "best_score", None)  # the last call's, on its split
        if scores and best is not None and np.isfinite(best):
            return float(best)
        return max(scores) if scores else None

    @property
    def best_loss(self):
        """Lowest training loss, or None without records."""
        curve = self.loss_curve
        return min(curve) if curve else None

    # ------------------------------------------------------------ split
    def split_fields(self, *, multi_output_strategy):
        """One single-field state per output field of a model fitted with independent fields.

        The state of one model fitted with ``n_outputs = n_members`` and
        ``multi_output_strategy="independent"`` (its fields' networks
        possibly vectorised as :class:`~skoperator._layers.BatchedStack`) is cut
        into ``n_outputs`` states of one field each: member ``m``'s network
        is field ``m``'s branch, trunk, output scaling and bias, so it
        predicts exactly field ``m`` of the whole model. The members start a
        fresh Adam (``optimizer_state`` None); the rest is copied.

        Parameters
        ----------
        multi_output_strategy : str
            The members' own ``multi_output_strategy`` parameter, which their
            architecture records (with one field every strategy is the same
            network).

        Returns
        -------
        states : list of FittedState
            ``n_outputs`` states with ``n_outputs == 1``.
        """
        networks = self.network.split_fields()
        states = []
        for network in networks:
            architecture = dict(self.architecture, n_outputs=1,
                                multi_output_strategy=multi_output_strategy)
            states.append(dataclasses.replace(
                self, network=network, optimizer_state=None, architecture=architecture,
                stopping=copy.deepcopy(self.stopping), n_outputs=1,
                history=copy.deepcopy(self.history), coords=copy.deepcopy(self.coords),
                sampler=copy.deepcopy(self.sampler), loss=copy.deepcopy(self.loss),
                physics=copy.deepcopy(self.physics)))
        return states
