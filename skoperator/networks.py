"""Branch and trunk networks as components that own their settings.

``DeepONetRegressor(branch=..., trunk=...)`` takes a component, a short name
(a key of :data:`BRANCHES` or :data:`TRUNKS`, the component's default
configuration), a ``torch.nn.Module`` or a factory. A component holds its
settings as constructor arguments and has ``get_params``/``set_params``, so
that scikit-learn searches them as nested parameters::

    GridSearchCV(DeepONetRegressor(branch=FNOBranch()), {"branch__modes": [8, 12]})

The protocols, written once here:

- a branch subclasses :class:`BaseBranch` and implements
  ``build(n_in, n_out, context) -> nn.Module``, a module mapping
  (batch, n_in) inputs to (batch, n_out) coefficients; ``needs_grid``
  declares that it reads its input as a grid (``grid``, ``channels``);
  ``n_inputs()`` says how many columns of ``U`` it reads;
- a trunk subclasses :class:`BaseTrunk` and implements
  ``build(d, n_out, context) -> nn.Module``, a module mapping (..., d)
  standardised coordinates to (..., n_out) basis functions; ``table = True``
  declares a trunk known at the training points only, whose module must then
  be a :class:`skoperator._layers.TableModule` (``points``, ``modes``,
  ``at_index``);
- a merge of several branches (:class:`MultiBranch`) subclasses
  :class:`BaseMerge` and implements ``build(n_branches, n_out, context)``.

The output of every module is checked on first use (shape and dtype), with an
error that names the component and its protocol.
"""

import copy
import dataclasses
import functools
import math
from numbers import Integral, Real
from typing import Optional

import torch
from torch import nn

from . import _layers
from ._compat import Interval, StrOptions
from ._component import Component
from ._fno import FNO

__all__ = [
    "BRANCHES", "TRUNKS", "MERGES", "BuildContext", "BaseBranch", "BaseTrunk", "BaseMerge",
    "MLPBranch", "CNNBranch", "FNOBranch", "MultiBranch", "MLPTrunk", "ResNetTrunk",
    "PODTrunk", "ProductMerge", "SumMerge", "ProductSumMerge", "ConcatMerge",
]

_WIDTHS = ["array-like"]


def _check_widths(component, name):
    value = getattr(component, name)
    try:
        widths = tuple(int(w) for w in value)
        ok = all(int(w) == w and w >= 1 for w in value)
    except (TypeError, ValueError):
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
        module serves; given to table trunks only.
    basis : list of Tensor or None, default=None
        For branches: per branch field, a projection basis (n_points, p) of
        the table trunk (POD modes scaled so that ``field @ basis`` are the
        coefficients of a field's projection), None without a table trunk.
    input_shape : tuple of int or None, default=None
        ``U.shape[1:]`` when ``U`` was passed with more than two dimensions.
    multi_input : bool, default=False
        Whether the branch is one of several (:class:`MultiBranch`).

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


# ------------------------------------------------------------------ branches
class BaseBranch(Component):
    """Protocol of branch networks: ``build(n_in, n_out, context) -> nn.Module``.

    The module maps (batch, n_in) raw-standardised inputs to (batch, n_out)
    coefficients.

    Attributes
    ----------
    needs_grid : bool
        Class attribute: the branch reads each row of ``U`` as values on a
        grid (``channels`` first, then the grid axes, the last axis fastest).

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


class MLPBranch(BaseBranch):
    """Fully connected branch.

    Parameters
    ----------
    layers : tuple of int, default=(40, 40, 40)
        Hidden widths.
    activation : {"relu", "tanh", "gelu", "silu", "elu", "sigmoid"}, default="relu"
        Hidden-layer activation.
    n_sensors : int, default=None
        Columns of ``U`` it reads; None reads all (or, in a
        :class:`MultiBranch`, the columns the other branches leave).

    Examples
    --------
    >>> from skoperator.networks import MLPBranch
    >>> MLPBranch(layers=(64, 64))
    MLPBranch(layers=(64, 64))
    """

    _parameter_constraints = {"layers": _WIDTHS, "activation": [StrOptions(set(_layers.ACTIVATIONS))],
                              "n_sensors": [Interval(Integral, 1, None, closed="left"), None]}

    def __init__(self, layers=(40, 40, 40), activation="relu", n_sensors=None):
        self.layers = layers
        self.activation = activation
        self.n_sensors = n_sensors

    def build(self, n_in, n_out, context):
        return _layers.built(_layers.MLP, n_in, _check_widths(self, "layers"), n_out,
                             self.activation, generator=context.generator)


class _GridBranch(BaseBranch):
    """Shared rules of branches that read a grid."""

    needs_grid = True
    dims = (2,)

    def n_inputs(self):
        if self.grid is None:
            return None
        try:
            return int(self.channels) * math.prod(int(g) for g in self.grid)
        except (TypeError, ValueError):
            raise ValueError(f"{type(self).__name__}(grid={self.grid!r}): expected a tuple of "
                             "ints.") from None

    def input_shape(self, n_in, context):
        """``(channels, *grid)`` of this branch's input, checked against ``n_in`` columns."""
        name = type(self).__name__
        c = int(self.channels)
        if self.grid is not None:
            try:
                grid = tuple(int(g) for g in self.grid)
            except (TypeError, ValueError):
                raise ValueError(f"{name}(grid={self.grid!r}): expected a tuple of ints.") from None
            shape = context.input_shape
            if shape is not None and not context.multi_input and \
                    tuple(shape) not in (grid, (c,) + grid) and c * math.prod(grid) == n_in:
                raise ValueError(
                    f"{name}(grid={grid}, channels={c}) but U has shape (n, "
                    f"{', '.join(map(str, shape))}); pass the grid of U's axes in their order "
                    f"(grid={tuple(shape) if c == 1 else tuple(shape[1:])}), or a flat U.")
        elif context.input_shape is not None and not context.multi_input:
            shape = tuple(context.input_shape)
            grid = shape if c == 1 else shape[1:]
            if c != 1 and shape[0] != c:
                raise ValueError(
                    f"{name}(channels={c}) but U has shape (n, {', '.join(map(str, shape))}), "
                    f"whose first axis after the functions is {shape[0]}; pass grid= explicitly.")
        elif self.dims[0] == 1:
            grid = (n_in // c,)
        else:
            raise ValueError(
                f"{name} needs grid=(height, width), the grid on which each row of U (here "
                f"{n_in} columns) is sampled; got grid=None. Pass {name}(grid=(h, w)), or U "
                "of shape (n_functions, h, w).")
        if len(grid) not in self.dims or min(grid) < 1 or c * math.prod(grid) != n_in:
            raise ValueError(
                f"{name}(grid={grid}, channels={c}) does not match its input: expected a grid "
                f"of {' or '.join(map(str, self.dims))} axes with channels x cells = the "
                f"columns it reads ({n_in}); got {c} x {math.prod(grid)} = "
                f"{c * math.prod(grid)}. Pass grid and channels that describe each row of U.")
        return (c,) + grid


class CNNBranch(_GridBranch):
    """Convolutional branch for inputs on a 2-D grid.

    Each convolution (3x3, 'same' padding) is followed by the activation and
    2x2 average pooling; the flattened maps feed an MLP.

    Parameters
    ----------
    grid : tuple of int, default=None
        ``(height, width)`` of each input function; None takes it from ``U``
        passed as an array of shape (n_functions, height, width).
    channels : int, default=1
        Input channels: a row of ``U`` holds ``channels`` grids one after
        another.
    filters : tuple of int, default=(40, 60, 100)
        Filters of the convolution layers.
    layers : tuple of int, default=(40, 40, 40)
        Hidden widths of the MLP after the convolutions.
    activation : str, default="relu"
        Activation.

    Examples
    --------
    >>> from skoperator.networks import CNNBranch
    >>> CNNBranch(grid=(32, 32)).n_inputs()
    1024
    """

    _parameter_constraints = {"grid": [tuple, list, None],
                              "channels": [Interval(Integral, 1, None, closed="left")],
                              "filters": _WIDTHS, "layers": _WIDTHS,
                              "activation": [StrOptions(set(_layers.ACTIVATIONS))]}

    def __init__(self, grid=None, channels=1, filters=(40, 60, 100), layers=(40, 40, 40),
                 activation="relu"):
        self.grid = grid
        self.channels = channels
        self.filters = filters
        self.layers = layers
        self.activation = activation

    def build(self, n_in, n_out, context):
        shape = self.input_shape(n_in, context)
        filters = _check_widths(self, "filters")
        n_pool = len(filters)
        if shape[1] >> n_pool < 1 or shape[2] >> n_pool < 1:
            raise ValueError(
                f"CNNBranch: the grid {shape[1:]} is too small for {n_pool} pooling stages "
                f"(each halves the grid, filters={filters}); pass fewer filters or a larger "
                "grid.")
        return _layers.built(_layers.ConvNet, shape, filters, _check_widths(self, "layers"),
                             n_out, self.activation, generator=context.generator)


class FNOBranch(_GridBranch):
    """Fourier-layer branch (Li et al., 2021) for inputs on a 1-D, 2-D or 3-D grid.

    Lifts the input (its channels and the grid coordinates) to ``width``
    channels, applies ``n_layers`` Fourier layers keeping ``modes`` modes per
    axis on a zero-padded domain, and maps the feature maps to coefficients
    with a head: "pooled" (average pooling to a coarse grid and an MLP of
    ``head_layers``; any output coordinates) or "projection" (whole output
    fields on the input grid projected on the POD modes of a ``PODTrunk``
    whose points are the input grid's cells, in the same order).

    Parameters
    ----------
    grid : tuple of int, default=None
        Grid of each input function; None takes it from ``U`` passed as an
        array of shape (n_functions, grid...), else a 1-D grid of all columns.
    channels : int, default=1
        Input channels (a row of ``U`` holds ``channels`` grids in turn).
    modes : int, default=12
        Fourier modes kept per grid axis (clamped to the grid).
    width : int, default=32
        Channels of the Fourier layers.
    n_layers : int, default=4
        Fourier layers.
    head : {"auto", "pooled", "projection"}, default="auto"
        "auto" projects when the trunk is a POD trunk on this grid (one input
        function), else pools.
    head_layers : tuple of int, default=(40, 40, 40)
        Hidden widths of the pooled head's MLP.
    activation : str, default="gelu"
        Activation.
    padding : float, default=0.125
        Zero padding at the end of every axis, as a fraction of its size.

    Examples
    --------
    >>> from skoperator.networks import FNOBranch
    >>> FNOBranch(grid=(32, 32), channels=2, modes=8).n_inputs()
    2048
    """

    dims = (1, 2, 3)
    _parameter_constraints = {"grid": [tuple, list, None],
                              "channels": [Interval(Integral, 1, None, closed="left")],
                              "modes": [Interval(Integral, 1, None, closed="left")],
                              "width": [Interval(Integral, 1, None, closed="left")],
                              "n_layers": [Interval(Integral, 1, None, closed="left")],
                              "head": [StrOptions({"auto", "pooled", "projection"})],
                              "head_layers": _WIDTHS,
                              "activation": [StrOptions(set(_layers.ACTIVATIONS))],
                              "padding": [Interval(Real, 0, None, closed="left")]}

    def __init__(self, grid=None, channels=1, modes=12, width=32, n_layers=4, head="auto",
                 head_layers=(40, 40, 40), activation="gelu", padding=0.125):
        self.grid = grid
        self.channels = channels
        self.modes = modes
        self.width = width
        self.n_layers = n_layers
        self.head = head
        self.head_layers = head_layers
        self.activation = activation
        self.padding = padding

    def build(self, n_in, n_out, context):
        shape = self.input_shape(n_in, context)
        n_grid = math.prod(shape[1:])
        basis = context.basis
        fits = basis is not None and all(b.shape[0] == n_grid for b in basis) and \
            sum(b.shape[1] for b in basis) == n_out
        head = self.head
        if head == "auto":
            head = "projection" if fits and not context.multi_input else "pooled"
        elif head == "projection" and not fits:
            raise ValueError(
                "FNOBranch(head='projection') needs a POD trunk (trunk='pod') whose points "
                f"are the cells of the input grid ({n_grid}) and one basis per branch field; "
                "use head='pooled' (or 'auto').")
        return FNO(shape, n_out, modes=self.modes, width=self.width, n_layers=self.n_layers,
                   activation=self.activation, padding=self.padding, head=head,
                   basis=basis if head == "projection" else None,
                   hidden=_check_widths(self, "head_layers"), generator=context.generator)


# -------------------------------------------------------------------- merges
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


class ProductMerge(BaseMerge):
    """Elementwise product of the branches' outputs (MIONet, Jin et al. 2022).

    Examples
    --------
    >>> from skoperator.networks import ProductMerge
    >>> ProductMerge()
    ProductMerge()
    """

    def build(self, n_branches, n_out, context):
        return _layers.ProductMerge()


class SumMerge(BaseMerge):
    """Sum of the branches' outputs (an operator additive in its inputs).

    Examples
    --------
    >>> from skoperator.networks import SumMerge
    >>> SumMerge()
    SumMerge()
    """

    def build(self, n_branches, n_out, context):
        return _layers.SumMerge()


class ProductSumMerge(BaseMerge):
    """A product path and a sum path: ``prod_i p_i + sum_i s_i``.

    Each branch produces twice the coefficients, ``[p_i, s_i]``: the product
    of the ``p_i`` (MIONet) plus the sum of the ``s_i``, so that an operator
    multiplicative in its inputs and an additive one both have a direct path.

    Examples
    --------
    >>> from skoperator.networks import ProductSumMerge
    >>> ProductSumMerge()
    ProductSumMerge()
    """

    def branch_width(self, n_out):
        return 2 * n_out

    def build(self, n_branches, n_out, context):
        return _layers.ProductSumMerge()


class ConcatMerge(BaseMerge):
    """Concatenation of the branches' outputs followed by a merger MLP.

    Parameters
    ----------
    layers : tuple of int, default=(128,)
        Hidden widths of the merger network.
    activation : str, default="relu"
        Its activation.

    Examples
    --------
    >>> from skoperator.networks import ConcatMerge
    >>> ConcatMerge(layers=(64,))
    ConcatMerge(layers=(64,))
    """

    _parameter_constraints = {"layers": _WIDTHS,
                              "activation": [StrOptions(set(_layers.ACTIVATIONS))]}

    def __init__(self, layers=(128,), activation="relu"):
        self.layers = layers
        self.activation = activation

    def build(self, n_branches, n_out, context):
        return _layers.built(_layers.ConcatMerge, n_branches * n_out,
                             _check_widths(self, "layers"), n_out, self.activation,
                             generator=context.generator)


#: ``merge=`` name -> merge component class.
MERGES = {"product": ProductMerge, "sum": SumMerge, "product_sum": ProductSumMerge,
          "concat": ConcatMerge}


class MultiBranch(BaseBranch):
    """Several input functions, one branch each, merged (MIONet and its variants).

    ``U`` holds the input functions side by side; each branch reads its own
    columns, in order (its ``n_sensors``, or ``channels * prod(grid)`` for a
    grid branch; one branch may leave its size unset and read what the others
    leave), and its own grid.

    Parameters
    ----------
    branches : list of branch
        One branch per input function: components, short names, modules or
        factories.
    merge : {"product", "sum", "concat"} or merge component, default="product"
        How the branches' outputs combine: the elementwise product (MIONet),
        the sum, or the concatenation followed by a merger network
        (:class:`ConcatMerge`). See the Notes.

    Notes
    -----
    The default was chosen by measurement (``python benchmarks/bench_merge.py``,
    rows in ``benchmarks/results/merge.txt``): two MLP branches, 1,000
    training functions, 300 epochs of random sampling (``n_eval=32``),
    ``n_basis=80``, mean per-function R2 over two seeds on 500 new functions:

    ============ ========================== =======================
    merge        additive: A(u1) + A(u2)    multiplicative: A(u1) u2
    ============ ========================== =======================
    product      0.985                      0.974
    product_sum  0.993                      0.967
    ============ ========================== =======================

    With ``n_basis=40``: product 0.979 and 0.972, product_sum 0.993 and
    0.966, sum 0.994 and negative (a sum cannot multiply), concat 0.991 and
    0.79. The product is the only merge that learns both well; give it a
    larger ``n_basis`` than one input would need.

    Examples
    --------
    >>> from skoperator.networks import MultiBranch, MLPBranch, FNOBranch
    >>> mb = MultiBranch([MLPBranch(n_sensors=100), FNOBranch(grid=(32, 32))])
    >>> sorted(mb.get_params())[:3]
    ['branches', 'merge']
    """

    _parameter_constraints = {"branches": [list, tuple],
                              "merge": [StrOptions(set(MERGES)), BaseMerge]}

    def __init__(self, branches, merge="product"):
        self.branches = branches
        self.merge = merge

    def components(self):
        """Return the branches as components (short names and modules resolved).

        Returns
        -------
        components : list of BaseBranch
            One validated branch component per input function.
        """
        if not isinstance(self.branches, (list, tuple)) or len(self.branches) < 1:
            raise ValueError(
                f"MultiBranch(branches={self.branches!r}): expected a non-empty list of "
                "branches, one per input function.")
        return [as_branch(b).check() for b in self.branches]

    def n_inputs(self):
        sizes = [b.n_inputs() for b in self.components()]
        return None if None in sizes else sum(sizes)

    def sizes(self, n_columns):
        """Return the number of columns of ``U`` of each input function.

        Parameters
        ----------
        n_columns : int
            Columns of ``U``; the branch that does not say how many columns it
            reads (at most one) gets those the others leave.

        Returns
        -------
        sizes : tuple of int
            Columns of each input function, in the order of the branches,
            adding up to ``n_columns``.

        Raises
        ------
        ValueError
            If more than one branch leaves its size unset, or if the sizes do
            not add up to ``n_columns``.
        """
        sizes = [b.n_inputs() for b in self.components()]
        unknown = [i for i, s in enumerate(sizes) if s is None]
        known = sum(s for s in sizes if s is not None)
        if len(unknown) > 1:
            raise ValueError(
                f"MultiBranch: branches {unknown} do not say how many columns of U they read; "
                "set n_sensors (or grid) on all branches but at most one.")
        if unknown:
            sizes[unknown[0]] = n_columns - known
        if min(sizes) < 1 or sum(sizes) != n_columns:
            raise ValueError(
                f"MultiBranch reads {sizes} columns per input function (sum {sum(sizes)}) but "
                f"U has {n_columns} columns; set each branch's n_sensors (or grid) so that "
                "they add up to the columns of U.")
        return tuple(int(s) for s in sizes)

    def merge_component(self):
        """Return the merge as a component.

        Returns
        -------
        merge : BaseMerge
            The ``merge`` component, or a new one of its short name.
        """
        merge = self.merge
        return MERGES[merge]() if isinstance(merge, str) else merge

    def build(self, n_in, n_out, context):
        branches = self.components()
        sizes = self.sizes(n_in)
        sub = dataclasses.replace(context, multi_input=True, input_shape=None)
        merge = self.merge_component().check()
        width = merge.branch_width(n_out)
        nets = [check_module(b, b.build(size, width, sub), (2, size), (2, width), "branch")
                for b, size in zip(branches, sizes)]
        return _layers.Merged(nets, sizes, merge.build(len(nets), n_out, context))


# -------------------------------------------------------------------- trunks
class BaseTrunk(Component):
    """Protocol of trunk networks: ``build(d, n_out, context) -> nn.Module``.

    The module maps (..., d) standardised coordinates to (..., n_out).

    Attributes
    ----------
    table : bool
        Class attribute: the trunk is known at the training points only
        (POD); its module must be a :class:`skoperator._layers.TableModule`
        (``points``, ``modes``, ``at_index``), and it receives the training
        targets in ``context.targets``.

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

    def build(self, d, n_out, context):
        """Build the module.

        Parameters
        ----------
        d : int
            Coordinate dimension.
        n_out : int
            Basis functions out.
        context : BuildContext
            Generator, training coordinates (and targets for table trunks).

        Returns
        -------
        module : torch.nn.Module
            Maps (..., d) to (..., n_out).
        """
        raise NotImplementedError


class MLPTrunk(BaseTrunk):
    """Fully connected trunk, optionally on random Fourier features of the coordinates.

    Parameters
    ----------
    layers : tuple of int, default=(40, 40, 40)
        Hidden widths.
    activation : str, default="relu"
        Activation.
    fourier_features : int, default=0
        Random Fourier features ``[cos(2 pi y B), sin(2 pi y B), y]`` fed to
        the MLP instead of ``y``; 0 disables the encoding.
    fourier_scale : float, default=1.0
        Standard deviation of the frequencies ``B`` (standardised coordinates).

    Examples
    --------
    >>> from skoperator.networks import MLPTrunk
    >>> MLPTrunk(fourier_features=16)
    MLPTrunk(fourier_features=16)
    """

    _parameter_constraints = {"layers": _WIDTHS,
                              "activation": [StrOptions(set(_layers.ACTIVATIONS))],
                              "fourier_features": [Interval(Integral, 0, None, closed="left")],
                              "fourier_scale": [Interval(Real, 0, None, closed="neither")]}

    def __init__(self, layers=(40, 40, 40), activation="relu", fourier_features=0,
                 fourier_scale=1.0):
        self.layers = layers
        self.activation = activation
        self.fourier_features = fourier_features
        self.fourier_scale = fourier_scale

    def build(self, d, n_out, context):
        hidden = _check_widths(self, "layers")
        if self.fourier_features:
            encoder = _layers.FourierFeatures(d, self.fourier_features, self.fourier_scale,
                                              context.generator)
            body = _layers.built(_layers.MLP, encoder.n_out, hidden, n_out, self.activation,
                                 generator=context.generator)
            return nn.Sequential(encoder, body)
        return _layers.built(_layers.MLP, d, hidden, n_out, self.activation,
                             generator=context.generator)


class ResNetTrunk(BaseTrunk):
    """MLP trunk with skip connections between its equal-width hidden layers.

    Parameters
    ----------
    layers : tuple of int, default=(40, 40, 40)
        Hidden widths.
    activation : str, default="relu"
        Activation.

    Examples
    --------
    >>> from skoperator.networks import ResNetTrunk
    >>> ResNetTrunk(layers=(64, 64, 64))
    ResNetTrunk(layers=(64, 64, 64))
    """

    _parameter_constraints = {"layers": _WIDTHS,
                              "activation": [StrOptions(set(_layers.ACTIVATIONS))]}

    def __init__(self, layers=(40, 40, 40), activation="relu"):
        self.layers = layers
        self.activation = activation

    def build(self, d, n_out, context):
        return _layers.built(_layers.ResidualMLP, d, _check_widths(self, "layers"), n_out,
                             self.activation, generator=context.generator)


class PODTrunk(BaseTrunk):
    """The leading POD modes of the training outputs as the trunk (POD-DeepONet).

    The modes are the right singular vectors of the matrix of standardised
    training outputs (one row per function and field, one column per point;
    missing values replaced by their column mean), scaled to unit mean square
    over the points, fixed. They are known at the training points only:
    ``predict`` works at (a subset of) the fitted coordinates. ``n_basis``
    is the number of modes.

    Parameters
    ----------
    correction : bool, default=False
        Add a learned MLP (``layers``, ``activation``) to the modes, starting
        at zero.
    layers : tuple of int, default=(40, 40, 40)
        Hidden widths of the correction.
    activation : str, default="relu"
        Its activation.

    Examples
    --------
    >>> from skoperator.networks import PODTrunk
    >>> PODTrunk(correction=True).table
    True
    """

    table = True
    _parameter_constraints = {"correction": ["boolean"], "layers": _WIDTHS,
                              "activation": [StrOptions(set(_layers.ACTIVATIONS))]}

    def __init__(self, correction=False, layers=(40, 40, 40), activation="relu"):
        self.correction = correction
        self.layers = layers
        self.activation = activation

    def build(self, d, n_out, context):
        modes = _layers.pod_modes(context.targets, n_out)
        extra = None
        if self.correction:
            extra = _layers.built(_layers.MLP, d, _check_widths(self, "layers"), n_out,
                                  self.activation, generator=context.generator)
            with torch.no_grad():
                extra[-1].weight.zero_()
        return _layers.PODModes(context.coords.float(), modes, extra)


#: ``branch=`` name -> branch component class (its default configuration).
BRANCHES = {"mlp": MLPBranch, "cnn": CNNBranch, "fno": FNOBranch}

#: ``trunk=`` name -> trunk component factory (its default configuration).
TRUNKS = {"mlp": MLPTrunk, "resnet": ResNetTrunk, "pod": PODTrunk,
          "pod_corrected": functools.partial(PODTrunk, correction=True)}


# ------------------------------------------------------- user modules, checks
class _UserModule:
    """A user's module (deep-copied) or factory (called on a seeded RNG) as a component."""

    def __init__(self, spec, role):
        self.spec, self.role = spec, role

    def n_inputs(self):
        return None

    def check(self):
        return self

    def build(self, n_in, n_out, context):
        if isinstance(self.spec, nn.Module):
            return copy.deepcopy(self.spec)
        seed = int(torch.randint(0, 2**62, (1,), generator=context.generator))
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                module = self.spec(n_in, n_out)
        except Exception as exc:
            raise ValueError(
                f"The {self.role} factory raised {type(exc).__name__}: {exc} (called as "
                f"factory({n_in}, {n_out})). A {self.role} factory takes (n_inputs, n_outputs) "
                "and returns a torch.nn.Module.") from exc
        if not isinstance(module, nn.Module):
            raise TypeError(
                f"The {self.role} factory must return a torch.nn.Module; got "
                f"{type(module).__name__}. Pass a callable (n_inputs, n_outputs) -> nn.Module.")
        return module


class _UserBranch(_UserModule, BaseBranch):
    pass


class _UserTrunk(_UserModule, BaseTrunk):
    pass


def as_branch(spec):
    """The branch component of a ``branch=`` value (name, component, list, module or factory)."""
    if isinstance(spec, BaseBranch):
        return spec
    if isinstance(spec, str):
        if spec not in BRANCHES:
            raise ValueError(f"branch={spec!r} is not a branch; expected one of "
                             f"{sorted(BRANCHES)}, a branch component, a module or a factory.")
        return BRANCHES[spec]()
    if isinstance(spec, (list, tuple)):
        return MultiBranch(list(spec))
    if isinstance(spec, nn.Module) or callable(spec):
        return _UserBranch(spec, "branch")
    raise ValueError(f"branch={spec!r} is not a branch; expected one of {sorted(BRANCHES)}, "
                     "a branch component, a list of branches, a module or a factory.")


def as_trunk(spec):
    """The trunk component of a ``trunk=`` value (name, component, module or factory)."""
    if isinstance(spec, BaseTrunk):
        return spec
    if isinstance(spec, str):
        if spec not in TRUNKS:
            raise ValueError(f"trunk={spec!r} is not a trunk; expected one of "
                             f"{sorted(TRUNKS)}, a trunk component, a module or a factory.")
        return TRUNKS[spec]()
    if isinstance(spec, nn.Module) or callable(spec):
        return _UserTrunk(spec, "trunk")
    raise ValueError(f"trunk={spec!r} is not a trunk; expected one of {sorted(TRUNKS)}, a "
                     "trunk component, a module or a factory.")


def _describe(component):
    if isinstance(component, _UserModule):
        return f"the {component.role} module or factory {component.spec!r}"
    return type(component).__name__


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
    if getattr(component, "table", False) and not isinstance(module, _layers.TableModule):
        raise TypeError(f"{_describe(component)} declares table=True but built a "
                        f"{type(module).__name__}; a table trunk builds a "
                        "skoperator._layers.TableModule (points, modes, at_index).")
    if x is None:
        x = torch.zeros(in_shape)
    try:
        with torch.no_grad():
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
