"""Random draws of point indices and partitions of point sets, for the samplers.

Everything here sees tensors only.
"""

import torch

from ._compat import is_count

__all__ = ["prefer_dense", "sample_distinct", "group_table", "balanced_cells"]

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
        if not 0 <= k <= width:
            raise ValueError(f"sample_distinct: k={k} draws without replacement need "
                             f"0 <= k <= upper={upper}; pass a k of at most {upper}.")
    if dense is None:
        lo = int(upper.min()) if per_row else width
        if per_row and not 0 <= k <= lo:  # (the package's calls pass dense: no sync there)
            raise ValueError(f"sample_distinct: k={k} draws without replacement need "
                             f"0 <= k <= every row's upper bound; the smallest of upper is "
                             f"{lo}. Pass a k of at most {lo}.")
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
    n_points = len(coords)
    if not is_count(n_cells) or n_cells > n_points:
        raise ValueError(f"balanced_cells: n_cells={n_cells!r}; expected an int from 1 to the "
                         f"number of points, {n_points}.")
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
