"""The base class of components: settings as constructor arguments, scikit-learn style."""

import inspect

from sklearn.base import BaseEstimator


def _inherited_doc(cls, name):
    """Docstring of attribute ``name`` in the nearest base of ``cls`` that documents it."""
    for base in cls.__mro__[1:]:
        if base is object:
            break
        if name in vars(base):
            doc = getattr(vars(base)[name], "__doc__", None)
            if doc:
                return doc
    return None


class NestedSettings:
    """``set_params`` that checks every name before it sets any (mixed in before BaseEstimator).

    scikit-learn's ``set_params`` sets settings one by one, so that a bad
    name after a good one leaves the good one set, and it meets a nested
    name (``trunk__layers``) on a setting that holds a name, a list or None
    with an ``AttributeError``. Here both are a ``ValueError`` raised before
    anything changes.
    """

    def set_params(self, **params):
        """Set the parameters of this object (nested ones as ``component__name``).

        Parameters
        ----------
        **params : dict
            Parameter names mapped to their new values.

        Returns
        -------
        self : object
            This object.
        """
        check_nested(self, params)
        return super().set_params(**params)


def check_nested(owner, params):
    """Raise ``ValueError`` for a name of ``params`` that ``owner.set_params`` cannot set.

    Nested names (``trunk__layers``) are checked against the component they
    reach, at every depth, so that nothing is set when one name is bad.
    """
    valid = owner.get_params(deep=True)  # deep: MultiBranch's positions "0", "1"...
    branches = params.get("branches", getattr(owner, "branches", None))
    if "branches" in params and isinstance(branches, (list, tuple)):
        # the positions of the branches this call sets, not of the current ones
        valid = {k: v for k, v in valid.items() if not k.partition("__")[0].isdigit()}
        valid.update((str(i), b) for i, b in enumerate(branches))
    nested = {}
    for key, value in params.items():
        head, sep, rest = key.partition("__")
        if head not in valid and head.isdigit() and isinstance(branches, (list, tuple)):
            raise ValueError(
                f"Invalid parameter {key!r} for {type(owner).__name__}: it has "
                f"{len(branches)} branches, named 0 to {len(branches) - 1}; pass one of those "
                "positions.")
        if head not in valid:
            raise ValueError(f"Invalid parameter {head!r} for estimator "
                             f"{type(owner).__name__}. Valid parameters are: "
                             f"{sorted(k for k in valid if '__' not in k)!r}.")
        if sep:
            nested.setdefault(head, {})[rest] = value
    for head, sub in nested.items():
        target = params.get(head, valid[head])
        if not hasattr(target, "set_params"):
            if isinstance(target, str):
                fix = (f"pass the component object as {head} instead of its name, as "
                       "trunk=MLPTrunk(layers=(64, 64)) replaces trunk='mlp'")
            elif isinstance(target, (list, tuple)) and head == "branches":
                fix = "set branch i of a MultiBranch as 'i__name', such as '0__layers'"
            elif isinstance(target, (list, tuple)):
                fix = f"pass {head}=MultiBranch([...]), whose branches are set by position"
            else:
                fix = f"pass a component as {head} first"
            raise ValueError(f"Invalid parameter {head + '__' + next(iter(sub))!r} for "
                             f"{type(owner).__name__}: {head}={target!r} has no settings of "
                             f"its own; {fix}.")
        check_nested(target, sub)


class Component(NestedSettings, BaseEstimator):
    """Settings as constructor arguments, ``get_params``/``set_params`` and ``repr``.

    scikit-learn's nested-parameter idiom (as its kernels and meta-estimators):
    ``clone`` copies a component, ``GridSearchCV`` searches its settings as
    ``branch__modes``. :meth:`check` validates the settings against
    ``_parameter_constraints`` with scikit-learn's error text.

    A method that a subclass overrides without a docstring of its own (a
    protocol's ``build``, ``__call__``, ``prepare``...) takes the docstring of
    the method it overrides, so that the protocol is documented once, on its
    base class.
    """

    _parameter_constraints: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name, value in vars(cls).items():
            # The constructor's parameters are the class's own (its docstring).
            if name == "__init__":
                continue
            func = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
            if inspect.isfunction(func) and func.__doc__ is None:
                doc = _inherited_doc(cls, name)
                if doc is not None:
                    func.__doc__ = doc

    def check(self):
        """Validate the settings; raise ``ValueError`` naming the bad one.

        Returns
        -------
        self : Component
            The component, unchanged.
        """
        self._validate_params()
        return self
