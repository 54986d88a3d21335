"""Trunk-point samplers: the registered sampling modes and the protocol of custom ones.

``DeepONetRegressor(sampling=...)`` takes a name from :data:`SAMPLERS` or a
sampler object. A custom sampler subclasses :class:`BaseSampler` and
implements ``sample(rows, generator) -> (cols, weight)``; see the user guide
(*Sampling modes and n_eval*) for the protocol and a worked example. The
registered classes can also be passed as objects, for instance
``sampling=AdaptiveSampler(refresh=2)`` to change their settings.

The same registry and protocol draw the collocation points of a physics
term: ``PDEResidual(sampling=...)`` takes the same names and objects.
"""

from ._sampling import (
    SAMPLERS,
    AdaptiveSampler,
    BaseSampler,
    ChunkSampler,
    FixedSampler,
    FullSampler,
    GroupedSampler,
    ObservedPoints,
    RandomSampler,
    SamplingContext,
    SharedSampler,
    StratifiedSampler,
    balanced_cells,
    make_sampler,
    sample_distinct,
)

__all__ = [
    "SAMPLERS",
    "BaseSampler",
    "SamplingContext",
    "ObservedPoints",
    "RandomSampler",
    "SharedSampler",
    "FullSampler",
    "GroupedSampler",
    "FixedSampler",
    "StratifiedSampler",
    "AdaptiveSampler",
    "ChunkSampler",
    "balanced_cells",
    "sample_distinct",
    "make_sampler",
]
