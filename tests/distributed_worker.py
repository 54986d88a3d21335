"""Run by ``torchrun`` from tests/test_distributed.py: one rank's side of each scenario.

Every rank writes what it saw to ``OUT/<scenario>-<rank>.pkl``; the test
compares the ranks with each other and with a one-process fit.
"""

import os
import pickle
import sys
import time


def antiderivative_residual(y, s, u, d):
    return d(s, 0) - u


def _save(out, name, rank, **what):
    with open(os.path.join(out, f"{name}-{rank}.pkl"), "wb") as f:
        pickle.dump(what, f)


def main(out):
    import numpy as np
    import torch
    import torch.distributed as dist

    from skoperator import DeepONetRegressor
    from skoperator.datasets import make_antiderivative
    from skoperator.distributed import init_process_group
    from skoperator.networks import MLPBranch, MLPTrunk, PODTrunk
    from skoperator.optimizers import LBFGS, Adam
    from skoperator.physics import PDEResidual
    from skoperator.sampling import RandomSampler

    torch.set_num_threads(1)
    init_process_group()
    rank = dist.get_rank()
    U, Y, G = make_antiderivative(96, n_points=30, random_state=0)

    def save(name, **what):
        _save(out, name, rank, **what)

    def weights(est):
        return {k: v.detach().numpy().copy() for k, v in est.network_.state_dict().items()}

    base = dict(coords=Y, branch=MLPBranch(layers=(16, 16)), trunk=MLPTrunk(layers=(16, 16)),
                n_basis=12, tol=None, random_state=0, learning_rate_init=3e-3)
    for epochs in (1, 20):
        est = DeepONetRegressor(sampling="full", batch_size=8, max_iter=epochs, **base).fit(U, G)
        save(f"full{epochs}", weights=weights(est), n_iter=est.n_iter_, loss=est.loss_curve_)
    # a POD trunk on every point: the Gram path (its steps read no targets)
    from skoperator._objective import TableGram

    built, init = [], TableGram.__init__
    TableGram.__init__ = lambda self, *a: (built.append(1), init(self, *a))[1]
    try:
        est = DeepONetRegressor(sampling="full", batch_size=8, max_iter=6,
                                **dict(base, trunk=PODTrunk(), n_basis=8)).fit(U, G)
    finally:
        TableGram.__init__ = init
    save("gram", weights=weights(est), n_iter=est.n_iter_, loss=est.loss_curve_,
         gram_built=len(built))

    class Recording(RandomSampler):
        def sample(self, rows, generator):
            cols, weight = super().sample(rows, generator)
            self.draws_ = getattr(self, "draws_", []) + [cols.clone()]
            return cols, weight

    est = DeepONetRegressor(sampling="random", n_eval=10, batch_size=8, max_iter=150,
                            learning_rate="onecycle", **base).fit(U[:80], G[:80])
    rec = est.history_
    save("random", weights=weights(est), n_iter=est.n_iter_, history=rec,
         pred=est.predict(U[80:]))
    with open(os.path.join(out, f"model-{rank}.pkl"), "wb") as f:
        pickle.dump(est, f)

    # draws: a fresh fit whose sampler copy we can reach through the plan
    from skoperator._callbacks import CallbackList
    from skoperator._planning import make_plan
    from skoperator._training import StoppingState, Trainer

    plan = make_plan(DeepONetRegressor(sampling=Recording(), n_eval=5, batch_size=8,
                                       max_iter=1, **base), U, G, incremental=False)
    Trainer(plan, CallbackList([], None)).run(1, StoppingState())
    save("draws", draws=[d.numpy() for d in plan.sampler.draws_])

    est = DeepONetRegressor(sampling="random", n_eval=5, batch_size=8, max_iter=200,
                            early_stopping=True, validation_fraction=0.2, n_iter_no_change=3,
                            **{**base, "tol": 1e-3}).fit(U, G)
    save("early", n_iter=est.n_iter_, reason=est.stopping_reason_,
         scores=est.validation_scores_)
    # uneven speeds: rank 1 is slowed down, both must still stop at the same step
    if rank == 1:
        torch.set_num_threads(1)
    tic = time.perf_counter()
    est = DeepONetRegressor(sampling="random", n_eval=5, batch_size=4, max_iter=10**6,
                            max_time=1.5, **base).fit(U, G)
    save("max_time", n_iter=est.n_iter_, reason=est.stopping_reason_, weights=weights(est),
         seconds=time.perf_counter() - tic)
    est = DeepONetRegressor(sampling="random", n_eval=5, batch_size=8, max_iter=3,
                            optimizer=Adam(polish=LBFGS(max_iter=10)), **base).fit(U, G)
    save("lbfgs", weights=weights(est), history=est.history_)

    # random_state=None: one permutation and one validation split (rank 0's seed)
    class RowRecording(RandomSampler):
        def sample(self, rows, generator):
            self.rows_ = getattr(self, "rows_", []) + [rows.clone()]
            return super().sample(rows, generator)

    plan = make_plan(DeepONetRegressor(sampling=RowRecording(), n_eval=5, batch_size=8,
                                       max_iter=1, early_stopping=True,
                                       validation_fraction=0.25,
                                       **{**base, "random_state": None}), U[:64], G[:64],
                     incremental=False)
    Trainer(plan, CallbackList([], None)).run(1, StoppingState())
    save("none_rows", rows=[r.numpy() for r in plan.sampler.rows_], U=plan.data.U.numpy())
    # random_state=None, each rank building another network: rank 0's is broadcast
    torch.manual_seed(rank)
    own = torch.nn.Sequential(torch.nn.Linear(U.shape[1], 16), torch.nn.Tanh(),
                              torch.nn.Linear(16, 12))
    est = DeepONetRegressor(sampling="random", n_eval=5, batch_size=8, max_iter=3,
                            early_stopping=True, optimizer=Adam(polish=LBFGS(max_iter=3)),
                            **{**base, "branch": own, "random_state": None}).fit(U, G)
    save("none_model", weights=weights(est), scores=est.validation_scores_)
    # a RandomState instance (its repr differs between processes): rank 0's draw
    est = DeepONetRegressor(sampling="random", n_eval=5, batch_size=8, max_iter=2,
                            **{**base, "random_state": np.random.RandomState(rank)}).fit(U, G)
    save("rng_instance", weights=weights(est))
    # against one process (tests/test_distributed.py): an uneven last batch (69 = 2 x 32 + 5,
    # split 3 + 2), missing targets (each rank's observed share), the L-BFGS polish
    full = dict(base, tol=None)
    est = DeepONetRegressor(sampling="full", batch_size=16, max_iter=2, **full).fit(U[:69], G[:69])
    save("uneven", weights=weights(est), loss=est.loss_curve_)
    missing = G.copy()
    missing[np.random.default_rng(0).random(G.shape) < 0.3] = np.nan
    missing[:5, :25] = np.nan  # functions with few observed points
    for loss in ("mse", "relative_l2"):
        est = DeepONetRegressor(sampling="full", batch_size=16, max_iter=2, loss=loss,
                                **full).fit(U[:69], missing[:69])
        save(f"nan_{loss}", weights=weights(est), loss=est.loss_curve_)
    est = DeepONetRegressor(sampling="full", batch_size=8, max_iter=1,
                            optimizer=Adam(polish=LBFGS(max_iter=10)),
                            **full).fit(U[:69], missing[:69])
    save("lbfgs_full", weights=weights(est), loss=est.loss_curve_)
    # physics with a partly observed G (its points: every coordinate, in any order), and
    # alone; one epoch, since one process draws its permutations from the generator of the
    # physics draws
    physics = PDEResidual(antiderivative_residual, sensors=np.linspace(0, 1, U.shape[1]),
                          n_points=30)
    for name, targets in (("physics_nan", missing), ("physics_only", np.full_like(G, np.nan))):
        est = DeepONetRegressor(sampling="full", batch_size=16, max_iter=1, physics=physics,
                                **full).fit(U[:69], targets[:69])
        save(name, weights=weights(est), loss=est.loss_curve_)

    bad = G.copy()
    if rank == 1:
        bad[3, 4] += 1.0
    try:
        DeepONetRegressor(max_iter=2, **base).fit(U, bad)
        save("mismatch", error=None)
    except ValueError as exc:
        save("mismatch", error=str(exc))
    # a setting only rank 1 gets wrong, and coordinates passed to fit that differ: every rank
    # fails (neither validates alone and leaves the other waiting)
    for name, params, fit_coords in (
            ("bad_setting", dict(max_iter=-1 if rank == 1 else 2), None),
            ("fit_coords", dict(max_iter=2), base["coords"] * (1 + rank))):
        try:
            DeepONetRegressor(**{**base, **params}).fit(U, G, coords=fit_coords)
            save(name, error=None)
        except ValueError as exc:
            save(name, error=str(exc))
    dist.barrier()
    save("done")  # every result is written: the group ends at exit (the package's own path)


def too_many(out):
    import numpy as np
    import torch.distributed as dist

    from skoperator import DeepONetRegressor
    from skoperator.distributed import init_process_group

    init_process_group()
    rng = np.random.default_rng(0)
    try:
        DeepONetRegressor(max_iter=1).fit(rng.normal(size=(2, 5)), rng.normal(size=(2, 4)))
        error = None
    except ValueError as exc:
        error = str(exc)
    _save(out, "too_many", dist.get_rank(), error=error)
    dist.barrier()
    _save(out, "done", dist.get_rank())  # the group ends at exit, as in main


def processes(out):
    """A checkpoint of one process refused by two; a pandas frame as U under ranks."""
    import pandas as pd
    import torch.distributed as dist

    from skoperator import DeepONetRegressor
    from skoperator.callbacks import Checkpoint
    from skoperator.datasets import make_antiderivative
    from skoperator.distributed import init_process_group

    init_process_group()
    rank = dist.get_rank()
    U, Y, G = make_antiderivative(64, n_sensors=20, n_points=30, random_state=0)
    est = DeepONetRegressor(coords=Y, n_basis=8, tol=None, random_state=0, batch_size=8,
                            max_iter=2, callbacks=[Checkpoint(f"{out}/ckpt")])
    try:
        est.fit(U, G)
        error = None
    except ValueError as exc:
        error = str(exc)
    frame = pd.DataFrame(U, columns=[f"s{i}" for i in range(U.shape[1])])
    fitted = DeepONetRegressor(coords=Y, n_basis=8, tol=None, random_state=0, batch_size=8,
                               max_iter=1).fit(frame, G)
    _save(out, "processes", rank, error=error, frame_features=list(fitted.feature_names_in_))
    dist.barrier()
    _save(out, "done", rank)


if __name__ == "__main__":
    {"main": main, "too_many": too_many, "processes": processes}[sys.argv[1]](sys.argv[2])
