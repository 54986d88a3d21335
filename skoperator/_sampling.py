"""Trunk-point samplers: index tensors in, index tensors out.

A sampler turns the rows (functions) of a mini-batch into the columns
(points) at which the loss is evaluated:

- ``"full"``: every point (``cols is None``).
- ``"shared"``: one subset of ``n_eval`` points for the whole batch, ``cols``
  of shape (n_eval,).
- ``"random"``: ``n_eval`` points per function, drawn without replacement,
  ``cols`` of shape (batch, n_eval).
- ``"grouped"``: points are grouped by their first coordinate (for instance
  time); ``n_eval`` points are drawn without replacement inside every group,
  per function, ``cols`` of shape (batch, n_groups * n_eval).

Every draw is fresh at every call. Missing targets (NaN in G) are handled by
an optional observation table: "random" then draws among the observed points
of each function only; a function with fewer observed points than ``n_eval``
uses all it has (the extra slots get weight 0).
"""

import torch

SAMPLINGS = ("random", "shared", "full", "grouped")

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


class TrunkSampler:
    """Draw the evaluation points of each mini-batch.

    Parameters
    ----------
    sampling : {"random", "shared", "full", "grouped"}
        Strategy, see the module docstring.
    n_eval : int
        Points per function (per group for "grouped"); ignored by "full".
    n_points : int
        Number of points of the training grid.
    generator : torch.Generator
        Source of randomness, on ``device``.
    device : torch.device
        Device of the index tensors.
    observed : tuple of (LongTensor, LongTensor) or None
        ``(table, counts)``: ``table[i, :counts[i]]`` lists the observed
        columns of function ``i``. ``None`` means every point is observed.
    groups : LongTensor of shape (n_groups, group_size) or None
        Columns of every group, for "grouped".
    """

    def __init__(self, sampling, n_eval, n_points, generator, device,
                 observed=None, groups=None):
        self.sampling = sampling
        self.n_eval = n_eval
        self.n_points = n_points
        self.generator = generator
        self.device = device
        self.observed = observed
        self.groups = groups
        # Columns drawn per function and step (every group gets n_eval).
        self.per_function = n_eval * (1 if groups is None else groups.shape[0])
        if observed is not None:
            # Read back once here, not at every step: the smallest per-row
            # bound (for the dense/rejection choice) and whether any function
            # has fewer observed points than n_eval (then slots need a mask).
            counts = observed[1]
            self._smallest_upper = max(int(counts.min()), n_eval)
            self._padded = bool((counts < n_eval).any())

    def sample(self, rows):
        """Columns, and per-slot validity, for the functions ``rows``.

        Returns
        -------
        cols : LongTensor or None
            None ("full"), shape (n_eval,) ("shared") or (batch, m).
        valid : BoolTensor of shape (batch, m) or None
            False for padding slots of functions with too few observed
            points; None when no training function has fewer than
            ``n_eval`` observed points.
        """
        n = rows.numel()
        if self.sampling == "full":
            return None, None
        if self.sampling == "shared":
            cols = sample_distinct(1, self.n_eval, self.n_points, self.generator, self.device)
            return cols[0], None
        if self.sampling == "grouped":
            n_groups, size = self.groups.shape
            pos = sample_distinct(n * n_groups, self.n_eval, size, self.generator, self.device)
            pos = pos.view(n, n_groups, self.n_eval)
            cols = self.groups.unsqueeze(0).expand(n, -1, -1).gather(2, pos)
            return cols.reshape(n, n_groups * self.n_eval), None
        if self.observed is None:
            return sample_distinct(n, self.n_eval, self.n_points, self.generator, self.device), None
        table, counts = self.observed
        counts = counts[rows]
        upper = counts.clamp(min=self.n_eval)
        width = table.shape[1]  # >= n_eval, so >= every bound in upper
        dense = prefer_dense(n, self.n_eval, self._smallest_upper, width, self.device)
        pos = sample_distinct(n, self.n_eval, upper, self.generator, self.device,
                              dense=dense, width=width)
        cols = table[rows[:, None], pos.clamp(max=table.shape[1] - 1)].long()
        if not self._padded:
            return cols, None
        return cols, pos < counts[:, None]


def observation_table(mask):
    """Compact per-function lists of observed columns.

    Parameters
    ----------
    mask : BoolTensor of shape (n_functions, n_points)
        True where G is observed.

    Returns
    -------
    table : IntTensor of shape (n_functions, n_points)
        ``table[i, :counts[i]]`` are the observed columns of row ``i`` in
        increasing order; the rest is padding.
    counts : LongTensor of shape (n_functions,)
    """
    counts = mask.sum(dim=1)
    # A stable sort of "missing" flags puts observed columns first, in order.
    table = torch.sort((~mask).to(torch.int8), dim=1, stable=True).indices
    return table.to(torch.int32), counts


def group_table(coords):
    """Group columns by their first coordinate.

    Parameters
    ----------
    coords : Tensor of shape (n_points, d)

    Returns
    -------
    groups : LongTensor of shape (n_groups, group_size)

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
