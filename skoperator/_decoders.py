"""Conditioned trunks: NOMAD's nonlinear decoder and shift-DeepONet's shifted trunk.

A plain DeepONet is linear in its trunk basis, ``G(u)(y) = sum_k b_k(u) t_k(y)``,
so an output whose discontinuity moves with the input needs very many basis
functions. The trunks here read the branch's output as well as the
coordinates (``conditioned = True``, see
:class:`~skoperator.networks.BaseTrunk`): their module's ``forward(y, b)``
returns the outputs, and :meth:`~skoperator._network.DeepONet.combine` calls
it instead of the inner product.
"""

import torch
from torch import nn

from . import _layers
from ._compat import StrOptions
from ._protocols import _WIDTHS, BaseTrunk, BuildContext, _check_widths, check_module
from ._trunks import MLPTrunk, ResNetTrunk

#: ``ShiftedTrunk(trunk=...)`` short names of the inner trunk.
_INNER = {"mlp": MLPTrunk, "resnet": ResNetTrunk}


def _pairs(y, n_functions):
    """Coordinates (n, d) shared by every function as (1, n, d); (batch, m, d) as they are."""
    return y.unsqueeze(0) if y.dim() == 2 else y


class NonlinearDecoder(nn.Module):
    """``out(b, y) = MLP([b, y])``: the module of :class:`NOMADTrunk`.

    The first layer acts on the concatenation ``[b, y]`` as ``W_b b + W_y y
    + c``: ``W_b b`` once per function, ``W_y y`` once per point, their sum
    per pair (the same function, fewer operations).

    Parameters
    ----------
    mlp : _layers.MLP
        Maps ``width + d`` inputs to ``n_outputs``.
    width : int
        Branch outputs read.
    n_outputs : int
        Output fields.
    """

    conditioned = True

    def __init__(self, mlp, width, n_outputs):
        super().__init__()
        self.mlp = mlp
        self.width = int(width)
        self.n_outputs = int(n_outputs)

    def forward(self, y, b):
        first = self.mlp[0]
        w = first.weight
        hb = b @ w[:, :self.width].T + first.bias
        h = hb.unsqueeze(1) + _pairs(y, b.shape[0]) @ w[:, self.width:].T
        for layer in list(self.mlp)[1:]:
            h = layer(h)
        return h.squeeze(-1) if self.n_outputs == 1 else h


class ShiftedBasis(nn.Module):
    """``sum_k c_k(b) t_k((y - s(b)) * exp(r(b)))``: the module of :class:`ShiftedTrunk`.

    The branch output ``b`` holds the coefficients (its first ``n_coef``
    columns), then ``2 d`` features that a linear head, zero at
    initialisation, maps to the shift ``s`` and the log-scale ``r`` of the
    coordinates: at initialisation the network is the plain DeepONet of the
    inner trunk.

    Parameters
    ----------
    inner : nn.Module
        The inner trunk, (..., d) -> (..., trunk_fields * n_basis).
    n_basis : int
    fields : tuple of int
        (branch groups, trunk groups).
    n_outputs : int
    d : int
    scale : bool
        Learn the scales; False keeps them at 1 (shifts only).
    """

    conditioned = True

    def __init__(self, inner, n_basis, fields, n_outputs, d, scale):
        super().__init__()
        self.inner = inner
        self.n_basis, self.n_outputs, self.d = int(n_basis), int(n_outputs), int(d)
        self.branch_fields, self.trunk_fields = (int(f) for f in fields)
        self.scale = bool(scale)
        self.head = nn.Linear(2 * self.d, 2 * self.d)
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.bias.zero_()

    def transform(self, y, b):
        """Coordinates (batch, n or m, d) moved by each function's shift and scale."""
        n_coef = self.branch_fields * self.n_basis
        code = self.head(b[:, n_coef:])
        shift, log_scale = code[:, :self.d], code[:, self.d:]
        z = _pairs(y, b.shape[0]) - shift.unsqueeze(1)
        return z * torch.exp(log_scale).unsqueeze(1) if self.scale else z

    def forward(self, y, b):
        t = self.inner(self.transform(y, b))  # (batch, n, trunk_fields * p)
        c = b[:, :self.branch_fields * self.n_basis]
        if self.n_outputs == 1:
            return (t * c.unsqueeze(1)).sum(-1)
        k, p = self.n_outputs, self.n_basis
        c = c.reshape(c.shape[0], self.branch_fields, p).expand(-1, k, -1)
        t = t.reshape(*t.shape[:-1], self.trunk_fields, p).expand(-1, -1, k, -1)
        return torch.einsum("bkp,bnkp->bnk", c, t)


class NOMADTrunk(BaseTrunk):
    """NOMAD's nonlinear decoder as the trunk: an MLP of the branch code and the point.

    The output at ``y`` is ``MLP([b(u), y])`` (Seidman et al. 2022 [1]_),
    not the inner product ``b(u) . t(y)`` of a DeepONet, so it can represent
    outputs that lie on a low-dimensional nonlinear manifold (a jump that
    moves with the input) with a small code. The code ``b(u)`` is the
    branch's output of ``n_basis`` values (one group per field when the
    branch is split per field); the MLP outputs every field at once. It
    works with every branch, random trunk sampling (``n_eval``), points per
    function and several output fields.

    Parameters
    ----------
    layers : tuple of int, default=(100, 100, 100)
        Hidden widths of the decoder MLP.
    activation : str, default="relu"
        Its activation.

    See Also
    --------
    ShiftedTrunk : The branch shifts and scales the trunk's coordinates.

    Notes
    -----
    The decoder's cost is an MLP evaluation per (function, point) pair,
    where a DeepONet evaluates its trunk once per point; training with
    ``n_eval`` random points per function keeps a step cheap. Each
    evaluation of the first layer is split as ``W_b b + W_y y``, computed
    once per function and once per point. The network is not a sum of
    coefficients times basis functions: ``to_onnx(split=True)`` and
    ``multi_output_strategy="independent"`` are refused.

    References
    ----------
    .. [1] J. H. Seidman, G. Kissas, P. Perdikaris and G. J. Pappas, "NOMAD:
       Nonlinear manifold decoders for operator learning", NeurIPS (2022).

    Examples
    --------
    >>> from skoperator import DeepONetRegressor
    >>> from skoperator.datasets import make_advection
    >>> from skoperator.networks import NOMADTrunk
    >>> U, Y, G = make_advection(40, n_points=32, random_state=0)
    >>> est = DeepONetRegressor(coords=Y, trunk=NOMADTrunk(layers=(16,)), n_basis=8,
    ...                         max_iter=2, tol=None, random_state=0).fit(U, G)
    >>> est.predict(U[:3]).shape
    (3, 32)
    """

    conditioned = True
    _parameter_constraints = {"layers": _WIDTHS,
                              "activation": [StrOptions(set(_layers.ACTIVATIONS))]}

    def __init__(self, layers=(100, 100, 100), activation="relu"):
        self.layers = layers
        self.activation = activation

    def build(self, d, n_out, context):
        width = context.branch_width
        mlp = _layers.built(_layers.MLP, width + d, _check_widths(self, "layers"), n_out,
                            self.activation, generator=context.generator)
        return NonlinearDecoder(mlp, width, n_out)


class ShiftedTrunk(BaseTrunk):
    """The shift-DeepONet trunk: the branch also shifts and scales its coordinates.

    ``G(u)(y) = sum_k b_k(u) t_k((y - s(u)) * a(u))``: the branch outputs the
    coefficients ``b_k`` and ``2 d`` more values that a linear head maps to
    a shift ``s(u)`` and a positive scale ``a(u) = exp(r(u))`` per
    coordinate; the inner trunk ``t`` is evaluated at the moved
    coordinates, so a basis that follows a moving jump is a few functions.
    The head starts at zero: the network starts as the plain DeepONet of
    the inner trunk (shift 0, scale 1).

    Parameters
    ----------
    trunk : {"mlp", "resnet"}, trunk component or None, default=None
        The inner trunk (not a table trunk, not a conditioned one); None
        means ``MLPTrunk()``. Its settings are nested parameters:
        ``trunk__trunk__layers`` on the estimator.
    scale : bool, default=True
        Learn the scales; False learns the shifts only.

    See Also
    --------
    NOMADTrunk : A nonlinear decoder of the branch code and the point.

    Notes
    -----
    Lanthaler et al. [1]_ define shift-DeepONet with one affine map per
    basis function, ``t_k(A_k(u) y + c_k(u))``, a "scale-net" ``A_k`` (a
    matrix) and a "shift-net" ``c_k``. This component uses one affine map
    per function, shared by the basis functions, with a diagonal positive
    scale: ``2 d`` extra branch outputs rather than ``n_basis (d^2 + d)``,
    and the inner trunk evaluated once per (function, point) pair rather
    than once per basis function. It represents a single moving pattern
    exactly (a square wave moved by ``s(u)`` and stretched by ``a(u)``);
    several features moving independently need the paper's form or
    :class:`NOMADTrunk`. An inner trunk on random Fourier features
    (``MLPTrunk(fourier_features=32)``) forms a sharp edge in fewer steps
    than a plain MLP (``benchmarks/sweep_advection.py``). The network is
    not separable: ``to_onnx(split=True)`` and
    ``multi_output_strategy="independent"`` are refused.

    References
    ----------
    .. [1] S. Lanthaler, R. Molinaro, P. Hadorn and S. Mishra, "Nonlinear
       reconstruction for operator learning of PDEs with discontinuities",
       ICLR (2023).

    Examples
    --------
    >>> from skoperator import DeepONetRegressor
    >>> from skoperator.networks import MLPTrunk, ShiftedTrunk
    >>> est = DeepONetRegressor(trunk=ShiftedTrunk(MLPTrunk(layers=(32, 32))))
    >>> est.get_params()["trunk__trunk__layers"]
    (32, 32)
    """

    conditioned = True
    _parameter_constraints = {"trunk": [StrOptions(set(_INNER)), BaseTrunk, None],
                              "scale": ["boolean"]}

    def __init__(self, trunk=None, scale=True):
        self.trunk = trunk
        self.scale = scale

    def inner(self):
        """Return the inner trunk as a component.

        Returns
        -------
        trunk : BaseTrunk
            ``trunk``, ``MLPTrunk()`` for None, or the component of a short name.

        Raises
        ------
        ValueError
            If the inner trunk is a table trunk or a conditioned one.
        """
        trunk = self.trunk
        trunk = MLPTrunk() if trunk is None else _INNER[trunk]() if isinstance(trunk, str) \
            else trunk
        if trunk.table or trunk.conditioned:
            kind = "a table trunk (known at the training points only)" if trunk.table \
                else "a conditioned trunk"
            raise ValueError(
                f"ShiftedTrunk(trunk={trunk!r}): the inner trunk is {kind}; expected a trunk "
                "evaluated at any coordinates, such as MLPTrunk() or ResNetTrunk().")
        return trunk.check()

    def branch_width(self, n_basis, n_outputs, fields, d):
        return fields[0] * n_basis + 2 * d

    def build(self, d, n_out, context):
        inner = self.inner()
        n_inner = context.fields[1] * context.n_basis
        sub = BuildContext(generator=context.generator, coords=context.coords)
        n_check = min(context.coords.shape[0], 3)
        module = check_module(inner, inner.build(d, n_inner, sub), (n_check, d),
                              (n_check, n_inner), "trunk", x=context.coords[:n_check])
        with torch.random.fork_rng(devices=[]):  # its head's Linear draws (then zeroed)
            return ShiftedBasis(module, context.n_basis, context.fields, n_out, d, self.scale)
