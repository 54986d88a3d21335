"""The protocols of branch, trunk and merge components, and the first-use check of their modules.

Public through :mod:`skoperator.networks`, which documents them.
"""

import dataclasses
from typing import Optional

import numpy as np
import torch
from torch import nn

from ._component import Component
from ._device import probing

_WIDTHS = ["array-like"]


def _check_widths(component, name):
    value = getattr(component, name)
    try:
        widths = tuple(int(w) for w in value)
        ok = all(int(w) == w and w >= 1 and not isinstance(w, (bool, np.bool_))
                 for w in value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite width
        ok = False
    if not ok:
        raise ValueError(
            f"{type(component).__name__}({name}={value!r}): expected a sequence of positive "
            f"ints (layer widths), for instance (40, 40, 40); got {value!r}.")
    return widths



@dataclasses.dataclass(frozen=True)
class BuildContext:
    """What a component sees when the estimator builds its module.

    Parameters
    ----------
    generator : torch.Generator
        Seeded from the estimator's ``random_state``; initialise from it.
    coords : Tensor of shape (n_points, d) or None, default=None
        Standardised training coordinates.
    targets : Tensor of shape (n_functions, n_points, n_fields) or None, default=None
        Standardised training targets (NaN where missing) of the fields this
        module serves; given to table trunks only. For a streamed ``G`` (a
        large memmap, HDF5, Zarr, Dask) it is a ``StreamedTargets`` of the
        same shape that reads ``G`` in row chunks (``blocks()``), never whole.
    basis : list of Tensor or None, default=None
        For branches: per branch field, a projection basis (n_points, p) of
        the table trunk (POD modes scaled so that ``field @ basis`` are the
        coefficients of a field's projection), None without a table trunk.
    input_shape : tuple of int or None, default=None
        ``U.shape[1:]`` when ``U`` was passed with more than two dimensions.
    multi_input : bool, default=False
        Whether the branch is one of several (:class:`MultiBranch`).
    n_basis : int or None, default=None
        For conditioned trunks: the estimator's ``n_basis``.
    branch_width : int or None, default=None
        For conditioned trunks: the width of the branch output their module
        receives (:meth:`BaseTrunk.branch_width`).
    fields : tuple of int or None, default=None
        For conditioned trunks: the layout's (branch groups, trunk groups)
        of ``n_basis`` coefficients and basis functions.

    Examples
    --------
    >>> import torch
    >>> from skoperator.networks import BuildContext, MLPBranch
    >>> context = BuildContext(generator=torch.Generator().manual_seed(0))
    >>> module = MLPBranch(layers=(8,)).build(5, 3, context)
    >>> module(torch.zeros(2, 5)).shape
    torch.Size([2, 3])
    """

    generator: torch.Generator
    coords: Optional[torch.Tensor] = None
    targets: Optional[torch.Tensor] = None
    basis: Optional[list] = None
    input_shape: Optional[tuple] = None
    multi_input: bool = False
    n_basis: Optional[int] = None
    branch_width: Optional[int] = None
    fields: Optional[tuple] = None


class BaseBranch(Component):
    """Protocol of branch networks: ``build(n_in, n_out, context) -> nn.Module``.

    The module maps (batch, n_in) raw-standardised inputs to (batch, n_out)
    coefficients.

    Attributes
    ----------
    needs_grid : bool
        Class attribute: the branch reads each row of ``U`` as values on a
        grid (``channels`` first, then the grid axes, the last axis fastest).
    vectorizable : bool
        Class attribute: an ensemble can train several copies as one batched
        network (:class:`~skoperator.uncertainty.EnsembleRegressor`); the
        built modules are checked again before they are stacked.

    Examples
    --------
    A branch that is one linear layer (a real branch initialises its
    parameters from ``context.generator``, so that ``random_state`` fixes
    them):

    >>> import torch
    >>> from skoperator import DeepONetRegressor
    >>> from skoperator.datasets import make_antiderivative
    >>> from skoperator.networks import BaseBranch
    >>> class LinearBranch(BaseBranch):
    ...     def build(self, n_in, n_out, context):
    ...         return torch.nn.Linear(n_in, n_out)
    >>> U, Y, G = make_antiderivative(50, n_points=20, random_state=0)
    >>> est = DeepONetRegressor(coords=Y, branch=LinearBranch(), max_iter=2, tol=None,
    ...                         random_state=0).fit(U, G)
    >>> est.predict(U[:3]).shape
    (3, 20)
    """

    needs_grid = False
    vectorizable = False

    def n_inputs(self):
        """Return the number of columns of ``U`` this branch reads.

        Returns
        -------
        n_inputs : int or None
            Columns of ``U`` read, or None for "whatever it is given" (in a
            :class:`MultiBranch`, the columns the other branches leave). The
            default is the ``n_sensors`` parameter, if the branch has one.
        """
        return getattr(self, "n_sensors", None)

    def build(self, n_in, n_out, context):
        """Build the module.

        Parameters
        ----------
        n_in : int
            Columns of ``U`` this branch reads.
        n_out : int
            Coefficients out.
        context : BuildContext
            Generator and training data.

        Returns
        -------
        module : torch.nn.Module
            Maps (batch, n_in) to (batch, n_out).
        """
        raise NotImplementedError

    def input_sizes(self, n_columns):
        """Return the columns of ``U`` of each input function this branch reads.

        Parameters
        ----------
        n_columns : int
            Columns of ``U``.

        Returns
        -------
        sizes : tuple of int
            One entry per input function, adding up to ``n_columns``: the
            branch of one input function reads them all.

        Raises
        ------
        ValueError
            If the branch says it reads another number of columns
            (:meth:`n_inputs`).
        """
        size = self.n_inputs()
        if size is not None and size != n_columns:
            raise ValueError(
                f"the branch {type(self).__name__} reads {size} columns (its n_sensors or "
                f"channels x grid) but U has {n_columns}; make them agree, or use "
                "MultiBranch for several input functions.")
        return (n_columns,)


class BaseTrunk(Component):
    """Protocol of trunk networks: ``build(d, n_out, context) -> nn.Module``.

    The module maps (..., d) standardised coordinates to (..., n_out).

    Attributes
    ----------
    table : bool
        Class attribute: the trunk is known at the training points only
        (POD); its module must be a :class:`TableModule` (or provide its
        ``table = True``, ``points``, ``modes``, ``at_index`` and
        ``lookup``), and it receives the training targets in
        ``context.targets``.
    vectorizable : bool
        Class attribute: an ensemble can train several copies as one batched
        network (:class:`~skoperator.uncertainty.EnsembleRegressor`); the
        built modules are checked again before they are stacked.
    conditioned : bool
        Class attribute: the trunk reads the branch's output as well as the
        coordinates (NOMAD's nonlinear decoder, shift-DeepONet's shifted
        trunk). ``build(d, n_outputs, context)`` then returns a module whose
        ``forward(y, b)`` maps standardised coordinates ``y`` of shape (n, d)
        (every function at the same points) or (batch, m, d) (each function
        at its own points) and the branch output ``b`` of shape (batch,
        :meth:`branch_width`) to the outputs before the bias, (batch, n) or
        (batch, m), with a last axis of ``n_outputs`` when there are several
        fields; ``context.n_basis`` and ``context.branch_width`` are set.

    Examples
    --------
    A trunk of one hidden layer of 16 tanh units:

    >>> import torch
    >>> from skoperator import DeepONetRegressor
    >>> from skoperator.datasets import make_antiderivative
    >>> from skoperator.networks import BaseTrunk
    >>> class TanhTrunk(BaseTrunk):
    ...     def build(self, d, n_out, context):
    ...         return torch.nn.Sequential(torch.nn.Linear(d, 16), torch.nn.Tanh(),
    ...                                    torch.nn.Linear(16, n_out))
    >>> U, Y, G = make_antiderivative(50, n_points=20, random_state=0)
    >>> est = DeepONetRegressor(coords=Y, trunk=TanhTrunk(), max_iter=2, tol=None,
    ...                         random_state=0).fit(U, G)
    >>> est.predict(U[:3]).shape
    (3, 20)
    """

    table = False
    vectorizable = False
    conditioned = False

    def branch_width(self, n_basis, n_outputs, fields, d):
        """Return the number of branch outputs this trunk's network reads.

        Parameters
        ----------
        n_basis : int
            Basis functions per field.
        n_outputs : int
            Output fields.
        fields : tuple of int
            The layout's (branch groups, trunk groups): coefficient groups
            (``n_outputs`` when the branch is split per field, else 1) and
            basis groups.
        d : int
            Coordinate dimension.

        Returns
        -------
        width : int
            ``fields[0] * n_basis``: the coefficients; a conditioned trunk
            may ask for more (a shifted trunk's shifts and scales).
        """
        return fields[0] * n_basis

    def build(self, d, n_out, context):
        """Build the module.

        Parameters
        ----------
        d : int
            Coordinate dimension.
        n_out : int
            Basis functions out (output fields for a conditioned trunk).
        context : BuildContext
            Generator, training coordinates (and targets for table trunks).

        Returns
        -------
        module : torch.nn.Module
            Maps (..., d) to (..., n_out).
        """
        raise NotImplementedError



class TableModule(nn.Module):
    """A trunk known at the training points only: the module of a table trunk.

    A trunk component with ``table = True`` (such as
    :class:`~skoperator.networks.PODTrunk`) builds this module, a subclass
    of it, or any module with the same members. It holds ``points``, the
    standardised training coordinates, and ``modes``, its values there, and
    evaluates at any of those points (looked up by value) through
    :meth:`at_index`; other points are refused. Override :meth:`at_index` to
    compute the values instead of reading ``modes``.

    Parameters
    ----------
    points : Tensor of shape (n_points, d)
        Standardised training coordinates (``context.coords``).
    modes : Tensor of shape (n_points, width)
        The trunk's values at ``points``.

    Attributes
    ----------
    table : bool
        ``True``: the capability the estimator reads.

    Examples
    --------
    A trunk whose basis functions are the first cosines at the training
    points:

    >>> import torch
    >>> from skoperator import DeepONetRegressor
    >>> from skoperator.datasets import make_antiderivative
    >>> from skoperator.networks import BaseTrunk, TableModule
    >>> class CosineTrunk(BaseTrunk):
    ...     table = True
    ...     def build(self, d, n_out, context):
    ...         y = context.coords[:, :1]
    ...         k = torch.arange(n_out, dtype=y.dtype)
    ...         return TableModule(context.coords, torch.cos(k * y))
    >>> U, Y, G = make_antiderivative(50, n_points=20, random_state=0)
    >>> est = DeepONetRegressor(coords=Y, trunk=CosineTrunk(), n_basis=4, max_iter=2,
    ...                         tol=None, random_state=0).fit(U, G)
    >>> est.predict(U[:3]).shape
    (3, 20)
    """

    table = True

    def __init__(self, points, modes):
        super().__init__()
        self.register_buffer("points", points)
        self.register_buffer("modes", modes)

    def at_index(self, index):
        """Return the values at training points ``index``.

        Parameters
        ----------
        index : LongTensor of any shape
            Indices into ``points``.

        Returns
        -------
        values : Tensor of shape (*index.shape, width)
            The trunk's basis functions at those points.
        """
        return self.modes[index]

    def lookup(self, y):
        """Return the index of each coordinate among the training points.

        Parameters
        ----------
        y : Tensor of shape (..., d)
            Standardised coordinates, each one of ``points``.

        Returns
        -------
        index : LongTensor of shape y.shape[:-1]
            Row of ``points`` of each coordinate.

        Raises
        ------
        ValueError
            If a coordinate is not among the training points.
        """
        flat = y.reshape(-1, y.shape[-1]).to(self.points.dtype)
        if flat.shape == self.points.shape and torch.equal(flat, self.points):
            return torch.arange(flat.shape[0], device=flat.device).reshape(y.shape[:-1])
        # the training points (prediction in chunks of points), to rounding:
        # a sorted search of their cells on a grid of the tolerance, O(n log n),
        # each match checked; the rest (a point near a cell's edge) by distance
        tolerance = float(1e-5 * self.points.abs().max().clamp(min=1.0))
        index = torch.as_tensor(self._rows_in_same_cell(flat, tolerance), device=flat.device)
        found = index >= 0
        if bool(found.any()):
            gap = (flat[found] - self.points[index[found]]).norm(dim=1)
            index[torch.nonzero(found).flatten()[gap > tolerance]] = -1
        missing = torch.nonzero(index < 0).flatten()
        for start in range(0, len(missing), 4096):
            rows = missing[start:start + 4096]
            dist, idx = torch.cdist(flat[rows], self.points,
                                    compute_mode="donot_use_mm_for_euclid_dist").min(dim=1)
            if bool((dist > tolerance).any()):
                raise ValueError(
                    "the POD trunk knows its modes at the training coordinates only, and "
                    "predict was given coordinates that are not among them; predict at "
                    "(a subset of) the fitted coords_, or use trunk='mlp' (resolution-free)."
                )
            index[rows] = idx
        return index.reshape(y.shape[:-1])

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_sorted_points", None)  # a cache of lookup, rebuilt on demand
        return state

    def _rows_in_same_cell(self, flat, tolerance):
        """Row of ``points`` in the same cell of a grid of spacing ``tolerance`` as each
        row of ``flat``, -1 where none."""
        key = (self.points.data_ptr(), self.points._version, self.points.shape, tolerance)

        def cells(x):
            q = np.ascontiguousarray(np.round(x.detach().cpu().double().numpy() / tolerance)
                                     .astype(np.int64))
            return q.view(np.dtype((np.void, 8 * q.shape[1]))).ravel()

        if getattr(self, "_sorted_points", (None,))[0] != key:
            rows = cells(self.points)
            order = np.argsort(rows, kind="stable")
            self._sorted_points = (key, rows[order], order)
        _, rows, order = self._sorted_points
        query = cells(flat)
        pos = np.minimum(np.searchsorted(rows, query), len(rows) - 1)
        return np.where(rows[pos] == query, order[pos], -1)

    def forward(self, y):
        """Return the values at coordinates ``y`` (training points only).

        Parameters
        ----------
        y : Tensor of shape (..., d)
            Standardised coordinates, each one of ``points``.

        Returns
        -------
        values : Tensor of shape (..., width)
            The trunk's basis functions at ``y``.
        """
        return self.at_index(self.lookup(y))


class BaseMerge(Component):
    """Protocol of merges: ``build(n_branches, n_out, context) -> nn.Module``.

    The module maps the list of the branches' outputs, each
    (batch, branch_width(n_out)), to (batch, n_out).

    Examples
    --------
    A merge that averages the branches' outputs:

    >>> import torch
    >>> from skoperator.networks import BaseMerge, BuildContext, MLPBranch, MultiBranch
    >>> class Mean(torch.nn.Module):
    ...     def forward(self, outs):
    ...         return torch.stack(outs).mean(dim=0)
    >>> class MeanMerge(BaseMerge):
    ...     def build(self, n_branches, n_out, context):
    ...         return Mean()
    >>> branch = MultiBranch([MLPBranch(n_sensors=4), MLPBranch()], merge=MeanMerge())
    >>> module = branch.build(10, 3, BuildContext(generator=torch.Generator().manual_seed(0)))
    >>> module(torch.zeros(2, 10)).shape
    torch.Size([2, 3])
    """

    def branch_width(self, n_out):
        """Return the number of outputs of each branch for ``n_out`` merged coefficients.

        Parameters
        ----------
        n_out : int
            Merged coefficients.

        Returns
        -------
        width : int
            Outputs of each branch (``n_out`` by default).
        """
        return n_out

    def build(self, n_branches, n_out, context):
        """Build the merge module.

        Parameters
        ----------
        n_branches : int
            Number of branches merged.
        n_out : int
            Merged coefficients out.
        context : BuildContext
            Generator and training data.

        Returns
        -------
        module : torch.nn.Module
            Maps a list of ``n_branches`` tensors, each of shape
            (batch, branch_width(n_out)), to (batch, n_out).
        """
        raise NotImplementedError



def _describe(component):
    """How an error names a component: its class, or what wraps a user's module."""
    return getattr(component, "description", None) or type(component).__name__


#: What a table trunk's module provides (see :class:`TableModule`).
TABLE_MEMBERS = ("points", "modes", "at_index", "lookup")


def check_module(component, module, in_shape, out_shape, role, x=None):
    """Run ``module`` once on zeros of ``in_shape`` and check its output's shape.

    Raises a ValueError naming the component and the protocol when the
    module fails or returns something else than a float tensor of
    ``out_shape``. Returns the module.
    """
    protocol = ("(batch, n_in) -> (batch, n_out)" if role == "branch"
                else "(..., d) -> (..., n_out)")
    if not isinstance(module, nn.Module):
        raise TypeError(f"{_describe(component)}.build returned {type(module).__name__}; the "
                        f"{role} protocol wants a torch.nn.Module mapping {protocol}.")
    if getattr(component, "table", False):
        missing = [m for m in TABLE_MEMBERS if not hasattr(module, m)]
        if missing or getattr(module, "table", False) is not True:
            raise TypeError(
                f"{_describe(component)} declares table=True but built a "
                f"{type(module).__name__} without {', '.join(missing) or 'table = True'}; a "
                "table trunk builds a skoperator.networks.TableModule (or a module with "
                "table = True, points, modes, at_index and lookup).")
    if x is None:
        x = torch.zeros(in_shape)
    try:
        with probing(module):
            out = module.at_index(torch.arange(in_shape[0])) if getattr(
                module, "table", False) else module(x)
    except Exception as exc:
        raise ValueError(
            f"{_describe(component)} failed on an input of shape {tuple(in_shape)}: "
            f"{type(exc).__name__}: {exc}. A {role} module maps {protocol}.") from exc
    if not torch.is_tensor(out) or tuple(out.shape) != tuple(out_shape) or \
            not out.dtype.is_floating_point:
        got = (f"a {out.dtype} tensor of shape {tuple(out.shape)}" if torch.is_tensor(out)
               else type(out).__name__)
        raise ValueError(
            f"{_describe(component)} returned {got} for an input of shape {tuple(in_shape)}; "
            f"the {role} protocol wants a float tensor of shape {tuple(out_shape)} "
            f"({protocol}).")
    return module



def check_conditioned_module(component, module, y, width, n_outputs):
    """Run a conditioned trunk's ``module(y, b)`` once and check its output's shape.

    ``y`` of shape (n, d) (standardised training coordinates) and ``b`` zeros
    of shape (2, width) must give (2, n), with a last axis of ``n_outputs``
    when there are several fields. Raises a ValueError naming the component
    and the protocol otherwise. Returns the module.
    """
    protocol = ("forward(y, b): y (n, d) or (batch, m, d), b (batch, width) -> (batch, n) or "
                "(batch, m), with a last axis of n_outputs for several fields")
    if not isinstance(module, nn.Module):
        raise TypeError(f"{_describe(component)}.build returned {type(module).__name__}; a "
                        f"conditioned trunk builds a torch.nn.Module with {protocol}.")
    expected = (2, y.shape[0]) + ((n_outputs,) if n_outputs > 1 else ())
    try:
        with probing(module):
            out = module(y, torch.zeros(2, width, dtype=y.dtype))
    except Exception as exc:
        raise ValueError(
            f"{_describe(component)} failed on coordinates of shape {tuple(y.shape)} and a "
            f"branch output of shape (2, {width}): {type(exc).__name__}: {exc}. A "
            f"conditioned trunk's module has {protocol}.") from exc
    if not torch.is_tensor(out) or tuple(out.shape) != expected or \
            not out.dtype.is_floating_point:
        got = (f"a {out.dtype} tensor of shape {tuple(out.shape)}" if torch.is_tensor(out)
               else type(out).__name__)
        raise ValueError(
            f"{_describe(component)} returned {got} for coordinates of shape "
            f"{tuple(y.shape)}; expected a float tensor of shape {expected} ({protocol}).")
    return module
