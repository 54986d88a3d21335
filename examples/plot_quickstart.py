"""
=======================================
Quickstart: learning the antiderivative
=======================================

The antiderivative operator maps a function ``u`` on ``[0, 1]`` to
``s(x) = integral of u from 0 to x``. Its exact answer is known, which makes it
the "hello world" of operator learning (Example 1 of Karumuri et al., 2024).
We train :class:`~skoperator.DeepONetRegressor` with randomized trunk sampling
and compare its predictions with the exact antiderivatives of functions it has
never seen.
"""

# %%
# Data
# ----
# :func:`~skoperator.datasets.make_antiderivative` returns the input functions
# ``U`` at 100 sensors, the output coordinates ``Y`` and the antiderivatives
# ``G`` at those coordinates. The inputs are samples of a Gaussian random field.
import os

import matplotlib.pyplot as plt
import numpy as np

from skoperator import DeepONetRegressor
from skoperator.datasets import make_antiderivative
from skoperator.metrics import mean_function_r2

# The test suite sets SKOPERATOR_EXAMPLE_QUICK=1 to run a tiny version.
QUICK = os.environ.get("SKOPERATOR_EXAMPLE_QUICK") == "1"
n_train, n_test, epochs = (100, 20, 3) if QUICK else (2000, 500, 300)

U, Y, G = make_antiderivative(n_train + n_test, random_state=0)
U_train, G_train, U_test, G_test = U[:n_train], G[:n_train], U[n_train:], G[n_train:]
print("U", U.shape, " Y", Y.shape, " G", G.shape)

# %%
# Fit
# ---
# ``X`` is ``U`` and ``y`` is ``G``; the coordinates are a constructor
# parameter. Every optimizer step evaluates each function of the mini-batch at
# ``n_eval=10`` of its 100 output points, drawn at random and fresh every step.
est = DeepONetRegressor(coords=Y, n_eval=10, max_iter=epochs, learning_rate="cosine",
                        learning_rate_init=2e-3, tol=None, random_state=0)
est.fit(U_train, G_train)
G_pred = est.predict(U_test)

r2_per_function = [mean_function_r2(g, p) for g, p in zip(G_test, G_pred)]
print(f"mean per-function R2 on {n_test} test functions: {np.mean(r2_per_function):.4f}")
print(f"variance-weighted R2 (est.score): {est.score(U_test, G_test):.4f}")

# %%
# Predicted against exact antiderivatives
# ---------------------------------------
# Left: four test inputs. Middle: their exact antiderivatives (lines) and the
# predictions (circles). Right: how far each test function is from a perfect
# fit, ``1 - R2`` on a log scale (left is better).
x = Y[:, 0]
colors = plt.cm.tab10.colors
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
for i, c in zip(range(4), colors):
    axes[0].plot(x, U_test[i], color=c)
    axes[1].plot(x, G_test[i], color=c, lw=2, label="exact" if i == 0 else None)
    axes[1].plot(x[::4], G_pred[i, ::4], "o", color=c, ms=4, mfc="none",
                 label="DeepONet" if i == 0 else None)
axes[0].set(title="input functions u", xlabel="x", ylabel="u(x)")
axes[1].set(title="antiderivatives s = G(u)", xlabel="x", ylabel="s(x)")
axes[1].legend(loc="best")
misfit = np.clip(1.0 - np.asarray(r2_per_function), 1e-6, None)
axes[2].hist(misfit, bins=np.logspace(np.log10(misfit.min()), np.log10(misfit.max()), 25),
             color="0.4")
axes[2].axvline(np.median(misfit), color="k", ls="--",
                label=f"median R2 = {1 - np.median(misfit):.4f}")
axes[2].set(xscale="log", title=f"per-function fit, {n_test} test functions",
            xlabel="1 - R2 (lower is better)", ylabel="functions")
axes[2].legend(loc="upper right")
plt.show()
