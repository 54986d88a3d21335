"""Learning-rate schedules as components: the SCHEDULES registry and its protocol.

``DeepONetRegressor(learning_rate=...)`` takes a name (a key of
:data:`SCHEDULES`) or a schedule object. A schedule subclasses
:class:`BaseSchedule` and implements one method::

    __call__(progress) -> (lr_factor, beta1 or None)

``progress`` runs from 0 at the first step to 1 at the last, counted in
steps of ``max_iter`` epochs or in seconds of ``max_time``, whichever is
further along; the learning rate is ``learning_rate_init * lr_factor`` and,
when ``beta1`` is not None, Adam's first beta is set to it. Capability:
``tol_applies`` (class attribute), whether the training loss may stop the
run early (``tol`` without early stopping); a schedule with a budget runs
its course.
"""

import math
from numbers import Real

from ._compat import Interval
from ._component import Component

__all__ = ["SCHEDULES", "BaseSchedule", "ConstantSchedule", "CosineSchedule",
           "OneCycleSchedule"]


def _is_real(value):
    return isinstance(value, Real) and not isinstance(value, bool)


def _is_schedule_value(result):
    """Whether ``result`` is what a schedule returns: ``(lr_factor, beta1 or None)``."""
    if not (isinstance(result, tuple) and len(result) == 2):
        return False
    factor, beta1 = result
    return (_is_real(factor) and math.isfinite(factor) and factor >= 0
            and (beta1 is None or _is_real(beta1) and 0 <= beta1 < 1))


class BaseSchedule(Component):
    """Protocol of learning-rate schedules (see the module docstring).

    Attributes
    ----------
    tol_applies : bool
        Class attribute: ``tol`` on the training loss may end the run.

    Examples
    --------
    A learning rate that decays linearly to zero:

    >>> from skoperator import DeepONetRegressor
    >>> from skoperator.datasets import make_antiderivative
    >>> from skoperator.schedules import BaseSchedule
    >>> class LinearSchedule(BaseSchedule):
    ...     def __call__(self, progress):
    ...         return 1.0 - progress, None
    >>> LinearSchedule()(0.25)
    (0.75, None)
    >>> U, Y, G = make_antiderivative(50, n_points=20, random_state=0)
    >>> est = DeepONetRegressor(coords=Y, learning_rate=LinearSchedule(), max_iter=2,
    ...                         random_state=0).fit(U, G)
    >>> est.n_iter_
    2
    """

    tol_applies = False

    def check(self):
        """Check the settings, then what the schedule returns at progress 0, 0.5 and 1.

        Returns
        -------
        self : BaseSchedule
            The schedule.

        Raises
        ------
        ValueError
            If a setting is out of range, or the schedule does not return a
            pair ``(lr_factor, beta1)`` with ``lr_factor`` a finite number
            >= 0 and ``beta1`` None or in [0, 1).
        """
        super().check()
        for progress in (0.0, 0.5, 1.0):
            result = self(progress)
            if not _is_schedule_value(result):
                raise ValueError(
                    f"learning_rate={self!r} returned {result!r:.80} at progress {progress}; "
                    "expected a pair (lr_factor, beta1) with lr_factor a finite number >= 0 "
                    "and beta1 None or in [0, 1), such as (1.0 - progress, None).")
        return self

    def __call__(self, progress):
        """Return the learning-rate factor and Adam's ``beta1`` at ``progress``.

        Parameters
        ----------
        progress : float
            Share of the run done, from 0 at the first step to 1 at the last.

        Returns
        -------
        lr_factor : float
            The learning rate is ``learning_rate_init * lr_factor``.
        beta1 : float or None
            Adam's first beta, or None to leave it as it is.
        """
        raise NotImplementedError


class ConstantSchedule(BaseSchedule):
    """A constant learning rate.

    Examples
    --------
    >>> from skoperator.schedules import ConstantSchedule
    >>> ConstantSchedule()(0.5)
    (1.0, None)
    """

    tol_applies = True

    def __call__(self, progress):
        return 1.0, None


class CosineSchedule(BaseSchedule):
    """Cosine annealing from ``learning_rate_init`` to zero.

    Examples
    --------
    >>> from skoperator.schedules import CosineSchedule
    >>> CosineSchedule()(0.5)[0]
    0.5
    """

    def __call__(self, progress):
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0))), None


class OneCycleSchedule(BaseSchedule):
    """One cycle (Smith): up to ``learning_rate_init``, then down, cosine-shaped.

    As torch's ``OneCycleLR`` with its defaults: the rate starts at
    ``1 / div_factor`` of the peak, reaches it after ``pct_start`` of the run
    and ends at ``1 / (div_factor * final_div_factor)`` of it; Adam's
    ``beta1`` cycles between 0.95 and 0.85 against it.

    Parameters
    ----------
    pct_start : float, default=0.3
        Share of the run spent warming up.
    div_factor : float, default=25.0
        Peak over initial rate.
    final_div_factor : float, default=1e4
        Initial over final rate.

    Examples
    --------
    >>> from skoperator.schedules import OneCycleSchedule
    >>> round(OneCycleSchedule()(0.3)[0], 6)
    1.0
    """

    _parameter_constraints = {"pct_start": [Interval(Real, 0, 1, closed="neither")],
                              "div_factor": [Interval(Real, 1, None, closed="left")],
                              "final_div_factor": [Interval(Real, 1, None, closed="left")]}

    def __init__(self, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
        self.pct_start = pct_start
        self.div_factor = div_factor
        self.final_div_factor = final_div_factor

    def __call__(self, progress):
        p = min(max(progress, 0.0), 1.0)
        initial = 1.0 / self.div_factor
        final = initial / self.final_div_factor
        if p <= self.pct_start:
            q = 0.5 * (1.0 - math.cos(math.pi * p / self.pct_start))
            return initial + (1.0 - initial) * q, 0.95 - 0.10 * q
        q = 0.5 * (1.0 - math.cos(math.pi * (p - self.pct_start) / (1.0 - self.pct_start)))
        return 1.0 + (final - 1.0) * q, 0.85 + 0.10 * q


#: ``learning_rate=`` name -> schedule class (its default configuration).
SCHEDULES = {"constant": ConstantSchedule, "cosine": CosineSchedule,
             "onecycle": OneCycleSchedule}


def as_schedule(spec):
    """The schedule component of a ``learning_rate=`` value (name or object)."""
    if isinstance(spec, BaseSchedule):
        return spec
    if isinstance(spec, str) and spec in SCHEDULES:
        return SCHEDULES[spec]()
    raise ValueError(f"learning_rate={spec!r} is not a schedule; expected one of "
                     f"{sorted(SCHEDULES)} or a skoperator.schedules.BaseSchedule instance.")
