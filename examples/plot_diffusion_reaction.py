"""
===================================================
Diffusion-reaction: space-time fields from a source
===================================================

The second benchmark of Karumuri et al. (2024) maps a source term ``s(x)`` to
the solution ``u(x, t)`` of the nonlinear diffusion-reaction equation

.. math::

   \\partial_t u = D\\, \\partial_{xx} u + k u^2 + s(x), \\qquad
   x, t \\in [0, 1],

with zero boundary and initial values (``D = k = 0.01``). Each output function
is a whole space-time field: 101 times x 100 positions = 10,100 points, which
is where evaluating a few random points per function and step, instead of all
10,100, pays off.
"""

# %%
# Data: one row of ``G`` is a space-time field
# --------------------------------------------
# :func:`~skoperator.datasets.make_diffusion_reaction` returns ``Y`` with
# columns ``(t, x)`` in t-major order, so ``G[i].reshape(n_times, n_sensors)``
# is the field of function ``i`` with time along the first axis.
import os

import matplotlib.pyplot as plt
import numpy as np

from skoperator import DeepONetRegressor
from skoperator.datasets import make_diffusion_reaction
from skoperator.metrics import mean_function_r2

# The test suite sets SKOPERATOR_EXAMPLE_QUICK=1 to run a tiny version.
QUICK = os.environ.get("SKOPERATOR_EXAMPLE_QUICK") == "1"
n_train, n_test, epochs = (40, 10, 2) if QUICK else (800, 200, 300)
n_times, n_sensors = (11, 20) if QUICK else (101, 100)

U, Y, G = make_diffusion_reaction(n_train + n_test, n_sensors=n_sensors, n_times=n_times,
                                  random_state=0)
U_train, G_train, U_test, G_test = U[:n_train], G[:n_train], U[n_train:], G[n_train:]
print("U", U.shape, " Y", Y.shape, " G", G.shape)

# %%
# Fit with 100 random points per field and step
# ---------------------------------------------
# Each step sees 100 of the 10,100 points of every field in the mini-batch,
# a different 100 for every field and every step.
est = DeepONetRegressor(coords=Y, n_eval=min(100, Y.shape[0]), batch_size=50,
                        max_iter=epochs, learning_rate="cosine", learning_rate_init=2e-3,
                        tol=None, random_state=0)
est.fit(U_train, G_train)
G_pred = est.predict(U_test)
print(f"mean per-function R2 on {n_test} test sources: {mean_function_r2(G_test, G_pred):.4f}")
print(f"trunk evaluations per epoch: {est.history_[-1]['trunk_evals']:,}")

# %%
# Truth, prediction and error
# ---------------------------
# Two test sources (left), the fields they drive, the model's prediction, and
# the absolute error. Time runs upwards.
x = Y[:n_sensors, 1]
extent = (0, 1, 0, 1)
fig, axes = plt.subplots(2, 4, figsize=(14, 6.5), layout="constrained",
                         gridspec_kw={"width_ratios": [0.8, 1, 1, 1]})
for row, i in enumerate([0, 1]):
    truth = G_test[i].reshape(n_times, n_sensors)
    pred = G_pred[i].reshape(n_times, n_sensors)
    vmin, vmax = truth.min(), truth.max()
    axes[row, 0].plot(x, U_test[i], color="C1")
    axes[row, 0].axhline(0, color="0.7", lw=0.8)
    axes[row, 0].set(title="source s(x)", xlabel="x")
    for ax, field, title in [(axes[row, 1], truth, "solution u(x, t)"),
                             (axes[row, 2], pred, "DeepONet prediction")]:
        im = ax.imshow(field, origin="lower", extent=extent, aspect="auto", cmap="viridis",
                       vmin=vmin, vmax=vmax)
        ax.set(title=title, xlabel="x", ylabel="t")
    fig.colorbar(im, ax=axes[row, 1:3], shrink=0.9, label="u")
    err = axes[row, 3].imshow(np.abs(pred - truth), origin="lower", extent=extent,
                              aspect="auto", cmap="magma")
    axes[row, 3].set(title=f"|error|, R2 = {mean_function_r2(truth.ravel(), pred.ravel()):.3f}",
                     xlabel="x", ylabel="t")
    fig.colorbar(err, ax=axes[row, 3], shrink=0.9)
plt.show()
