"""
=========================================================================
Scattered measurements: every function observed at 20 points of its own
=========================================================================

Measurements rarely share one grid: each sample has its own sensor or mesh
positions. A DeepONet's trunk takes the coordinate as an input, so each
function can be trained at its own points: ``fit(U, G, coords=P)`` with ``P``
of shape (n_functions, n_points, d), row ``i`` of ``G`` holding function ``i``
at ``P[i]``. Here the antiderivative operator is learned from 20 scattered
measurements per function and predicted on a fine grid.
"""

# %%
# Scattered data
# --------------
# ``make_antiderivative(scattered=True)`` draws, for every function, 20
# positions of its own, uniformly in [0, 1], with the exact antiderivative
# there. The input functions ``u`` stay on their 100 uniform sensors.
import os

import matplotlib.pyplot as plt
import numpy as np

from skoperator import DeepONetRegressor
from skoperator.datasets import make_antiderivative
from skoperator.metrics import mean_function_r2

# The test suite sets SKOPERATOR_EXAMPLE_QUICK=1 to run a tiny version.
QUICK = os.environ.get("SKOPERATOR_EXAMPLE_QUICK") == "1"
n_train, n_test, epochs = (100, 20, 3) if QUICK else (1000, 300, 300)

U, P, G = make_antiderivative(n_train, n_points=20, scattered=True, random_state=0)
print("inputs", U.shape, "points", P.shape, "outputs", G.shape)

# %%
# Training at each function's own points
# ---------------------------------------
# Every step draws ``n_eval`` of each function's own points, as on a shared
# grid; the trunk runs at every sampled (function, point) pair.
est = DeepONetRegressor(n_eval=10, max_iter=epochs, learning_rate="onecycle",
                        learning_rate_init=5e-3, tol=None, random_state=0)
est.fit(U, G, coords=P)

# %%
# Predicting on a fine grid
# -------------------------
# New functions, evaluated on 1,000 points of [0, 1] (shared points), against
# their exact antiderivatives.
U_test, Y_fine, G_test = make_antiderivative(n_test, n_points=1000, n_sensors=100,
                                             random_state=1)
pred = est.predict(U_test, coords=Y_fine)
print(f"mean R2 on the fine grid of {n_test} new functions: "
      f"{mean_function_r2(G_test, pred):.4f}")

# %%
# The points and the prediction
# -----------------------------
# Left: the scattered measurements of three training functions. Right: a new
# function, its exact antiderivative and the prediction on the fine grid.
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
for i, color in zip(range(3), ["C0", "C1", "C2"]):
    order = np.argsort(P[i, :, 0])
    axes[0].plot(P[i, order, 0], G[i, order], "o", color=color, ms=4,
                 label=f"function {i}")
axes[0].set(title="20 scattered measurements per function", xlabel="x", ylabel="s(x)")
axes[0].legend(fontsize=8)
axes[1].plot(Y_fine[:, 0], G_test[0], "k-", lw=2, label="exact")
axes[1].plot(Y_fine[:, 0], pred[0], "r--", lw=1.5, label="DeepONet, 1,000 points")
axes[1].set(title="a new function on a fine grid", xlabel="x")
axes[1].legend(fontsize=8)
fig.tight_layout()
plt.show()
