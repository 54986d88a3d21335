"""skoperator: DeepONet operator learning as a scikit-learn estimator.

Trains with the randomized trunk-point sampling of Karumuri, Graham-Brady and
Goswami (arXiv 2409.13280).
"""

from ._estimator import DeepONetRegressor

__all__ = ["DeepONetRegressor", "__version__"]
__version__ = "0.4.0"
