"""The one place that imports scikit-learn's private helpers.

scikit-learn's parameter validation (``Interval``, ``StrOptions``,
``validate_params``...) and ``_fit_context`` are not public API; every
skoperator module imports them from here, so that a change in scikit-learn
touches one file.
"""

from sklearn.base import _fit_context
from sklearn.utils import _safe_indexing
from sklearn.utils._optional_dependencies import check_matplotlib_support
from sklearn.utils._param_validation import (
    HasMethods,
    Hidden,
    Interval,
    InvalidParameterError,
    RealNotInt,
    StrOptions,
    validate_params,
)
from sklearn.utils.validation import _check_sample_weight, _num_samples

__all__ = ["HasMethods", "Hidden", "Interval", "InvalidParameterError", "RealNotInt",
           "StrOptions", "_fit_context", "validate_params"]
__all__ += ["_check_sample_weight", "_num_samples", "_safe_indexing",
            "check_matplotlib_support"]
