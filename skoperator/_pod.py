"""POD modes of the training outputs, in memory or from a streamed ``G`` in row chunks.

A POD trunk needs the leading right singular vectors of the matrix of
standardised targets (one row per function and field, one column per point).
In memory they come from its SVD (:func:`skoperator._layers.pod_modes`). A
streamed ``G`` (a large memmap, HDF5, Zarr, Dask: see :mod:`skoperator._data`)
is never loaded whole: :class:`StreamedTargets` reads it in row chunks, and
the modes come from the smaller Gram matrix, accumulated over the chunks in
float64: with fewer points than rows, the leading eigenvectors of ``A^T A``
(``n_points x n_points`` memory); otherwise (a space-time output of 163,840
points and 1,000 functions) the leading eigenvectors ``u`` of ``A A^T``
(``n_rows x n_rows``, from every pair of chunks) and the modes ``A^T u``
(one more pass). They equal the SVD's modes to rounding, up to the sign of
each mode.
"""

import math

import numpy as np
import torch

from . import _data, _layers

__all__ = ["StreamedTargets", "pod_modes"]


class StreamedTargets:
    """Standardised targets of a streamed ``G``, read in row chunks on demand.

    What a table trunk finds in ``BuildContext.targets`` when ``G`` is
    streamed, in place of a tensor: its ``shape`` is (n_functions, n_points,
    n_fields), ``targets[:, :, fields]`` selects fields (slices), and
    :meth:`blocks` yields the matrix of the POD in row chunks.

    Parameters
    ----------
    G : array-like of shape (n_functions, n_outputs * n_points)
        A streamed array (memmap, :class:`~skoperator._data.RowView`,
        :class:`~skoperator._data.StreamedArray`), fields side by side.
    shift, scale : ndarray of shape (n_outputs,)
        Standardisation of each field.
    fields : tuple of int, default=None
        The fields served; None serves all.
    """

    def __init__(self, G, shift, scale, fields=None):
        self.G = G
        self.shift = np.asarray(shift, dtype=np.float64).reshape(-1)
        self.scale = np.asarray(scale, dtype=np.float64).reshape(-1)
        self.n_outputs = len(self.shift)
        self.n_points = G.shape[1] // self.n_outputs
        self.fields = tuple(range(self.n_outputs)) if fields is None else tuple(fields)
        self.shape = (G.shape[0], self.n_points, len(self.fields))

    def __getitem__(self, key):
        rows, points, fields = key
        if rows != slice(None) or points != slice(None) or not isinstance(fields, slice):
            raise IndexError("streamed targets select fields only: targets[:, :, fields]")
        return StreamedTargets(self.G, self.shift, self.scale, self.fields[fields])

    def chunks(self):
        """The row slices of ``G`` that :meth:`blocks` reads, in order."""
        return list(_data.row_chunks(*self.G.shape))

    def block(self, rows):
        """The matrix of the POD for the functions ``rows`` (a slice of ``G``'s rows).

        Returns
        -------
        block : ndarray of shape (rows * n_fields, n_points)
            float64, one row per function and field (NaN where missing).
        """
        f = list(self.fields)
        block = np.asarray(self.G[rows], dtype=np.float64)
        block = block.reshape(len(block), self.n_outputs, self.n_points)[:, f]
        block = (block - self.shift[f, None]) / self.scale[f, None]
        return block.reshape(-1, self.n_points)

    def blocks(self):
        """Yield the matrix of the POD in row chunks (:meth:`block` of each chunk)."""
        for rows in self.chunks():
            yield self.block(rows)


def _column_means(targets):
    """NaN-aware mean of every column of the POD's matrix."""
    total = np.zeros(targets.n_points)
    count = np.zeros(targets.n_points)
    for block in targets.blocks():
        ok = ~np.isnan(block)
        total += np.where(ok, block, 0.0).sum(axis=0)
        count += ok.sum(axis=0)
    return total / np.maximum(count, 1)


def _streamed_modes(targets, n_modes):
    n_rows, n_points = targets.shape[0] * targets.shape[2], targets.n_points
    rank = min(n_rows, n_points)
    if n_modes > rank:
        raise ValueError(
            f"the POD trunk needs n_basis <= the number of POD modes of the training "
            f"outputs, min(training functions x fields, points) = {rank} (the functions "
            f"held out by early_stopping not counted); got n_basis={n_modes}. "
            "Lower n_basis or pass more functions.")
    mean = _column_means(targets)
    if n_points <= n_rows:
        gram = np.zeros((n_points, n_points))
        for block in targets.blocks():
            block = np.where(np.isnan(block), mean, block)
            gram += block.T @ block
        _, vectors = np.linalg.eigh(gram)
        modes = vectors[:, ::-1][:, :n_modes]
    else:
        modes = _modes_from_rows(targets, mean, n_modes, n_rows)
    # eigh's signs are arbitrary: make the largest entry of each mode positive
    largest = modes[np.abs(modes).argmax(axis=0), np.arange(n_modes)]
    modes = modes * np.where(largest < 0, -1.0, 1.0)
    return torch.as_tensor(modes * math.sqrt(n_points)).float()


def _modes_from_rows(targets, mean, n_modes, n_rows):
    """Leading right singular vectors of the POD's matrix ``A`` from ``A A^T``.

    For more points than rows: ``A A^T`` (n_rows x n_rows) from every pair of
    chunks, its leading eigenvectors ``u``, and the modes ``A^T u`` (their
    norms are the singular values) normalised, in one more pass.
    """
    fields = targets.shape[2]
    chunks = targets.chunks()
    span = [slice(c.start * fields, c.stop * fields) for c in chunks]

    def filled(rows):
        block = targets.block(rows)
        return np.where(np.isnan(block), mean, block)

    gram = np.zeros((n_rows, n_rows))
    for i, rows in enumerate(chunks):
        left = filled(rows)
        gram[span[i], span[i]] = left @ left.T
        for j in range(i + 1, len(chunks)):
            gram[span[i], span[j]] = left @ filled(chunks[j]).T
            gram[span[j], span[i]] = gram[span[i], span[j]].T
    _, vectors = np.linalg.eigh(gram)
    vectors = vectors[:, ::-1][:, :n_modes]
    modes = np.zeros((targets.n_points, n_modes))
    for i, rows in enumerate(chunks):
        modes += filled(rows).T @ vectors[span[i]]
    modes /= np.maximum(np.linalg.norm(modes, axis=0), np.finfo(float).tiny)
    # Past the data's numerical rank, A^T u (u at the rounding floor) lies in the span
    # of the leading modes: made orthonormal, as the SVD's are, by a QR (which moves
    # the leading modes at the rounding level only).
    q, r = np.linalg.qr(modes)
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


def pod_modes(targets, n_modes):
    """Leading modes (n_points, n_modes), unit mean square, of the training targets.

    Parameters
    ----------
    targets : Tensor of shape (n_functions, n_points, n_fields) or StreamedTargets
        Standardised training targets, NaN where missing (replaced by their
        column mean).
    n_modes : int
        Modes kept.

    Returns
    -------
    modes : Tensor of shape (n_points, n_modes)
        float32.
    """
    if torch.is_tensor(targets):
        return _layers.pod_modes(targets, n_modes)
    return _streamed_modes(targets, n_modes)
