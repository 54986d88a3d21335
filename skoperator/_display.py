"""OperatorPredictionDisplay: one output function, true against predicted, with its band."""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._compat import _num_samples, _safe_indexing, check_matplotlib_support, is_count
from ._unwrap import final_estimator

__all__ = ["OperatorPredictionDisplay"]


def _fitted_coords(estimator):
    """The fitted output coordinates of an operator model, looking inside wrappers."""
    final = final_estimator(estimator)
    coords = getattr(final, "coords_", None)
    if coords is None:
        raise ValueError(f"{type(final).__name__} has no fitted coordinates (coords_); pass "
                         "coords=, the coordinates of the columns of y.")
    return np.asarray(coords)


def _check_index(index, n_functions):
    """A clear error for a row ``index`` outside ``n_functions`` rows."""
    if not is_count(index, minimum=-np.inf):
        raise ValueError(f"index must be an int, the row of the function to show; got "
                         f"{index!r}.")
    if not -n_functions <= index < n_functions:
        raise ValueError(f"index={index} is out of range: there are {n_functions} functions "
                         f"(rows), so index must be in [{-n_functions}, {n_functions - 1}]; "
                         "pass the row of the function to show.")


def _as_row(values, name, n_columns):
    """float64 1-D copy of one function's values (None stays None)."""
    if values is None:
        return None
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.shape[0] != n_columns:
        raise ValueError(f"{name} has {values.shape[0]} values per function but coords has "
                         f"{n_columns} points; pass them at the same points.")
    return values


def _check_grid_shape(grid_shape):
    """``grid_shape`` as (rows, columns), two positive ints, else a ValueError naming it."""
    shape = tuple(grid_shape) if isinstance(grid_shape, (tuple, list)) else ()
    if len(shape) != 2 or not all(is_count(s) for s in shape):
        raise ValueError(f"grid_shape must be (rows, columns), two positive ints; got "
                         f"{grid_shape!r}. Pass the 2-D grid of the output points.")
    return shape


def _uniform(values):
    """Whether sorted unique ``values`` are evenly spaced (an image's pixels lie so)."""
    steps = np.diff(values)
    return len(steps) < 2 or np.allclose(steps, steps.mean(), rtol=1e-6, atol=0.0)


def _grid(coords, n_points, grid_shape):
    """``(order, shape, extent, labels)`` to show values on a 2-D grid, or None when scattered
    (points on an uneven grid too: they are coloured where they lie, not as even pixels)."""
    if grid_shape is not None:
        ny, nx = _check_grid_shape(grid_shape)
        if ny * nx != n_points:
            raise ValueError(f"grid_shape={tuple(grid_shape)} has {ny * nx} cells but there are "
                             f"{n_points} points per function.")
        if coords is not None and len(coords) != n_points:
            raise ValueError(f"coords has {len(coords)} points but grid_shape="
                             f"{tuple(grid_shape)} has {n_points} cells; pass the coordinates "
                             "of every cell, in the order of the values.")
        return (np.arange(n_points), (ny, nx)) + _grid_axes(coords, ny, nx)
    x, y = coords[:, 0], coords[:, 1]
    ux, uy = np.unique(x), np.unique(y)
    if len(ux) * len(uy) != n_points:
        return None
    order = np.lexsort((x, y))  # y (rows) first, x (columns) within a row
    if len(np.unique(np.stack([x[order], y[order]]), axis=1).T) != n_points \
            or not (_uniform(ux) and _uniform(uy)):
        return None
    # pixel edges half a cell beyond the outermost points (which are pixel centres)
    hx = (ux[-1] - ux[0]) / (2 * (len(ux) - 1)) if len(ux) > 1 else 0.5
    hy = (uy[-1] - uy[0]) / (2 * (len(uy) - 1)) if len(uy) > 1 else 0.5
    return (order, (len(uy), len(ux)), (ux[0] - hx, ux[-1] + hx, uy[0] - hy, uy[-1] + hy),
            ("y[0]", "y[1]"))


def _grid_axes(coords, ny, nx):
    """``(extent, labels)`` of points laid out row by row on a (ny, nx) grid.

    The horizontal axis is the coordinate that varies along a row, the
    vertical one the coordinate that varies along a column, whichever
    columns of ``coords`` they are (``(i, j)`` data have ``y[0]`` slowest);
    the edges lie half a cell beyond the outermost points. No extent when
    ``coords`` do not say (none, one column, or one coordinate along both).
    """
    if coords is None or coords.shape[1] < 2:
        return None, ("column", "row")
    cells = coords.reshape(ny, nx, -1)
    h = int(np.argmax(np.ptp(cells[0], axis=0))) if nx > 1 else None
    v = int(np.argmax(np.ptp(cells[:, 0], axis=0))) if ny > 1 else None
    h = h if h is not None else (1 if v == 0 else 0)
    v = v if v is not None else (1 if h == 0 else 0)
    if h == v:
        return None, ("column", "row")
    xs, ys = cells[0, :, h], cells[:, 0, v]
    if not (_uniform(np.sort(xs)) and _uniform(np.sort(ys))):  # no even pixels: cell indices
        return None, ("column", "row")
    hx = (xs[-1] - xs[0]) / (2 * (nx - 1)) if nx > 1 else 0.5
    hy = (ys[-1] - ys[0]) / (2 * (ny - 1)) if ny > 1 else 0.5
    return (xs[0] - hx, xs[-1] + hx, ys[0] - hy, ys[-1] + hy), (f"y[{h}]", f"y[{v}]")


def _pick(y_true, y_pred, lower, upper, coords, grid_shape, index, output):
    """One function's values of one field: the display's arrays, as keywords."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_true = y_true.reshape(1, -1) if y_true.ndim == 1 else y_true
    if grid_shape is not None:
        _check_grid_shape(grid_shape)
    if (lower is None) != (upper is None):
        raise ValueError("lower and upper go together (the band between them); got only "
                         f"{'lower' if upper is None else 'upper'}. Pass both, or neither.")
    if coords is not None:
        coords = np.asarray(coords, dtype=np.float64)
        coords = coords.reshape(len(coords), -1)
        if coords.shape[1] > 2 and grid_shape is None:
            raise ValueError(f"coords has {coords.shape[1]} columns; the display shows "
                             "functions of one or two coordinates, or of a grid_shape. Pass "
                             "grid_shape=(rows, columns), or two columns of coords.")
        n_points = coords.shape[0]
    elif grid_shape is not None:
        n_points = int(np.prod(grid_shape))
    else:
        n_points = y_true.shape[1]
    if y_true.shape[1] % n_points:
        where = f"grid_shape={tuple(grid_shape)}" if coords is None else "coords"
        raise ValueError(f"y_true has {y_true.shape[1]} columns, not a multiple of the "
                         f"{n_points} points of {where}.")
    n_outputs = y_true.shape[1] // n_points
    if not is_count(output, minimum=0) or not output < n_outputs:
        raise ValueError(f"output must be an int from 0 to {n_outputs - 1} (the columns hold "
                         f"{n_outputs} field(s)); got {output!r}.")
    _check_index(index, len(y_true))
    cols = slice(output * n_points, (output + 1) * n_points)

    def row(values, name):
        if values is None:
            return None
        values = np.asarray(values, dtype=np.float64)
        values = values.reshape(1, -1) if values.ndim == 1 else values
        if values.shape != y_true.shape:
            raise ValueError(f"{name} has shape {values.shape} but y_true has "
                             f"{y_true.shape}; pass arrays of the same shape.")
        return _as_row(values[index, cols], name, n_points)

    return dict(y_true=row(y_true, "y_true"), y_pred=row(y_pred, "y_pred"), coords=coords,
                lower=row(lower, "lower"), upper=row(upper, "upper"))


class OperatorPredictionDisplay:
    """One output function of an operator model: true, predicted, error, band.

    For functions of one coordinate, the true and predicted curves of one
    function on one axis (with the prediction band shaded when ``lower`` and
    ``upper`` are given) and their difference on a second axis below. For
    fields of two coordinates (``coords`` with two columns, or
    ``grid_shape``), three images side by side: true, predicted and error,
    each with a colorbar (true and predicted share one color scale).

    Create it with :meth:`from_estimator` or :meth:`from_predictions`; all
    parameters are stored as attributes. matplotlib is needed only to plot.

    Parameters
    ----------
    y_true : ndarray of shape (n_points,)
        True values of the function at ``coords``.

    y_pred : ndarray of shape (n_points,)
        Predicted values.

    coords : ndarray of shape (n_points, d) or None
        Coordinates of the points (d = 1 for curves, 2 for fields); None
        with ``grid_shape`` (image rows and columns only) or for a curve over
        the point index.

    lower : ndarray of shape (n_points,), default=None
        Lower edge of a prediction band.

    upper : ndarray of shape (n_points,), default=None
        Upper edge of a prediction band.

    grid_shape : tuple of int (ny, nx), default=None
        Show the values as an image of ``ny`` rows and ``nx`` columns, in the
        order of the points (row-major); None infers a grid from 2-D
        ``coords`` (scattered points are drawn with ``tripcolor``).

    index : int, default=0
        Row of the function shown, for titles.

    Attributes
    ----------
    ax_ : matplotlib Axes
        The main axes: the curves (1-D) or the true field (2-D).

    axes_ : ndarray of matplotlib Axes
        Every axes drawn on: curves and error (1-D, or just the curves when
        ``plot`` was given a single axes), or true, predicted and error (2-D).

    figure_ : matplotlib Figure
        The figure of the axes.

    line_true_ : matplotlib Line2D or None
        The true curve (1-D).

    line_pred_ : matplotlib Line2D or None
        The predicted curve (1-D).

    band_ : matplotlib PolyCollection or None
        The shaded band (1-D, with ``lower`` and ``upper``).

    line_error_ : matplotlib Line2D or None
        The error curve ``y_true - y_pred`` (1-D, with an error axes).

    images_ : list of matplotlib artists or None
        True, predicted and error images (2-D).

    colorbars_ : list of matplotlib Colorbar or None
        Their colorbars (2-D).

    See Also
    --------
    sklearn.metrics.PredictionErrorDisplay : Scatter of errors of ordinary
        regressors.
    skoperator.uncertainty.ConformalBandRegressor : Gives the band drawn by
        ``from_estimator``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skoperator.inspection import OperatorPredictionDisplay
    >>> x = np.linspace(0, 1, 50).reshape(-1, 1)
    >>> G = np.sin(6 * x.T)
    >>> display = OperatorPredictionDisplay.from_predictions(
    ...     G, G + 0.05, coords=x, lower=G - 0.1, upper=G + 0.2)
    >>> len(display.axes_)
    2
    """

    def __init__(self, *, y_true, y_pred, coords, lower=None, upper=None, grid_shape=None,
                 index=0):
        self.y_true = y_true
        self.y_pred = y_pred
        self.coords = coords
        self.lower = lower
        self.upper = upper
        self.grid_shape = grid_shape
        self.index = index

    def _coords(self):
        """``coords`` as float64 (n_points, d), a 1-D array as one column; or None."""
        if self.coords is None:
            return None
        coords = np.asarray(self.coords, dtype=np.float64)
        return coords.reshape(len(coords), -1)

    def _is_field(self):
        return self.grid_shape is not None or (
            self.coords is not None and self._coords().shape[1] == 2)

    def plot(self, ax=None, *, true_kwargs=None, pred_kwargs=None, band_kwargs=None,
             image_kwargs=None, error_cmap="RdBu_r"):
        """Plot visualization.

        Parameters
        ----------
        ax : matplotlib Axes or array-like of Axes, default=None
            Where to draw. None creates a figure: two axes stacked (curves
            above, error below) for 1-D, three side by side for 2-D. For 1-D,
            one Axes draws the curves only, two draw curves and error; 2-D
            needs three.

        true_kwargs : dict, default=None
            Keywords of the true curve's ``plot`` call (1-D).

        pred_kwargs : dict, default=None
            Keywords of the predicted curve's ``plot`` call (1-D).

        band_kwargs : dict, default=None
            Keywords of the band's ``fill_between`` call (1-D).

        image_kwargs : dict, default=None
            Keywords of the true and predicted images' ``imshow`` (or
            ``tripcolor``) calls (2-D), for instance ``cmap``.

        error_cmap : str, default="RdBu_r"
            Colormap of the error image (2-D), centred on zero.

        Returns
        -------
        display : OperatorPredictionDisplay
            Object that stores the computed values.
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        field = self._is_field()
        n_axes = 3 if field else 2
        if ax is None:
            if field:
                fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), constrained_layout=True)
            else:
                fig, axes = plt.subplots(2, 1, sharex=True, figsize=(6.4, 5.2),
                                         gridspec_kw={"height_ratios": [3, 1]},
                                         constrained_layout=True)
        else:
            axes = np.atleast_1d(np.asarray(ax, dtype=object)).ravel()
            if len(axes) not in ((1, 2) if not field else (3,)):
                raise ValueError(f"ax must be {'three Axes' if field else 'one or two Axes'} "
                                 f"for {'2-D fields' if field else '1-D functions'}; got "
                                 f"{len(axes)}.")
            n_axes = len(axes)
        axes = np.asarray(list(np.ravel(axes)), dtype=object)
        self.line_true_ = self.line_pred_ = self.band_ = self.line_error_ = None
        self.images_ = self.colorbars_ = None
        try:
            if field:
                self._plot_field(axes, image_kwargs, error_cmap)
            else:
                self._plot_curves(axes, n_axes, true_kwargs, pred_kwargs, band_kwargs)
        except Exception:
            if ax is None:  # the figure this call opened: a failed call leaves none
                plt.close(axes[0].figure)
            raise
        self.axes_ = axes
        self.ax_ = axes[0]
        self.figure_ = axes[0].figure
        return self

    def _plot_curves(self, axes, n_axes, true_kwargs, pred_kwargs, band_kwargs):
        true = np.asarray(self.y_true, dtype=np.float64)
        pred = np.asarray(self.y_pred, dtype=np.float64)
        if self.coords is None:
            x, xlabel = np.arange(len(true), dtype=np.float64), "point"
        else:
            x, xlabel = self._coords()[:, 0], "y"
        order = np.argsort(x, kind="stable")
        x, true, pred = x[order], true[order], pred[order]
        ax = axes[0]
        has_band = self.lower is not None and self.upper is not None
        if has_band:
            lower = np.asarray(self.lower, dtype=np.float64)[order]
            upper = np.asarray(self.upper, dtype=np.float64)[order]
            self.band_ = ax.fill_between(x, lower, upper, **{
                "color": "tab:orange", "alpha": 0.25, "linewidth": 0, "label": "band",
                **(band_kwargs or {})})
        self.line_true_ = ax.plot(x, true, **{"color": "black", "label": "true",
                                              **(true_kwargs or {})})[0]
        self.line_pred_ = ax.plot(x, pred, **{"color": "tab:orange", "linestyle": "--",
                                              "label": "predicted", **(pred_kwargs or {})})[0]
        ax.set(ylabel="G(u)(y)", title=f"function {self.index}")
        ax.legend(loc="best")
        if n_axes < 2:
            ax.set(xlabel=xlabel)
            return
        err_ax = axes[1]
        if has_band:
            err_ax.fill_between(x, lower - pred, upper - pred, color="tab:orange", alpha=0.25,
                                linewidth=0)
        err_ax.axhline(0.0, color="gray", linewidth=0.8)
        self.line_error_ = err_ax.plot(x, true - pred, color="tab:red")[0]
        err_ax.set(xlabel=xlabel, ylabel="true - predicted")

    def _plot_field(self, axes, image_kwargs, error_cmap):
        true = np.asarray(self.y_true, dtype=np.float64)
        pred = np.asarray(self.y_pred, dtype=np.float64)
        coords = self._coords()
        grid = _grid(coords, len(true), self.grid_shape)
        if grid is None and np.linalg.matrix_rank(coords - coords.mean(axis=0)) < 2:
            raise ValueError("coords are 2-D points on one line: there is no surface to "
                             "colour between them. Pass one column of coords (a curve), or "
                             "points that span the plane.")
        error = true - pred
        finite = true[np.isfinite(true)]
        vmin = min(finite.min(initial=np.inf), pred.min())
        vmax = max(finite.max(initial=-np.inf), pred.max())
        emax = float(np.nanmax(np.abs(error))) if np.isfinite(error).any() else 1.0
        emax = emax or 1.0
        kwargs = {"cmap": "viridis", **(image_kwargs or {})}
        panels = [(true, "true", dict(vmin=vmin, vmax=vmax, **kwargs)),
                  (pred, "predicted", dict(vmin=vmin, vmax=vmax, **kwargs)),
                  (error, "true - predicted", dict(vmin=-emax, vmax=emax, cmap=error_cmap))]
        if self.lower is not None and self.upper is not None:
            inside = bool(np.all((np.asarray(self.lower) <= true) | np.isnan(true))
                          and np.all((true <= np.asarray(self.upper)) | np.isnan(true)))
            panels[2] = (error, f"true - predicted ({'inside' if inside else 'outside'} "
                         "the band)", panels[2][2])
        self.images_, self.colorbars_ = [], []
        for ax, (values, title, style) in zip(axes, panels):
            labels = ("y[0]", "y[1]")
            if grid is not None:
                order, shape, extent, labels = grid
                image = ax.imshow(values[order].reshape(shape), origin="lower", extent=extent,
                                  aspect="auto", **style)
            else:
                image = ax.tripcolor(coords[:, 0], coords[:, 1], values, shading="gouraud",
                                     **style)
            ax.set(title=title, xlabel=labels[0], ylabel=labels[1])
            self.images_.append(image)
            self.colorbars_.append(ax.figure.colorbar(image, ax=ax))
        axes[0].set_title(f"true (function {self.index})")

    @classmethod
    def from_estimator(cls, estimator, X, y, *, coords=None, index=0, output=0,
                       grid_shape=None, ax=None, **plot_kwargs):
        """Plot one function's prediction by a fitted operator model.

        Predicts row ``index`` of ``X`` only; draws the band of
        ``estimator.predict_interval`` when the estimator has one (a
        :class:`~skoperator.uncertainty.ConformalBandRegressor`).

        Parameters
        ----------
        estimator : estimator instance
            A fitted operator regressor (or a pipeline ending in one); its
            ``predict`` must take ``coords`` when ``coords`` is given.

        X : array-like of shape (n_functions, n_sensors)
            ``U``: input functions.

        y : array-like of shape (n_functions, n_columns)
            ``G``: true outputs at ``coords`` (the fitted coordinates when
            ``coords`` is None).

        coords : array-like of shape (n_points, d), default=None
            Where to predict; None uses the estimator's fitted coordinates.

        index : int, default=0
            Row of the function to show.

        output : int, default=0
            Output field to show, when the columns hold several fields.

        grid_shape : tuple of int (ny, nx), default=None
            Show the values as an image of this shape (see the class).

        ax : matplotlib Axes or array-like of Axes, default=None
            Where to draw (see :meth:`plot`).

        **plot_kwargs : dict
            More keywords of :meth:`plot`.

        Returns
        -------
        display : OperatorPredictionDisplay
            Object that stores the computed values.
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        check_is_fitted(estimator)
        n_functions = _num_samples(X)
        if _num_samples(y) != n_functions:
            raise ValueError(f"y has {_num_samples(y)} rows but X has {n_functions}; pass one "
                             "output function per input function.")
        _check_index(index, n_functions)
        row = _safe_indexing(X, [index])
        kwargs = {} if coords is None else {"coords": coords}
        fitted = np.asarray(coords if coords is not None else _fitted_coords(estimator),
                            dtype=np.float64)
        fitted = fitted.reshape(len(fitted), -1)
        y_pred = estimator.predict(row, **kwargs)
        lower = upper = None
        if hasattr(estimator, "predict_interval"):
            lower, upper = estimator.predict_interval(row, **kwargs)
        y_true = _safe_indexing(y, [index])
        rows = _pick(y_true, y_pred, lower, upper, fitted, grid_shape, 0, output)
        display = cls(**rows, grid_shape=grid_shape, index=index)
        return display.plot(ax=ax, **plot_kwargs)

    @classmethod
    def from_predictions(cls, y_true, y_pred, *, coords, lower=None, upper=None,
                         grid_shape=None, index=0, output=0, ax=None, **plot_kwargs):
        """Plot one function's prediction from arrays of true and predicted outputs.

        Parameters
        ----------
        y_true : array-like of shape (n_functions, n_columns) or (n_columns,)
            True outputs (NaN marks a missing value).

        y_pred : array-like of shape (n_functions, n_columns) or (n_columns,)
            Predicted outputs.

        coords : array-like of shape (n_points, d) or None
            Coordinates of the columns of one field; None with ``grid_shape``
            or for curves over the point index.

        lower : array-like of shape (n_functions, n_columns), default=None
            Lower edge of a prediction band.

        upper : array-like of shape (n_functions, n_columns), default=None
            Upper edge of a prediction band.

        grid_shape : tuple of int (ny, nx), default=None
            Show the values as an image of this shape (see the class).

        index : int, default=0
            Row of the function to show.

        output : int, default=0
            Output field to show, when the columns hold several fields side
            by side (field ``c`` at point ``j`` in column ``c * n_points + j``).

        ax : matplotlib Axes or array-like of Axes, default=None
            Where to draw (see :meth:`plot`).

        **plot_kwargs : dict
            More keywords of :meth:`plot`.

        Returns
        -------
        display : OperatorPredictionDisplay
            Object that stores the computed values.
        """
        check_matplotlib_support(f"{cls.__name__}.from_predictions")
        rows = _pick(y_true, y_pred, lower, upper, coords, grid_shape, index, output)
        display = cls(**rows, grid_shape=grid_shape, index=index)
        return display.plot(ax=ax, **plot_kwargs)
