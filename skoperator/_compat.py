"""The one place that imports scikit-learn's private helpers.

scikit-learn's parameter validation (``Interval``, ``StrOptions``,
``validate_params``...) and ``_fit_context`` are not public API; every
skoperator module imports them from here, so that a change in scikit-learn
touches one file.
"""

from numbers import Integral

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


def is_count(value, minimum=1):
    """Whether ``value`` is an int (numpy's included, a bool not) of at least ``minimum``.

    ``Interval(Integral, ...)`` takes ``True`` as 1; the checks outside the
    parameter constraints (arguments of functions and methods) use this.
    """
    return not isinstance(value, bool) and isinstance(value, Integral) and value >= minimum


__all__ = ["HasMethods", "Hidden", "Interval", "InvalidParameterError", "RealNotInt",
           "StrOptions", "_fit_context", "validate_params"]
__all__ += ["_check_sample_weight", "_num_samples", "_safe_indexing",
            "check_matplotlib_support", "is_count"]
