"""
=====================================================
Why does it work? Sharpness of the minimum and n_eval
=====================================================

Karumuri et al. (2024) argue that randomized sampling generalises well
because fewer points per step give noisier gradients, which steer training
to flatter minima. That is a claim about the *sharpness* of the minimum
found: the largest eigenvalue of the Hessian of the training loss with
respect to the weights. :func:`~skoperator.inspection.loss_sharpness`
measures it (power iteration on Hessian-vector products, on the full training
grid), so the claim can be checked: train at several ``n_eval`` with
everything else equal, then measure each minimum's sharpness and test error.
"""

# %%
# Train at several n_eval, measure the minima
# -------------------------------------------
import os

import matplotlib.pyplot as plt
import numpy as np

from skoperator import DeepONetRegressor
from skoperator.datasets import make_antiderivative
from skoperator.inspection import error_spectrum, loss_sharpness
from skoperator.metrics import mean_function_r2

# The test suite sets SKOPERATOR_EXAMPLE_QUICK=1 to run a tiny version.
QUICK = os.environ.get("SKOPERATOR_EXAMPLE_QUICK") == "1"
n_train, n_test, epochs = (40, 20, 2) if QUICK else (500, 500, 100)
settings = [1, "full"] if QUICK else [1, 3, 10, 30, "full"]
seeds = [0] if QUICK else [0, 1, 2]

U, Y, G = make_antiderivative(n_train + n_test, n_points=50, random_state=0)
sharp = np.zeros((len(settings), len(seeds)))
error = np.zeros_like(sharp)
spectra = {}
for i, n_eval in enumerate(settings):
    for j, seed in enumerate(seeds):
        est = DeepONetRegressor(coords=Y, n_eval="auto" if n_eval == "full" else n_eval,
                                sampling="full" if n_eval == "full" else "random",
                                max_iter=epochs, learning_rate="constant",
                                learning_rate_init=1e-3, tol=None, random_state=seed)
        est.fit(U[:n_train], G[:n_train])
        sharp[i, j] = loss_sharpness(est, U[:n_train], G[:n_train], max_iter=200, tol=1e-4,
                                     random_state=0)
        error[i, j] = 1 - mean_function_r2(G[n_train:], est.predict(U[n_train:]))
        if j == 0:
            spectra[n_eval] = error_spectrum(est, U[n_train:], G[n_train:])
print(f"{'n_eval':>6} {'sharpness':>16} {'1 - R2 (test)':>20}")
for i, n_eval in enumerate(settings):
    print(f"{n_eval!s:>6} {sharp[i].mean():>9.3g} +- {sharp[i].std():<6.2g}"
          f"{error[i].mean():>12.3g} +- {error[i].std():.2g}")

# %%
# Does sampling leave high-frequency errors behind?
# -------------------------------------------------
# :func:`~skoperator.inspection.error_spectrum` splits each model's test error
# into Fourier modes along the grid (seed 0). A loss that sees one point per
# function per step could leave errors that oscillate between the points; the
# share of the error energy above mode 5 tells.
print(f"{'n_eval':>6} {'mean squared error':>19} {'share above mode 5':>19}")
for n_eval, spec in spectra.items():
    e = spec.error[0]
    print(f"{n_eval!s:>6} {spec.mse:>19.3g} {e[6:].sum() / e.sum():>19.3f}")

# %%
# Sharpness and test error against n_eval
# ---------------------------------------
# A constant learning rate keeps the comparison about the gradient noise
# alone (a schedule that anneals to zero would remove the noise at the end).
labels = [str(s) for s in settings]
x = np.arange(len(settings))
fig, (ax_s, ax_e, ax_f) = plt.subplots(1, 3, figsize=(15, 4), layout="constrained")
for j, seed in enumerate(seeds):
    ax_s.plot(x, sharp[:, j], "o", color="0.6")
    ax_e.plot(x, error[:, j], "o", color="0.6")
ax_s.plot(x, sharp.mean(axis=1), "k-", label="mean over seeds")
ax_e.plot(x, error.mean(axis=1), "k-")
ax_s.set(yscale="log", xlabel="n_eval", ylabel="largest Hessian eigenvalue",
         title="sharpness of the minimum found")
ax_e.set(yscale="log", xlabel="n_eval", ylabel="1 - mean per-function R2 (test)",
         title="test error")
for ax in (ax_s, ax_e):
    ax.set_xticks(x, labels)
ax_s.legend()
for n_eval, spec in spectra.items():
    ax_f.semilogy(spec.modes[0], spec.error[0], marker=".", label=f"error, n_eval={n_eval}")
last = spectra[settings[-1]]
ax_f.semilogy(last.modes[0], last.target[0], "k:", label="G itself")
ax_f.set(xlabel="Fourier mode along x", ylabel="energy (mean over test functions)",
         title="error spectrum (seed 0)")
ax_f.legend(fontsize=7)
plt.show()
