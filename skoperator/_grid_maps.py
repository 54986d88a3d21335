"""Exact maps of a grid onto itself, the pieces the symmetry wrappers share.

:class:`BaseSymmetry` (a map of input and output rows, for
:class:`~skoperator.symmetry.SymmetrizedRegressor`), :class:`GridPermutation`
(a signed permutation of a grid's axes with a shift: mirrors, transpositions,
rotations) and the helpers of the canonicalisers of ``_canonical`` (the
statistic a map flips, the choice of maps per row, their action on rows).
"""

import math
from numbers import Integral

import numpy as np

from ._compat import Interval, StrOptions
from ._component import Component

__all__ = ["BaseSymmetry", "GridPermutation"]


class _RowMaps(Component):
    """Base of the maps of rows of U and G on a grid: the check of their columns."""

    def check_shapes(self, n_sensors, n_points, name):
        """Raise ``ValueError`` naming ``name`` when rows of U or G do not fit.

        Parameters
        ----------
        n_sensors : int
            Columns of ``U``.
        n_points : int
            Columns of ``G``.
        name : str
            How the error names this map (``"symmetry"``, ``"symmetries[0]"``).
        """


def _grid_pair(owner, grid, output_grid):
    """The checked ``(grid, output_grid)`` of ``owner`` (``output_grid`` None: ``grid``)."""
    grid = _grid_shape(owner, "grid", grid)
    return grid, (grid if output_grid is None else
                  _grid_shape(owner, "output_grid", output_grid))


def _check_columns(name, verb, n_sensors, n_points, grid, output_grid):
    """A ValueError naming ``name`` unless U's and G's columns are whole fields of the grids."""
    for what, n, shape in (("U", n_sensors, grid), ("G", n_points, output_grid)):
        size = math.prod(shape)
        if n % size:
            raise ValueError(
                f"{name} {verb} fields on the grid {shape} ({size} values each), but "
                f"{what} has {n} columns, not a multiple of {size}; pass the grid of "
                f"{what}'s rows (channels first, the last axis fastest).")


def _grid_shape(owner, name, value):
    """``value`` as a tuple of positive ints, or a ValueError naming ``name``."""
    if (not isinstance(value, (tuple, list)) or not value
            or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1
                       for n in value)):
        raise ValueError(f"{owner} {name} must be a non-empty tuple of positive ints (a grid "
                         f"shape); got {value!r}.")
    return tuple(int(n) for n in value)


class BaseSymmetry(_RowMaps):
    """Protocol of a symmetry: an exact map of input rows and of output rows.

    A symmetry ``g`` of an operator ``G`` maps every input function ``u`` (a
    row of ``U``) and its output (a row of ``G``) so that
    ``G(g u) = g G(u)``. Subclasses implement the three maps; they act on
    whole arrays, rows independently, and never change their arguments.
    :class:`SymmetrizedRegressor` expects involutions (``g g`` is the
    identity) that commute with each other.

    See Also
    --------
    Reflection : The mirror of one grid axis.
    SymmetrizedRegressor : Trains on the images.

    Examples
    --------
    >>> from skoperator.symmetry import BaseSymmetry, Reflection
    >>> issubclass(Reflection, BaseSymmetry)
    True
    """

    def mirrored_axis(self):
        """The grid axis this symmetry reverses, or None when it reverses none.

        :class:`SymmetrizedRegressor` refuses two symmetries that reverse
        the same axis (their composition is not a mirror, and the group
        would repeat elements). The base reverses no axis.

        Returns
        -------
        axis : int or None
            Non-negative grid axis, or None.
        """
        return None

    def transform_inputs(self, U):
        """Input rows ``g u``.

        Parameters
        ----------
        U : ndarray of shape (n_functions, n_sensors)
            Input functions.

        Returns
        -------
        U_image : ndarray of shape (n_functions, n_sensors)
            Their images.
        """
        raise NotImplementedError

    def transform_outputs(self, G):
        """Output rows ``g G(u)``.

        Parameters
        ----------
        G : ndarray of shape (n_functions, n_points)
            Outputs.

        Returns
        -------
        G_image : ndarray of shape (n_functions, n_points)
            Their images.
        """
        raise NotImplementedError

    def inverse_outputs(self, G):
        """Output rows ``g^-1 G``, the inverse of :meth:`transform_outputs`.

        Parameters
        ----------
        G : ndarray of shape (n_functions, n_points)
            Images of outputs.

        Returns
        -------
        G_original : ndarray of shape (n_functions, n_points)
            The outputs they are images of.
        """
        raise NotImplementedError


def _gradient_statistic(fields, power, axis=0):
    """Sum over each field of ``(d u / d axis) ** power`` (spectral derivative, periodic)."""
    fields = np.moveaxis(fields, 1 + axis, 1)
    n = fields.shape[1]
    k = np.fft.fftfreq(n, 1.0 / n).reshape((1, n) + (1,) * (fields.ndim - 2))
    if n % 2 == 0:
        k = np.where(np.abs(k) == n // 2, 0.0, k)  # the Nyquist mode has no signed derivative
    derivative = np.fft.ifft(1j * k * np.fft.fft(fields, axis=1), axis=1).real
    return (derivative ** power).reshape(len(fields), -1).sum(axis=1)


def _choose_points(points, U, grid, reference_channel):
    """Rows of ``U`` through the point symmetries each chooses, and the choices as bits.

    For each map ``g`` in turn, a row becomes ``g u`` where the statistic of
    its reference channel is larger there (bit ``j`` of the code: ``points[j]``
    applied).
    """
    U = np.asarray(U)
    chosen = np.zeros(len(U), dtype=np.int64)
    for j, g in enumerate(points):
        image = g.transform_inputs(U)
        before = g.statistic_of(U.reshape(len(U), -1, *grid)[:, reference_channel])
        after = g.statistic_of(image.reshape(len(U), -1, *grid)[:, reference_channel])
        take = after > before
        U = np.where(take[:, None], image, U)
        chosen |= take.astype(np.int64) << j
    return U, chosen


def _apply_chosen(points, A, chosen, apply, copy=True):
    """Rows of ``A`` through ``apply(g, rows)`` for each point symmetry their bits hold.

    ``copy=False``: ``A`` is the caller's own scratch array, changed in place.
    The inverse (``apply="inverse_outputs"``) undoes the maps in reverse order.
    """
    chosen = np.asarray(chosen, dtype=np.int64).reshape(-1)
    order = range(len(points))
    if apply == "inverse_outputs":
        order = reversed(order)
    A, copied = np.asarray(A), not copy
    for j in order:
        rows = (chosen >> j) & 1 == 1
        if rows.any():
            if not copied:  # the caller's array stays as it is
                A, copied = A.copy(), True
            A[rows] = getattr(points[j], apply)(A[rows])
    return A


def _check_points(owner, point_symmetries, grid, out):
    """The checked ``point_symmetries`` of ``owner`` (a list, maybe empty)."""
    found = list(point_symmetries or [])
    for j, g in enumerate(found):
        if not isinstance(g, GridPermutation):
            raise ValueError(f"{owner} point_symmetries[{j}] must be a "
                             f"GridPermutation; got {g!r}.")
        g.check()
        g_grid, g_out, _, _, _ = g._layout()
        if g_grid != grid or g_out != out:
            raise ValueError(f"{owner} point_symmetries[{j}] maps the grids "
                             f"{g_grid} -> {g_out}, not this {owner}'s {grid} -> "
                             f"{out}; give it grid={grid} and output_grid={out}.")
    return found


def check_statistics(owner, points, grid):
    """Refuse a map whose statistic it keeps: a field and its image would tie (a random
    field, fixed seed, as the probe), and rounding would choose between them."""
    probe = np.random.RandomState(0).standard_normal((1, math.prod(grid)))
    for j, g in enumerate(points):
        before = g.statistic_of(probe.reshape(1, *grid))[0]
        after = g.statistic_of(g.transform_inputs(probe).reshape(1, *grid))[0]
        if abs(after - before) <= 1e-6 * (abs(before) + abs(after)):
            raise ValueError(
                f"{owner} point_symmetries[{j}] keeps its own statistic ({g.statistic!r} "
                f"along axis {g.axis}): a field and its image tie, and the canonical form "
                "cannot choose between them. Pass the statistic the map changes: 'cubic' "
                "along an axis the map reverses, 'quadratic' along an axis it swaps with "
                "another.")


class GridPermutation(BaseSymmetry):
    """An exact map of a periodic grid onto itself: a signed permutation of its axes and a shift.

    The image of a field ``u`` on ``grid`` is ``(g u)(i) = input_sign *
    u((matrix @ i + offset) mod grid)`` for every multi-index ``i`` (the last
    axis fastest, channels first); outputs map alike on ``output_grid``, with
    ``output_sign``. It covers the point symmetries of a periodic domain: a
    mirror (``matrix`` diagonal with one -1), a rotation by 180 degrees
    (``-I``), a transposition (the swap of two equal axes), each with a shift.
    A pseudo-scalar such as a 2-D vorticity changes sign under a map that
    reverses orientation: ``input_sign=-1, output_sign=-1``.

    :class:`GridTranslation` takes such maps as ``point_symmetries``: maps
    that, with its translations, form a group (each maps a translation along
    ``direction`` to another one, and its square is one of them or the
    identity). Its canonical form then also chooses, for each map in turn,
    between ``u`` and ``g u``: the one with the larger translation-invariant
    statistic ``S`` (``statistic``: ``"quadratic"``, the energy of the
    gradient along grid axis 0, for a map that swaps axes; ``"cubic"``, the
    sum of its cube, for a map that reverses axis 0, which keeps the
    former). A map must change its statistic (the energy under a rotation
    by 180 degrees does not: the two would tie), and each later map must
    keep the earlier maps' statistics; a canonicaliser checks both on a
    random field when it is fitted. On a finer ``output_grid`` the map is
    that of a periodic grid of vertices (output node ``j`` at input
    position ``j / ratio``), so a mirror of a non-periodic grid (``offset``
    ``n - 1``) has no exact finer image: keep ``output_grid=None`` there. As a
    symmetry of :class:`SymmetrizedRegressor` it must be an involution
    (``g g`` the identity; a glide is not: its square is a shift).

    Parameters
    ----------
    grid : tuple of int
        Grid shape of each input field.
    matrix : tuple of tuple of int
        A signed permutation matrix (one entry -1 or 1 per row and column,
        the others 0), one row per grid axis; axes it swaps have one size.
    offset : tuple of int, default=None
        The shift, in cells of ``grid`` (None: no shift).
    output_grid : tuple of int, default=None
        Grid shape of each output field; None means ``grid``. Its sizes are
        whole multiples of ``grid``'s on every axis (one input cell is that
        many output cells; ``offset`` scales with them).
    input_sign : {1, -1}, default=1
        Sign of the mapped inputs.
    output_sign : {1, -1}, default=1
        Sign of the mapped outputs.
    statistic : {"quadratic", "cubic"}, default="quadratic"
        The statistic that chooses between ``u`` and ``g u`` in a
        :class:`GridTranslation`'s or :class:`GridPointGroup`'s canonical
        form.
    axis : int, default=0
        The grid axis along which the statistic differentiates (a mirror
        of axis 1 needs ``axis=1``: the cube of the derivative along axis 0
        does not change under it).

    See Also
    --------
    GridTranslation : Takes these maps as ``point_symmetries``.

    Examples
    --------
    >>> import numpy as np
    >>> from skoperator.symmetry import GridPermutation
    >>> transpose = GridPermutation(grid=(2, 2), matrix=((0, 1), (1, 0)))
    >>> transpose.transform_inputs(np.array([[1.0, 2.0, 3.0, 4.0]]))
    array([[1., 3., 2., 4.]])
    >>> rot = GridPermutation(grid=(3,), matrix=((-1,),), offset=(1,))
    >>> rot.inverse_outputs(rot.transform_outputs(np.array([[0.0, 1.0, 2.0]])))
    array([[0., 1., 2.]])
    """

    _parameter_constraints = {
        "grid": [tuple, list],
        "matrix": [tuple, list],
        "offset": [tuple, list, None],
        "output_grid": [tuple, list, None],
        "input_sign": [Interval(Integral, -1, 1, closed="both")],
        "output_sign": [Interval(Integral, -1, 1, closed="both")],
        "statistic": [StrOptions({"quadratic", "cubic"})],
        "axis": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(self, grid, matrix, offset=None, output_grid=None, input_sign=1,
                 output_sign=1, statistic="quadratic", axis=0):
        self.grid = grid
        self.matrix = matrix
        self.offset = offset
        self.output_grid = output_grid
        self.input_sign = input_sign
        self.output_sign = output_sign
        self.statistic = statistic
        self.axis = axis

    def _layout(self):
        """(grid, output_grid, matrix, offset, output offset)."""
        grid, out = _grid_pair("GridPermutation", self.grid, self.output_grid)
        d = len(grid)
        try:
            matrix = np.array(self.matrix, dtype=np.int64)
            ok = (matrix.shape == (d, d) and np.all(np.isin(matrix, (-1, 0, 1)))
                  and np.all(np.abs(matrix).sum(axis=0) == 1)
                  and np.all(np.abs(matrix).sum(axis=1) == 1)
                  and np.array_equal(np.array(self.matrix, dtype=float), matrix))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"GridPermutation matrix must be a {d} x {d} signed permutation "
                             f"matrix (one -1 or 1 per row and column, the rest 0) for "
                             f"grid={grid}, such as ((0, 1), (1, 0)) for a transposition; "
                             f"got {self.matrix!r}.")
        offset = np.zeros(d, dtype=np.int64) if self.offset is None else self.offset
        if (len(offset) != d or not all(isinstance(o, (int, np.integer))
                                        and not isinstance(o, bool) for o in offset)):
            raise ValueError(f"GridPermutation offset must hold one int per axis of "
                             f"grid={grid}; got {self.offset!r}.")
        offset = np.asarray(offset, dtype=np.int64)
        if len(out) != d:
            raise ValueError(f"GridPermutation output_grid={out} must have as many axes as "
                             f"grid={grid}.")
        for name, shape in (("grid", grid), ("output_grid", out)):
            rows, cols = np.nonzero(matrix)
            if any(shape[r] != shape[c] for r, c in zip(rows, cols)):
                raise ValueError(f"GridPermutation matrix={self.matrix!r} maps axes of "
                                 f"different sizes onto each other ({name}={shape}); a "
                                 "permutation swaps only axes of one size.")
        if not 0 <= self.axis < d:
            raise ValueError(f"GridPermutation axis={self.axis!r} must be an axis of "
                             f"grid={grid} (0 to {d - 1}).")
        if any(o % g for o, g in zip(out, grid)):
            raise ValueError(f"GridPermutation output_grid={out} must be a whole multiple of "
                             f"grid={grid} on every axis (one input cell is that many output "
                             "cells).")
        out_offset = offset * (np.asarray(out) // np.asarray(grid))
        for name, sign in (("input_sign", self.input_sign), ("output_sign", self.output_sign)):
            if sign not in (1, -1):
                raise ValueError(f"GridPermutation {name} must be 1 or -1; got {sign!r}.")
        return grid, out, matrix, offset, out_offset

    @staticmethod
    def _sources(shape, matrix, offset):
        """Flat index of the source cell of every cell of ``shape``."""
        index = np.indices(shape).reshape(len(shape), -1)  # (d, cells)
        source = (matrix @ index + offset[:, None]) % np.asarray(shape)[:, None]
        return np.ravel_multi_index(tuple(source), shape)

    def _apply(self, A, shape, matrix, offset, sign, inverse=False):
        A = np.asarray(A)
        size = math.prod(shape)
        fields = A.reshape(len(A), -1, size)
        source = self._sources(shape, matrix, offset)
        if inverse:
            out = np.empty_like(fields)
            out[:, :, source] = fields
        else:
            out = fields[:, :, source]
        if sign != 1:  # one pass less where the values keep their sign
            np.negative(out, out=out)
        return out.reshape(A.shape)

    def check_shapes(self, n_sensors, n_points, name):
        grid, out, _, _, _ = self._layout()
        _check_columns(name, "maps", n_sensors, n_points, grid, out)

    def transform_inputs(self, U):
        grid, _, matrix, offset, _ = self._layout()
        return self._apply(U, grid, matrix, offset, self.input_sign)

    def transform_outputs(self, G):
        _, out, matrix, _, out_offset = self._layout()
        return self._apply(G, out, matrix, out_offset, self.output_sign)

    def inverse_outputs(self, G):
        _, out, matrix, _, out_offset = self._layout()
        return self._apply(G, out, matrix, out_offset, self.output_sign, inverse=True)

    def statistic_of(self, fields):
        """The statistic ``S`` of each field that the canonical choice compares.

        Parameters
        ----------
        fields : ndarray of shape (n_fields, *grid)
            One field per row, on ``grid``.

        Returns
        -------
        statistic : ndarray of shape (n_fields,)
            The summed square (``"quadratic"``) or cube (``"cubic"``) of
            each field's periodic derivative along grid axis ``axis``.
        """
        self._layout()
        return _gradient_statistic(fields, 2 if self.statistic == "quadratic" else 3,
                                   self.axis)
