"""Merge components of several branches: product, sum, product and sum, concatenation."""

from . import _layers
from ._compat import StrOptions
from ._protocols import _WIDTHS, BaseMerge, _check_widths


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


