"""Building the network of a fit: scalings, a table trunk's targets, the DeepONet itself.

:func:`build` makes a new network for an estimator's components on its
training data; :func:`network_from_architecture` makes an untrained one of a
fitted architecture for saved tensors to fill (:mod:`skoperator.io`);
:func:`inference_network` the float64 CPU copy that ``predict`` uses.
"""

import copy

import numpy as np
import torch

from . import _coords, _data
from ._device import as_tensor, to_float64
from ._network import LAYOUTS, Scaling, build_network
from ._parallel import flop_rates
from ._pod import StreamedTargets
from ._scaling import scaling_statistics
from .networks import as_branch, as_trunk


def check_output_transform(network, U, coords, device):
    """Call ``output_transform`` once on real shapes, so that a bad one fails before training."""
    y = as_tensor(coords[:3], torch.float32, device)
    with torch.no_grad():
        out = network.untransformed(as_tensor(U, torch.float32, device), y)
        try:
            got = network.output_transform(y, out)
        except Exception as exc:
            raise ValueError(
                f"output_transform raised {type(exc).__name__}: {exc} when called with y of "
                f"shape {tuple(y.shape)} and out of shape {tuple(out.shape)}; it must map "
                "torch tensors (y, out) to a tensor shaped like out."
            ) from exc
    shape = tuple(got.shape) if torch.is_tensor(got) else type(got).__name__
    if shape != tuple(out.shape):
        raise ValueError(
            f"output_transform returned {shape} for out of shape {tuple(out.shape)} (y of "
            f"shape {tuple(y.shape)}); it must return a torch tensor shaped like out."
        )


def scaling_of(est, U, G, coords, input_sizes):
    """The standardisation of inputs, coordinates and outputs (identity without it)."""
    if not est.standardize:
        return Scaling.identity(U.shape[1], coords.shape[1], est.n_outputs)
    return Scaling(**scaling_statistics(U, G, coords, input_sizes, est.n_outputs))


def table_targets(G, scaling, n_outputs):
    """Standardised targets for a table trunk: a tensor, or read in row chunks if streamed."""
    if _data.is_streamed(G):  # never loaded whole (the POD from row chunks)
        return StreamedTargets(G, scaling.g_shift, scaling.g_scale)
    g = as_tensor(np.asarray(G[:], dtype=np.float64), torch.float64, torch.device("cpu"))
    g = g.reshape(len(g), n_outputs, -1).permute(0, 2, 1)
    return (g - torch.as_tensor(scaling.g_shift)) / torch.as_tensor(scaling.g_scale)


def build(est, U, G, coords, branch, trunk, input_sizes, input_shape, generator):
    """A new network for the estimator's components, scaled on (U, G)."""
    n_outputs = est.n_outputs
    coords = _coords.finite_points(coords)  # per-function points: every finite one
    scaling = scaling_of(est, U, G, coords, input_sizes)
    cpu = torch.device("cpu")
    y = (as_tensor(coords, torch.float32, cpu) - torch.as_tensor(scaling.y_shift).float()) \
        / torch.as_tensor(scaling.y_scale).float()
    targets = table_targets(G, scaling, n_outputs) if trunk.table else None
    return build_network(
        branch=branch, trunk=trunk, n_sensors=U.shape[1], n_outputs=n_outputs,
        n_basis=est.n_basis, layout=LAYOUTS[est.multi_output_strategy], scaling=scaling,
        generator=generator, coords=y, targets=targets, input_shape=input_shape,
        output_transform=est.output_transform,
        # Set by EnsembleRegressor for its vectorised members (never a parameter).
        vectorize=getattr(est, "_vectorize_fields", False))


def inference_network(network):
    """A float64 CPU copy of ``network`` for ``predict``, and its flop rates.

    float64 evaluation of the float32 weights: results do not depend on how
    the rows are batched (BLAS kernels differ by batch size). Made once per
    fit, so that ``predict`` copies and traces nothing.
    """
    cpu = to_float64(copy.deepcopy(network).cpu()).eval()
    return cpu, flop_rates(cpu)


def network_from_architecture(architecture, n_sensors, coords, input_shape):
    """An untrained network of a fitted architecture, for the saved tensors to fill.

    Built with the components of ``architecture`` (an
    :func:`architecture_snapshot`) on placeholder data of the right shapes:
    identity scalings and, for a table trunk, random targets; every tensor
    (scalings, POD modes, projection bases, weights) is then replaced by
    ``load_state_dict``.

    Parameters
    ----------
    architecture : dict
        The architecture parameters (``ARCHITECTURE``).
    n_sensors : int
        Columns of U.
    coords : ndarray of shape (n_points, d)
        The training coordinates (any points of dimension d when the model
        was fitted on points per function).
    input_shape : tuple or None
        ``U.shape[1:]`` of a grid branch.

    Returns
    -------
    network : DeepONet
    """
    n_outputs, n_basis = int(architecture["n_outputs"]), int(architecture["n_basis"])
    branch = as_branch(architecture["branch"]).check()
    trunk = as_trunk(architecture["trunk"]).check()
    generator = torch.Generator().manual_seed(0)
    coords = torch.as_tensor(np.asarray(coords, dtype=np.float32))
    targets = None
    if trunk.table:  # enough functions for the rank of the POD modes
        n = max(n_basis * n_outputs, 2) + 1
        targets = torch.randn(n, coords.shape[0], n_outputs, generator=generator,
                              dtype=torch.float64)
    return build_network(
        branch=branch, trunk=trunk, n_sensors=int(n_sensors), n_outputs=n_outputs,
        n_basis=n_basis, layout=LAYOUTS[architecture["multi_output_strategy"]],
        scaling=Scaling.identity(int(n_sensors), coords.shape[1], n_outputs),
        generator=generator, coords=coords, targets=targets, input_shape=input_shape,
        output_transform=architecture["output_transform"])

