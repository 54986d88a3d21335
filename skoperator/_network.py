"""Torch modules: branch and trunk networks and the DeepONet head.

This module sees tensors only; numpy <-> torch conversion happens in the
estimator. Built-in layers are initialised from an explicit
``torch.Generator`` so that one ``random_state`` controls everything.
"""

import copy
import math

import torch
from torch import nn

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "sigmoid": nn.Sigmoid,
}


def init_parameters(module, generator):
    """Initialise every Linear and Conv layer of ``module`` from ``generator``.

    Linear weights get Glorot-normal initialisation (as in DeepONet papers),
    convolution weights He-uniform, biases zero.
    """
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.Linear):
                fan_in, fan_out = layer.in_features, layer.out_features
                std = math.sqrt(2.0 / (fan_in + fan_out))
                layer.weight.normal_(0.0, std, generator=generator)
                if layer.bias is not None:
                    layer.bias.zero_()
            elif isinstance(layer, nn.Conv2d):
                fan_in = layer.in_channels * math.prod(layer.kernel_size)
                bound = math.sqrt(6.0 / fan_in)
                layer.weight.uniform_(-bound, bound, generator=generator)
                if layer.bias is not None:
                    layer.bias.zero_()


def _mlp_layers(n_in, hidden, n_out, activation):
    layers, width = [], n_in
    for h in hidden:
        layers += [nn.Linear(width, h), ACTIVATIONS[activation]()]
        width = h
    layers.append(nn.Linear(width, n_out))
    return layers


class MLP(nn.Sequential):
    """Fully connected network ``n_in -> hidden... -> n_out``, linear output."""

    def __init__(self, n_in, hidden, n_out, activation="relu"):
        super().__init__(*_mlp_layers(n_in, hidden, n_out, activation))


class ResidualMLP(nn.Module):
    """MLP whose equal-width hidden layers carry skip connections.

    ``h <- h + act(W h + c)`` for every hidden layer after the first; the
    first layer lifts the input to the hidden width.
    """

    def __init__(self, n_in, hidden, n_out, activation="relu"):
        super().__init__()
        hidden = tuple(hidden) or (n_out,)
        self.lift = nn.Linear(n_in, hidden[0])
        self.blocks = nn.ModuleList(nn.Linear(a, b) for a, b in zip(hidden, hidden[1:]))
        self.out = nn.Linear(hidden[-1], n_out)
        self.act = ACTIVATIONS[activation]()

    def forward(self, x):
        h = self.act(self.lift(x))
        for block in self.blocks:
            z = self.act(block(h))
            h = h + z if z.shape == h.shape else z
        return self.out(h)


class FourierFeatures(nn.Module):
    """Random Fourier features ``[cos(2 pi x B), sin(2 pi x B), x]``.

    ``B`` (d, n_features) has entries drawn from N(0, scale^2) and is a fixed
    buffer, so the encoding works at any coordinates.
    """

    def __init__(self, n_in, n_features, scale, generator):
        super().__init__()
        freqs = torch.randn(n_in, n_features, generator=generator) * scale
        self.register_buffer("freqs", freqs)
        self.n_out = 2 * n_features + n_in

    def forward(self, x):
        z = 2.0 * math.pi * (x @ self.freqs)
        return torch.cat([torch.cos(z), torch.sin(z), x], dim=-1)


class CNNBranch(nn.Module):
    """Convolutional branch for inputs sampled on a 2-D grid.

    Each convolution (3x3, 'same' padding) is followed by the activation and
    2x2 average pooling; the flattened maps feed an MLP ending in ``n_out``
    features. Flat inputs of shape (batch, h * w) are reshaped inside.
    """

    def __init__(self, input_shape, channels, hidden, n_out, activation="relu"):
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        h, w = self.input_shape
        layers, c_in = [], 1
        for c_out in channels:
            layers += [
                nn.Conv2d(c_in, c_out, kernel_size=3, padding=1),
                ACTIVATIONS[activation](),
                nn.AvgPool2d(2),
            ]
            c_in, h, w = c_out, h // 2, w // 2
        if h < 1 or w < 1:
            raise ValueError(
                f"input_shape={self.input_shape} is too small for {len(channels)} "
                "pooling stages; pass fewer cnn_channels or a larger grid."
            )
        self.features = nn.Sequential(*layers)
        self.head = MLP(c_in * h * w, hidden, n_out, activation)

    def forward(self, u):
        x = u.reshape(u.shape[0], 1, *self.input_shape)
        return self.head(self.features(x).flatten(1))


class DeepONet(nn.Module):
    """``G(u)(y) = sum_k b_k(u) t_k(y) + b0`` with fixed affine scalings.

    Parameters
    ----------
    branch : nn.Module
        Maps (batch, n_sensors) to (batch, n_basis).
    trunk : nn.Module
        Maps (n, d) to (n, n_basis).
    scaling : dict of tensors
        ``u_shift, u_scale`` (n_sensors,) or scalars, ``y_shift, y_scale``
        (d,), ``g_shift, g_scale`` scalars: inputs are standardised and
        outputs de-standardised inside the module, so it works on raw data.
    """

    def __init__(self, branch, trunk, scaling):
        super().__init__()
        self.branch = branch
        self.trunk = trunk
        self.bias = nn.Parameter(torch.zeros(()))
        for name, value in scaling.items():
            self.register_buffer(name, torch.as_tensor(value, dtype=torch.float32))

    def encode_branch(self, u):
        """Branch coefficients (batch, n_basis) of raw inputs ``u``."""
        return self.branch((u - self.u_shift) / self.u_scale)

    def encode_trunk(self, y):
        """Trunk basis (..., n_basis) at raw coordinates ``y`` (..., d)."""
        return self.trunk((y - self.y_shift) / self.y_scale)

    def combine(self, b, t):
        """Scaled outputs from coefficients and basis.

        ``t`` of shape (n, p) gives the Cartesian product (batch, n);
        ``t`` of shape (batch, k, p) gives one output per pair (batch, k).
        """
        if t.dim() == 2:
            return b @ t.T + self.bias
        return torch.bmm(t, b.unsqueeze(-1)).squeeze(-1) + self.bias

    def unscale(self, out):
        """Map scaled outputs back to the units of G."""
        return out * self.g_scale + self.g_shift

    def forward(self, u, y):
        """Predictions (batch, n_points) for inputs ``u`` at coordinates ``y``."""
        return self.unscale(self.combine(self.encode_branch(u), self.encode_trunk(y)))


def _from_user(spec, n_in, n_basis, generator, role):
    """A user's module (used as is) or factory (called with sizes)."""
    if isinstance(spec, nn.Module):
        return copy.deepcopy(spec)
    # Factories build their layers with torch's default initialisation; run
    # them on a forked, locally seeded RNG so that random_state controls them
    # and the global RNG is left as it was.
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = spec(n_in, n_basis)
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"The {role} factory must return a torch.nn.Module; got {type(module).__name__}. "
            f"Pass a callable (n_inputs, n_basis) -> nn.Module."
        )
    return module


def build_branch(spec, n_sensors, n_basis, *, layers, activation, input_shape,
                 cnn_channels, generator):
    """Branch network mapping (batch, n_sensors) to (batch, n_basis)."""
    if not isinstance(spec, str):
        return _from_user(spec, n_sensors, n_basis, generator, "branch")
    with torch.random.fork_rng(devices=[]):  # layer constructors draw from the global RNG
        if spec == "mlp":
            net = MLP(n_sensors, layers, n_basis, activation)
        else:
            net = CNNBranch(input_shape, cnn_channels, layers, n_basis, activation)
    init_parameters(net, generator)
    return net


def build_trunk(spec, d, n_basis, *, layers, activation, fourier_features,
                fourier_scale, generator):
    """Trunk network mapping (n, d) to (n, n_basis), with optional features."""
    if not isinstance(spec, str):
        return _from_user(spec, d, n_basis, generator, "trunk")
    encoder, n_in = None, d
    if fourier_features:
        encoder = FourierFeatures(d, fourier_features, fourier_scale, generator)
        n_in = encoder.n_out
    with torch.random.fork_rng(devices=[]):
        body = (MLP if spec == "mlp" else ResidualMLP)(n_in, layers, n_basis, activation)
    init_parameters(body, generator)
    return body if encoder is None else nn.Sequential(encoder, body)
