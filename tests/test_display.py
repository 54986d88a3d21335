"""OperatorPredictionDisplay (skoperator._display)."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from sklearn.base import BaseEstimator, RegressorMixin  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.linear_model import Ridge  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skoperator import DeepONetRegressor  # noqa: E402
from skoperator._display import OperatorPredictionDisplay  # noqa: E402
from skoperator.datasets import make_antiderivative  # noqa: E402
from skoperator.symmetry import Reflection, SymmetrizedRegressor  # noqa: E402
from skoperator.uncertainty import ConformalBandRegressor  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def curves():
    x = np.linspace(0, 1, 30).reshape(-1, 1)
    G = np.stack([np.sin((k + 1) * 3 * x[:, 0]) for k in range(4)])
    return x, G


class Field(RegressorMixin, BaseEstimator):
    """A fitted 2-D 'operator' that predicts X shifted by 0.1, on a 4 x 5 grid."""

    def fit(self, X, y):
        xs, ys = np.meshgrid(np.linspace(0, 1, 5), np.linspace(0, 2, 4))
        self.coords_ = np.column_stack([xs.ravel(), ys.ravel()])  # x fastest
        return self

    def predict(self, X, coords=None):
        return np.asarray(X, dtype=np.float64) + 0.1


def test_from_predictions_1d(curves):
    x, G = curves
    disp = OperatorPredictionDisplay.from_predictions(G, G + 0.05, coords=x, index=2)
    assert len(disp.axes_) == 2 and disp.ax_ is disp.axes_[0]
    assert disp.figure_ is disp.ax_.figure
    np.testing.assert_allclose(disp.line_true_.get_ydata(), G[2])
    np.testing.assert_allclose(disp.line_pred_.get_ydata(), G[2] + 0.05)
    np.testing.assert_allclose(disp.line_error_.get_ydata(), -0.05)
    assert disp.band_ is None and disp.images_ is None
    assert "function 2" in disp.ax_.get_title()
    np.testing.assert_array_equal(disp.y_true, G[2])


def test_from_predictions_1d_band_and_unsorted_coords(curves):
    x, G = curves
    order = np.random.default_rng(0).permutation(len(x))
    disp = OperatorPredictionDisplay.from_predictions(
        G[:, order], G[:, order], coords=x[order], lower=G[:, order] - 0.1,
        upper=G[:, order] + 0.2)
    assert isinstance(disp.band_, PolyCollection) and disp.band_ in disp.ax_.collections
    np.testing.assert_allclose(disp.line_true_.get_xdata(), x[:, 0])  # drawn in order
    assert len(disp.axes_[1].collections) == 1  # the band, around zero, on the error panel


def test_plot_on_given_axes(curves):
    x, G = curves
    _, ax = plt.subplots()
    disp = OperatorPredictionDisplay.from_predictions(G, G, coords=x, ax=ax)
    assert list(disp.axes_) == [ax] and disp.line_error_ is None
    _, axes = plt.subplots(1, 2)
    disp = OperatorPredictionDisplay(y_true=G[0], y_pred=G[0], coords=x).plot(ax=axes)
    assert list(disp.axes_) == list(axes) and disp.line_error_ is not None
    with pytest.raises(ValueError, match="one or two Axes"):
        disp.plot(ax=plt.subplots(1, 3)[1])


def test_from_predictions_2d_grid_inferred_from_coords():
    xs, ys = np.meshgrid(np.linspace(0, 1, 5), np.linspace(0, 2, 4))
    coords = np.column_stack([xs.ravel(), ys.ravel()])
    G = np.arange(40, dtype=float).reshape(2, 20)
    order = np.random.default_rng(0).permutation(20)
    disp = OperatorPredictionDisplay.from_predictions(G[:, order], G[:, order] + 1.0,
                                                      coords=coords[order], index=1)
    assert len(disp.axes_) == 3 and len(disp.images_) == 3 and len(disp.colorbars_) == 3
    np.testing.assert_array_equal(disp.images_[0].get_array(), G[1].reshape(4, 5))
    np.testing.assert_array_equal(disp.images_[2].get_array(), -np.ones((4, 5)))
    assert disp.images_[0].get_clim() == disp.images_[1].get_clim()
    np.testing.assert_allclose(disp.images_[0].get_extent(), [-0.125, 1.125, -1 / 3, 7 / 3])
    assert disp.line_true_ is None


def test_from_predictions_2d_grid_shape_scattered_and_band():
    G = np.random.default_rng(0).normal(size=(3, 12))
    disp = OperatorPredictionDisplay.from_predictions(G, G, coords=None, grid_shape=(3, 4),
                                                      lower=G - 1, upper=G + 1)
    assert disp.images_[1].get_array().shape == (3, 4)
    assert "inside" in disp.axes_[2].get_title()
    scattered = np.random.default_rng(1).random((12, 2))
    disp = OperatorPredictionDisplay.from_predictions(G, G + 0.1, coords=scattered)
    assert len(disp.images_) == 3  # tripcolor
    with pytest.raises(ValueError, match="grid_shape"):
        OperatorPredictionDisplay.from_predictions(G, G, coords=None, grid_shape=(5, 5))


def test_from_predictions_checks_and_picks_a_field(curves):
    x, G = curves
    two = np.hstack([G, 2 * G])
    disp = OperatorPredictionDisplay.from_predictions(two, two, coords=x, output=1)
    np.testing.assert_allclose(disp.y_true, 2 * G[0])
    with pytest.raises(ValueError, match="output must be an int from 0 to 1 .*got 2"):
        OperatorPredictionDisplay.from_predictions(two, two, coords=x, output=2)
    with pytest.raises(ValueError, match="same shape"):
        OperatorPredictionDisplay.from_predictions(G, G[:2], coords=x)
    with pytest.raises(ValueError, match="index=9"):
        OperatorPredictionDisplay.from_predictions(G, G, coords=x, index=9)


def test_from_estimator_1d_with_and_without_band():
    U, Y, G = make_antiderivative(60, n_points=20, random_state=0)
    est = DeepONetRegressor(coords=Y, n_eval=5, n_basis=8, max_iter=2, tol=None,
                            device="cpu", random_state=0)
    disp = OperatorPredictionDisplay.from_estimator(est.fit(U, G), U, G, index=3)
    assert disp.band_ is None and len(disp.axes_) == 2
    np.testing.assert_allclose(disp.line_pred_.get_ydata(), est.predict(U[3:4])[0])
    np.testing.assert_allclose(disp.line_true_.get_ydata(), G[3])
    assert "function 3" in disp.ax_.get_title()

    band = ConformalBandRegressor(est, alpha=0.2, random_state=0).fit(U, G)
    disp = OperatorPredictionDisplay.from_estimator(band, U, G, index=1)
    assert isinstance(disp.band_, PolyCollection)
    lower, upper = band.predict_interval(U[1:2])
    np.testing.assert_allclose(disp.lower, lower[0])
    np.testing.assert_allclose(disp.upper, upper[0])

    fine = np.linspace(0, 1, 11).reshape(-1, 1)
    disp = OperatorPredictionDisplay.from_estimator(est, U, np.zeros((60, 11)), coords=fine)
    assert len(disp.line_pred_.get_xdata()) == 11


def test_from_predictions_refuses_half_a_band_and_three_free_coordinates():
    rng = np.random.default_rng(0)
    G, coords = rng.normal(size=(3, 8)), rng.random((8, 3))
    with pytest.raises(ValueError, match="lower and upper go together .* got only lower"):
        OperatorPredictionDisplay.from_predictions(G, G, coords=coords[:, :1], lower=G - 1)
    with pytest.raises(ValueError, match="coords has 3 columns; .* Pass grid_shape"):
        OperatorPredictionDisplay.from_predictions(G, G, coords=coords)
    disp = OperatorPredictionDisplay.from_predictions(G, G, coords=coords, grid_shape=(2, 4))
    assert len(disp.images_) == 3


def test_from_estimator_2d_uses_fitted_coords():
    X = np.random.default_rng(0).normal(size=(5, 20))
    est = Field().fit(X, X)
    disp = OperatorPredictionDisplay.from_estimator(est, X, X, index=4)
    assert len(disp.images_) == 3
    np.testing.assert_array_equal(disp.images_[0].get_array(), X[4].reshape(4, 5))
    np.testing.assert_allclose(disp.images_[2].get_array(), -0.1)
    with pytest.raises(ValueError, match="coords"):  # fitted, but no coords_
        OperatorPredictionDisplay.from_estimator(Ridge().fit(X, X), X, X)
    with pytest.raises(NotFittedError):  # checked first: coords= would not help
        OperatorPredictionDisplay.from_estimator(Field(), X, X)
    with pytest.raises(ValueError, match="index must be an int, the row .*; got 1.5"):
        OperatorPredictionDisplay.from_estimator(est, X, X, index=1.5)
    with pytest.raises(ValueError, match=r"grid_shape must be \(rows, columns\), two positive"):
        OperatorPredictionDisplay.from_estimator(est, X, X, grid_shape=(2, 2, 5))


@pytest.mark.parametrize("index", [5, -6, 100])
def test_out_of_range_index_names_the_valid_range(index):
    X = np.random.default_rng(0).normal(size=(5, 20))
    est = Field().fit(X, X)
    # from_estimator indexed U first: a raw IndexError from numpy
    with pytest.raises(ValueError, match=rf"index={index} is out of range.*\[-5, 4\]"):
        OperatorPredictionDisplay.from_estimator(est, X, X, index=index)
    with pytest.raises(ValueError, match=rf"index={index} is out of range.*\[-5, 4\]"):
        OperatorPredictionDisplay.from_predictions(X, X, coords=None, grid_shape=(4, 5),
                                                   index=index)
    with pytest.raises(ValueError, match="y has 4 rows but X has 5"):
        OperatorPredictionDisplay.from_estimator(est, X, X[:4], index=4)


def test_from_estimator_finds_the_coords_inside_a_wrapper():
    X = np.random.default_rng(0).normal(size=(6, 20))
    model = make_pipeline(StandardScaler(), SymmetrizedRegressor(
        Field(), [Reflection(grid=(4, 5), axis=1)], average=False)).fit(X, X)
    disp = OperatorPredictionDisplay.from_estimator(model, X, X, index=2)
    assert len(disp.images_) == 3
    np.testing.assert_allclose(disp.coords, model[-1].estimator_.coords_)


# ---------------------------------------------------------------- review fixes (0.4.0)
def test_an_uneven_grid_is_coloured_where_its_points_lie():
    import matplotlib.pyplot as plt
    from matplotlib.image import AxesImage

    from skoperator.inspection import OperatorPredictionDisplay
    xs = np.array([0.0, 0.05, 0.1, 1.0])
    X, Y = np.meshgrid(xs, [0.0, 0.5, 1.0])
    coords = np.column_stack([X.ravel(), Y.ravel()])
    values = (X.ravel() > 0.5)[None] * 1.0
    display = OperatorPredictionDisplay.from_predictions(values, values, coords=coords)
    assert not isinstance(display.images_[0], AxesImage)  # not even pixels at 0, 1/3, 2/3, 1
    plt.close("all")


@pytest.mark.parametrize("grid_shape", [(2.5, 4), (0, 5), "ab"])
def test_a_bad_grid_shape_is_named_and_leaves_no_figure(grid_shape):
    import matplotlib.pyplot as plt

    from skoperator.inspection import OperatorPredictionDisplay
    plt.close("all")
    G = np.arange(20.0).reshape(1, 20)
    with pytest.raises(ValueError, match="grid_shape must be \\(rows, columns\\)"):
        OperatorPredictionDisplay.from_predictions(G, G + 0.1, coords=None, grid_shape=grid_shape)
    assert plt.get_fignums() == []


def test_a_failed_plot_closes_the_figure_it_opened():
    import matplotlib.pyplot as plt

    from skoperator.inspection import OperatorPredictionDisplay
    plt.close("all")
    t = np.linspace(0, 1, 6)
    coords = np.column_stack([t, 2 * t])  # a line in the plane: no surface
    G = np.sin(t)[None]
    with pytest.raises(ValueError, match="points on one line"):
        OperatorPredictionDisplay.from_predictions(G, G, coords=coords)
    assert plt.get_fignums() == []
