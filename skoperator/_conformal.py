"""ConformalBandRegressor: whole-function split conformal bands.

Public in :mod:`skoperator.uncertainty`.
"""

import inspect
import math
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils import check_random_state, indexable
from sklearn.utils.validation import check_is_fitted

from ._compat import (
    HasMethods,
    Interval,
    RealNotInt,
    StrOptions,
    _fit_context,
    _num_samples,
    _safe_indexing,
)
from ._meta import MetaOperatorMixin, check_targets, final_step, predict_with, require_y

__all__ = ["ConformalBandRegressor"]


def _has_return_std(estimator):
    """Whether the final step of ``estimator`` predicts with ``return_std``."""
    _, final = final_step(estimator)
    try:
        return "return_std" in inspect.signature(final.predict).parameters
    except (TypeError, ValueError):
        return False


class ConformalBandRegressor(MetaOperatorMixin, RegressorMixin, BaseEstimator):
    """Whole-function prediction band by split conformal prediction.

    Splits the functions (rows of ``U`` and ``G``) into a training part, on
    which a clone of ``estimator`` is fitted, and a calibration part. Every
    calibration function gets the score

    .. math:: s_i = \\max_j |G_{ij} - \\hat G_{ij}| / \\sigma_{ij},

    the largest error over its points in units of ``sigma`` (the ensemble's
    pointwise standard deviation, floored, when the estimator predicts one
    and ``normalize`` allows it; else 1). With ``q`` the
    ``ceil((n_cal + 1) (1 - alpha))``-th smallest score, the band
    ``predict(U) -/+ q * sigma`` contains the *whole* true output function
    (every point at once) with probability at least ``1 - alpha`` for a new
    function drawn like the calibration ones (finite-sample split conformal
    guarantee, Lei et al., 2018), whatever the model's accuracy.

    Parameters
    ----------
    estimator : estimator object
        The regressor, unfitted: a :class:`~skoperator.DeepONetRegressor`,
        an :class:`EnsembleRegressor` (for a band whose width follows the
        ensemble's spread), or a :class:`~sklearn.pipeline.Pipeline` ending
        in either. Its ``predict`` must take ``coords`` for
        ``predict_interval(X, coords=...)``.

    alpha : float, default=0.1
        Miscoverage: the band contains the whole true function for at least
        ``1 - alpha`` of new functions (0.1 gives a 90 % band).

    calibration_fraction : float or int, default=0.25
        Functions held out for calibration: a float in (0, 1) is a fraction
        of the rows (rounded up), an int a number of rows. Calibration needs
        at least ``ceil((1 - alpha) / alpha)`` functions (9 for
        ``alpha=0.1``).

    normalize : "auto" or bool, default="auto"
        Scale the errors by the pointwise standard deviation of the
        estimator (``predict(X, return_std=True)``, as an
        :class:`EnsembleRegressor` gives), so that the band is wide where the
        members disagree. "auto" does so when the estimator's final step
        has ``return_std``; True requires it; False uses a band of constant
        width.

    std_floor : float, default=1.0
        With ``normalize``, ``sigma = std + std_floor * mean(std)`` (the
        mean over the calibration functions and points): it keeps points
        where the members happen to agree (a pinned boundary value) from
        dividing by nearly zero, which would make the scores, and hence the
        band everywhere, blow up. 0 scales by the spread alone; a large
        value gives a band of constant width around the ensemble mean. On
        the antiderivative benchmark (5 members, seeds 0-2) the mean band
        width was 0.100 at 0, 0.075 at 0.1, 0.060 at 0.5, 0.057 at 1 and
        0.069 for constant width (0.085 for a single model's band).

    random_state : int, RandomState instance or None, default=None
        Seeds the split into training and calibration functions.

    Attributes
    ----------
    estimator_ : estimator object
        The clone of ``estimator`` fitted on the training functions.

    quantile_ : float
        The calibrated multiplier ``q``: the band's half-width is
        ``q * sigma``.

    calibration_scores_ : ndarray of shape (n_calibration,)
        The scores ``s_i`` of the calibration functions.

    n_calibration_ : int
        Calibration functions used (those with at least one observed
        point).

    train_indices_ : ndarray of int
        Rows the estimator was fitted on.

    calibration_indices_ : ndarray of int
        Rows held out for calibration.

    normalized_ : bool
        Whether the scores and band are scaled by the standard deviation.

    std_offset_ : float
        ``std_floor * mean(std)`` added to the standard deviation (0.0 when
        not normalized).

    n_features_in_ : int
        Number of sensors (columns of ``U``) seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Sensor names, when the fitted estimator records them.

    See Also
    --------
    EnsembleRegressor : Mean and pointwise spread of several models.
    skoperator.inspection.OperatorPredictionDisplay : Plot a prediction and its
        band.

    Notes
    -----
    The guarantee is marginal (over new functions, not for each one) and
    holds at the coordinates the model is calibrated on (the fitted ones);
    ``predict_interval(X, coords=...)`` elsewhere extrapolates the band. The
    training part is smaller than the data given to ``fit``; refit on all
    functions only by giving up the guarantee. Missing targets (NaN) are
    left out of the maximum; a calibration function with no observed point
    is dropped. With several output fields, the maximum runs over all
    fields: normalize, or give the fields comparable scales.

    MAPIE (``mapie.regression.SplitConformalRegressor``) is not used: it
    calibrates one target at a time, so on an operator it would give an
    interval per output point, each covering its point for ``1 - alpha``
    of the functions, while the whole function would be covered far less
    often (about ``(1 - alpha) ** n_points`` for independent errors). Its
    multivariate scores (``mapie.experimental``) give ellipsoids from a
    learned covariance rather than a band. The maximum over points used
    here is the simultaneous version of its absolute-residual score.

    Inside a :class:`~sklearn.pipeline.Pipeline`, put the pipeline inside
    this estimator (``ConformalBandRegressor(make_pipeline(...))``) to keep
    ``predict_interval`` at hand; ``score`` (and so ``GridSearchCV``) rates
    the point prediction, and nested parameters such as
    ``estimator__n_eval`` are searched as usual.

    References
    ----------
    .. [1] J. Lei, M. G'Sell, A. Rinaldo, R. J. Tibshirani and L. Wasserman,
       "Distribution-Free Predictive Inference for Regression", JASA 113
       (2018).
    .. [2] A. N. Angelopoulos and S. Bates, "A Gentle Introduction to Conformal
       Prediction and Distribution-Free Uncertainty Quantification",
       arXiv:2107.07511 (2021).

    Examples
    --------
    >>> from skoperator import DeepONetRegressor
    >>> from skoperator.datasets import make_antiderivative
    >>> from skoperator.uncertainty import ConformalBandRegressor
    >>> U, Y, G = make_antiderivative(300, n_points=50, random_state=0)
    >>> model = DeepONetRegressor(coords=Y, n_eval=10, max_iter=20, tol=None, device="cpu",
    ...                           random_state=0)
    >>> band = ConformalBandRegressor(model, alpha=0.1, random_state=0).fit(U[:200], G[:200])
    >>> lower, upper = band.predict_interval(U[200:])
    >>> lower.shape
    (100, 50)
    >>> inside = ((lower <= G[200:]) & (G[200:] <= upper)).all(axis=1)
    >>> bool(inside.mean() > 0.7)
    True
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"])],
        "alpha": [Interval(Real, 0, 1, closed="neither")],
        "calibration_fraction": [Interval(RealNotInt, 0, 1, closed="neither"),
                                 Interval(Integral, 1, None, closed="left")],
        "normalize": ["boolean", StrOptions({"auto"})],
        "std_floor": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator, alpha=0.1, *, calibration_fraction=0.25, normalize="auto",
                 std_floor=1.0, random_state=None):
        self.estimator = estimator
        self.alpha = alpha
        self.calibration_fraction = calibration_fraction
        self.normalize = normalize
        self.std_floor = std_floor
        self.random_state = random_state

    def _rank(self, n_cal):
        """Rank ``k`` of the calibration quantile; a clear error when there is none."""
        k = math.ceil((n_cal + 1) * (1 - self.alpha) - 1e-9)
        if k > n_cal:
            need = math.ceil((1 - self.alpha) / self.alpha - 1e-9)
            raise ValueError(
                f"{n_cal} calibration function(s) are too few for alpha={self.alpha}: split "
                f"conformal prediction needs (n_cal + 1) * (1 - alpha) <= n_cal, that is at "
                f"least {need} calibration functions with an observed point. Pass more "
                "functions, a larger calibration_fraction, or a larger alpha."
            )
        return k

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fit the estimator on the training functions and calibrate the band.

        Parameters
        ----------
        X : array-like of shape (n_functions, n_sensors)
            ``U``: input functions at the sensors.
        y : array-like of shape (n_functions, n_columns)
            ``G``: output functions; NaN marks a missing value.

        Returns
        -------
        self : object
            The fitted, calibrated estimator.
        """
        require_y(y, type(self).__name__)
        X, y = indexable(X, y)
        n = _num_samples(X)
        if isinstance(self.calibration_fraction, Integral):
            n_cal = int(self.calibration_fraction)
        else:
            n_cal = math.ceil(self.calibration_fraction * n - 1e-9)  # 0.07 * 100: 7 rows
        if n_cal >= n:
            raise ValueError(f"calibration_fraction={self.calibration_fraction!r} leaves no "
                             f"training function out of {n} (n_samples={n}); pass fewer "
                             "calibration functions or more data.")
        self._rank(n_cal)  # fail before the (long) fit
        normalize = self.normalize if isinstance(self.normalize, str) else bool(self.normalize)
        if normalize is True and not _has_return_std(self.estimator):
            raise ValueError(
                f"normalize=True needs an estimator whose predict takes return_std (such as "
                f"EnsembleRegressor); {type(final_step(self.estimator)[1]).__name__} has "
                "none. Use normalize='auto' or False.")
        normalized = normalize is not False and _has_return_std(self.estimator)
        perm = check_random_state(self.random_state).permutation(n)
        cal, train = np.sort(perm[:n_cal]), np.sort(perm[n_cal:])
        estimator = clone(self.estimator).fit(_safe_indexing(X, train), _safe_indexing(y, train))
        X_cal = _safe_indexing(X, cal)
        G_cal = check_targets(_safe_indexing(y, cal), n_cal)
        sigma, offset = 1.0, 0.0
        if normalized:
            pred, std = predict_with(estimator, X_cal, None, return_std=True)
            std = np.asarray(std, dtype=np.float64).reshape(G_cal.shape)
            observed = ~np.isnan(G_cal)
            mean_std = float(np.mean(std[observed])) if observed.any() else 0.0
            if mean_std > 0:
                offset = self.std_floor * mean_std
                sigma = std + offset
            else:
                warnings.warn("The estimator's standard deviation is zero on every "
                              "calibration point (a single member?); the band is not "
                              "normalized.", UserWarning, stacklevel=2)
                normalized = False
        else:
            pred = predict_with(estimator, X_cal, None)
        pred = np.asarray(pred, dtype=np.float64).reshape(G_cal.shape)
        observed = ~np.isnan(G_cal)
        if not (np.all(np.isfinite(pred[observed]))
                and np.all(np.isfinite(np.broadcast_to(sigma, G_cal.shape)[observed]))):
            raise ValueError(
                f"{type(estimator).__name__} predicts NaN or infinity on calibration "
                "functions where the target is observed; leaving those points out would "
                "break the band's coverage guarantee. Fix the estimator (or the "
                "functions it cannot predict) before calibrating.")
        errors = np.abs(G_cal - pred) / sigma
        has_point = ~np.all(np.isnan(errors), axis=1)
        scores = np.full(n_cal, -np.inf)
        scores[has_point] = np.nanmax(errors[has_point], axis=1)
        scores = scores[has_point]
        k = self._rank(len(scores))
        self.estimator_ = estimator
        self.normalized_ = bool(normalized)
        self.std_offset_ = offset
        self.calibration_scores_ = scores
        self.n_calibration_ = len(scores)
        self.quantile_ = float(np.sort(scores)[k - 1])
        self.train_indices_ = train
        self.calibration_indices_ = cal
        self.n_features_in_ = getattr(estimator, "n_features_in_", None)
        if self.n_features_in_ is None:
            self.n_features_in_ = _num_samples(np.asarray(X).T)
        if hasattr(estimator, "feature_names_in_"):
            self.feature_names_in_ = estimator.feature_names_in_
        else:  # a refit on an array: no names left from an earlier fit
            self.__dict__.pop("feature_names_in_", None)
        return self

    def predict(self, X, coords=None):
        """Point prediction of the fitted estimator.

        Parameters
        ----------
        X : array-like of shape (n_functions, n_sensors)
            ``U``: input functions.
        coords : array-like of shape (n_points, d), default=None
            Where to evaluate the outputs; None uses the fitted coordinates.

        Returns
        -------
        G : ndarray of shape (n_functions, n_columns)
            Predicted outputs (the ensemble mean for an ensemble).
        """
        check_is_fitted(self)
        return np.asarray(predict_with(self.estimator_, X, coords), dtype=np.float64)

    def predict_interval(self, X, coords=None):
        """Lower and upper edges of the whole-function band.

        Parameters
        ----------
        X : array-like of shape (n_functions, n_sensors)
            ``U``: input functions.
        coords : array-like of shape (n_points, d), default=None
            Where to evaluate the band; None uses the fitted coordinates (where
            the guarantee holds).

        Returns
        -------
        lower : ndarray of shape (n_functions, n_columns)
            ``predict(X) - quantile_ * sigma``.
        upper : ndarray of shape (n_functions, n_columns)
            ``predict(X) + quantile_ * sigma``; for at least ``1 - alpha``
            of new functions, the true function lies between the edges at
            every point.
        """
        check_is_fitted(self)
        if self.normalized_:
            pred, std = predict_with(self.estimator_, X, coords, return_std=True)
            half = self.quantile_ * (np.asarray(std, dtype=np.float64) + self.std_offset_)
        else:
            pred = predict_with(self.estimator_, X, coords)
            half = self.quantile_
        pred = np.asarray(pred, dtype=np.float64)
        return pred - half, pred + half

    def __sklearn_tags__(self):
        return self._inner_tags(super().__sklearn_tags__())
