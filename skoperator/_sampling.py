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

import dataclasses
import math
import numbers
from typing import Callable, Optional

import torch

from ._component import Component

__all__ = ["SAMPLERS", "BaseSampler", "SamplingContext", "ObservedPoints", "RandomSampler",
           "SharedSampler", "FullSampler", "GroupedSampler", "FixedSampler",
           "StratifiedSampler", "AdaptiveSampler", "balanced_cells", "sample_distinct",
           "make_sampler"]

#: Epochs of an ``n_eval`` schedule checked before training; later epochs are
#: resolved when they start, so that a long ``max_iter`` under ``max_time``
#: costs nothing up front.
_CHECKED_EPOCHS = 100

# Dense draws (one uniform key per candidate, then top-k) cost O(rows x upper);
# rejection costs O(rows x k) per round, with more rounds as k / upper grows.
# Measured on a 2-core CPU (benchmarks/bench_scaling.py), dense wins from
# k / upper of about 0.15-0.2 up. On a GPU dense draws are also used while the
# key table stays under 2^26 entries (256 MiB, a batch of 256 on a grid of
# 262,144 points): they avoid the host-device synchronisation of every
# rejection round, and their kernels overlap the launch-bound steps.
_DENSE_FRACTION = 0.2
_GPU_DENSE_ELEMENTS = 1 << 26


def prefer_dense(n_rows, k, smallest_upper, largest_upper, device):
    """Whether dense draws are cheaper than rejection for these sizes.

    Parameters
    ----------
    n_rows, k : int
        Rows and draws per row.
    smallest_upper, largest_upper : int
        Range of the exclusive upper bounds of the rows.
    device : torch.device
        Where the draws run.

    Returns
    -------
    dense : bool
        True for dense draws.
    """
    return k >= _DENSE_FRACTION * smallest_upper or (
        device.type == "cuda" and n_rows * largest_upper <= _GPU_DENSE_ELEMENTS
    )


def sample_distinct(n_rows, k, upper, generator, device, dense=None, width=None):
    """Draw ``k`` distinct integers in ``[0, upper)`` for every row.

    Each row is a uniformly random ``k``-subset, independent of the other
    rows and of earlier calls; the order of the ``k`` values inside a row is
    unspecified (increasing after rejection, random after dense draws).

    Parameters
    ----------
    n_rows : int
        Number of rows.
    k : int
        Draws per row; must not exceed the smallest upper bound.
    upper : int or LongTensor of shape (n_rows,)
        Exclusive upper bound, shared or per row.
    generator : torch.Generator
        Source of randomness, on ``device``.
    device : torch.device
        Device of the result.
    dense : bool or None, default=None
        Force dense draws (True) or rejection (False); None decides with
        :func:`prefer_dense`.
    width : int or None, default=None
        For a tensor ``upper``: a bound on ``upper.max()``, the width of the
        dense key table. With ``dense`` and ``width`` given, nothing is read
        back from the device.

    Returns
    -------
    idx : LongTensor of shape (n_rows, k)
        Draws without replacement in each row.

    Notes
    -----
    Dense draws give each candidate a uniform key and keep the ``k``
    smallest: O(n_rows x upper) work. Rejection draws ``k`` values with
    replacement, sorts each row and redraws one copy of every repeated value
    until no row repeats one: O(n_rows x k log k) work per round, a few
    rounds while ``k`` is small beside ``upper``, and nothing proportional
    to ``upper``. Each round depends only on the multiset drawn so far and
    on fresh uniform draws, so the process commutes with any relabelling of
    the candidates and the final subsets are uniform. On a GPU every round
    reads one flag back to the host.

    Examples
    --------
    >>> import torch
    >>> from skoperator.sampling import sample_distinct
    >>> gen = torch.Generator().manual_seed(0)
    >>> idx = sample_distinct(3, 4, 10, gen, torch.device("cpu"))
    >>> idx.shape, bool((idx.sort(dim=1).values.diff(dim=1) > 0).all())
    (torch.Size([3, 4]), True)
    """
    per_row = torch.is_tensor(upper)
    if not per_row:
        width = int(upper)
    if dense is None:
        lo = int(upper.min()) if per_row else width
        width = int(upper.max()) if width is None else width
        dense = prefer_dense(n_rows, k, lo, width, device)
    if dense:
        width = int(upper.max()) if width is None else width
        keys = torch.rand(n_rows, width, generator=generator, device=device)
        if per_row:
            invalid = torch.arange(width, device=device) >= upper[:, None]
            keys = keys.masked_fill(invalid, 2.0)
        return torch.topk(keys, k, dim=1, largest=False, sorted=False).indices
    bound = upper[:, None].double() if per_row else float(upper)

    def draw():
        u = torch.rand(n_rows, k, dtype=torch.float64, generator=generator, device=device)
        return (u * bound).long()

    idx = draw().sort(dim=1).values
    while True:
        repeated = idx[:, 1:] == idx[:, :-1]
        if not bool(repeated.any()):
            return idx
        redraw = torch.zeros_like(idx, dtype=torch.bool)
        redraw[:, 1:] = repeated
        idx = torch.where(redraw, draw(), idx).sort(dim=1).values


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


def resolve_n_eval(n_eval, n_available, what="n_points", name="n_eval"):
    """Points per function from an int, a fraction in (0, 1] or "auto".

    Parameters
    ----------
    n_eval : int, float or "auto"
        The value to resolve; "auto" is ``min(32, n_available)``.
    n_available : int
        Points to draw from.
    what : str, default="n_points"
        Name of ``n_available`` in error messages.
    name : str, default="n_eval"
        Name of ``n_eval`` in error messages.

    Returns
    -------
    n : int
        In ``[1, n_available]``.
    """
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
        if n_eval > n_available:
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
    #: what ``n_eval`` counts, for error messages and for :meth:`n_available`
    counts = "n_points"

    def setup(self, context):
        """Prepare for a fit; called once, before the first epoch.

        Validates ``n_eval`` for every planned epoch, so that a bad value
        fails before training starts.

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
        n_eval = self.context.n_eval
        name = "n_eval"
        if callable(n_eval):
            name = f"n_eval({epoch})"
            try:
                n_eval = n_eval(epoch)
            except Exception as exc:
                raise ValueError(f"The n_eval schedule raised at epoch {epoch}: {exc!r}. "
                                 "n_eval(epoch) must return an int or a fraction in (0, 1].") from exc
        return resolve_n_eval(n_eval, self._n_available, self.counts, name)

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



class RandomSampler(BaseSampler):
    """``n_eval`` points per function, without replacement, fresh every step.

    The paper's method (Karumuri et al., 2024). With missing targets the
    points are drawn among each function's observed points only; a function
    with fewer observed points than ``n_eval`` uses all it has (the extra
    slots get weight 0).

    Examples
    --------
    >>> from skoperator import DeepONetRegressor
    >>> from skoperator.sampling import SAMPLERS
    >>> SAMPLERS["random"].__name__
    'RandomSampler'
    >>> est = DeepONetRegressor(sampling="random", n_eval=8)
    """

    uses_observed = True

    def setup(self, context):
        super().setup(context)
        obs = context.observed
        if obs is not None:
            # Read back once here, not at every step.
            self._min_count = int(obs.counts.min())
        return self

    def sample(self, rows, generator):
        n, k, device = rows.numel(), self.n_eval_, self.context.device
        obs = self.context.observed
        if obs is None:
            return sample_distinct(n, k, self.context.n_points, generator, device), None
        counts = obs.counts[rows]
        upper = counts.clamp(min=k)
        width = obs.table.shape[1]  # >= k, so >= every bound in upper
        dense = prefer_dense(n, k, max(self._min_count, k), width, device)
        pos = sample_distinct(n, k, upper, generator, device, dense=dense, width=width)
        cols = obs.table[rows[:, None], pos.clamp(max=width - 1)].long()
        if self._min_count >= k:
            return cols, None
        return cols, (pos < counts[:, None]).to(torch.float32)


class SharedSampler(BaseSampler):
    """One subset of ``n_eval`` points for the whole mini-batch, fresh every step.

    Examples
    --------
    >>> from skoperator import DeepONetRegressor
    >>> from skoperator.sampling import SAMPLERS
    >>> SAMPLERS["shared"].__name__
    'SharedSampler'
    >>> est = DeepONetRegressor(sampling="shared", n_eval=8)
    """

    per_function = False

    def sample(self, rows, generator):
        cols = sample_distinct(1, self.n_eval_, self.context.n_points, generator,
                               self.context.device)
        return cols[0], None


class FullSampler(BaseSampler):
    """Every point at every step (classic DeepONet training); ``n_eval`` is ignored.

    Examples
    --------
    >>> from skoperator import DeepONetRegressor
    >>> from skoperator.sampling import SAMPLERS
    >>> SAMPLERS["full"].__name__
    'FullSampler'
    >>> est = DeepONetRegressor(sampling="full", n_eval=8)
    """

    uses_n_eval = False
    per_function = False

    def setup(self, context):
        self.context = context
        self.n_eval_ = context.n_points
        return self

    def start_epoch(self, epoch):
        return self.n_eval_

    def sample(self, rows, generator):
        return None, None


class GroupedSampler(BaseSampler):
    """``n_eval`` points in every group of equal first coordinate, per function.

    For space-time outputs ``(t, x)`` every step sees every time at
    ``n_eval`` random positions (the paper's Example 2). Every group must
    hold the same number of points.

    Examples
    --------
    >>> from skoperator import DeepONetRegressor
    >>> from skoperator.sampling import SAMPLERS
    >>> SAMPLERS["grouped"].__name__
    'GroupedSampler'
    >>> est = DeepONetRegressor(sampling="grouped", n_eval=8)
    """

    counts = "points per group"

    def n_available(self, context):
        _shared_coords(context, "grouped")
        self.groups = group_table(context.coords).to(context.device)
        return self.groups.shape[1]

    def sample(self, rows, generator):
        n, k = rows.numel(), self.n_eval_
        n_groups, size = self.groups.shape
        pos = sample_distinct(n * n_groups, k, size, generator, self.context.device)
        pos = pos.view(n, n_groups, k)
        cols = self.groups.unsqueeze(0).expand(n, -1, -1).gather(2, pos)
        return cols.reshape(n, n_groups * k), None


def _shared_coords(context, mode):
    if context.coords.dim() == 3:
        raise ValueError(
            f"sampling={mode!r} partitions one shared grid of points, but the functions have "
            "points of their own (coords of shape (n_functions, n_points, d)); use "
            "sampling='random', 'shared', 'fixed', 'full' or 'adaptive'.")


def group_table(coords):
    """Group columns by their first coordinate.

    Parameters
    ----------
    coords : Tensor of shape (n_points, d)
        Coordinates.

    Returns
    -------
    groups : LongTensor of shape (n_groups, group_size)
        Columns of every group, groups in increasing first coordinate.

    Raises
    ------
    ValueError
        If the groups do not all have the same size.
    """
    values, inverse, counts = torch.unique(coords[:, 0], return_inverse=True, return_counts=True)
    if not bool((counts == counts[0]).all()):
        raise ValueError(
            'sampling="grouped" needs the same number of points at every value of the '
            f"first coordinate; got between {int(counts.min())} and {int(counts.max())} "
            f"points in the {values.numel()} groups. Use sampling='random' for scattered points."
        )
    order = torch.argsort(inverse, stable=True)
    return order.view(values.numel(), int(counts[0]))


class FixedSampler(BaseSampler):
    """One subset of ``n_eval`` points per function, drawn once and kept.

    The subsets are drawn at the start of ``fit`` (among each function's
    observed points) and reused at every step: the baseline that isolates
    the effect of fresh draws (the paper's suggested experiment 2). With an
    ``n_eval`` schedule the subsets are nested: epoch ``e`` uses the first
    ``n_eval(e)`` points of one random ordering drawn at the start.

    Examples
    --------
    >>> from skoperator import DeepONetRegressor
    >>> from skoperator.sampling import SAMPLERS
    >>> SAMPLERS["fixed"].__name__
    'FixedSampler'
    >>> est = DeepONetRegressor(sampling="fixed", n_eval=8)
    """

    uses_observed = True

    def setup(self, context):
        super().setup(context)
        k_max = self.n_eval_
        if callable(context.n_eval):
            k_max = max(self._resolve(e) for e in range(min(context.n_epochs, _CHECKED_EPOCHS)))
        n, obs, gen, device = context.n_functions, context.observed, context.generator, \
            context.device
        if obs is None:
            cols = sample_distinct(n, k_max, context.n_points, gen, device)
            valid = None
        else:
            width = obs.table.shape[1]
            pos = sample_distinct(n, k_max, obs.counts.clamp(min=k_max), gen, device,
                                  dense=True, width=width)
            cols = obs.table.gather(1, pos.clamp(max=width - 1)).long()
            valid = pos < obs.counts[:, None]
            valid = None if bool(valid.all()) else valid
        # A random order inside each row (observed points first), so that the
        # nested prefixes used by an n_eval schedule are uniform subsets too.
        keys = torch.rand(cols.shape, generator=gen, device=device)
        if valid is not None:
            keys = keys + (~valid).float()
        order = keys.argsort(dim=1)
        self._cols = cols.gather(1, order)
        self._valid = None if valid is None else valid.gather(1, order).float()
        return self

    def start_epoch(self, epoch):
        n_eval = super().start_epoch(epoch)
        if n_eval > self._cols.shape[1]:
            raise ValueError(
                f"sampling='fixed' drew {self._cols.shape[1]} points per function (the largest "
                f"n_eval of the first {_CHECKED_EPOCHS} epochs), but the n_eval schedule asks "
                f"for {n_eval} at epoch {epoch}; use a schedule that does not grow after its "
                f"first {_CHECKED_EPOCHS} epochs with sampling='fixed'.")
        return n_eval

    def sample(self, rows, generator):
        k = self.n_eval_
        cols = self._cols[rows, :k]
        return cols, None if self._valid is None else self._valid[rows, :k]


def balanced_cells(coords, n_cells):
    """Partition points into ``n_cells`` cells of (almost) equal size.

    Recursive coordinate bisection: the points are split along their widest
    coordinate at the position that gives each side a share of the points
    proportional to its share of the cells, and each side is split again.
    Works in any dimension and for scattered points; cell sizes differ by at
    most one point per level of the recursion (by at most one on grids whose
    size is a multiple of ``n_cells``).

    Parameters
    ----------
    coords : Tensor of shape (n_points, d)
        Coordinates.
    n_cells : int
        Number of cells, at most ``n_points``.

    Returns
    -------
    cells : LongTensor of shape (n_cells, max_size)
        Columns of each cell, padded with the cell's first column.
    sizes : LongTensor of shape (n_cells,)
        Points per cell.

    Examples
    --------
    >>> import torch
    >>> from skoperator.sampling import balanced_cells
    >>> cells, sizes = balanced_cells(torch.linspace(0, 1, 10).reshape(-1, 1), 3)
    >>> sizes.tolist()
    [3, 4, 3]
    """
    coords = coords.detach().cpu().double()
    parts = []

    def split(idx, k):
        if k == 1:
            parts.append(idx)
            return
        pts = coords[idx]
        axis = int(torch.argmax(pts.max(dim=0).values - pts.min(dim=0).values))
        order = idx[torch.argsort(pts[:, axis], stable=True)]
        k_left = k // 2
        n_left = int(round(len(idx) * k_left / k))
        n_left = min(max(n_left, k_left), len(idx) - (k - k_left))
        split(order[:n_left], k_left)
        split(order[n_left:], k - k_left)

    split(torch.arange(coords.shape[0]), n_cells)
    sizes = torch.tensor([len(p) for p in parts])
    cells = torch.stack([torch.cat([p, p[:1].expand(int(sizes.max()) - len(p))])
                         for p in parts])
    return cells, sizes


class StratifiedSampler(BaseSampler):
    """One point in each of ``n_eval`` cells of the domain, per function, fresh every step.

    The coordinates are partitioned once into ``n_eval`` cells of about equal
    numbers of points (:func:`balanced_cells`: recursive bisection along the
    widest coordinate, any dimension ``d``), and every step draws one point
    per cell for every function. The squared errors are weighted by
    ``n_eval * cell_size / n_points``, so that the loss stays an unbiased
    estimate of the mean over all points when the cells differ in size. With
    missing targets each cell draws among the function's observed points in
    it (a cell with none gets weight 0).

    Examples
    --------
    >>> from skoperator import DeepONetRegressor
    >>> from skoperator.sampling import SAMPLERS
    >>> SAMPLERS["stratified"].__name__
    'StratifiedSampler'
    >>> est = DeepONetRegressor(sampling="stratified", n_eval=8)
    """

    uses_observed = True

    def setup(self, context):
        _shared_coords(context, "stratified")
        super().setup(context)
        self._cells = {}
        self._mask = None if context.observed is None else context.observed.mask()
        return self

    def _partition(self, k):
        if k not in self._cells:
            cells, sizes = balanced_cells(self.context.coords, k)
            device = self.context.device
            weight = (sizes.double() * k / self.context.n_points).float()
            self._cells[k] = (cells.to(device), sizes.to(device), weight.to(device),
                              bool((sizes == sizes[0]).all()))
        return self._cells[k]

    def sample(self, rows, generator):
        k, device = self.n_eval_, self.context.device
        cells, sizes, weight, equal = self._partition(k)
        n = rows.numel()
        if self._mask is None:
            u = torch.rand(n, k, generator=generator, device=device)
            pos = (u * sizes).long().clamp(max=cells.shape[1] - 1)
            cols = cells.unsqueeze(0).expand(n, -1, -1).gather(2, pos.unsqueeze(-1)).squeeze(-1)
            return cols, None if equal else weight.expand(n, k)
        # Missing values: a random key per (function, point), the smallest
        # observed key of each cell wins.
        width = cells.shape[1]
        inside = torch.arange(width, device=device) < sizes[:, None]          # (k, width)
        observed = self._mask[rows][:, cells] & inside                         # (n, k, width)
        keys = torch.rand(n, k, width, generator=generator, device=device)
        keys = keys.masked_fill(~observed, 2.0)
        pos = keys.argmin(dim=2, keepdim=True)
        cols = cells.unsqueeze(0).expand(n, -1, -1).gather(2, pos).squeeze(-1)
        any_obs = observed.any(dim=2)
        w = torch.where(any_obs, weight if not equal else torch.ones_like(weight), 0.0)
        return cols, w


class AdaptiveSampler(BaseSampler):
    """Residual-based importance sampling of ``n_eval`` points per function.

    Every ``refresh`` epochs (from epoch 0) the squared error of the current
    model at every training (function, point) is computed, and the points
    of function ``i`` are then drawn, ``n_eval`` of them with replacement,
    with probabilities

    ``q_ij = (1 - floor) * r_ij / sum_j r_ij + floor / n_i``

    where ``r_ij`` is the squared error raised to ``power`` and ``n_i`` the
    number of observed points of function ``i``: points where the model is
    wrong are drawn more often, and the floor leaves every point a chance.
    Each draw's squared error is weighted by ``1 / (n_i q_ij)``, so the
    loss stays an unbiased estimate of the mean over all points (the
    full-grid loss), whatever the probabilities.

    Parameters
    ----------
    refresh : int, default=5
        Epochs between two updates of the probabilities (each update
        evaluates the model on the whole training grid, about the cost of
        one full-grid epoch without the backward pass).
    floor : float, default=0.2
        Share of uniform probability mixed in, in (0, 1].
    power : float, default=1.0
        Exponent of the squared error (0.5: the absolute error).

    Notes
    -----
    The probabilities of all training (function, point) pairs are kept in
    memory: ``n_functions * n_points`` floats on the training device.

    Examples
    --------
    >>> from skoperator import DeepONetRegressor
    >>> from skoperator.datasets import make_antiderivative
    >>> from skoperator.sampling import AdaptiveSampler
    >>> U, Y, G = make_antiderivative(100, n_points=30, random_state=0)
    >>> est = DeepONetRegressor(coords=Y, sampling=AdaptiveSampler(refresh=2), n_eval=5,
    ...                         max_iter=4, tol=None, random_state=0).fit(U, G)
    >>> est.n_iter_
    4
    """

    uses_observed = True

    def __init__(self, refresh=5, floor=0.2, power=1.0):
        self.refresh = refresh
        self.floor = floor
        self.power = power

    def setup(self, context):
        if not (isinstance(self.refresh, numbers.Integral) and self.refresh >= 1):
            raise ValueError(f"AdaptiveSampler refresh={self.refresh!r} must be an int >= 1.")
        if not (isinstance(self.floor, numbers.Real) and 0 < self.floor <= 1):
            raise ValueError(f"AdaptiveSampler floor={self.floor!r} must be in (0, 1].")
        if not (isinstance(self.power, numbers.Real) and self.power > 0):
            raise ValueError(f"AdaptiveSampler power={self.power!r} must be > 0.")
        if context.residuals is None:
            raise ValueError("sampling='adaptive' needs the training residuals; this fit "
                             "provides none.")
        super().setup(context)
        obs = context.observed
        self._mask = None if obs is None else obs.mask()
        self._n_obs = (torch.full((context.n_functions,), context.n_points,
                                  device=context.device) if obs is None else obs.counts)
        self.probabilities_ = None
        return self

    def start_epoch(self, epoch):
        n_eval = super().start_epoch(epoch)
        if epoch % self.refresh == 0 or self.probabilities_ is None:
            self.update(self.context.residuals())
        return n_eval

    def update(self, residuals):
        """Recompute the probabilities from the current errors.

        Parameters
        ----------
        residuals : Tensor of shape (n_functions, n_points)
            Squared error of the model at every training (function, point).

        Returns
        -------
        self : AdaptiveSampler
            The sampler, with new ``probabilities_``.
        """
        r = residuals.double().clamp(min=0) ** self.power
        if self._mask is not None:
            r = r.masked_fill(~self._mask, 0.0)
        total = r.sum(dim=1, keepdim=True)
        share = torch.where(total > 0, r / total.clamp(min=1e-300), 0.0)
        n_obs = self._n_obs[:, None].double()
        uniform = 1.0 / n_obs
        if self._mask is not None:
            uniform = uniform * self._mask
        floor = torch.where(total > 0, self.floor, 1.0)
        q = (1 - floor) * share + floor * uniform
        self.probabilities_ = q.float()
        # 1 / (n_i q_ij): the weight of a draw of point j for function i.
        self._weights = (1.0 / (n_obs * q).clamp(min=1e-300)).float()
        return self

    def sample(self, rows, generator):
        q = self.probabilities_[rows]
        cols = torch.multinomial(q, self.n_eval_, replacement=True, generator=generator)
        return cols, self._weights[rows].gather(1, cols)


#: Registered sampling modes: ``sampling=`` name -> sampler class.
SAMPLERS = {
    "random": RandomSampler,
    "shared": SharedSampler,
    "full": FullSampler,
    "grouped": GroupedSampler,
    "fixed": FixedSampler,
    "stratified": StratifiedSampler,
    "adaptive": AdaptiveSampler,
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
    import copy

    if isinstance(spec, str):
        return SAMPLERS[spec]()
    return copy.deepcopy(spec)
