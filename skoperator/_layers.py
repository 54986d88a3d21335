"""Torch building blocks of the networks: plain modules, no estimator settings.

The public components of :mod:`skoperator.networks` build these modules.
Built-in layers are initialised from an explicit ``torch.Generator`` so that
one ``random_state`` controls everything. Tensors only here.
"""

import copy
import math

import torch
from torch import nn

from ._protocols import TableModule

#: activation name -> module class
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
            elif isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                fan_in = layer.in_channels * math.prod(layer.kernel_size)
                bound = math.sqrt(6.0 / fan_in)
                layer.weight.uniform_(-bound, bound, generator=generator)
                if layer.bias is not None:
                    layer.bias.zero_()


def built(cls, *args, generator, **kwargs):
    """``cls(*args, **kwargs)`` with its layers initialised from ``generator``.

    Layer constructors draw from torch's global RNG; they run on a forked
    RNG so that the global one is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        module = cls(*args, **kwargs)
    init_parameters(module, generator)
    return module


class MLP(nn.Sequential):
    """Fully connected network ``n_in -> hidden... -> n_out``.

    The output is linear, or with ``output_activation`` the activation of
    the last layer too (the trunk of Lu et al. 2021 and DeepXDE).
    """

    def __init__(self, n_in, hidden, n_out, activation="relu", output_activation=False):
        layers, width = [], n_in
        for h in hidden:
            layers += [nn.Linear(width, h), ACTIVATIONS[activation]()]
            width = h
        layers.append(nn.Linear(width, n_out))
        if output_activation:
            layers.append(ACTIVATIONS[activation]())
        super().__init__(*layers)
        self.output_activation = bool(output_activation)


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
            # decided by the layer's sizes, not the activations' shapes: an
            # exporter traces it as a constant
            h = h + z if block.in_features == block.out_features else z
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


class ConvNet(nn.Module):
    """Convolutional encoder of inputs on a 2-D grid, ending in ``n_out`` features.

    Each convolution (3x3, 'same' padding) is followed by the activation and
    2x2 average pooling; the flattened maps feed an MLP. Flat inputs of shape
    (batch, channels * h * w) are reshaped inside.
    """

    def __init__(self, input_shape, filters, hidden, n_out, activation="relu"):
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        c_in, h, w = self.input_shape
        layers = []
        for c_out in filters:
            layers += [nn.Conv2d(c_in, c_out, kernel_size=3, padding=1),
                       ACTIVATIONS[activation](), nn.AvgPool2d(2)]
            c_in, h, w = c_out, h // 2, w // 2
        self.features = nn.Sequential(*layers)
        self.head = MLP(c_in * h * w, hidden, n_out, activation)

    def forward(self, u):
        x = u.reshape(u.shape[0], *self.input_shape)
        return self.head(self.features(x).flatten(1))


class PODModes(TableModule):
    """Leading POD modes of the training outputs, plus an optional learned correction."""

    def __init__(self, points, modes, correction=None):
        super().__init__(points, modes)
        self.correction = correction

    def at_index(self, index):
        out = self.modes[index]
        if self.correction is not None:
            out = out + self.correction(self.points[index])
        return out


def pod_modes(targets, n_modes):
    """Leading modes (n_points, n_modes), unit mean square, of (n, n_points, fields) targets.

    Right singular vectors of the matrix of targets (one row per function and
    field; missing values replaced by their column mean).
    """
    a = targets.permute(0, 2, 1).reshape(-1, targets.shape[1]).double()
    nan = torch.isnan(a)
    if nan.any():
        mean = torch.nanmean(a, dim=0, keepdim=True)
        a = torch.where(nan, mean, a)
    rank = min(a.shape)
    if n_modes > rank:
        raise ValueError(
            f"the POD trunk needs n_basis <= the number of POD modes of the training "
            f"outputs, min(training functions x fields, points) = {rank} (the functions "
            f"held out by early_stopping not counted); got n_basis={n_modes}. "
            "Lower n_basis or pass more functions."
        )
    _, _, vh = torch.linalg.svd(a, full_matrices=False)
    return (vh[:n_modes].T * math.sqrt(a.shape[1])).float()


class Stack(nn.Module):
    """Several networks side by side: outputs concatenated on the last axis."""

    def __init__(self, nets):
        super().__init__()
        self.nets = nn.ModuleList(nets)
        self.table = all(getattr(n, "table", False) for n in nets)

    def forward(self, x):
        return torch.cat([net(x) for net in self.nets], dim=-1)

    @property
    def input_shape(self):
        """``(channels, *grid)`` of the networks' input (grid branches read one), or None."""
        return getattr(self.nets[0], "input_shape", None)

    def unstack(self):
        """The networks as ordinary modules (copies)."""
        return [copy.deepcopy(net) for net in self.nets]

    def at_index(self, index):
        return torch.cat([net.at_index(index) for net in self.nets], dim=-1)

    def lookup(self, y):
        return self.nets[0].lookup(y)

    @property
    def points(self):
        return self.nets[0].points

    @property
    def modes(self):
        return torch.cat([net.modes for net in self.nets], dim=-1)


def _linear_layers(net):
    """``(linears, activation, skips)`` of an :class:`MLP` or :class:`ResidualMLP`."""
    if type(net) is MLP:
        linears = [m for m in net if isinstance(m, nn.Linear)]
        acts = [m for m in net if not isinstance(m, nn.Linear)]
        return linears, (acts[0] if acts else None), (False,) * len(linears)
    linears = [net.lift, *net.blocks, net.out]
    skips = (False,) + tuple(b.in_features == b.out_features for b in net.blocks) + (False,)
    return linears, net.act, skips


def vectorizable(nets):
    """Whether ``nets`` are two or more identical MLPs that :class:`BatchedStack` can stack."""
    if len(nets) < 2 or type(nets[0]) not in (MLP, ResidualMLP):
        return False
    shapes = [(n, p.shape) for n, p in nets[0].named_parameters()]
    act = type(_linear_layers(nets[0])[1])
    out = getattr(nets[0], "output_activation", False)
    return all(type(net) is type(nets[0]) and type(_linear_layers(net)[1]) is act
               and getattr(net, "output_activation", False) == out
               and [(n, p.shape) for n, p in net.named_parameters()] == shapes
               and not list(net.buffers()) for net in nets)


class BatchedStack(nn.Module):
    """Identical MLPs as one vectorised network: the outputs of :class:`Stack`.

    The networks' weights are stacked layer by layer along a new first axis,
    and the networks are evaluated together: the first layer as one matrix
    product of the shared input with every network's weights, the others as
    batched matrix products (``baddbmm``). Each network keeps its own
    weights, and a loss that sums the networks' losses trains each as if
    alone; a few large operations replace one small set per network.
    :meth:`unstack` gives the networks back as ordinary modules.

    Parameters
    ----------
    nets : list of MLP or ResidualMLP
        Networks of identical structure (:func:`vectorizable`).
    """

    def __init__(self, nets):
        super().__init__()
        if not vectorizable(nets):
            raise ValueError("BatchedStack needs two or more MLPs of identical structure.")
        layers = [_linear_layers(net) for net in nets]
        linears, act, skips = layers[0]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([lay[0][k].weight.detach() for lay in layers]).clone())
            for k in range(len(linears)))
        self.biases = nn.ParameterList(
            nn.Parameter(torch.stack([lay[0][k].bias.detach() for lay in layers]).clone())
            for k in range(len(linears)))
        self.act = copy.deepcopy(act) if act is not None else nn.Identity()
        self.skips = skips
        self.act_out = getattr(nets[0], "output_activation", False)
        self.n_nets = len(nets)
        # A copy of the first network, to rebuild the networks (unstack); not
        # a submodule: its own weights are never used, nor saved.
        self.__dict__["_template"] = copy.deepcopy(nets[0])
        self.table = False

    def forward(self, x):
        lead, n_in = x.shape[:-1], x.shape[-1]
        w, b = self.weights[0], self.biases[0]          # (nets, h, n_in), (nets, h)
        h = torch.addmm(b.reshape(-1), x.reshape(-1, n_in), w.reshape(-1, n_in).T)
        h = h.reshape(-1, self.n_nets, w.shape[1]).transpose(0, 1)   # (nets, N, h)
        last = len(self.weights) - 1
        if last:
            h = self.act(h)
        for k in range(1, last + 1):
            z = torch.baddbmm(self.biases[k].unsqueeze(1), h, self.weights[k].transpose(1, 2))
            if k < last:
                z = self.act(z)
                h = h + z if self.skips[k] else z
            else:
                h = z
        if self.act_out:
            h = self.act(h)
        return h.transpose(0, 1).reshape(*lead, -1)

    def unstack(self):
        """The networks as ordinary modules (copies of the current weights)."""
        nets = []
        for k in range(self.n_nets):
            net = copy.deepcopy(self._template).to(self.weights[0].device)
            with torch.no_grad():
                for layer, w, b in zip(_linear_layers(net)[0], self.weights, self.biases):
                    layer.weight.copy_(w[k])
                    layer.bias.copy_(b[k])
            nets.append(net)
        return nets


class Merged(nn.Module):
    """Branches of several input functions, each on its own columns, merged into one output.

    Parameters
    ----------
    nets : list of nn.Module
        Branch ``i`` maps (batch, sizes[i]) to (batch, width_i).
    sizes : tuple of int
        Columns of the input per branch.
    merge : nn.Module
        Maps the list of branch outputs to (batch, n_out).
    """

    def __init__(self, nets, sizes, merge):
        super().__init__()
        self.nets = nn.ModuleList(nets)
        self.sizes = tuple(int(s) for s in sizes)
        self.merge = merge

    def forward(self, u):
        parts = torch.split(u, self.sizes, dim=1)
        return self.merge([net(part) for net, part in zip(self.nets, parts)])


class ProductMerge(nn.Module):
    """Elementwise product of the branch outputs (MIONet)."""

    def forward(self, outs):
        out = outs[0]
        for o in outs[1:]:
            out = out * o
        return out


class SumMerge(nn.Module):
    """Sum of the branch outputs."""

    def forward(self, outs):
        out = outs[0]
        for o in outs[1:]:
            out = out + o
        return out


class ProductSumMerge(nn.Module):
    """Each branch output split in halves: product of the first halves plus sum of the second."""

    def forward(self, outs):
        halves = [o.chunk(2, dim=-1) for o in outs]
        prod, total = halves[0]
        for p, s in halves[1:]:
            prod = prod * p
            total = total + s
        return prod + total


class ConcatMerge(nn.Module):
    """Concatenated branch outputs, then a merger MLP."""

    def __init__(self, n_in, hidden, n_out, activation):
        super().__init__()
        self.mlp = MLP(n_in, hidden, n_out, activation)

    def forward(self, outs):
        return self.mlp(torch.cat(outs, dim=-1))
