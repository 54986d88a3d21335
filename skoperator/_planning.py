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
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from . import _coords, _data
from ._building import build, check_output_transform
from ._continuation import (  # noqa: F401  (ARCHITECTURE, same_setting: read from here)
    ARCHITECTURE,
    architecture_snapshot,
    check_continuation,
    same_setting,
)
from ._device import as_tensor, fits_on, fused_adam, has_complex_parameters, resolve_device
from ._distributed import communicator
from ._inference import validation_score
from ._parallel import choose_threads, planning_threads, torch_threads
from ._sampling import ObservedPoints, SamplingContext, make_sampler
from ._scaling import standardized
from ._training import TrainingData, training_residuals
from .losses import LossContext, as_loss, check_loss
from .networks import as_branch, as_trunk
from .optimizers import OptimizerContext, as_optimizer, build_checked
from .physics import FitCheck, PhysicsContext
from .schedules import as_schedule


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
    optimizer_spec: Any
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
    seed: int = 0


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
        fitted = getattr(getattr(getattr(est, "network_", None), "branch", None),
                         "input_shape", None)  # (channels, *grid) of a fitted grid branch
        if not reset and fitted is not None and \
                input_shape not in (fitted, fitted[1:] if fitted[0] == 1 else fitted):
            raise ValueError(
                f"U has shape (n, {', '.join(map(str, input_shape))}) but the model was "
                f"fitted on grids of shape {fitted[1:] if fitted[0] == 1 else fitted}; pass U "
                "on the fitted grid (or a flat U of the same number of columns).")
        branch = as_branch(est.branch) if not reset and fitted is None else None
        if branch is not None and hasattr(est, "network_") and not branch.needs_grid:
            raise ValueError(  # as fit refuses it
                f"U has shape (n, {', '.join(map(str, input_shape))}), but the model was "
                f"fitted on flat rows (its branch {type(branch).__name__} reads no grid); "
                "pass U.reshape(len(U), -1).")
    try:
        return validate_data(est, X, reset=reset, dtype=dtype), input_shape
    except ValueError as exc:
        raise ValueError(
            f"{exc} U (sklearn's X) must be a non-empty array of finite real numbers of shape "
            "(n_functions, n_sensors), one row per input function (or (n_functions, *grid) "
            "for a grid branch)."
        ) from exc


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


def training_data(network, U, G, coords, device, has_missing):
    """The training tensors: inputs, coordinates and standardised targets on ``device``."""
    shift, scale = network.g_shift.detach().cpu(), network.g_scale.detach().cpu()
    U_t = as_tensor(U, torch.float32, device)
    coords_t = as_tensor(coords, torch.float32, device)
    if _data.is_streamed(G):
        G_src = _data.row_view(G)
    elif not fits_on(device, G):
        G_src = np.asarray(G)  # stays in host memory, gathered per batch
    else:
        g = np.asarray(G)
        if len(shift) > 1:  # (n, n_points, n_outputs): the fields on the last axis
            g = g.reshape(len(g), len(shift), -1).transpose(0, 2, 1)
        g = np.ascontiguousarray(standardized(g, shift.numpy(), scale.numpy()))
        G_src = as_tensor(g, torch.float32, device)
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
    context = LossContext(g_scale=data.g_scale, n_functions=data.n_functions,
                          mean_square=data.mean_square, device=data.device)
    return check_loss(loss.prepare(context), context)


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


def _optimizer(est, spec, network, device, continuing):
    """The torch optimizer of ``spec``; continuing, with the fitted optimizer's state.

    The saved state is loaded when it is that of the same kind of optimizer
    (the same settings in its parameter groups); after a change of
    ``optimizer`` between calls the new one starts afresh.
    """
    context = OptimizerContext(
        device=device, fused=fused_adam(device) and not has_complex_parameters(network))
    optimizer = build_checked(spec, network.parameters(), est.learning_rate_init, context)
    saved = getattr(est, "_optimizer_state", None) if continuing else None
    if saved is not None and _same_kind(saved["param_groups"], optimizer.param_groups):
        # the moments continue; the settings are the configured ones (betas, eps, decay:
        # set_params may have changed them, and a schedule left its own in the groups)
        configured = [{k: v for k, v in g.items() if k != "params"}
                      for g in optimizer.param_groups]
        # a copy: load_state_dict shares the tensors, which a failed run would overwrite
        optimizer.load_state_dict(copy.deepcopy(saved))
        for group, settings in zip(optimizer.param_groups, configured):
            group.update(settings)
            group["lr"] = est.learning_rate_init
    return optimizer


def _same_kind(saved, fresh):
    """Whether saved parameter groups are of the fresh optimizer's kind: the same keys and
    the same flags (AdamW's decoupled_weight_decay against Adam's, nesterov, amsgrad)."""
    if not saved or len(saved) != len(fresh) or set(saved[0]) != set(fresh[0]):
        return False
    how = {"fused", "foreach", "capturable"}  # how torch runs the step, not what it does
    return all(old.get(key) == value for old, new in zip(saved, fresh)
               for key, value in new.items() if isinstance(value, bool) and key not in how)


def _compile_mode(est, device):
    if est.compile is False:
        return None
    if est.compile is True:
        return "reduce-overhead" if device.type == "cuda" else "default"
    return est.compile


@dataclasses.dataclass(frozen=True)
class CheckedData:
    """The training data, validated: what every later step of planning reads."""

    U: np.ndarray
    input_shape: Optional[tuple]
    G: Any
    has_missing: bool
    coords: np.ndarray
    per_function: bool


@dataclasses.dataclass(frozen=True)
class Seeds:
    """The fit's random streams, all derived from ``random_state`` (one draw)."""

    rng: np.random.Generator
    cpu: torch.Generator
    device: torch.Generator
    permutation: torch.Generator
    seed: int


def checked_data(est, U, G, coords, continuing, incremental):
    """Validate ``U``, ``G`` and the coordinates (shared or per function)."""
    U, input_shape = validate_inputs(est, U, reset=not continuing, dtype=np.float32)
    n = U.shape[0]
    if n < 2 and not incremental:
        raise ValueError("DeepONetRegressor needs at least 2 functions to fit; got n_samples = "
                         "1 (U has 1 row). Pass more input functions.")
    G, has_missing = _data.check_targets(G, n, allow_unobserved=est.physics is not None)
    if coords is None and continuing and (incremental or est.coords is None):
        # the fitted points (a warm start on the points fit was given, not a default grid)
        coords = _coords.partial_fit_coords(est, G.shape[1],
                                            "partial_fit" if incremental else "fit")
    if coords is not None and np.ndim(coords) == 3:
        coords = _coords.check_point_sets(coords, G, n, est.n_outputs)
    else:
        coords = _coords.resolve_coords(est.coords if coords is None else coords, G.shape[1],
                                      est.n_outputs)
    return CheckedData(U, input_shape, G, has_missing, coords, coords.ndim == 3)


def checked_components(est, data):
    """The branch and trunk components, checked against the data; and the input sizes."""
    branch, trunk = as_branch(est.branch).check(), as_trunk(est.trunk).check()
    if data.per_function and trunk.table:
        raise ValueError(
            f"the trunk {type(trunk).__name__} is known at one shared grid of points, but fit "
            "was given points of their own per function (coords of shape (n_functions, "
            "n_points, d)); use a trunk that evaluates anywhere (trunk='mlp'), or shared "
            "coords.")
    if data.input_shape is not None and not branch.needs_grid:
        raise ValueError(
            f"U has shape {(len(data.U),) + data.input_shape}, but the branch "
            f"{type(branch).__name__} reads flat rows; pass U.reshape(len(U), -1), or a grid "
            "branch (CNNBranch, FNOBranch) that reads U's grid.")
    return branch, trunk, branch.input_sizes(data.U.shape[1])


def seeds(est, continuing, device, comm, seed=None):
    """The fit's random streams: one permutation for all ranks, draws of their own.

    ``seed`` (a resumed fit's, from its checkpoint) replaces the draw from
    ``random_state``.
    """
    if seed is None:
        # rank 0's draw on every rank: one permutation and validation split
        # (random_state=None)
        base_seed = comm.from_rank0(check_random_state(est.random_state).randint(2**31 - 1))
        seed = base_seed + 1_000_003 * getattr(est, "n_iter_", 0) * continuing
    dev_gen = perm_gen = torch.Generator(device=device).manual_seed(seed + 1)
    if comm.world_size > 1:
        perm_gen = torch.Generator(device=device).manual_seed(seed + 1)
        dev_gen = torch.Generator(device=device).manual_seed(seed + 1 + 104_729 * (comm.rank + 1))
    return Seeds(np.random.default_rng(seed), torch.Generator().manual_seed(seed), dev_gen,
                 perm_gen, seed)


def training_rows(est, n, incremental, rng, comm):
    """Training and validation rows; every rank needs at least one training function."""
    train_rows, val_rows = validation_split(est, n, incremental, rng)
    if len(train_rows) < comm.world_size:
        raise ValueError(
            f"the process group has {comm.world_size} ranks but the fit has "
            f"{len(train_rows)} training functions; every rank needs at least one. Launch "
            "fewer processes or pass more functions.")
    return train_rows, val_rows


def checked_physics(est, data, components, val_rows):
    """The physics term's own checks against the fit (a table trunk cannot be differentiated)."""
    if est.physics is not None:
        est.physics.check_fit(FitCheck(
            trunk=components[1],
            validation_targets=None if val_rows is None else _data.data_rows(data.G, val_rows)))


def rows_of(data, rows):
    """``(U, G, coords)`` of the functions ``rows``."""
    coords = data.coords[rows] if data.per_function else data.coords
    return data.U[rows], _data.data_rows(data.G, rows), coords


def starting_network(est, data, rows, components, generator, device, continuing, comm):
    """The fitted network (continuing) or a new one; rank 0's on every rank, checked."""
    if continuing:
        network = copy.deepcopy(est.network_).to(device)
    else:
        branch, trunk, input_sizes = components
        U, G, coords = rows_of(data, rows)
        network = build(est, U, G, coords, branch, trunk, input_sizes, data.input_shape,
                        generator).to(device)
    comm.broadcast_module(network)  # every rank starts from rank 0's network
    if est.output_transform is not None:
        check_output_transform(network, data.U[rows[:2]], _coords.finite_points(data.coords),
                                device)
    return network


def prepared_physics(est, network, data, generator):
    """A private, prepared copy of the ``physics=`` term, or None."""
    if est.physics is None:
        return None
    physics = copy.deepcopy(est.physics).check()
    physics.prepare(PhysicsContext(
        coords=data.coords, n_functions=data.n_functions, n_eval=est.n_eval,
        device=data.device, generator=generator, y_shift=network.y_shift.detach(),
        y_scale=network.y_scale.detach(), g_shift=network.g_shift.detach(),
        g_scale=network.g_scale.detach(), n_outputs=est.n_outputs))
    return physics


def validation_of(data, val_rows, device, comm):
    """The early-stopping score of a network on the held-out rows, or None."""
    if val_rows is None:
        return None
    U_val, G_val, coords_val = rows_of(data, val_rows)

    def validation_fn(net):  # computed once, by rank 0, for every rank
        score = validation_score(net, U_val, G_val, coords_val, device) if comm.rank == 0 \
            else None
        return comm.from_rank0(score)
    return validation_fn


def loop_settings(est, incremental, schedule, n_train, world_size, validating, optimizer):
    """The loop's budget: epochs, batch size, total steps, tolerance, L-BFGS polish."""
    n_epochs = 1 if incremental else est.max_iter
    batch_size = min(64 if est.batch_size == "auto" else est.batch_size, n_train)
    # A schedule with a budget runs its course: the training loss alone does
    # not stop it (a validation score still does, with early_stopping).
    tol = est.tol if (schedule.tol_applies or validating) else None
    return dict(n_epochs=n_epochs, batch_size=batch_size, tol=tol,
                total_steps=n_epochs * math.ceil(n_train / (batch_size * world_size)),
                n_iter_no_change=est.n_iter_no_change, max_time=est.max_time,
                lbfgs_iter=0 if incremental else optimizer.polish_iter,
                mixed_precision=est.mixed_precision)


def fit_threads(est, network, sampler, data, batch_size, device):
    """torch's threads for the training loop (see :func:`choose_threads`)."""
    trunk_points = min(data.n_points, batch_size * (getattr(sampler, "n_eval_", None)
                                                   or data.n_points))
    return choose_threads(est.n_jobs, network, batch_size, device, trunk_points)


def make_plan(est, U, G, incremental, started=None, coords=None, seed=None):
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
    seed : int, default=None
        The fit's seed (a resumed fit's); None draws it from ``random_state``.

    Returns
    -------
    plan : FitPlan
    """

    started = time.perf_counter() if started is None else started
    comm = communicator()  # the ranks compared their calls first (_distributed.ranks_agree)
    continuing = hasattr(est, "network_") and (incremental or est.warm_start)
    data = checked_data(est, U, G, coords, continuing, incremental)
    components = checked_components(est, data)
    if continuing:
        check_continuation(est, data.coords, components[2])
    device = resolve_device(est.device)
    schedule = as_schedule("constant" if incremental else est.learning_rate).check()
    optimizer = as_optimizer(est.optimizer).check()
    with torch_threads(planning_threads(est.n_jobs)):  # the user's modules run here too
        return _planned(est, data, components, device, (schedule, optimizer), comm,
                        continuing, incremental, started, seed)


def _planned(est, data, components, device, specs, comm, continuing, incremental, started,
             seed):
    """:func:`make_plan` from the checked data and components on: networks, samplers, loss."""
    schedule, optimizer = specs
    rng = seeds(est, continuing, device, comm, seed)
    train_rows, val_rows = training_rows(est, len(data.U), incremental, rng.rng, comm)
    checked_physics(est, data, components, val_rows)  # before the build
    network = starting_network(est, data, train_rows, components, rng.cpu, device, continuing,
                               comm)
    U_train, G_train, coords_train = rows_of(data, train_rows)
    tensors = training_data(network, U_train, G_train, coords_train, device, data.has_missing)
    loss = prepared_loss(est.loss, tensors)
    # without physics check_targets guarantees observed values: no pass over G
    has_data = not data.has_missing or est.physics is None or bool(_observed_any(tensors))
    physics = prepared_physics(est, network, tensors, rng.device)
    loop = loop_settings(est, incremental, schedule, len(train_rows), comm.world_size,
                         val_rows is not None, optimizer)
    sampler = setup_sampler(est.sampling, est.n_eval, network, tensors, loop["n_epochs"],
                            data.has_missing, rng.device)
    validation_fn = validation_of(data, val_rows, device, comm)
    return FitPlan(
        coords=None if data.per_function else data.coords, device=device,
        continuing=continuing, incremental=incremental, input_sizes=components[2],
        network=network, optimizer=_optimizer(est, optimizer, network, device, continuing),
        optimizer_spec=optimizer, data=tensors, seed=rng.seed,
        sampler=sampler, loss=loss, generator=rng.device, perm_generator=rng.permutation,
        comm=comm, schedule=schedule, validation_fn=validation_fn, started=started,
        physics=physics, has_data=has_data,
        n_threads=fit_threads(est, network, sampler, tensors, loop["batch_size"], device),
        compile_mode=_compile_mode(est, device), **loop)
