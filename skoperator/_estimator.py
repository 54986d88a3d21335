"""DeepONetRegressor: parameters, validation, fit/partial_fit/predict/score."""

import copy
import dataclasses
import math
import time
import warnings
from numbers import Integral, Real
from typing import Any, Callable, Optional

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, RealNotInt, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from . import _data
from ._device import as_tensor, fused_adam, has_complex_parameters, resolve_device, to_cpu
from ._device import to_float64
from ._inference import predict_into, validation_score
from ._network import (
    ACTIVATIONS,
    BRANCHES,
    LAYOUTS,
    TRUNKS,
    NetworkParams,
    TrunkContext,
    build_network,
)
from ._parallel import choose_threads, torch_threads
from ._progress import reporting
from ._sampling import SAMPLERS, ObservedPoints, SamplingContext, make_sampler
from ._training import (
    LOSSES,
    SCHEDULES,
    StoppingState,
    Trainer,
    TrainingData,
    training_residuals,
)
from .metrics import variance_weighted_r2

#: What a sampler object must provide (see ``skoperator.sampling.BaseSampler``).
_SAMPLER_METHODS = ["setup", "start_epoch", "sample"]

#: Parameters that shape the network: ``warm_start`` and ``partial_fit`` keep
#: the fitted network, so these must not change between calls.
_ARCHITECTURE = ("branch", "trunk", "branch_layers", "trunk_layers", "n_basis", "activation",
                 "input_shape", "cnn_channels", "fno_modes", "fno_width", "fno_layers",
                 "fno_head", "fourier_features", "fourier_scale",
                 "standardize", "n_outputs", "multi_output_strategy", "input_sizes",
                 "output_transform")


def _same_param(a, b):
    """Whether two values of a constructor parameter are the same setting."""
    if a is b:
        return True
    if isinstance(a, torch.nn.Module) or isinstance(b, torch.nn.Module) or callable(a) \
            or callable(b):
        return False
    try:
        return bool(np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object)))
    except (TypeError, ValueError):
        return a == b


@dataclasses.dataclass(frozen=True)
class FitPlan:
    """Everything a fit needs, validated and built before any fitted attribute changes."""

    coords: np.ndarray
    device: torch.device
    continuing: bool
    incremental: bool
    input_sizes: tuple
    network: torch.nn.Module
    optimizer: torch.optim.Optimizer
    data: TrainingData
    sampler: Any
    loss: Any
    generator: torch.Generator
    batch_size: int
    n_epochs: int
    schedule: Callable
    total_steps: int
    tol: Optional[float]
    validation_fn: Optional[Callable]
    n_threads: int
    compile_mode: Optional[str]


def _trunk_points(sampler, n_points, batch_size):
    """Trunk evaluations of a step, roughly: the grid or the sampled points, fewer."""
    per_function = getattr(sampler, "n_eval_", None) or n_points
    return min(n_points, batch_size * per_function)


def _check_widths(name, value):
    """Layer widths: a sequence of positive ints (possibly empty)."""
    try:
        widths = [int(w) for w in value]
        ok = all(int(w) == w and w >= 1 for w in value)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name}={value!r} must be a sequence of positive ints (layer widths), "
                         f"for instance (40, 40, 40); got {value!r}.")
    return tuple(widths)


def _check_output_transform(network, U, coords, device):
    """Call ``output_transform`` once on real shapes, so that a bad one fails before training."""
    y = as_tensor(coords[:3], torch.float32, device)
    with torch.no_grad():
        out = network.unscale(network.combine(
            network.encode_branch(as_tensor(U, torch.float32, device)), network.encode_trunk(y)))
        try:
            got = network.output_transform(y, out)
        except Exception as exc:
            raise ValueError(
                f"output_transform raised {type(exc).__name__}: {exc} when called with y of "
                f"shape {tuple(y.shape)} and out of shape {tuple(out.shape)}; it must map "
                "torch tensors (y, out) to a tensor shaped like out."
            ) from exc
    shape = tuple(got.shape) if torch.is_tensor(got) else type(got).__name__
    if shape != tuple(out.shape):
        raise ValueError(
            f"output_transform returned {shape} for out of shape {tuple(out.shape)} (y of "
            f"shape {tuple(y.shape)}); it must return a torch tensor shaped like out."
        )


class DeepONetRegressor(RegressorMixin, BaseEstimator):
    """DeepONet operator regression with randomized trunk sampling.

    Learns an operator ``u -> G(u)`` from input functions sampled at sensors
    (rows of ``U``, sklearn's ``X``) and output functions sampled at coordinates
    (rows of ``G``, sklearn's multi-output ``y``; column ``j`` is the output at
    ``coords[j]``). A branch network encodes ``u`` into coefficients ``b_k(u)``,
    a trunk network encodes a coordinate ``y`` into basis functions ``t_k(y)``,
    and ``G(u)(y) = sum_k b_k(u) t_k(y) + b0``.

    With ``sampling="random"`` (Karumuri et al., 2024), every optimizer step
    evaluates each function of the mini-batch at its own ``n_eval`` points,
    drawn without replacement, fresh every step; the cost of a step grows with
    ``n_eval``, not with the size of the output grid.

    Several output fields (``n_outputs``), several input functions
    (``input_sizes``, combined as in MIONet) and exact constraints
    (``output_transform``) keep the same two-dimensional ``U`` and ``G``.

    Parameters
    ----------
    n_eval : int, float, "auto" or callable, default="auto"
        Points per function per step. An int in ``[1, n_points]``; a float in
        (0, 1] is a fraction of the points (rounded up); "auto" is
        ``min(32, n_points)``; a callable ``n_eval(epoch) -> int or float``
        (epochs counted from 0 in each call to ``fit``) is a schedule, and
        ``history_`` records the value of every epoch. With
        ``sampling="grouped"`` it counts points per group; with
        ``"stratified"`` it is the number of cells. Ignored by
        ``sampling="full"``.

    sampling : {"random", "shared", "full", "grouped", "fixed", "stratified", "adaptive"} or sampler, default="random"
        How the trunk points of each step are chosen. "random": ``n_eval``
        points per function, fresh every step (the paper's method).
        "shared": one subset of ``n_eval`` points for the whole mini-batch.
        "full": every point every step. "grouped": ``n_eval`` points in
        every group of equal first coordinate (for instance time), per
        function (the paper's Example 2). "fixed": one subset per function,
        drawn once at the start of ``fit`` and kept. "stratified": one point
        in each of ``n_eval`` cells of equal size that partition the
        coordinates, fresh every step. "adaptive": points drawn with
        probability growing with the current error, the loss reweighted to
        stay unbiased. An object with the methods ``setup``,
        ``start_epoch`` and ``sample`` (a subclass of
        :class:`skoperator.sampling.BaseSampler`) is used as a custom
        sampler; it is deep-copied at every fit.

    coords : array-like of shape (n_points, d), default=None
        Output coordinates (the trunk inputs), one row per output point.
        None means a uniform grid on [0, 1] with ``n_points`` points (d = 1).
        A constructor parameter, not a fit parameter, so that cross-validation
        never splits it. With ``warm_start`` a refit trains on the
        coordinates given here.

    branch : {"mlp", "cnn", "fno"}, torch.nn.Module, callable or list, default="mlp"
        Branch network. "cnn" treats each row of ``U`` as an image of shape
        ``input_shape`` (3x3 convolutions with ``cnn_channels`` filters, each
        followed by the activation and 2x2 average pooling, then an MLP with
        ``branch_layers``). "fno" encodes it with Fourier layers on its grid
        (``fno_modes``, ``fno_width``, ``fno_layers``, ``fno_head``; 1-D, 2-D
        or 3-D grids). A ``torch.nn.Module`` mapping (batch, n_sensors) to
        (batch, n_basis) is deep-copied and used with its own weights; a
        callable ``factory(n_sensors, n_basis) -> nn.Module`` is called at fit
        with torch's RNG seeded from ``random_state``. With several input
        functions, a list gives one branch per input function.

    trunk : {"mlp", "resmlp", "pod", "pod_corrected"}, torch.nn.Module or callable, default="mlp"
        Trunk network: an MLP, a residual MLP (skip connections between equal
        hidden widths), the leading POD modes of the training outputs
        ("pod", fixed; it predicts at the training coordinates only), the
        same plus a learned MLP correction ("pod_corrected"), a module mapping
        (n, d) to (n, n_basis), or a factory ``factory(d, n_basis) -> nn.Module``.

    branch_layers : tuple of int, default=(40, 40, 40)
        Hidden widths of the branch MLP (after the convolutions for "cnn").

    trunk_layers : tuple of int, default=(40, 40, 40)
        Hidden widths of the trunk MLP.

    n_basis : int, default=40
        Number of basis functions ``p`` per output field (outputs of branch
        and trunk; the number of modes for ``trunk="pod"``).

    activation : {"relu", "tanh", "gelu", "silu", "elu", "sigmoid"}, default="relu"
        Hidden-layer activation of the built-in networks.

    input_shape : tuple of int or list, default=None
        Grid shape of each input function, for grid branches ("cnn", "fno"):
        ``(height, width)`` or ``(channels, height, width)``; its product
        must equal the number of sensors. ``U`` stays 2-D (channels first,
        then rows, each row with x fastest). With several input functions, a
        list gives one entry per input function (None for non-grid branches).

    cnn_channels : tuple of int, default=(40, 60, 100)
        Filters of the convolution layers of the CNN branch.

    fno_modes : int, default=12
        Fourier modes kept per grid axis by each Fourier layer of the FNO
        branch.

    fno_width : int, default=32
        Channels of the FNO branch's Fourier layers.

    fno_layers : int, default=4
        Fourier layers of the FNO branch.

    fno_head : {"auto", "pooled", "projection"}, default="auto"
        How the FNO branch turns feature maps into coefficients. "pooled":
        average pooling to a coarse grid and an MLP (``branch_layers``).
        "projection": whole output fields on the input grid, projected on the
        trunk's POD modes; needs ``trunk="pod"`` (or "pod_corrected") with
        output points that are the input's grid cells, in the same order.
        "auto": "projection" when that holds (one input function), else
        "pooled".

    fourier_features : int, default=0
        Number of random Fourier features ``[cos(2 pi y B), sin(2 pi y B)]``
        added to the trunk inputs; 0 disables the encoding.

    fourier_scale : float, default=1.0
        Standard deviation of the Fourier frequencies ``B`` (in standardised
        coordinates).

    standardize : bool, default=True
        Standardise inside the network, so that raw data train well:
        inputs (each column centred, one scale per input function, the root
        mean square of its centred values, so that the relative scale of its
        sensors is kept), coordinates (per dimension) and outputs (one mean
        and scale per output field). Predictions are in the units of ``G``.

    n_outputs : int, default=1
        Output fields. ``G`` holds them side by side: column
        ``c * n_points + j`` is field ``c`` at ``coords[j]``, so
        ``G.reshape(n_functions, n_outputs, n_points)`` splits it, and
        ``predict`` returns the same layout.

    multi_output_strategy : {"split_branch", "split_trunk", "split_both", "independent"}, default="split_branch"
        How several output fields share the networks (DeepXDE's strategies):
        "split_branch", one trunk, the branch's ``n_outputs * n_basis``
        coefficients split per field; "split_trunk", one branch, the trunk's
        outputs split per field; "split_both", both split; "independent",
        a separate branch and trunk per field.

    input_sizes : tuple of int, default=None
        Several input functions: the numbers of columns of ``U`` that belong
        to each (summing to ``n_sensors``). Each gets its own branch, and
        their outputs are multiplied elementwise (MIONet). None: one input
        function.

    output_transform : callable, default=None
        ``output_transform(y, out) -> out`` applied to the network's output
        in the units of ``G``, in training and prediction alike, to impose
        exact constraints (for instance ``lambda y, out: y[..., 0] * out``
        vanishes at ``y = 0``). ``y`` has shape (..., m, d); ``out`` has shape
        (..., m) (one field) or (..., m, n_outputs); both are torch tensors.
        A module-level function pickles; a lambda does not.

    loss : {"mse", "relative_l2"}, default="mse"
        Training objective. "mse": mean squared error over the sampled
        (function, point, field) entries in standardised units.
        "relative_l2": each (function, field)'s mean squared error over its
        sampled points divided by its mean square over all its observed
        points, averaged.

    batch_size : int or "auto", default="auto"
        Functions per mini-batch; "auto" is ``min(64, n_functions)``.

    max_iter : int, default=200
        Maximum number of epochs (passes over the training functions).

    max_time : float, default=None
        Wall-clock budget of one call to ``fit``, in seconds: training ends
        at the first step that finishes after it (``stopping_reason_`` is
        then "max_time"). Learning-rate schedules run their course over
        whichever of ``max_iter`` epochs and ``max_time`` seconds comes
        first. None: no budget.

    lbfgs_iter : int, default=0
        L-BFGS iterations on the full training grid (every function at every
        point, whatever ``sampling``) after the Adam epochs of ``fit``: a
        polish that often cuts the remaining error several times for the
        cost of a few full-grid epochs. With ``max_time``, the Adam epochs
        stop early enough to leave these iterations their estimated time.
        The history gets one more record, with ``"solver": "lbfgs"``. Not
        used by ``partial_fit``.

    learning_rate_init : float, default=1e-3
        Adam's (initial) learning rate.

    learning_rate : {"constant", "cosine", "onecycle"}, default="constant"
        Learning-rate schedule over one call to ``fit``: constant, cosine
        annealing to zero, or one-cycle with ``learning_rate_init`` as its
        peak. A schedule runs its whole budget unless ``early_stopping``
        stops it (``tol`` on the training loss applies to the constant rate
        only). ``partial_fit`` always uses the constant rate.

    alpha : float, default=0.0
        L2 penalty ``0.5 * alpha * ||w||^2`` (Adam's ``weight_decay``).

    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the functions, score them on all
        their points after every epoch (variance-weighted R2), stop after
        ``n_iter_no_change`` epochs without an improvement of ``tol``, and
        restore the best weights. Needs at least 2 held-out functions.

    validation_fraction : float, default=0.1
        Fraction of functions held out for early stopping.

    n_iter_no_change : int, default=10
        Epochs without improvement before training stops.

    tol : float or None, default=1e-4
        Minimum improvement of the validation score (with early stopping) or of
        the training loss in standardised units (without, and only with the
        constant learning rate). None disables stopping: exactly ``max_iter``
        epochs are run.

    compile : bool or {"default", "reduce-overhead", "max-autotune"}, default=False
        Compile the training step with :func:`torch.compile` (forward, loss
        and, through AOTAutograd, backward; the trunk-point draws and the
        optimizer stay outside). True is "default" on the CPU and
        "reduce-overhead" (CUDA graphs, no host synchronisation per step) on
        a GPU. The first fit of a process pays the compilation (tens of
        seconds on a CPU); a changing batch size or ``n_eval`` recompiles once
        with symbolic sizes, not every step. Results match eager training up
        to floating-point rounding.

    mixed_precision : bool, default=False
        Run the training step's forward pass under ``torch.autocast`` with
        bfloat16 (Fourier transforms stay in float32). Worth it on GPUs with
        bfloat16 units; measure the accuracy on your problem.

    device : {"auto", "cpu", "cuda"}, "cuda:N" or torch.device, default="auto"
        "auto" uses CUDA when available, else the CPU. A model fitted on a
        GPU pickles and predicts on a CPU-only machine.

    n_jobs : int, default=None
        Threads torch uses on the CPU during ``fit`` and ``predict``. None
        chooses from the work of one step (one thread for networks of the
        sizes in this package's examples, where a second thread costs more
        than it brings, and badly so next to other work), capped by the
        budget of a joblib or Dask worker; -1 uses every core. torch's
        setting is restored when the call returns.

    random_state : int, RandomState instance or None, default=None
        Seeds everything (weight initialisation, shuffling, trunk sampling,
        validation split) through local generators; no global seed is touched.
        On the CPU two fits with the same int give identical predictions.

    verbose : int, default=0
        0 silent; 1 a progress bar over epochs (tqdm when installed) with the
        loss, validation score and time left; 2 one log line per epoch. Output
        goes through the ``"skoperator"`` logger.

    warm_start : bool, default=False
        Reuse the fitted network (and optimizer state) when ``fit`` is called
        again, instead of starting afresh.

    Attributes
    ----------
    network_ : torch.nn.Module
        The fitted DeepONet (with its input/output scalings as buffers).

    coords_ : ndarray of shape (n_points, d)
        Training coordinates; ``predict`` uses them by default.

    n_outputs_ : int
        Output fields.

    input_sizes_ : tuple of int
        Columns of ``U`` per input function.

    n_iter_ : int
        Number of epochs run (the L-BFGS polish is not an epoch; it has its
        own record in ``history_`` and ``loss_curve_``).

    n_eval_ : int
        Points per function per step in the last epoch (``n_points`` for
        "full").

    batch_size_ : int
        Mini-batch size actually used.

    device_ : torch.device
        Device the model was trained on.

    loss_curve_ : list of float
        Training loss after each epoch: for ``loss="mse"`` the mean squared
        error over the sampled entries in the units of G; for
        ``"relative_l2"`` the objective itself.

    best_loss_ : float
        Smallest value of ``loss_curve_``.

    validation_scores_ : list of float
        Validation R2 after each epoch (only with ``early_stopping=True``).

    best_validation_score_ : float
        Best validation score (only with ``early_stopping=True``).

    stopping_reason_ : str
        Why the last call ended: "max_iter", "converged", "max_time" or
        "interrupted".

    history_ : list of dict
        One dict per epoch: ``epoch``, ``train_loss``, ``valid_score``,
        ``seconds``, ``trunk_evals`` (number of trunk evaluations),
        ``n_eval`` (points per function and step), ``learning_rate`` and
        ``solver`` ("adam", or "lbfgs" for the record of the L-BFGS polish,
        which also has ``lbfgs_iter``).

    n_features_in_ : int
        Number of sensors seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Sensor names, when ``U`` is a DataFrame with string column names.

    See Also
    --------
    sklearn.neural_network.MLPRegressor : Multi-layer perceptron regressor.
    skoperator.metrics.mean_function_r2 : The paper's per-function R2.

    Notes
    -----
    ``score`` is ``r2_score(G, predict(U), multioutput="variance_weighted")``
    (per output field, then averaged over fields), not sklearn's default
    uniform average, which would count constant columns (such as the boundary
    value ``G[:, 0] = 0`` of an antiderivative) as zero.

    References
    ----------
    .. [1] L. Lu, P. Jin, G. Pang, Z. Zhang and G. E. Karniadakis, "Learning
       nonlinear operators via DeepONet based on the universal approximation
       theorem of operators", Nature Machine Intelligence 3, 218-229 (2021).
    .. [2] S. Karumuri, L. Graham-Brady and S. Goswami, "Efficient Training of
       Deep Neural Operator Networks via Randomized Sampling", arXiv:2409.13280
       (2024).
    .. [3] P. Jin, S. Meng and L. Lu, "MIONet: Learning multiple-input operators
       via tensor product", SIAM J. Sci. Comput. 44 (2022).

    Examples
    --------
    >>> from skoperator import DeepONetRegressor
    >>> from skoperator.datasets import make_antiderivative
    >>> U, Y, G = make_antiderivative(200, n_points=50, random_state=0)
    >>> est = DeepONetRegressor(coords=Y, n_eval=10, max_iter=20, tol=None, random_state=0)
    >>> est.fit(U[:150], G[:150]).predict(U[150:]).shape
    (50, 50)
    >>> est.predict(U[150:], coords=[[0.25], [0.75]]).shape
    (50, 2)
    """

    _parameter_constraints = {
        "n_eval": [Interval(Integral, 1, None, closed="left"),
                   Interval(RealNotInt, 0, 1, closed="right"), StrOptions({"auto"}), callable],
        "sampling": [StrOptions(set(SAMPLERS)), HasMethods(_SAMPLER_METHODS)],
        "coords": ["array-like", None],
        "branch": [StrOptions(set(BRANCHES)), callable, torch.nn.Module, list, tuple],
        "trunk": [StrOptions(set(TRUNKS)), callable, torch.nn.Module],
        "branch_layers": ["array-like"],
        "trunk_layers": ["array-like"],
        "n_basis": [Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "input_shape": [list, tuple, None],
        "cnn_channels": ["array-like"],
        "fno_modes": [Interval(Integral, 1, None, closed="left")],
        "fno_width": [Interval(Integral, 1, None, closed="left")],
        "fno_layers": [Interval(Integral, 1, None, closed="left")],
        "fno_head": [StrOptions({"auto", "pooled", "projection"})],
        "fourier_features": [Interval(Integral, 0, None, closed="left")],
        "fourier_scale": [Interval(Real, 0, None, closed="neither")],
        "standardize": ["boolean"],
        "n_outputs": [Interval(Integral, 1, None, closed="left")],
        "multi_output_strategy": [StrOptions(set(LAYOUTS))],
        "input_sizes": [list, tuple, None],
        "output_transform": [callable, None],
        "loss": [StrOptions(set(LOSSES))],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "max_time": [Interval(Real, 0, None, closed="neither"), None],
        "lbfgs_iter": [Interval(Integral, 0, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "learning_rate": [StrOptions(set(SCHEDULES))],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "compile": ["boolean", StrOptions({"default", "reduce-overhead", "max-autotune"})],
        "mixed_precision": ["boolean"],
        "device": [str, torch.device],
        "n_jobs": [Interval(Integral, 1, None, closed="left"),
                   Interval(Integral, None, -1, closed="right"), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    def __init__(self, *, n_eval="auto", sampling="random", coords=None, branch="mlp",
                 trunk="mlp", branch_layers=(40, 40, 40), trunk_layers=(40, 40, 40),
                 n_basis=40, activation="relu", input_shape=None,
                 cnn_channels=(40, 60, 100), fno_modes=12, fno_width=32, fno_layers=4,
                 fno_head="auto", fourier_features=0, fourier_scale=1.0,
                 standardize=True, n_outputs=1, multi_output_strategy="split_branch",
                 input_sizes=None, output_transform=None, loss="mse", batch_size="auto",
                 max_iter=200, max_time=None, lbfgs_iter=0, learning_rate_init=1e-3,
                 learning_rate="constant", alpha=0.0, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, tol=1e-4, compile=False,
                 mixed_precision=False, device="auto", n_jobs=None, random_state=None,
                 verbose=0, warm_start=False):
        self.n_eval = n_eval
        self.sampling = sampling
        self.coords = coords
        self.branch = branch
        self.trunk = trunk
        self.branch_layers = branch_layers
        self.trunk_layers = trunk_layers
        self.n_basis = n_basis
        self.activation = activation
        self.input_shape = input_shape
        self.cnn_channels = cnn_channels
        self.fno_modes = fno_modes
        self.fno_width = fno_width
        self.fno_layers = fno_layers
        self.fno_head = fno_head
        self.fourier_features = fourier_features
        self.fourier_scale = fourier_scale
        self.standardize = standardize
        self.n_outputs = n_outputs
        self.multi_output_strategy = multi_output_strategy
        self.input_sizes = input_sizes
        self.output_transform = output_transform
        self.loss = loss
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.max_time = max_time
        self.lbfgs_iter = lbfgs_iter
        self.learning_rate_init = learning_rate_init
        self.learning_rate = learning_rate
        self.alpha = alpha
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.compile = compile
        self.mixed_precision = mixed_precision
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the operator on input functions U and outputs G.

        Parameters
        ----------
        X : array-like of shape (n_functions, n_sensors)
            ``U``: input functions sampled at the sensors.
        y : array-like of shape (n_functions, n_outputs * n_points)
            ``G``: output functions at the rows of ``coords``; NaN marks a
            missing value. A read-only ``np.memmap`` is read batch by batch, never
            copied whole.

        Returns
        -------
        self : DeepONetRegressor
            The fitted estimator.
        """
        return self._fit(X, y, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y):
        """Run one epoch on (U, G), continuing from the current weights.

        Parameters
        ----------
        X : array-like of shape (n_functions, n_sensors)
            ``U``: input functions.
        y : array-like of shape (n_functions, n_outputs * n_points)
            ``G``: output functions at the fitted coordinates.

        Returns
        -------
        self : DeepONetRegressor
            The updated estimator.
        """
        return self._fit(X, y, incremental=True)

    def _fit(self, U, G, incremental):
        # Validate everything and build everything, then change anything:
        # a failed fit leaves a fitted model as it was.
        started = time.perf_counter()  # max_time counts from here
        saved = dict(self.__dict__)
        try:
            plan = self._plan(U, G, incremental)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
        with torch_threads(plan.n_threads):
            return self._train(plan, started)

    # -- planning: every check and every allocation, no fitted attribute
    def _plan(self, U, G, incremental):
        fitted = hasattr(self, "network_")
        continuing = fitted and (incremental or self.warm_start)
        if continuing:
            self._check_architecture()
        U = self._validate_inputs(U, reset=not continuing, dtype=np.float32)
        n = U.shape[0]
        if n < 2 and not incremental:
            raise ValueError(
                "DeepONetRegressor needs at least 2 functions to fit; got n_samples = 1 "
                "(U has 1 row). Pass more input functions."
            )
        G, has_missing = _data.check_targets(G, n)
        coords = _data.resolve_coords(self.coords, G.shape[1], self.n_outputs)
        input_sizes = self._check_input_sizes(U.shape[1])
        branches, shapes = self._check_branches(input_sizes)
        if continuing:
            self._check_continuation(coords, input_sizes)
        device = resolve_device(self.device)

        base_seed = check_random_state(self.random_state).randint(2**31 - 1)
        seed = base_seed + 1_000_003 * getattr(self, "n_iter_", 0) * continuing
        rng = np.random.default_rng(seed)
        cpu_gen = torch.Generator().manual_seed(seed)
        dev_gen = torch.Generator(device=device).manual_seed(seed + 1)

        train_rows, val_rows = self._validation_split(n, incremental, rng)
        G_train = _data.data_rows(G, train_rows)
        if continuing:
            network = copy.deepcopy(self.network_).to(device)
        else:
            network = self._build_network(U[train_rows], G_train, coords, input_sizes,
                                          branches, shapes, cpu_gen).to(device)
        if self.output_transform is not None:
            _check_output_transform(network, U[train_rows[:2]], coords, device)
        data = self._training_data(U[train_rows], G_train, coords, network, device,
                                   has_missing)
        loss = LOSSES[self.loss]()
        if loss.per_function:
            loss.prepare(data)
        n_epochs = 1 if incremental else self.max_iter
        sampler = self._setup_sampler(network, data, loss, n_epochs, has_missing, dev_gen)
        batch_size = min(64 if self.batch_size == "auto" else self.batch_size,
                         len(train_rows))
        optimizer = self._optimizer(network, device, continuing)
        schedule = SCHEDULES["constant" if incremental else self.learning_rate]
        validation_fn = None
        if val_rows is not None:
            U_val, G_val = U[val_rows], _data.data_rows(G, val_rows)

            def validation_fn(net):
                return validation_score(net, U_val, G_val, coords, device)
        # A schedule fixes the budget: the training loss alone does not stop it
        # (a validation score still does, with early_stopping).
        tol = self.tol if (schedule is SCHEDULES["constant"] or val_rows is not None) else None
        steps_per_epoch = math.ceil(len(train_rows) / batch_size)
        return FitPlan(
            coords=coords, device=device, continuing=continuing, incremental=incremental,
            input_sizes=input_sizes, network=network, optimizer=optimizer, data=data,
            sampler=sampler, loss=loss, generator=dev_gen, batch_size=batch_size,
            n_epochs=n_epochs, schedule=schedule, total_steps=n_epochs * steps_per_epoch,
            tol=tol, validation_fn=validation_fn,
            n_threads=choose_threads(self.n_jobs, network, batch_size, device,
                                     _trunk_points(sampler, data.n_points, batch_size)),
            compile_mode=self._compile_mode(device),
        )

    def _compile_mode(self, device):
        if self.compile is False:
            return None
        if self.compile is True:
            return "reduce-overhead" if device.type == "cuda" else "default"
        return self.compile

    def _validate_inputs(self, X, reset, dtype):
        """``validate_data`` on U, with grids flattened and errors explained."""
        if getattr(X, "ndim", 2) >= 3:
            shape = None if self.input_shape is None else tuple(self.input_shape)
            if shape is None or tuple(X.shape[1:]) != shape:
                raise ValueError(
                    f"U (X) is {X.ndim}-D with shape {X.shape}, but input_shape="
                    f"{self.input_shape}; expected U of shape (n_functions, n_sensors), or "
                    "U with input_shape equal to U.shape[1:] (then a grid branch such as "
                    "branch='cnn' sees the grids). Pass input_shape=U.shape[1:] or "
                    "U.reshape(len(U), -1)."
                )
            X = np.asarray(X).reshape(X.shape[0], -1)
        try:
            return validate_data(self, X, reset=reset, dtype=dtype)
        except ValueError as exc:
            raise ValueError(
                f"{exc} U (sklearn's X) must be a non-empty 2-D array of finite real numbers "
                "of shape (n_functions, n_sensors): one row per input function."
            ) from exc

    def _check_input_sizes(self, n_sensors):
        if self.input_sizes is None:
            return (n_sensors,)
        try:
            sizes = tuple(int(s) for s in self.input_sizes)
            ok = all(int(s) == s for s in self.input_sizes)
        except (TypeError, ValueError):
            sizes, ok = (), False
        if not ok or not sizes or min(sizes) < 1 or sum(sizes) != n_sensors:
            raise ValueError(
                f"input_sizes={self.input_sizes!r} does not split U: expected positive ints, "
                f"one per input function, summing to the number of columns of U "
                f"({n_sensors}); got {self.input_sizes!r}."
            )
        return sizes

    def _check_branches(self, input_sizes):
        """Branch spec and validated grid shape of every input function."""
        k = len(input_sizes)
        specs = self.branch
        if isinstance(specs, (list, tuple)):
            if len(specs) != k:
                raise ValueError(
                    f"branch is a list of {len(specs)} entries but U holds {k} input "
                    f"function(s) (input_sizes={input_sizes}); pass one branch per input "
                    "function, or one branch for all."
                )
            for spec in specs:
                if not (spec in BRANCHES if isinstance(spec, str) else
                        isinstance(spec, torch.nn.Module) or callable(spec)):
                    raise ValueError(
                        f"branch entry {spec!r} is not a branch: expected one of "
                        f"{sorted(BRANCHES)}, a torch.nn.Module or a factory.")
        else:
            specs = [specs] * k
        shapes = self.input_shape
        per_input = (k > 1 and isinstance(shapes, (list, tuple)) and len(shapes) == k
                     and all(s is None or isinstance(s, (list, tuple)) for s in shapes))
        if not per_input:
            shapes = [shapes] * k
        params = self._network_params()
        checked = []
        for i, (spec, size, shape) in enumerate(zip(specs, input_sizes, shapes)):
            if isinstance(spec, str) and BRANCHES[spec].needs_grid:
                try:
                    checked.append(BRANCHES[spec].check_input_shape(shape, size, params))
                except ValueError as exc:
                    where = f" (input function {i})" if k > 1 else ""
                    raise ValueError(f"{exc}{where}") from None
            else:
                checked.append(None)
        return list(specs), checked

    def _check_architecture(self):
        changed = [name for name in _ARCHITECTURE
                   if not _same_param(getattr(self, name), self._architecture[name])]
        if changed:
            raise ValueError(
                f"{', '.join(changed)} changed since the model was fitted, but "
                f"{'partial_fit' if not self.warm_start else 'warm_start=True'} keeps the "
                "fitted network; restore the fitted value(s), or set warm_start=False to fit "
                "a new model."
            )

    def _check_continuation(self, coords, input_sizes):
        if coords.shape[1] != self.coords_.shape[1]:
            raise ValueError(
                f"coords has {coords.shape[1]} columns but the model was fitted on "
                f"{self.coords_.shape[1]}-dimensional coordinates; pass coords of that "
                "dimension, or set warm_start=False to fit a new model."
            )
        if getattr(self.network_.trunk, "table", False) and not (
                coords.shape == self.coords_.shape and np.array_equal(coords, self.coords_)):
            raise ValueError(
                "the fitted trunk (POD modes) is known at the fitted coordinates only, and "
                "coords differ from coords_; continue with the fitted coordinates, or set "
                "warm_start=False to fit a new model."
            )
        if input_sizes != self.input_sizes_:
            raise ValueError(
                f"input_sizes {input_sizes} differ from the fitted {self.input_sizes_}; set "
                "warm_start=False to fit a new model."
            )

    def _validation_split(self, n, incremental, rng):
        rows = np.arange(n)
        if not self.early_stopping or incremental:
            return rows, None
        n_val = int(round(self.validation_fraction * n))
        if n_val < 2:
            raise ValueError(
                f"early_stopping holds out validation_fraction * n_functions = "
                f"{self.validation_fraction} * {n} = {n_val} function(s), but its score (an R2 "
                "over the held-out functions) needs at least 2; raise validation_fraction to "
                f"at least {2 / n:.3g}, pass more functions, or set early_stopping=False."
            )
        if n_val >= n:
            raise ValueError(
                f"early_stopping with validation_fraction={self.validation_fraction} leaves "
                f"no training function out of {n}; lower validation_fraction."
            )
        perm = rng.permutation(n)
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])

    def _network_params(self):
        for name in ("branch_layers", "trunk_layers", "cnn_channels"):
            _check_widths(name, getattr(self, name))
        return NetworkParams(
            branch_layers=tuple(self.branch_layers), trunk_layers=tuple(self.trunk_layers),
            activation=self.activation, cnn_channels=tuple(self.cnn_channels),
            fno_modes=self.fno_modes, fno_width=self.fno_width, fno_layers=self.fno_layers,
            fno_head=self.fno_head, fourier_features=self.fourier_features,
            fourier_scale=self.fourier_scale)

    def _build_network(self, U, G, coords, input_sizes, branches, shapes, generator):
        n_outputs, d = self.n_outputs, coords.shape[1]
        scaling = (_data.scaling_statistics(U, G, coords, input_sizes, n_outputs)
                   if self.standardize else _data.identity_scaling(U.shape[1], d, n_outputs))
        cpu = torch.device("cpu")
        y = (as_tensor(coords, torch.float32, cpu)
             - as_tensor(scaling["y_shift"], torch.float32, cpu)) / as_tensor(
            scaling["y_scale"], torch.float32, cpu)
        targets = None
        if self._needs_targets():
            g = as_tensor(np.asarray(G[:], dtype=np.float64), torch.float64, cpu)
            g = g.reshape(len(g), n_outputs, -1).permute(0, 2, 1)
            targets = (g - torch.as_tensor(scaling["g_shift"])) / torch.as_tensor(
                scaling["g_scale"])
        else:
            targets = torch.empty(0, coords.shape[0], n_outputs)
        return build_network(
            branch=branches, trunk=self.trunk, input_sizes=input_sizes, input_shapes=shapes,
            n_outputs=n_outputs, n_basis=self.n_basis,
            layout=LAYOUTS[self.multi_output_strategy], params=self._network_params(),
            scaling=scaling, generator=generator,
            trunk_context=TrunkContext(coords=y, targets=targets),
            output_transform=self.output_transform)

    def _needs_targets(self):
        return isinstance(self.trunk, str) and getattr(TRUNKS[self.trunk], "table", False)

    def _training_data(self, U, G, coords, network, device, has_missing):
        shift, scale = network.g_shift.detach().cpu(), network.g_scale.detach().cpu()
        U_t = as_tensor(U, torch.float32, device)
        coords_t = as_tensor(coords, torch.float32, device)
        if _data.is_streamed(G):
            G_src = G if isinstance(G, _data.RowView) else _data.RowView(G, np.arange(len(G)))
        else:
            g = as_tensor(np.asarray(G, dtype=np.float32), torch.float32, torch.device("cpu"))
            if len(shift) > 1:  # (n, n_points, n_outputs): the fields on the last axis
                g = g.reshape(len(g), len(shift), -1).permute(0, 2, 1)
            G_src = ((g - shift) / scale).contiguous().to(device)
        return TrainingData(U_t, G_src, coords_t, shift, scale, has_missing)

    def _setup_sampler(self, network, data, loss, n_epochs, has_missing, generator):
        sampler = make_sampler(self.sampling)
        observed = None
        if has_missing and getattr(sampler, "uses_observed", False) and not data.streamed:
            finite = torch.isfinite(data.G)
            finite = finite.any(dim=2) if finite.dim() == 3 else finite
            observed = ObservedPoints.from_mask(finite.cpu()).to(data.device)

        def residuals():
            return training_residuals(network, data)

        context = SamplingContext(
            n_eval=self.n_eval, coords=data.coords, n_functions=data.n_functions,
            device=data.device, generator=generator, n_epochs=n_epochs, observed=observed,
            residuals=residuals)
        try:
            sampler.setup(context)
        except ValueError:
            raise
        except Exception as exc:
            raise ValueError(f"The sampler's setup raised {type(exc).__name__}: {exc}") from exc
        return sampler

    def _optimizer(self, network, device, continuing):
        fused = fused_adam(device) and not has_complex_parameters(network)
        optimizer = torch.optim.Adam(network.parameters(), lr=self.learning_rate_init,
                                     weight_decay=self.alpha, fused=fused)
        if continuing and getattr(self, "_optimizer_state", None) is not None:
            optimizer.load_state_dict(self._optimizer_state)
            for group in optimizer.param_groups:
                group["lr"] = self.learning_rate_init
        return optimizer

    # -- training and storing
    def _train(self, plan, started):
        state = (self._stopping.resumed(self.history_)
                 if plan.continuing and hasattr(self, "_stopping") else StoppingState())
        with reporting(self.verbose, plan.n_epochs) as progress:
            trainer = Trainer(plan.network, plan.optimizer, plan.sampler, plan.data, plan.loss,
                              batch_size=plan.batch_size, generator=plan.generator,
                              schedule=plan.schedule, total_steps=plan.total_steps,
                              max_time=self.max_time, started=started,
                              validation_fn=plan.validation_fn,
                              tol=plan.tol, n_iter_no_change=self.n_iter_no_change,
                              progress=progress, compile_mode=plan.compile_mode,
                              mixed_precision=self.mixed_precision,
                              lbfgs_iter=0 if plan.incremental else self.lbfgs_iter)
            try:
                reason = trainer.run(plan.n_epochs, state)
            except ValueError:
                self._store(plan, state, "diverged", keep_optimizer=False)
                raise
            progress.close(reason)
        self._store(plan, state, reason, keep_optimizer=True)
        if reason == "interrupted":
            warnings.warn(
                f"Training was interrupted after {self.n_iter_} epochs; the estimator keeps the "
                "best weights seen so far and can predict, or continue with warm_start=True.",
                UserWarning, stacklevel=5)
        elif reason == "max_iter" and plan.tol is not None and not plan.incremental:
            warnings.warn(
                f"DeepONetRegressor reached max_iter={self.max_iter} epochs without the "
                "training criterion converging; increase max_iter, or pass tol=None to train "
                "for exactly max_iter epochs.", ConvergenceWarning, stacklevel=5)
        return self

    def _store(self, plan, state, reason, keep_optimizer):
        self.network_ = plan.network
        self._optimizer_state = plan.optimizer.state_dict() if keep_optimizer else None
        self.coords_ = plan.coords
        self.n_outputs_ = self.n_outputs
        self.input_sizes_ = plan.input_sizes
        self._architecture = {name: getattr(self, name) for name in _ARCHITECTURE}
        self.history_ = state.history
        if self.history_:
            self.history_[-1]["stopped"] = reason
        self.n_iter_ = sum(h.get("solver") != "lbfgs" for h in self.history_)
        self.loss_curve_ = [h["train_loss"] for h in self.history_]
        self.n_eval_ = self.history_[-1]["n_eval"] if self.history_ else plan.sampler.n_eval_
        self.batch_size_ = plan.batch_size
        self.device_ = plan.device
        self.stopping_reason_ = reason
        if any(h["valid_score"] is not None for h in self.history_):
            self.validation_scores_ = [h["valid_score"] for h in self.history_]
            self.best_validation_score_ = max(s for s in self.validation_scores_ if s is not None)
        self.best_loss_ = min(self.loss_curve_) if self.loss_curve_ else None
        self._stopping = state.resumed(())

    # -------------------------------------------------------------- predict
    def predict(self, X, coords=None):
        """Predict the output functions of U.

        Parameters
        ----------
        X : array-like of shape (n_functions, n_sensors)
            ``U``: input functions at the sensors used in fit.
        coords : array-like of shape (n_points, d), default=None
            Where to evaluate the outputs; None uses the fitted coordinates.
            Any coordinates of the fitted dimension ``d`` work (DeepONet is
            resolution-free), except with a POD trunk (fitted points only).

        Returns
        -------
        G : ndarray of shape (n_functions, n_outputs * n_points), dtype float64
            Predicted outputs (field ``c`` at point ``j`` in column
            ``c * n_points + j``), computed in bounded-memory chunks.
        """
        check_is_fitted(self)
        U = self._validate_inputs(X, reset=False, dtype=[np.float64, np.float32])
        coords = self.coords_ if coords is None else _data.check_coords(
            coords, "coords", d=self.coords_.shape[1])
        device = resolve_device(self.device, for_predict=True)
        network = self.network_
        if device.type == "cpu":
            # float64 evaluation of the float32 weights: results do not depend
            # on how the rows are batched (BLAS kernels differ by batch size).
            network = to_float64(copy.deepcopy(network).to(device))
        elif next(network.parameters()).device != device:
            network.to(device)
        out = np.empty((U.shape[0], self.n_outputs_ * coords.shape[0]), dtype=np.float64)
        threads = choose_threads(self.n_jobs, network, min(U.shape[0], 1024), device,
                                 coords.shape[0])
        with torch_threads(threads):
            return predict_into(network, U, coords, out, device)

    def score(self, X, y, sample_weight=None):
        """Variance-weighted R2 of the predictions on X (U) against y (G).

        ``r2_score(G, predict(U), multioutput="variance_weighted")``: each
        output point is weighted by the variance of its column, so constant
        columns (such as the boundary value ``G[:, 0] = 0`` of an
        antiderivative) do not count as zero as they would with sklearn's
        default ``"uniform_average"``. With several output fields, each
        field is scored on its own columns and the scores are averaged.
        Missing targets (NaN) are ignored.

        Parameters
        ----------
        X : array-like of shape (n_functions, n_sensors)
            ``U``: input functions.
        y : array-like of shape (n_functions, n_outputs * n_points)
            ``G``: true outputs at the fitted coordinates.
        sample_weight : array-like of shape (n_functions,), default=None
            Weight of each function.

        Returns
        -------
        score : float
            1.0 is perfect; 0.0 is no better than the column means.
        """
        check_is_fitted(self)
        G = check_array(y, ensure_2d=False, dtype=np.float64, ensure_all_finite="allow-nan",
                        input_name="G")
        G = G.reshape(len(G), -1)
        n_cols = self.n_outputs_ * self.coords_.shape[0]
        if G.shape[1] != n_cols:
            raise ValueError(
                f"G has {G.shape[1]} columns but the model predicts {n_cols} "
                f"(n_outputs={self.n_outputs_} x {self.coords_.shape[0]} fitted points); pass "
                "G at the fitted coordinates."
            )
        return variance_weighted_r2(G, self.predict(X), sample_weight,
                                    n_outputs=self.n_outputs_)

    # -------------------------------------------------------- sklearn glue
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.single_output = False
        tags.target_tags.multi_output = True
        return tags

    def __getstate__(self):
        state = self.__dict__.copy()
        if "network_" in state:  # GPU-fitted models unpickle on CPU-only machines
            state["network_"] = copy.deepcopy(state["network_"]).cpu()
            state["_optimizer_state"] = to_cpu(state.get("_optimizer_state"))
        return state
