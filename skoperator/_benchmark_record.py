"""The benchmark record: :class:`Benchmark`, one per problem of ``reproduce.BENCHMARKS``.

The registry itself is in ``_benchmarks`` (and the modules it gathers
problems from); this module holds only the record, so that a group of
problems can live in a module of its own, and the checks of the counts a
record's run takes (:func:`_check_counts`).
"""

import dataclasses
import functools
from typing import Callable, Optional

from sklearn.base import BaseEstimator, clone

from ._compat import is_count

__all__ = ["Benchmark"]


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """One paper problem: data, architecture, recipes, sizes and the paper's numbers.

    Parameters
    ----------
    name : str
        Name on the command line and in :data:`BENCHMARKS`.
    title : str
        One line for tables and figures.
    make : callable
        Generator ``make(n_functions, random_state=...) -> (U, Y, G)``.
    architecture : dict
        Estimator parameters shared by every recipe; the networks are
        components (``branch=MLPBranch(layers=(40, 40, 40))``), copied by
        :meth:`params`.
    recipes : dict
        Budget name (``"quick"``, ``"paper"``) -> estimator parameters,
        overriding the architecture's (a recipe's ``branch`` replaces the
        architecture's whole branch component); the key ``input_transform``
        (a function applied to ``U`` first, such as ``np.log``, or a
        transformer, cloned, such as ``PCA(whiten=True)``) makes
        :func:`make_estimator` return a pipeline, the key ``symmetries`` (a
        list of exact symmetries of the problem) a
        :class:`~skoperator.symmetry.SymmetrizedRegressor` whose ``max_iter``
        counts passes over the data's images, the key ``canonical`` (a
        canonicaliser of a continuous symmetry group, such as
        :class:`~skoperator.symmetry.GridTranslation`) a
        :class:`~skoperator.symmetry.CanonicalizedRegressor`, the key
        ``group_average`` (a finite group, such as
        :func:`~skoperator.datasets.darcy_symmetry`) a
        :class:`~skoperator.symmetry.GroupAveragedRegressor`.
    n_train : tuple of int
        Default training-set sizes (the paper's tables).
    n_evals : tuple
        Default ``n_eval`` values: ints, or "full" (the sampler that uses
        every point).
    n_test : int
        Held-out functions.
    paper : dict, default={}
        The paper's reported results: ``(n_train, n_eval) -> (mean R2, seconds)``.
    reference : callable or None, default=None
        ``reference() -> (U_test, coords, G_test)``: held-out data that this
        project did not generate (the authors' own), used when present.
    published : tuple of tuple, default=()
        Published results to print beside ours: ``(method, error, source)``
        rows, the error of ``metric`` as a fraction, not in percent.
    physics_only : bool, default=False
        Train from the physics alone: :func:`run` fits on ``G`` entirely
        missing (NaN), the recipe's ``physics`` component giving the loss;
        the held-out ``G`` still scores the fit.
    metric : {"mean_rel_l2", "median_rel_l1"}, default="mean_rel_l2"
        The error of the ``published`` rows: the mean relative L2 error, or
        the median relative L1 error (Lanthaler et al. 2023), which
        :func:`run` then adds to its rows (``median_rel_l1``) and the table
        prints.

    Examples
    --------
    >>> from skoperator.reproduce import BENCHMARKS
    >>> heat = BENCHMARKS["heat"]
    >>> heat.coords().shape, heat.n_test, heat.paper[(500, 16)][0]
    ((1024, 2), 500, 0.9712)
    """

    name: str
    title: str
    make: Callable
    architecture: dict
    recipes: dict
    n_train: tuple
    n_evals: tuple
    n_test: int
    paper: dict = dataclasses.field(default_factory=dict)
    reference: Optional[Callable] = None
    published: tuple = ()
    physics_only: bool = False
    metric: str = "mean_rel_l2"

    def coords(self):
        """Output coordinates, from the generator itself.

        Returns
        -------
        coords : ndarray of shape (n_points, d)
            Read-only.
        """
        return _coords(self.name, self.make)

    def params(self, budget):
        """Estimator parameters of a recipe.

        Parameters
        ----------
        budget : str
            A key of ``recipes``.

        Returns
        -------
        params : dict
            The architecture updated with the recipe; its components (branch,
            trunk, ...) are fresh copies, never the record's own objects.
        """
        if budget not in self.recipes:
            raise ValueError(f"budget must be one of {sorted(self.recipes)}; got {budget!r}.")
        return _fresh({**self.architecture, **self.recipes[budget]})


def _fresh(params):
    """``params`` with every component (or list of components) cloned."""
    def copy(value):
        if isinstance(value, BaseEstimator):
            return clone(value)
        if isinstance(value, (list, tuple)) and any(isinstance(v, BaseEstimator) for v in value):
            return type(value)(copy(v) for v in value)
        return value

    return {name: copy(value) for name, value in params.items()}


@functools.lru_cache(maxsize=None)
def _coords(name, make):
    """The output coordinates of problem ``name`` (made by ``make``), read-only.

    Made without the disk cache: checking a call's settings writes no file.
    """
    cached = "cache" in (getattr(make, "keywords", None) or {})
    _, Y, _ = make(1, random_state=0, **({"cache": False} if cached else {}))
    Y.setflags(write=False)
    return Y


#: :func:`~skoperator.reproduce.run` seeds a run's data with ``DATA_SEED_OFFSET + seed``.
DATA_SEED_OFFSET = 1000
#: The largest seed: its data seed is numpy's largest.
SEED_MAX = 2**32 - 1 - DATA_SEED_OFFSET


def _check_counts(**counts):
    """Each count (or list of counts) an int, at least 1 (seeds: at least 0), or None.

    ``seeds`` and ``n_trains`` are lists (seeds at most :data:`SEED_MAX`);
    every other name one count.
    """
    for name, value in counts.items():
        minimum = 0 if name == "seeds" else 1
        maximum = SEED_MAX if name == "seeds" else None
        flag = {"n_trains": "--n-train"}.get(name, "--" + name.replace("_", "-"))
        for v in value if name in ("seeds", "n_trains") else [value]:
            if not (v is None and name in ("n_test", "epochs")) and not (
                    is_count(v, minimum) and (maximum is None or v <= maximum)):
                bound = f" and <= {maximum}" if maximum is not None else ""
                raise ValueError(f"{name} ({flag} on the command line) must hold ints >= "
                                 f"{minimum}{bound}; got {value!r}. Pass, for instance, {flag} "
                                 f"{max(minimum, 10) if name != 'seeds' else 0}.")
