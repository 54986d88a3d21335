"""
==============================================
Navier-Stokes: vorticity in space and in time
==============================================

The time-dependent benchmark of the Fourier neural operator paper: 2-D
incompressible flow on the unit torus, in vorticity form, forced by
``0.1 (sin 2 pi (x + y) + cos 2 pi (x + y))``. The operator maps the first
snapshots of the vorticity ``w(t)`` to the later ones.

A DeepONet treats time as one more trunk coordinate: the branch reads the
input snapshots as channels of a grid (:class:`~skoperator.networks.FNOBranch`
with ``channels=``), the trunk reads points ``(x, y, t)``. Trained on random
points of the space-time output, the model then answers any ``t`` of the
window, between snapshots too. This example is small (a 32 x 32 grid,
``nu = 1e-3``, a short window) so that it runs in about a minute; the
benchmark itself is ``python -m skoperator.reproduce navier-stokes-1e-3``.
"""

# %%
# Data
# ----
# :func:`~skoperator.datasets.make_navier_stokes` draws initial vorticities
# and solves for them (pseudo-spectral, in torch). The inputs are ``w(t)`` for
# ``t = 1 .. 4``; the outputs ``w(t)`` for ``t = 5 .. 8``, at points
# ``(x, y, t)``.
import os

import matplotlib.pyplot as plt
import numpy as np

from skoperator import DeepONetRegressor
from skoperator.datasets import make_navier_stokes
from skoperator.metrics import mean_relative_l2_error
from skoperator.networks import FNOBranch, MLPTrunk

# The test suite sets SKOPERATOR_EXAMPLE_QUICK=1 to run a tiny version.
QUICK = os.environ.get("SKOPERATOR_EXAMPLE_QUICK") == "1"
n_train, n_test, epochs = (12, 4, 2) if QUICK else (200, 20, 40)
n, n_in, t_final = 32, 4, 8

U, Y, G = make_navier_stokes(n_train + n_test, n_points=n, n_inputs=n_in, t_final=t_final,
                             resolution=n, steps_per_unit=50, dtype="float32",
                             random_state=0)
U_train, G_train, U_test, G_test = U[:n_train], G[:n_train], U[n_train:], G[n_train:]
print(f"U {U.shape} (snapshots t = 1..{n_in} as channels), Y {Y.shape} (x, y, t)")

# %%
# Fit: a Fourier-layer branch over the snapshots, an MLP trunk over (x, y, t)
# ---------------------------------------------------------------------------
model = DeepONetRegressor(
    coords=Y,
    branch=FNOBranch(grid=(n, n), channels=n_in, modes=8, width=16, head_layers=(64,)),
    trunk=MLPTrunk(layers=(64, 64, 64), activation="gelu"), n_basis=32, n_eval=512,
    loss="relative_l2", learning_rate_init=2e-3, learning_rate="onecycle", batch_size=8,
    max_iter=epochs, tol=None, random_state=0)
model.fit(U_train, G_train)
G_pred = model.predict(U_test)
print(f"mean relative L2 on {n_test} test trajectories: "
      f"{mean_relative_l2_error(G_test, G_pred):.4f}")

# %%
# Any t: between the snapshots
# ----------------------------
# The trunk takes any ``t`` of the window: here ``t = 6.5``, which no training
# output held.
x = np.arange(n) / n
X1, X2 = np.meshgrid(x, x, indexing="ij")
between = np.column_stack([X1.ravel(), X2.ravel(), np.full(n * n, 6.5)])
w_between = model.predict(U_test[:1], coords=between).reshape(n, n)

# %%
# Truth beside prediction
# -----------------------
# One test trajectory: the last input snapshot, then the true and predicted
# vorticity at ``t = 5``, ``6.5`` (prediction only) and ``8``.
truth = G_test[0].reshape(t_final - n_in, n, n)
pred = G_pred[0].reshape(t_final - n_in, n, n)
scale = np.abs(truth).max()
fig, axes = plt.subplots(2, 4, figsize=(13, 6.5), layout="constrained")
panels = [
    (axes[0, 0], U_test[0].reshape(n_in, n, n)[-1], f"input w(t = {n_in})"),
    (axes[0, 1], truth[0], "truth t = 5"),
    (axes[0, 2], truth[-1], f"truth t = {t_final}"),
    (axes[0, 3], truth[-1] - pred[-1], f"error t = {t_final}"),
    (axes[1, 0], w_between, "prediction t = 6.5"),
    (axes[1, 1], pred[0], "prediction t = 5"),
    (axes[1, 2], pred[-1], f"prediction t = {t_final}"),
]
for ax, field, title in panels:
    im = ax.imshow(field.T, origin="lower", extent=(0, 1, 0, 1), cmap="RdBu_r",
                   vmin=-scale, vmax=scale)
    ax.set_title(title)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
axes[1, 3].axis("off")
fig.colorbar(im, ax=axes, shrink=0.6, label="vorticity w")
plt.show()
