"""A fit that a signal interrupts at a chosen step: the subprocess of tests/test_checkpoint.py.

``python tests/checkpoint_worker.py PROBLEM DIRECTORY SIGNAL STEP OUT`` fits
:func:`estimator` (PROBLEM "antiderivative", "fno" or "pod": a POD trunk on
every point, trained through the Gram path) with a
``Checkpoint(DIRECTORY)`` ("-": none); at the STEP-th step the sampler sends
itself SIGNAL ("SIGKILL" or "SIGTERM"; "-": none). When the fit ends (it does
not after SIGKILL), its weights go to OUT (``torch.save``) and its loss curve
to OUT.loss.npy. Under ``torchrun`` every rank fits (each signals itself at
the same step: the ranks are killed together) and rank 0 saves.
"""

import os
import signal
import sys

import numpy as np
import torch

from skoperator import DeepONetRegressor
from skoperator.callbacks import Checkpoint
from skoperator.datasets import make_antiderivative
from skoperator.losses import MSELoss
from skoperator.networks import CNNBranch, FNOBranch, MLPBranch, MLPTrunk, PODTrunk
from skoperator.optimizers import Adam
from skoperator.sampling import RandomSampler


class InterruptingSampler(RandomSampler):
    """Random sampling that sends itself ``SKOP_INTERRUPT`` ("SIGNAL:STEP") at that step.

    ``steps_here`` counts the steps taken in this process (a resumed fit takes fewer).
    """

    steps_here = 0

    def sample(self, rows, generator):
        type(self).steps_here += 1
        self._calls = getattr(self, "_calls", 0) + 1
        _interrupt_at(self._calls)
        return super().sample(rows, generator)


def _interrupt_at(calls):
    spec = os.environ.get("SKOP_INTERRUPT")
    if spec:
        name, step = spec.split(":")
        if calls == int(step):
            os.kill(os.getpid(), getattr(signal, name))


class InterruptingLoss(MSELoss):
    """The mean square error (on the Gram path too) that interrupts as the sampler does.

    It owns both ``__call__`` and ``from_mean_square``, so the Gram path trusts
    it; each step is counted in ``InterruptingSampler.steps_here``.
    """

    def __call__(self, residual, weight, rows):
        return super().__call__(residual, weight, rows)

    def from_mean_square(self, mean_square, rows):
        InterruptingSampler.steps_here += 1
        self._calls = getattr(self, "_calls", 0) + 1
        _interrupt_at(self._calls)
        return super().from_mean_square(mean_square, rows)


def problem(name):
    """(U, G, estimator keywords) of a small problem."""
    if name == "antiderivative":
        U, Y, G = make_antiderivative(120, n_points=30, random_state=0)
        return U, G, dict(coords=Y, n_eval=6, batch_size=16, max_iter=5, n_basis=8,
                          branch=MLPBranch(layers=(16,)), trunk=MLPTrunk(layers=(16,)),
                          learning_rate="onecycle", early_stopping=True,
                          validation_fraction=0.2, n_iter_no_change=50,
                          optimizer=Adam(clip_grad_norm=1.0))
    if name == "pod":
        U, Y, G = make_antiderivative(120, n_points=30, random_state=0)
        return U, G, dict(coords=Y, sampling="full", loss=InterruptingLoss(), batch_size=16,
                          max_iter=5, n_basis=8, branch=MLPBranch(layers=(16,)),
                          trunk=PODTrunk(), learning_rate="onecycle",
                          optimizer=Adam(clip_grad_norm=1.0))
    rng = np.random.default_rng(0)  # a grid input: FNO branch (complex weights)
    x = np.linspace(0, 1, 16)
    Y = np.stack(np.meshgrid(x, x, indexing="ij"), -1).reshape(-1, 2)
    U = rng.normal(size=(48, 16, 16)).astype(np.float32)
    G = (U.reshape(48, -1) * 0.5 + np.sin(Y[:, 0])).astype(np.float32)
    branch = (FNOBranch(width=8, modes=4, n_layers=1, head_layers=(16,)) if name == "fno"
              else CNNBranch(filters=(4,), layers=(16,)))
    return U, G, dict(coords=Y, n_eval=20, batch_size=8, max_iter=3, n_basis=8,
                      branch=branch, trunk=MLPTrunk(layers=(16,)), learning_rate="cosine")


def estimator(name, directory=None, **extra):
    """The problem's data and estimator (with a ``Checkpoint(directory)`` when given)."""
    U, G, kw = problem(name)
    kw.setdefault("sampling", InterruptingSampler())
    callbacks = [Checkpoint(directory)] if directory is not None else None
    est = DeepONetRegressor(**kw, tol=None, device="cpu", random_state=0, callbacks=callbacks,
                            **extra)
    return U, G, est


def main(argv):
    """One fit; under ``torchrun`` (``RANK`` set) every rank fits, rank 0 saves."""
    name, directory, sig, step, out = argv
    torch.set_num_threads(1)
    ranked = "RANK" in os.environ
    if ranked:
        from skoperator.distributed import init_process_group

        init_process_group()
    if sig != "-":
        os.environ["SKOP_INTERRUPT"] = f"{sig}:{step}"
    U, G, est = estimator(name, None if directory == "-" else directory)
    est.fit(U, G)
    if not ranked or int(os.environ["RANK"]) == 0:
        torch.save({k: v.clone() for k, v in est.network_.state_dict().items()}, out)
        np.save(out + ".loss.npy", np.asarray(est.loss_curve_))
    if ranked:  # the ranks end together: a rank that exits while the other still
        # works can abort in gloo's teardown ("terminate called without an active exception")
        torch.distributed.barrier()


if __name__ == "__main__":
    main(sys.argv[1:])
