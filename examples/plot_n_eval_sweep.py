"""
=========================================
What ``n_eval`` trades: accuracy and time
=========================================

With ``sampling="random"`` every optimizer step evaluates each function of the
mini-batch at ``n_eval`` random output points instead of all of them. This
example fits the antiderivative operator with several ``n_eval`` and once on
the full grid (``sampling="full"``), with the same network, epochs and seed,
and plots the test accuracy and the training time per epoch of each.
``python -m skoperator --benchmark antiderivative`` runs the same study on
the paper's 100-point grid from the command line and prints it as a table;
``python -m skoperator`` alone runs it on an 8,000-point grid, where the fit
time follows ``n_eval``.
"""

# %%
# Data and settings
# -----------------
import os

import matplotlib.pyplot as plt
import numpy as np

from skoperator import DeepONetRegressor
from skoperator.datasets import make_antiderivative
from skoperator.metrics import mean_function_r2

# The test suite sets SKOPERATOR_EXAMPLE_QUICK=1 to run a tiny version.
QUICK = os.environ.get("SKOPERATOR_EXAMPLE_QUICK") == "1"
n_train, n_test, epochs = (100, 20, 2) if QUICK else (2000, 500, 150)
n_evals = [1, 5, 25] if QUICK else [1, 2, 5, 10, 25, 50]

U, Y, G = make_antiderivative(n_train + n_test, random_state=0)
U_train, G_train, U_test, G_test = U[:n_train], G[:n_train], U[n_train:], G[n_train:]
n_points = Y.shape[0]


def fit_and_score(sampling, n_eval):
    est = DeepONetRegressor(coords=Y, sampling=sampling, n_eval=n_eval, max_iter=epochs,
                            learning_rate="cosine", learning_rate_init=2e-3, tol=None,
                            device="cpu", random_state=0)
    est.fit(U_train, G_train)
    # The median epoch is robust to other programs slowing a few epochs down.
    epoch_seconds = np.median([h["seconds"] for h in est.history_])
    return mean_function_r2(G_test, est.predict(U_test)), epoch_seconds


# %%
# The sweep
# ---------
results = {n_eval: fit_and_score("random", n_eval) for n_eval in n_evals}
full_r2, full_seconds = fit_and_score("full", n_points)
for n_eval, (r2, seconds) in results.items():
    print(f"random  n_eval={n_eval:3d}  R2={r2:.4f}  {1000 * seconds:6.1f} ms/epoch")
print(f"full    n_eval={n_points:3d}  R2={full_r2:.4f}  {1000 * full_seconds:6.1f} ms/epoch")

# %%
# Accuracy and time against ``n_eval``
# ------------------------------------
# The dashed lines are the full grid (every one of the 100 points at every
# step). A few random points per function and step come close to the
# accuracy of the full grid after the same number of epochs.
#
# On a grid this small the trunk is cheap: skoperator evaluates it once on the
# whole grid at every step and gathers the sampled pairs, so random sampling
# saves no time here; drawing and gathering the points can even make its
# epochs a little slower than those of the full grid. The saving in time
# appears when trunk evaluations dominate the cost (large output grids such as
# the 10,100 points of :ref:`sphx_glr_auto_examples_plot_diffusion_reaction.py`,
# wide trunks); the :doc:`/performance` page measures it.
r2 = np.array([results[k][0] for k in n_evals])
seconds = np.array([results[k][1] for k in n_evals])
fig, (ax_r2, ax_t) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
ax_r2.plot(n_evals, r2, "o-", label="random sampling")
ax_r2.axhline(full_r2, color="k", ls="--", label=f"full grid ({n_points} points)")
ax_r2.set(xscale="log", xlabel="n_eval (points per function per step)",
          ylabel="mean per-function R2 (test)", title="accuracy after the same epochs")
ax_r2.set_xticks(n_evals, [str(k) for k in n_evals])
ax_r2.legend(loc="lower right")
ax_t.plot(n_evals, 1000 * seconds, "o-", label="random sampling")
ax_t.axhline(1000 * full_seconds, color="k", ls="--", label="full grid")
ax_t.set(xscale="log", xlabel="n_eval (points per function per step)",
         ylabel="ms per epoch (median)", ylim=(0, None),
         title=f"training time per epoch ({n_train} functions)")
ax_t.set_xticks(n_evals, [str(k) for k in n_evals])
ax_t.legend(loc="lower right")
plt.show()
