"""
====================================
Training curves: random against full
====================================

After ``fit``, :class:`~skoperator.DeepONetRegressor` keeps the training loss
of every epoch in ``loss_curve_`` and, with ``early_stopping=True``, the
validation R2 in ``validation_scores_``; ``history_`` holds both with the time
and the number of trunk evaluations of each epoch. This example trains the
antiderivative operator with randomized sampling (``n_eval=5``) and on the full
grid, and plots the curves.
"""

# %%
# Two fits with early stopping
# ----------------------------
# ``early_stopping=True`` holds out 10% of the training functions and scores
# them on all their points after every epoch; training stops after
# ``n_iter_no_change`` epochs without improvement and keeps the best weights.
import os

import matplotlib.pyplot as plt
import numpy as np

from skoperator import DeepONetRegressor
from skoperator.datasets import make_antiderivative

# The test suite sets SKOPERATOR_EXAMPLE_QUICK=1 to run a tiny version.
QUICK = os.environ.get("SKOPERATOR_EXAMPLE_QUICK") == "1"
n_train, epochs = (100, 4) if QUICK else (1000, 800)

U, Y, G = make_antiderivative(n_train, random_state=0)

fits = {}
for label, sampling in [("random, n_eval=5", "random"), ("full grid", "full")]:
    est = DeepONetRegressor(coords=Y, sampling=sampling, n_eval=5, max_iter=epochs,
                            early_stopping=True, n_iter_no_change=40, tol=1e-5,
                            learning_rate_init=1e-3, random_state=0, verbose=0)
    fits[label] = est.fit(U, G)
    print(f"{label:17s} stopped after {est.n_iter_} epochs, "
          f"best validation R2 {est.best_validation_score_:.5f}")

# %%
# The curves
# ----------
# Left: the training loss, measured on the pairs each step sampled (5 of the
# 100 points per function for random sampling). Right: the validation error
# ``1 - R2`` on all points of the held-out functions. The dots mark the best
# validation score, whose weights the estimator keeps; ``history_[i]["seconds"]``
# has the duration of every epoch if you want the curves against time.
fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
for (label, est), color in zip(fits.items(), ["C0", "C3"]):
    epochs_run = np.arange(1, est.n_iter_ + 1)
    val_error = 1.0 - np.asarray(est.validation_scores_)
    axes[0].plot(epochs_run, est.loss_curve_, color=color, label=label)
    axes[1].plot(epochs_run, val_error, color=color, label=label)
    best = int(np.argmax(est.validation_scores_))
    axes[1].plot(epochs_run[best], val_error[best], "o", color=color, ms=7)
axes[0].set(yscale="log", xlabel="epoch", ylabel="training loss (MSE)",
            title="loss_curve_")
axes[1].set(yscale="log", xlabel="epoch", ylabel="1 - validation R2",
            title="validation_scores_")
for ax in axes:
    ax.legend(loc="upper right")
plt.show()
