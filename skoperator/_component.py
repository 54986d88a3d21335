"""The base class of components: settings as constructor arguments, scikit-learn style."""

from sklearn.base import BaseEstimator


class Component(BaseEstimator):
    """Settings as constructor arguments, ``get_params``/``set_params`` and ``repr``.

    scikit-learn's nested-parameter idiom (as its kernels and meta-estimators):
    ``clone`` copies a component, ``GridSearchCV`` searches its settings as
    ``branch__modes``. :meth:`check` validates the settings against
    ``_parameter_constraints`` with scikit-learn's error text.
    """

    _parameter_constraints: dict = {}

    def check(self):
        """Validate the settings; raise ``ValueError`` naming the bad one.

        Returns
        -------
        self : Component
        """
        self._validate_params()
        return self
