"""A POD-DeepONet trained on every point: the Gram path against the grid path.

With a fixed table trunk (``PODTrunk()``), ``sampling="full"`` and the MSE or
relative L2 loss, a step evaluates the loss as a quadratic form in the
branch's coefficients (``skoperator._objective.TableGram``) instead of
forming the (batch, n_points) outputs, their residual and the backward of
both. This script times both paths on the shape of the ``navier-stokes-1e-3``
record (an FNO branch over ten 64 x 64 snapshots, 256 POD modes over
64 x 64 x 40 = 163,840 output points, batch 8) on random data of that
shape (300 functions; the cost does not depend on the values), in one run,
and checks that both fits end at the same training loss (the exactness of
the path is tested in ``tests/test_training.py``).

Target: a Gram-path epoch <= 0.5x a grid-path epoch on this shape.

    python benchmarks/bench_pod_gram.py            # about two minutes, one thread
    python benchmarks/bench_pod_gram.py --quick    # 16 x 16 snapshots
"""

import contextlib

import _common
import numpy as np

import skoperator._training as training
from skoperator import DeepONetRegressor
from skoperator.networks import FNOBranch, PODTrunk


@contextlib.contextmanager
def grid_path():
    """Force the grid path (as before the Gram path existed)."""
    applies = training.TableGram.applies
    training.TableGram.applies = staticmethod(lambda *args: False)
    try:
        yield
    finally:
        training.TableGram.applies = applies


def data(n, side, n_times, rng):
    """Inputs (n, 10 * side^2), coordinates (x, y, t) and low-rank targets (n, n_times * side^2)."""
    U = rng.standard_normal((n, 10 * side * side)).astype(np.float32)
    axes = np.meshgrid(np.arange(n_times), np.arange(side), np.arange(side), indexing="ij")
    Y = np.stack([axes[1].ravel() / side, axes[2].ravel() / side,
                  axes[0].ravel() / n_times], axis=1)
    G = (rng.standard_normal((n, 300)) @ rng.standard_normal((300, Y.shape[0]))
         + 0.1 * rng.standard_normal((n, Y.shape[0]))).astype(np.float32)
    return U, Y, G


def main():
    p = _common.parser(__doc__.splitlines()[0])
    args = p.parse_args()
    device = _common.setup(args)
    side, n_times, n, epochs = (16, 10, 100, 3) if args.quick else (64, 40, 300, 3)
    U, Y, G = data(n, side, n_times, np.random.default_rng(0))
    n_basis = 64 if args.quick else 256
    print(f"# {n} functions, {side} x {side} x 10 inputs, {G.shape[1]:,} output points, "
          f"{n_basis} POD modes, batch 8, {epochs} epochs per path (median epoch, the first "
          "left out)")

    def estimator():
        return DeepONetRegressor(
            branch=FNOBranch(grid=(side, side), channels=10, modes=min(12, side // 2), width=20,
                             n_layers=4, head_layers=(128,)),
            trunk=PODTrunk(), n_basis=n_basis, coords=Y,
            sampling="full", loss="relative_l2", learning_rate_init=2e-3,
            learning_rate="onecycle", batch_size=8, max_iter=epochs, tol=None, device=device,
            random_state=0)

    est_gram = estimator()
    gram_fit, gram_epoch = _common.fit_timed(est_gram, U, G, device)
    with grid_path():
        est_grid = estimator()
        grid_fit, grid_epoch = _common.fit_timed(est_grid, U, G, device)
    _common.line("grid path (the (batch, n_points) product)", grid_epoch)
    _common.line("Gram path (the quadratic form)", gram_epoch)
    loss_gram, loss_grid = (e.history_[-1]["train_loss"] for e in (est_gram, est_grid))
    print(f"# whole fits: grid {grid_fit:.1f} s, Gram {gram_fit:.1f} s (the Gram statistics "
          f"are computed in the first epoch); last training loss: grid {loss_grid:.6g}, "
          f"Gram {loss_gram:.6g}")
    _common.verdict("Gram epoch / grid epoch", gram_epoch / grid_epoch, 0.5, at_least=False)
    _common.verdict("same training loss: |Gram / grid - 1|", abs(loss_gram / loss_grid - 1),
                    1e-3, at_least=False, what="value")

if __name__ == "__main__":
    main()
