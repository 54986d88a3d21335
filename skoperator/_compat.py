"""The one place that imports scikit-learn's private helpers.

scikit-learn's parameter validation (``Interval``, ``StrOptions``,
``validate_params``...) and ``_fit_context`` are not public API; every
skoperator module imports them from here, so that a change in scikit-learn
touches one file.
"""

from numbers import Integral

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils import _safe_indexing
from sklearn.utils._optional_dependencies import check_matplotlib_support
from sklearn.utils._param_validation import (
    HasMethods,
    Hidden,
    InvalidParameterError,
    RealNotInt,
    StrOptions,
    validate_params,
)
from sklearn.utils._param_validation import Interval as _Interval
from sklearn.utils.validation import _check_sample_weight, _num_samples


class Interval(_Interval):
    """scikit-learn's ``Interval`` constraint, refusing a bool.

    ``True`` is an ``Integral`` and a ``Real``: scikit-learn's ``Interval``
    takes it as 1, so that ``max_iter=True`` would train one epoch. Every
    constraint of the package refuses it (a setting that takes a bool says
    so with ``"boolean"``).
    """

    def is_satisfied_by(self, val):
        return not isinstance(val, (bool, np.bool_)) and super().is_satisfied_by(val)


def is_count(value, minimum=1):
    """Whether ``value`` is an int (numpy's included, a bool not) of at least ``minimum``.

    The checks outside the parameter constraints (arguments of functions
    and methods) use this, as :class:`Interval` refuses bools.
    """
    return not isinstance(value, bool) and isinstance(value, Integral) and value >= minimum


__all__ = ["HasMethods", "Hidden", "Interval", "InvalidParameterError", "RealNotInt",
           "StrOptions", "_fit_context", "validate_params"]
__all__ += ["_check_sample_weight", "_num_samples", "_safe_indexing",
            "check_matplotlib_support", "is_count"]
