"""Chunked evaluation of a DeepONet: bounded memory for any grid size."""

import numpy as np
import torch

from ._data import row_chunks
from .metrics import R2Accumulator

# Elements of one (functions x points) output block: 2^23 float32 = 32 MiB on
# the device, 64 MiB once converted to float64 on the host.
_BLOCK_ELEMENTS = 1 << 23


def predict_into(network, U, coords, out, device, scaled=False):
    """Write predictions for ``U`` (numpy) at ``coords`` (numpy) into ``out``.

    The branch is evaluated on chunks of functions, the trunk on chunks of
    points, and their products written block by block, so memory beyond
    ``out`` stays bounded whatever the number of points.

    Parameters
    ----------
    network : DeepONet
    U : ndarray of shape (n_functions, n_sensors)
    coords : ndarray of shape (n_points, d)
    out : ndarray of shape (n_functions, n_points)
    device : torch.device
    scaled : bool, default=False
        Return outputs in standardised units instead of the units of G.
    """
    n, p = out.shape
    dtype = next(network.parameters()).dtype
    f_step = min(n, max(1, _BLOCK_ELEMENTS // max(p, 1)))
    p_step = max(1, _BLOCK_ELEMENTS // f_step)
    with torch.no_grad():
        for f0 in range(0, n, f_step):
            u = torch.as_tensor(U[f0:f0 + f_step], dtype=dtype, device=device)
            b = network.encode_branch(u)
            for p0 in range(0, p, p_step):
                y = torch.as_tensor(coords[p0:p0 + p_step], dtype=dtype, device=device)
                block = network.combine(b, network.encode_trunk(y))
                if not scaled:
                    block = network.unscale(block)
                out[f0:f0 + f_step, p0:p0 + p_step] = block.cpu().numpy()
    return out


def validation_score(network, U, G, coords, device):
    """Variance-weighted R2 of ``network`` on (U, G), NaN-aware, chunked."""
    acc = R2Accumulator(G.shape[1])
    for rows in row_chunks(*G.shape):
        pred = predict_into(network, U[rows], coords,
                            np.empty((rows.stop - rows.start, G.shape[1])), device)
        acc.update(np.asarray(G[rows], dtype=np.float64), pred)
    return acc.result()
