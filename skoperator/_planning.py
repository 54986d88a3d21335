"""Planning a fit: validate everything and build everything, before any fitted attribute changes.

:func:`make_plan` turns an estimator's hyperparameters and the data into a
frozen :class:`FitPlan` that carries every setting the training loop reads;
the estimator only stores what the loop returns. numpy <-> torch conversion
happens here, at the estimator's edge.
"""

import copy
import dataclasses
import math
import time
from typing import Any, Callable, Optional

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from . import _data
from ._distributed import communicator, fingerprint
from ._device import as_tensor, fused_adam, has_complex_parameters, resolve_device, to_float64
from ._inference import validation_score
from ._network import LAYOUTS, Scaling, build_network
from ._parallel import choose_threads, flop_rates
from ._sampling import ObservedPoints, SamplingContext, make_sampler
from ._training import TrainingData, training_residuals
from .losses import LossContext, as_loss
from .networks import MultiBranch, as_branch, as_trunk
from .physics import PhysicsContext
from .schedules import as_schedule

#: Parameters that shape the network: ``warm_start`` and ``partial_fit`` keep
#: the fitted network, so these must not change between calls.
ARCHITECTURE = ("branch", "trunk", "n_basis", "standardize", "n_outputs",
                "multi_output_strategy", "output_transform")


@dataclasses.dataclass(frozen=True)
class FitPlan:
    """Everything a fit needs, validated and built before any fitted attribute changes.

    The training loop (:class:`skoperator._training.Trainer`) reads its
    settings from here only.
    """

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
    perm_generator: torch.Generator
    comm: Any
    batch_size: int
    n_epochs: int
    schedule: Callable
    total_steps: int
    tol: Optional[float]
    n_iter_no_change: int
    validation_fn: Optional[Callable]
    max_time: Optional[float]
    physics: Any
    has_data: bool
    started: float
    lbfgs_iter: int
    mixed_precision: bool
    n_threads: int
    compile_mode: Optional[str]


def same_setting(a, b):
    """Whether two values of a constructor parameter are the same setting."""
    if a is b:
        return True
    if isinstance(a, BaseEstimator) and isinstance(b, BaseEstimator):
        pa, pb = a.get_params(deep=False), b.get_params(deep=False)
        return type(a) is type(b) and pa.keys() == pb.keys() and all(
            same_setting(pa[k], pb[k]) for k in pa)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_setting(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.nn.Module) or isinstance(b, torch.nn.Module) or callable(a) \
            or callable(b):
        return False
    try:
        return bool(np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object)))
    except (TypeError, ValueError):
        return a == b


def architecture_snapshot(est):
    """The architecture settings, components cloned (so later ``set_params`` shows)."""
    return {name: clone(getattr(est, name), safe=False)
            if isinstance(getattr(est, name), (BaseEstimator, list, tuple))
            else getattr(est, name) for name in ARCHITECTURE}


def validate_inputs(est, X, reset, dtype):
    """``validate_data`` on U (grids flattened), with the errors explained.

    Returns
    -------
    U : ndarray of shape (n_functions, n_sensors)
    input_shape : tuple or None
        ``X.shape[1:]`` when ``X`` had more than two dimensions.
    """
    X = _data.materialize_inputs(X)  # U from HDF5, Zarr or Dask: read chunk by chunk
    input_shape = None
    if getattr(X, "ndim", 2) >= 3:
        input_shape = tuple(X.shape[1:])
        X = np.asarray(X).reshape(X.shape[0], -1)
    try:
        return validate_data(est, X, reset=reset, dtype=dtype), input_shape
    except ValueError as exc:
        raise ValueError(
            f"{exc} U (sklearn's X) must be a non-empty array of finite real numbers of shape "
            "(n_functions, n_sensors), one row per input function (or (n_functions, *grid) "
            "for a grid branch)."
        ) from exc


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


def check_continuation(est, coords, input_sizes):
    """A continued fit must keep the fitted architecture, coordinates' dimension and inputs."""
    changed = [name for name in ARCHITECTURE
               if not same_setting(getattr(est, name), est._architecture[name])]
    if changed:
        raise ValueError(
            f"{', '.join(changed)} changed since the model was fitted, but "
            f"{'warm_start=True' if est.warm_start else 'partial_fit'} keeps the fitted "
            "network; restore the fitted value(s), or set warm_start=False to fit a new model.")
    d = est.network_.y_shift.numel()
    if coords.shape[-1] != d:
        raise ValueError(
            f"coords has {coords.shape[-1]} columns but the model was fitted on "
            f"{d}-dimensional coordinates; pass coords of that dimension, or set "
            "warm_start=False to fit a new model.")
    if est.network_.trunk_is_table and not (
            est.coords_ is not None and coords.shape == est.coords_.shape
            and np.array_equal(coords, est.coords_)):
        raise ValueError(
            "the fitted trunk (POD modes) is known at the fitted coordinates only, and coords "
            "differ from coords_; continue with the fitted coordinates, or set "
            "warm_start=False to fit a new model.")
    if input_sizes != est.input_sizes_:
        raise ValueError(f"the branch reads {input_sizes} columns per input function but the "
                         f"model was fitted with {est.input_sizes_}; set warm_start=False to "
                         "fit a new model.")


def validation_split(est, n, incremental, rng):
    """Training and validation rows (early stopping), or all rows and None."""
    rows = np.arange(n)
    if not est.early_stopping or incremental:
        return rows, None
    n_val = int(round(est.validation_fraction * n))
    if n_val < 2:
        raise ValueError(
            f"early_stopping holds out validation_fraction * n_functions = "
            f"{est.validation_fraction} * {n} = {n_val} function(s), but its score (an R2 "
            "over the held-out functions) needs at least 2; raise validation_fraction to "
            f"at least {2 / n:.3g}, pass more functions, or set early_stopping=False.")
    if n_val >= n:
        raise ValueError(
            f"early_stopping with validation_fraction={est.validation_fraction} leaves no "
            f"training function out of {n}; lower validation_fraction.")
    perm = rng.permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def scaling_of(est, U, G, coords, input_sizes):
    """The standardisation of inputs, coordinates and outputs (identity without it)."""
    if not est.standardize:
        return Scaling.identity(U.shape[1], coords.shape[1], est.n_outputs)
    return Scaling(**_data.scaling_statistics(U, G, coords, input_sizes, est.n_outputs))


def build(est, U, G, coords, branch, trunk, input_sizes, input_shape, generator):
    """A new network for the estimator's components, scaled on (U, G)."""
    n_outputs = est.n_outputs
    coords = _data.finite_points(coords)  # per-function points: every finite one
    scaling = scaling_of(est, U, G, coords, input_sizes)
    cpu = torch.device("cpu")
    y = (as_tensor(coords, torch.float32, cpu) - torch.as_tensor(scaling.y_shift).float()) \
        / torch.as_tensor(scaling.y_scale).float()
    targets = None
    if trunk.table:
        g = as_tensor(np.asarray(G[:], dtype=np.float64), torch.float64, cpu)
        g = g.reshape(len(g), n_outputs, -1).permute(0, 2, 1)
        targets = (g - torch.as_tensor(scaling.g_shift)) / torch.as_tensor(scaling.g_scale)
    return build_network(
        branch=branch, trunk=trunk, n_sensors=U.shape[1], n_outputs=n_outputs,
        n_basis=est.n_basis, layout=LAYOUTS[est.multi_output_strategy], scaling=scaling,
        generator=generator, coords=y, targets=targets, input_shape=input_shape,
        output_transform=est.output_transform,
        # Set by EnsembleRegressor for its vectorised members (never a parameter).
        vectorize=getattr(est, "_vectorize_fields", False))


def training_data(network, U, G, coords, device, has_missing):
    """The training tensors: inputs, coordinates and standardised targets on ``device``."""
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


def _observed_any(data):
    """Whether the training targets hold any observed (finite) value."""
    for rows in data.rows_in_chunks():
        if bool(torch.isfinite(data.targets(rows, None)).any()):
            return True
    return False


def prepared_loss(spec, data):
    """A private, prepared copy of the ``loss=`` component for ``data``."""
    loss = copy.deepcopy(as_loss(spec)).check()
    return loss.prepare(LossContext(g_scale=data.g_scale, n_functions=data.n_functions,
                                    mean_square=data.mean_square, device=data.device))


def setup_sampler(spec, n_eval, network, data, n_epochs, has_missing, generator):
    """A private, set-up copy of the ``sampling=`` component."""
    sampler = make_sampler(spec)
    observed = None
    if has_missing and getattr(sampler, "uses_observed", False) and not data.streamed:
        finite = torch.isfinite(data.G)
        finite = finite.any(dim=2) if finite.dim() == 3 else finite
        observed = ObservedPoints.from_mask(finite.cpu()).to(data.device)
    context = SamplingContext(
        n_eval=n_eval, coords=data.coords, n_functions=data.n_functions, device=data.device,
        generator=generator, n_epochs=n_epochs, observed=observed,
        residuals=lambda: training_residuals(network, data))
    try:
        sampler.setup(context)
    except ValueError:
        raise
    except Exception as exc:
        raise ValueError(f"The sampler {type(sampler).__name__}'s setup raised "
                         f"{type(exc).__name__}: {exc}") from exc
    return sampler


def _optimizer(est, network, device, continuing):
    fused = fused_adam(device) and not has_complex_parameters(network)
    optimizer = torch.optim.Adam(network.parameters(), lr=est.learning_rate_init,
                                 weight_decay=est.alpha, fused=fused)
    if continuing and getattr(est, "_optimizer_state", None) is not None:
        optimizer.load_state_dict(est._optimizer_state)
        for group in optimizer.param_groups:
            group["lr"] = est.learning_rate_init
    return optimizer


def _compile_mode(est, device):
    if est.compile is False:
        return None
    if est.compile is True:
        return "reduce-overhead" if device.type == "cuda" else "default"
    return est.compile


def make_plan(est, U, G, incremental, started=None, coords=None):
    """Validate the data and the settings of ``est`` and build everything a fit needs.

    Parameters
    ----------
    est : DeepONetRegressor
        The estimator (its hyperparameters and, when continuing, its fitted
        network); nothing of it is changed except by ``validate_data`` (the
        input feature bookkeeping, restored by the caller on failure).
    U, G : array-like
        The training data as passed to ``fit``.
    incremental : bool
        ``partial_fit``: one epoch, constant rate, no validation split.
    started : float, default=None
        ``time.perf_counter()`` at the start of ``fit`` (``max_time`` counts
        from there).
    coords : array-like, default=None
        ``fit``'s coordinates: shared (n_points, d), or per function
        (n_functions, n_points, d); None uses the estimator's ``coords``.

    Returns
    -------
    plan : FitPlan
    """
    started = time.perf_counter() if started is None else started
    comm = communicator()
    if comm.world_size > 1:  # first: a rank given other data must not hang the others
        comm.check_same(fingerprint(est, U, G, est.coords))
    fitted = hasattr(est, "network_")
    continuing = fitted and (incremental or est.warm_start)
    U, input_shape = validate_inputs(est, U, reset=not continuing, dtype=np.float32)
    n = U.shape[0]
    if n < 2 and not incremental:
        raise ValueError("DeepONetRegressor needs at least 2 functions to fit; got n_samples = "
                         "1 (U has 1 row). Pass more input functions.")
    G, has_missing = _data.check_targets(G, n, allow_unobserved=est.physics is not None)
    if coords is not None and np.ndim(coords) == 3:
        coords = _data.check_point_sets(coords, G, n, est.n_outputs)
    else:
        coords = _data.resolve_coords(est.coords if coords is None else coords, G.shape[1],
                                      est.n_outputs)
    per_function = coords.ndim == 3
    branch, trunk = as_branch(est.branch).check(), as_trunk(est.trunk).check()
    if per_function and trunk.table:
        raise ValueError(
            f"the trunk {type(trunk).__name__} is known at one shared grid of points, but fit "
            "was given points of their own per function (coords of shape (n_functions, "
            "n_points, d)); use a trunk that evaluates anywhere (trunk='mlp'), or shared "
            "coords.")
    if input_shape is not None and not branch.needs_grid:
        raise ValueError(
            f"U has shape {(n,) + input_shape}, but the branch {type(branch).__name__} reads "
            "flat rows; pass U.reshape(len(U), -1), or a grid branch (CNNBranch, FNOBranch) "
            "that reads U's grid.")
    if isinstance(branch, MultiBranch):
        input_sizes = branch.sizes(U.shape[1])
    else:
        size = branch.n_inputs()
        if size is not None and size != U.shape[1]:
            raise ValueError(
                f"the branch {type(branch).__name__} reads {size} columns (its n_sensors or "
                f"channels x grid) but U has {U.shape[1]}; make them agree, or use "
                "MultiBranch for several input functions.")
        input_sizes = (U.shape[1],)
    if continuing:
        check_continuation(est, coords, input_sizes)
    device = resolve_device(est.device)
    schedule = as_schedule("constant" if incremental else est.learning_rate).check()

    # rank 0's draw on every rank: one permutation and validation split (random_state=None)
    base_seed = comm.from_rank0(check_random_state(est.random_state).randint(2**31 - 1))
    seed = base_seed + 1_000_003 * getattr(est, "n_iter_", 0) * continuing
    rng = np.random.default_rng(seed)
    cpu_gen = torch.Generator().manual_seed(seed)
    dev_gen = perm_gen = torch.Generator(device=device).manual_seed(seed + 1)
    if comm.world_size > 1:  # one permutation for all ranks, draws of their own
        perm_gen = torch.Generator(device=device).manual_seed(seed + 1)
        dev_gen = torch.Generator(device=device).manual_seed(seed + 1 + 104_729 * (comm.rank + 1))

    train_rows, val_rows = validation_split(est, n, incremental, rng)
    if len(train_rows) < comm.world_size:
        raise ValueError(
            f"the process group has {comm.world_size} ranks but the fit has "
            f"{len(train_rows)} training functions; every rank needs at least one. Launch "
            "fewer processes or pass more functions.")
    G_train = _data.data_rows(G, train_rows)
    coords_train = coords[train_rows] if per_function else coords
    if continuing:
        network = copy.deepcopy(est.network_).to(device)
    else:
        network = build(est, U[train_rows], G_train, coords_train, branch, trunk,
                        input_sizes, input_shape, cpu_gen).to(device)
    comm.broadcast_module(network)  # every rank starts from rank 0's network
    if est.output_transform is not None:
        _check_output_transform(network, U[train_rows[:2]], _data.finite_points(coords),
                                device)
    data = training_data(network, U[train_rows], G_train, coords_train, device, has_missing)
    loss = prepared_loss(est.loss, data)
    # without physics check_targets guarantees observed values: no pass over G
    has_data = not has_missing or est.physics is None or bool(_observed_any(data))
    physics = None
    if est.physics is not None:
        physics = copy.deepcopy(est.physics).check()
        physics.prepare(PhysicsContext(
            coords=data.coords, n_functions=data.n_functions, n_eval=est.n_eval,
            device=data.device, generator=dev_gen, y_shift=network.y_shift.detach(),
            y_scale=network.y_scale.detach(), g_shift=network.g_shift.detach(),
            g_scale=network.g_scale.detach(), n_outputs=est.n_outputs))
    n_epochs = 1 if incremental else est.max_iter
    sampler = setup_sampler(est.sampling, est.n_eval, network, data, n_epochs, has_missing,
                            dev_gen)
    batch_size = min(64 if est.batch_size == "auto" else est.batch_size, len(train_rows))
    validation_fn = None
    if val_rows is not None:
        U_val, G_val = U[val_rows], _data.data_rows(G, val_rows)
        coords_val = coords[val_rows] if per_function else coords

        def validation_fn(net):  # computed once, by rank 0, for every rank
            score = validation_score(net, U_val, G_val, coords_val, device) if comm.rank == 0 \
                else None
            return comm.from_rank0(score)
    # A schedule with a budget runs its course: the training loss alone does
    # not stop it (a validation score still does, with early_stopping).
    tol = est.tol if (schedule.tol_applies or val_rows is not None) else None
    trunk_points = min(data.n_points, batch_size * (getattr(sampler, "n_eval_", None)
                                                   or data.n_points))
    return FitPlan(
        coords=None if per_function else coords, device=device, continuing=continuing,
        incremental=incremental,
        input_sizes=input_sizes, network=network,
        optimizer=_optimizer(est, network, device, continuing), data=data, sampler=sampler,
        loss=loss, generator=dev_gen, perm_generator=perm_gen, comm=comm,
        batch_size=batch_size, n_epochs=n_epochs,
        schedule=schedule,
        total_steps=n_epochs * math.ceil(len(train_rows) / (batch_size * comm.world_size)),
        tol=tol, n_iter_no_change=est.n_iter_no_change, validation_fn=validation_fn,
        max_time=est.max_time, started=started, physics=physics, has_data=has_data,
        lbfgs_iter=0 if incremental else est.lbfgs_iter, mixed_precision=est.mixed_precision,
        n_threads=choose_threads(est.n_jobs, network, batch_size, device, trunk_points),
        compile_mode=_compile_mode(est, device))


def inference_network(network):
    """A float64 CPU copy of ``network`` for ``predict``, and its flop rates.

    float64 evaluation of the float32 weights: results do not depend on how
    the rows are batched (BLAS kernels differ by batch size). Made once per
    fit, so that ``predict`` copies and traces nothing.
    """
    cpu = to_float64(copy.deepcopy(network).cpu()).eval()
    return cpu, flop_rates(cpu)


def predict_coords(est, coords, n):
    """``predict``'s coordinates: the fitted ones, shared (m, d) or per function (n, m, d)."""
    d = est.network_.y_shift.numel()
    if coords is None:
        if est.coords_ is None:
            raise ValueError(
                "the model was fitted on points of their own per function, so predict needs "
                "coords: shared (n_points, d) or per function (n_functions, n_points, d), with "
                f"d = {d}.")
        return est.coords_
    if np.ndim(coords) == 3:
        P = _data.check_point_sets(coords, None, n)
        if P.shape[2] != d:
            raise ValueError(f"coords has {P.shape[2]} columns but the model was fitted on "
                             f"{d}-dimensional coordinates.")
        return P
    return _data.check_coords(coords, "coords", d=d)
