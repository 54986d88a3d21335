"""Standardisation statistics of a fit's data: inputs, coordinates and outputs.

Read in row chunks (:func:`skoperator._data.row_chunks`), so that targets
that stay out of core (a memmap, an HDF5 dataset, a Zarr or Dask array) are
never loaded whole.
"""

import numpy as np

from ._data import row_chunks

#: Above this ``|shift| / scale`` (data far from zero, ``1e8 + noise``) targets are
#: standardised in float64 and then rounded to float32: a float32 copy of ``G``
#: itself would round the spread away (float32's spacing at 1e8 is 8). Below it the
#: float32 arithmetic of 0.3.0 is kept, whose predictions are kept to the bit.
FLOAT64_SHIFT_RATIO = 16.0


def standardized(G, shift, scale):
    """``(G - shift) / scale`` as float32, the fields (``shift``, ``scale``) on the last axis.

    ``shift`` and ``scale`` are the model's float32 statistics; the
    arithmetic is float32's unless ``|shift| > FLOAT64_SHIFT_RATIO * scale``
    for a field, then float64's. One function for every storage of ``G``, so
    that a streamed fit equals an in-memory one.
    """
    shift = np.asarray(shift, dtype=np.float32)
    scale = np.asarray(scale, dtype=np.float32)
    if np.any(np.abs(shift) > FLOAT64_SHIFT_RATIO * scale):
        return ((np.asarray(G, dtype=np.float64) - shift.astype(np.float64))
                / scale.astype(np.float64)).astype(np.float32)
    return (np.asarray(G, dtype=np.float32) - shift) / scale


def merge_moments(count, mean, m2, weights, values, axis):
    """Add a block to weighted moments: Chan et al.'s update of count, mean and centred squares.

    ``count``, ``mean`` and ``m2`` (the weighted sum of squared deviations
    from the mean) summarise the rows so far; ``values`` (NaN-free) and their
    ``weights`` (0 for a missing value) are the block, reduced over ``axis``.
    The deviations are taken from the block's own mean, so that data far from
    zero (``1e8 + noise``) keep their variance, which ``sum(g^2) - n mean^2``
    loses to rounding.

    Returns
    -------
    count, mean, m2 : ndarray
        The moments of the rows so far and the block together.
    """
    block_count = weights.sum(axis=axis, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        block_mean = np.where(block_count > 0, (weights * values).sum(axis=axis, keepdims=True)
                              / block_count, 0.0)
    block_m2 = (weights * (values - block_mean) ** 2).sum(axis=axis)
    block_count, block_mean = block_count.squeeze(axis), block_mean.squeeze(axis)
    total = count + block_count
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(total > 0, block_count / total, 0.0)
    delta = block_mean - mean
    return total, mean + delta * share, m2 + block_m2 + delta**2 * count * share


def target_moments(G, n_outputs=1):
    """NaN-aware mean and standard deviation of every output field of G (float64).

    Column ``c * n_points + j`` of G belongs to field ``c``.

    Returns
    -------
    mean, std : ndarray of shape (n_outputs,)
    """
    count, mean, m2 = np.zeros(n_outputs), np.zeros(n_outputs), np.zeros(n_outputs)
    total, total_sq = np.zeros(n_outputs), np.zeros(n_outputs)
    for rows in row_chunks(*G.shape):
        block = np.asarray(G[rows], dtype=np.float64)
        block = block.reshape(-1, n_outputs, G.shape[1] // n_outputs)
        ok = ~np.isnan(block)
        total += block.sum(axis=(0, 2), where=ok)
        total_sq += np.square(block).sum(axis=(0, 2), where=ok)
        count, mean, m2 = merge_moments(count, mean, m2, ok.astype(np.float64),
                                        np.where(ok, block, 0.0), axis=(0, 2))
    # The sums' moments where they keep their digits (the values the records were fitted
    # with, to the bit); the merged ones where the spread is small against the mean
    # (1e8 + noise), whose variance the sums lose to cancellation.
    plain_mean = total / np.maximum(count, 1)
    plain_var = np.maximum(total_sq / np.maximum(count, 1) - plain_mean**2, 0.0)
    exact = plain_var > 1e-6 * plain_mean**2
    return (np.where(exact, plain_mean, mean),
            np.sqrt(np.where(exact, plain_var, np.maximum(m2, 0.0) / np.maximum(count, 1))))


def safe_scale(std, mean=0.0):
    """``std``, or 1 where the values are constant, so that constants standardise to 0.

    Constant means a spread of at most 1e-6 of the mean's magnitude (the
    float32 rounding of stored values, and float64's of the moments, are
    below that), and zero. The threshold is relative: data of any magnitude,
    1e-13 or 1e13, is standardised.
    """
    std = np.asarray(std, dtype=np.float64)
    varies = (std > 1e-6 * np.abs(np.asarray(mean, dtype=np.float64))) & (std > 0) \
        & np.isfinite(std)
    return np.where(varies, std, 1.0)


def input_statistics(U, input_sizes):
    """Shift and scale of the branch inputs: per column mean, one scale per input function.

    The sensors of one input function measure one quantity, so they share
    one scale (the root mean square of their centred values): relative
    scales inside a function are kept, which matters when the columns are
    principal-component scores (whitening them would blow up the noise in
    the last components) or grid cells. Each input function of a multi-input
    ``U`` gets its own scale.

    Returns
    -------
    shift, scale : ndarray of shape (n_sensors,)
    """
    shift = U.mean(axis=0)
    scale = np.empty(U.shape[1])
    start = 0
    for size in input_sizes:
        cols = slice(start, start + size)
        with np.errstate(over="ignore"):
            rms = np.sqrt(np.mean(np.square(U[:, cols] - shift[cols])))
        if not np.isfinite(rms):  # float32 squares of values over ~1e19 overflow
            rms = np.sqrt(np.mean(np.square(U[:, cols].astype(np.float64) - shift[cols])))
        scale[cols] = safe_scale(rms, np.sqrt(np.mean(np.square(shift[cols], dtype=np.float64))))
        start += size
    return shift, scale


def scaling_statistics(U, G, coords, input_sizes, n_outputs):
    """Shifts and scales that standardise inputs, coordinates and outputs.

    Parameters
    ----------
    U : ndarray of shape (n_functions, n_sensors)
    G : array-like of shape (n_functions, n_outputs * n_points)
        In memory, a memmap or a :class:`RowView`; read in row chunks.
    coords : ndarray of shape (n_points, d)
    input_sizes : tuple of int
        Columns of U per input function.
    n_outputs : int
        Output fields.

    Returns
    -------
    scaling : dict
        ``u_shift, u_scale`` (per column, see :func:`input_statistics`),
        ``y_shift, y_scale`` (per coordinate), ``g_shift, g_scale`` (per
        output field).
    """
    u_shift, u_scale = input_statistics(U, input_sizes)
    g_shift, g_scale = target_moments(G, n_outputs)
    return dict(
        u_shift=u_shift, u_scale=u_scale,
        y_shift=coords.mean(axis=0), y_scale=safe_scale(coords.std(axis=0), coords.mean(axis=0)),
        g_shift=g_shift, g_scale=safe_scale(g_scale, g_shift),
    )
