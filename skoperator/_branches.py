"""Branch components of one input function: MLP, CNN and FNO branches."""

import math
from numbers import Integral, Real

from . import _layers
from ._compat import Interval, StrOptions, is_count
from ._fno import FNO
from ._protocols import _WIDTHS, BaseBranch, _check_widths


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

    vectorizable = True
    _parameter_constraints = {"layers": _WIDTHS,
                              "activation": [StrOptions(set(_layers.ACTIVATIONS))],
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

    def _grid(self):
        """``grid`` as a tuple of ints, each at least 1, else a ValueError naming it."""
        try:
            grid = tuple(self.grid)
        except TypeError:
            grid = ()
        if not grid or not all(is_count(g) for g in grid):
            raise ValueError(f"{type(self).__name__}(grid={self.grid!r}): expected a tuple of "
                             "positive ints, the number of nodes on each axis of U's grid, "
                             "such as grid=(64, 64).")
        return tuple(int(g) for g in grid)

    def n_inputs(self):
        if self.grid is None:
            return None
        return int(self.channels) * math.prod(self._grid())

    def input_shape(self, n_in, context):
        """``(channels, *grid)`` of this branch's input, checked against ``n_in`` columns."""
        name = type(self).__name__
        c = int(self.channels)
        if self.grid is not None:
            grid = self._grid()
            shape = context.input_shape
            if shape is not None and not context.multi_input and \
                    tuple(shape) not in (grid, (c,) + grid) and c * math.prod(grid) == n_in:
                raise ValueError(
                    f"{name}(grid={grid}, channels={c}) but U has shape (n, "
                    f"{', '.join(map(str, shape))}); pass the grid of U's axes in their order "
                    f"(grid={tuple(shape) if c == 1 else tuple(shape[1:])}), or a flat U.")
        elif context.input_shape is not None and not context.multi_input:
            shape = tuple(context.input_shape)
            # (n, channels, *grid): also for one channel, a leading axis of one node (a
            # grid axis of one node would be degenerate: (n, 1, h, w) is a 2-D grid)
            grid = shape[1:] if c != 1 or (len(shape) > 1 and shape[0] == 1) else shape
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
        Fourier modes kept per grid axis, clamped to the grid the layers see:
        ``p = ceil(n / stride)`` nodes of an axis of ``n`` plus the padding
        keep at most ``p // 2`` modes (``p // 2 + 1`` on the last axis); an
        axis of one node without padding keeps none, except the last (its
        constant mode). The weights hold
        ``modes`` on every axis, so a value above the limit costs memory and
        changes nothing (grid (64, 64), stride 2, padding 0.125: 36 x 36,
        at most 18, 19 on the last axis).
    width : int, default=32
        Channels of the Fourier layers.
    n_layers : int, default=4
        Fourier layers.
    head : {"auto", "pooled", "projection"}, default="auto"
        "auto" projects when the trunk is a POD trunk on this grid (one input
        function), else pools. "projection" also takes a POD trunk whose
        points are several copies of the grid's cells (an output at several
        times, in the order (time, cell)): the head then produces one field
        per copy, the fields projected together on the modes.
    head_layers : tuple of int, default=(40, 40, 40)
        Hidden widths of the pooled head's MLP.
    activation : str, default="gelu"
        Activation.
    padding : float, default=0.125
        Zero padding at the end of every axis, as a fraction of its size.
    stride : int, default=1
        The Fourier layers see every ``stride``-th node of the input grid
        along each axis, at about ``stride ** d`` times less cost per step:
        for fine grids whose inputs are smooth enough at the coarser spacing.
        The projection head then projects the coarse fields on the POD modes'
        rows of those nodes (the predictions stay on the trunk's points).

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
                              "padding": [Interval(Real, 0, None, closed="left")],
                              "stride": [Interval(Integral, 1, None, closed="left")]}

    def __init__(self, grid=None, channels=1, modes=12, width=32, n_layers=4, head="auto",
                 head_layers=(40, 40, 40), activation="gelu", padding=0.125, stride=1):
        self.grid = grid
        self.channels = channels
        self.modes = modes
        self.width = width
        self.n_layers = n_layers
        self.head = head
        self.head_layers = head_layers
        self.activation = activation
        self.padding = padding
        self.stride = stride

    def build(self, n_in, n_out, context):
        shape = self.input_shape(n_in, context)
        if any(n >= 2 and -(-n // self.stride) < 2 for n in shape[1:]):
            raise ValueError(
                f"FNOBranch(stride={self.stride}) leaves its Fourier layers one node on an "
                f"axis of the grid {shape[1:]}; pass a stride below the smallest axis "
                f"({min(n for n in shape[1:] if n >= 2)} nodes), such as stride=2, or 1.")
        n_grid = math.prod(shape[1:])
        basis = context.basis
        widths = basis is not None and sum(b.shape[1] for b in basis) == n_out
        same = widths and all(b.shape[0] == n_grid for b in basis)
        stacked = widths and all(b.shape[0] % n_grid == 0 for b in basis)
        head = self.head
        if head == "auto":  # the output points as the input grid's cells: as many, as many axes
            on_grid = context.coords is None or context.coords.shape[-1] == len(shape) - 1
            head = "projection" if same and on_grid and not context.multi_input else "pooled"
        elif head == "projection" and not stacked:
            raise ValueError(
                "FNOBranch(head='projection') needs a POD trunk (trunk='pod') whose points "
                f"are the cells of the input grid ({n_grid}), or several copies of them "
                "(say one per time, in the order (copy, cell)), and one basis per branch "
                "field; use head='pooled' (or 'auto').")
        return FNO(shape, n_out, modes=self.modes, width=self.width, n_layers=self.n_layers,
                   activation=self.activation, padding=self.padding, head=head,
                   basis=basis if head == "projection" else None,
                   hidden=_check_widths(self, "head_layers"), stride=self.stride,
                   generator=context.generator)


