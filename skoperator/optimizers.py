"""Optimizers as components: the OPTIMIZERS registry, its protocol and the L-BFGS polish.

``DeepONetRegressor(optimizer=...)`` takes a name (a key of
:data:`OPTIMIZERS`) or an optimizer object. A first-order optimizer
subclasses :class:`BaseOptimizer` and implements::

    build(params, lr, context) -> torch.optim.Optimizer

``lr`` is the estimator's ``learning_rate_init``; the schedule scales every
group's ``"lr"`` from it at each step, and a schedule's ``beta1`` (one-cycle)
goes through :meth:`BaseOptimizer.set_momentum`. Every optimizer takes
``clip_grad_norm`` (the gradients' global 2-norm is clipped to it before each
step, :func:`torch.nn.utils.clip_grad_norm_`; None: no clipping) and
``polish`` (None, or an :class:`LBFGS` run on the full training grid after
the epochs: the L-BFGS polish).

The default, ``"adam"``, is :class:`Adam` with torch's defaults, exactly the
optimizer of skoperator 0.3 (``alpha`` and ``lbfgs_iter`` of 0.3 are now
``Adam(weight_decay=...)`` and ``Adam(polish=LBFGS(max_iter=...))``).
"""

import dataclasses
from numbers import Integral, Real

import torch

from ._compat import Interval
from ._component import Component

__all__ = ["OPTIMIZERS", "BaseOptimizer", "Adam", "AdamW", "SGD", "LBFGS", "OptimizerContext"]


@dataclasses.dataclass(frozen=True)
class OptimizerContext:
    """What an optimizer component sees when the estimator builds it.

    Parameters
    ----------
    device : torch.device
        Where the parameters live.
    fused : bool
        Whether torch's fused kernels may be used (CUDA, or the CPU from
        torch 2.4 on, and no complex parameters).
    """

    device: torch.device
    fused: bool = False


class LBFGS(Component):
    """The L-BFGS polish: full-batch L-BFGS on the whole training grid after the epochs.

    :class:`torch.optim.LBFGS` with a strong Wolfe line search, run in
    rounds of 20 iterations between which ``max_time`` is checked. With
    ``physics`` the objective adds the physics term at collocation points
    drawn once for the polish. Passed as ``polish=`` of a first-order
    optimizer.

    Parameters
    ----------
    max_iter : int, default=500
        L-BFGS iterations.
    history_size : int, default=50
        Curvature pairs kept.

    Examples
    --------
    >>> from skoperator.optimizers import Adam, LBFGS
    >>> Adam(polish=LBFGS(max_iter=200))
    Adam(polish=LBFGS(max_iter=200))
    """

    _parameter_constraints = {"max_iter": [Interval(Integral, 0, None, closed="left")],
                              "history_size": [Interval(Integral, 1, None, closed="left")]}

    def __init__(self, max_iter=500, history_size=50):
        self.max_iter = max_iter
        self.history_size = history_size

    def build(self, params, rounds):
        """The :class:`torch.optim.LBFGS` of ``params``, ``rounds`` iterations per step."""
        return torch.optim.LBFGS(params, lr=1.0, max_iter=rounds,
                                 history_size=self.history_size,
                                 line_search_fn="strong_wolfe", tolerance_grad=1e-12,
                                 tolerance_change=1e-15)


_COMMON = {"clip_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
           "polish": [LBFGS, None],
           "weight_decay": [Interval(Real, 0, None, closed="left")]}


class BaseOptimizer(Component):
    """Protocol of first-order optimizers (see the module docstring).

    Attributes
    ----------
    clip_grad_norm : float or None
        Largest global 2-norm of the gradients at a step.
    polish : LBFGS or None
        The L-BFGS polish after the epochs.

    Examples
    --------
    Plain gradient descent:

    >>> import torch
    >>> from skoperator.optimizers import BaseOptimizer
    >>> class GD(BaseOptimizer):
    ...     def __init__(self, clip_grad_norm=None, polish=None):
    ...         self.clip_grad_norm = clip_grad_norm
    ...         self.polish = polish
    ...     def build(self, params, lr, context):
    ...         return torch.optim.SGD(params, lr=lr)
    >>> GD(clip_grad_norm=1.0)
    GD(clip_grad_norm=1.0)
    """

    clip_grad_norm = None
    polish = None
    #: Capability: the per-parameter state every step leaves (a saved model must hold it).
    state_keys = ()

    def scale_free(self):
        """Whether a step is the same for the loss times a constant (Adam's, up to ``eps``).

        An ensemble trains its members as one network on the mean of their
        losses only with such an optimizer: with another (SGD), each member
        would move ``1 / n_estimators`` as far as alone.
        """
        return False

    def build(self, params, lr, context):
        """Return the :class:`torch.optim.Optimizer` of ``params``.

        Parameters
        ----------
        params : iterable of Parameter
            The network's trainable parameters.
        lr : float
            Initial learning rate (``learning_rate_init``).
        context : OptimizerContext
            Device and whether fused kernels may be used.

        Returns
        -------
        optimizer : torch.optim.Optimizer
        """
        raise NotImplementedError

    def set_momentum(self, group, beta1):
        """Set a schedule's ``beta1`` (one-cycle's momentum) on a parameter group.

        Adam's first beta by default; optimizers without momentum ignore it.
        """
        if "betas" in group:
            group["betas"] = (beta1, group["betas"][1])
        elif "momentum" in group:
            group["momentum"] = beta1

    def check(self):
        """Check the settings, the polish's included; raise ``ValueError`` naming the bad one.

        Returns
        -------
        self : BaseOptimizer
            The optimizer, unchanged.
        """
        super().check()
        if self.polish is not None and hasattr(self.polish, "check"):
            self.polish.check()
        return self

    @property
    def polish_iter(self):
        """L-BFGS iterations of the polish (0 without one)."""
        return 0 if self.polish is None else int(self.polish.max_iter)


def build_checked(spec, params, lr, context):
    """``spec.build(params, lr, context)``, checked to be a torch optimizer.

    A fit builds its optimizer through this, so that a custom
    :class:`BaseOptimizer` whose ``build`` returns something else fails
    before training with an error naming ``optimizer``.
    """
    optimizer = spec.build(params, lr, context)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer={spec!r}: build() returned {type(optimizer).__name__}; "
                        "expected a torch.optim.Optimizer of the parameters it was given.")
    return optimizer


class Adam(BaseOptimizer):
    """Adam (Kingma and Ba 2015) with an L2 penalty: the default, as in skoperator 0.3.

    Parameters
    ----------
    betas : tuple of float, default=(0.9, 0.999)
        Decay rates of the first and second moments.
    eps : float, default=1e-8
        Added to the denominator.
    weight_decay : float, default=0.0
        L2 penalty added to the gradient (``alpha`` of skoperator 0.3 and of
        scikit-learn's ``MLPRegressor``).
    clip_grad_norm : float or None, default=None
        Clip the gradients' global 2-norm to this before each step.
    polish : LBFGS or None, default=None
        L-BFGS polish after the epochs.

    Examples
    --------
    >>> from skoperator.optimizers import Adam
    >>> Adam(clip_grad_norm=1.0)
    Adam(clip_grad_norm=1.0)
    """

    state_keys = ("exp_avg", "exp_avg_sq")
    _parameter_constraints = {"betas": [tuple], "eps": [Interval(Real, 0, None, closed="left")],
                              **_COMMON}

    def __init__(self, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, clip_grad_norm=None,
                 polish=None):
        self.betas = betas
        self.eps = eps
        self.weight_decay = weight_decay
        self.clip_grad_norm = clip_grad_norm
        self.polish = polish

    def check(self):
        super().check()
        betas = self.betas
        if not (len(betas) == 2 and all(
                isinstance(b, Real) and not isinstance(b, bool) and 0 <= b < 1 for b in betas)):
            raise ValueError(f"{type(self).__name__}(betas={betas!r}): expected a pair of "
                             "floats in [0, 1), such as (0.9, 0.999).")
        return self

    def scale_free(self):
        return not self.weight_decay  # a coupled decay is added to the (scaled) gradient

    def build(self, params, lr, context):
        return torch.optim.Adam(params, lr=lr, betas=tuple(float(b) for b in self.betas),
                                eps=self.eps,
                                weight_decay=self.weight_decay, fused=context.fused)


class AdamW(Adam):
    """AdamW (Loshchilov and Hutter 2019): Adam with decoupled weight decay.

    Parameters
    ----------
    betas : tuple of float, default=(0.9, 0.999)
        Decay rates of the first and second moments.
    eps : float, default=1e-8
        Added to the denominator.
    weight_decay : float, default=0.01
        Decoupled weight decay (torch's default).
    clip_grad_norm : float or None, default=None
        Clip the gradients' global 2-norm to this before each step.
    polish : LBFGS or None, default=None
        L-BFGS polish after the epochs.

    Examples
    --------
    >>> from skoperator.optimizers import AdamW
    >>> AdamW(weight_decay=1e-4)
    AdamW(weight_decay=0.0001)
    """

    def __init__(self, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, clip_grad_norm=None,
                 polish=None):
        super().__init__(betas=betas, eps=eps, weight_decay=weight_decay,
                         clip_grad_norm=clip_grad_norm, polish=polish)

    def scale_free(self):
        return True  # the decay is decoupled from the gradient

    def build(self, params, lr, context):
        return torch.optim.AdamW(params, lr=lr, betas=tuple(float(b) for b in self.betas),
                                 eps=self.eps,
                                 weight_decay=self.weight_decay, fused=context.fused)


class SGD(BaseOptimizer):
    """Stochastic gradient descent with (Nesterov) momentum.

    Parameters
    ----------
    momentum : float, default=0.9
        Momentum factor (a one-cycle schedule's ``beta1`` replaces it).
    nesterov : bool, default=False
        Nesterov momentum.
    weight_decay : float, default=0.0
        L2 penalty added to the gradient.
    clip_grad_norm : float or None, default=None
        Clip the gradients' global 2-norm to this before each step.
    polish : LBFGS or None, default=None
        L-BFGS polish after the epochs.

    Examples
    --------
    >>> from skoperator.optimizers import SGD
    >>> SGD(momentum=0.95, nesterov=True)
    SGD(momentum=0.95, nesterov=True)
    """

    _parameter_constraints = {"momentum": [Interval(Real, 0, 1, closed="left")],
                              "nesterov": ["boolean"], **_COMMON}

    def __init__(self, momentum=0.9, nesterov=False, weight_decay=0.0, clip_grad_norm=None,
                 polish=None):
        self.momentum = momentum
        self.nesterov = nesterov
        self.weight_decay = weight_decay
        self.clip_grad_norm = clip_grad_norm
        self.polish = polish

    def check(self):
        super().check()
        if self.nesterov and self.momentum == 0:
            raise ValueError(f"SGD(nesterov=True, momentum={self.momentum!r}): Nesterov "
                             "momentum needs momentum > 0; pass momentum=0.9, or "
                             "nesterov=False.")
        return self

    def build(self, params, lr, context):
        return torch.optim.SGD(params, lr=lr, momentum=self.momentum, nesterov=self.nesterov,
                               weight_decay=self.weight_decay)


#: ``optimizer=`` name -> optimizer class (its default configuration).
OPTIMIZERS = {"adam": Adam, "adamw": AdamW, "sgd": SGD}


def as_optimizer(spec):
    """The optimizer component of an ``optimizer=`` value (name or object)."""
    if isinstance(spec, BaseOptimizer):
        return spec
    if isinstance(spec, str) and spec in OPTIMIZERS:
        return OPTIMIZERS[spec]()
    raise ValueError(f"optimizer={spec!r} is not an optimizer; expected one of "
                     f"{sorted(OPTIMIZERS)} or a skoperator.optimizers.BaseOptimizer instance "
                     "(for instance Adam(clip_grad_norm=1.0)).")


#: Constructor parameters of skoperator 0.3 folded into ``optimizer``: what to write now.
MOVED = {"alpha": "optimizer=Adam(weight_decay={value!r})",
         "lbfgs_iter": "optimizer=Adam(polish=LBFGS(max_iter={value!r}))"}


def check_moved(estimator_name, kwargs):
    """Raise ``TypeError`` with the migration for parameters folded into ``optimizer``."""
    moved = [name for name in MOVED if name in kwargs]
    if moved:
        fixes = "; ".join(f"{name}={kwargs[name]!r} -> {MOVED[name].format(value=kwargs[name])}"
                          for name in moved)
        raise TypeError(
            f"{estimator_name} has no parameter {' or '.join(moved)} since skoperator 0.4: "
            f"the optimizer is a component ({fixes}, with Adam and LBFGS from "
            "skoperator.optimizers; combine them in one Adam(...)).")
