"""
=====================================================
A Pipeline: PCA of the input functions, then DeepONet
=====================================================

:class:`~skoperator.DeepONetRegressor` is an ordinary scikit-learn regressor,
so it can be the last step of a :class:`~sklearn.pipeline.Pipeline`. Here the
input functions (100 sensor values each) are first compressed by
:class:`~sklearn.decomposition.PCA`, and the branch network sees only the
first few principal components. How many does the antiderivative operator
need?
"""

# %%
# Data and the pipeline
# ---------------------
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline

from skoperator import DeepONetRegressor
from skoperator.datasets import make_antiderivative
from skoperator.metrics import mean_function_r2

# The test suite sets SKOPERATOR_EXAMPLE_QUICK=1 to run a tiny version.
QUICK = os.environ.get("SKOPERATOR_EXAMPLE_QUICK") == "1"
n_train, n_test, epochs = (100, 20, 2) if QUICK else (1000, 300, 120)
components = [1, 4] if QUICK else [1, 2, 3, 4, 6, 10, 20]

U, Y, G = make_antiderivative(n_train + n_test, random_state=0)
U_train, G_train, U_test, G_test = U[:n_train], G[:n_train], U[n_train:], G[n_train:]

pipe = make_pipeline(
    PCA(n_components=components[0]),
    DeepONetRegressor(coords=Y, n_eval=10, max_iter=epochs, learning_rate="cosine",
                      learning_rate_init=2e-3, tol=None, random_state=0),
)

# %%
# Sweep the number of components
# ------------------------------
# ``set_params`` reaches into the pipeline's steps with ``step__parameter``
# names, as ``GridSearchCV`` would; ``G`` passes through the PCA step
# untouched. Two settings of the PCA step: its scores as they are (the
# estimator standardises them with one scale for all the columns of the
# input, which keeps their relative sizes), and whitened scores
# (``whiten=True``, every component scaled to unit variance), which is what a
# per-column standardisation of the branch input would do.
scores = {False: [], True: []}
for whiten in (False, True):
    for k in components:
        pipe.set_params(pca__n_components=k, pca__whiten=whiten)
        pipe.fit(U_train, G_train)
        scores[whiten].append(mean_function_r2(G_test, pipe.predict(U_test)))
        print(f"whiten={whiten!s:5}  {k:3d} components: R2 = {scores[whiten][-1]:.4f}")

# The same DeepONet on all 100 sensor values, for reference.
raw = pipe[-1].fit(U_train, G_train)
raw_score = mean_function_r2(G_test, raw.predict(U_test))
print(f"no PCA (100 sensors): R2 = {raw_score:.4f}")

explained = np.cumsum(PCA().fit(U_train).explained_variance_ratio_)

# %%
# Accuracy against the number of components
# -----------------------------------------
# The inputs are smooth random fields: a handful of components carries almost
# all of their variance (left), and four to six of them are enough for an
# operator about as accurate as the one learned from all 100 sensor values
# (right). Beyond that, the two settings part: whitening gives the last
# components, which carry almost none of the variance of ``U`` (mostly
# noise), as much weight in the branch's input as the first ones, and the fit
# gets worse as they are added; the scores as they are keep the accuracy of
# the estimator alone.
fig, (ax_var, ax_r2) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
n_show = max(components)
ax_var.bar(np.arange(1, n_show + 1), explained[:n_show], color="0.6")
ax_var.set(xlabel="number of principal components", ylim=(0, 1.02),
           ylabel="cumulative explained variance of U", title="PCA of the input functions")
ax_var.set_xticks(components)
ax_r2.plot(components, scores[False], "o-", label="PCA + DeepONet (the default)")
ax_r2.plot(components, scores[True], "s-", label="PCA(whiten=True) + DeepONet")
ax_r2.axhline(raw_score, color="k", ls="--", label="DeepONet on all 100 sensors")
bottom = 0.6
for k, r2 in zip(components, scores[True]):
    if r2 < bottom:  # say where the points below the axis are
        ax_r2.annotate(f"R2 = {r2:.2f}\n(below)", (k, bottom), xytext=(k, bottom + 0.06),
                       ha="center", fontsize=8, arrowprops={"arrowstyle": "->"})
ax_r2.set(xscale="log", xlabel="number of principal components",
          ylabel="mean per-function R2 (test)", title="operator accuracy", ylim=(bottom, 1.0))
ax_r2.set_xticks(components, [str(k) for k in components])
ax_r2.legend(loc="lower right", fontsize=8)
plt.show()
