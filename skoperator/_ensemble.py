"""EnsembleRegressor: a deep ensemble of operator regressors.

Public in :mod:`skoperator.uncertainty`.
"""

import copy
from numbers import Integral

import numpy as np
from joblib import Parallel, cpu_count, delayed, effective_n_jobs
from joblib.parallel import get_active_backend
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils import check_random_state, indexable
from sklearn.utils.validation import check_is_fitted

from . import _coords, _data
from ._compat import HasMethods, Interval, StrOptions, _fit_context, _num_samples, _safe_indexing
from ._meta import MetaOperatorMixin, final_step, predict_with, require_y
from .networks import as_branch, as_trunk
from .optimizers import as_optimizer

__all__ = ["EnsembleRegressor"]

_MAX_SEED = np.iinfo(np.int32).max


def _random_state_keys(estimator):
    """Parameter names of ``estimator`` (nested ones included) that are random states."""
    return sorted(key for key in estimator.get_params(deep=True)
                  if key == "random_state" or key.endswith("__random_state"))


def _in_joblib_worker():
    """Whether this code runs inside a joblib worker (a nested ``Parallel``)."""
    try:
        return get_active_backend()[0].nesting_level > 0
    except Exception:  # a joblib without it: assume the main process
        return False


def _fit_member(estimator, X, y, indices, thread_key):
    """Fit one member (in a joblib worker), on ``indices`` rows when given.

    ``thread_key`` names the member's thread parameter set to 1 for this fit
    (members run side by side); it is restored afterwards, so that the
    fitted member keeps the parameters the user gave.
    """
    if indices is not None:  # a streamed G as a lazy view (bootstrap rows repeat, unsorted)
        X = _safe_indexing(X, indices)
        y = _data.data_rows(y, indices) if _data.is_streamed(y) else _safe_indexing(y, indices)
    if thread_key is None:
        return estimator.fit(X, y)
    before = estimator.get_params()[thread_key]
    estimator.set_params(**{thread_key: 1})
    try:
        estimator.fit(X, y)
    finally:
        estimator.set_params(**{thread_key: before})
    return estimator


def _vectorizable(component):
    """Whether copies of ``component`` stack into batched layers (its class's capability).

    A branch or trunk class declares ``vectorizable = True`` when its
    networks for several fields can be stacked layer by layer
    (:class:`~skoperator._layers.BatchedStack`) and split again.
    """
    return bool(getattr(type(component), "vectorizable", False))


def _not_vectorizable(estimator, bootstrap, y):
    """Why the members of ``estimator`` cannot be one vectorised network (None if they can).

    Vectorised members are the fields of one DeepONetRegressor with
    independent networks per field: the final step must be a
    DeepONetRegressor with one output field, MLP branch and trunk, and no
    physics or output_transform (both see the fields), and every member must
    see the same functions (no bootstrap) held in memory.
    """
    prefix, final = final_step(estimator)
    if prefix.count("__") > 1:
        return "the regressor sits in a nested pipeline"
    if not callable(getattr(final, "_fit_fields_batched", None)):  # the estimator's capability
        return f"the final step is a {type(final).__name__}, not a DeepONetRegressor"
    if bootstrap:
        return "bootstrap=True (the members see different functions)"
    if final.n_outputs != 1:
        return f"n_outputs={final.n_outputs} (vectorised members are one-field models)"
    if final.physics is not None or final.output_transform is not None:
        return "physics or output_transform is set (both would see every member's output)"
    optimizer = as_optimizer(final.optimizer)
    if optimizer.clip_grad_norm is not None:
        return ("the optimizer clips the gradients' norm (clip_grad_norm), which over one "
                "network would couple the members")
    if not optimizer.scale_free():
        return (f"the optimizer {optimizer!r} is not free of the loss's scale (SGD, or "
                "Adam's coupled weight_decay): trained on the mean of the members' losses, "
                "each member would not move as it would alone")
    try:
        branch, trunk = as_branch(final.branch), as_trunk(final.trunk)
    except (TypeError, ValueError) as exc:  # the fit reports a bad component itself
        return str(exc)
    if not (_vectorizable(branch) and _vectorizable(trunk)):
        return (f"the branch ({type(branch).__name__}) and trunk ({type(trunk).__name__}) are "
                "not MLPs that stack (a component class with vectorizable = True: MLPBranch; "
                "MLPTrunk or ResNetTrunk)")
    if getattr(trunk, "fourier_features", 0):
        return "the trunk has Fourier features (not a plain MLP)"
    if _data.is_streamed(y):
        return "G is streamed from storage (the members' copy of G would be read into memory)"
    return None


def _check_one_fit_per_checkpoint(estimator, n_fits):
    """Refuse a Checkpoint that the ensemble's several fits would share (one directory, one fit)."""
    callbacks = final_step(estimator)[1].get_params().get("callbacks") or []
    shared = [cb for cb in callbacks if getattr(cb, "one_fit_per_directory", False)]
    if shared and n_fits > 1:
        raise ValueError(
            f"the estimator's callbacks hold {shared[0]!r}, but the ensemble trains its members "
            f"as {n_fits} fits, and one Checkpoint directory holds the checkpoints of one fit "
            "(each would refuse the others'). Remove the Checkpoint, or train the members as "
            "one network (vectorize='auto' or True with n_jobs=1, where the estimator allows "
            "it), or checkpoint each member's fit yourself.")


def _fit_vectorized(estimator, X, y, n_members, seed, one_thread=False):
    """Fit ``n_members`` members at once, as the fields of one DeepONetRegressor.

    The fields get independent branch and trunk networks, evaluated together
    as batched matrix products (:class:`~skoperator._layers.BatchedStack`),
    every field's target being ``G``; the loss is the mean of the fields' losses,
    so each member's weights move as they would alone (Adam is blind to the
    common factor), on the same batches and points. The fitted fields are
    then split into ordinary fitted estimators, one per member.

    ``one_thread`` fits on one torch thread (``n_jobs=1``; the members keep
    the estimator's ``n_jobs``), for a group of members in a joblib worker.

    Returns
    -------
    members : list of estimators
        Each like ``estimator`` (a pipeline's other steps are fitted once and
        copied into every member), with ``random_state`` set to ``seed``.
    """
    template = clone(estimator)
    keys = _random_state_keys(template)
    if keys:
        template.set_params(**{key: seed for key in keys})
    prefix, final = final_step(template)
    if n_members == 1:  # nothing to vectorise
        return [_fit_member(template, X, y, None, prefix + "n_jobs" if one_thread else None)]
    Xt = X
    if prefix:  # fit the other steps once: they do not depend on the member
        Xt = template[:-1].fit_transform(X, y)
    G = np.asarray(y, dtype=np.float64) if not hasattr(y, "to_numpy") else y.to_numpy(
        dtype=np.float64)
    G = G.reshape(len(G), -1)
    if final.coords is not None and np.ndim(final.coords) == 2:  # G's own width, not the tile's
        _coords.resolve_coords(final.coords, G.shape[1], final.n_outputs)
    big = clone(final).set_params(n_outputs=n_members, multi_output_strategy="independent")
    if one_thread:
        big.set_params(n_jobs=1)
    big._fit_fields_batched(Xt, np.tile(G, (1, n_members)))

    return _members_from_vectorised(big, template, final, prefix, n_members)


def _members_from_vectorised(big, template, final, prefix, n_members):
    """Split the fitted fields of ``big`` into ``n_members`` fitted estimators like ``template``.

    ``final`` is the unfitted final step of ``template`` (under the
    parameter ``prefix``, "" when ``template`` is no pipeline); ``big`` the
    fitted DeepONetRegressor whose fields are the members.
    """
    states = big._fitted_state().split_fields(
        multi_output_strategy=final.multi_output_strategy)
    members = []
    for state in states:
        member = copy.deepcopy(template) if prefix else clone(final)
        _, head = final_step(member)  # unfitted, its parameters the template's
        head._set_fitted(state)
        members.append(member)
    return members


class EnsembleRegressor(MetaOperatorMixin, RegressorMixin, BaseEstimator):
    """Deep ensemble of an operator regressor: mean prediction and pointwise spread.

    Trains ``n_estimators`` clones of ``estimator`` that differ in their
    weight initialisation (and, when trained one by one, in their shuffling
    and trunk sampling: their random seed) and, with ``bootstrap=True``, in
    the functions they see (a bootstrap sample of the
    rows of ``U`` and ``G``). ``predict`` returns the members' mean, and with
    ``return_std=True`` also the standard deviation over the members at every
    output point, a cheap and usually well-ranked estimate of the error
    (Lakshminarayanan et al., 2017). Use :class:`ConformalBandRegressor` to
    turn it into a band with a coverage guarantee.

    Parameters
    ----------
    estimator : estimator object
        The regressor to copy, unfitted: a
        :class:`~skoperator.DeepONetRegressor` or a
        :class:`~sklearn.pipeline.Pipeline` ending in one (any regressor
        works). Every parameter whose name ends in ``random_state`` (in the
        pipeline's steps too) is set to the member's seed.

    n_estimators : int, default=5
        Number of members.

    bootstrap : bool, default=False
        Fit each member on a bootstrap sample of the functions (rows, drawn
        with replacement, as many as there are rows) instead of on all of
        them. Seeds alone already give diverse members; the bootstrap adds
        the spread due to the training set.

    vectorize : bool or "auto", default="auto"
        Train the members together as one vectorised network: their
        weights stacked layer by layer, evaluated as batched matrix products
        in a single training loop (see Notes). "auto" does so whenever it can: the final
        step a :class:`~skoperator.DeepONetRegressor` with one output field,
        an MLP branch and an MLP or ResNet trunk, no ``physics`` or
        ``output_transform``, ``bootstrap=False`` and ``G`` in memory;
        otherwise the members are trained one by one (``n_jobs``). True
        requires it (an error says why it cannot); False never does it.

    n_jobs : int, default=None
        Members trained at once, in joblib worker processes (members trained
        one by one: ``vectorize=False``, or "auto" when they cannot be
        vectorised). None uses every
        core (at most one worker per member) in a main process, joblib's
        ``n_jobs`` inside ``joblib.parallel_config`` when it is more than 1
        (``parallel_config(n_jobs=1)`` cannot be told from no setting: pass
        ``n_jobs=1``), and one member at a
        time inside a joblib worker (for instance in
        ``GridSearchCV(n_jobs=...)``, whose workers already share the
        cores); 1 trains the members one after the other in this process;
        -1 is every core. While members run side by side, each one's
        ``n_jobs`` (the torch threads of the final step) is set to 1 for its
        fit, then restored. An HDF5 ``G`` (an open file, which no worker
        process can receive) trains the members in this process.

    random_state : int, RandomState instance or None, default=None
        Draws the members' seeds (distinct ints) and, through them, the
        bootstrap samples. An int gives the same ensemble every time with
        the same number of workers: vectorised members are trained as one
        network per worker, whose members share its seed's batches and
        points, so with ``n_jobs=None`` the ensemble also depends on the
        cores (and on whether it is fitted inside a joblib worker). Pass an
        int ``n_jobs`` (1 for one network) for the same ensemble on any
        machine.

    Attributes
    ----------
    estimators_ : list of estimator objects
        The fitted members.

    random_states_ : ndarray of shape (n_estimators,)
        Each member's seed, set as its ``random_state`` (every parameter
        ending in ``random_state``). Vectorised members share one seed: the
        seed of their common fit, which initialises each member differently.

    vectorized_ : bool
        Whether the members were trained as one vectorised network.

    estimators_samples_ : list of ndarray or None
        The rows each member was fitted on (with repeats), with
        ``bootstrap=True``; None otherwise.

    n_features_in_ : int
        Number of sensors (columns of ``U``) seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Sensor names, when the members record them (``U`` a DataFrame with
        string column names).

    See Also
    --------
    ConformalBandRegressor : A whole-function band with a coverage guarantee.
    sklearn.ensemble.BaggingRegressor : Bagging of ordinary regressors.
    sklearn.gaussian_process.GaussianProcessRegressor : Its ``predict``
        takes ``return_std`` in the same way.

    Notes
    -----
    **Vectorised members.** By default (``vectorize="auto"``) the members
    of a DeepONetRegressor with MLP branch and trunk are trained as one
    network: the fields of a DeepONetRegressor with ``n_outputs`` equal to
    the number of members, independent networks per field, every field's
    target being ``G``, the networks' weights stacked layer by layer and
    evaluated as batched matrix products. Each member keeps its own weights
    and initialisation, and since the loss is the mean of the members'
    losses, each moves as it would alone (Adam ignores the common factor);
    they share the mini-batches and the sampled points, the schedule and the
    stopping decision (early stopping watches the members' mean score; an
    L-BFGS polish minimises their summed objective; a clipped gradient
    norm, ``clip_grad_norm``, would be the members' joint norm, so such
    members are trained one by one). After the fit the
    fields are split into ordinary fitted estimators (``estimators_``):
    they pickle, save, predict and train on (a later warm start begins a
    fresh Adam) like any other, but their ``history_`` and
    ``loss_curve_`` are the group's (the mean over the members), not
    their own. With ``n_jobs`` workers (every core by
    default) the members are split into one vectorised network per worker
    process, each fitted on one torch thread. Measured by
    ``benchmarks/bench_uncertainty.py --only time`` on 2 idle cores
    (antiderivative, 1,000 functions, 150 epochs, 5 members): one member
    3.3 s; five members vectorised in two processes 1.75x one member, in
    one network in this process 2.2x; five separate fits in two processes
    3.1x, one after the other 5.0x. ``torch.func.vmap`` over stacked
    parameters is slower than the batched products at these sizes
    (``benchmarks/bench_ensemble_vectorised.py``: 2.7x against 2.3 to 2.4x
    one member's step), and far slower when the parameters are restacked
    at every step (3.9 to 4.1x).

    **Members one by one.** Otherwise (a CNN, FNO or POD part, several
    output fields, physics, ``bootstrap=True``, or any other regressor)
    the members are separate fits, in worker processes, one per core, each
    with one torch thread, because a member's fit costs the same CPU time
    there as in the main process and the cores then work at once. On a
    machine saturated by other work the extra process gains nothing: pass
    ``n_jobs=1`` there. Starting the workers costs about a second the
    first time (joblib keeps them for later calls); ``U`` and ``G`` are
    sent to them once per member (once per worker when vectorised).

    The standard deviation is over members (``ddof=0``): it is zero with a
    single member, and it measures how much the members disagree, which
    tracks, but does not bound, the error. For a band with a guarantee, wrap
    the ensemble in :class:`ConformalBandRegressor`.

    References
    ----------
    .. [1] B. Lakshminarayanan, A. Pritzel and C. Blundell, "Simple and Scalable
       Predictive Uncertainty Estimation using Deep Ensembles", NeurIPS 2017.

    Examples
    --------
    >>> from skoperator import DeepONetRegressor
    >>> from skoperator.datasets import make_antiderivative
    >>> from skoperator.uncertainty import EnsembleRegressor
    >>> U, Y, G = make_antiderivative(200, n_points=50, random_state=0)
    >>> member = DeepONetRegressor(coords=Y, n_eval=10, max_iter=10, tol=None, device="cpu")
    >>> ensemble = EnsembleRegressor(member, n_estimators=3, n_jobs=1, random_state=0)
    >>> mean, std = ensemble.fit(U[:150], G[:150]).predict(U[150:], return_std=True)
    >>> mean.shape, std.shape
    ((50, 50), (50, 50))
    >>> bool((std >= 0).all())
    True
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"])],
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "bootstrap": ["boolean"],
        "vectorize": ["boolean", StrOptions({"auto"})],
        "n_jobs": [Interval(Integral, 1, None, closed="left"),
                   Interval(Integral, None, -1, closed="right"), None],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator, n_estimators=5, *, bootstrap=False, vectorize="auto",
                 n_jobs=None, random_state=None):
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.bootstrap = bootstrap
        self.vectorize = vectorize
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _n_workers(self):
        """Processes that train members: see ``n_jobs``."""
        if self.n_jobs is None:
            context = effective_n_jobs(None)  # joblib.parallel_config's n_jobs, else 1
            if context > 1:
                workers = context
            elif _in_joblib_worker():  # the outer search already uses the cores
                workers = 1
            else:
                workers = cpu_count()  # affinity and cgroups aware
        else:
            workers = effective_n_jobs(self.n_jobs)
        return max(1, min(workers, self.n_estimators))

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fit the members.

        Parameters
        ----------
        X : array-like of shape (n_functions, n_sensors)
            ``U``: input functions at the sensors.
        y : array-like of shape (n_functions, n_columns)
            ``G``: output functions (NaN marks a missing value, if the
            estimator accepts it).

        Returns
        -------
        self : object
            The fitted ensemble.
        """
        require_y(y, type(self).__name__)
        n = _num_samples(X)
        if _num_samples(y) != n:
            raise ValueError(f"y has {_num_samples(y)} rows for X of {n} rows; pass one row "
                             "of outputs per input function.")
        X, y = indexable(X, y)
        rng = check_random_state(self.random_state)
        seeds = []
        while len(seeds) < self.n_estimators:  # distinct seeds
            seed = int(rng.randint(_MAX_SEED))
            if seed not in seeds:
                seeds.append(seed)
        reason = "vectorize=False" if self.vectorize is False else (
            "a single member" if self.n_estimators == 1 and self.vectorize == "auto" else
            _not_vectorizable(self.estimator, self.bootstrap, y))
        if self.vectorize is True and reason is not None:
            raise ValueError(
                f"vectorize=True cannot train these members as one network: {reason}. Pass "
                "vectorize='auto' (or False) to train them one by one.")
        workers = self._n_workers()
        if _data.out_of_core_kind(y, "y") == "hdf5":  # an open file: no worker process gets it
            workers = 1
        n_fits = workers if reason is None else self.n_estimators
        _check_one_fit_per_checkpoint(self.estimator, n_fits)
        if reason is None:
            # One vectorised network per worker, the members split evenly.
            groups = [len(g) for g in np.array_split(np.arange(self.n_estimators), workers)]
            fitted = Parallel(n_jobs=workers)(
                delayed(_fit_vectorized)(self.estimator, X, y, size, seed, workers > 1)
                for size, seed in zip(groups, seeds))
            self.estimators_ = [member for group in fitted for member in group]
            self.random_states_ = np.repeat(seeds[:workers], groups)
            self.estimators_samples_ = None
            self.vectorized_ = True
            return self._fitted_from_members(X)
        keys = _random_state_keys(self.estimator)
        prefix, final = final_step(self.estimator)
        thread_key = None
        if workers > 1 and "n_jobs" in final.get_params(deep=False):
            thread_key = prefix + "n_jobs"
        members, samples = [], []
        for seed in seeds:
            member = clone(self.estimator)
            if keys:
                member.set_params(**{key: seed for key in keys})
            members.append(member)
            samples.append(np.random.RandomState(seed).randint(0, n, n)
                           if self.bootstrap else None)
        fitted = Parallel(n_jobs=workers)(
            delayed(_fit_member)(member, X, y, rows, thread_key)
            for member, rows in zip(members, samples)
        )
        self.estimators_ = list(fitted)
        self.random_states_ = np.asarray(seeds)
        self.estimators_samples_ = samples if self.bootstrap else None
        self.vectorized_ = False
        return self._fitted_from_members(X)

    def _fitted_from_members(self, X):
        """Set the input attributes from the first member; return self."""
        first = self.estimators_[0]
        self.n_features_in_ = getattr(first, "n_features_in_", None)
        if self.n_features_in_ is None:
            self.n_features_in_ = _num_samples(np.asarray(X).T)
        if hasattr(first, "feature_names_in_"):
            self.feature_names_in_ = first.feature_names_in_
        else:  # a refit on an array: no names left from an earlier fit
            self.__dict__.pop("feature_names_in_", None)
        return self

    def predict(self, X, coords=None, return_std=False):
        """Mean prediction of the members, and optionally their pointwise spread.

        Parameters
        ----------
        X : array-like of shape (n_functions, n_sensors)
            ``U``: input functions.
        coords : array-like of shape (n_points, d), default=None
            Where to evaluate the outputs (passed to the members' ``predict``);
            None uses the fitted coordinates.
        return_std : bool, default=False
            Also return the standard deviation over the members.

        Returns
        -------
        G_mean : ndarray of shape (n_functions, n_columns)
            Mean of the members' predictions.
        G_std : ndarray of shape (n_functions, n_columns)
            Standard deviation over the members at every output (``ddof=0``);
            only with ``return_std=True``.
        """
        check_is_fitted(self)
        if not isinstance(return_std, (bool, np.bool_)):
            raise ValueError(f"return_std must be True or False; got {return_std!r}. Pass "
                             "return_std=True for the members' spread as well.")
        mean = m2 = None
        for k, member in enumerate(self.estimators_, start=1):  # Welford: bounded memory
            pred = np.asarray(predict_with(member, X, coords), dtype=np.float64)
            if mean is None:
                mean, m2 = pred.copy(), np.zeros_like(pred)
                continue
            delta = pred - mean
            mean += delta / k
            m2 += delta * (pred - mean)
        if not return_std:
            return mean
        return mean, np.sqrt(np.maximum(m2, 0.0) / len(self.estimators_))

    def __sklearn_tags__(self):
        return self._inner_tags(super().__sklearn_tags__())
