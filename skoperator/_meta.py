"""The base of skoperator's meta-estimators: one way inside, one ``score``.

``EnsembleRegressor``, ``ConformalBandRegressor`` and ``SymmetrizedRegressor``
wrap one regressor each. :class:`MetaOperatorMixin` gives them the same
``score`` (``DeepONetRegressor.score``'s, per output field, NaN ignored) and
the same way to the DeepONet inside (:func:`~skoperator._unwrap.final_estimator`).
"""

import numpy as np
from sklearn.base import MetaEstimatorMixin
from sklearn.utils import get_tags
from sklearn.utils.validation import check_array, check_is_fitted

from ._unwrap import final_estimator, final_step, fitted_n_outputs
from .metrics import score_outputs

__all__ = ["MetaOperatorMixin", "check_pairs", "check_targets", "final_estimator",
           "final_step", "fitted_n_outputs", "predict_with", "require_y"]


def check_pairs(owner, X, y, dtype=(np.float64, np.float32)):
    """``U`` (finite) and ``G`` (NaN allowed, 1-D or 2-D) of ``owner``'s fit, one row each."""
    require_y(y, type(owner).__name__)
    U = check_array(X, dtype=dtype, input_name="X")
    G = check_array(y, dtype=dtype, ensure_2d=False, ensure_all_finite="allow-nan",
                    input_name="y")
    if G.ndim > 2 or len(U) != len(G):
        raise ValueError(f"y has shape {G.shape} for X of {len(U)} rows; pass one row "
                         "of outputs per input function.")
    return U, G


def check_targets(y, n_rows):
    """float64 2-D view of G (NaN allowed) with ``n_rows`` rows."""
    G = check_array(y, ensure_2d=False, dtype=np.float64, ensure_all_finite="allow-nan",
                    input_name="G")
    G = G.reshape(len(G), -1)
    if G.shape[0] != n_rows:
        raise ValueError(f"G has {G.shape[0]} rows but X has {n_rows}; pass one output "
                         "function per input function.")
    return G


def predict_with(estimator, X, coords, **kwargs):
    """``estimator.predict(X, **kwargs)``, passing ``coords`` only when it is given."""
    if coords is not None:
        kwargs["coords"] = coords
    return estimator.predict(X, **kwargs)


def require_y(y, name):
    """A clear error when a meta-estimator is fitted without targets."""
    if y is None:
        raise ValueError(f"{name} requires y to be passed, but the target y is None; pass G, "
                         "the output functions.")


class MetaOperatorMixin(MetaEstimatorMixin):
    """Base of skoperator's meta-estimators: one ``score``, one way inside.

    A subclass wraps one regressor, its ``estimator`` parameter, and
    predicts with ``predict(X)``; :func:`final_estimator` looks inside it
    (its fitted ``estimator_`` or ``estimators_``, else ``estimator``).
    Put it first among the bases, so that its ``score`` replaces
    :class:`~sklearn.base.RegressorMixin`'s.
    """

    _required_parameters = ["estimator"]

    #: Capability read by :func:`~skoperator._unwrap.final_estimator`: an
    #: unfitted instance leads to its ``estimator`` parameter.
    wraps_estimator = True

    def score(self, X, y, sample_weight=None):
        """Variance-weighted R2 of the predictions on X (U) against y (G).

        Exactly as :meth:`skoperator.DeepONetRegressor.score`: each output
        column is weighted by its variance, several output fields (of the
        DeepONetRegressor inside) are scored on their own columns and the
        scores averaged, and missing targets (NaN) are ignored.

        Parameters
        ----------
        X : array-like of shape (n_functions, n_sensors)
            ``U``: input functions.
        y : array-like of shape (n_functions, n_columns)
            ``G``: true outputs at the fitted coordinates; NaN marks a
            missing value.
        sample_weight : array-like of shape (n_functions,), default=None
            Weight of each function.

        Returns
        -------
        score : float
            1.0 is perfect; 0.0 is no better than the column means.
        """
        check_is_fitted(self)
        return score_outputs(y, self.predict(X), sample_weight, n_outputs=fitted_n_outputs(self))

    def _inner_tags(self, tags):
        """``tags`` with the target and input tags of the wrapped estimator."""
        inner = get_tags(self.estimator)
        tags.target_tags.required = True
        tags.target_tags.single_output = inner.target_tags.single_output
        tags.target_tags.multi_output = inner.target_tags.multi_output
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        tags.input_tags.sparse = inner.input_tags.sparse
        return tags
