"""Trunk components: MLP, residual MLP and POD trunks."""

from numbers import Integral, Real

import torch
from torch import nn

from . import _layers, _pod
from ._compat import Interval, StrOptions
from ._protocols import _WIDTHS, BaseTrunk, _check_widths


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
    output_activation : bool, default=False
        Apply the activation to the last layer too, so that the basis
        functions are the activation's outputs, as in the trunk of Lu et al.
        (2021) and DeepXDE's DeepONets. False: a linear last layer.

    Examples
    --------
    >>> from skoperator.networks import MLPTrunk
    >>> MLPTrunk(fourier_features=16)
    MLPTrunk(fourier_features=16)
    >>> MLPTrunk(layers=(128, 128), output_activation=True)
    MLPTrunk(layers=(128, 128), output_activation=True)
    """

    vectorizable = True
    _parameter_constraints = {"layers": _WIDTHS,
                              "activation": [StrOptions(set(_layers.ACTIVATIONS))],
                              "fourier_features": [Interval(Integral, 0, None, closed="left")],
                              "fourier_scale": [Interval(Real, 0, None, closed="neither")],
                              "output_activation": ["boolean"]}

    def __init__(self, layers=(40, 40, 40), activation="relu", fourier_features=0,
                 fourier_scale=1.0, output_activation=False):
        self.layers = layers
        self.activation = activation
        self.fourier_features = fourier_features
        self.fourier_scale = fourier_scale
        self.output_activation = output_activation

    def build(self, d, n_out, context):
        hidden = _check_widths(self, "layers")
        if self.fourier_features:
            encoder = _layers.FourierFeatures(d, self.fourier_features, self.fourier_scale,
                                              context.generator)
            body = _layers.built(_layers.MLP, encoder.n_out, hidden, n_out, self.activation,
                                 self.output_activation, generator=context.generator)
            return nn.Sequential(encoder, body)
        return _layers.built(_layers.MLP, d, hidden, n_out, self.activation,
                             self.output_activation, generator=context.generator)


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

    vectorizable = True
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

    A streamed ``G`` (a large memmap, HDF5, Zarr, Dask) is not loaded: the
    modes are the leading eigenvectors of ``A^T A`` accumulated over row
    chunks in float64 (``n_points x n_points`` memory), or with more points
    than rows ``A^T u`` for the leading eigenvectors ``u`` of ``A A^T``
    (``n_rows x n_rows``, from every pair of chunks), equal to the SVD's to
    rounding, up to the sign of each mode.

    Trained on every point (``sampling="full"``) with the MSE or relative L2
    loss, one output field and no correction, a step never forms the
    (batch, n_points) outputs: the loss is a quadratic form in the branch's
    coefficients whose matrices (``T^T T`` and the targets' projections
    ``T^T g``) are computed once per fit, in float64 (the *Gram path*,
    ``docs/performance.md``).

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
        modes = _pod.pod_modes(context.targets, n_out)
        extra = None
        if self.correction:
            extra = _layers.built(_layers.MLP, d, _check_widths(self, "layers"), n_out,
                                  self.activation, generator=context.generator)
            with torch.no_grad():
                extra[-1].weight.zero_()
        return _layers.PODModes(context.coords.float(), modes, extra)


