"""Training losses as components: the LOSSES registry and the loss protocol.

``DeepONetRegressor(loss=...)`` takes a name (a key of :data:`LOSSES`, the
loss's default configuration) or a loss object. A loss subclasses
:class:`BaseLoss` and implements one method::

    __call__(residual, weight, rows) -> (objective, report)

- ``residual``: Tensor of shape (batch, m, n_outputs), the network's output
  minus the target at the sampled points, in standardised units (each output
  field divided by its scale); 0 where the target is missing;
- ``weight``: None (every entry counts once) or a Tensor broadcastable to
  ``residual``: the weight of each entry, 0 for an entry to leave out (a
  missing target, a padding slot), ``1 / (n q)`` for an importance-sampled
  draw of probability ``q`` among ``n`` points;
- ``rows``: LongTensor of shape (batch,), the training functions of the batch;
- returns the scalar objective the optimizer minimises, and the scalar the
  history reports (``train_loss``), or None for ``objective * report_factor``
  (applied once per epoch, not per step).

A loss that depends on unweighted residuals only through the mean square
of each (function, field) over the points may also define, in the class that
defines ``__call__``::

    from_mean_square(mean_square, rows) -> (objective, report)

with ``mean_square`` a Tensor of shape (batch, n_outputs): the value
``__call__`` gives for residuals of those mean squares over every point.
A full-grid step over a fixed table trunk (a POD trunk) then skips the grid
(:class:`~skoperator.losses.MSELoss` and
:class:`~skoperator.losses.RelativeL2Loss` do).

Capabilities are class attributes: ``per_function`` (the loss needs
statistics of each training function, computed once in ``prepare(context)``
on the fit's private copy of the loss). ``prepare`` is always called, once per
fit, before the first step.
"""

import dataclasses
from numbers import Real
from typing import Callable

import torch

from ._compat import Interval
from ._component import Component

__all__ = ["LOSSES", "BaseLoss", "LossContext", "MSELoss", "RelativeL2Loss", "HuberLoss"]


@dataclasses.dataclass(frozen=True)
class LossContext:
    """What a loss learns about the training data in ``prepare``.

    Parameters
    ----------
    g_scale : Tensor of shape (n_outputs,)
        Scale of each output field (standardised = raw / scale, after the shift).
    n_functions : int
        Training functions (``rows`` index them).
    mean_square : callable
        ``mean_square()`` returns a float64 Tensor (n_functions, n_outputs):
        the mean square of each training function's field over its observed
        points, in the units of G (a pass over the training targets).
    device : torch.device
        Training device.

    Examples
    --------
    >>> import torch
    >>> from skoperator.losses import LossContext, RelativeL2Loss
    >>> mean_square = torch.tensor([[4.0], [1.0]], dtype=torch.float64)
    >>> context = LossContext(g_scale=torch.tensor([1.0]), n_functions=2,
    ...                       mean_square=lambda: mean_square, device=torch.device("cpu"))
    >>> RelativeL2Loss().prepare(context).inverse_mean_square_.flatten().tolist()
    [0.25, 1.0]
    """

    g_scale: torch.Tensor
    n_functions: int
    mean_square: Callable
    device: torch.device


class BaseLoss(Component):
    """Protocol of training losses (see the module docstring).

    Attributes
    ----------
    per_function : bool
        Class attribute: the loss normalises per training function and
        needs ``prepare``'s pass over the targets.

    Examples
    --------
    The mean absolute error of the standardised residuals:

    >>> import torch
    >>> from skoperator import DeepONetRegressor
    >>> from skoperator.datasets import make_antiderivative
    >>> from skoperator.losses import BaseLoss
    >>> class MAELoss(BaseLoss):
    ...     def __call__(self, residual, weight, rows):
    ...         error = residual.abs()
    ...         if weight is not None:
    ...             weight = weight.expand_as(error)
    ...             return (weight * error).sum() / (weight > 0).sum().clamp(min=1), None
    ...         return error.mean(), None
    >>> MAELoss()(torch.tensor([[[1.0], [-3.0]]]), None, torch.tensor([0]))
    (tensor(2.), None)
    >>> U, Y, G = make_antiderivative(50, n_points=20, random_state=0)
    >>> est = DeepONetRegressor(coords=Y, loss=MAELoss(), max_iter=2, tol=None,
    ...                         random_state=0).fit(U, G)
    >>> len(est.history_)
    2
    """

    per_function = False

    def prepare(self, context):
        """Learn what the loss needs from the training data; called once per fit.

        Parameters
        ----------
        context : LossContext
            The training data's scales and statistics.

        Returns
        -------
        self : BaseLoss
            The loss, ready for training (``g_scale_`` set).
        """
        self.g_scale_ = context.g_scale
        return self

    def report_factor(self):
        """Return the factor from the objective to the reported loss.

        Applied when ``__call__`` reports None, once per epoch.

        Returns
        -------
        factor : float
            ``train_loss`` is the objective times this factor (1.0 by default).
        """
        return 1.0

    def from_mean_square(self, mean_square, rows):
        """Compute the objective and report from each function's mean squared residual.

        Optional (see the module docstring): a loss that depends on
        unweighted residuals only through these mean squares defines it in
        the class that defines ``__call__``; full-grid steps over a fixed
        table trunk then skip the grid. Not defined there, the grid path is
        taken.

        Parameters
        ----------
        mean_square : Tensor of shape (batch, n_outputs)
            Mean square over every point of each (function, field)'s
            standardised residual.
        rows : LongTensor of shape (batch,)
            Training functions of the mini-batch.

        Returns
        -------
        objective : Tensor
            What ``__call__`` gives for residuals of these mean squares.
        report : Tensor or None
            Its report, or None for ``objective * report_factor()``.
        """
        raise NotImplementedError

    def __call__(self, residual, weight, rows):
        """Compute the objective and the report of one mini-batch.

        Parameters
        ----------
        residual : Tensor of shape (batch, m, n_outputs)
            Network output minus target at the sampled points, in standardised
            units; 0 where the target is missing.
        weight : Tensor broadcastable to ``residual`` or None
            Weight of each entry (0 leaves it out); None counts every entry once.
        rows : LongTensor of shape (batch,)
            Training functions of the mini-batch.

        Returns
        -------
        objective : Tensor
            Scalar the optimizer minimises.
        report : Tensor or None
            Scalar the history reports, or None for ``objective *
            report_factor()``.
        """
        raise NotImplementedError


def _weighted_mean(values, weight):
    """Mean of ``values`` over the entries of non-zero weight, weighted."""
    w = weight.expand_as(values)
    count = (w > 0).sum().clamp(min=1)
    return (w * values).sum() / count


class MSELoss(BaseLoss):
    """Mean squared error over the sampled (function, point, field) entries.

    In standardised units, so that every output field weighs the same when
    each is observed at every entry; the history reports it in the units of
    G (one field: times the squared scale; several: each field's mean times
    its squared scale, averaged). With missing targets (or sampling weights)
    the observed entries are pooled: a field observed at fewer entries
    weighs less, in proportion (the objective is the mean over the observed
    entries, the report the mean of each entry's error times its field's
    squared scale).

    Examples
    --------
    >>> import torch
    >>> from skoperator.losses import MSELoss, LossContext
    >>> loss = MSELoss().prepare(LossContext(torch.tensor([2.0]), 1, None, "cpu"))
    >>> objective, report = loss(torch.ones(1, 4, 1), None, torch.tensor([0]))
    >>> float(objective), report, loss.report_factor()
    (1.0, None, 4.0)
    """

    def report_factor(self):
        return float(self.g_scale_[0]) ** 2 if self.g_scale_.numel() == 1 else 1.0

    def from_mean_square(self, mean_square, rows):
        if self.g_scale_.numel() == 1:
            return mean_square.mean(), None
        per_field = mean_square.mean(dim=0)
        return per_field.mean(), (per_field * self.g_scale_.pow(2)).mean()

    def __call__(self, residual, weight, rows):
        sq = residual.square()
        if self.g_scale_.numel() == 1:
            return (sq.mean() if weight is None else _weighted_mean(sq, weight)), None
        if weight is None:
            per_field = sq.mean(dim=(0, 1))
            return per_field.mean(), (per_field * self.g_scale_.pow(2)).mean()
        w = weight.expand_as(sq)
        count = (w > 0).sum().clamp(min=1)
        per_field = (w * sq).sum(dim=(0, 1))
        return per_field.sum() / count, (per_field * self.g_scale_.pow(2)).sum() / count


#: Relative mean square below which a function is zero (float32 rounding of G).
_ROUNDING = 1e-12


class RelativeL2Loss(BaseLoss):
    """Squared relative L2 error of each (function, field), averaged.

    For function ``i`` and field ``c``: the mean squared error over its
    sampled points divided by the mean square of ``G`` over all its observed
    points (computed once in ``prepare``), both in the units of G: FNO's
    objective, and closer than the MSE to the per-function R2. The report is
    the objective.

    Parameters
    ----------
    floor : float, default=1e-6
        Functions whose mean square is at or below ``floor`` (at least
        1e-12, the float32 rounding of the stored targets) times their field's
        mean over functions (zero functions, say) are divided by that field
        mean instead, and a field that is zero for every function by its
        squared standardisation scale (1 for a constant field): the loss then
        stays finite and is the mean squared error for them, instead of
        dividing by zero.

    Examples
    --------
    >>> from skoperator.losses import RelativeL2Loss
    >>> RelativeL2Loss.per_function
    True
    """

    per_function = True
    _parameter_constraints = {"floor": [Interval(Real, 0, 1, closed="left")]}

    def __init__(self, floor=1e-6):
        self.floor = floor

    def prepare(self, context):
        super().prepare(context)
        ms = context.mean_square()                             # (n, K), units of G
        field = ms.mean(dim=0, keepdim=True)                    # (1, K)
        scale2 = context.g_scale.double().pow(2).to(ms.device)[None]
        field = torch.where(field > 0, field, scale2)           # a field zero everywhere
        # zero (or tiny) functions; below 1e-12, float32's rounding of the
        # standardised targets (an all-zero function comes back as ~1e-17)
        ms = torch.where(ms > max(self.floor, _ROUNDING) * field, ms, field)
        # in standardised units: residual^2 * scale^2 / ms
        self.inverse_mean_square_ = (scale2 / ms).to(context.g_scale.dtype).to(context.device)
        return self

    def from_mean_square(self, mean_square, rows):
        return (mean_square * self.inverse_mean_square_[rows]).mean(), None

    def __call__(self, residual, weight, rows):
        inv = self.inverse_mean_square_[rows]                   # (batch, K)
        sq = residual.square()
        if weight is None:
            return (sq.mean(dim=1) * inv).mean(), None
        w = weight.expand_as(sq)
        count = (w > 0).sum(dim=1)                              # (batch, K)
        rel = (w * sq).sum(dim=1) / count.clamp(min=1) * inv
        used = count > 0
        return torch.where(used, rel, 0.0).sum() / used.sum().clamp(min=1), None


class HuberLoss(BaseLoss):
    """Huber loss of the standardised residuals: quadratic near 0, linear beyond ``delta``.

    ``0.5 r^2`` for ``|r| <= delta``, ``delta (|r| - 0.5 delta)`` beyond, averaged
    over the sampled entries (weighted like :class:`MSELoss`): robust to
    outliers in the targets. The report is the objective (standardised units).

    Parameters
    ----------
    delta : float, default=1.0
        Where the loss turns linear, in standard deviations of the field.

    Examples
    --------
    >>> import torch
    >>> from skoperator.losses import HuberLoss
    >>> loss = HuberLoss(delta=1.0)
    >>> float(loss(torch.tensor([[[0.5], [3.0]]]), None, torch.tensor([0]))[0])
    1.3125
    """

    _parameter_constraints = {"delta": [Interval(Real, 0, None, closed="neither")]}

    def __init__(self, delta=1.0):
        self.delta = delta

    def __call__(self, residual, weight, rows):
        h = torch.nn.functional.huber_loss(residual, torch.zeros_like(residual),
                                           reduction="none", delta=self.delta)
        return (h.mean() if weight is None else _weighted_mean(h, weight)), None


#: ``loss=`` name -> loss class (its default configuration).
LOSSES = {"mse": MSELoss, "relative_l2": RelativeL2Loss, "huber": HuberLoss}


def as_loss(spec):
    """The loss component of a ``loss=`` value (name or object)."""
    if isinstance(spec, BaseLoss):
        return spec
    if isinstance(spec, str) and spec in LOSSES:
        return LOSSES[spec]()
    raise ValueError(f"loss={spec!r} is not a loss; expected one of {sorted(LOSSES)} or a "
                     "skoperator.losses.BaseLoss instance.")


_LOSS_PROTOCOL = ("loss(residual, weight, rows) -> (objective, report), objective a scalar "
                  "tensor, report a scalar tensor or None")


def check_loss(loss, context):
    """Call a prepared loss once on a small batch and check what it returns.

    A fit calls this before training, so that a custom loss that returns a
    non-scalar, or that cannot be called as the protocol says, fails with
    an error naming ``loss`` rather than inside the optimizer.

    Parameters
    ----------
    loss : BaseLoss
        The prepared loss (the fit's private copy).
    context : LossContext
        The context it was prepared with.

    Returns
    -------
    loss : BaseLoss
        The same loss.

    Raises
    ------
    TypeError
        If the loss cannot be called as ``loss(residual, weight, rows)`` or
        does not return an ``(objective, report)`` pair.
    ValueError
        If the objective or the report is not a scalar tensor.

    Examples
    --------
    >>> import torch
    >>> from skoperator.losses import LossContext, MSELoss, check_loss
    >>> context = LossContext(g_scale=torch.ones(1), n_functions=2, mean_square=None,
    ...                       device=torch.device("cpu"))
    >>> check_loss(MSELoss().prepare(context), context)
    MSELoss()
    """
    n_outputs = len(context.g_scale)
    rows = torch.arange(min(2, context.n_functions), device=context.device)
    residual = torch.full((len(rows), 3, n_outputs), 0.5, device=context.device,
                          requires_grad=True)
    name = type(loss).__name__
    try:
        with torch.enable_grad():  # whatever the caller's mode: the objective's gradient
            out = loss(residual, None, rows)
    except TypeError as exc:
        raise TypeError(f"loss={name}() could not be called as {_LOSS_PROTOCOL}: "
                        f"{type(exc).__name__}: {exc}") from exc
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        got = f"a tuple of {len(out)}" if isinstance(out, (tuple, list)) else \
            type(out).__name__
        raise TypeError(f"loss={name}() returned {got}; the protocol is {_LOSS_PROTOCOL}. "
                        "Return (objective, None) to report the objective.")
    for what, value in zip(("objective", "report"), out):
        if what == "report" and value is None:
            continue
        if not torch.is_tensor(value) or value.dim() != 0:
            got = f"a tensor of shape {tuple(value.shape)}" if torch.is_tensor(value) else \
                type(value).__name__
            raise ValueError(f"loss={name}() returned {got} as its {what}; the protocol is "
                             f"{_LOSS_PROTOCOL}. Reduce it to a scalar of shape () (for "
                             "instance .mean(), or .squeeze() of a one-element tensor).")
    if not out[0].requires_grad:
        raise ValueError(f"loss={name}() returned an objective that does not depend on the "
                         "residual (no gradient flows to the network): compute it from the "
                         "residual tensor with torch operations, not from float or numpy "
                         "values.")
    return loss
