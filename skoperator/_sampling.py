"""Trunk-point samplers: the ``SAMPLERS`` registry and the sampler protocol.

A sampler turns the rows (functions) of a mini-batch into the columns
(points) at which the loss is evaluated. Every sampling mode is one class in
:data:`SAMPLERS`; the class owns everything about its mode: how it resolves
``n_eval``, whether it needs the table of observed points, and what it draws.
The estimator's ``sampling`` parameter is a key of the registry or a user
object following the same protocol (:class:`BaseSampler`).

The protocol, in the order the training loop calls it:

1. ``setup(context)`` once per fit, on a private copy of the sampler, with a
   :class:`SamplingContext` (``n_eval`` as the user gave it, the training
   coordinates, the observed points, the device, the number of epochs).
2. ``start_epoch(epoch)`` before every epoch (epochs counted from 0); it
   returns the number of points per function and step in that epoch
   (recorded in the history).
3. ``sample(rows, generator)`` at every step: returns ``(cols, weight)``:

   - ``cols`` None (every point), a LongTensor of shape (m,) (one subset for
     the whole batch) or (batch, m) (a subset per function);
   - ``weight`` None, or a float tensor of the shape of ``cols`` (broadcast
     to (batch, m)): the loss multiplies each slot's squared error by its
     weight and divides by the number of slots with a non-zero weight, so 0
     marks a slot to ignore and ``1 / (n q)`` makes a draw with probability
     ``q`` among ``n`` points an unbiased estimate of the mean over all
     points.

Everything here sees tensors only.
"""

import copy

from ._draws import balanced_cells, group_table, prefer_dense, sample_distinct
from ._sampler_base import BaseSampler, ObservedPoints, SamplingContext, resolve_n_eval
from ._samplers import (
    AdaptiveSampler,
    ChunkSampler,
    FixedSampler,
    FullSampler,
    GroupedSampler,
    RandomSampler,
    SharedSampler,
    StratifiedSampler,
)

__all__ = ["SAMPLERS", "BaseSampler", "SamplingContext", "ObservedPoints", "RandomSampler",
           "SharedSampler", "FullSampler", "GroupedSampler", "FixedSampler",
           "StratifiedSampler", "AdaptiveSampler", "ChunkSampler", "balanced_cells",
           "sample_distinct", "make_sampler", "prefer_dense", "group_table", "resolve_n_eval"]


#: Registered sampling modes: ``sampling=`` name -> sampler class.
SAMPLERS = {
    "random": RandomSampler,
    "shared": SharedSampler,
    "full": FullSampler,
    "grouped": GroupedSampler,
    "fixed": FixedSampler,
    "stratified": StratifiedSampler,
    "adaptive": AdaptiveSampler,
    "chunked": ChunkSampler,
}


def make_sampler(spec):
    """A fresh sampler for ``sampling=spec`` (a registry key or a user sampler).

    User objects are deep-copied, so that training never changes the
    estimator's hyperparameter.

    Parameters
    ----------
    spec : str or BaseSampler
        A key of :data:`SAMPLERS` or a sampler object.

    Returns
    -------
    sampler : BaseSampler
        A private copy, to be set up.

    Examples
    --------
    >>> from skoperator.sampling import make_sampler
    >>> make_sampler("random")
    RandomSampler()
    """
    if isinstance(spec, str) and spec in SAMPLERS:
        return SAMPLERS[spec]()
    if isinstance(spec, type) or not all(hasattr(spec, m) for m in _SAMPLER_HOOKS):
        fix = (f"pass an instance, such as {spec.__name__}()" if isinstance(spec, type)
               else f"pass one of {sorted(SAMPLERS)} or a BaseSampler object")
        raise ValueError(f"sampling={spec!r} is not a sampler: {fix}.")
    return copy.deepcopy(spec)


#: The methods of the sampler protocol.
_SAMPLER_HOOKS = ("setup", "start_epoch", "sample")
