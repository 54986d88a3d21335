"""
=========================================================
Predicting at new coordinates: train on 20, predict 1,000
=========================================================

The trunk network of a DeepONet takes the output coordinate as an input, so a
fitted model can be evaluated anywhere in the domain, not only at the points
it was trained on. Here the antiderivative operator is learned from outputs
known at only 20 points per function, and predicted on 1,000.
"""

# %%
# Coarse training data
# --------------------
# With ``n_points=20`` the input functions are given at 20 sensors and the
# antiderivatives at the same 20 points. The generator defines ``u`` between
# its sensors by linear interpolation and ``G`` as the exact integral of that
# interpolant, so the true antiderivative is known at any ``x``.
import os

import matplotlib.pyplot as plt
import numpy as np

from skoperator import DeepONetRegressor
from skoperator.datasets import make_antiderivative
from skoperator.metrics import mean_function_r2

# The test suite sets SKOPERATOR_EXAMPLE_QUICK=1 to run a tiny version.
QUICK = os.environ.get("SKOPERATOR_EXAMPLE_QUICK") == "1"
n_train, n_test, epochs = (100, 20, 3) if QUICK else (2000, 300, 300)

U, Y, G = make_antiderivative(n_train + n_test, n_points=20, random_state=0)
U_train, G_train, U_test, G_test = U[:n_train], G[:n_train], U[n_train:], G[n_train:]
print("training coordinates:", Y.shape)


def exact_antiderivative(u, sensors, x):
    """Integral from 0 to x of the linear interpolant of u (one row per function)."""
    knots = np.union1d(sensors, x)  # integrate exactly on a grid holding every kink
    values = np.array([np.interp(knots, sensors, row) for row in u])
    steps = 0.5 * (values[:, 1:] + values[:, :-1]) * np.diff(knots)
    cumulative = np.concatenate([np.zeros((len(u), 1)), np.cumsum(steps, axis=1)], axis=1)
    return cumulative[:, np.searchsorted(knots, x)]


x_fine = np.linspace(0.0, 1.0, 1000)
G_fine = exact_antiderivative(U_test, Y[:, 0], x_fine)

# %%
# Fit on 20 points, predict on 1,000
# ----------------------------------
# ``predict`` takes new coordinates of the same dimension as ``coords``.
est = DeepONetRegressor(coords=Y, n_eval=5, max_iter=epochs, learning_rate="cosine",
                        learning_rate_init=2e-3, tol=None, random_state=0)
est.fit(U_train, G_train)
G_pred_fine = est.predict(U_test, coords=x_fine.reshape(-1, 1))
print("predictions:", G_pred_fine.shape)
print(f"R2 at the 20 training points:  {mean_function_r2(G_test, est.predict(U_test)):.4f}")
print(f"R2 at 1,000 new points:        {mean_function_r2(G_fine, G_pred_fine):.4f}")

# %%
# Between the training points
# ---------------------------
# Top: three test functions, their exact antiderivatives on the fine grid
# (thin lines), the values the model was trained on (dots: these functions
# were not in the training set, but their outputs are known at the same 20
# points) and the predictions on 1,000 points (thick lines). Bottom: the
# absolute error on the fine grid, averaged over all test functions: between
# the training coordinates (red ticks) it is only slightly larger than at them
# (its highest peaks lie between them), so the R2 at 1,000 new points stays
# close to the R2 at the 20 training points.
colors = plt.cm.tab10.colors
fig, (ax, ax_err) = plt.subplots(2, 1, figsize=(9, 6), sharex=True, layout="constrained",
                                 height_ratios=[2, 1])
for i, c in zip(range(3), colors):
    ax.plot(x_fine, G_pred_fine[i], color=c, lw=3, alpha=0.5,
            label="prediction, 1,000 points" if i == 0 else None)
    ax.plot(x_fine, G_fine[i], color=c, lw=1, label="exact" if i == 0 else None)
    ax.plot(Y[:, 0], G_test[i], "o", color=c, ms=5,
            label="the 20 training coordinates" if i == 0 else None)
ax.set(ylabel="s(x)", title="antiderivatives learned from 20 points per function")
ax.legend(loc="best")
ax_err.plot(x_fine, np.abs(G_pred_fine - G_fine).mean(axis=0), color="k")
ax_err.set_ylim(0, None)
ax_err.plot(Y[:, 0], np.zeros(len(Y)), "|", color="C3", ms=14, mew=2,
            label="training coordinates")
ax_err.set(xlabel="x", ylabel="mean |prediction - exact|",
           title=f"error on the fine grid, averaged over {n_test} test functions")
ax_err.legend(loc="upper left")
plt.show()
