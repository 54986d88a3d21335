"""Chunked evaluation of a DeepONet: bounded memory for any grid size."""

import numpy as np
import torch

from ._data import row_chunks
from ._device import as_tensor
from .metrics import R2Accumulator

# One (functions x points) output block holds at most 2^22 elements (32 MiB
# in float64); the trunk is evaluated on at most 2^15 points at a time (its
# activations are 2^15 x width numbers), and the branch on at most 2^10
# functions. Memory beyond ``out`` therefore stays bounded (well under
# 512 MiB for the built-in networks) whatever the number of points or
# functions.
_BLOCK_ELEMENTS = 1 << 22
_TRUNK_POINTS = 1 << 15
_BRANCH_FUNCTIONS = 1 << 10


def predict_into(network, U, coords, out, device):
    """Write predictions for ``U`` (numpy) at ``coords`` (numpy) into ``out``.

    The trunk is evaluated once per chunk of points; for each such chunk the
    branch is evaluated on chunks of functions and their product written
    block by block, so memory beyond ``out`` stays bounded whatever the
    number of points.

    Parameters
    ----------
    network : DeepONet
    U : ndarray of shape (n_functions, n_sensors)
    coords : ndarray of shape (n_points, d)
    out : ndarray of shape (n_functions, n_outputs * n_points)
        Field ``c`` at point ``j`` goes to column ``c * n_points + j``.
    device : torch.device

    Returns
    -------
    out : ndarray of shape (n_functions, n_outputs * n_points)

    Notes
    -----
    With several chunks of points the branch is evaluated once per chunk:
    that repeats ``n_functions x branch_flops`` per ``_TRUNK_POINTS`` points,
    small beside the ``n_functions x _TRUNK_POINTS x n_basis`` of the
    products themselves.
    """
    n, p = out.shape[0], coords.shape[0]
    k = network.n_outputs
    fields = out.reshape(n, k, p)  # a view: writes land in ``out``
    dtype = next(network.parameters()).dtype
    if dtype.is_complex:
        dtype = torch.float64 if dtype == torch.complex128 else torch.float32
    p_step = max(1, min(p, _TRUNK_POINTS))
    f_step = max(1, min(n, _BRANCH_FUNCTIONS, _BLOCK_ELEMENTS // (p_step * k)))
    with torch.no_grad():
        for p0 in range(0, p, p_step):
            y = as_tensor(coords[p0:p0 + p_step], dtype, device)
            t = network.encode_trunk(y)
            for f0 in range(0, n, f_step):
                u = as_tensor(U[f0:f0 + f_step], dtype, device)
                block = network.outputs(network.encode_branch(u), t, y)
                block = block.unsqueeze(1) if block.dim() == 2 else block.permute(0, 2, 1)
                fields[f0:f0 + f_step, :, p0:p0 + p_step] = block.cpu().numpy()
    return out


def predict_pointwise(network, U, points, out, device):
    """Write predictions for ``U`` at each function's own ``points`` into ``out``.

    Parameters
    ----------
    network : DeepONet
    U : ndarray of shape (n_functions, n_sensors)
    points : ndarray of shape (n_functions, n_points, d)
        Function ``i`` is evaluated at ``points[i]``; rows of NaN (padding)
        give NaN.
    out : ndarray of shape (n_functions, n_outputs * n_points)
    device : torch.device

    Returns
    -------
    out : ndarray of shape (n_functions, n_outputs * n_points)
    """
    n, p = out.shape[0], points.shape[1]
    k = network.n_outputs
    fields = out.reshape(n, k, p)
    dtype = torch.float64 if next(network.parameters()).dtype in (
        torch.float64, torch.complex128) else torch.float32
    f_step = max(1, min(n, _BRANCH_FUNCTIONS, _BLOCK_ELEMENTS // max(1, p * k)))
    p_step = max(1, min(p, _BLOCK_ELEMENTS // (f_step * k)))  # many points: chunks of them
    with torch.no_grad():
        for f0 in range(0, n, f_step):
            u = as_tensor(U[f0:f0 + f_step], dtype, device)
            for p0 in range(0, p, p_step):
                y = as_tensor(points[f0:f0 + f_step, p0:p0 + p_step], dtype, device)
                pad = torch.isnan(y).any(dim=-1)
                block = network(u, torch.nan_to_num(y))
                block = block.unsqueeze(-1) if block.dim() == 2 else block
                block = block.masked_fill(pad.unsqueeze(-1), float("nan")).permute(0, 2, 1)
                fields[f0:f0 + f_step, :, p0:p0 + p_step] = block.cpu().numpy()
    return out


def predict_any(network, U, coords, out, device):
    """:func:`predict_into` at shared coordinates (m, d), :func:`predict_pointwise` at (n, m, d)."""
    if np.ndim(coords) == 3:
        return predict_pointwise(network, U, coords, out, device)
    return predict_into(network, U, coords, out, device)


def validation_score(network, U, G, coords, device):
    """Variance-weighted R2 of ``network`` on (U, G), per field then averaged; chunked.

    ``coords`` are shared (n_points, d) or per function (n_functions, n_points, d).
    """
    acc = R2Accumulator(G.shape[1], network.n_outputs)
    for rows in row_chunks(*G.shape):
        at = coords[rows] if np.ndim(coords) == 3 else coords
        pred = predict_any(network, U[rows], at,
                           np.empty((rows.stop - rows.start, G.shape[1])), device)
        acc.update(np.asarray(G[rows], dtype=np.float64), pred)
    return acc.result(skip_unobserved=True)  # a field unobserved in the split: not scored
