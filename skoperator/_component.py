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


class Component(BaseEstimator):
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
