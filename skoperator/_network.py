"""The DeepONet module, the LAYOUTS registry and the assembly of a network from components.

This module sees tensors only; numpy <-> torch conversion happens at the
estimator's edge. The branch and trunk components (:mod:`skoperator.networks`)
build their modules; :func:`build_network` puts them together with the
standardisation buffers and the layout of several output fields.
"""

import copy
import dataclasses

import numpy as np
import torch
from torch import nn

from . import _layers
from ._protocols import check_conditioned_module
from .networks import BuildContext, check_module


@dataclasses.dataclass(frozen=True)
class Scaling:
    """Shifts and scales that standardise inputs, coordinates and outputs.

    Attributes
    ----------
    u_shift, u_scale : ndarray of shape (n_sensors,)
        Inputs: per-column mean, one scale per input function.
    y_shift, y_scale : ndarray of shape (d,)
        Coordinates, per dimension.
    g_shift, g_scale : ndarray of shape (n_outputs,)
        Outputs, per field.
    """

    u_shift: np.ndarray
    u_scale: np.ndarray
    y_shift: np.ndarray
    y_scale: np.ndarray
    g_shift: np.ndarray
    g_scale: np.ndarray

    @classmethod
    def identity(cls, n_sensors, d, n_outputs):
        """Scalings that leave inputs, coordinates and outputs as they are."""
        return cls(np.zeros(n_sensors), np.ones(n_sensors), np.zeros(d), np.ones(d),
                   np.zeros(n_outputs), np.ones(n_outputs))


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


class DeepONet(nn.Module):
    """``G(u)(y)_c = sum_k b_ck(u) t_ck(y) + b0_c`` with fixed affine scalings.

    Parameters
    ----------
    branch : nn.Module
        Maps (batch, n_sensors) standardised inputs to
        (batch, branch_fields * n_basis) coefficients.
    trunk : nn.Module
        Maps (..., d) to (..., trunk_fields * n_basis).
    n_outputs : int
        Output fields.
    n_basis : int
        Basis functions per field.
    layout : Layout
        How the fields share the networks.
    scaling : Scaling
        Inputs are standardised and outputs de-standardised inside the
        module, so it works on raw data.
    output_transform : callable or None, default=None
        ``output_transform(y, out) -> out`` in the units of G (see the
        estimator).
    """

    def __init__(self, branch, trunk, *, n_outputs, n_basis, layout, scaling,
                 output_transform=None):
        super().__init__()
        self.branch = branch
        self.trunk = trunk
        self.trunk_is_table = bool(getattr(trunk, "table", False))
        # A conditioned trunk reads the branch's output too (NOMAD, shift-DeepONet):
        # encode_trunk only standardises y and combine runs the trunk.
        self.trunk_conditioned = bool(getattr(trunk, "conditioned", False))
        self.n_outputs = int(n_outputs)
        self.n_basis = int(n_basis)
        self.branch_fields, self.trunk_fields = layout.fields(self.n_outputs)
        self.bias = nn.Parameter(torch.zeros(self.n_outputs))
        for name, value in dataclasses.asdict(scaling).items():
            self.register_buffer(name, torch.as_tensor(value, dtype=torch.float32))
        self.output_transform = output_transform

    def encode_branch(self, u):
        """Coefficients (batch, branch_fields * n_basis) of raw inputs ``u``."""
        return self.branch((u - self.u_shift) / self.u_scale)

    def encode_trunk(self, y, index=None):
        """Basis (..., trunk_fields * n_basis) at raw coordinates ``y`` (..., d).

        ``index``, the positions of ``y`` in the training grid when known,
        lets table trunks (POD) skip the coordinate lookup. A conditioned
        trunk needs the branch's output: its basis is the standardised
        coordinates, which :meth:`combine` hands to the trunk.
        """
        if self.trunk_conditioned:
            return (y - self.y_shift) / self.y_scale
        if index is not None and self.trunk_is_table:
            return self.trunk.at_index(index)
        return self.trunk((y - self.y_shift) / self.y_scale)

    def combine(self, b, t):
        """Standardised outputs from coefficients and basis.

        ``t`` of shape (n, width) gives the Cartesian product (batch, n);
        ``t`` of shape (batch, m, width) gives one output per pair
        (batch, m). With several output fields the outputs get a last axis
        of ``n_outputs``: (batch, n, n_outputs) or (batch, m, n_outputs).
        A conditioned trunk maps ``t`` (the standardised coordinates) and
        ``b`` to these outputs itself.
        """
        if self.trunk_conditioned:
            return self.trunk(t, b) + self.bias
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

    # The forward chain, written once: branch -> trunk -> combine -> transform -> unscale.
    def standardized(self, b, t, y):
        """Standardised outputs, ``output_transform`` applied, of coefficients and basis.

        ``b`` from :meth:`encode_branch`, ``t`` from :meth:`encode_trunk` at
        the raw coordinates ``y`` ((n, d) shared, or (batch, m, d) per
        function); shapes as :meth:`combine`.
        """
        return self.transform(y, self.combine(b, t))

    def outputs(self, b, t, y):
        """Outputs in the units of G (``output_transform`` applied) of coefficients and basis."""
        return self.unscale(self.standardized(b, t, y))

    def untransformed(self, u, y):
        """Outputs in the units of G before ``output_transform``, at raw coordinates ``y``."""
        return self.unscale(self.combine(self.encode_branch(u), self.encode_trunk(y)))

    def forward(self, u, y, index=None):
        """Predictions in the units of G of raw inputs ``u`` at raw coordinates ``y``.

        ``y`` of shape (n, d) gives (batch, n[, n_outputs]) (every function at
        every point); (batch, m, d) gives (batch, m[, n_outputs]) (each
        function at its own points). ``index``: as in :meth:`encode_trunk`.
        """
        return self.outputs(self.encode_branch(u), self.encode_trunk(y, index), y)

    # The separable form, field by field (ONNX's split export).
    def field_coefficients(self, u):
        """Coefficients (batch, n_outputs * n_basis) in the units of G, one group per field.

        With ``field_basis``, field ``c`` is ``coefficients[:, c*p:(c+1)*p] @
        basis[:, c*p:(c+1)*p].T + field_bias()[c]`` (without ``output_transform``).
        """
        self._check_separable()
        b = self.encode_branch(u)
        if self.branch_fields == 1 and self.n_outputs > 1:
            b = b.repeat(1, self.n_outputs)
        return b * self.g_scale.repeat_interleave(self.n_basis).to(b.dtype)

    def field_basis(self, y, index=None):
        """Basis (n, n_outputs * n_basis) at raw coordinates ``y``, one group per field."""
        self._check_separable()
        t = self.encode_trunk(y, index)
        if self.trunk_fields == 1 and self.n_outputs > 1:
            t = t.repeat(1, self.n_outputs)
        return t

    def _check_separable(self):
        if self.trunk_conditioned:
            raise ValueError(
                f"the trunk {type(self.trunk).__name__} reads the branch's output (a "
                "conditioned trunk), so the network is not a sum of coefficients times "
                "basis functions; export or use the whole network (to_onnx(split=False)).")

    def field_bias(self):
        """The bias of every field in the units of G, shape (n_outputs,)."""
        return self.bias * self.g_scale + self.g_shift

    # ------------------------------------------------------------- split
    def split_fields(self):
        """One single-field DeepONet per field of a network with independent fields.

        Field ``c``'s branch and trunk (unstacked from a
        :class:`~skoperator._layers.BatchedStack` or taken from a
        :class:`~skoperator._layers.Stack`), its output scaling and its bias:
        network ``c`` computes exactly field ``c`` of this one.

        Returns
        -------
        networks : list of DeepONet
        """
        if self.n_outputs == 1:
            return [copy.deepcopy(self)]
        if not (hasattr(self.branch, "unstack") and hasattr(self.trunk, "unstack")):
            raise ValueError("split_fields needs a network fitted with "
                             "multi_output_strategy='independent' (a branch and a trunk "
                             "per field).")
        branches, trunks = self.branch.unstack(), self.trunk.unstack()
        scaling = {name: getattr(self, name).detach().cpu().numpy()
                   for name in (f.name for f in dataclasses.fields(Scaling))}
        networks = []
        for c in range(self.n_outputs):
            field_scaling = Scaling(**{k: (v[c:c + 1] if k.startswith("g_") else v)
                                       for k, v in scaling.items()})
            network = DeepONet(branches[c], trunks[c], n_outputs=1, n_basis=self.n_basis,
                               layout=LAYOUTS["independent"], scaling=field_scaling,
                               output_transform=self.output_transform).to(self.bias.device)
            with torch.no_grad():
                network.bias.copy_(self.bias[c:c + 1])
            networks.append(network)
        return networks


def build_network(*, branch, trunk, n_sensors, n_outputs, n_basis, layout, scaling, generator,
                  coords, targets, input_shape, output_transform, vectorize=False):
    """The DeepONet of the given components.

    Parameters
    ----------
    branch : BaseBranch
        Branch component (a :class:`~skoperator.networks.MultiBranch` for
        several input functions).
    trunk : BaseTrunk
        Trunk component.
    n_sensors : int
        Columns of U.
    n_outputs, n_basis : int
        Output fields and basis functions per field.
    layout : Layout
        Field sharing.
    scaling : Scaling
        Standardisation buffers.
    generator : torch.Generator
        Initialisation.
    coords : Tensor of shape (n_points, d)
        Standardised training coordinates.
    targets : Tensor of shape (n_functions, n_points, n_outputs) or None
        Standardised training targets, for table trunks.
    input_shape : tuple or None
        ``U.shape[1:]`` when U had more than two dimensions.
    output_transform : callable or None
        Exact constraints.
    vectorize : bool, default=False
        With the independent layout, evaluate the fields' identical MLPs
        as one vectorised network (:class:`~skoperator._layers.BatchedStack`)
        rather than one after the other (the ensemble's vectorised members).

    Returns
    -------
    network : DeepONet
    """
    kb, kt = layout.fields(n_outputs)
    copies = n_outputs if layout.independent else 1
    d = coords.shape[1]
    n_check = min(coords.shape[0], 3)
    if trunk.conditioned:
        return _conditioned_network(branch, trunk, n_sensors, n_outputs, n_basis, layout,
                                    scaling, generator, coords, input_shape, output_transform)

    def one_trunk(n_out, fields):
        context = BuildContext(generator=generator, coords=coords,
                               targets=None if targets is None else targets[:, :, fields])
        return check_module(trunk, trunk.build(d, n_out, context), (n_check, d),
                            (n_check, n_out), "trunk", x=coords[:n_check])

    # The trunk first: a table trunk's basis can shape the branch's head.
    # Independent fields, and a table trunk split per field, get one trunk per
    # field (the POD modes of that field); otherwise one trunk network.
    if layout.independent or (trunk.table and kt > 1):
        trunks = [one_trunk(n_basis, slice(c, c + 1)) for c in range(n_outputs)]
        trunk_net = _stack(trunks, vectorize) if n_outputs > 1 else trunks[0]
    else:
        trunks = None
        trunk_net = one_trunk(kt * n_basis, slice(None))
    bases = _trunk_bases(trunk_net, trunks, n_basis, kb, kt)

    def one_branch(n_out, basis):
        context = BuildContext(generator=generator, coords=coords, basis=basis,
                               input_shape=input_shape)
        return check_module(branch, branch.build(n_sensors, n_out, context), (2, n_sensors),
                            (2, n_out), "branch")

    if copies > 1:
        branch_net = _stack([one_branch(n_basis, None if bases is None else bases[c:c + 1])
                             for c in range(copies)], vectorize)
    else:
        branch_net = one_branch(kb * n_basis, bases)
    return DeepONet(branch_net, trunk_net, n_outputs=n_outputs, n_basis=n_basis,
                    layout=layout, scaling=scaling, output_transform=output_transform)


def _conditioned_network(branch, trunk, n_sensors, n_outputs, n_basis, layout, scaling,
                         generator, coords, input_shape, output_transform):
    """The DeepONet of a conditioned trunk: one branch whose output the trunk reads."""
    if layout.independent:
        raise ValueError(
            f"multi_output_strategy='independent' builds one trunk per field, but the trunk "
            f"{type(trunk).__name__} reads the branch's output (a conditioned trunk); "
            "expected one of 'split_branch', 'split_trunk', 'split_both': pass one of those.")
    fields = layout.fields(n_outputs)
    d = coords.shape[1]
    width = int(trunk.branch_width(n_basis, n_outputs, fields, d))
    context = BuildContext(generator=generator, coords=coords, n_basis=n_basis,
                           branch_width=width, fields=fields)
    trunk_net = check_conditioned_module(trunk, trunk.build(d, n_outputs, context),
                                         coords[:min(coords.shape[0], 3)], width, n_outputs)
    context = BuildContext(generator=generator, coords=coords, input_shape=input_shape)
    branch_net = check_module(branch, branch.build(n_sensors, width, context), (2, n_sensors),
                              (2, width), "branch")
    return DeepONet(branch_net, trunk_net, n_outputs=n_outputs, n_basis=n_basis,
                    layout=layout, scaling=scaling, output_transform=output_transform)


def _stack(nets, vectorize):
    """Networks side by side: vectorised when asked and possible, else one after the other."""
    if vectorize and _layers.vectorizable(nets):
        return _layers.BatchedStack(nets)
    return _layers.Stack(nets)


def _trunk_bases(trunk_net, trunks, n_basis, kb, kt):
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
