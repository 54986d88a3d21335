"""Operator-learning metrics and scorers.

All metrics take ``G_true`` and ``G_pred`` of shape (n_functions, n_columns)
and ignore missing targets (NaN in ``G_true``). With several output fields
(``n_outputs``), the columns hold the fields side by side (field ``c`` at
point ``j`` in column ``c * n_points + j``, as
:class:`~skoperator.DeepONetRegressor` lays them out), every (function, field)
counts as one output function, and ``multioutput="raw_values"`` gives one
score per field.
"""

from numbers import Integral

import numpy as np
from sklearn.utils.validation import check_array

from ._compat import Interval, StrOptions, validate_params
from ._data import out_of_core_kind
from ._scaling import merge_moments
from ._unwrap import fitted_n_outputs

__all__ = [
    "mean_function_r2",
    "mean_relative_l2_error",
    "variance_weighted_r2",
    "mean_function_r2_scorer",
    "neg_mean_relative_l2_error_scorer",
    "variance_weighted_r2_scorer",
]

_COMMON = {
    "G_true": ["array-like"],
    "G_pred": ["array-like"],
    "n_outputs": [Interval(Integral, 1, None, closed="left")],
    "multioutput": [StrOptions({"uniform_average", "raw_values"})],
}


def _check_pair(G_true, G_pred, n_outputs):
    """float64 (n_functions, n_outputs, n_points) views of both arrays."""
    for name, G in (("G_true", G_true), ("G_pred", G_pred)):
        if np.iscomplexobj(G):
            raise ValueError(f"{name} must be real; got a complex array. Score the real "
                             "and imaginary parts as two output fields (n_outputs=2).")
    G_true = check_array(G_true, ensure_2d=False, dtype=np.float64,
                         ensure_all_finite="allow-nan", input_name="G_true")
    G_pred = check_array(G_pred, ensure_2d=False, dtype=np.float64,
                         ensure_all_finite="allow-nan", input_name="G_pred")
    if G_true.ndim == 1 and G_pred.ndim == 1:  # one function
        G_true, G_pred = G_true.reshape(1, -1), G_pred.reshape(1, -1)
    if G_true.shape != G_pred.shape:
        raise ValueError(
            f"G_true has shape {G_true.shape} but G_pred has shape {G_pred.shape}; "
            "pass arrays of the same shape (n_functions, n_columns)."
        )
    if G_true.ndim != 2:
        raise ValueError(f"G_true must be 2-D (n_functions, n_columns); got shape {G_true.shape}.")
    if G_true.shape[1] % n_outputs:
        raise ValueError(
            f"G_true has {G_true.shape[1]} columns, not a multiple of n_outputs={n_outputs}; "
            "pass the n_outputs the model was fitted with."
        )
    if np.isnan(G_pred[~np.isnan(G_true)]).any():  # unobserved targets are ignored
        raise ValueError("G_pred contains NaN where G_true is observed; predictions must be "
                         "finite.")
    shape = (G_true.shape[0], n_outputs, G_true.shape[1] // n_outputs)
    return G_true.reshape(shape), G_pred.reshape(shape)


def _average(per_function_field, observed, multioutput):
    """Mean over the observed (function, field) pairs, or over functions per field.

    A pair with no observed value (a row of NaN) is left out; a field with
    none observed is an error.
    """
    counts = observed.sum(axis=0)
    if not counts.all():
        raise ValueError(f"G_true has no observed value (all NaN) in output field "
                         f"{int(np.argmin(counts))}; there is nothing to score. Drop it, or "
                         "pass the observed outputs.")
    values = np.where(observed, per_function_field, 0.0)
    if multioutput == "raw_values":
        return values.sum(axis=0) / counts
    return float(values.sum() / counts.sum())


@validate_params(_COMMON, prefer_skip_nested_validation=True)
def mean_function_r2(G_true, G_pred, *, n_outputs=1, multioutput="uniform_average"):
    """R2 of each function over its points, averaged over functions.

    This is the accuracy metric of Karumuri et al. (2024). A function whose
    true values are constant scores 1 if predicted exactly, else 0.

    Parameters
    ----------
    G_true : array-like of shape (n_functions, n_outputs * n_points)
        True outputs; NaN marks a missing value, which is ignored.
    G_pred : array-like of shape (n_functions, n_outputs * n_points)
        Predicted outputs.
    n_outputs : int, default=1
        Output fields side by side in the columns; each (function, field) is
        one output function.
    multioutput : {"uniform_average", "raw_values"}, default="uniform_average"
        Average over every (function, field), or one score per field.

    Returns
    -------
    score : float or ndarray of shape (n_outputs,)
        Mean over functions of ``1 - SSE_i / SST_i``.

    Examples
    --------
    >>> import numpy as np
    >>> from skoperator.metrics import mean_function_r2
    >>> G = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 3.0]])
    >>> float(mean_function_r2(G, G))
    1.0
    """
    G_true, G_pred = _check_pair(G_true, G_pred, n_outputs)
    ok = ~np.isnan(G_true)
    n = ok.sum(axis=2)
    mean = np.where(ok, G_true, 0.0).sum(axis=2) / np.maximum(n, 1)
    sse = np.where(ok, (G_true - G_pred) ** 2, 0.0).sum(axis=2)
    sst = np.where(ok, (G_true - mean[..., None]) ** 2, 0.0).sum(axis=2)
    # constant: every observed value the same (the mean's rounding leaves sst ~1e-33, not 0)
    varies = (np.where(ok, G_true, -np.inf).max(axis=2)
              > np.where(ok, G_true, np.inf).min(axis=2)) & (sst > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(varies, 1.0 - sse / sst, np.where(sse > 0, 0.0, 1.0))
    return _average(r2, n > 0, multioutput)


@validate_params(_COMMON, prefer_skip_nested_validation=True)
def mean_relative_l2_error(G_true, G_pred, *, n_outputs=1, multioutput="uniform_average"):
    """Relative L2 error ``||g - g_hat|| / ||g||`` of each function, averaged.

    Parameters
    ----------
    G_true : array-like of shape (n_functions, n_outputs * n_points)
        True outputs; NaN marks a missing value, which is ignored.
    G_pred : array-like of shape (n_functions, n_outputs * n_points)
        Predicted outputs.
    n_outputs : int, default=1
        Output fields side by side in the columns.
    multioutput : {"uniform_average", "raw_values"}, default="uniform_average"
        Average over every (function, field), or one error per field.

    Returns
    -------
    error : float or ndarray of shape (n_outputs,)
        Lower is better; 0 for a perfect prediction. A function whose true
        values are all zero has no relative error but 0 (predicted exactly)
        or ``inf``, and an ``inf`` makes the mean ``inf``: leave such
        functions out, or compare absolute errors.

    Examples
    --------
    >>> import numpy as np
    >>> from skoperator.metrics import mean_relative_l2_error
    >>> float(mean_relative_l2_error(np.array([[3.0, 4.0]]), np.array([[3.0, 4.5]])))
    0.1
    """
    G_true, G_pred = _check_pair(G_true, G_pred, n_outputs)
    ok = ~np.isnan(G_true)
    err = np.sqrt(np.where(ok, (G_true - G_pred) ** 2, 0.0).sum(axis=2))
    norm = np.sqrt(np.where(ok, G_true**2, 0.0).sum(axis=2))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(norm > 0, err / norm, np.where(err > 0, np.inf, 0.0))
    return _average(rel, ok.any(axis=2), multioutput)


class R2Accumulator:
    """Variance-weighted R2 per output field, accumulated over row blocks (NaN-aware).

    For one field it equals ``sklearn.metrics.r2_score(...,
    multioutput="variance_weighted")`` on complete data: ``1 - sum_j SSE_j /
    sum_j SST_j`` over the columns whose observed values are not all equal
    (scikit-learn counts a constant column whose mean rounds). With several
    fields, :meth:`result` averages the fields' scores.

    Parameters
    ----------
    n_columns : int
        Columns of G.
    n_outputs : int, default=1
        Output fields side by side in the columns.
    """

    def __init__(self, n_columns, n_outputs=1):
        self.n_outputs = n_outputs
        self.count = np.zeros(n_columns)
        self.mean = np.zeros(n_columns)
        self.sst = np.zeros(n_columns)  # weighted squared deviations from the mean
        self.total_sq = np.zeros(n_columns)
        self.sse = np.zeros(n_columns)
        self.low = np.full(n_columns, np.inf)  # observed range: a constant column has none
        self.high = np.full(n_columns, -np.inf)

    def update(self, G_true, G_pred, sample_weight=None):
        """Add a block of rows."""
        G_true = np.asarray(G_true, dtype=np.float64)
        w = np.ones((G_true.shape[0], 1)) if sample_weight is None else (
            np.asarray(sample_weight, dtype=np.float64).reshape(-1, 1))
        w = np.where(np.isnan(G_true), 0.0, w)
        g = np.nan_to_num(G_true)
        self.count, self.mean, self.sst = merge_moments(self.count, self.mean, self.sst, w, g,
                                                        axis=0)
        self.total_sq += (w * g * g).sum(axis=0)
        if len(g):
            self.low = np.minimum(self.low, np.where(w > 0, g, np.inf).min(axis=0))
            self.high = np.maximum(self.high, np.where(w > 0, g, -np.inf).max(axis=0))
        # a missing target ignores its prediction (NaN at a padding point)
        self.sse += (w * np.where(w > 0, g - G_pred, 0.0) ** 2).sum(axis=0)

    def result(self, multioutput="uniform_average", skip_unobserved=False):
        """The score: a float, or one per field with ``"raw_values"``.

        A field with no observed value is an error, or, with
        ``skip_unobserved`` (a validation split during a fit), left out of
        the average. A column is constant when its observed values are all
        equal; it gets no weight.
        """
        scores = []
        for field, cols in enumerate(np.split(np.arange(self.sst.size), self.n_outputs)):
            if not self.count[cols].any():
                if skip_unobserved:
                    continue
                raise ValueError(f"G has no observed value (all NaN, or weight 0) in output "
                                 f"field {field}; there is nothing to score. Drop it, or "
                                 "pass the observed outputs.")
            varies = (self.high[cols] > self.low[cols]) & (self.sst[cols] > 0)
            if not varies.any():
                scale = np.maximum(self.total_sq[cols], 1e-300)
                scores.append(1.0 if np.all(self.sse[cols] <= 1e-12 * scale) else 0.0)
            else:
                scores.append(1.0 - self.sse[cols][varies].sum() / self.sst[cols][varies].sum())
        scores = np.array(scores)
        return scores if multioutput == "raw_values" else float(scores.mean())


def score_outputs(y, pred, sample_weight=None, *, n_outputs=1):
    """The ``score`` of every estimator of the package: :func:`variance_weighted_r2` of G.

    ``DeepONetRegressor.score`` and the meta-estimators' ``score`` (one
    implementation, :class:`skoperator._meta.MetaOperatorMixin`) both call
    it: one validation of G, one error for a G of the wrong shape.

    Parameters
    ----------
    y : array-like of shape (n_functions, n_outputs * n_points)
        ``G``: true outputs; NaN marks a missing value.
    pred : ndarray of shape (n_functions, n_outputs * n_points)
        Predictions.
    sample_weight : array-like of shape (n_functions,), default=None
        Weight of each function.
    n_outputs : int, default=1
        Output fields of the model.

    Returns
    -------
    score : float
    """
    pred = np.asarray(pred, dtype=np.float64)
    pred = pred.reshape(len(pred), -1)
    out_of_core_kind(y, "y")  # a closed HDF5 dataset is named as such
    G = check_array(y, ensure_2d=False, dtype=np.float64, ensure_all_finite="allow-nan",
                    input_name="G")
    G = G.reshape(len(G), -1)
    if G.shape[0] != pred.shape[0]:
        raise ValueError(f"G has {G.shape[0]} rows but X has {pred.shape[0]}; pass one output "
                         "function per input function.")
    if G.shape[1] != pred.shape[1]:
        raise ValueError(
            f"G has {G.shape[1]} columns but the model predicts {pred.shape[1]} "
            f"(n_outputs={n_outputs} x {pred.shape[1] // n_outputs} points); pass G at the "
            "fitted coordinates, or (DeepONetRegressor.score) the coords where G is given.")
    return variance_weighted_r2(G, pred, sample_weight, n_outputs=n_outputs)


@validate_params({**_COMMON, "sample_weight": ["array-like", None]},
                 prefer_skip_nested_validation=True)
def variance_weighted_r2(G_true, G_pred, sample_weight=None, *, n_outputs=1,
                         multioutput="uniform_average"):
    """R2 of all outputs, weighted by the variance of each column.

    Equivalent to ``sklearn.metrics.r2_score(G_true, G_pred,
    multioutput="variance_weighted")`` on complete data with one field, and
    ignores missing targets (NaN). Constant columns (all observed values
    equal), such as the boundary value ``G[:, 0] = 0`` of an antiderivative,
    get no weight instead of counting as zero; scikit-learn counts one whose
    mean rounds (a column of 0.1s gets a spread of about 1e-33 there). The
    moments are merged block by block from each block's mean, so that data
    far from zero keep their spread. At least 2 functions with an observed
    value and positive weight are needed. With several fields, each field's
    score is computed on its own columns (so that a field with large values
    does not dominate) and the scores are averaged.

    Parameters
    ----------
    G_true : array-like of shape (n_functions, n_outputs * n_points)
        True outputs; NaN marks a missing value.
    G_pred : array-like of shape (n_functions, n_outputs * n_points)
        Predicted outputs.
    sample_weight : array-like of shape (n_functions,), default=None
        Weight of each function.
    n_outputs : int, default=1
        Output fields side by side in the columns.
    multioutput : {"uniform_average", "raw_values"}, default="uniform_average"
        Average of the fields' scores, or one score per field.

    Returns
    -------
    score : float or ndarray of shape (n_outputs,)
        1.0 is perfect.

    Examples
    --------
    >>> import numpy as np
    >>> from skoperator.metrics import variance_weighted_r2
    >>> G = np.array([[0.0, 1.0], [0.0, 3.0]])
    >>> float(variance_weighted_r2(G, G + [[0.0, 0.5], [0.0, -0.5]]))
    0.75
    """
    G_true, G_pred = _check_pair(G_true, G_pred, n_outputs)
    n = G_true.shape[0]
    if sample_weight is not None:
        try:
            if np.iscomplexobj(sample_weight):
                raise TypeError("complex values")
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"sample_weight must hold real numbers, one weight >= 0 per "
                             f"function; got {sample_weight!r} ({exc}). Pass a real array "
                             f"of shape ({n},).") from exc
        if sample_weight.shape != (n,):
            raise ValueError(
                f"sample_weight has shape {sample_weight.shape} but G has {n} rows "
                f"(functions); pass one weight per function, shape ({n},)."
            )
        if not (np.all(np.isfinite(sample_weight)) and np.all(sample_weight >= 0)
                and sample_weight.sum() > 0):
            raise ValueError("sample_weight must be finite, non-negative and not all zero; "
                             f"got {sample_weight!r}. Pass a weight >= 0 per function.")
    # Per field: a row all NaN there is no function of it; none: the accumulator names it.
    seen = ~np.isnan(G_true) & (True if sample_weight is None
                                else sample_weight[:, None, None] > 0)
    for field in range(n_outputs):
        where = "" if n_outputs == 1 else f" in output field {field}"
        functions = int(seen[:, field].any(axis=1).sum())
        if functions == 1:
            raise ValueError(f"variance_weighted_r2 needs at least 2 functions (rows of G) "
                             f"with an observed value and positive weight{where}: R2 compares "
                             f"each point's error with the spread of its values over the "
                             f"functions; got {functions}. Score more functions, or use "
                             "mean_function_r2 (the spread over each function's points).")
        if functions > 1 and seen[:, field].sum(axis=0).max() < 2:
            raise ValueError(f"variance_weighted_r2 needs a point observed (with positive "
                             f"weight) in at least 2 functions{where}: R2 compares each "
                             f"point's error with the spread of its values over the "
                             f"functions, and no point of G is observed in more than one. "
                             "Score functions observed at common points, or use "
                             "mean_function_r2.")
    acc = R2Accumulator(G_true.shape[1] * G_true.shape[2], n_outputs)
    acc.update(G_true.reshape(n, -1), G_pred.reshape(n, -1), sample_weight)
    return acc.result(multioutput)


class _OperatorScorer:
    """A scorer ``scorer(estimator, X, y)`` that knows the estimator's output fields."""

    def __init__(self, metric, sign):
        self.metric = metric
        self.sign = sign

    def __call__(self, estimator, X, y, sample_weight=None):
        n_outputs = fitted_n_outputs(estimator)
        if sample_weight is None:
            return self.sign * self.metric(y, estimator.predict(X), n_outputs=n_outputs)
        if self.metric is not variance_weighted_r2:
            raise TypeError(f"{self!r} takes no sample_weight: {self.metric.__name__} weighs "
                            "every function alike. Score with variance_weighted_r2_scorer, "
                            "or leave sample_weight out.")
        return self.sign * self.metric(y, estimator.predict(X), sample_weight,
                                       n_outputs=n_outputs)

    def __repr__(self):
        neg = "" if self.sign > 0 else "neg_"
        return f"{neg}{self.metric.__name__}_scorer"


mean_function_r2_scorer = _OperatorScorer(mean_function_r2, 1)
neg_mean_relative_l2_error_scorer = _OperatorScorer(mean_relative_l2_error, -1)
variance_weighted_r2_scorer = _OperatorScorer(variance_weighted_r2, 1)
