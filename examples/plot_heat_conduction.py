"""
====================================================
Heat conduction: temperature from a conductivity map
====================================================

The third benchmark of Karumuri et al. (2024) maps the conductivity ``K`` of a
random medium on the unit square to the steady temperature ``T`` that solves
``-div(K grad T) = 0``, hot (``T = 1``) on the left edge, cold (``T = 0``) on
the right, insulated at the top and bottom. Inputs and outputs are 32 x 32
fields.

The branch is a small convolutional network that reads each row of ``U`` as a
32 x 32 image (:class:`~skoperator.networks.CNNBranch`), after a
:class:`~sklearn.preprocessing.FunctionTransformer` has taken the log of the
conductivity, which spans four orders of magnitude. The model is trained on
fields made by :func:`~skoperator.datasets.make_heat_conduction` and scored on
the authors' own 500 reference fields when the project's
``shared/data/heat2d_reference`` folder is found beside the checkout (or in
``SKOPERATOR_HEAT_REFERENCE``), and on freshly generated fields otherwise.
"""

# %%
# Data
# ----
# :func:`skoperator.reproduce.load_benchmark` generates the training fields and
# picks the test fields: the authors' reference set when it is present.
import os

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skoperator import DeepONetRegressor
from skoperator.datasets import make_heat_conduction
from skoperator.metrics import mean_function_r2
from skoperator.networks import CNNBranch, MLPTrunk
from skoperator.reproduce import load_benchmark

# The test suite sets SKOPERATOR_EXAMPLE_QUICK=1 to run a tiny version.
QUICK = os.environ.get("SKOPERATOR_EXAMPLE_QUICK") == "1"
n_train, n_test, epochs = (40, 10, 2) if QUICK else (1500, 500, 150)

U_train, G_train, U_test, G_test, source = load_benchmark("heat", n_train, n_test=n_test,
                                                          random_state=0)
_, Y, _ = make_heat_conduction(1, random_state=0)  # the 1024 cell centres (x1, x2)
print(f"{n_train} generated training fields; {len(U_test)} {source} test fields")

# %%
# Fit: log K -> CNN branch, 64 random cells per field and step
# ------------------------------------------------------------
model = make_pipeline(
    FunctionTransformer(np.log),
    DeepONetRegressor(coords=Y, branch=CNNBranch(grid=(32, 32), filters=(16, 32), layers=(128,)),
                      trunk=MLPTrunk(layers=(64, 64, 64)), n_basis=64, n_eval=64,
                      batch_size=64, max_iter=epochs, learning_rate="cosine",
                      learning_rate_init=2e-3, tol=None, random_state=0),
)
model.fit(U_train, G_train)
G_pred = model.predict(U_test)
r2 = [mean_function_r2(g, p) for g, p in zip(G_test, G_pred)]
print(f"mean per-field R2 on the {source} test fields: {np.mean(r2):.4f}")

# %%
# Conductivity, temperature, prediction, error
# --------------------------------------------
# Three test fields: the best, the median and the worst predicted. Row-major
# with ``x1`` fastest means ``U[i].reshape(32, 32)`` is indexed ``[x2, x1]``,
# so ``imshow(..., origin="lower")`` draws ``x1`` to the right and ``x2`` up.
order = np.argsort(r2)
picks = [order[-1], order[len(order) // 2], order[0]]
labels = ["best", "median", "worst"]
err_max = max(np.abs(G_pred[i] - G_test[i]).max() for i in picks)  # one error scale
fig, axes = plt.subplots(3, 4, figsize=(13, 9.5), layout="constrained")
for row, (i, label) in enumerate(zip(picks, labels)):
    K = U_test[i].reshape(32, 32)
    T = G_test[i].reshape(32, 32)
    P = G_pred[i].reshape(32, 32)
    im_k = axes[row, 0].imshow(K, origin="lower", extent=(0, 1, 0, 1), cmap="cividis",
                               norm=LogNorm())
    fig.colorbar(im_k, ax=axes[row, 0], shrink=0.85)
    for ax, field in [(axes[row, 1], T), (axes[row, 2], P)]:
        im_t = ax.imshow(field, origin="lower", extent=(0, 1, 0, 1), cmap="inferno",
                         vmin=0, vmax=1)
        ax.contour(field, levels=np.linspace(0.1, 0.9, 9), origin="lower",
                   extent=(0, 1, 0, 1), colors="w", linewidths=0.5)
    fig.colorbar(im_t, ax=axes[row, 1:3], shrink=0.85)
    im_e = axes[row, 3].imshow(np.abs(P - T), origin="lower", extent=(0, 1, 0, 1),
                               cmap="magma", vmin=0, vmax=err_max)
    fig.colorbar(im_e, ax=axes[row, 3], shrink=0.85)
    axes[row, 0].set_ylabel(f"{label} field\nx2")
    axes[row, 3].set_title(f"|error|, R2 = {r2[i]:.3f}")
axes[0, 0].set_title("conductivity K (log scale)")
axes[0, 1].set_title("temperature T")
axes[0, 2].set_title("DeepONet prediction")
for ax in axes[-1]:
    ax.set_xlabel("x1")
fig.suptitle(f"{len(U_test)} {source} test fields, mean R2 = {np.mean(r2):.4f}")
plt.show()
