"""Physics-informed training: a residual of an equation as a component of the loss.

``DeepONetRegressor(physics=...)`` takes a physics component; its term is
added to the data loss at every step (the data loss is left out when ``G`` is
entirely missing). The protocol, written once here:

- ``prepare(context)``: called once per fit on the fit's private copy, with a
  :class:`PhysicsContext` (training coordinates, number of functions, the
  estimator's ``n_eval``, device, generator, the network's standardisation);
- ``__call__(network, U, rows, generator) -> Tensor``: the weighted physics
  term of one mini-batch (a scalar), given the raw inputs ``U`` (batch,
  n_sensors) of the functions ``rows``; it draws its own collocation points
  and differentiates the network with autograd.
"""

import dataclasses
from typing import Optional

import torch

from ._component import Component

__all__ = ["BasePhysics", "PhysicsContext"]


@dataclasses.dataclass(frozen=True)
class PhysicsContext:
    """What a physics component learns about the training problem in ``prepare``.

    Attributes
    ----------
    coords : Tensor of shape (n_points, d)
        Raw training coordinates (the rows of ``coords``).
    n_functions : int
        Training functions (``rows`` index them).
    n_eval : int, float, str or callable
        The estimator's ``n_eval``, as given.
    device : torch.device
        Training device.
    generator : torch.Generator
        Seeded from ``random_state``, for draws made once in ``prepare``.
    y_shift, y_scale : Tensor of shape (d,)
        The network's standardisation of coordinates.
    g_shift, g_scale : Tensor of shape (n_outputs,)
        The network's standardisation of outputs.
    n_outputs : int
        Output fields.
    """

    coords: torch.Tensor
    n_functions: int
    n_eval: object
    device: torch.device
    generator: torch.Generator
    y_shift: torch.Tensor
    y_scale: torch.Tensor
    g_shift: torch.Tensor
    g_scale: torch.Tensor
    n_outputs: int = 1


class BasePhysics(Component):
    """Protocol of physics components (see the module docstring)."""

    def prepare(self, context):
        """Learn what the term needs; called once per fit.

        Parameters
        ----------
        context : PhysicsContext
            The training problem.

        Returns
        -------
        self : BasePhysics
        """
        self.context_ = context
        return self

    def __call__(self, network, U, rows, generator):
        """The weighted physics term of a mini-batch (a scalar tensor)."""
        raise NotImplementedError
