"""The registered samplers: one class per sampling mode (see :data:`SAMPLERS`)."""

import math
import numbers

import numpy as np
import torch

from ._compat import is_count
from ._draws import balanced_cells, group_table, prefer_dense, sample_distinct
from ._sampler_base import _CHECKED_EPOCHS, BaseSampler

__all__ = ["RandomSampler", "SharedSampler", "FullSampler", "GroupedSampler", "FixedSampler",
           "StratifiedSampler", "AdaptiveSampler", "ChunkSampler"]


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

    draws_uniformly = True
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

    draws_uniformly = True
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

    draws_uniformly = True
    fresh = False
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


class StratifiedSampler(BaseSampler):
    """One point in each of ``n_eval`` cells of the domain, per function, fresh every step.

    The coordinates are partitioned once into ``n_eval`` cells of about equal
    numbers of points (:func:`balanced_cells`: recursive bisection along the
    widest coordinate, any dimension ``d``), and every step draws one point
    per cell for every function. The squared errors are weighted by
    ``n_eval * cell_size / n_points``, so that the loss stays an unbiased
    estimate of the mean over all points when the cells differ in size. With
    missing targets each cell draws among the function's observed points in
    it, weighted by ``m * o / n`` (``o`` its observed points, ``n`` the
    function's, ``m`` the cells with any; a cell with none gets weight 0):
    an unbiased estimate of the mean over the function's observed points,
    as a uniform draw among them gives.

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
        # weights m_i o_ic / n_i (o_ic observed points of cell c, n_i of the function, m_i
        # cells with any): each function's weighted mean is unbiased for the mean over its
        # observed points, as a uniform draw among them is ("random")
        counts = observed.sum(dim=2).to(torch.float32)                         # (n, k)
        cells_seen = (counts > 0).sum(dim=1, keepdim=True).to(torch.float32)
        w = counts * cells_seen / counts.sum(dim=1, keepdim=True).clamp(min=1.0)
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
    A function with no observed value (physics-informed training with a
    partly observed ``G``) draws uniformly among all points, with weight 0.
    Each draw's squared error is weighted by ``1 / (n_i q_ij)``, so the
    loss stays an unbiased estimate of the mean over each function's
    observed points, whatever the probabilities: the full-grid loss when
    every target is observed (with missing targets the full-grid loss pools
    the observed entries, so functions observed at more points weigh more
    there, as under uniform draws).

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
    The probabilities of all training (function, point) pairs and their
    weights are kept in memory: ``2 * n_functions * n_points`` float32 on the
    training device, and about twice that while they are updated (with the
    residuals the update evaluates).

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
        if not is_count(self.refresh):
            raise ValueError(f"AdaptiveSampler refresh={self.refresh!r} must be an int >= 1.")
        if not (_is_real(self.floor) and 0 < self.floor <= 1):
            raise ValueError(f"AdaptiveSampler floor={self.floor!r} must be in (0, 1].")
        if not (_is_real(self.power) and 0 < self.power < math.inf):
            raise ValueError(f"AdaptiveSampler power={self.power!r} must be a finite number "
                             "> 0.")
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
        # float32 and in place: the (n_functions, n_points) arrays are the
        # residuals, r (becoming the probabilities), one temporary and the weights
        r = residuals.float().clamp(min=0)
        # Scaled by each function's largest error first: r ** power neither
        # overflows nor underflows to all zeros for a large power.
        r.div_(r.amax(dim=1, keepdim=True).clamp(min=1e-30)).pow_(self.power)
        if self._mask is not None:
            r.masked_fill_(~self._mask, 0.0)
        total = r.sum(dim=1, keepdim=True)
        r.div_(total.clamp(min=1e-30))  # the share of each point (0 where total is 0)
        n_obs = self._n_obs[:, None].float()
        empty = n_obs == 0  # a function with no observed value: no target to fit
        floor = torch.where(total > 0, self.floor, 1.0)
        uniform = floor / n_obs.clamp(min=1)
        r.mul_(1 - floor)
        if self._mask is None:
            r.add_(uniform)
        else:
            r.add_(torch.where(self._mask, uniform, torch.where(empty, 1.0 / r.shape[1], 0.0)))
        self.probabilities_ = r
        # 1 / (n_i q_ij): the weight of a draw of point j for function i (0 without targets).
        self._weights = (n_obs * r).clamp_(min=1e-30).reciprocal_().masked_fill_(empty, 0.0)
        return self

    def sample(self, rows, generator):
        q = self.probabilities_[rows]
        cols = torch.multinomial(q, self.n_eval_, replacement=True, generator=generator)
        return cols, self._weights[rows].gather(1, cols)


def _is_real(value):
    """Whether ``value`` is a real number (a bool not)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


class ChunkSampler(BaseSampler):
    """``n_eval`` points per function inside ``n_chunks`` random column chunks, every step.

    For targets stored in chunks (an HDF5 dataset or a Zarr array, read
    chunk by chunk): the columns are cut into chunks of ``chunks[1]``
    points, the functions into groups of ``chunks[0]`` consecutive rows
    (the storage's chunk shape, ``G.chunks``). At every step each group of
    the batch draws ``n_chunks`` distinct column chunks uniformly, and each
    of its functions draws ``n_eval`` distinct points uniformly among the
    points of those chunks. A step then reads at most ``n_chunks`` chunks
    per group of rows instead of nearly all of them, which is what makes
    compressed storage affordable (each chunk read is decompressed whole).

    Every point has the same chance ``n_eval / n_points`` per step when
    the chunks are equal; a shorter last chunk is compensated by weighting
    each slot by ``S * n_col_chunks / (n_chunks * n_points)`` (``S`` the
    points of the chunks drawn), so that the loss stays an unbiased
    estimate of the mean over all points, as with ``sampling="random"``.
    The draws of one step are correlated (a function's points lie in a
    few chunks, shared by its group); over the steps they cover the grid
    uniformly. On a grid of at most ``chunks[1]`` points this is
    ``sampling="random"``.

    Parameters
    ----------
    chunks : tuple of (int, int), default=(1, 65536)
        Rows and columns of a storage chunk (``G.chunks`` of an HDF5 dataset
        or a Zarr array). Rows are grouped by ``row // chunks[0]`` of the
        training functions.
    n_chunks : int, default=1
        Column chunks drawn per group of rows and step; their points must
        number at least ``n_eval``.
    whole_groups : bool, default=False
        Whether the batches are made of whole groups of rows: every epoch
        shuffles the groups, and the rows inside each, and lays the groups
        end to end (:meth:`order`), so that a batch of ``batch_size`` rows
        holds about ``batch_size / chunks[0]`` groups and a step reads about
        ``n_chunks * batch_size / chunks[0]`` chunks, against up to
        ``n_chunks`` per row of the batch when the rows are shuffled one by
        one (False: a batch of 256 random rows meets nearly every group of
        16). A batch is then made of rows stored next to each other: right
        when the storage's row order carries no meaning (functions drawn at
        random, as generators write them); when it does (a parameter sweep
        written in order), a batch sees fewer kinds of functions.

    Attributes
    ----------
    n_eval_ : int
        Points per function and step in the current epoch.

    See Also
    --------
    RandomSampler : ``n_eval`` uniform points per function anywhere on the grid.

    Notes
    -----
    Does not use the table of observed points: with missing targets the
    missing (function, point) pairs are left out of the loss. The groups
    are of training rows: with ``early_stopping`` the held-out functions
    are taken out first, so a group may straddle two storage chunks (the
    draws stay as described; a step reads a few more chunks).

    Examples
    --------
    >>> from skoperator import DeepONetRegressor
    >>> from skoperator.datasets import make_antiderivative
    >>> from skoperator.sampling import ChunkSampler
    >>> U, Y, G = make_antiderivative(100, n_points=40, random_state=0)
    >>> est = DeepONetRegressor(coords=Y, sampling=ChunkSampler(chunks=(4, 10), n_chunks=2),
    ...                         n_eval=5, max_iter=2, tol=None, random_state=0).fit(U, G)
    >>> est.get_params()["sampling__n_chunks"]
    2
    """

    def __init__(self, chunks=(1, 65536), n_chunks=1, whole_groups=False):
        self.chunks = chunks
        self.n_chunks = n_chunks
        self.whole_groups = whole_groups

    def setup(self, context):
        chunks = self.chunks
        if not (isinstance(chunks, (tuple, list)) and len(chunks) == 2 and all(
                isinstance(c, numbers.Integral) and not isinstance(c, bool) and c >= 1
                for c in chunks)):
            raise ValueError(f"ChunkSampler chunks={chunks!r} must be a pair of ints >= 1, the "
                             "(rows, columns) of a storage chunk; pass chunks=G.chunks.")
        if not (isinstance(self.n_chunks, numbers.Integral) and not isinstance(
                self.n_chunks, bool) and self.n_chunks >= 1):
            raise ValueError(f"ChunkSampler n_chunks={self.n_chunks!r} must be an int >= 1.")
        if self.whole_groups not in (True, False):
            raise ValueError(f"ChunkSampler whole_groups={self.whole_groups!r} must be True or "
                             "False.")
        _shared_coords(context, "chunked")
        super().setup(context)
        p, width = context.n_points, min(int(chunks[1]), context.n_points)
        starts = torch.arange(0, p, width)
        sizes = (torch.clamp(starts + width, max=p) - starts)
        self._rows_per_group = int(chunks[0])
        self._n_pick = min(int(self.n_chunks), len(starts))
        self._starts, self._sizes = starts.to(context.device), sizes.to(context.device)
        self._equal = bool((sizes == width).all())
        self._check(self.n_eval_)
        if callable(context.n_eval):  # every value the schedule takes, before training
            for epoch in range(min(context.n_epochs, _CHECKED_EPOCHS)):
                self._check(self._resolve(epoch), epoch)
        return self

    def _check(self, k, epoch=None):
        smallest = int(torch.sort(self._sizes).values[:self._n_pick].sum())
        if k > smallest:
            when = "" if epoch is None else f" (the n_eval schedule's value at epoch {epoch})"
            raise ValueError(
                f"ChunkSampler draws n_eval={k} points per function{when} among the points "
                f"of n_chunks={self.n_chunks} column chunks, but {self._n_pick} chunk(s) may "
                f"hold only {smallest}; raise n_chunks, or lower n_eval.")

    def start_epoch(self, epoch):
        n_eval = super().start_epoch(epoch)
        self._check(n_eval)
        return n_eval

    def order(self, n_functions, generator):
        """The epoch's order: with ``whole_groups``, groups of rows end to end.

        The groups in a random order, the rows of each in a random order
        (two permutations from ``generator``); otherwise the rows in a
        random order, as :meth:`BaseSampler.order`.

        Parameters
        ----------
        n_functions : int
            Training functions.
        generator : torch.Generator
            The fit's source of permutations.

        Returns
        -------
        order : LongTensor of shape (n_functions,)
            A permutation of ``range(n_functions)``, on the generator's device.
        """
        if not self.whole_groups:
            return super().order(n_functions, generator)
        device, size = generator.device, self._rows_per_group
        rows = torch.randperm(n_functions, generator=generator, device=device)
        place = torch.randperm(-(-n_functions // size), generator=generator, device=device)
        group_place = place[torch.div(rows, size, rounding_mode="floor")]
        return rows[torch.sort(group_place, stable=True).indices]

    def sample(self, rows, generator):
        device, k = self.context.device, self.n_eval_
        n_col, m = len(self._sizes), self._n_pick
        groups, group_of = torch.unique(torch.div(rows, self._rows_per_group,
                                                  rounding_mode="floor"), return_inverse=True)
        picked = sample_distinct(len(groups), m, n_col, generator, device)[group_of]  # (n, m)
        sizes = self._sizes[picked]                                       # (n, m)
        ends = sizes.cumsum(dim=1)
        total = ends[:, -1]
        pos = sample_distinct(rows.numel(), k, total, generator, device)  # (n, k) in the union
        which = torch.searchsorted(ends, pos, right=True)                 # chunk of each draw
        offset = pos - (ends - sizes).gather(1, which)
        cols = self._starts[picked.gather(1, which)] + offset
        if self._equal or m == n_col:
            return cols, None
        weight = total.double() * n_col / (m * self.context.n_points)
        return cols, weight.float()[:, None].expand(-1, k)
