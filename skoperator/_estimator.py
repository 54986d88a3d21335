"""DeepONetRegressor: scikit-learn glue over the planning module and the training loop."""

import copy
import inspect
import time
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from ._building import inference_network
from ._callbacks import CallbackList, fit_callbacks, resume_point
from ._compat import HasMethods, Interval, RealNotInt, StrOptions, _fit_context
from ._component import NestedSettings
from ._continuation import architecture_snapshot
from ._coords import predict_coords
from ._device import fit_environment, resolve_device, to_cpu, training_rng
from ._distributed import ranks_agree
from ._fitted import FittedState
from ._inference import predict_any
from ._network import LAYOUTS
from ._parallel import choose_threads, torch_threads
from ._planning import make_plan, validate_inputs
from ._sampling import SAMPLERS, BaseSampler
from ._training import StoppingState, Trainer
from .losses import LOSSES, BaseLoss
from .metrics import score_outputs
from .networks import BRANCHES, TRUNKS, BaseBranch, BaseTrunk
from .optimizers import OPTIMIZERS, BaseOptimizer, check_moved
from .physics import BasePhysics
from .schedules import SCHEDULES, BaseSchedule

#: What a sampler object must provide (see ``skoperator.sampling.BaseSampler``).
_SAMPLER_METHODS = ["setup", "start_epoch", "sample"]


#: The constructor's parameters and what each accepts.
_CONSTRAINTS = {
    "n_eval": [Interval(Integral, 1, None, closed="left"),
               Interval(RealNotInt, 0, 1, closed="right"), StrOptions({"auto"}), callable],
    "sampling": [StrOptions(set(SAMPLERS)), BaseSampler, HasMethods(_SAMPLER_METHODS)],
    "coords": ["array-like", None],
    "branch": [StrOptions(set(BRANCHES)), BaseBranch, torch.nn.Module, callable, list,
               tuple],
    "trunk": [StrOptions(set(TRUNKS)), BaseTrunk, torch.nn.Module, callable],
    "n_basis": [Interval(Integral, 1, None, closed="left")],
    "standardize": ["boolean"],
    "n_outputs": [Interval(Integral, 1, None, closed="left")],
    "multi_output_strategy": [StrOptions(set(LAYOUTS))],
    "output_transform": [callable, None],
    "physics": [BasePhysics, None],
    "loss": [StrOptions(set(LOSSES)), BaseLoss],
    "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "max_time": [Interval(Real, 0, None, closed="neither"), None],
    "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
    "learning_rate": [StrOptions(set(SCHEDULES)), BaseSchedule],
    "optimizer": [StrOptions(set(OPTIMIZERS)), BaseOptimizer],
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
    "callbacks": [list, tuple, None],
    "warm_start": ["boolean"],
}


class DeepONetRegressor(NestedSettings, RegressorMixin, BaseEstimator):
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

    The networks are components with their own settings
    (:mod:`skoperator.networks`: ``branch=FNOBranch(modes=8)``, searched as
    ``branch__modes``), and so are the loss (:mod:`skoperator.losses`), the
    learning-rate schedule (:mod:`skoperator.schedules`) and the sampler
    (:mod:`skoperator.sampling`). Several output fields (``n_outputs``),
    several input functions (a :class:`~skoperator.networks.MultiBranch`) and
    exact constraints (``output_transform``) keep the same two-dimensional
    ``U`` and ``G``.

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

    sampling : <SAMPLERS> or sampler, default="random"
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

    branch : <BRANCHES>, branch component, list, torch.nn.Module or callable, default="mlp"
        Branch network: a component of :mod:`skoperator.networks`
        (:class:`~skoperator.networks.MLPBranch`,
        :class:`~skoperator.networks.CNNBranch`,
        :class:`~skoperator.networks.FNOBranch`, which carry their own
        settings: layers, activation, grid, channels, modes...), the name of
        one in its default configuration, or, for several input functions
        side by side in ``U``, a :class:`~skoperator.networks.MultiBranch`
        (a plain list of branches is a shortcut for one with the product
        merge). A ``torch.nn.Module`` mapping (batch, n_sensors) to (batch,
        n_basis) is deep-copied and used with its own weights; a callable
        ``factory(n_sensors, n_basis) -> nn.Module`` is called at fit with
        torch's RNG seeded from ``random_state``.

    trunk : <TRUNKS>, trunk component, torch.nn.Module or callable, default="mlp"
        Trunk network: :class:`~skoperator.networks.MLPTrunk` (with its
        Fourier-features option), :class:`~skoperator.networks.ResNetTrunk`,
        :class:`~skoperator.networks.PODTrunk` (the leading POD modes of the
        training outputs, fixed; it predicts at the training coordinates
        only; "pod_corrected" adds a learned correction), the name of one, a
        module mapping (..., d) to (..., n_basis) (leading dimensions kept:
        points per function come as (batch, m, d)), or a factory
        ``factory(d, n_basis) -> nn.Module``.

    n_basis : int, default=40
        Number of basis functions ``p`` per output field (outputs of branch
        and trunk; the number of modes of a POD trunk).

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

    multi_output_strategy : <LAYOUTS>, default="split_branch"
        How several output fields share the networks (DeepXDE's strategies):
        "split_branch", one trunk, the branch's ``n_outputs * n_basis``
        coefficients split per field; "split_trunk", one branch, the trunk's
        outputs split per field; "split_both", both split; "independent",
        a separate branch and trunk per field.

    output_transform : callable, default=None
        ``output_transform(y, out) -> out`` applied to the network's output
        in the units of ``G``, in training and prediction alike, to impose
        exact constraints (for instance ``lambda y, out: y[..., 0] * out``
        vanishes at ``y = 0``). ``y`` has shape (..., m, d); ``out`` has shape
        (..., m) (one field) or (..., m, n_outputs); both are torch tensors.
        A module-level function pickles; a lambda does not.

    physics : physics component, default=None
        A residual of the equation the outputs satisfy
        (:mod:`skoperator.physics`), whose weighted mean square is added to the
        data loss at every step, at collocation points drawn per function.
        ``G`` may then be partly or entirely missing (NaN): without any
        observed value the model trains from the physics alone.

    loss : <LOSSES> or loss component, default="mse"
        Training objective (:mod:`skoperator.losses`). "mse": mean squared
        error over the sampled (function, point, field) entries in
        standardised units. "relative_l2": each (function, field)'s mean
        squared error over its sampled points divided by its mean square over
        all its observed points, averaged. "huber": the Huber loss of the
        standardised residuals. A :class:`~skoperator.losses.BaseLoss`
        object carries its own settings.

    batch_size : int or "auto", default="auto"
        Functions per mini-batch; "auto" is ``min(64, n_functions)``.

    max_iter : int, default=200
        Maximum number of epochs (passes over the training functions).

    max_time : float, default=None
        Wall-clock budget of one call to ``fit``, in seconds: training ends
        at the first step that finishes after it (``stopping_reason_`` is
        then "max_time"). Learning-rate schedules run their course over
        whichever of ``max_iter`` epochs and ``max_time`` seconds comes
        first. None: no budget. A budget is not reproducible: the number of
        epochs and the schedule follow the clock, so two fits with the same
        ``random_state`` may differ; for the same model twice, bound
        training by ``max_iter`` (and the polish's ``max_iter``) only.

    learning_rate_init : float, default=1e-3
        The optimizer's (initial) learning rate.

    learning_rate : <SCHEDULES> or schedule, default="constant"
        Learning-rate schedule over one call to ``fit``
        (:mod:`skoperator.schedules`): constant, cosine annealing to zero, or
        one-cycle with ``learning_rate_init`` as its peak, or a
        :class:`~skoperator.schedules.BaseSchedule` object. A schedule runs its
        whole budget unless ``early_stopping`` stops it (``tol`` on the
        training loss applies to the constant rate only). ``partial_fit``
        always uses the constant rate.

    optimizer : <OPTIMIZERS> or optimizer, default="adam"
        The optimizer of the epochs (:mod:`skoperator.optimizers`): Adam
        (torch's defaults), AdamW or SGD with momentum, or an optimizer
        object, each with ``weight_decay``, ``clip_grad_norm`` (the
        gradients' global norm is clipped to it at every step) and
        ``polish``: an :class:`~skoperator.optimizers.LBFGS` run on the full
        training grid (every function at every point, whatever ``sampling``)
        after the epochs of ``fit``, a polish that often cuts the remaining
        error several times for the cost of a few full-grid epochs. With
        ``physics`` the polish adds its term over every training function,
        at collocation points drawn once for it; with ``max_time`` the
        epochs stop early enough to leave it its estimated time, at most
        half of it; the history gets one more record, with ``"solver":
        "lbfgs"``; ``partial_fit`` does not polish. ``alpha=a`` and
        ``lbfgs_iter=n`` of skoperator 0.3 are ``optimizer=Adam(weight_decay=a,
        polish=LBFGS(max_iter=n))``.

    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the functions, score them on all
        their points after every epoch (variance-weighted R2), stop after
        ``n_iter_no_change`` epochs without an improvement of ``tol``, and
        restore the best weights. Needs at least 2 held-out functions. A
        ``warm_start`` call holds out functions of its own, scores its
        starting weights on them first, and stops, and restores the best
        weights (the starting ones included), on its own scores.

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
        a GPU. The first fit of an architecture in a process pays the
        compilation (seconds to tens of seconds on a CPU); later fits of the
        same architecture reuse it, and a changing batch size or ``n_eval``
        recompiles once with symbolic sizes, not every step. Each architecture
        has its own compiled step, so torch's limit of 8 graphs per compiled
        function (past which it runs eagerly) applies to each, not to the
        process's fits together. Results match eager training up
        to floating-point rounding. Every built-in branch, trunk, merge and
        loss compiles (the FNO branch's Fourier layers included). Where
        :func:`torch.compile` fails on a user's module (at the first compiled
        step, in the forward or the backward), the fit continues eagerly, as
        with ``compile=False``, after one ``UserWarning`` that names the
        module's class and the compiler's error.

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
        budget of a joblib or Dask worker and by torch's own setting
        (``torch.set_num_threads``); -1 uses every core, and an int above
        16 times the cores is capped there. torch's setting is restored
        when the call returns.

    random_state : int, RandomState instance or None, default=None
        Seeds everything (weight initialisation, shuffling, trunk sampling,
        validation split) through local generators; no global seed is touched.
        On the CPU two fits with the same int give identical predictions,
        unless ``max_time`` is set: a wall-clock budget is not reproducible.

    verbose : int, default=0
        0 silent; 1 a progress bar over epochs (tqdm when installed) with the
        loss, validation score and time left; 2 one log line per epoch. Output
        goes through the ``"skoperator"`` logger.

    callbacks : list of callback or None, default=None
        Objects called as the fit runs (:mod:`skoperator.callbacks`): at its
        start, after every epoch (one may stop the fit:
        ``stopping_reason_`` "callback"), during the L-BFGS polish, on a
        preemption signal and at its end. Built in:
        :class:`~skoperator.callbacks.Checkpoint` (the complete training
        state every few epochs or seconds, an exact resume from it, and
        preemption by SIGTERM or SIGUSR1),
        :class:`~skoperator.callbacks.CSVLogger`,
        :class:`~skoperator.callbacks.TensorBoard` and
        :class:`~skoperator.callbacks.ProgressBar` (what ``verbose`` shows).
        The fit calls its own copies.

    warm_start : bool, default=False
        Reuse the fitted network (and optimizer state) when ``fit`` is called
        again, instead of starting afresh. Early stopping starts afresh on
        the call's own split; the training-loss criterion (``tol`` without
        early stopping) carries over, as ``MLPRegressor``'s ``best_loss_``:
        a call on new data stops once its loss fails ``n_iter_no_change``
        times to beat the best of every call by ``tol``.

    Attributes
    ----------
    network_ : torch.nn.Module
        The fitted DeepONet (with its input/output scalings as buffers).

    coords_ : ndarray of shape (n_points, d)
        Training coordinates; ``predict`` uses them by default.

    n_outputs_ : int
        Output fields.

    input_sizes_ : tuple of int
        Columns of ``U`` per input function (one entry unless the branch is
        a :class:`~skoperator.networks.MultiBranch`).

    n_iter_ : int
        Number of epochs run (the L-BFGS polish is not an epoch; it has its
        own record in ``history_`` and ``loss_curve_``).

    n_eval_ : int
        Points per function per step in the last Adam epoch (``n_points``
        for "full"; the L-BFGS polish, on the full grid, does not change it).

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
        Best validation score of the last call, that of the weights it
        restored (only with ``early_stopping=True``; a ``warm_start`` call
        scores functions of its own, its starting weights included; a later
        call without early stopping leaves the last such call's).

    stopping_reason_ : str
        Why the last call ended: "max_iter", "converged", "max_time",
        "callback" (a callback stopped it) or "interrupted" (Ctrl-C: the
        best weights so far are kept, then the ``KeyboardInterrupt``
        propagates, so that it also stops a search). A fit that diverges
        raises ``ValueError`` and leaves the estimator as it was before the
        call.

    history_ : list of dict
        One dict per epoch: ``epoch``, ``train_loss``, ``valid_score``,
        ``seconds``, ``trunk_evals`` (trunk evaluations of the data
        term; 0 when a physics term trains alone),
        ``n_eval`` (points per function and step), ``learning_rate`` and
        ``solver`` ("adam", or "lbfgs" for the record of the L-BFGS polish),
        ``lbfgs_iter`` (L-BFGS iterations, None for Adam epochs) and
        ``stopped`` (None, except on the last record of a call: the
        ``stopping_reason_`` of that call).

    sampler_ : sampler component
        The fit's own copy of ``sampling`` (set up on the training data), with
        its fitted attributes (such as ``n_eval_``, or an
        :class:`~skoperator.sampling.AdaptiveSampler`'s ``probabilities_``);
        the settings are those of ``sampling``.

    loss_ : loss component
        The fit's own copy of ``loss``, prepared on the training data
        (its fitted attributes, such as ``g_scale_``).

    physics_ : physics component or None
        The fit's own copy of ``physics``, prepared on the training data, so
        that its documented fitted attributes (such as
        :class:`~skoperator.physics.PDEResidual`'s ``n_points_``) can be
        read; None without physics.

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

    _parameter_constraints = _CONSTRAINTS

    def __new__(cls, *args, **kwargs):
        check_moved(cls.__name__, kwargs)  # alpha, lbfgs_iter of 0.3: how to write them now
        return super().__new__(cls)

    def __init__(self, *, n_eval="auto", sampling="random", coords=None, branch="mlp",
                 trunk="mlp", n_basis=40, standardize=True, n_outputs=1,
                 multi_output_strategy="split_branch", output_transform=None, physics=None,
                 loss="mse",
                 batch_size="auto", max_iter=200, max_time=None,
                 learning_rate_init=1e-3, learning_rate="constant", optimizer="adam",
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=10, tol=1e-4,
                 compile=False, mixed_precision=False, device="auto", n_jobs=None,
                 random_state=None, verbose=0, callbacks=None, warm_start=False):
        self.n_eval = n_eval
        self.sampling = sampling
        self.coords = coords
        self.branch = branch
        self.trunk = trunk
        self.n_basis = n_basis
        self.standardize = standardize
        self.n_outputs = n_outputs
        self.multi_output_strategy = multi_output_strategy
        self.output_transform = output_transform
        self.physics = physics
        self.loss = loss
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.max_time = max_time
        self.learning_rate_init = learning_rate_init
        self.learning_rate = learning_rate
        self.optimizer = optimizer
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
        self.callbacks = callbacks
        self.warm_start = warm_start

    # ------------------------------------------------------------------ fit
    @ranks_agree
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, coords=None):
        """Fit the operator on input functions U and outputs G.

        Parameters
        ----------
        X : array-like of shape (n_functions, n_sensors)
            ``U``: input functions sampled at the sensors (or of shape
            (n_functions, *grid) for a grid branch; flattened, last axis
            fastest).
        y : array-like of shape (n_functions, n_outputs * n_points)
            ``G``: output functions at the rows of ``coords``; NaN marks a
            missing value. A ``np.memmap`` larger than 64 MiB (or an array
            larger than 1 GiB, or an HDF5 dataset, a Zarr or a Dask array)
            is read batch by batch, never loaded whole; smaller ones are
            copied.
        coords : array-like of shape (n_points, d) or (n_functions, n_points, d), default=None
            Where G is observed, when not at the constructor's ``coords``:
            shared points, or each function's own points (row ``i`` of G
            holds function ``i`` at ``coords[i]``; functions with fewer points
            are padded with rows of NaN, and their targets with NaN). In
            cross-validation and searches, per-function points are split with
            the functions through scikit-learn's metadata routing
            (``set_fit_request(coords=True)``).

        Returns
        -------
        self : DeepONetRegressor
            The fitted estimator.
        """
        return self._fit(X, y, incremental=False, coords=coords)

    def _fit_fields_batched(self, X, y):
        """``fit`` with the fields' networks batched as one (EnsembleRegressor's members)."""
        self._vectorize_fields = True
        return self.fit(X, y)

    @ranks_agree
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, coords=None):
        """Run one epoch on (U, G), continuing from the current weights and optimizer state.

        Parameters
        ----------
        X : array-like of shape (n_functions, n_sensors)
            ``U``: input functions.
        y : array-like of shape (n_functions, n_outputs * n_points)
            ``G``: output functions at the fitted coordinates (or at ``coords``).
        coords : array-like of shape (n_points, d) or (n_functions, n_points, d), default=None
            As in :meth:`fit`.

        Returns
        -------
        self : DeepONetRegressor
            The updated estimator.
        """
        return self._fit(X, y, incremental=True, coords=coords)

    def _fit(self, U, G, incremental, coords=None):
        # Validate and build everything, then train; a failed fit (bad input
        # or divergence) leaves the estimator as it was.
        started = time.perf_counter()  # max_time counts from here
        saved, plan = dict(self.__dict__), None
        try:
            with fit_environment():
                callbacks = fit_callbacks(self)
                resume = resume_point(callbacks, self, U, G, coords, incremental)
                plan = make_plan(self, U, G, incremental, started, coords, seed=resume.seed)
                with torch_threads(plan.n_threads), training_rng(
                        plan.seed, plan.device, getattr(plan.comm, "rank", 0)):
                    return self._train(plan, CallbackList(callbacks, self), resume)
        except BaseException as exc:  # an interrupted training keeps its best weights
            if plan is None or not isinstance(exc, KeyboardInterrupt):
                self.__dict__.clear()
                self.__dict__.update(saved)
            raise

    def _train(self, plan, progress, resume):
        state = (self._stopping.resumed(self.history_)
                 if plan.continuing and hasattr(self, "_stopping") else StoppingState())
        trainer = Trainer(plan, progress, state)
        resume.apply(trainer)  # a Checkpoint's latest state, when resuming
        with progress:
            try:
                reason = trainer.run(plan.n_epochs, state)
            except KeyboardInterrupt:
                # The best weights so far are in the network: keep them, then
                # let the interrupt stop whatever runs this fit (a search too).
                self._store(plan, state, "interrupted")
                progress.close("interrupted")
                raise
            progress.close(reason)
        self._store(plan, state, reason)
        if reason == "max_iter" and plan.tol is not None and not plan.incremental:
            warnings.warn(
                f"DeepONetRegressor reached max_iter={self.max_iter} epochs without the "
                "training criterion converging; increase max_iter, or pass tol=None to train "
                "for exactly max_iter epochs.", ConvergenceWarning, stacklevel=4)
        return self

    def _store(self, plan, state, reason):
        self._set_fitted(FittedState.from_fit(
            plan, state, reason, architecture=architecture_snapshot(self),
            n_outputs=self.n_outputs, n_features_in=self.n_features_in_,
            feature_names_in=getattr(self, "feature_names_in_", None)))

    # ---------------------------------------------------------- fitted state
    def _fitted_state(self):
        """The fitted model as one :class:`~skoperator._fitted.FittedState` (io, ensembles)."""
        check_is_fitted(self)
        return FittedState.from_attributes(self.__dict__)

    def _set_fitted(self, state):
        """Make this the fitted model ``state``: the one writer of fitted attributes."""
        for name in FittedState.ABSENT_WHEN_NONE:  # a stale one from an earlier fit
            self.__dict__.pop(name, None)
        self.__dict__.update(state.attributes())
        self._set_inference_network()

    def _set_inference_network(self):  # once per fit: predict copies and traces nothing
        self._cpu_network, self._flop_rates = inference_network(self.network_)
        # predict's copies on another device, made once per device and fitted model
        self._device_networks = {}

    def _predict_network(self, device):
        """The network ``predict`` runs on ``device``; ``network_`` itself never moves."""
        if device.type == "cpu":
            return self._cpu_network
        if next(self.network_.parameters()).device == device:
            return self.network_
        if device not in self._device_networks:
            self._device_networks[device] = copy.deepcopy(self.network_).to(device)
        return self._device_networks[device]

    # -------------------------------------------------------------- predict
    def predict(self, X, coords=None):
        """Predict the output functions of U.

        Parameters
        ----------
        X : array-like of shape (n_functions, n_sensors)
            ``U``: input functions at the sensors used in fit.
        coords : array-like of shape (n_points, d) or (n_functions, n_points, d), default=None
            Where to evaluate the outputs: shared points, or each function's
            own points (rows of NaN give NaN); None uses the fitted
            coordinates (required when the model was fitted on points per
            function). Any coordinates of the fitted dimension ``d`` work
            (DeepONet is resolution-free), except with a POD trunk (fitted
            points only).

        Returns
        -------
        G : ndarray of shape (n_functions, n_outputs * n_points), dtype float64
            Predicted outputs (field ``c`` at point ``j`` in column
            ``c * n_points + j``), computed in bounded-memory chunks.
        """
        check_is_fitted(self)
        U, _ = validate_inputs(self, X, reset=False, dtype=[np.float64, np.float32])
        coords = predict_coords(self, coords, U.shape[0])
        device = resolve_device(self.device, for_predict=True)
        network = self._predict_network(device)
        out = np.empty((U.shape[0], self.n_outputs_ * coords.shape[-2]), dtype=np.float64)
        threads = choose_threads(self.n_jobs, network, min(U.shape[0], 1024), device,
                                 coords.shape[-2], rates=self._flop_rates)
        with torch_threads(threads):
            return predict_any(network, U, coords, out, device)

    def score(self, X, y, sample_weight=None, coords=None):
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
        coords : array-like of shape (n_points, d) or (n_functions, n_points, d), default=None
            Where G is given, as in :meth:`predict`.

        Returns
        -------
        score : float
            1.0 is perfect; 0.0 is no better than the column means (with
            points per function, the column means of the point slots).
        """
        check_is_fitted(self)
        pred = self.predict(X, coords=coords)
        return score_outputs(y, pred, sample_weight, n_outputs=self.n_outputs_)

    # -------------------------------------------------------- sklearn glue
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.single_output = False
        tags.target_tags.multi_output = True
        return tags

    def __getstate__(self):
        state = super().__getstate__().copy()
        state.pop("_cpu_network", None)
        state.pop("_device_networks", None)
        if "network_" in state:  # GPU-fitted models unpickle on CPU-only machines
            state["network_"] = copy.deepcopy(state["network_"]).cpu()
            state["_optimizer_state"] = to_cpu(state.get("_optimizer_state"))
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "network_" in state:
            self._set_inference_network()


def _choices(doc):
    """The class docstring with each ``<REGISTRY>`` marker replaced by the registry's keys.

    The choices of ``sampling``, ``branch``, ``trunk``, ``multi_output_strategy``,
    ``loss`` and ``learning_rate`` are the keys of their registries: a new
    entry appears in the documentation without an edit here.
    """
    registries = {"SAMPLERS": SAMPLERS, "BRANCHES": BRANCHES, "TRUNKS": TRUNKS,
                  "LAYOUTS": LAYOUTS, "LOSSES": LOSSES, "SCHEDULES": SCHEDULES}
    for name, registry in registries.items():
        doc = doc.replace(f"<{name}>", "{" + ", ".join(f'"{k}"' for k in registry) + "}")
    return doc


DeepONetRegressor.__doc__ = _choices(DeepONetRegressor.__doc__)
# The constructor's signature (not __new__'s, which only catches 0.3's parameters)
DeepONetRegressor.__signature__ = inspect.signature(DeepONetRegressor.__init__).replace(
    parameters=list(inspect.signature(DeepONetRegressor.__init__).parameters.values())[1:])
