"""DeepONetRegressor: parameters, validation, fit/partial_fit/predict/score."""

import copy
import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, RealNotInt, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _data
from ._device import fused_adam, resolve_device, to_cpu
from ._docstring import DOC
from ._inference import predict_into, validation_score
from ._network import ACTIVATIONS, DeepONet, build_branch, build_trunk
from ._parallel import torch_thread_budget
from ._progress import reporting
from ._sampling import SAMPLINGS, TrunkSampler, group_table, observation_table
from ._training import Trainer, TrainingData
from .metrics import variance_weighted_r2


class DeepONetRegressor(RegressorMixin, BaseEstimator):
    __doc__ = DOC

    _parameter_constraints = {
        "n_eval": [Interval(Integral, 1, None, closed="left"),
                   Interval(RealNotInt, 0, 1, closed="right"), StrOptions({"auto"})],
        "sampling": [StrOptions(set(SAMPLINGS))],
        "coords": ["array-like", None],
        "branch": [StrOptions({"mlp", "cnn"}), callable, torch.nn.Module],
        "trunk": [StrOptions({"mlp", "resmlp"}), callable, torch.nn.Module],
        "branch_layers": ["array-like"],
        "trunk_layers": ["array-like"],
        "n_basis": [Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "input_shape": ["array-like", None],
        "cnn_channels": ["array-like"],
        "fourier_features": [Interval(Integral, 0, None, closed="left")],
        "fourier_scale": [Interval(Real, 0, None, closed="neither")],
        "standardize": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "learning_rate": [StrOptions({"constant", "cosine", "onecycle"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    def __init__(self, *, n_eval="auto", sampling="random", coords=None, branch="mlp",
                 trunk="mlp", branch_layers=(40, 40, 40), trunk_layers=(40, 40, 40),
                 n_basis=40, activation="relu", input_shape=None,
                 cnn_channels=(40, 60, 100), fourier_features=0, fourier_scale=1.0,
                 standardize=True, batch_size="auto", max_iter=200,
                 learning_rate_init=1e-3, learning_rate="constant", alpha=0.0,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=10,
                 tol=1e-4, device="auto", random_state=None, verbose=0, warm_start=False):
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
        self.fourier_features = fourier_features
        self.fourier_scale = fourier_scale
        self.standardize = standardize
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.learning_rate_init = learning_rate_init
        self.learning_rate = learning_rate
        self.alpha = alpha
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.device = device
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
        y : array-like of shape (n_functions, n_points)
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
        y : array-like of shape (n_functions, n_points)
            ``G``: output functions at the fitted coordinates.

        Returns
        -------
        self : DeepONetRegressor
            The updated estimator.
        """
        return self._fit(X, y, incremental=True)

    def _fit(self, U, G, incremental):
        saved = dict(self.__dict__)
        try:
            plan = self._plan(U, G, incremental)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
        with torch_thread_budget():
            return self._train(plan)

    def _plan(self, U, G, incremental):
        """Validate everything and prepare training; assigns nothing fitted but
        the feature bookkeeping of ``validate_data`` (restored on failure)."""
        fitted = hasattr(self, "network_")
        continuing = fitted and (incremental or self.warm_start)
        U = self._validate_inputs(U, reset=not continuing, dtype=np.float32)
        n = U.shape[0]
        if n < 2 and not incremental:
            raise ValueError(
                "DeepONetRegressor needs at least 2 functions to fit; got n_samples = 1 "
                "(U has 1 row). Pass more input functions."
            )
        G, has_missing = _data.check_targets(G, n)
        if continuing:
            coords = self.coords_
            if G.shape[1] != coords.shape[0]:
                raise ValueError(
                    f"G has {G.shape[1]} columns but the model was fitted on "
                    f"{coords.shape[0]} points; pass G at the fitted coordinates."
                )
        else:
            coords = _data.resolve_coords(self.coords, G.shape[1])
        n_points = coords.shape[0]
        groups = group_table(torch.as_tensor(coords)) if self.sampling == "grouped" else None
        if self.sampling == "grouped":
            n_eval = _data.resolve_n_eval(self.n_eval, groups.shape[1], "points per group")
        elif self.sampling != "full":
            n_eval = _data.resolve_n_eval(self.n_eval, n_points)
        else:
            n_eval = n_points
        input_shape = self._check_input_shape(U.shape[1])
        device = resolve_device(self.device)
        return dict(U=U, G=G, coords=coords, n_eval=n_eval, groups=groups,
                    has_missing=has_missing, continuing=continuing, device=device,
                    input_shape=input_shape, incremental=incremental)

    def _validate_inputs(self, X, reset, dtype):
        """``validate_data`` on U, with images flattened and errors explained."""
        if getattr(X, "ndim", 2) == 3:
            if self.input_shape is None or tuple(X.shape[1:]) != tuple(self.input_shape):
                raise ValueError(
                    f"U (X) is 3-D with shape {X.shape}, but input_shape={self.input_shape}; "
                    "expected U of shape (n_functions, n_sensors), or 3-D U with "
                    "input_shape equal to U.shape[1:] (then branch='cnn' sees the grids). "
                    "Pass input_shape=U.shape[1:] or U.reshape(len(U), -1)."
                )
            X = np.asarray(X).reshape(X.shape[0], -1)
        try:
            return validate_data(self, X, reset=reset, dtype=dtype)
        except ValueError as exc:
            raise ValueError(
                f"{exc} U (sklearn's X) must be a non-empty 2-D array of finite real numbers "
                "of shape (n_functions, n_sensors): one row per input function."
            ) from exc

    def _check_input_shape(self, n_sensors):
        if self.branch != "cnn":
            return None
        if self.input_shape is None:
            raise ValueError(
                "branch='cnn' needs input_shape=(height, width), the grid on which each "
                f"row of U (here {n_sensors} sensors) is sampled; got input_shape=None."
            )
        shape = tuple(int(s) for s in self.input_shape)
        if len(shape) != 2 or math.prod(shape) != n_sensors:
            raise ValueError(
                f"input_shape={shape} does not match U: expected two sizes whose product "
                f"is the number of sensors ({n_sensors}); got product {math.prod(shape)}."
            )
        return shape

    def _train(self, plan):
        U, G, coords, device = plan["U"], plan["G"], plan["coords"], plan["device"]
        base_seed = check_random_state(self.random_state).randint(2**31 - 1)
        seed = base_seed + 1_000_003 * getattr(self, "n_iter_", 0) * plan["continuing"]
        rng = np.random.default_rng(seed)
        cpu_gen = torch.Generator().manual_seed(seed)
        dev_gen = torch.Generator(device=device).manual_seed(seed + 1)

        train_rows, val_rows = np.arange(U.shape[0]), None
        if self.early_stopping and not plan["incremental"]:
            n_val = max(1, int(round(self.validation_fraction * U.shape[0])))
            if n_val >= U.shape[0]:
                raise ValueError(
                    f"early_stopping with validation_fraction={self.validation_fraction} leaves "
                    f"no training function out of {U.shape[0]}; lower validation_fraction."
                )
            perm = rng.permutation(U.shape[0])
            val_rows, train_rows = np.sort(perm[:n_val]), np.sort(perm[n_val:])

        if plan["continuing"]:
            network = copy.deepcopy(self.network_).to(device)
        else:
            network = self._build_network(U[train_rows], G, train_rows, coords, cpu_gen)
            network = network.to(device)
        g_scale = float(network.g_scale)
        data = self._training_data(U, G, train_rows, coords, network, device,
                                   plan["has_missing"])
        observed = None
        if plan["has_missing"] and self.sampling == "random":
            observed = observation_table(~torch.isnan(self._dense_targets(G, train_rows)))
            observed = tuple(t.to(device) for t in observed)
        sampler = TrunkSampler(self.sampling, plan["n_eval"], coords.shape[0], dev_gen, device,
                               observed=observed,
                               groups=None if plan["groups"] is None else plan["groups"].to(device))
        batch_size = min(64 if self.batch_size == "auto" else self.batch_size, len(train_rows))
        optimizer = torch.optim.Adam(network.parameters(), lr=self.learning_rate_init,
                                     weight_decay=self.alpha, fused=fused_adam(device))
        if plan["continuing"] and getattr(self, "_optimizer_state", None) is not None:
            optimizer.load_state_dict(self._optimizer_state)
            for group in optimizer.param_groups:
                group["lr"] = self.learning_rate_init
        n_epochs = 1 if plan["incremental"] else self.max_iter
        steps = n_epochs * math.ceil(len(train_rows) / batch_size)
        scheduler = None
        if self.learning_rate == "cosine" and not plan["incremental"]:
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        elif self.learning_rate == "onecycle" and not plan["incremental"]:
            scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=self.learning_rate_init, total_steps=steps)

        validation_fn = None
        if val_rows is not None:
            U_val, G_val = U[val_rows], _data.data_rows(G, val_rows)
            validation_fn = lambda net: validation_score(net, U_val, G_val, coords, device)  # noqa: E731
        # A schedule fixes the budget: the training loss alone does not stop it
        # (a validation score still does, with early_stopping).
        tol = self.tol if (scheduler is None or val_rows is not None) else None
        state = self._stopping_state(plan["continuing"])
        with reporting(self.verbose, n_epochs) as progress:
            trainer = Trainer(network, optimizer, scheduler, sampler, data,
                              batch_size=batch_size, generator=dev_gen,
                              validation_fn=validation_fn,
                              tol=tol, n_iter_no_change=self.n_iter_no_change,
                              g_var=g_scale**2, progress=progress)
            try:
                reason = trainer.run(n_epochs, state)
            except ValueError:
                self._store(network, None, coords, state, batch_size, plan)
                raise
            progress.close(reason)
        self._store(network, optimizer, coords, state, batch_size, plan)
        if reason == "interrupted":
            warnings.warn(
                f"Training was interrupted after {self.n_iter_} epochs; the estimator keeps the "
                "best weights seen so far and can predict, or continue with warm_start=True.",
                UserWarning, stacklevel=5)
        elif reason == "max_iter" and tol is not None and not plan["incremental"]:
            warnings.warn(
                f"DeepONetRegressor reached max_iter={self.max_iter} epochs without the "
                "training criterion converging; increase max_iter, or pass tol=None to train "
                "for exactly max_iter epochs.", ConvergenceWarning, stacklevel=5)
        return self

    def _build_network(self, U, G, train_rows, coords, generator):
        d = coords.shape[1]
        scaling = (_data.scaling_statistics(U, _data.data_rows(G, train_rows), coords,
                                            per_sensor=self.branch == "mlp")
                   if self.standardize else _data.identity_scaling(d))
        branch = build_branch(self.branch, U.shape[1], self.n_basis,
                              layers=tuple(self.branch_layers), activation=self.activation,
                              input_shape=self.input_shape,
                              cnn_channels=tuple(self.cnn_channels), generator=generator)
        trunk = build_trunk(self.trunk, d, self.n_basis, layers=tuple(self.trunk_layers),
                            activation=self.activation, fourier_features=self.fourier_features,
                            fourier_scale=self.fourier_scale, generator=generator)
        return DeepONet(branch, trunk, scaling)

    @staticmethod
    def _dense_targets(G, rows):
        return torch.as_tensor(np.asarray(_data.data_rows(G, rows), dtype=np.float32))

    def _training_data(self, U, G, rows, coords, network, device, has_missing):
        g_shift, g_scale = float(network.g_shift), float(network.g_scale)
        U_t = torch.as_tensor(U[rows], device=device)
        coords_t = torch.as_tensor(coords, dtype=torch.float32, device=device)
        if _data.is_streamed(G):
            G_src = _data.RowView(G, rows)
        else:
            G_src = ((self._dense_targets(G, rows) - g_shift) / g_scale).to(device)
        return TrainingData(U_t, G_src, coords_t, g_shift, g_scale, has_missing)

    def _stopping_state(self, continuing):
        if continuing and hasattr(self, "_stopping"):
            state = self._stopping
            state["history"] = list(self.history_)
            return state
        return {"history": [], "best_score": -np.inf, "best_loss": np.inf,
                "no_improvement": 0, "best_weights": None}

    def _store(self, network, optimizer, coords, state, batch_size, plan):
        self.network_ = network
        self._optimizer_state = None if optimizer is None else optimizer.state_dict()
        self.coords_ = coords
        self.history_ = state["history"]
        self.n_iter_ = len(self.history_)
        self.loss_curve_ = [h["train_loss"] for h in self.history_]
        self.n_eval_ = plan["n_eval"]
        self.batch_size_ = batch_size
        self.device_ = plan["device"]
        if any(h["valid_score"] is not None for h in self.history_):
            self.validation_scores_ = [h["valid_score"] for h in self.history_]
            self.best_validation_score_ = max(s for s in self.validation_scores_ if s is not None)
        self.best_loss_ = min(self.loss_curve_) if self.loss_curve_ else None
        self._stopping = {k: v for k, v in state.items() if k != "best_weights"}
        self._stopping["best_weights"] = None

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
            resolution-free).

        Returns
        -------
        G : ndarray of shape (n_functions, n_points), dtype float64
            Predicted outputs, computed in bounded-memory chunks.
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
            network = copy.deepcopy(network).to(device=device, dtype=torch.float64)
        elif next(network.parameters()).device != device:
            network.to(device)
        out = np.empty((U.shape[0], coords.shape[0]), dtype=np.float64)
        with torch_thread_budget():
            return predict_into(network, U, coords, out, device)

    def score(self, X, y, sample_weight=None):
        """Variance-weighted R2 of the predictions on X (U) against y (G).

        ``r2_score(G, predict(U), multioutput="variance_weighted")``: each
        output point is weighted by the variance of its column, so constant
        columns (such as the boundary value ``G[:, 0] = 0`` of an
        antiderivative) do not count as zero as they would with sklearn's
        default ``"uniform_average"``. Missing targets (NaN) are ignored.

        Parameters
        ----------
        X : array-like of shape (n_functions, n_sensors)
            ``U``: input functions.
        y : array-like of shape (n_functions, n_points)
            ``G``: true outputs at the fitted coordinates.
        sample_weight : array-like of shape (n_functions,), default=None
            Weight of each function.

        Returns
        -------
        score : float
            1.0 is perfect; 0.0 is no better than the column means.
        """
        G = np.asarray(y, dtype=np.float64)
        return variance_weighted_r2(G.reshape(len(G), -1), self.predict(X), sample_weight)

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
