"""Autoregressive rollout: a model of one window of snapshots to the next, fed its own output.

A time-dependent operator (Navier-Stokes in vorticity form, heat, advection)
is often learned as a map from a *window* of ``window`` consecutive snapshots
to the next ``window`` snapshots; applied to its own predictions it then
steps past the horizon it was trained on (the recurrent FNO-2D of Li et al.
2021). Its errors grow with every step it takes on its own output, a
distribution it never saw in training; :class:`RolloutRegressor` trains with
two known remedies, each a parameter, and reports the error per predicted
snapshot (:func:`rollout_errors`).
"""

import math
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted

from ._compat import HasMethods, Interval, _fit_context, is_count
from ._ensemble import _random_state_keys
from ._estimator import DeepONetRegressor
from ._meta import MetaOperatorMixin
from .metrics import score_outputs
from .networks import FNOBranch, PODTrunk

__all__ = ["RolloutRegressor", "rollout_errors", "window_coords"]


def _check_count(caller, name, value, minimum=1):
    """Reject anything but an int (a bool included) of at least ``minimum``."""
    if not is_count(value, minimum):
        raise ValueError(f"{name} of {caller} must be an int >= {minimum}; got {value!r}. "
                         f"Pass a whole number such as {max(minimum, 1)}.")


def _check_grid(grid):
    """``grid`` as a tuple of positive ints, else a ValueError naming it."""
    try:
        shape = tuple(grid)
    except TypeError:
        shape = ()
    if not shape or not all(is_count(n) for n in shape):
        raise ValueError(f"grid must be a non-empty tuple of positive ints (the shape of one "
                         f"snapshot); got {grid!r}. Pass, for instance, (64, 64).")
    return tuple(int(n) for n in shape)


def window_coords(grid, window):
    """Trunk coordinates of one window of snapshots: ``(x_1, ..., x_d, t)`` per point.

    The grid is the periodic unit cell, points ``i / n`` on an axis of ``n``
    points; ``t`` is the snapshot's rank in the window scaled to ``(0, 1]``,
    ``(j + 1) / window``. Rows are in the order of a flattened window of
    shape ``(window, *grid)``: the snapshot slowest, the last grid axis
    fastest.

    Parameters
    ----------
    grid : tuple of int
        Shape of one snapshot.
    window : int
        Snapshots per window.

    Returns
    -------
    coords : ndarray of shape (window * prod(grid), len(grid) + 1)
        One row per value of a flattened window.

    Examples
    --------
    >>> from skoperator.rollout import window_coords
    >>> window_coords((2,), 2)
    array([[0. , 0.5],
           [0.5, 0.5],
           [0. , 1. ],
           [0.5, 1. ]])
    """
    _check_count("window_coords", "window", window)
    grid = _check_grid(grid)
    axes = [np.arange(n) / n for n in grid] + [np.arange(1, window + 1) / window]
    mesh = np.meshgrid(*axes[-1:], *axes[:-1], indexing="ij")
    return np.stack([m.ravel() for m in mesh[1:]] + [mesh[0].ravel()], axis=1)


def rollout_errors(W_true, W_pred):
    """Mean relative L2 error of each predicted snapshot, over the trajectories.

    For snapshot ``t`` it is the mean over trajectories ``i`` of
    ``||W_pred[i, t] - W_true[i, t]|| / ||W_true[i, t]||`` (Euclidean norms
    over the grid), the error the FNO paper reports per time step.

    Parameters
    ----------
    W_true : array-like of shape (n_trajectories, n_times, \\*grid)
        True snapshots (none identically zero).
    W_pred : array-like of shape (n_trajectories, n_times, \\*grid)
        Predicted snapshots.

    Returns
    -------
    errors : ndarray of shape (n_times,)
        Mean relative L2 error of each snapshot.

    Examples
    --------
    >>> import numpy as np
    >>> from skoperator.rollout import rollout_errors
    >>> W = np.ones((2, 3, 4, 4))
    >>> rollout_errors(W, 1.5 * W)
    array([0.5, 0.5, 0.5])
    """
    W_true = check_array(W_true, allow_nd=True, ensure_2d=False, input_name="W_true")
    W_pred = check_array(W_pred, allow_nd=True, ensure_2d=False, input_name="W_pred")
    if W_true.shape != W_pred.shape or W_true.ndim < 3 or 0 in W_true.shape:
        raise ValueError(f"W_true and W_pred must have the same shape (n_trajectories, "
                         f"n_times, *grid), no axis empty; got {W_true.shape} and "
                         f"{W_pred.shape}. Pass the true snapshots of the times predicted.")
    n, t = W_true.shape[:2]
    diff = np.linalg.norm((W_pred - W_true).reshape(n, t, -1), axis=-1)
    norm = np.linalg.norm(W_true.reshape(n, t, -1), axis=-1)
    if not np.all(norm > 0):
        i, j = np.argwhere(~(norm > 0))[0]
        raise ValueError(f"W_true must have no snapshot that is zero everywhere (its error "
                         f"relative to it is undefined); got W_true[{i}, {j}] = 0. Leave "
                         "such snapshots out, or compare absolute errors.")
    return (diff / norm).mean(axis=0)


def _real_array(A, name):
    """``A`` as a float64 array of at least one row, else a ValueError naming ``name``."""
    if np.iscomplexobj(A):
        raise ValueError(f"{name} must hold real numbers; got complex values (dtype "
                         f"{np.asarray(A).dtype}). Pass the real part, or the real and "
                         "imaginary parts as separate fields.")
    return check_array(A, allow_nd=True, ensure_2d=False, dtype=np.float64, input_name=name)


def _check_scored(n, sample_weight):
    """Refuse fewer than 2 scored trajectories or a ``sample_weight`` of another length."""
    if n < 2:
        raise ValueError(f"score needs at least 2 trajectories (windows) to compare the "
                         f"prediction with their mean; got {n}. Score more trajectories.")
    if sample_weight is not None and np.shape(sample_weight) != (n,):
        raise ValueError(f"sample_weight must have shape ({n},), one weight per scored "
                         f"trajectory (window); got shape {np.shape(sample_weight)}. Pass "
                         "one weight per trajectory.")


def _default_estimator(grid, window, n_pairs, random_state):
    """DeepONet of one window to the next: FNO branch over the snapshots, POD trunk.

    The trunk is the leading POD modes (up to 64, no more than the pairs) of
    the training targets (the changes from the input window's last snapshot
    with ``residual=True``, else the next windows), trained on every point: in
    ``benchmarks/bench_rollout.py`` it halves the MLP trunk's errors at every
    step; the branch's Fourier layers end in one field per snapshot of the
    window, projected on the modes (``head="projection"``), which lowers the
    error at twice the horizon from 12.0 % to 7.6 % against pooling
    (``benchmarks/results/rollout.txt``, before the pushforward pairs were
    repeated).
    """
    return DeepONetRegressor(
        branch=FNOBranch(grid=tuple(grid), channels=window, modes=8, width=16, n_layers=4,
                         head="projection"),
        trunk=PODTrunk(), n_basis=min(64, n_pairs, window * math.prod(grid)),
        coords=window_coords(grid, window), sampling="full", loss="relative_l2",
        max_iter=50, tol=None, random_state=random_state)


class RolloutRegressor(MetaOperatorMixin, RegressorMixin, BaseEstimator):
    """Autoregressive rollout, trained on windows of snapshots with remedies for error growth.

    ``fit(W)`` cuts trajectories ``W`` into pairs (a window of ``window``
    snapshots, the next ``window`` snapshots), at every start time, and fits
    a clone of ``estimator`` mapping a flattened window to the next.
    :meth:`predict` is one window; :meth:`predict_rollout` feeds the
    predictions back as the next input, as far as asked.

    Two remedies for the growth of errors along a rollout, each measured in
    ``benchmarks/bench_rollout.py``:

    - ``noise``: the input windows of every training round carry Gaussian
      noise of standard deviation ``noise`` times the standard deviation of
      ``W`` (a fresh draw each round; the targets are clean), so that the
      model learns to correct perturbed inputs (Sanchez-Gonzalez et al. 2020).
    - ``pushforward``: after the first fit, the model predicts the window
      after each true window (the prediction is a fixed array, so no
      gradient flows through it: the "detached" pushforward trick of
      Brandstetter et al. 2022); these predictions, paired with the true
      window after them, are added to the training pairs, repeated
      ``n_pairs // n_pushforward_pairs`` times (integer division, at least
      once) so that they weigh about as much as the true pairs (each copy
      with its own noise draw), and training goes on (``warm_start=True``
      for ``max_iter`` more epochs when the estimator has a ``warm_start``
      parameter and no ``n_estimators``, else a refit of a new clone on all
      pairs: a forest's or a boosting's warm start only adds the estimators
      ``n_estimators`` grows by, so with its ``n_estimators`` unchanged it
      would train nothing more). ``pushforward`` rounds are done, each with
      the latest model's predictions. An estimator that holds out part of
      its pairs for validation (``early_stopping=True``) draws them among
      the copies too, so copies of one pair can fall on both sides and its
      validation score reads optimistic in these rounds.

    Parameters
    ----------
    estimator : estimator object, default=None
        Regressor of flattened windows, ``fit(X, y)`` and ``predict(X)`` with
        ``X`` and ``y`` of shape ``(n_pairs, window * prod(grid))`` (the
        snapshot slowest, the last grid axis fastest). None builds a
        :class:`~skoperator.DeepONetRegressor` with an
        :class:`~skoperator.networks.FNOBranch` over the window's snapshots
        as channels (its head one field per snapshot, projected on the
        modes), a :class:`~skoperator.networks.PODTrunk` (up to 64
        modes of the training targets, at the points of
        :func:`window_coords`) trained on every point, the relative L2 loss
        and 50 epochs. The grid has 1 to 3 axes then (the Fourier layers').
    window : int, default=10
        Snapshots per window, in and out.
    pushforward : int, default=1
        Rounds of pushforward training after the first fit; 0 turns it off.
        Each round needs trajectories of at least ``3 * window`` snapshots.
    noise : float, default=0.0
        Standard deviation of the noise on the input windows, as a fraction
        of the standard deviation of ``W``; 0 turns it off.
    residual : bool, default=True
        Learn the change from the last snapshot of the input window: the
        estimator is fitted on ``W(t) - W(t_last)`` for every snapshot ``t``
        of the next window (``t_last`` the input window's last snapshot, as
        the model reads it, noise included) and :meth:`predict` adds
        ``W(t_last)`` back. Persistence, ``W(t) = W(t_last)``, is then the
        estimator's zero.
    random_state : int, RandomState instance or None, default=None
        Seeds the noise, the default estimator, and every ``random_state``
        parameter of ``estimator`` (nested ones included) left at None, as
        :class:`~skoperator.uncertainty.EnsembleRegressor` does; one set to a
        seed keeps it.

    Attributes
    ----------
    estimator_ : estimator object
        The fitted clone of ``estimator``.
    window_ : int
        Snapshots per window, as fitted (:meth:`predict` reads this, not
        ``window``, so that ``set_params`` after a fit changes nothing until
        the next fit).
    residual_ : bool
        Whether the fitted estimator learned the change from the last snapshot.
    grid_ : tuple of int
        Shape of one snapshot.
    data_std_ : float
        Standard deviation of the training snapshots (the scale of ``noise``).
    n_pairs_ : list of int
        Training pairs of each round: the first fit, then each pushforward round.

    See Also
    --------
    rollout_errors : The error of each predicted snapshot.
    skoperator.datasets.make_navier_stokes : Trajectories of vorticity.

    Notes
    -----
    ``fit(W, y=None)`` takes whole trajectories, as an unsupervised
    estimator takes its data: the targets are the trajectories' later
    windows, so ``y`` is unused. A trajectory of ``n_times`` snapshots gives
    ``n_times - 2 * window + 1`` pairs (every start), and
    ``n_times - 3 * window + 1`` pushforward pairs per round, repeated as
    above: with 30 snapshots and windows of 10, a round trains on 11 true
    pairs and 11 copies of the one pushforward pair per trajectory, an
    epoch about twice the steps of the first fit's and the round's pairs
    about twice the memory of the first fit's (``X`` and ``y`` are
    float64 arrays of ``n_pairs * window * prod(grid)`` values each).

    References
    ----------
    .. [1] J. Brandstetter, D. Worrall and M. Welling, "Message passing neural
       PDE solvers", ICLR 2022 (the pushforward trick).
    .. [2] A. Sanchez-Gonzalez et al., "Learning to simulate complex physics
       with graph networks", ICML 2020 (training noise on the inputs).
    .. [3] Z. Li et al., "Fourier neural operator for parametric partial
       differential equations", ICLR 2021 (the recurrent FNO-2D on
       Navier-Stokes).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from skoperator.rollout import RolloutRegressor
    >>> x = np.arange(8) / 8
    >>> W = np.stack([[np.sin(2 * np.pi * (x - 0.125 * t) + p) for t in range(12)]
    ...               for p in np.linspace(0, 3, 6)])
    >>> model = RolloutRegressor(Ridge(alpha=1e-8), window=2, pushforward=0).fit(W)
    >>> model.predict_rollout(W[:, :2], n_windows=5).shape
    (6, 10, 8)
    >>> float(model.score_rollout(W).max()) < 1e-4
    True
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "window": [Interval(Integral, 1, None, closed="left")],
        "pushforward": [Interval(Integral, 0, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "residual": ["boolean"],
        "random_state": ["random_state"],
    }

    #: Read by :func:`~skoperator._unwrap.final_estimator`: the estimator inside
    #: is fitted on flattened windows (and, residual, on changes), not on W.
    moves_inputs = True
    moved_data = ("its flattened windows, W[:, s:s + window].reshape(n, -1), and, with "
                  "residual=True, each next window minus the input window's last snapshot")

    def __init__(self, estimator=None, window=10, pushforward=1, noise=0.0, residual=True,
                 random_state=None):
        self.estimator = estimator
        self.window = window
        self.pushforward = pushforward
        self.noise = noise
        self.residual = residual
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags

    def _check_trajectories(self, W):
        _check_count("RolloutRegressor", "window", self.window)
        _check_count("RolloutRegressor", "pushforward", self.pushforward, minimum=0)
        W = _real_array(W, "W")
        if W.ndim < 3 or 0 in W.shape[2:]:
            raise ValueError(f"W must have shape (n_trajectories, n_times, *grid) with a "
                             f"non-empty grid; got an array of shape {W.shape}. Reshape the "
                             "snapshots of each trajectory to their grid.")
        if self.estimator is None and W.ndim > 5:
            raise ValueError(f"estimator=None builds a Fourier-layer branch over 1 to 3 grid "
                             f"axes; got W of shape {W.shape}, snapshots on the "
                             f"{W.ndim - 2}-axis grid {W.shape[2:]}. Pass an estimator of "
                             "flattened windows, or reshape the snapshots to at most 3 axes.")
        w, n_times = self.window, W.shape[1]
        if n_times < 2 * w:
            raise ValueError(f"window={w} needs trajectories of at least 2 * window = {2 * w} "
                             f"snapshots (one window in, one out); got W with {n_times}. "
                             "Pass a smaller window or longer trajectories.")
        if self.pushforward and n_times < 3 * w:
            raise ValueError(f"pushforward={self.pushforward} needs trajectories of at least "
                             f"3 * window = {3 * w} snapshots (a window, its prediction and "
                             f"the window after it); got W with {n_times}. Pass "
                             "pushforward=0, a smaller window or longer trajectories.")
        n_pairs = len(W) * (n_times - 2 * w + 1)
        if n_pairs < 2:
            raise ValueError(f"W gives {n_pairs} (window, next window) pair with window={w}; "
                             f"at least 2 are needed to fit. Pass more trajectories or "
                             "longer ones.")
        return W

    def _windows(self, W, start, stop):
        """Flattened windows starting at every time ``start + s``, ``s < n_times - stop``."""
        w, (n, n_times) = self.window, W.shape[:2]
        starts = range(start, n_times - stop + 1)
        return np.concatenate([W[:, s:s + w].reshape(n, -1) for s in starts])

    def _noisy(self, X, scale, rng):
        return X + scale * rng.standard_normal(X.shape) if scale > 0 else X

    @staticmethod
    def _base(X, window, residual):
        """What the estimator's output is added to: the last snapshot of each flattened
        window of X repeated over the window (``residual``), else 0."""
        if not residual:
            return 0.0
        last = X.reshape(len(X), window, -1)[:, -1:]
        return np.broadcast_to(last, (len(X), window, last.shape[-1])).reshape(len(X), -1)

    def _fit_pairs(self, estimator, X, Y):
        estimator.fit(X, Y - self._base(X, self.window, self.residual))

    def _predict_flat(self, estimator, X, window, residual):
        return (np.asarray(estimator.predict(X), dtype=np.float64)
                + self._base(X, window, residual))

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, W, y=None):
        """Fit a clone of ``estimator`` on the (window, next window) pairs of W.

        Parameters
        ----------
        W : array-like of shape (n_trajectories, n_times, \\*grid)
            Trajectories: ``n_times`` snapshots on ``grid`` each, at least
            ``2 * window`` (``3 * window`` with ``pushforward``).
        y : None
            Unused: the targets are the later windows of W.

        Returns
        -------
        self : RolloutRegressor
            The fitted estimator.
        """
        W = self._check_trajectories(W)
        w, grid = self.window, W.shape[2:]
        rng = check_random_state(self.random_state)
        scale = self.noise * float(W.std())
        X, Y = self._windows(W, 0, 2 * w), self._windows(W, w, w)
        if self.estimator is None:
            estimator = _default_estimator(grid, w, len(X),
                                           rng.randint(np.iinfo(np.int32).max))
        else:
            estimator = clone(self.estimator)
            params = estimator.get_params()
            unset = [key for key in _random_state_keys(estimator) if params[key] is None]
            if unset:  # one random_state seeds everything, as EnsembleRegressor's members
                estimator.set_params(**{key: rng.randint(np.iinfo(np.int32).max)
                                        for key in unset})
        self._fit_pairs(estimator, self._noisy(X, scale, rng), Y)
        n_pairs = [len(X)]
        if self.pushforward:
            X_first, Y_third = self._windows(W, 0, 3 * w), self._windows(W, 2 * w, w)
            params = estimator.get_params()
            # a forest's or a boosting's warm start adds only the estimators that
            # n_estimators grows by: with it unchanged it would train nothing more
            warm = "warm_start" in params and "n_estimators" not in params
            warm_start = params["warm_start"] if warm else None
            # a trajectory has fewer pushforward pairs than true ones (one in 11 for 30
            # snapshots and windows of 10): repeated, they weigh about as much
            repeat = max(1, len(X) // len(X_first))
        for _ in range(self.pushforward):
            pushed = self._predict_flat(estimator, X_first, w, self.residual)
            X_round = np.concatenate([X] + [pushed] * repeat)
            Y_round = np.concatenate([Y] + [Y_third] * repeat)
            if warm:
                estimator.set_params(warm_start=True)
            else:
                estimator = clone(estimator)
            self._fit_pairs(estimator, self._noisy(X_round, scale, rng), Y_round)
            n_pairs.append(len(X_round))
        if self.pushforward and warm:  # as it was given
            estimator.set_params(warm_start=warm_start)
        self.estimator_ = estimator
        self.window_, self.residual_ = int(w), bool(self.residual)
        self.grid_ = tuple(int(n) for n in grid)
        self.data_std_ = float(W.std())
        self.n_pairs_ = n_pairs
        return self

    def _check_windows(self, U, name="U"):
        check_is_fitted(self)
        U = _real_array(U, name)
        expected = (self.window_, *self.grid_)
        if U.shape[1:] != expected:
            raise ValueError(f"{name} must have shape (n, {', '.join(map(str, expected))}) (one "
                             f"window of {self.window_} snapshots on the fitted grid "
                             f"{self.grid_}); got {U.shape}. Pass the last window of each "
                             "trajectory.")
        return U

    def _step(self, U):
        return self._predict_flat(self.estimator_, U.reshape(len(U), -1), self.window_,
                                  self.residual_).reshape(U.shape)

    def predict(self, X):
        """Predict the window after each window of X.

        Parameters
        ----------
        X : array-like of shape (n, window, \\*grid)
            ``U``: one window of snapshots per trajectory.

        Returns
        -------
        U_next : ndarray of shape (n, window, \\*grid)
            The next window.
        """
        return self._step(self._check_windows(X, "X"))

    def predict_rollout(self, U, n_windows, step=None):
        """Roll out ``n_windows`` windows from U, each predicted from the previous prediction.

        Parameters
        ----------
        U : array-like of shape (n, window, \\*grid)
            The first window of each trajectory (true snapshots).
        n_windows : int
            Windows to predict, ``n_windows * window`` snapshots; the first
            ``step`` of them are :meth:`predict`'s.
        step : int, default=None
            Snapshots kept from each prediction before the next: the input
            window moves ``step`` snapshots at a time, its last ``step``
            snapshots the prediction's first (the nearest, most accurate).
            None means ``window``: each prediction is kept whole. A ``step``
            below ``window`` costs ``window / step`` times the predictions.

        Returns
        -------
        W_pred : ndarray of shape (n, n_windows * window, \\*grid)
            The predicted snapshots after U, in time order.
        """
        U = self._check_windows(U)
        if not is_count(n_windows):
            raise ValueError(f"n_windows must be a positive int; got {n_windows!r}. Pass the "
                             "number of windows to predict.")
        w = self.window_
        if step is None:
            step = w
        if not is_count(step) or step > w:
            raise ValueError(f"step must be an int in [1, window={w}] or None; got {step!r}. "
                             "Pass the snapshots kept from each prediction.")
        total, kept = int(n_windows) * w, []
        for k in range(-(-total // step)):
            kept.append(self._step(U)[:, :step])
            if not np.all(np.isfinite(kept[-1])):
                raise FloatingPointError(
                    f"the rollout diverged: prediction {k + 1} (snapshots {k * step + 1} to "
                    f"{(k + 1) * step} after U) holds values that are infinite or NaN, from "
                    f"finite windows of U. Roll out fewer windows (n_windows={n_windows}), or "
                    "fit a model that is stable on its own predictions (pushforward, noise).")
            U = np.concatenate([U[:, step:], kept[-1]], axis=1)
        return np.concatenate(kept, axis=1)[:, :total]

    def score_rollout(self, W, step=None):
        """Error of each snapshot of a rollout from the first window of W, in time order.

        Rolls out ``(n_times - window) // window`` windows from
        ``W[:, :window]`` and compares them with the true snapshots after
        it (:func:`rollout_errors`).

        Parameters
        ----------
        W : array-like of shape (n_trajectories, n_times, \\*grid)
            True trajectories, at least ``2 * window`` snapshots.
        step : int, default=None
            Snapshots kept from each prediction (see :meth:`predict_rollout`).

        Returns
        -------
        errors : ndarray of shape (n_windows * window,)
            Mean relative L2 error of each predicted snapshot.
        """
        return rollout_errors(*self._rollout_of(W, "W", step))

    def _rollout_of(self, W, name, step=None):
        """True and rolled-out snapshots after the first window of each trajectory of W."""
        check_is_fitted(self)
        W = _real_array(W, name)
        w = self.window_
        if W.ndim >= 3 and W.shape[2:] != self.grid_:
            raise ValueError(f"{name} must hold trajectories on the fitted grid {self.grid_}; "
                             f"got snapshots of shape {W.shape[2:]} ({name} of shape "
                             f"{W.shape}). Pass trajectories sampled as the training ones.")
        n_windows = (W.shape[1] - w) // w if W.ndim >= 3 else 0
        if n_windows < 1:
            raise ValueError(f"{name} must have shape (n_trajectories, n_times, *grid) with "
                             f"n_times >= 2 * window = {2 * w}; got {W.shape}. "
                             "Pass longer trajectories.")
        pred = self.predict_rollout(W[:, :w], n_windows, step=step)
        return W[:, w:w + pred.shape[1]], pred

    def score(self, X, y=None, sample_weight=None):
        """Variance-weighted R2 of a rollout (``y=None``), or of the next windows of X.

        With ``y=None``, X holds whole trajectories, as :meth:`fit` takes
        them, and the score is that of the rollout from each one's first
        window over its later whole windows (:meth:`score_rollout`'s
        snapshots): what a model selection over the remedies should compare,
        ``GridSearchCV(RolloutRegressor(...), {"noise": [0.0, 0.05]}).fit(W)``
        splitting the trajectories. With ``y``, X holds one window per
        trajectory and y the window after it.

        Parameters
        ----------
        X : array-like of shape (n, n_times, \\*grid) or (n, window, \\*grid)
            Trajectories (``y=None``), else ``U``: one window per trajectory.
        y : array-like of shape (n, window, \\*grid), default=None
            The true next windows; None scores the rollout of X.
        sample_weight : array-like of shape (n,), default=None
            Weight of each trajectory (or window).

        Returns
        -------
        score : float
            1.0 is perfect; 0.0 is no better than the mean (over the
            trajectories, at every predicted snapshot and point).
        """
        if y is None:
            truth, pred = self._rollout_of(X, "X")
            _check_scored(len(truth), sample_weight)
            return score_outputs(truth.reshape(len(truth), -1), pred.reshape(len(pred), -1),
                                 sample_weight)
        pred = self.predict(X)
        _check_scored(len(pred), sample_weight)
        try:
            y = check_array(y, allow_nd=True, ensure_2d=False, dtype=np.float64,
                            input_name="y")
        except ValueError as exc:
            raise ValueError(f"y must be an array of real numbers of shape {pred.shape} "
                             f"(the window after each window of X); {exc}") from exc
        if y.shape != pred.shape:
            raise ValueError(f"y must have the shape of the windows predicted from X, "
                             f"{pred.shape} (n, window, *grid); got {y.shape}. Pass the true "
                             "window after each window of X.")
        return score_outputs(y.reshape(len(y), -1), pred.reshape(len(pred), -1),
                             sample_weight)
