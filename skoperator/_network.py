"""Torch modules: the BRANCHES, TRUNKS and LAYOUTS registries and the DeepONet head.

This module sees tensors only; numpy <-> torch conversion happens in the
estimator. Built-in layers are initialised from an explicit
``torch.Generator`` so that one ``random_state`` controls everything.

- :data:`BRANCHES` maps a ``branch=`` name to a module class that owns its
  input-shape rules (``check_input_shape``) and how it is built from the
  estimator's hyperparameters (``from_params``).
- :data:`TRUNKS` does the same for ``trunk=``.
- :data:`LAYOUTS` maps ``multi_output_strategy=`` to how several output
  fields share the two networks.
"""

import copy
import dataclasses
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
            elif isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                fan_in = layer.in_channels * math.prod(layer.kernel_size)
                bound = math.sqrt(6.0 / fan_in)
                layer.weight.uniform_(-bound, bound, generator=generator)
                if layer.bias is not None:
                    layer.bias.zero_()


@dataclasses.dataclass(frozen=True)
class NetworkParams:
    """The estimator's hyperparameters that shape the built-in networks."""

    branch_layers: tuple = (40, 40, 40)
    trunk_layers: tuple = (40, 40, 40)
    activation: str = "relu"
    cnn_channels: tuple = (40, 60, 100)
    fno_modes: int = 12
    fno_width: int = 32
    fno_layers: int = 4
    fno_head: str = "auto"
    fourier_features: int = 0
    fourier_scale: float = 1.0


@dataclasses.dataclass(frozen=True)
class TrunkContext:
    """What data-driven trunks (POD) see when they are built.

    Attributes
    ----------
    coords : Tensor of shape (n_points, d)
        Standardised training coordinates.
    targets : Tensor of shape (n_functions, n_points, n_fields)
        Standardised training targets (NaN where missing) of the fields this
        trunk serves.
    """

    coords: torch.Tensor
    targets: torch.Tensor


def _mlp_layers(n_in, hidden, n_out, activation):
    layers, width = [], n_in
    for h in hidden:
        layers += [nn.Linear(width, h), ACTIVATIONS[activation]()]
        width = h
    layers.append(nn.Linear(width, n_out))
    return layers


def _built(cls, *args, generator, **kwargs):
    """``cls(*args, **kwargs)`` with its layers initialised from ``generator``.

    Layer constructors draw from torch's global RNG; they run on a forked
    RNG so that the global one is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        module = cls(*args, **kwargs)
    init_parameters(module, generator)
    return module


class MLP(nn.Sequential):
    """Fully connected network ``n_in -> hidden... -> n_out``, linear output."""

    needs_grid = False

    def __init__(self, n_in, hidden, n_out, activation="relu"):
        super().__init__(*_mlp_layers(n_in, hidden, n_out, activation))

    @staticmethod
    def check_input_shape(input_shape, n_sensors):
        """MLP branches ignore ``input_shape``."""
        return None

    @classmethod
    def from_params(cls, n_in, n_out, *, params, generator, role, **context):
        """Build from the estimator's hyperparameters (``branch_layers`` or ``trunk_layers``)."""
        hidden = params.branch_layers if role == "branch" else params.trunk_layers
        if role == "trunk" and params.fourier_features:
            encoder = FourierFeatures(n_in, params.fourier_features, params.fourier_scale,
                                      generator)
            body = _built(cls, encoder.n_out, hidden, n_out, params.activation,
                          generator=generator)
            return nn.Sequential(encoder, body)
        return _built(cls, n_in, hidden, n_out, params.activation, generator=generator)


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

    needs_grid = False

    def forward(self, x):
        h = self.act(self.lift(x))
        for block in self.blocks:
            z = self.act(block(h))
            h = h + z if z.shape == h.shape else z
        return self.out(h)

    from_params = MLP.__dict__["from_params"]


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


def grid_shape(input_shape, n_sensors, kind, dims=(2,)):
    """Validate ``input_shape`` for a grid branch: (channels, *grid) with the sensors' count.

    A tuple of ``d`` sizes is one channel on a ``d``-dimensional grid; a
    tuple of ``d + 1`` sizes is (channels, *grid). ``dims`` lists the grid
    dimensions the branch supports.
    """
    if input_shape is None:
        raise ValueError(
            f"branch={kind!r} needs input_shape, the grid on which each row of U (here "
            f"{n_sensors} sensors) is sampled, for instance input_shape=(height, width) or "
            "(channels, height, width); got input_shape=None."
        )
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
        raise ValueError(f"input_shape must be a tuple of ints; got {input_shape!r}.") from None
    if len(shape) in dims:
        shape = (1,) + shape
    if len(shape) - 1 not in dims or min(shape) < 1 or math.prod(shape) != n_sensors:
        forms = " or ".join(f"{d} sizes (a grid) or {d + 1} (channels first)" for d in dims)
        raise ValueError(
            f"input_shape={tuple(input_shape)} does not match U for branch={kind!r}: expected "
            f"{forms}, positive, whose product is the number of sensors ({n_sensors}); got "
            f"product {math.prod(shape) if shape else 0}."
        )
    return shape


class CNNBranch(nn.Module):
    """Convolutional branch for inputs sampled on a 2-D grid.

    Each convolution (3x3, 'same' padding) is followed by the activation and
    2x2 average pooling; the flattened maps feed an MLP ending in ``n_out``
    features. Flat inputs of shape (batch, channels * h * w) are reshaped
    inside.
    """

    needs_grid = True

    def __init__(self, input_shape, channels, hidden, n_out, activation="relu"):
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        if len(self.input_shape) == 2:
            self.input_shape = (1,) + self.input_shape
        c_in, h, w = self.input_shape
        layers = []
        for c_out in channels:
            layers += [
                nn.Conv2d(c_in, c_out, kernel_size=3, padding=1),
                ACTIVATIONS[activation](),
                nn.AvgPool2d(2),
            ]
            c_in, h, w = c_out, h // 2, w // 2
        self.features = nn.Sequential(*layers)
        self.head = MLP(c_in * h * w, hidden, n_out, activation)

    def forward(self, u):
        x = u.reshape(u.shape[0], *self.input_shape)
        return self.head(self.features(x).flatten(1))

    @classmethod
    def check_input_shape(cls, input_shape, n_sensors, params=None):
        """Normalised (channels, height, width); the grid must survive the poolings."""
        shape = grid_shape(input_shape, n_sensors, "cnn")
        if params is not None:
            n_pool = len(params.cnn_channels)
            if shape[1] >> n_pool < 1 or shape[2] >> n_pool < 1:
                raise ValueError(
                    f"input_shape={tuple(input_shape)} is too small for {n_pool} pooling "
                    f"stages (each halves the grid, cnn_channels={params.cnn_channels}); pass "
                    "fewer cnn_channels or a larger grid."
                )
        return shape

    @classmethod
    def from_params(cls, n_in, n_out, *, params, generator, input_shape, **context):
        """Build from ``cnn_channels``, ``branch_layers`` and ``activation``."""
        return _built(cls, input_shape, tuple(params.cnn_channels), tuple(params.branch_layers),
                      n_out, params.activation, generator=generator)


class PODTrunk(nn.Module):
    """A trunk made of the leading POD modes of the training outputs (POD-DeepONet).

    The modes are the right singular vectors of the matrix of standardised
    training outputs (one row per function and field, one column per point;
    missing values replaced by their column mean), scaled to unit mean
    square over the points. They are fixed (buffers, not trained) and known
    at the training points only: the trunk evaluates at any of those points
    (looked up by value) and refuses others.

    Parameters
    ----------
    points : Tensor of shape (n_points, d)
        Standardised training coordinates.
    modes : Tensor of shape (n_points, n_modes)
        Mode values at the points.
    correction : nn.Module or None, default=None
        A learned trunk added to the modes (its output layer starts at zero).
    """

    needs_grid = False
    #: the trunk is a table over the training points
    table = True

    def __init__(self, points, modes, correction=None):
        super().__init__()
        self.register_buffer("points", points)
        self.register_buffer("modes", modes)
        self.correction = correction

    @staticmethod
    def pod_modes(targets, n_modes):
        """Leading modes (n_points, n_modes), unit mean square, from (n, n_points, fields)."""
        a = targets.permute(0, 2, 1).reshape(-1, targets.shape[1]).double()
        nan = torch.isnan(a)
        if nan.any():
            mean = torch.nanmean(a, dim=0, keepdim=True)
            a = torch.where(nan, mean, a)
        rank = min(a.shape)
        if n_modes > rank:
            raise ValueError(
                f"trunk='pod' needs n_basis <= the number of POD modes of the training "
                f"outputs, min(functions x fields, points) = {rank}; got n_basis={n_modes}. "
                "Lower n_basis or pass more functions."
            )
        _, _, vh = torch.linalg.svd(a, full_matrices=False)
        return (vh[:n_modes].T * math.sqrt(a.shape[1])).float()

    def at_index(self, index):
        """Modes at training points ``index`` (any shape), (..., n_modes)."""
        out = self.modes[index]
        if self.correction is not None:
            out = out + self.correction(self.points[index])
        return out

    def lookup(self, y):
        """Index of each coordinate row of ``y`` (..., d) among the training points."""
        flat = y.reshape(-1, y.shape[-1]).to(self.points.dtype)
        if flat.shape == self.points.shape and torch.equal(flat, self.points):
            return torch.arange(flat.shape[0], device=flat.device).reshape(y.shape[:-1])
        index = torch.empty(flat.shape[0], dtype=torch.long, device=flat.device)
        scale = self.points.abs().max().clamp(min=1.0)
        for start in range(0, flat.shape[0], 4096):
            dist, idx = torch.cdist(flat[start:start + 4096], self.points).min(dim=1)
            if bool((dist > 1e-5 * scale).any()):
                raise ValueError(
                    "trunk='pod' knows its modes at the training coordinates only, and "
                    "predict was given coordinates that are not among them; predict at "
                    "(a subset of) the fitted coords_, or use trunk='mlp' (resolution-free)."
                )
            index[start:start + 4096] = idx
        return index.reshape(y.shape[:-1])

    def forward(self, y):
        return self.at_index(self.lookup(y))

    @classmethod
    def from_params(cls, n_in, n_out, *, params, generator, trunk_context, correction=False,
                    **context):
        """Modes of ``trunk_context.targets``; with ``correction`` an MLP is added."""
        modes = cls.pod_modes(trunk_context.targets, n_out)
        extra = None
        if correction:
            extra = _built(MLP, n_in, tuple(params.trunk_layers), n_out, params.activation,
                           generator=generator)
            with torch.no_grad():
                extra[-1].weight.zero_()
        return cls(trunk_context.coords.float(), modes, extra)


class PODCorrectedTrunk(PODTrunk):
    """POD modes plus a learned MLP correction (``trunk_layers``), which starts at zero."""

    @classmethod
    def from_params(cls, n_in, n_out, **kwargs):
        return super().from_params(n_in, n_out, correction=True, **kwargs)


class Stack(nn.Module):
    """Several networks side by side: outputs concatenated on the last axis."""

    def __init__(self, nets):
        super().__init__()
        self.nets = nn.ModuleList(nets)
        self.table = all(getattr(n, "table", False) for n in nets)

    def forward(self, x):
        return torch.cat([net(x) for net in self.nets], dim=-1)

    def at_index(self, index):
        return torch.cat([net.at_index(index) for net in self.nets], dim=-1)


@dataclasses.dataclass(frozen=True)
class Layout:
    """How ``n_outputs`` fields share the networks (DeepXDE's strategies).

    Attributes
    ----------
    branch_split : bool
        The branch produces ``n_outputs * n_basis`` coefficients, one group per field.
    trunk_split : bool
        The trunk produces ``n_outputs * n_basis`` basis functions, one group per field.
    independent : bool
        Every field has its own branch and trunk networks.
    """

    branch_split: bool
    trunk_split: bool
    independent: bool = False

    def fields(self, n_outputs):
        """(branch groups, trunk groups) for ``n_outputs`` fields."""
        return (n_outputs if self.branch_split else 1, n_outputs if self.trunk_split else 1)


#: ``multi_output_strategy=`` name -> how the output fields share the networks.
LAYOUTS = {
    "split_branch": Layout(branch_split=True, trunk_split=False),
    "split_trunk": Layout(branch_split=False, trunk_split=True),
    "split_both": Layout(branch_split=True, trunk_split=True),
    "independent": Layout(branch_split=True, trunk_split=True, independent=True),
}

#: ``branch=`` name -> module class (``check_input_shape``, ``from_params``).
BRANCHES = {
    "mlp": MLP,
    "cnn": CNNBranch,
}

#: ``trunk=`` name -> module class (``from_params``).
TRUNKS = {
    "mlp": MLP,
    "resmlp": ResidualMLP,
    "pod": PODTrunk,
    "pod_corrected": PODCorrectedTrunk,
}


def from_user(spec, n_in, n_out, generator, role):
    """A user's module (deep-copied) or factory (called with sizes on a seeded RNG)."""
    if isinstance(spec, nn.Module):
        return copy.deepcopy(spec)
    # Factories build their layers with torch's default initialisation; run
    # them on a forked, locally seeded RNG so that random_state controls them
    # and the global RNG is left as it was.
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = spec(n_in, n_out)
    except Exception as exc:
        raise ValueError(
            f"The {role} factory raised {type(exc).__name__}: {exc} (called as "
            f"factory({n_in}, {n_out})). A {role} factory takes (n_inputs, n_outputs) and "
            "returns a torch.nn.Module."
        ) from exc
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"The {role} factory must return a torch.nn.Module; got {type(module).__name__}. "
            f"Pass a callable (n_inputs, n_outputs) -> nn.Module."
        )
    return module


class DeepONet(nn.Module):
    """``G(u)(y)_c = sum_k b_ck(u) t_ck(y) + b0_c`` with fixed affine scalings.

    Parameters
    ----------
    branches : list of nn.Module
        One branch per input function; branch ``i`` maps (batch, size_i) to
        (batch, branch_fields * n_basis). With several, their outputs are
        multiplied elementwise (MIONet).
    trunk : nn.Module
        Maps (..., d) to (..., trunk_fields * n_basis).
    input_sizes : tuple of int
        Columns of U per input function.
    n_outputs : int
        Output fields.
    n_basis : int
        Basis functions per field.
    layout : Layout
        How the fields share the networks.
    scaling : dict of tensors
        ``u_shift, u_scale`` (n_sensors,), ``y_shift, y_scale`` (d,),
        ``g_shift, g_scale`` (n_outputs,): inputs are standardised and
        outputs de-standardised inside the module, so it works on raw data.
    output_transform : callable or None, default=None
        ``output_transform(y, out) -> out`` in the units of G (see the
        estimator).
    """

    def __init__(self, branches, trunk, *, input_sizes, n_outputs, n_basis, layout, scaling,
                 output_transform=None):
        super().__init__()
        self.branches = nn.ModuleList(branches)
        self.trunk = trunk
        self.input_sizes = tuple(int(s) for s in input_sizes)
        self.n_outputs = int(n_outputs)
        self.n_basis = int(n_basis)
        self.branch_fields, self.trunk_fields = layout.fields(self.n_outputs)
        self.bias = nn.Parameter(torch.zeros(self.n_outputs))
        for name, value in scaling.items():
            self.register_buffer(name, torch.as_tensor(value, dtype=torch.float32))
        self.output_transform = output_transform

    @property
    def branch(self):
        """The branch of the first (often the only) input function."""
        return self.branches[0]

    def encode_branch(self, u):
        """Coefficients (batch, branch_fields * n_basis) of raw inputs ``u``."""
        u = (u - self.u_shift) / self.u_scale
        if len(self.branches) == 1:
            return self.branches[0](u)
        b = None
        for branch, part in zip(self.branches, torch.split(u, self.input_sizes, dim=1)):
            out = branch(part)
            b = out if b is None else b * out
        return b

    def encode_trunk(self, y, index=None):
        """Basis (..., trunk_fields * n_basis) at raw coordinates ``y`` (..., d).

        ``index``, the positions of ``y`` in the training grid when known,
        lets table trunks (POD) skip the coordinate lookup.
        """
        if index is not None and getattr(self.trunk, "table", False):
            return self.trunk.at_index(index)
        return self.trunk((y - self.y_shift) / self.y_scale)

    def combine(self, b, t):
        """Standardised outputs from coefficients and basis.

        ``t`` of shape (n, width) gives the Cartesian product (batch, n);
        ``t`` of shape (batch, m, width) gives one output per pair
        (batch, m). With several output fields the outputs get a last axis
        of ``n_outputs``: (batch, n, n_outputs) or (batch, m, n_outputs).
        """
        if self.n_outputs == 1:  # the common case, with as few operations as possible
            if t.dim() == 2:
                return b @ t.T + self.bias
            return torch.bmm(t, b.unsqueeze(-1)).squeeze(-1) + self.bias
        k, p = self.n_outputs, self.n_basis
        b = b.reshape(b.shape[0], self.branch_fields, p).expand(-1, k, -1)
        t = t.reshape(*t.shape[:-1], self.trunk_fields, p)
        if t.dim() == 3:
            return torch.einsum("bkp,nkp->bnk", b, t.expand(-1, k, -1)) + self.bias
        return torch.einsum("bkp,bmkp->bmk", b, t.expand(-1, -1, k, -1)) + self.bias

    def unscale(self, out):
        """Map standardised outputs to the units of G (fields on the last axis)."""
        return out * self.g_scale + self.g_shift

    def transform(self, y, out):
        """Apply ``output_transform`` to standardised outputs; standardised result.

        ``y`` holds the raw coordinates of ``out``: (m, d) for outputs at
        shared points, or (batch, m, d).
        """
        if self.output_transform is None:
            return out
        g = self.output_transform(y.to(out.dtype), self.unscale(out))
        return (g - self.g_shift) / self.g_scale

    def forward(self, u, y):
        """Predictions (batch, n_points[, n_outputs]), units of G, at coordinates ``y`` (n, d)."""
        out = self.combine(self.encode_branch(u), self.encode_trunk(y))
        return self.unscale(self.transform(y, out))


def build_network(*, branch, trunk, input_sizes, input_shapes, n_outputs, n_basis, layout,
                  params, scaling, generator, trunk_context, output_transform):
    """The DeepONet of the estimator's hyperparameters.

    Parameters
    ----------
    branch : list
        Per input function: a :data:`BRANCHES` key, a module or a factory.
    trunk : str, module or factory
        A :data:`TRUNKS` key, a module or a factory.
    input_sizes : tuple of int
        Columns of U per input function.
    input_shapes : list of tuple or None
        Validated grid shape per input (channels first), None for non-grid branches.
    n_outputs, n_basis : int
        Output fields and basis functions per field.
    layout : Layout
        Field sharing.
    params : NetworkParams
        Widths, activation, ...
    scaling : dict
        Standardisation buffers.
    generator : torch.Generator
        Initialisation.
    trunk_context : TrunkContext
        Training coordinates and targets, for data-driven trunks.
    output_transform : callable or None
        Exact constraints.

    Returns
    -------
    network : DeepONet
    """
    kb, kt = layout.fields(n_outputs)
    copies = n_outputs if layout.independent else 1
    d = trunk_context.coords.shape[1]

    def one(spec, n_in, n_out, role, **context):
        if isinstance(spec, str):
            registry = BRANCHES if role == "branch" else TRUNKS
            return registry[spec].from_params(n_in, n_out, params=params, generator=generator,
                                              role=role, **context)
        return from_user(spec, n_in, n_out, generator, role)

    # The trunk first: a data-driven trunk's basis can shape the branch's head.
    # Independent fields, and a table trunk (POD) split per field, get one
    # trunk per field (POD modes of that field); otherwise one trunk network.
    table = isinstance(trunk, str) and getattr(TRUNKS[trunk], "table", False)
    if layout.independent or (table and kt > 1):
        trunks = [one(trunk, d, n_basis, "trunk", trunk_context=TrunkContext(
            trunk_context.coords, trunk_context.targets[:, :, c:c + 1]))
            for c in range(n_outputs)]
        trunk_net = Stack(trunks) if n_outputs > 1 else trunks[0]
    else:
        trunks = None
        trunk_net = one(trunk, d, kt * n_basis, "trunk", trunk_context=trunk_context)
    bases = _trunk_bases(trunk_net, trunks, n_outputs, n_basis, kb, kt)

    branches = []
    for spec, size, shape in zip(branch, input_sizes, input_shapes):
        context = dict(input_shape=shape, multi_input=len(input_sizes) > 1)
        if copies > 1:
            nets = [one(spec, size, n_basis, "branch",
                        basis=None if bases is None else bases[c:c + 1], **context)
                    for c in range(copies)]
            branches.append(Stack(nets))
        else:
            branches.append(one(spec, size, kb * n_basis, "branch", basis=bases, **context))
    return DeepONet(branches, trunk_net, input_sizes=input_sizes, n_outputs=n_outputs,
                    n_basis=n_basis, layout=layout, scaling=scaling,
                    output_transform=output_transform)


def _trunk_bases(trunk_net, trunks, n_outputs, n_basis, kb, kt):
    """Per branch field, the projection basis (n_points, n_basis) of a table trunk, or None.

    A table trunk (POD) knows its modes on the training grid; a branch that
    produces whole output fields can project them on these modes.
    """
    if not getattr(trunk_net, "table", False):
        return None
    with torch.no_grad():
        if trunks is not None:
            modes = [t.modes for t in trunks]
        else:
            m = trunk_net.modes.reshape(trunk_net.modes.shape[0], kt, n_basis)
            modes = [m[:, c] for c in range(kt)]
    if kt == 1:
        modes = modes * kb
    if len(modes) != kb:
        return None
    # With modes of unit mean square, field @ (modes / n_points) are the
    # coefficients of the field's projection on their span.
    return [m / m.shape[0] for m in modes]


# The Fourier-layer branch lives in its own module, which builds on the
# helpers above; it joins the registry here.
from ._fno import FNOBranch  # noqa: E402

BRANCHES["fno"] = FNOBranch
