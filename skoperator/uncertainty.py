"""Uncertainty of operator predictions: deep ensembles and whole-function conformal bands.

- :class:`EnsembleRegressor` trains several copies of a regressor with
  different seeds (optionally on bootstrap samples of the functions) and
  predicts their mean and, pointwise, their standard deviation.
- :class:`ConformalBandRegressor` wraps a regressor (an ensemble or a single
  model) and calibrates, on held-out functions, a band that contains the
  *whole* true output function for at least ``1 - alpha`` of new functions
  (split conformal prediction with the maximum over the points as the score).
"""

from ._conformal import ConformalBandRegressor
from ._ensemble import EnsembleRegressor

__all__ = ["EnsembleRegressor", "ConformalBandRegressor"]
