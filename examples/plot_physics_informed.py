"""
==========================================================
Physics-informed training: an operator from its equation
==========================================================

A DeepONet can learn an operator with no output data at all, from the
equation it solves. Here the operator maps ``u`` to the antiderivative ``s``:

.. math::

   \\frac{ds}{dx} = u(x), \\qquad s(0) = 0, \\qquad x \\in [0, 1].

:class:`~skoperator.physics.PDEResidual` adds the mean square of the
residual ``ds/dx - u`` at collocation points drawn per function, fresh every
step, to the loss; ``G`` is passed entirely missing (NaN), so the residual is
the whole loss. The condition ``s(0) = 0`` is exact, through
``output_transform``.
"""

# %%
# The residual and the exact condition
# ------------------------------------
# The residual gets the coordinates ``y`` (batch, m, 1), the network's output
# there ``s`` (batch, m), the input function there ``u`` (linear
# interpolation of the sensor values) and a derivative helper ``d``. Both are
# module-level functions, so the fitted estimator pickles.
import os

import matplotlib.pyplot as plt
import numpy as np

from skoperator import DeepONetRegressor
from skoperator.datasets import make_antiderivative
from skoperator.metrics import mean_relative_l2_error
from skoperator.networks import MLPBranch, MLPTrunk
from skoperator.physics import PDEResidual


def residual(y, s, u, d):
    return d(s, 0) - u


def zero_at_origin(y, out):
    return y[..., 0] * out


# The test suite sets SKOPERATOR_EXAMPLE_QUICK=1 to run a tiny version.
QUICK = os.environ.get("SKOPERATOR_EXAMPLE_QUICK") == "1"
n_train, n_test, seconds = (50, 10, 3.0) if QUICK else (1000, 200, 40.0)

U, Y, G = make_antiderivative(n_train + n_test, random_state=0)
U_train, U_test, G_test = U[:n_train], U[n_train:], G[n_train:]

# %%
# Fit from the equation alone
# ---------------------------
# SiLU networks (smooth, with cheap derivatives; the recipe of the
# ``antiderivative-physics`` benchmark), 32 collocation points per function
# and step, 64 functions per step, for a fixed wall time. ``G`` is all NaN:
# no solution is ever shown to the model.
physics = PDEResidual(residual, sensors=Y[:, 0], n_points=32)
est = DeepONetRegressor(
    coords=Y, physics=physics, output_transform=zero_at_origin,
    branch=MLPBranch(layers=(40, 40, 40), activation="silu"),
    trunk=MLPTrunk(layers=(40, 40, 40), activation="silu"), n_basis=40,
    learning_rate_init=3e-3, learning_rate="onecycle", batch_size=64,
    max_iter=100_000, max_time=seconds, tol=None, random_state=0)
est.fit(U_train, np.full((n_train, len(Y)), np.nan))
pred = est.predict(U_test)
print(f"{est.n_iter_} epochs; mean relative L2 error on held-out functions: "
      f"{mean_relative_l2_error(G_test, pred):.2e}")

# %%
# Predictions against the exact antiderivatives
# ----------------------------------------------
fig, axes = plt.subplots(1, 3, figsize=(11, 3))
for ax, i in zip(axes, range(3)):
    ax.plot(Y[:, 0], U_test[i], color="0.7", label="u")
    ax.plot(Y[:, 0], G_test[i], "k", label="exact s")
    ax.plot(Y[:, 0], pred[i], "--", color="C1", label="physics-informed")
    ax.set_xlabel("x")
axes[0].legend()
fig.tight_layout()
plt.show()

# %%
# The training loss is the residual's mean square
# -----------------------------------------------
plt.figure(figsize=(5, 3))
plt.semilogy([h["train_loss"] for h in est.history_])
plt.xlabel("epoch")
plt.ylabel("mean square residual")
plt.tight_layout()
plt.show()
