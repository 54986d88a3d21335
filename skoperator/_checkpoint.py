"""Checkpoints: the complete state of a fit between two steps, written and read safely.

:func:`capture` takes everything a fit needs to continue exactly (weights,
optimizer state, every random generator of every rank, the sampler's, loss's
and physics term's state, the position in the epoch and in the schedule, the
stopping state, the history and the time spent); :func:`load_into` puts it
back into a freshly planned fit. Files are zips of ``state.json`` and
``weights.safetensors`` encoded by :mod:`skoperator._codec` (no pickle),
written beside their final name and renamed into place, so that a crash
mid-write leaves the previous checkpoint intact.
"""

import json
import os
import re
import time
import zipfile
from pathlib import Path

import torch
from sklearn.base import BaseEstimator

from ._codec import (
    WEIGHTS,
    Reader,
    Unsupported,
    Writer,
    allowed_types,
    as_complex,
    as_real,
    load_tensors,
    save_tensors,
)
from ._distributed import communicator, fingerprint
from ._records import EpochRecord, EpochRun

FORMAT = "skoperator-checkpoint"
VERSION = 1
_STATE = "state.json"
_NAME = re.compile(r"^checkpoint-(\d{9})\.skc$")
#: Settings that may change between a fit and its resume.
_FREE = ("verbose", "callbacks", "n_jobs", "device")


def fit_fingerprint(est, U, G, coords):
    """What a checkpoint must agree with: the data, the settings, and where the call starts.

    ``start`` is the epochs of the fitted model a ``warm_start`` call
    continues from (0 for a fit from scratch): the checkpoints of an
    earlier call of the same estimator are not resumed by a later one.
    """
    found = fingerprint(est, U, G, est.coords if coords is None else coords)
    found["settings"] = {k: v for k, v in found["settings"].items() if k not in _FREE}
    found["start"] = int(getattr(est, "n_iter_", 0)) if est.warm_start else 0
    found["incremental"] = False  # resume_point marks a partial_fit call's
    found["processes"] = communicator().world_size  # the global batch, the generators' count
    return found


# ------------------------------------------------------------------ capture


#: Marks the saved state of a component held by a component (a physics term's sampler):
#: put back into the resumed fit's own, set up by its planning, not created from the file.
_NESTED = "state of the component"


def _component_state(obj, writer, where):
    """The attributes of a component that the codec can save (its fitted state)."""
    if obj is None:
        return None
    out = {}
    for name, value in vars(obj).items():
        if isinstance(value, BaseEstimator):  # its own state, recursively
            out[name] = {_NESTED: _component_state(value, writer, f"{where}.{name}")}
            continue
        if callable(value) and not torch.is_tensor(value):
            continue
        try:
            out[name] = writer.encode(value, f"{where}.{name}")
        except Unsupported:
            continue  # set up again, identically, by the resumed fit's planning
    return out


def _generators(trainer):
    """The states of the fit's generators on every rank, (world_size, 2, n) bytes."""
    plan = trainer.plan
    mine = torch.stack([plan.generator.get_state(), plan.perm_generator.get_state()])
    return trainer.comm.gather(mine)


def capture(trainer, est_fingerprint, finished=None):
    """The document and tensors of a checkpoint of ``trainer``'s fit, now."""
    plan, writer = trainer.plan, Writer(allowed_types(None))
    state = trainer.state
    optimizer = trainer.optimizer.state_dict()
    run = trainer.current
    document = {
        "format": FORMAT, "format_version": VERSION, "seed": int(plan.seed),
        "fingerprint": writer.encode(est_fingerprint, "fingerprint"),
        "network": writer.encode(as_real(dict(trainer.network.state_dict())), "network"),
        "optimizer": {
            "state": {str(k): writer.encode(as_real(v), f"optimizer.state.{k}")
                      for k, v in optimizer["state"].items()},
            "param_groups": writer.encode(optimizer["param_groups"], "optimizer.groups")},
        "generators": writer.encode(_generators(trainer), "generators"),
        "sampler": _component_state(trainer.sampler, writer, "sampler"),
        "loss": _component_state(trainer.loss, writer, "loss"),
        "physics": _component_state(plan.physics, writer, "physics"),
        "step_count": trainer.step_count,
        "elapsed": time.perf_counter() - trainer.start,
        "first_epoch": trainer.first_epoch,
        "current": None if run is None else writer.encode(
            {**vars(run), "seconds": time.perf_counter() - trainer.epoch_tic}, "current"),
        "history": [writer.encode(r if isinstance(r, dict) else vars(r), f"history[{i}]")
                    for i, r in enumerate(state.history)],
        "stopping": writer.encode({
            "best_score": state.best_score, "best_loss": state.best_loss,
            "no_improvement": state.no_improvement,
            "best_weights": as_real(state.best_weights)},
            "stopping"),
        "finished": finished,
    }
    return document, writer.tensors


# --------------------------------------------------------------------- load
def _set_component_state(obj, saved):
    for name, value in (saved or {}).items():
        current = getattr(obj, name, None)
        if isinstance(value, dict) and set(value) == {_NESTED}:
            if current is not None:  # the resumed fit's own component, set up as before
                _set_component_state(current, value[_NESTED])
            continue
        if torch.is_tensor(value) and torch.is_tensor(current):
            value = value.to(current.device)
        setattr(obj, name, value)


def load_into(trainer, document, tensors):
    """Put a checkpoint's state into a freshly planned ``trainer`` (its fit resumes)."""
    plan, reader = trainer.plan, Reader(allowed_types(None), tensors)
    device = plan.data.device
    try:
        trainer.network.load_state_dict(as_complex(reader.decode(document["network"], "network")))
    except RuntimeError as exc:  # a module the fingerprint could not tell apart
        raise ValueError(f"the checkpoint's weights do not fit this fit's network ({exc}); "
                         "it was written by a fit of another architecture. Delete the "
                         "checkpoints (or point Checkpoint at another directory) to start "
                         "afresh.") from exc
    optimizer = {"state": {int(k): as_complex(reader.decode(v, "optimizer.state"))
                           for k, v in document["optimizer"]["state"].items()},
                 "param_groups": reader.decode(document["optimizer"]["param_groups"],
                                               "optimizer.groups")}
    trainer.optimizer.load_state_dict(optimizer)
    states = reader.decode(document["generators"], "generators")[trainer.comm.rank]
    plan.generator.set_state(states[0].clone())
    plan.perm_generator.set_state(states[1].clone())
    _set_component_state(trainer.sampler, reader.decode(document["sampler"], "sampler"))
    _set_component_state(trainer.loss, reader.decode(document["loss"], "loss"))
    _set_component_state(plan.physics, reader.decode(document["physics"], "physics"))
    trainer.step_count = int(document["step_count"])
    trainer.start = time.perf_counter() - float(document["elapsed"])
    trainer.first_epoch = int(document["first_epoch"])
    current = reader.decode(document["current"], "current")
    if current is not None:
        for name in ("perm", "total", "total_report"):
            if current[name] is not None:
                current[name] = current[name].to(device)
        trainer.current = EpochRun(**current)
    state = trainer.state
    state.history[:] = [EpochRecord(**reader.decode(r, "history")) for r in document["history"]]
    stopping = reader.decode(document["stopping"], "stopping")
    state.best_score, state.best_loss = stopping["best_score"], stopping["best_loss"]
    state.no_improvement = stopping["no_improvement"]
    state.best_weights = as_complex(stopping["best_weights"])
    trainer.finished = document.get("finished")


# -------------------------------------------------------------------- files
def checkpoints(directory):
    """The checkpoint files in ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if _NAME.match(p.name))


def write(directory, document, tensors, keep):
    """Write a checkpoint atomically (beside, then renamed); keep the last ``keep``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    number = max([int(_NAME.match(p.name).group(1)) for p in checkpoints(directory)] + [0])
    final = directory / f"checkpoint-{number + 1:09d}.skc"
    tmp = directory / f".{final.name}.{os.getpid()}.tmp"
    text = json.dumps(document, allow_nan=False).encode("utf-8")
    with open(tmp, "wb") as handle:
        with zipfile.ZipFile(handle, "w") as archive:
            archive.writestr(_STATE, text, compress_type=zipfile.ZIP_DEFLATED)
            archive.writestr(WEIGHTS, save_tensors(tensors))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, final)
    for old in checkpoints(directory)[:-keep]:
        old.unlink(missing_ok=True)
    return final


def read(path):
    """The document and tensors of a checkpoint file; ValueError if it is not one."""
    try:
        with zipfile.ZipFile(path) as archive:
            document = json.loads(archive.read(_STATE).decode("utf-8"))
            tensors = load_tensors(archive.read(WEIGHTS))
    except ImportError:  # safetensors is missing: the [io] extra; the file may be fine
        raise
    except Exception as exc:  # a damaged zip, JSON or safetensors (each has its own errors)
        raise ValueError(f"{path} is not a readable skoperator checkpoint "
                         f"({type(exc).__name__}: {exc}); delete it to start afresh.") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT \
            or document.get("format_version") != VERSION:
        raise ValueError(f"{path} is not a skoperator checkpoint of format version {VERSION}; "
                         "delete it to start afresh.")
    return document, tensors


def check_fingerprint(path, document, expected):
    """Whether to resume a checkpoint: True for this fit's, False for an earlier call's.

    Raises ``ValueError`` for a checkpoint of another fit (other data or
    settings).
    """
    saved = Reader(allowed_types(None), {}).decode(document["fingerprint"], "fingerprint")
    if saved.get("incremental") or saved.get("start", 0) < expected["start"]:
        # a partial_fit call's (never resumed), or an earlier call's, which a
        # warm_start call continues (or replaces)
        return False
    changed = [_array_change(k, saved[k], expected[k]) for k in ("U", "G", "coords")
               if _plain(saved[k]) != _plain(expected[k])]
    if saved.get("processes", 1) != expected["processes"]:
        changed.append(f"the number of processes ({saved.get('processes', 1)} in the "
                       f"checkpoint, {expected['processes']} now)")
    settings, now = saved["settings"], expected["settings"]
    changed += [f"{k} ({settings.get(k)} in the checkpoint, {now.get(k)} now)"
                for k in sorted(set(settings) | set(now)) if settings.get(k) != now.get(k)]
    if changed:
        raise ValueError(
            f"the checkpoint {path} is of another fit: {'; '.join(changed)} differ(s) from "
            "this one's. Resume with the data and settings it was written with, delete the "
            "checkpoints (or point Checkpoint at another directory) to start afresh, or pass "
            "Checkpoint(resume=False).")
    return saved.get("start", 0) == expected["start"]


def _array_change(name, saved, now):
    """What differs in array ``name``: its values, or only how it is stored (and so hashed)."""
    if not (saved and now):
        return f"{name} (its shape or values)"
    how = [str(f[1]).partition(":")[0] if ":" in str(f[1]) else None for f in (saved, now)]
    if _plain(saved[0]) == _plain(now[0]) and None not in how and how[0] != how[1]:
        storage = {"whole": "an array of at most 64 MiB, hashed whole",
                   "rows": "streamed or larger, hashed on 64 rows"}
        return (f"{name} (its storage: {storage[how[0]]} in the checkpoint, "
                f"{storage[how[1]]} now; pass {name} as the checkpointed fit did)")
    return f"{name} (its shape or values)"


def _plain(value):
    """JSON's view of a value (tuples as lists), for comparison."""
    return json.loads(json.dumps(value, default=list))
