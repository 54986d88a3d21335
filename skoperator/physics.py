"""Physics-informed training: a residual of an equation as a component of the loss.

``DeepONetRegressor(physics=...)`` takes a physics component; its term is
added to the data loss at every step (the data loss is left out when ``G`` is
entirely missing). The protocol, written once here:

- ``check_fit(fit)``: called once per fit before the network is built, on
  the component as given (it must not change it), with a :class:`FitCheck`
  (the trunk, the validation functions' targets); raises ``ValueError`` for
  a setting the term cannot train with;
- ``prepare(context)``: called once per fit on the fit's private copy, with a
  :class:`PhysicsContext` (training coordinates, number of functions, the
  estimator's ``n_eval``, device, generator, the network's standardisation);
- ``__call__(network, U, rows, generator) -> Tensor``: the weighted physics
  term of one mini-batch (a scalar), given the raw inputs ``U`` (batch,
  n_sensors) of the functions ``rows``; it draws its own collocation points
  and differentiates the network with autograd.

The fitted estimator keeps its private, prepared copy (``physics_``), so
that the fitted attributes of the term (``n_points_``) can be read.

:class:`PDEResidual` is the ready-made component: a residual written as a
function of the coordinates, the network's output there, the input function
there and a derivative helper (:class:`Derivatives`; :func:`derivative` and
:func:`grad` are the same helper as functions), on collocation points drawn
per function and fresh every step. Its collocation points are drawn by a
sampler of the estimator's registry (:data:`skoperator.sampling.SAMPLERS`),
through the sampler protocol.
"""

import dataclasses
import inspect
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch

from ._compat import Interval, StrOptions
from ._component import Component
from ._derivatives import Derivatives, derivative, grad, interpolate, interpolate_sensors
from ._sampling import (
    SAMPLERS,
    BaseSampler,
    ObservedPoints,
    SamplingContext,
    make_sampler,
    resolve_n_eval,
)

__all__ = ["BasePhysics", "PhysicsContext", "FitCheck", "PDEResidual", "Derivatives",
           "derivative", "grad", "interpolate_sensors"]


@dataclasses.dataclass(frozen=True)
class PhysicsContext:
    """What a physics component learns about the training problem in ``prepare``.

    Parameters
    ----------
    coords : Tensor of shape (n_points, d) or (n_functions, n_points, d)
        Raw training coordinates: shared (the rows of ``coords``), or each
        training function's own points (NaN rows pad).
    n_functions : int
        Training functions (``rows`` index them).
    n_eval : int, float, str or callable
        The estimator's ``n_eval``, as given.
    device : torch.device
        Training device.
    generator : torch.Generator
        Seeded from ``random_state``, for draws made once in ``prepare``.
    y_shift, y_scale : Tensor of shape (d,)
        The network's standardisation of coordinates.
    g_shift, g_scale : Tensor of shape (n_outputs,)
        The network's standardisation of outputs.
    n_outputs : int
        Output fields.

    Examples
    --------
    >>> import torch
    >>> from skoperator.physics import PhysicsContext
    >>> ctx = PhysicsContext(coords=torch.linspace(0, 1, 5)[:, None], n_functions=3, n_eval=4,
    ...                      device=torch.device("cpu"), generator=torch.Generator(),
    ...                      y_shift=torch.zeros(1), y_scale=torch.ones(1),
    ...                      g_shift=torch.zeros(1), g_scale=torch.ones(1))
    >>> ctx.n_outputs
    1
    """

    coords: torch.Tensor
    n_functions: int
    n_eval: object
    device: torch.device
    generator: torch.Generator
    y_shift: torch.Tensor
    y_scale: torch.Tensor
    g_shift: torch.Tensor
    g_scale: torch.Tensor
    n_outputs: int = 1


@dataclasses.dataclass(frozen=True)
class FitCheck:
    """What a physics component checks before a fit builds its network (``check_fit``).

    Parameters
    ----------
    trunk : BaseTrunk
        The fit's trunk component (its capabilities, such as ``table``).
    validation_targets : array-like of shape (n_validation, n_outputs * n_points) or None, \
default=None
        The targets of the validation functions (NaN: missing), in ``G``'s
        layout (the outputs' columns side by side), indexable by rows; None
        without a validation split (no ``early_stopping``).

    Examples
    --------
    >>> from skoperator.networks import MLPTrunk
    >>> from skoperator.physics import FitCheck
    >>> FitCheck(trunk=MLPTrunk()).validation_observed() is None
    True
    """

    trunk: Any
    validation_targets: Any = None

    def validation_observed(self):
        """Whether the validation functions hold an observed target (None: no validation).

        Returns
        -------
        observed : bool or None
            None without a validation split.
        """
        if self.validation_targets is None:
            return None
        rows = self.validation_targets
        return bool(np.isfinite(np.asarray(rows[np.arange(len(rows))])).any())


class BasePhysics(Component):
    """Protocol of physics components (see the module docstring).

    Examples
    --------
    A term that pulls every output towards zero at the training points (a toy
    "equation" s = 0), weighted:

    >>> import torch
    >>> from skoperator.physics import BasePhysics
    >>> class Zero(BasePhysics):
    ...     def __init__(self, weight=1.0):
    ...         self.weight = weight
    ...     def __call__(self, network, U, rows, generator):
    ...         y = self.context_.coords
    ...         return self.weight * network(U, y).pow(2).mean()
    >>> Zero(weight=0.1).get_params()
    {'weight': 0.1}
    """

    def check_fit(self, fit):
        """Check the fit's other settings before training; raise ``ValueError`` if they clash.

        The base check: early stopping scores the validation functions on
        their observed targets, so it needs at least one (with none, every
        epoch would score the same and the fit would stop at once with an
        untrained model).

        Parameters
        ----------
        fit : FitCheck
            The fit's settings.

        Returns
        -------
        self : BasePhysics
            The component, unchanged.
        """
        if fit.validation_observed() is False:
            raise ValueError(
                "early_stopping=True scores the validation functions on their observed "
                "targets, but G has no observed value in the validation functions (the "
                "validation_fraction of the functions held out); every epoch would score "
                "the same and the fit would stop with an untrained model. Pass "
                "early_stopping=False, or observed values in G for more functions.")
        return self

    def prepare(self, context):
        """Learn what the term needs; called once per fit.

        Parameters
        ----------
        context : PhysicsContext
            The training problem.

        Returns
        -------
        self : BasePhysics
            The component, prepared (its ``context_`` set).
        """
        self.context_ = context
        return self

    def __call__(self, network, U, rows, generator):
        """The weighted physics term of a mini-batch (a scalar tensor)."""
        raise NotImplementedError


# ---------------------------------------------------------------------------
# PDEResidual
# ---------------------------------------------------------------------------
def _sensor_fault(sensors):
    """What is wrong with 1-D sensors of at least 2 positions ('' for another shape)."""
    if sensors.ndim != 1 or len(sensors) < 2:
        return ""
    return ", not finite" if not np.all(np.isfinite(sensors)) else ", not increasing"


class PDEResidual(BasePhysics):
    """The mean square of a PDE residual on collocation points drawn per function.

    At every step, for each function ``u`` of the mini-batch, ``n_points``
    collocation points ``y`` are drawn (see ``sampling``); the network's
    output ``s`` there (units of ``G``, ``output_transform`` applied), the
    input function ``u`` there (linear interpolation between the sensors)
    and a derivative helper ``d`` are handed to ``residual(y, s, u, d)``,
    and the term added to the loss is::

        weight * mean(residual ** 2)
          + boundary_weight * sum over boundary pairs of mean((s_b - value) ** 2)

    Parameters
    ----------
    residual : callable
        ``residual(y, s, u, d) -> Tensor`` of shape (batch, m) (or
        (batch, m, K), or a tuple of such tensors for several equations,
        whose mean squares add up); ``y`` (batch, m, d) raw coordinates,
        ``s`` (batch, m) the output (batch, m, K with several fields), ``u``
        (batch, m) the input function at ``y``, ``d`` a
        :class:`Derivatives`: ``d(s, 0)`` is ds/dy0, ``d(s, 1, order=2)``
        d2s/dy1^2, ``d(s, (0, 1))`` the mixed derivative. To pickle the
        estimator (and for ``n_jobs`` in scikit-learn's searches), write it
        as a module-level function, not a lambda.
    sensors : array-like of shape (n_sensors,) or None
        Positions of the sensors (the columns of ``U``) along the coordinate
        ``input_axis``, increasing. ``u`` at a point is the linear
        interpolation of the sensor values at that coordinate: exact on the
        sensors, linear between them, the end intervals' lines extended
        outside. None: the residual gets ``u=None``.
    domain : sequence of (low, high) pairs, or None, default=None
        None: collocation points are drawn among the training coordinates
        (the rows of the estimator's ``coords``). Otherwise one ``(low,
        high)`` pair per coordinate: points are drawn uniformly from that box.
    weight : float, default=1.0
        Weight of the residual's mean square.
    n_points : int, float, "auto" or None, default=None
        Collocation points per function and step: the ``n_eval`` of
        ``sampling``, resolved by the samplers' resolver against the number
        of training coordinates (an int; a fraction of them; "auto" =
        min(32, their number)). None: the estimator's ``n_eval`` (a callable
        ``n_eval(epoch)`` is read at epoch 0). With a box ``domain`` an int
        may exceed the number of coordinates.
    sampling : str or BaseSampler, default="random"
        How collocation points are drawn: a key of
        :data:`skoperator.sampling.SAMPLERS` or a sampler object, set up on
        the training coordinates with ``n_points`` as its ``n_eval``; each
        name means what it means for the estimator's ``sampling``: "random"
        (each function its own points, fresh every step), "shared" (one set
        for the mini-batch, fresh every step, as DeepXDE does), "fixed"
        (each function its own set, drawn once per fit and kept: the
        original PI-DeepONet), "full" (every training coordinate),
        "grouped", "stratified". A sampler that needs the model's data
        residuals ("adaptive") is refused when the fit starts. With a box
        ``domain`` the sampler must draw uniformly (``draws_uniformly``:
        "random", "shared", "fixed"), and the points are drawn uniformly
        from the box in the same way. With points per function
        (``fit(..., coords=)`` of shape (n_functions, n_points, d)) each
        function's points are drawn among its own.
    boundary : list of (points, value) pairs, or None, default=None
        Boundary or initial conditions as penalties. ``points``: an array
        (n_b, d) of coordinates, or a callable ``points(generator) -> (n_b,
        d)`` (array or tensor; drawn every step, for instance with
        ``torch.rand(n_b, generator=generator)``). ``value``: a number, or a
        callable ``value(y, u) -> (batch, n_b[, K])`` given the points
        ``y`` (batch, n_b, d) and the input function there ``u`` (batch,
        n_b). For exact conditions use the estimator's ``output_transform``
        instead.
    boundary_weight : float, default=1.0
        Weight of each boundary pair's mean square.
    input_axis : int, default=-1
        The coordinate that the input function is a function of (the
        sensors' positions are along it): 0 for ``y = (x,)``, 1 (or -1)
        for ``y = (t, x)``.

    Attributes
    ----------
    n_points_ : int
        Collocation points per function and step, resolved in ``prepare``
        (with ``sampling="grouped"``, per group: a function then gets
        ``n_points_`` points of each group, such as each time of a
        ``(t, x)`` grid).
    sampler_ : BaseSampler
        The fit's private copy of ``sampling`` (set up on the training
        coordinates when ``domain`` is None).
    fixed_points_ : Tensor of shape (n_functions, n_points, d) or None
        The points of a sampler that draws once per fit (``fresh = False``,
        such as "fixed"); None otherwise.

    The fitted estimator exposes its prepared copy as ``physics_``, where
    these attributes can be read.

    Notes
    -----
    Derivatives are taken with autograd through the trunk; they need a
    trunk whose output at a point depends on that point alone and is
    differentiable (MLP, Fourier-feature trunks; not POD tables). Each step
    evaluates the trunk at ``batch_size * n_points`` points and
    differentiates it as often as the residual asks.

    Examples
    --------
    >>> import numpy as np
    >>> from skoperator import DeepONetRegressor
    >>> from skoperator.datasets import make_antiderivative
    >>> from skoperator.physics import PDEResidual
    >>> def antiderivative(y, s, u, d):
    ...     return d(s, 0) - u
    >>> def zero_at_0(y, out):
    ...     return y[..., 0] * out
    >>> U, Y, G = make_antiderivative(40, random_state=0)
    >>> physics = PDEResidual(antiderivative, sensors=Y[:, 0], n_points=20)
    >>> est = DeepONetRegressor(coords=Y, physics=physics, output_transform=zero_at_0,
    ...                         max_iter=2, tol=None, random_state=0)
    >>> est.fit(U, np.full_like(G, np.nan)).predict(U[:3]).shape
    (3, 100)
    """

    _parameter_constraints = {
        "residual": [callable],
        "sensors": ["array-like", None],
        "domain": ["array-like", None],
        "weight": [Interval(Real, 0, None, closed="left")],
        "n_points": [Interval(Integral, 1, None, closed="left"),
                     Interval(Real, 0, 1, closed="right"), StrOptions({"auto"}), None],
        "sampling": [StrOptions(set(SAMPLERS)), BaseSampler],
        "boundary": [list, tuple, None],
        "boundary_weight": [Interval(Real, 0, None, closed="left")],
        "input_axis": [Interval(Integral, None, None, closed="neither")],
    }

    def __init__(self, residual, *, sensors, domain=None, weight=1.0, n_points=None,
                 sampling="random", boundary=None, boundary_weight=1.0, input_axis=-1):
        self.residual = residual
        self.sensors = sensors
        self.domain = domain
        self.weight = weight
        self.n_points = n_points
        self.sampling = sampling
        self.boundary = boundary
        self.boundary_weight = boundary_weight
        self.input_axis = input_axis

    # -- checks and prepare
    def check_fit(self, fit):
        """Refuse a trunk that cannot be differentiated at collocation points.

        Parameters
        ----------
        fit : FitCheck
            The fit's settings.

        Returns
        -------
        self : PDEResidual
            The component, unchanged.
        """
        super().check_fit(fit)
        if getattr(fit.trunk, "table", False):
            raise ValueError(
                f"physics=PDEResidual differentiates the trunk at collocation points, but the "
                f"trunk {type(fit.trunk).__name__} is a table known at the training grid "
                "only (its derivatives along the coordinates are zero); use a trunk that "
                "evaluates anywhere, such as trunk='mlp' or MLPTrunk(fourier_features=16).")
        return self

    def prepare(self, context):
        """Check the settings against the problem, resolve ``n_points``, set up the sampler.

        Parameters
        ----------
        context : PhysicsContext
            The training problem.

        Returns
        -------
        self : PDEResidual
            The prepared component.
        """
        super().prepare(context)
        _check_signature(self.residual)
        coords = context.coords
        d = coords.shape[-1]
        device = context.device
        if not -d <= self.input_axis < d:
            raise ValueError(f"input_axis={self.input_axis} is out of range for coordinates "
                             f"of dimension {d}.")
        self._axis = self.input_axis % d
        self._uses_s = False  # checked on the first step (one extra backward)
        self._sensors = None
        if self.sensors is not None:
            try:
                sensors = np.asarray(self.sensors, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"sensors must be numeric positions (one per column of U); "
                                 f"got {self.sensors!r} ({exc}).") from exc
            if sensors.ndim == 2 and sensors.shape[1] == 1:
                sensors = sensors[:, 0]
            if sensors.ndim != 1 or len(sensors) < 2 or not np.all(np.isfinite(sensors)) \
                    or not np.all(np.diff(sensors) > 0):
                raise ValueError(
                    f"sensors must be a 1-D array of at least 2 finite, strictly increasing "
                    f"positions (one per column of U); got shape {sensors.shape}"
                    f"{_sensor_fault(sensors)}.")
            self._sensors = torch.as_tensor(sensors, dtype=torch.float32, device=device)
        self._box = None
        if self.domain is not None:
            try:
                box = np.asarray(self.domain, dtype=np.float64)
            except (TypeError, ValueError):
                box = np.full((0,), np.nan)  # refused below, naming domain
            if box.shape != (d, 2) or not np.all(np.isfinite(box)) or \
                    not np.all(box[:, 1] > box[:, 0]):
                raise ValueError(
                    f"domain must give one (low, high) pair with low < high per coordinate, "
                    f"shape ({d}, 2) here; got {self.domain!r}.")
            self._box = torch.as_tensor(box, dtype=torch.float32, device=device)
        self._boundary = self._check_boundary(d, device)
        self.sampler_ = self._setup_sampler(context)
        self.fixed_points_, self._fixed = None, None
        if not self.sampler_.fresh:
            rows = torch.arange(context.n_functions, device=device)
            self._fixed = self._draw(rows, context.generator)
            self.fixed_points_ = self._fixed[0]
        return self

    def _setup_sampler(self, context):
        """The fit's copy of ``sampling``, set up; resolves ``n_points_``."""
        sampler = make_sampler(self.sampling)
        coords = context.coords
        n_eval = context.n_eval if self.n_points is None else self.n_points
        name = "n_points" if self.n_points is not None else \
            "n_points=None (the estimator's n_eval)"
        if self._box is not None:
            if not sampler.draws_uniformly:
                raise ValueError(
                    f"PDEResidual draws points uniformly from the box domain={self.domain!r}, "
                    f"but sampling={self.sampling!r} is not a uniform draw "
                    "(draws_uniformly=False); use sampling='random', 'shared' or 'fixed', "
                    "or domain=None to draw among the training coordinates.")
            self.n_points_ = resolve_n_eval(n_eval, coords.shape[-2], name=name,
                                            what="the number of training coordinates",
                                            bounded=False)
            return sampler
        observed = None
        if coords.dim() == 3:  # points per function, NaN rows pad
            if not (sampler.uses_observed and sampler.per_function):
                raise ValueError(
                    f"PDEResidual(sampling={self.sampling!r}) draws among one shared set of "
                    "points, but fit was given points per function (coords of shape "
                    "(n_functions, n_points, d)); use sampling='random' or 'fixed', or a box "
                    "domain.")
            finite = torch.isfinite(coords).all(dim=-1)
            observed = ObservedPoints.from_mask(finite.cpu()).to(context.device)
            # each function's first point, for its padding slots (see _draw)
            self._first_point = coords[torch.arange(len(coords), device=coords.device),
                                       finite.to(torch.int8).argmax(dim=1)]
        sampling_context = SamplingContext(
            n_eval=n_eval, coords=coords, n_functions=context.n_functions,
            device=context.device, generator=context.generator, n_epochs=1,
            observed=observed)
        try:
            sampler.setup(sampling_context)
        except ValueError as exc:
            raise ValueError(
                f"PDEResidual(sampling={self.sampling!r}, n_points={self.n_points!r}) could "
                f"not draw {name} collocation points among the training coordinates (the "
                f"sampler's words, where n_eval is PDEResidual's n_points: {exc}). "
                "PDEResidual draws among them with n_points up to their number and "
                "sampling='random' or 'fixed' (or 'shared', 'stratified', 'grouped' on one "
                "set of points), or anywhere inside a box domain.") from exc
        self.n_points_ = sampler.n_eval_
        return sampler

    def _check_boundary(self, d, device):
        if self.boundary is None:
            return []
        pairs = []
        for i, pair in enumerate(self.boundary):
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                raise ValueError(f"boundary[{i}] must be a (points, value) pair; got {pair!r}.")
            points, value = pair
            if not callable(points):
                try:
                    points = np.asarray(points, dtype=np.float32)
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"boundary[{i}]: points must be an array of coordinates "
                                     f"of shape (n_b, {d}); {exc}.") from exc
                points = _boundary_points(torch.as_tensor(points, device=device), d, i)
            if isinstance(value, bool) or not (callable(value) or isinstance(value, Real)) \
                    or (isinstance(value, Real) and not np.isfinite(value)):
                raise ValueError(f"boundary[{i}]: value must be a finite number or a callable "
                                 f"value(y, u); got {value!r}.")
            pairs.append((points, value))
        return pairs

    # -- draws
    def _draw(self, rows, generator):
        """Collocation points (batch, n_points, d) of ``rows`` and their weights (or None)."""
        coords, n_rows = self.context_.coords, len(rows)
        if self._box is not None:
            k = n_rows if self.sampler_.per_function else 1
            lo, hi = self._box[:, 0], self._box[:, 1]
            y = lo + (hi - lo) * torch.rand(k, self.n_points_, coords.shape[-1],
                                            generator=generator, device=coords.device)
            return (y.expand(n_rows, -1, -1) if k == 1 and n_rows > 1 else y), None
        cols, weight = self.sampler_.sample(rows, generator)
        if coords.dim() == 3:  # each function's own points; padding slots weigh 0, and
            # hold the function's first point (a point of its domain: not 0, where a
            # residual may be infinite, and inf * 0 is NaN)
            y = coords[rows[:, None], cols]
            y = torch.where(torch.isfinite(y).all(dim=-1, keepdim=True), y,
                            self._first_point[rows][:, None])
        elif cols is None:
            y = coords.expand(n_rows, -1, -1)
        else:
            y = coords[cols]
            if cols.dim() == 1:
                y = y.expand(n_rows, -1, -1)
        if weight is not None:
            weight = weight.expand(n_rows, y.shape[1])
        return y, weight

    def collocation(self, rows, generator):
        """The collocation points of a step and the weight of each.

        Parameters
        ----------
        rows : LongTensor of shape (batch,)
            Training functions of the mini-batch.
        generator : torch.Generator
            Source of the draws.

        Returns
        -------
        y : Tensor of shape (batch, n_points, d)
            Raw coordinates.
        weight : Tensor of shape (batch, n_points) or None
            The sampler's weight of each point (0: left out); None: all 1.
        """
        if self._fixed is not None:
            y, weight = self._fixed
            return y[rows], None if weight is None else weight[rows]
        return self._draw(rows, generator)

    def collocation_points(self, rows, generator):
        """The collocation points of a step (:meth:`collocation` without the weights).

        Parameters
        ----------
        rows : LongTensor of shape (batch,)
            Training functions of the mini-batch.
        generator : torch.Generator
            Source of the draws.

        Returns
        -------
        y : Tensor of shape (batch, n_points, d)
            Raw coordinates.
        """
        return self.collocation(rows, generator)[0]

    def input_at(self, U, y):
        """The input functions at the points ``y`` (linear interpolation).

        Parameters
        ----------
        U : Tensor of shape (batch, n_sensors)
            Sensor values.
        y : Tensor of shape (batch, m, d)
            Raw coordinates.

        Returns
        -------
        u : Tensor of shape (batch, m) or None
            None when ``sensors`` is None.
        """
        if self._sensors is None:
            return None
        if U.shape[1] != len(self._sensors):
            raise ValueError(f"sensors has {len(self._sensors)} positions but U has "
                             f"{U.shape[1]} columns; give one sensor position per column.")
        return interpolate(U, self._sensors, y[..., self._axis])

    @staticmethod
    def output_at(network, b, y):
        """The network's output at per-function points.

        Parameters
        ----------
        network : DeepONet
            The network being trained.
        b : Tensor of shape (batch, width)
            Branch coefficients of the mini-batch.
        y : Tensor of shape (batch, m, d)
            Raw coordinates.

        Returns
        -------
        s : Tensor of shape (batch, m[, K])
            In the units of G, ``output_transform`` applied.
        """
        return network.outputs(b, network.encode_trunk(y), y)

    # -- the term
    def __call__(self, network, U, rows, generator):
        """``weight * mean(residual^2)`` plus the boundary penalties, for one mini-batch."""
        y, weight = self.collocation(rows, generator)
        y = y.detach().clone().requires_grad_(True)
        b = network.encode_branch(U)
        s = self.output_at(network, b, y)
        u = self.input_at(U, y)
        r = self.residual(y, s, u, Derivatives(y))
        parts = r if isinstance(r, (list, tuple)) else (r,)
        term = 0.0
        for part in parts:
            if not torch.is_tensor(part) or part.shape[:2] != s.shape[:2] or part.dim() > 3 \
                    or not part.is_floating_point():
                raise ValueError(
                    f"residual must return a real tensor of shape {tuple(s.shape[:2])} (batch, "
                    "m), or (batch, m, K), or a tuple of such; got "
                    f"{_described(part)}.")
            term = term + _mean_square(part, weight)
        first = not self._uses_s  # the checks that cost a backward or a sync: once
        if first:
            if not bool(torch.isfinite(term)):
                raise ValueError(
                    "residual(y, s, u, d) returned NaN or infinite values at the first step, "
                    "before any training: at the collocation points y or for the inputs u it "
                    "was given (sensors=None gives u=None). Check the residual where it is "
                    "evaluated (domain, the training coordinates), e.g. a division by y.")
            params = [p for p in network.parameters() if p.requires_grad]
            if params and (not term.requires_grad or all(g is None for g in torch.autograd.grad(
                    term, params, retain_graph=True, allow_unused=True))):
                raise ValueError("residual(y, s, u, d) does not depend on s, the network's "
                                 "output: it cannot train the network. Return the equation's "
                                 "residual in terms of s (and its derivatives d(s, axis)).")
            self._uses_s = True
        term = self.weight * term
        for i, (points, value) in enumerate(self._boundary):
            pts = points
            if callable(points):
                pts = torch.as_tensor(points(generator), dtype=torch.float32, device=U.device)
                pts = _boundary_points(pts, y.shape[-1], i, check_finite=first)
            yb = pts.expand(len(U), -1, -1)
            sb = self.output_at(network, b, yb)
            target = value(yb, self.input_at(U, yb)) if callable(value) else value
            number = isinstance(target, Real) and not isinstance(target, bool)
            if callable(value) and not number and not (
                    torch.is_tensor(target) and target.is_floating_point()
                    and target.shape in (sb.shape, sb.shape[1:], ())):
                raise ValueError(f"boundary[{i}]: value(y, u) must return a number or a real "
                                 f"tensor of shape {tuple(sb.shape)} (batch, n_b); got "
                                 f"{_described(target)}.")
            term = term + self.boundary_weight * (sb - target).square().mean()
        return term


def _described(value):
    """A value's shape and dtype (a tensor), else its type, for an error message."""
    if torch.is_tensor(value):
        return f"shape {tuple(value.shape)}, dtype {value.dtype}"
    return type(value).__name__


def _boundary_points(points, d, i, check_finite=True):
    """Boundary points as (n_b, d), finite; a ValueError naming ``boundary[i]`` else.

    ``check_finite=False`` skips the one check that reads the values (a host
    synchronisation on a GPU): a callable's points are checked on the first step.
    """
    if points.dim() == 1 and d == 1:
        points = points[:, None]
    if points.dim() != 2 or points.shape[1] != d or len(points) == 0:
        raise ValueError(f"boundary[{i}]: points must have shape (n_b, {d}); got "
                         f"{tuple(points.shape)}.")
    if check_finite and not torch.isfinite(points).all():
        raise ValueError(f"boundary[{i}]: points must be finite; got NaN or inf.")
    return points


def _mean_square(part, weight):
    """The mean square of a residual, weighted by the sampler's weights (None: plain mean)."""
    if weight is None:
        return part.square().mean()
    square = part.square()
    if square.dim() == 3:
        square = square.mean(dim=2)
    return (square * weight).sum() / (weight != 0).sum().clamp(min=1)


def _check_signature(residual):
    """Raise ``TypeError`` unless ``residual`` takes ``(y, s, u, d)``."""
    try:
        signature = inspect.signature(residual)
    except (TypeError, ValueError):  # a builtin or extension: checked when called
        return
    try:
        signature.bind(None, None, None, None)
    except TypeError as exc:
        name = getattr(residual, "__name__", type(residual).__name__)
        raise TypeError(
            f"PDEResidual's residual must take four positional arguments, residual(y, s, u, "
            f"d) -> Tensor (coordinates, output, input function, derivative helper); got "
            f"{name}{signature}, which cannot ({exc}).") from None
