"""Checks of the output coordinates: shared ``(n_points, d)`` or per function.

The points at which ``G`` holds each function's values: one shared set of
coordinates, or points of their own per function, ``(n_functions, n_points,
d)``, padded with NaN (see :func:`check_point_sets`).
"""

import numpy as np
from sklearn.utils import check_array

from ._data import row_chunks


def resolve_coords(coords, n_columns, n_outputs=1):
    """Training coordinates (n_points, d): ``coords`` or a uniform grid on [0, 1].

    G has ``n_outputs * n_points`` columns (the output fields side by side).
    """
    if n_columns % n_outputs:
        raise ValueError(
            f"G has {n_columns} columns, which is not a multiple of n_outputs={n_outputs}; "
            "pass G with the output fields side by side, n_outputs * n_points columns "
            "(np.hstack([field_0, field_1, ...]))."
        )
    n_points = n_columns // n_outputs
    if coords is None:
        return np.linspace(0.0, 1.0, n_points).reshape(-1, 1)
    coords = check_coords(coords, "coords")
    if coords.shape[0] != n_points:
        fields = "" if n_outputs == 1 else f" = n_outputs ({n_outputs}) x {n_points} points"
        expect = "one row per column of G" if n_outputs == 1 else (
            "one row per point, G having n_outputs * len(coords) columns")
        raise ValueError(
            f"coords has {coords.shape[0]} rows but G has {n_columns} columns{fields}; "
            f"pass coords with {expect}."
        )
    return coords


def check_point_sets(points, G, n_functions, n_outputs=1, name="coords"):
    """Per-function points (n_functions, n_points, d), rows of NaN padding, checked against G.

    Function ``i`` is observed at ``points[i]``: column ``c * n_points + j`` of
    G holds field ``c`` at ``points[i, j]``. A row of NaN pads a function with
    fewer points; its targets must be missing (NaN) too.
    """
    try:
        P = check_array(points, allow_nd=True, ensure_2d=False, dtype=np.float64,
                        ensure_all_finite="allow-nan", input_name=name, ensure_min_samples=0)
    except ValueError as exc:
        raise ValueError(f"{exc} {name} must be an array of shape (n_points, d) (shared by every "
                         "function) or (n_functions, n_points, d) (each function's own "
                         "points, NaN rows as padding).") from exc
    if P.ndim != 3:
        raise ValueError(f"{name} must be 3-D of shape (n_functions, n_points, d) for points of "
                         f"their own per function; got shape {P.shape}.")
    if P.shape[0] != n_functions:
        raise ValueError(f"{name} holds points for {P.shape[0]} functions but U has "
                         f"{n_functions} rows; pass one set of points per function.")
    if G is not None and (G.shape[1] % n_outputs or P.shape[1] != G.shape[1] // n_outputs):
        raise ValueError(
            f"{name} has {P.shape[1]} points per function but G has {G.shape[1]} columns "
            f"(n_outputs={n_outputs}); pass G with n_outputs * n_points columns, field c of "
            f"point j in column c * n_points + j.")
    if P.shape[1] == 0 or P.shape[2] == 0:
        raise ValueError(f"{name} is empty (shape {P.shape}); pass at least one point per "
                         "function with at least one coordinate.")
    nan = np.isnan(P)
    pad = nan.all(axis=-1)
    if (nan.any(axis=-1) & ~pad).any():
        i, j = np.argwhere(nan.any(axis=-1) & ~pad)[0]
        raise ValueError(f"{name}[{i}, {j}] has NaN in some coordinates only; a point is either "
                         "all finite or all NaN (padding).")
    if pad.all(axis=1).any():
        i = int(np.flatnonzero(pad.all(axis=1))[0])
        raise ValueError(f"function {i} has no point: {name}[{i}] is all NaN.")
    if G is not None and pad.any():
        for rows in row_chunks(*G.shape):
            block = np.asarray(G[rows], dtype=np.float64).reshape(
                rows.stop - rows.start, n_outputs, -1)
            bad = ~np.isnan(block) & pad[rows][:, None, :]
            if bad.any():
                i, c, j = np.argwhere(bad)[0]
                raise ValueError(
                    f"G holds a value for function {rows.start + i} at its padding point {j} "
                    f"({name}[{rows.start + i}, {j}] is NaN); mark the targets of padding "
                    "points NaN too.")
    return P


def finite_points(coords):
    """The finite rows of shared (n, d) or per-function (n_functions, n, d) coordinates, (N, d)."""
    flat = np.asarray(coords).reshape(-1, np.shape(coords)[-1])
    return flat[np.isfinite(flat).all(axis=1)]


def check_coords(coords, name, d=None):
    """Validate coordinates: 2-D float64 (a 1-D array is one coordinate), at least one row."""
    if coords is None:
        raise ValueError(f"{name} is None; pass an array of shape (n_points, d).")
    try:
        coords = check_array(coords, ensure_2d=False, dtype=np.float64, input_name=name,
                             ensure_min_samples=0)
    except ValueError as exc:
        raise ValueError(f"{exc} {name} must be an array of finite real coordinates of shape "
                         "(n_points, d).") from exc
    if coords.ndim == 1:
        coords = coords.reshape(-1, 1)
    if coords.ndim != 2:
        raise ValueError(f"{name} must be 2-D of shape (n_points, d); got shape {coords.shape}.")
    if coords.shape[0] == 0 or coords.shape[1] == 0:
        raise ValueError(
            f"{name} is empty (shape {coords.shape}); pass at least one point with at least "
            "one coordinate, as an array of shape (n_points, d)."
        )
    if d is not None and coords.shape[1] != d:
        raise ValueError(
            f"{name} has {coords.shape[1]} columns (coordinate dimensions) but the model "
            f"was fitted on {d}-dimensional coordinates; pass coords of shape (n_points, {d})."
        )
    return coords


def predict_coords(est, coords, n):
    """``predict``'s coordinates: the fitted ones, shared (m, d) or per function (n, m, d)."""
    d = est.network_.y_shift.numel()
    if coords is None:
        if est.coords_ is None:
            raise ValueError(
                "the model was fitted on points of their own per function, so predict needs "
                "coords: shared (n_points, d) or per function (n_functions, n_points, d), with "
                f"d = {d}. A search or cross-validation passes coords to score only with "
                "metadata routing: sklearn.set_config(enable_metadata_routing=True) and "
                "est.set_fit_request(coords=True).set_score_request(coords=True).")
        return est.coords_
    if np.ndim(coords) == 3:
        P = check_point_sets(coords, None, n)
        if P.shape[2] != d:
            raise ValueError(f"coords has {P.shape[2]} columns but the model was fitted on "
                             f"{d}-dimensional coordinates.")
        return P
    return check_coords(coords, "coords", d=d)


def partial_fit_coords(est, n_columns, call="partial_fit"):
    """The coordinates of a ``partial_fit`` call (or a ``warm_start`` fit, ``call="fit"``,
    whose estimator has no ``coords``) without ``coords`` that continues a model.

    The fitted points (``coords_``) when ``G`` is at them; else the
    estimator's ``coords`` (a ``set_params`` since the fit), or, when the
    model was fitted on the default grid, the default grid of ``G``'s width.
    Points ``fit`` was given explicitly are never replaced by a grid of
    another width: that is an error asking for ``coords``.
    """
    fitted, k = est.coords_, est.n_outputs
    if fitted is None:
        raise ValueError(f"{call} continues a model fitted on points of their own per "
                         f"function; pass them: {call}(U, G, coords=...) with coords of "
                         "shape (n_functions, n_points, d).")
    if len(fitted) * k == n_columns:
        return fitted
    if est.coords is not None:
        return est.coords
    if np.array_equal(fitted, resolve_coords(None, len(fitted) * k, k)):
        return None  # fitted on the default grid: the default grid of this G
    raise ValueError(
        f"{call}: G has {n_columns} columns but the model was fitted at the {len(fitted)} "
        f"points (coords_) given to fit{'' if k == 1 else f', {k} fields each'}; pass G at "
        f"those points, or the points of this G: {call}(U, G, coords=...).")

