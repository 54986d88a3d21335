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

# Dense draws (one uniform number per candidate, then top-k) cost
# O(rows x upper); rejection costs O(rows x k). Dense is used when k is a
# sizeable fraction of the candidates, or on a GPU when the dense table is
# small (it avoids a host-device synchronisation per draw).
_DENSE_FRACTION = 0.25
_GPU_DENSE_ELEMENTS = 1 << 24


def sample_distinct(n_rows, k, upper, generator, device):
    """Draw ``k`` distinct integers in ``[0, upper)`` for every row.

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

    Returns
    -------
    idx : LongTensor of shape (n_rows, k)
        Uniformly random ordered draws without replacement in each row.
    """
    per_row = torch.is_tensor(upper)
    u_max = int(upper.max()) if per_row else int(upper)
    u_min = int(upper.min()) if per_row else u_max
    dense = k >= _DENSE_FRACTION * u_min or (
        device.type == "cuda" and n_rows * u_max <= _GPU_DENSE_ELEMENTS
    )
    if dense:
        keys = torch.rand(n_rows, u_max, generator=generator, device=device)
        if per_row:
            invalid = torch.arange(u_max, device=device) >= upper[:, None]
            keys = keys.masked_fill(invalid, 2.0)
        return torch.topk(keys, k, dim=1, largest=False, sorted=False).indices
    bound = upper[:, None].double() if per_row else float(upper)

    def draw(n):
        return torch.rand(n, dtype=torch.float64, generator=generator, device=device)

    idx = (draw(n_rows * k).view(n_rows, k) * bound).long()
    while True:
        # The process is invariant under relabelling of the candidates, so
        # the resulting subsets are uniform; redraws are rare when k << upper.
        sorted_idx, order = idx.sort(dim=1)
        dup_sorted = torch.zeros_like(idx, dtype=torch.bool)
        dup_sorted[:, 1:] = sorted_idx[:, 1:] == sorted_idx[:, :-1]
        if not bool(dup_sorted.any()):
            return idx
        dup = torch.zeros_like(dup_sorted).scatter_(1, order, dup_sorted)
        rows = dup.nonzero(as_tuple=True)[0]
        row_bound = upper[rows].double() if per_row else float(upper)
        idx[dup] = (draw(rows.numel()) * row_bound).long()


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

    def sample(self, rows):
        """Columns, and per-slot validity, for the functions ``rows``.

        Returns
        -------
        cols : LongTensor or None
            None ("full"), shape (n_eval,) ("shared") or (batch, m).
        valid : BoolTensor of shape (batch, m) or None
            False for padding slots of functions with too few observed
            points; None when every slot is valid.
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
        pos = sample_distinct(n, self.n_eval, upper, self.generator, self.device)
        valid = pos < counts[:, None]
        cols = table[rows[:, None], pos.clamp(max=table.shape[1] - 1)].long()
        if bool(valid.all()):
            return cols, None
        return cols, valid


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
