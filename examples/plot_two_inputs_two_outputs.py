"""
=========================================================
Two inputs, two outputs: temperature and flux in a rod
=========================================================

Steady heat conduction in a rod of length 1 with a conductivity ``k(x)`` and
a heat source ``f(x)``, both random, held at ``T = 0`` at both ends:

``-(k T')' = f``,   ``T(0) = T(1) = 0``.

The operator maps two input functions, ``(k, f)``, to two output fields, the
temperature ``T`` and the heat flux ``q = -k T'``. In skoperator that is a
:class:`~skoperator.networks.MultiBranch` (one branch per input function, each
reading its ``n_sensors`` columns of ``U``), ``n_outputs`` (the fields side by
side in ``G``) and, since ``T`` vanishes at both ends, an ``output_transform``
that makes the boundary condition exact.
"""

# %%
# The physical model, generated in code
# -------------------------------------
# Integrating once, ``q(x) = q(0) + int_0^x f``; integrating ``T' = -q / k``
# once more with ``T(0) = T(1) = 0`` fixes ``q(0)``. Both integrals are
# computed with the trapezoidal rule on a fine grid (4,001 points), far finer
# than the sensors and output points.
import os

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.integrate import cumulative_trapezoid
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skoperator import DeepONetRegressor
from skoperator.datasets import make_antiderivative
from skoperator.metrics import mean_function_r2
from skoperator.networks import MLPBranch, MLPTrunk, MultiBranch

# The test suite sets SKOPERATOR_EXAMPLE_QUICK=1 to run a tiny version.
QUICK = os.environ.get("SKOPERATOR_EXAMPLE_QUICK") == "1"
n_train, n_test, epochs = (60, 20, 2) if QUICK else (2000, 500, 150)
n_sensors, n_points = 50, 100
fine = np.linspace(0, 1, 4001)


def rod(log_k, source):
    """T and q at the fine grid for inputs at the fine grid (one row per rod)."""
    k = np.exp(log_k)
    integral_f = cumulative_trapezoid(source, fine, axis=1, initial=0)
    a = cumulative_trapezoid(integral_f / k, fine, axis=1, initial=0)
    b = cumulative_trapezoid(1 / k, fine, axis=1, initial=0)
    q0 = -a[:, -1] / b[:, -1]
    T = -(q0[:, None] * b + a)
    q = q0[:, None] + integral_f
    return T, q


# Inputs: two independent Gaussian random fields (the generator of
# make_antiderivative's inputs), on the fine grid.
n = n_train + n_test
log_k = 0.5 * make_antiderivative(n, n_points=fine.size, length_scale=0.2, random_state=1)[0]
source = make_antiderivative(n, n_points=fine.size, length_scale=0.1, random_state=2)[0]
T, q = rod(log_k, source)

sensors = np.linspace(0, 1, n_sensors)
points = np.linspace(0, 1, n_points)
at = lambda values, x: np.array([np.interp(x, fine, v) for v in values])  # noqa: E731
U = np.hstack([np.exp(at(log_k, sensors)), at(source, sensors)])  # k, then f
G = np.hstack([at(T, points), at(q, points)])                      # T, then q
Y = points.reshape(-1, 1)
print(f"U {U.shape} (k and f at {n_sensors} sensors), G {G.shape} (T and q at {n_points} points)")

# %%
# The model
# ---------
# A :class:`~sklearn.compose.ColumnTransformer` takes the log of the
# conductivity (positive, spanning a decade) and passes the source through;
# each input function gets its own branch and the two are multiplied
# (MIONet); the two fields share one trunk ("split_branch"). The output
# transform multiplies by ``x (1 - x)``, so that ``T`` vanishes at both ends
# exactly; the flux is left free.


def rod_ends(y, out):
    """T(0) = T(1) = 0 exactly; the flux (field 1) unconstrained."""
    x = y[..., 0]
    return torch.stack([out[..., 0] * x * (1 - x), out[..., 1]], dim=-1)


model = make_pipeline(
    ColumnTransformer([("log k", FunctionTransformer(np.log), slice(0, n_sensors)),
                       ("f", "passthrough", slice(n_sensors, 2 * n_sensors))]),
    DeepONetRegressor(coords=Y,
                      branch=MultiBranch([MLPBranch(layers=(64, 64), n_sensors=n_sensors),
                                          MLPBranch(layers=(64, 64), n_sensors=n_sensors)]),
                      trunk=MLPTrunk(layers=(64, 64)), n_outputs=2, output_transform=rod_ends,
                      n_basis=48, n_eval=16, batch_size=64, max_iter=epochs,
                      learning_rate="onecycle", learning_rate_init=3e-3, tol=None,
                      random_state=0),
)
model.fit(U[:n_train], G[:n_train])
pred = model.predict(U[n_train:])
per_field = mean_function_r2(G[n_train:], pred, n_outputs=2, multioutput="raw_values")
print(f"mean per-function R2 on {n_test} new rods: T {per_field[0]:.4f}, q {per_field[1]:.4f}")
print(f"largest |T| predicted at the ends: {np.abs(pred[:, [0, n_points - 1]]).max():.1e}")

# %%
# Temperature and flux of three new rods
# --------------------------------------
fields = G[n_train:].reshape(n_test, 2, n_points)
predicted = pred.reshape(n_test, 2, n_points)
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
for i, color in zip(range(3), ["C0", "C1", "C2"]):
    axes[0].plot(sensors, U[n_train + i, :n_sensors], color=color)
    axes[0].plot(sensors, U[n_train + i, n_sensors:], color=color, ls=":")
    for ax, c in zip(axes[1:], range(2)):
        ax.plot(points, fields[i, c], color=color, lw=2, alpha=0.5)
        ax.plot(points, predicted[i, c], color=color, ls="--")
axes[0].set(title="inputs: k (solid), f (dotted)", xlabel="x")
axes[1].set(title=f"temperature T (R2 {per_field[0]:.3f})", xlabel="x")
axes[2].set(title=f"flux q = -k T' (R2 {per_field[1]:.3f})", xlabel="x")
axes[1].plot([], [], "k", lw=2, alpha=0.5, label="exact")
axes[1].plot([], [], "k--", label="DeepONet")
axes[1].legend()
plt.show()
