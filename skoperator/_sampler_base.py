"""The sampler protocol: :class:`BaseSampler`, its context and the ``n_eval`` resolver.

See :mod:`skoperator._sampling` for the protocol in the order the training
loop calls it; the registered samplers live in :mod:`skoperator._samplers`.
"""

import dataclasses
import math
import numbers
from typing import Callable, Optional

import torch

from ._component import Component

__all__ = ["BaseSampler", "SamplingContext", "ObservedPoints", "resolve_n_eval"]

#: Epochs of an ``n_eval`` schedule checked before training (about 10 ms);
#: later epochs are resolved when they start, so that a huge ``max_iter``
#: under ``max_time`` costs nothing up front.
_CHECKED_EPOCHS = 10_000


@dataclasses.dataclass(frozen=True)
class ObservedPoints:
    """Per-function lists of observed columns (for targets with NaN).

    Parameters
    ----------
    table : IntTensor of shape (n_functions, n_points)
        ``table[i, :counts[i]]`` are the observed columns of function ``i``
        in increasing order; the rest is padding.
    counts : LongTensor of shape (n_functions,)
        Observed points per function.

    Examples
    --------
    >>> import torch
    >>> from skoperator.sampling import ObservedPoints
    >>> obs = ObservedPoints.from_mask(torch.tensor([[True, False, True]]))
    >>> obs.counts.tolist(), obs.table[0, :2].tolist()
    ([2], [0, 2])
    """

    table: torch.Tensor
    counts: torch.Tensor

    @classmethod
    def from_mask(cls, mask):
        """Build the table from a mask of observed points.

        Parameters
        ----------
        mask : BoolTensor of shape (n_functions, n_points)
            True where observed.

        Returns
        -------
        observed : ObservedPoints
            The table.
        """
        counts = mask.sum(dim=1)
        # A stable sort of "missing" flags puts observed columns first, in order.
        table = torch.sort((~mask).to(torch.int8), dim=1, stable=True).indices
        return cls(table.to(torch.int32), counts)

    def to(self, device):
        """The same table on another device.

        Parameters
        ----------
        device : torch.device
            Target device.

        Returns
        -------
        observed : ObservedPoints
            A copy on ``device``.
        """
        return ObservedPoints(self.table.to(device), self.counts.to(device))

    def mask(self):
        """The mask of observed points.

        Returns
        -------
        mask : BoolTensor of shape (n_functions, n_points)
            True where observed.
        """
        n, p = self.table.shape
        inside = torch.arange(p, device=self.table.device) < self.counts[:, None]
        out = torch.zeros(n, p, dtype=torch.bool, device=self.table.device)
        return out.scatter_(1, self.table.long(), inside)


@dataclasses.dataclass(frozen=True)
class SamplingContext:
    """What a sampler learns about the training problem at ``setup``.

    Parameters
    ----------
    n_eval : int, float, str or callable
        The estimator's ``n_eval``, as the user gave it.
    coords : Tensor of shape (n_points, d) or (n_functions, n_points, d)
        Training coordinates (raw, float32), on ``device``: shared, or each
        function's own points (NaN rows pad; their targets are missing, so
        samplers that use the observed points never draw them).
    n_functions : int
        Number of training functions (rows passed to ``sample`` index them).
    device : torch.device
        Where index tensors must live.
    generator : torch.Generator
        The training generator on ``device`` (seeded from the estimator's
        ``random_state``), for draws made once at ``setup``.
    n_epochs : int
        Epochs this fit plans to run (an upper bound when ``max_time`` or
        early stopping ends it sooner).
    observed : ObservedPoints or None
        Observed points of every training function, when the targets have
        missing values and the sampler asked for them
        (``uses_observed = True``); None when every point is observed.
    residuals : callable or None
        ``residuals()`` returns the current squared error of the model at
        every training (function, point), a float tensor of shape
        (n_functions, n_points) on ``device`` (standardised units, summed
        over output fields, 0 where missing). It evaluates the model on the
        whole training grid: call it every few epochs, not every step.

    Examples
    --------
    >>> import torch
    >>> from skoperator.sampling import SamplingContext
    >>> ctx = SamplingContext(n_eval=4, coords=torch.rand(50, 2), n_functions=10,
    ...                       device=torch.device("cpu"), generator=torch.Generator(),
    ...                       n_epochs=3)
    >>> ctx.n_points
    50
    """

    n_eval: object
    coords: torch.Tensor
    n_functions: int
    device: torch.device
    generator: torch.Generator
    n_epochs: int
    observed: Optional[ObservedPoints] = None
    residuals: Optional[Callable[[], torch.Tensor]] = None

    @property
    def n_points(self):
        """Number of training points (per function)."""
        return self.coords.shape[-2]


def resolve_n_eval(n_eval, n_available, what="n_points", name="n_eval", epoch=0,
                   bounded=True):
    """Points per function from an int, a fraction in (0, 1], "auto" or a schedule.

    The one resolver of ``n_eval``: every sampler resolves it here (once per
    epoch for a schedule), and so does a physics term's ``n_points``.

    Parameters
    ----------
    n_eval : int, float, "auto" or callable
        The value to resolve; "auto" is ``min(32, n_available)``; a callable
        ``n_eval(epoch)`` is called with ``epoch`` and its value resolved.
    n_available : int
        Points to draw from.
    what : str, default="n_points"
        Name of ``n_available`` in error messages.
    name : str, default="n_eval"
        Name of ``n_eval`` in error messages.
    epoch : int, default=0
        The epoch a schedule is read at.
    bounded : bool, default=True
        Whether an int may not exceed ``n_available`` (False for points drawn
        from a continuous region, where any number can be drawn).

    Returns
    -------
    n : int
        At least 1; at most ``n_available`` when ``bounded``.

    Examples
    --------
    >>> from skoperator._sampling import resolve_n_eval
    >>> resolve_n_eval("auto", 100), resolve_n_eval(0.25, 100), resolve_n_eval(lambda e: 7, 100)
    (32, 25, 7)
    """
    if callable(n_eval):
        try:
            value = n_eval(epoch)
        except Exception as exc:
            raise ValueError(f"The {name} schedule raised at epoch {epoch}: {exc!r}. "
                             f"{name}(epoch) must return an int or a fraction in (0, 1].") \
                from exc
        n_eval, name = value, f"{name}({epoch})"
    if isinstance(n_eval, str):
        if n_eval != "auto":
            raise ValueError(f"{name}={n_eval!r} is not understood; pass an int, a float in "
                             "(0, 1] or 'auto'.")
        return min(32, n_available)
    if isinstance(n_eval, bool) or not isinstance(n_eval, numbers.Real):
        raise ValueError(f"{name} must be an int >= 1, a float in (0, 1] or 'auto'; got "
                         f"{n_eval!r} of type {type(n_eval).__name__}.")
    if isinstance(n_eval, numbers.Integral):
        if n_eval < 1:
            raise ValueError(f"{name}={n_eval} must be at least 1.")
        if bounded and n_eval > n_available:
            raise ValueError(
                f"{name}={n_eval} is larger than {what}={n_available}; pass {name} <= "
                f"{n_available}, a fraction in (0, 1], or sampling='full'."
            )
        return int(n_eval)
    if not 0 < n_eval <= 1:
        raise ValueError(f"{name}={n_eval} is a float outside (0, 1]; pass a fraction of the "
                         "points in (0, 1] or an int number of points.")
    # (the tolerance keeps 0.1 * 30 at 3 despite its binary rounding)
    return max(1, int(math.ceil(n_eval * n_available - 1e-9)))


class BaseSampler(Component):
    """Base class of trunk-point samplers, and the protocol user samplers follow.

    A sampler is a hyperparameter: the estimator deep-copies it at every fit
    and calls ``setup``, ``start_epoch`` and ``sample`` on the copy, so the
    object the user passed never changes (``clone``, ``GridSearchCV`` and
    pickling see it as given). Subclasses implement :meth:`sample` and, when
    they need more than ``n_eval`` resolved against the number of points,
    :meth:`setup`. ``n_eval`` may also be a callable ``n_eval(epoch)``
    returning an int or a fraction: the schedule is resolved here, once per
    epoch, for every sampler that derives from this class.

    Attributes
    ----------
    uses_observed : bool
        Class attribute: True if the sampler wants the table of observed
        points (``context.observed``) when the targets have missing values.
        Samplers that ignore it still train: missing (function, point) pairs
        are left out of the loss.
    uses_n_eval : bool
        Class attribute: False for a sampler that uses every point (``n_eval``
        does not apply).
    per_function : bool
        Class attribute: True if ``sample`` draws points per function
        (``cols`` of shape (batch, m)), False for one set for the batch or
        every point.
    fresh : bool
        Class attribute: True if ``sample`` draws anew at every step, False
        if each function's points are drawn once per fit and kept.
    draws_uniformly : bool
        Class attribute: True if the sampler's draws are ``n_eval`` points
        taken uniformly at random, described entirely by ``per_function``
        and ``fresh``; a physics term with a box ``domain`` then draws its
        points the same way from the box (uniformly, per function or shared,
        fresh or once). False (the default) for a sampler with any other
        structure.
    n_eval_ : int
        Points per function and step in the current epoch.

    Examples
    --------
    A sampler that always scores the first point (a boundary value, say) and
    ``n_eval`` other points drawn with replacement:

    >>> import torch
    >>> from skoperator import DeepONetRegressor
    >>> from skoperator.datasets import make_antiderivative
    >>> from skoperator.sampling import BaseSampler
    >>> class WithBoundary(BaseSampler):
    ...     def sample(self, rows, generator):
    ...         n, ctx = rows.numel(), self.context
    ...         cols = torch.randint(ctx.n_points, (n, self.n_eval_), generator=generator,
    ...                              device=ctx.device)
    ...         first = torch.zeros(n, 1, dtype=torch.long, device=ctx.device)
    ...         return torch.cat([first, cols], dim=1), None
    >>> U, Y, G = make_antiderivative(100, n_points=30, random_state=0)
    >>> est = DeepONetRegressor(coords=Y, sampling=WithBoundary(), n_eval=5, max_iter=3,
    ...                         tol=None, random_state=0).fit(U, G)
    >>> est.history_[0]["n_eval"]
    5
    """

    uses_observed = False
    #: whether ``n_eval`` matters to this sampler (False: every point is used)
    uses_n_eval = True
    #: whether ``sample`` draws points per function (cols of shape (batch, m))
    per_function = True
    #: whether ``sample`` draws anew at every step (False: once per fit, kept)
    fresh = True
    #: whether the draws are uniform ``n_eval``-subsets described by per_function and fresh
    draws_uniformly = False
    #: what ``n_eval`` counts, for error messages and for :meth:`n_available`
    counts = "n_points"

    def setup(self, context):
        """Prepare for a fit; called once, before the first epoch.

        Validates ``n_eval`` for every planned epoch (up to the first
        10,000; later ones as they start), so that a bad value fails
        before training starts.

        Parameters
        ----------
        context : SamplingContext
            The training problem.

        Returns
        -------
        self : BaseSampler
            The sampler, ready to draw.
        """
        self.context = context
        self._n_available = self.n_available(context)
        if callable(context.n_eval):
            for epoch in range(min(context.n_epochs, _CHECKED_EPOCHS)):
                self._resolve(epoch)
        self.n_eval_ = self._resolve(0)
        return self

    def n_available(self, context):
        """Number of points ``n_eval`` is drawn from (``n_points`` by default).

        Parameters
        ----------
        context : SamplingContext
            The training problem.

        Returns
        -------
        n : int
            The bound of ``n_eval``.
        """
        return context.n_points

    def _resolve(self, epoch):
        return resolve_n_eval(self.context.n_eval, self._n_available, self.counts, epoch=epoch)

    def start_epoch(self, epoch):
        """Called before every epoch (counted from 0 within a fit).

        Parameters
        ----------
        epoch : int
            Epoch about to run.

        Returns
        -------
        n_eval : int
            Points per function and step in this epoch.
        """
        if callable(self.context.n_eval):
            self.n_eval_ = self._resolve(epoch)
        return self.n_eval_

    def order(self, n_functions, generator):
        """The order in which an epoch visits the training functions.

        Called at the start of every epoch, after :meth:`start_epoch`; the
        batches are consecutive slices of the order. Uniformly random by
        default (a fresh permutation every epoch, as scikit-learn's
        ``shuffle=True``).

        Parameters
        ----------
        n_functions : int
            Training functions.
        generator : torch.Generator
            The fit's source of permutations (on the training device; the
            same on every rank of a distributed fit).

        Returns
        -------
        order : LongTensor of shape (n_functions,)
            A permutation of ``range(n_functions)``, on the generator's device.
        """
        return torch.randperm(n_functions, generator=generator, device=generator.device)

    def sample(self, rows, generator):
        """Draw the columns and weights of the loss for the functions ``rows``.

        Parameters
        ----------
        rows : LongTensor of shape (batch,)
            Training functions of this step, on the training device.
        generator : torch.Generator
            Source of randomness on the training device (seeded from the
            estimator's ``random_state``).

        Returns
        -------
        cols : LongTensor of shape (batch, m) or (m,), or None
            Points of each function (or of all of them), None for every point.
        weight : Tensor of the shape of ``cols``, or None
            Weight of each slot's squared error; 0 ignores a slot.
        """
        raise NotImplementedError
