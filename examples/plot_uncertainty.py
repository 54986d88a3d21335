"""
==============================================================
Trust, look, ship: calibrated bands, displays and a safe file
==============================================================

A surrogate replaces a simulation only when its user knows how far to trust
each prediction, can look at it and can hand it to another program. This
example trains a small ensemble of DeepONets on the antiderivative operator,
wraps it in a conformal band that contains the *whole* true function for 90 %
of new functions, draws a prediction with its band, draws a search over
``n_eval`` with scikit-learn's own display, and saves the model in a file
that loads without running code.
"""

# %%
# An ensemble and a conformal band over whole functions
# -----------------------------------------------------
# The ensemble's spread says where each prediction is uncertain; split
# conformal calibration on held-out functions turns it into a band with a
# coverage guarantee over whole functions.
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from sklearn.base import clone
from sklearn.model_selection import ValidationCurveDisplay

from skoperator import DeepONetRegressor
from skoperator.datasets import make_antiderivative
from skoperator.inspection import OperatorPredictionDisplay
from skoperator.io import dump, load
from skoperator.uncertainty import ConformalBandRegressor, EnsembleRegressor

# The test suite sets SKOPERATOR_EXAMPLE_QUICK=1 to run a tiny version.
QUICK = os.environ.get("SKOPERATOR_EXAMPLE_QUICK") == "1"
n_train, n_test, epochs, members = (120, 60, 3, 2) if QUICK else (1000, 500, 150, 5)

U, Y, G = make_antiderivative(n_train + n_test, random_state=0)
U_train, G_train, U_test, G_test = U[:n_train], G[:n_train], U[n_train:], G[n_train:]

base = DeepONetRegressor(coords=Y, n_eval=10, max_iter=epochs, learning_rate="onecycle",
                         learning_rate_init=5e-3, tol=None, random_state=0)
band = ConformalBandRegressor(EnsembleRegressor(base, n_estimators=members, random_state=0),
                              alpha=0.1, random_state=0).fit(U_train, G_train)
lower, upper = band.predict_interval(U_test)
inside = np.all((G_test >= lower) & (G_test <= upper), axis=1)
print(f"whole functions inside the 90 % band: {inside.mean():.1%} of {n_test}; "
      f"mean band width {np.mean(upper - lower):.4f}")

# %%
# One prediction, its band and its error
# --------------------------------------
OperatorPredictionDisplay.from_estimator(band, U_test, G_test, index=0)
plt.show()

# %%
# A search over n_eval, drawn by scikit-learn
# -------------------------------------------
# :class:`~sklearn.model_selection.ValidationCurveDisplay` already draws the
# package's headline search: accuracy (with its spread over folds) against
# ``n_eval``.
display = ValidationCurveDisplay.from_estimator(
    clone(base).set_params(max_iter=max(2, epochs // 3)), U_train, G_train, param_name="n_eval",
    param_range=[1, 5, 20] if not QUICK else [1, 5], cv=3)
display.ax_.set_xscale("log")
plt.show()

# %%
# A file that loads without running code, and a prediction identical to it
# -------------------------------------------------------------------------
# :func:`skoperator.io.dump` writes weights as safetensors and everything else
# as plain JSON; :func:`skoperator.io.load` never unpickles. (A pickle would
# run code when loaded.) :func:`skoperator.io.to_onnx` exports the prediction
# to ONNX for any runtime.
model = band.estimator_.estimators_[0]
with tempfile.TemporaryDirectory() as tmp:
    path = dump(model, os.path.join(tmp, "model.skop"))
    again = load(path)
    print("loaded model predicts identically:",
          np.array_equal(again.predict(U_test), model.predict(U_test)))
