"""The one way to the final estimator inside pipelines, searches and meta-estimators.

A fitted operator model is often wrapped: in a :class:`~sklearn.pipeline.Pipeline`,
a search (``best_estimator_``), a ``TransformedTargetRegressor`` (``regressor_``),
or one of skoperator's meta-estimators (``EnsembleRegressor``,
``ConformalBandRegressor``, ``SymmetrizedRegressor``, built on
:class:`skoperator._meta.MetaOperatorMixin`). :func:`final_estimator` is the
one place that knows how to look inside each of them; displays, metrics,
inspection, io, reproduce and the meta-estimators all go through it.
"""

import numpy as np

__all__ = ["final_estimator", "final_step", "fitted_n_outputs"]

#: Wrappers deeper than this are taken for a cycle.
_MAX_DEPTH = 50

#: Fitted attributes that hold the one fitted estimator inside a wrapper: a
#: search's, a TransformedTargetRegressor's, a meta-estimator's.
_FITTED_INNER = ("best_estimator_", "regressor_", "estimator_")


def _passthrough(step):
    """Whether a pipeline step is a placeholder (None or "passthrough")."""
    return step is None or (isinstance(step, str) and step == "passthrough")


def final_step(estimator):
    """``(prefix, final)``: the last step of (nested) pipelines and its parameter prefix.

    Only pipelines are entered (the parameter path ``name__`` of each last
    step is ``prefix``); a pipeline ending in ``"passthrough"`` or None is its
    own final step.

    Parameters
    ----------
    estimator : estimator object
        Fitted or not.

    Returns
    -------
    prefix : str
        ``set_params`` prefix of ``final`` (``""`` when ``estimator`` is no
        pipeline).
    final : estimator object
        The last step.
    """
    prefix = ""
    for _ in range(_MAX_DEPTH):
        steps = getattr(estimator, "steps", None)
        if not steps:
            break
        name, step = steps[-1]
        if _passthrough(step):
            break
        prefix += f"{name}__"
        estimator = step
    return prefix, estimator


def _inner(estimator):
    """The one estimator ``estimator`` wraps, or None when it wraps none."""
    steps = getattr(estimator, "steps", None)
    if steps:  # a pipeline: its last step
        step = steps[-1][1]
        return None if _passthrough(step) else step
    members = getattr(estimator, "estimators_", None)  # an ensemble: its first member (a
    if isinstance(members, list) and members:  # scikit-learn ensemble's estimator_ is the
        return members[0]                      # unfitted template it cloned them from)
    for attr in _FITTED_INNER:
        inner = getattr(estimator, attr, None)
        if inner is not None:
            return inner
    if getattr(type(estimator), "wraps_estimator", False):  # unfitted: what it will clone
        return estimator.estimator
    return None


def check_single_model(estimator):
    """Refuse an ensemble of several members anywhere in ``estimator``: it has no one network."""
    for _ in range(_MAX_DEPTH):
        members = getattr(estimator, "estimators_", None)
        if isinstance(members, list) and len(members) > 1:
            raise ValueError(
                f"{type(estimator).__name__} holds {len(members)} members, whose mean is its "
                "prediction: it has no single network and loss to measure. Pass one of its "
                "estimators_ (each a fitted model).")
        inner = _inner(estimator)
        if inner is None or inner is estimator:
            return
        estimator = inner


def final_estimator(estimator, X=None):
    """The innermost estimator of pipelines, searches and meta-estimators.

    Looks through a pipeline's last step, a search's ``best_estimator_``, a
    ``TransformedTargetRegressor``'s ``regressor_``, a meta-estimator's
    fitted ``estimator_`` (or, unfitted, its ``estimator``) and an
    ensemble's first member (``estimators_[0]``), at any depth.

    Parameters
    ----------
    estimator : estimator object
        Fitted or not.
    X : array-like of shape (n_functions, n_sensors), default=None
        Inputs of ``estimator``: when given, they are passed through the
        fitted transforms of every pipeline on the way (as the final
        estimator sees them) and returned too. A wrapper that fits its
        estimator on other data than it is given (moved inputs, or a
        ``TransformedTargetRegressor``'s transformed targets) is refused.

    Returns
    -------
    final : estimator object
        The innermost estimator (``estimator`` itself when it wraps none):
        for a model built by skoperator, the ``DeepONetRegressor``.
    X : array-like
        The transformed inputs; only when ``X`` is given.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skoperator import DeepONetRegressor
    >>> from skoperator.uncertainty import ConformalBandRegressor
    >>> model = ConformalBandRegressor(make_pipeline(StandardScaler(), DeepONetRegressor()))
    >>> type(final_estimator(model)).__name__
    'DeepONetRegressor'
    """
    for _ in range(_MAX_DEPTH):
        inner = _inner(estimator)
        if inner is None or inner is estimator:
            break
        if X is not None and getattr(type(estimator), "moves_inputs", False):
            raise ValueError(
                f"{type(estimator).__name__} fits its estimator on moved inputs and outputs, "
                "so X is not what the estimator inside sees; pass its fitted estimator_ and "
                f"the moved data: {type(estimator).moved_data}.")
        if X is not None and inner is getattr(estimator, "regressor_", None) \
                and hasattr(estimator, "transformer_"):
            raise ValueError(
                f"{type(estimator).__name__} fits its regressor_ on transformed targets, so "
                "the targets are not what the estimator inside sees; pass its regressor_ "
                "and the transformed targets, transformer_.transform(G).")
        if X is not None and getattr(estimator, "steps", None):
            for _, step in estimator.steps[:-1]:
                if not _passthrough(step):
                    X = step.transform(X)
        estimator = inner
    return estimator if X is None else (estimator, X)


def fitted_n_outputs(estimator):
    """Output fields of the fitted operator model inside ``estimator`` (1 for any other).

    Parameters
    ----------
    estimator : estimator object
        A fitted estimator, or a wrapper of one.

    Returns
    -------
    n_outputs : int
        The final estimator's ``n_outputs_`` when it is an operator model
        (it has fitted coordinates ``coords_``); scikit-learn's own
        regressors use ``n_outputs_`` for the number of columns, which is
        not a number of fields: 1 for them.
    """
    final = final_estimator(estimator)
    value = getattr(final, "n_outputs_", None)
    if isinstance(value, (int, np.integer)) and hasattr(final, "coords_"):
        return int(value)
    return 1
