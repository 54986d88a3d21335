"""Operator-learning metrics and scorers.

All metrics take ``G_true`` and ``G_pred`` of shape (n_functions, n_points)
and ignore missing targets (NaN in ``G_true``).
"""

import numpy as np
from sklearn.metrics import make_scorer

__all__ = [
    "mean_function_r2",
    "mean_relative_l2_error",
    "variance_weighted_r2",
    "mean_function_r2_scorer",
    "neg_mean_relative_l2_error_scorer",
]


def _check_pair(G_true, G_pred):
    G_true = np.asarray(G_true, dtype=np.float64)
    G_pred = np.asarray(G_pred, dtype=np.float64)
    if G_true.ndim == 1:
        G_true, G_pred = G_true.reshape(1, -1), G_pred.reshape(1, -1)
    if G_true.shape != G_pred.shape:
        raise ValueError(
            f"G_true has shape {G_true.shape} but G_pred has shape {G_pred.shape}; "
            "pass arrays of the same shape (n_functions, n_points)."
        )
    if np.isnan(G_pred).any():
        raise ValueError("G_pred contains NaN; predictions must be finite.")
    return G_true, G_pred


def mean_function_r2(G_true, G_pred):
    """R2 of each function over its points, averaged over functions.

    This is the accuracy metric of Karumuri et al. (2024). A function whose
    true values are constant scores 1 if predicted exactly, else 0.

    Parameters
    ----------
    G_true : array-like of shape (n_functions, n_points)
        True outputs; NaN marks a missing value, which is ignored.
    G_pred : array-like of shape (n_functions, n_points)
        Predicted outputs.

    Returns
    -------
    score : float
        Mean over functions of ``1 - SSE_i / SST_i``.

    Examples
    --------
    >>> import numpy as np
    >>> from skoperator.metrics import mean_function_r2
    >>> G = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 3.0]])
    >>> float(mean_function_r2(G, G))
    1.0
    """
    G_true, G_pred = _check_pair(G_true, G_pred)
    ok = ~np.isnan(G_true)
    n = ok.sum(axis=1)
    mean = np.where(ok, G_true, 0.0).sum(axis=1) / np.maximum(n, 1)
    sse = np.where(ok, (G_true - G_pred) ** 2, 0.0).sum(axis=1)
    sst = np.where(ok, (G_true - mean[:, None]) ** 2, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(sst > 0, 1.0 - sse / sst, np.where(sse > 0, 0.0, 1.0))
    return float(np.mean(r2))


def mean_relative_l2_error(G_true, G_pred):
    """Relative L2 error ``||g - g_hat|| / ||g||`` of each function, averaged.

    Parameters
    ----------
    G_true : array-like of shape (n_functions, n_points)
        True outputs; NaN marks a missing value, which is ignored.
    G_pred : array-like of shape (n_functions, n_points)
        Predicted outputs.

    Returns
    -------
    error : float
        Lower is better; 0 for a perfect prediction.

    Examples
    --------
    >>> import numpy as np
    >>> from skoperator.metrics import mean_relative_l2_error
    >>> float(mean_relative_l2_error(np.array([[3.0, 4.0]]), np.array([[3.0, 4.5]])))
    0.1
    """
    G_true, G_pred = _check_pair(G_true, G_pred)
    ok = ~np.isnan(G_true)
    err = np.sqrt(np.where(ok, (G_true - G_pred) ** 2, 0.0).sum(axis=1))
    norm = np.sqrt(np.where(ok, G_true**2, 0.0).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(norm > 0, err / norm, np.where(err > 0, np.inf, 0.0))
    return float(np.mean(rel))


class R2Accumulator:
    """Variance-weighted R2 accumulated over row blocks (NaN-aware).

    Equals ``sklearn.metrics.r2_score(..., multioutput="variance_weighted")``
    on complete data: ``1 - sum_j SSE_j / sum_j SST_j`` over the columns with
    non-zero variance.
    """

    def __init__(self, n_points):
        self.count = np.zeros(n_points)
        self.total = np.zeros(n_points)
        self.total_sq = np.zeros(n_points)
        self.sse = np.zeros(n_points)

    def update(self, G_true, G_pred, sample_weight=None):
        G_true = np.asarray(G_true, dtype=np.float64)
        w = np.ones((G_true.shape[0], 1)) if sample_weight is None else (
            np.asarray(sample_weight, dtype=np.float64).reshape(-1, 1))
        w = np.where(np.isnan(G_true), 0.0, w)
        g = np.nan_to_num(G_true)
        self.count += w.sum(axis=0)
        self.total += (w * g).sum(axis=0)
        self.total_sq += (w * g * g).sum(axis=0)
        self.sse += (w * (g - G_pred) ** 2).sum(axis=0)

    def result(self):
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.where(self.count > 0, self.total / self.count, 0.0)
        sst = np.maximum(self.total_sq - self.count * mean**2, 0.0)
        scale = np.maximum(self.total_sq, 1e-300)
        nonzero = sst > 1e-12 * scale
        if not nonzero.any():
            return 1.0 if np.all(self.sse <= 1e-12 * scale) else 0.0
        return float(1.0 - self.sse[nonzero].sum() / sst[nonzero].sum())


def variance_weighted_r2(G_true, G_pred, sample_weight=None):
    """R2 of all outputs, weighted by the variance of each column.

    Equivalent to ``sklearn.metrics.r2_score(G_true, G_pred,
    multioutput="variance_weighted")`` on complete data, and ignores missing
    targets (NaN). Constant columns, such as the boundary value ``G[:, 0] = 0``
    of an antiderivative, get no weight instead of counting as zero.

    Parameters
    ----------
    G_true : array-like of shape (n_functions, n_points)
        True outputs; NaN marks a missing value.
    G_pred : array-like of shape (n_functions, n_points)
        Predicted outputs.
    sample_weight : array-like of shape (n_functions,), default=None
        Weight of each function.

    Returns
    -------
    score : float

    Examples
    --------
    >>> import numpy as np
    >>> from skoperator.metrics import variance_weighted_r2
    >>> G = np.array([[0.0, 1.0], [0.0, 3.0]])
    >>> float(variance_weighted_r2(G, G + [[0.0, 0.5], [0.0, -0.5]]))
    0.75
    """
    G_true, G_pred = _check_pair(G_true, G_pred)
    acc = R2Accumulator(G_true.shape[1])
    acc.update(G_true, G_pred, sample_weight)
    return acc.result()


mean_function_r2_scorer = make_scorer(mean_function_r2)
neg_mean_relative_l2_error_scorer = make_scorer(mean_relative_l2_error, greater_is_better=False)
