"""scikit-learn's estimator checks, with no expected failures."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skoperator import DeepONetRegressor
from skoperator.networks import MLPBranch, MLPTrunk


def _fast_instance():
    return DeepONetRegressor(branch=MLPBranch(layers=(32, 32)), trunk=MLPTrunk(layers=(32,)),
                             n_basis=16, max_iter=60, learning_rate_init=5e-3, tol=None,
                             device="cpu", random_state=0)


@parametrize_with_checks([_fast_instance()])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
