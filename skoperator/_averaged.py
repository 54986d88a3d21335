"""A finite group's average at prediction: fit once on the data, predict ``mean_g g^-1 f(g u)``.

:class:`~skoperator.symmetry.SymmetrizedRegressor` trains on every image of
the data and averages; :class:`~skoperator.symmetry.CanonicalizedRegressor`
trains in one canonical position. :class:`GroupAveragedRegressor` changes
nothing in training: the inner regressor is fitted on the data as given, and
its prediction is averaged over the images of each input under every element
of a finite group of exact symmetries (test-time augmentation). Where the
input law is itself symmetric, every image is as likely an input as the
function itself, the inner model is as accurate on it, and its errors on the
images are partly independent: the average cancels part of them at
``|group|`` predictions' cost.
"""

import numpy as np
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted, validate_data

from ._canonical import _SymmetryRegressor
from ._compat import _fit_context
from ._meta import check_pairs

__all__ = ["GroupAveragedRegressor"]


def _check_closed(symmetry, n_sensors):
    """Refuse elements that are not a group: the average is equivariant only over one.

    On a probe of distinct values, the image of every element's image under
    every element must be the image under a listed element (a quarter turn
    lists {identity, quarter turn}: its square is missing).
    """
    elements = list(symmetry.group_elements())
    probe = np.arange(n_sensors, dtype=np.float64)[None] + 1.0

    def image(A, element):
        return symmetry.transform_inputs(A, np.full(len(A), element))

    images = [image(probe, e) for e in elements]
    for a, first in zip(elements, images):
        for b in elements:
            twice = image(first, b)
            if not any(np.array_equal(twice, other) for other in images):
                raise ValueError(
                    f"GroupAveragedRegressor symmetry lists {len(elements)} elements that are "
                    f"not a group: composing elements {a} and {b} gives a map it does not "
                    "list, so the average would not be equivariant. Give maps that are "
                    "their own inverses and close under composition (a rotation by its "
                    "mirror and transposition generators, as darcy_symmetry does).")


class GroupAveragedRegressor(_SymmetryRegressor):
    """Fit a regressor on the data, predict its average over a finite symmetry group.

    ``fit`` trains a clone of ``estimator`` on ``(U, G)`` unchanged: the same
    cost as the plain fit. ``predict`` maps each input by every element ``g``
    of the group (:meth:`~skoperator.symmetry.GridPointGroup.group_elements`),
    predicts, maps each prediction back by ``g^-1`` and returns the mean:
    ``mean_g g^-1 f(g u)``, exactly equivariant when the elements form a
    group (the eight maps of a square do), at ``|group|`` predictions' cost.
    It pays where the law of the inputs is symmetric too (the images are
    inputs the model was trained for): on FNO's Darcy flow at 85 x 85 the
    eight maps of the square take the error of a model trained 12 epochs
    from 1.68 % to 1.35 % (``docs/benchmarks.md``).

    Parameters
    ----------
    estimator : estimator object
        A regressor of rows of ``U`` to rows of ``G`` (a
        :class:`~skoperator.DeepONetRegressor`, a pipeline, any scikit-learn
        regressor); cloned at fit.
    symmetry : GridPointGroup
        A finite group of exact symmetries of the operator whose elements it
        lists (``group_elements()``), such as
        :func:`skoperator.datasets.darcy_symmetry`.

    Attributes
    ----------
    estimator_ : estimator object
        The clone fitted on the data (its ``n_iter_``, ``history_``...).
    symmetry_ : GridPointGroup
        The fitted copy of ``symmetry``.
    n_group_ : int
        Elements averaged over, the identity included.
    n_features_in_ : int
        Columns of ``U`` at fit.

    See Also
    --------
    skoperator.symmetry.SymmetrizedRegressor : Trains on every image of a
        few commuting mirrors, and averages.
    skoperator.symmetry.CanonicalizedRegressor : Trains and predicts in a
        canonical position.

    Notes
    -----
    ``predict`` works on the fitted grid only (the group acts on its
    values). A symmetry that does not hold averages predictions of the wrong
    functions: use it only for exact symmetries of the problem.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from skoperator.symmetry import (GridPermutation, GridPointGroup,
    ...                                  GroupAveragedRegressor)
    >>> mirror = GridPermutation(grid=(6,), matrix=((-1,),), offset=(5,))
    >>> rng = np.random.default_rng(0)
    >>> U = rng.normal(size=(30, 6))
    >>> G = U + 0.5 * U[:, ::-1]  # commutes with the mirror
    >>> model = GroupAveragedRegressor(Ridge(alpha=1.0),
    ...                                GridPointGroup(grid=(6,), point_symmetries=[mirror]))
    >>> model = model.fit(U, G)
    >>> model.n_group_
    2
    >>> bool(np.allclose(model.predict(U[:, ::-1]), model.predict(U)[:, ::-1]))
    True
    """

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, **fit_params):
        """Fit a clone of ``estimator`` on ``(X, y)``, as arrays (as :meth:`predict` passes).

        Parameters
        ----------
        X : array-like of shape (n_functions, n_sensors)
            ``U``: input functions.
        y : array-like of shape (n_functions, n_points)
            ``G``: outputs (NaN for a missing value, where the estimator
            accepts it).
        **fit_params : dict
            Passed to ``estimator.fit``.

        Returns
        -------
        self : GroupAveragedRegressor
            Fitted.
        """
        U, G = check_pairs(self, X, y)
        symmetry = clone(self.symmetry)
        symmetry.check()
        if not hasattr(symmetry, "group_elements"):
            raise ValueError(
                f"GroupAveragedRegressor symmetry must list its elements (a finite group "
                f"such as GridPointGroup); got {type(symmetry).__name__}. Use "
                "CanonicalizedRegressor for a group too large to average over.")
        symmetry.check_shapes(U.shape[1], G.reshape(len(G), -1).shape[1], "symmetry")
        _check_closed(symmetry, U.shape[1])
        # arrays, as predict gives it (a DataFrame's names would be missing there)
        estimator = clone(self.estimator).fit(U, G, **fit_params)
        validate_data(self, X, reset=True, ensure_all_finite=False)  # n_features_in_, names
        self.estimator_ = estimator
        self.symmetry_ = symmetry
        self.n_group_ = len(symmetry.group_elements())
        return self

    def predict(self, X):
        """The mean of ``g^-1 f(g u)`` over the group's elements ``g``.

        Parameters
        ----------
        X : array-like of shape (n_functions, n_sensors)
            ``U``: input functions.

        Returns
        -------
        G : ndarray of shape (n_functions, n_points)
            Predicted outputs on the fitted grid.
        """
        check_is_fitted(self)
        U = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        total = None
        for element in self.symmetry_.group_elements():
            elements = np.full(len(U), element)
            out = np.asarray(self.estimator_.predict(
                self.symmetry_.transform_inputs(U, elements)))
            back = self.symmetry_.transform_outputs(out.reshape(len(out), -1), elements,
                                                    inverse=True).astype(np.float64)
            total = back if total is None else total + back
        return (total / self.n_group_).astype(out.dtype, copy=False).reshape(out.shape)
