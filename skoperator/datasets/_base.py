"""Helpers shared by the generators and solvers of :mod:`skoperator.datasets`.

- :func:`_map_row_chunks`: the chunked, threaded loop of the PDE solvers;
  :func:`_map_linear_solves` and :func:`_check_solution` for linear solves whose
  inputs' scale can make them fail.
- :func:`_renamed_parameters`: deprecated keyword aliases (FutureWarning).
- :func:`_check_functions` and :func:`_check_points`: the array inputs of the
  solvers (scalar arguments are checked by ``validate_params``).
- :func:`_piecewise_linear_integrals`: exact integrals of the piecewise-linear
  interpolant of sensor values (antiderivative and Poisson).
"""

import functools
import warnings
from numbers import Integral

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs

from .._compat import Interval

# joblib's n_jobs: None, a positive count, or -1, -2, ... (all CPUs, all but one, ...);
# 0 has no meaning (a bool is rejected: skoperator's Interval refuses bools).
N_JOBS = [Interval(Integral, 1, None, closed="left"),
          Interval(Integral, None, -1, closed="right"), None]


def _map_row_chunks(func, n_rows, *, chunk_size, n_jobs):
    """Call ``func(rows)`` on consecutive row slices; return the results in order.

    Slices hold at most ``chunk_size`` rows. They run one after the other when
    there is one slice or ``effective_n_jobs(n_jobs) == 1``, else on joblib
    threads: numpy, ``scipy.fft`` and SuperLU release the GIL, so threads scale,
    and a ``func`` may write straight into a shared output array. Threads are
    required (``require="sharedmem"``), not preferred: a process backend chosen
    with :func:`joblib.parallel_config` would lose those writes. Each row is
    computed by the same code whatever the chunking, so results do not depend
    on ``n_jobs``.
    """
    chunks = [
        slice(start, min(start + chunk_size, n_rows))
        for start in range(0, n_rows, chunk_size)
    ]
    if len(chunks) <= 1 or effective_n_jobs(n_jobs) == 1:
        return [func(rows) for rows in chunks]
    return Parallel(n_jobs=n_jobs, require="sharedmem")(
        delayed(func)(rows) for rows in chunks
    )


def _map_linear_solves(func, n_rows, *, chunk_size, n_jobs, inputs, hint):
    """:func:`_map_row_chunks` for linear solves: a singular factor is the inputs' fault.

    SuperLU raises a bare ``RuntimeError`` ("Factor is exactly singular") when
    the values of ``inputs`` (a phrase naming the arguments) under- or
    overflow in the matrix; it is raised as a FloatingPointError naming them,
    with ``hint`` (how to rescale them).
    """
    try:
        return _map_row_chunks(func, n_rows, chunk_size=chunk_size, n_jobs=n_jobs)
    except RuntimeError as exc:
        if "singular" not in str(exc):
            raise
        raise FloatingPointError(_unsolvable(inputs, hint, str(exc))) from exc


def _check_solution(values, *, inputs, hint):
    """Raise a FloatingPointError naming ``inputs`` unless ``values`` are all finite."""
    if not np.all(np.isfinite(values)):
        raise FloatingPointError(_unsolvable(inputs, hint, "the solution is not finite"))


def _unsolvable(inputs, hint, why):
    return (f"the discretised problem could not be solved in float64 ({why}): the values "
            f"of {inputs} are so large or so small that the matrix or the solution over- "
            f"or underflows. {hint}")


def _is_unset(value):
    """Whether a deprecated keyword holds its ``"deprecated"`` sentinel."""
    return isinstance(value, str) and value == "deprecated"


def _renamed_parameters(renames, *, since="0.2.0", removed_in="0.5.0"):
    """Decorator accepting deprecated keyword names, ``{old: new}``.

    The decorated function keeps ``old="deprecated"`` in its signature (so that
    it is documented and validated); a call that passes ``old`` gets a
    FutureWarning naming ``new`` and runs as if it had passed ``new``. Passing
    both is an error. Apply it below ``validate_params``, so that an old value
    is validated under its own name.
    """

    def decorator(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            for old, new in renames.items():
                if old not in kwargs or _is_unset(kwargs[old]):
                    continue
                if new in kwargs:
                    raise ValueError(
                        f"{func.__name__} got both {old}={kwargs[old]!r} and "
                        f"{new}={kwargs[new]!r}; {old} is the deprecated name of "
                        f"{new}: pass {new} only."
                    )
                warnings.warn(
                    f"{old} was renamed to {new} in version {since} and will be "
                    f"removed in {removed_in}; pass {new}={kwargs[old]!r} instead.",
                    FutureWarning,
                    # user -> validate_params' wrapper -> this wrapper
                    stacklevel=3,
                )
                kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        return wrapper

    return decorator


def _check_functions(
    values,
    name,
    *,
    n_columns=None,
    min_columns=2,
    rows="n_functions",
    columns="n_sensors",
    layout="one row per function, one column per sensor",
):
    """Return ``values`` as a C-contiguous float64 2-D array, and a 1-D flag.

    A 1-D array is one function: it comes back as one row, with the flag set
    so that the caller can return a 1-D result. The array must have
    ``n_columns`` columns (or at least ``min_columns``), at least one row, and
    only finite values.
    """
    if n_columns is None:
        expected = (
            f"({rows}, {columns}) with {rows} >= 1 and {columns} >= "
            f"{min_columns}, or ({columns},)"
        )
    else:
        expected = f"({rows}, {n_columns}) with {rows} >= 1, or ({n_columns},)"
    if np.iscomplexobj(values):  # a cast would drop the imaginary part with a warning only
        raise ValueError(f"{name} must be real; got a complex array. Pass its real part, "
                         f"{name}.real, if that is what is meant.")
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must be an array of real numbers of shape {expected}; it "
            f"could not be converted to float64 ({exc})."
        ) from exc
    shape = array.shape
    one_function = array.ndim == 1
    if one_function:
        array = array[None, :]
    if (
        array.ndim != 2
        or array.shape[0] == 0
        or (n_columns is not None and array.shape[1] != n_columns)
        or (n_columns is None and array.shape[1] < min_columns)
    ):
        raise ValueError(
            f"{name} must have shape {expected} ({layout}), got shape {shape}; "
            f"reshape {name} to that layout."
        )
    bad = ~np.isfinite(array)
    if bad.any():
        row = np.nonzero(bad.any(axis=1))[0][0]
        raise ValueError(
            f"{name} must be finite, got {int(bad.sum())} NaN or infinite "
            f"values (first in {name}[{row}]); remove or replace them."
        )
    return np.ascontiguousarray(array), one_function


def _check_points(points, name="points"):
    """Return ``points`` (x in [0, 1], shape (n,) or (n, 1)) as 1-D float64."""
    try:
        array = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must be an array of real numbers in [0, 1] of shape "
            f"(n_points,) or (n_points, 1); it could not be converted to "
            f"float64 ({exc})."
        ) from exc
    shape = array.shape
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            f"{name} must have shape (n_points,) or (n_points, 1) with "
            f"n_points >= 1, got shape {shape}; pass one x per point, e.g. "
            f"{name}=np.linspace(0, 1, 100)."
        )
    outside = ~((array >= 0.0) & (array <= 1.0))  # NaN is outside too
    if outside.any():
        i, count = int(np.nonzero(outside)[0][0]), int(outside.sum())
        raise ValueError(
            f"{name} must lie in [0, 1] (the domain of the problem), got "
            f"{count} value{'s' if count > 1 else ''} outside it, first "
            f"{name}[{i}] = {float(array[i])}; rescale or drop those points."
        )
    return array


def _piecewise_linear_integrals(F, sensors, points, *, first_moment=False):
    """Exact integrals from 0 of the piecewise-linear interpolant of ``F``.

    Parameters
    ----------
    F : ndarray of shape (n_functions, n_sensors)
        Values at the increasing ``sensors`` (``sensors[0] == 0``).
    sensors : ndarray of shape (n_sensors,)
    points : ndarray of shape (n_points,)
        Upper limits ``x``, each in ``[sensors[0], sensors[-1]]``.
    first_moment : bool, default=False
        Also return ``int_0^x xi f(xi) dxi``.

    Returns
    -------
    I0 : ndarray of shape (n_functions, n_points)
        ``int_0^x f(xi) dxi``.
    I1 : ndarray of shape (n_functions, n_points)
        ``int_0^x xi f(xi) dxi``, only with ``first_moment=True``.

    Notes
    -----
    Whole intervals add up in a cumulative sum (the trapezoid rule, exact for
    a linear function); the part of the interval that holds ``x`` is added in
    closed form. At a sensor that part is exactly zero, so ``I0`` there is
    the cumulative trapezoid sum itself.
    """
    n_functions = F.shape[0]
    h = np.diff(sensors)
    zero = np.zeros((n_functions, 1))
    C0 = np.concatenate(
        [zero, np.cumsum(0.5 * (F[:, 1:] + F[:, :-1]) * h, axis=1)], axis=1
    )
    # Interval j holds x; x == sensors[-1] gets j = n_sensors - 1 and d = 0.
    j = np.clip(np.searchsorted(sensors, points, side="right") - 1, 0, len(sensors) - 1)
    d = points - sensors[j]
    k = np.minimum(j, len(sensors) - 2)  # slope of the interval (any when d == 0)
    # np.take keeps the gathered (n_functions, n_points) arrays C-contiguous.
    slope = (np.take(F, k + 1, axis=1) - np.take(F, k, axis=1)) / h[k]
    f_j = np.take(F, j, axis=1)
    part0 = f_j * d + 0.5 * slope * d**2
    I0 = np.take(C0, j, axis=1) + part0
    if not first_moment:
        return I0
    left, right = sensors[:-1], sensors[1:]
    whole1 = h * (F[:, :-1] * (2 * left + right) + F[:, 1:] * (left + 2 * right)) / 6.0
    C1 = np.concatenate([zero, np.cumsum(whole1, axis=1)], axis=1)
    # int_0^d (x_j + tau) (f_j + slope tau) dtau
    part1 = sensors[j] * part0 + f_j * d**2 / 2.0 + slope * d**3 / 3.0
    return I0, np.take(C1, j, axis=1) + part1
