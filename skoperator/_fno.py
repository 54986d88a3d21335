"""Fourier layers (Li et al., 2021) and the FNO branch of a DeepONet.

A spectral convolution multiplies the lowest Fourier modes of its input by
learned complex weights (mixing channels) and drops the others; a Fourier
layer adds a pointwise (1x1) path and an activation. ``FNOBranch`` lifts the
input grid (its channels and the grid coordinates) to ``width`` channels,
applies ``n_layers`` Fourier layers on a zero-padded domain, and maps the
result to the branch's coefficients with one of two heads:

- ``"pooled"``: a pointwise projection, average pooling to a 4 (1-D),
  4 x 4 (2-D) or 4 x 4 x 4 (3-D) grid and an MLP: works for any output coordinates;
- ``"projection"``: a pointwise MLP produces whole output fields on the input
  grid, and the coefficients are the fields' projection on a fixed basis
  (the POD modes of a table trunk): ``b = field @ basis``. Where input and
  output grids coincide this is an FNO whose output is expressed in the POD
  basis, the form that reached FNO's accuracy on the heat benchmark.

Complex weights are stored as real tensors (``(..., 2)``) and mixed in real
arithmetic, so that ``module.to(torch.float64)``, fused Adam and every
optimizer treat them as ordinary parameters. The 1x1 convolutions start
fan-in uniform (torch's default), from the fit's generator. Tensors only here.
"""

import math

import numpy as np
import torch
from torch import nn

from ._layers import ACTIVATIONS, MLP, init_parameters


class SpectralConv(nn.Module):
    """Spectral convolution over the last ``len(modes)`` axes.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels in and out.
    modes : tuple of int
        Fourier modes kept per axis. On every axis but the last, the lowest
        ``modes[i]`` non-negative and the ``modes[i]`` lowest negative
        frequencies are kept (at most ``n // 2`` each, so that they do not
        overlap); on the last (real-FFT) axis the lowest ``modes[-1]`` (at
        most ``n // 2 + 1``). Modes beyond what a grid has are clamped.
    generator : torch.Generator
        Initialisation: real and imaginary parts uniform in
        ``[0, 1 / (in_channels * out_channels))``, as in FNO.
    """

    def __init__(self, in_channels, out_channels, modes, generator):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.modes = tuple(int(m) for m in modes)
        d = len(self.modes)
        scale = 1.0 / (in_channels * out_channels)
        # One weight block per combination of positive/negative halves of the
        # non-last axes: 2 ** (d - 1) blocks.
        self.weights = nn.ParameterList(
            nn.Parameter(scale * torch.rand(in_channels, out_channels, *self.modes, 2,
                                            generator=generator))
            for _ in range(2 ** (d - 1)))

    def _corners(self, shape):
        """Index tuples of the kept frequency blocks for a grid ``shape``."""
        d = len(self.modes)
        kept = [min(m, n // 2) for m, n in zip(self.modes[:-1], shape[:-1])]
        kept.append(min(self.modes[-1], shape[-1] // 2 + 1))
        corners = []
        for corner in range(2 ** (d - 1)):
            index = []
            for axis in range(d - 1):
                k = kept[axis]
                negative = (corner >> axis) & 1
                index.append(slice(shape[axis] - k, shape[axis]) if negative else slice(0, k))
            index.append(slice(0, kept[-1]))
            corners.append((tuple(index), tuple(slice(0, k) for k in kept)))
        return corners

    def dft_mode(self, shape):
        """Compute this layer on the grid ``shape`` with real matrix products only (export).

        The kept Fourier modes become products with cosine and sine matrices
        (the discrete Fourier transform restricted to those modes), the
        complex weights pairs of real tensors, and the inverse transform is
        computed as ``irfft`` does it (half-spectrum, the imaginary parts of
        the zero and Nyquist frequencies dropped): the same function as the
        FFT form, in operations every ONNX exporter and runtime has. The
        weights are frozen into buffers: use it on a copy that is exported,
        not trained.

        Parameters
        ----------
        shape : tuple of int
            The (padded) grid the layer is applied to.

        Returns
        -------
        self : SpectralConv
        """
        shape = tuple(int(n) for n in shape)
        d = len(shape)
        kept = [s.stop for s in self._corners(shape)[0][1]]
        dtype = self.weights[0].dtype
        freqs = [list(range(kept[a])) + list(range(shape[a] - kept[a], shape[a]))
                 for a in range(d - 1)] + [list(range(kept[-1]))]
        for axis, (f, n) in enumerate(zip(freqs, shape)):
            ang = 2 * math.pi * np.outer(np.arange(n), np.asarray(f, dtype=np.float64)) / n
            self.register_buffer(f"fc{axis}", torch.tensor(np.cos(ang), dtype=dtype))
            self.register_buffer(f"fs{axis}", torch.tensor(np.sin(ang), dtype=dtype))
            # The inverse, (len(f), n): irfft counts every kept frequency of the last
            # axis twice (for its conjugate), except zero and the Nyquist frequency.
            f = np.asarray(f)
            twice = np.where((f == 0) | (2 * f == n), 1.0, 2.0) if axis == d - 1 else 1.0
            factor = np.reshape(twice, (-1, 1)) / n
            self.register_buffer(f"ic{axis}", torch.tensor(np.cos(ang.T) * factor, dtype=dtype))
            self.register_buffer(f"is{axis}", torch.tensor(np.sin(ang.T) * factor, dtype=dtype))
        # One weight tensor over all kept modes: the corner blocks side by side.
        full = torch.zeros(self.in_channels, self.out_channels, *[len(f) for f in freqs], 2,
                           dtype=dtype)
        for corner, weight in enumerate(self.weights):
            index = [slice(kept[a], 2 * kept[a]) if (corner >> a) & 1 else slice(0, kept[a])
                     for a in range(d - 1)] + [slice(0, kept[-1])]
            block = weight.detach()[(slice(None), slice(None)) + tuple(slice(0, k) for k in kept)]
            full[(slice(None), slice(None)) + tuple(index)] = block
        self.register_buffer("w_re", full[..., 0].contiguous())
        self.register_buffer("w_im", full[..., 1].contiguous())
        self.dft_grid = shape
        return self

    def _along(self, x, axis, name):
        """``x`` times the buffer ``name + axis`` along grid axis ``axis``."""
        matrix = getattr(self, f"{name}{axis}")
        if axis == len(self.dft_grid) - 1:
            return x @ matrix
        dim = 2 + axis
        return (x.transpose(dim, -1) @ matrix).transpose(dim, -1)

    def _forward_dft(self, x):
        """The DFT-matrix forward pass (see :meth:`dft_mode`)."""
        d, along = len(self.dft_grid), self._along
        re, im = along(x, d - 1, "fc"), -along(x, d - 1, "fs")
        for axis in range(d - 1):  # exp(-i a) = cos a - i sin a
            re, im = (along(re, axis, "fc") + along(im, axis, "fs"),
                      along(im, axis, "fc") - along(re, axis, "fs"))
        axes = "xyz"[:d]
        eq = f"bi{axes},io{axes}->bo{axes}"
        re, im = (torch.einsum(eq, re, self.w_re) - torch.einsum(eq, im, self.w_im),
                  torch.einsum(eq, re, self.w_im) + torch.einsum(eq, im, self.w_re))
        for axis in range(d - 1):  # exp(+i a) / n
            re, im = (along(re, axis, "ic") - along(im, axis, "is"),
                      along(re, axis, "is") + along(im, axis, "ic"))
        return along(re, d - 1, "ic") - along(im, d - 1, "is")

    def forward(self, x):
        if getattr(self, "dft_grid", None) is not None:
            return self._forward_dft(x)
        if _autocast_on(x.device.type):
            # Fourier transforms in reduced precision are inaccurate (and
            # unsupported on some devices): this layer runs in float32.
            with torch.autocast(x.device.type, enabled=False):
                return self.forward(x.float())
        grid = x.shape[2:]
        d = len(self.modes)
        corners = self._corners(tuple(grid))
        last = corners[0][1][-1].stop
        # The last (real-FFT) axis first: the other axes then transform only
        # the columns that are kept.
        x_ft = torch.fft.rfft(x, dim=-1).narrow(-1, 0, last)
        full = tuple(range(-d, -1))
        if full:
            x_ft = torch.fft.fftn(x_ft, dim=full)
        # Real views of the spectra: one use of each complex tensor, so that
        # the gradients of the corner blocks add up in real arithmetic (a
        # sum of complex gradients is what torch.compile's inductor rejected).
        x_re = torch.view_as_real(x_ft)
        out = x_re.new_zeros(x.shape[0], self.out_channels, *x_ft.shape[2:], 2)
        for (index, kept), weight in zip(corners, self.weights):
            block = x_re[(slice(None), slice(None)) + index]
            out[(slice(None), slice(None)) + index] = _mix(block, weight[
                (slice(None), slice(None)) + kept])
        out_ft = torch.view_as_complex(out)
        if full:
            out_ft = torch.fft.ifftn(out_ft, dim=full)
        # irfft fills the dropped high frequencies of the last axis with zeros
        return torch.fft.irfft(out_ft, n=grid[-1], dim=-1)


def _mix(block, weight):
    """``einsum("bi...,io...->bo...", block, complex weight)``, in real arithmetic.

    ``block`` is the real view (batch, in, *modes, 2) of complex modes;
    ``weight`` real (in, out, *modes, 2); the result the real view (batch,
    out, *modes, 2). One real batched matrix product over the modes, with the
    complex product written out: ``[xr, xi] @ [[wr, wi], [-wi, wr]]``. On CPU
    it avoids the per-mode copies of a complex batched product (a few per
    cent of a heat step).
    """
    b, i = block.shape[:2]
    modes = block.shape[2:-1]
    o = weight.shape[1]
    n = math.prod(modes)
    x = block.reshape(b, i, n, 2).permute(2, 0, 3, 1).reshape(n, b, 2 * i)
    w = weight.reshape(i, o, n, 2).permute(2, 0, 1, 3)
    wr, wi = w[..., 0], w[..., 1]
    w = torch.cat([torch.cat([wr, wi], 2), torch.cat([-wi, wr], 2)], 1)  # (n, 2i, 2o)
    return torch.bmm(x, w).reshape(n, b, 2, o).permute(1, 3, 0, 2).reshape(b, o, *modes, 2)


def _fan_in_uniform(module, generator):
    """Convolutions' weights and biases uniform in ``+-1 / sqrt(fan_in)``, from ``generator``.

    torch's default for convolutions (and neuraloperator's), drawn from the
    fit's generator. Fourier layers train faster from it than from the
    He-uniform start of ``init_parameters`` (docs/benchmarks.md, "Fourier
    layers' initialisation").
    """
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                bound = 1.0 / math.sqrt(layer.in_channels * math.prod(layer.kernel_size))
                layer.weight.uniform_(-bound, bound, generator=generator)
                if layer.bias is not None:
                    layer.bias.uniform_(-bound, bound, generator=generator)


def _autocast_on(device_type):
    """Whether autocast is on for ``device_type`` (torch >= 2.4 and earlier spellings)."""
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4
        if device_type == "cpu":
            return torch.is_autocast_cpu_enabled()
        return torch.is_autocast_enabled()


class _AveragePool(nn.Module):
    """Adaptive average pooling of a fixed grid as one averaging matrix per axis (export)."""

    def __init__(self, grid, output_size, dtype):
        super().__init__()
        grid = tuple(int(n) for n in grid)
        sizes = (output_size,) * len(grid) if isinstance(output_size, int) else output_size
        self.d = len(grid)
        for axis, (n, m) in enumerate(zip(grid, sizes)):
            matrix = np.zeros((n, m))
            for i in range(m):
                start, stop = (i * n) // m, ((i + 1) * n + m - 1) // m
                matrix[start:stop, i] = 1.0 / (stop - start)
            self.register_buffer(f"p{axis}", torch.tensor(matrix, dtype=dtype))

    def forward(self, x):
        for axis in range(self.d):
            dim = 2 + axis
            x = (x.transpose(dim, -1) @ getattr(self, f"p{axis}")).transpose(dim, -1)
        return x


def _restrict(basis, grid, stride):
    """The rows of ``basis`` (one per node of ``grid``, or per copy and node) at every
    ``stride``-th node, rescaled.

    Scaled by the ratio of the node counts, so that a projection on the
    coarse nodes approximates the projection on all of them.
    """
    n_out = basis.shape[1]
    kept = (slice(None),) + (slice(None, None, stride),) * len(grid)
    rows = basis.reshape(-1, *grid, n_out)[kept]
    return rows.reshape(-1, n_out) * (math.prod(grid) / math.prod(rows.shape[1:-1]))


def _pointwise(n_in, n_out, d):
    return (nn.Conv1d, nn.Conv2d, nn.Conv3d)[d - 1](n_in, n_out, kernel_size=1)


class FNO(nn.Module):
    """Fourier-layer encoder of inputs on a grid, ending in ``n_out`` coefficients.

    Parameters
    ----------
    input_shape : tuple of int
        ``(channels, *grid)`` of each input function (a row of U, channels
        first, last axis fastest); 1-D, 2-D or 3-D grids.
    n_out : int
        Coefficients out.
    modes : int, default=12
        Fourier modes kept per axis (clamped to the grid).
    width : int, default=32
        Channels of the Fourier layers.
    n_layers : int, default=4
        Fourier layers.
    activation : str, default="gelu"
        A key of ``ACTIVATIONS``.
    padding : float, default=0.125
        Zero padding added at the end of every axis before the Fourier
        layers, as a fraction of its size (the FNO recipe for non-periodic
        problems); removed after them.
    stride : int, default=1
        The Fourier layers see every ``stride``-th node of the input grid
        along each axis (its first node kept), at about ``stride ** d`` times
        less cost; the projection head projects the coarse fields on the
        basis rows of those nodes, scaled by the ratio of the node counts.
    head : {"pooled", "projection"}, default="pooled"
        How feature maps become coefficients (see the module docstring).
    basis : list of Tensor, default=None
        For ``head="projection"``: per output field, the basis
        (k * n_grid_points, p) its ``k`` channels (one per copy of the grid,
        rows in the order (copy, node)) are projected on; ``n_out`` must be
        the sum of their widths.
    hidden : tuple of int, default=(128,)
        Hidden widths of the pooled head's MLP.
    generator : torch.Generator, default=None
        Initialisation.
    """

    def __init__(self, input_shape, n_out, *, modes=12, width=32, n_layers=4,
                 activation="gelu", padding=0.125, head="pooled", basis=None, hidden=(128,),
                 stride=1, generator=None):
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        channels, fine = self.input_shape[0], self.input_shape[1:]
        d = len(fine)
        self.d = d
        self.stride = int(stride)
        self.kept = (slice(None), slice(None)) + (slice(None, None, self.stride),) * d
        grid = tuple(-(-n // self.stride) for n in fine)  # the nodes the layers see
        self.grid_shape = grid
        if basis is not None and self.stride > 1:
            basis = [_restrict(b, fine, self.stride) for b in basis]
        self.pad = tuple(int(math.ceil(padding * n)) for n in grid)
        self.head_kind = head
        coords = torch.meshgrid(*[torch.linspace(0, 1, n)[::self.stride] for n in fine],
                                indexing="ij")
        self.register_buffer("grid", torch.stack(coords))  # (d, *grid)
        # Layer constructors draw from torch's global RNG: fork it, then
        # initialise every layer from ``generator``.
        fork = torch.random.fork_rng(devices=[])
        fork.__enter__()
        try:
            self._build(channels, grid, n_out, modes, width, n_layers, activation, head, basis,
                        hidden, generator)
        finally:
            fork.__exit__(None, None, None)
        init_parameters(self, generator)
        _fan_in_uniform(self, generator)

    def _build(self, channels, grid, n_out, modes, width, n_layers, activation, head, basis,
               hidden, generator):
        d = len(grid)
        self.lift = _pointwise(channels + d, width, d)
        self.spectral = nn.ModuleList(
            SpectralConv(width, width, (modes,) * d, generator) for _ in range(n_layers))
        self.pointwise = nn.ModuleList(_pointwise(width, width, d) for _ in range(n_layers))
        self.act = ACTIVATIONS[activation]()
        if head == "projection":
            # One output channel per copy of the grid in a basis's rows.
            n_fields = sum(b.shape[0] // math.prod(grid) for b in basis)
            self.project = nn.Sequential(_pointwise(width, 128, d), ACTIVATIONS[activation](),
                                         _pointwise(128, n_fields, d))
            self.register_buffer("basis", torch.block_diag(*[b.float() for b in basis]))
            if self.basis.shape != (n_fields * math.prod(grid), n_out):
                raise ValueError(
                    f"the projection basis has shape {tuple(self.basis.shape)}; expected "
                    f"({n_fields * math.prod(grid)}, {n_out}) for {n_fields} field(s) on the "
                    f"grid {grid} and {n_out} coefficients."
                )
        else:
            pooled = (4,) * d
            self.project = nn.Sequential(
                _pointwise(width, 16, d), ACTIVATIONS[activation](),
                (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)[d - 1](pooled))
            self.mlp = MLP(16 * math.prod(pooled), hidden, n_out, activation)

    def export_mode(self):
        """Switch to operations every ONNX exporter has, on this module's fixed grid.

        The spectral convolutions use their DFT-matrix form
        (:meth:`SpectralConv.dft_mode`) and the pooled head's adaptive
        pooling becomes one averaging matrix per axis; the function computed is
        the same. Use it on a copy that is exported, not trained.

        Returns
        -------
        self : FNO
        """
        grid = self.grid_shape
        padded = tuple(n + p for n, p in zip(grid, self.pad))
        for spectral in self.spectral:
            spectral.dft_mode(padded)
        if self.head_kind != "projection":
            pool = self.project[-1]
            self.project[-1] = _AveragePool(grid, pool.output_size, self.grid.dtype)
        return self

    def features(self, u):
        """Feature maps (batch, width, *grid) of flat inputs (batch, n_sensors)."""
        x = u.reshape(u.shape[0], *self.input_shape)
        if self.stride > 1:
            x = x[self.kept]
        grid = self.grid.to(x.dtype).expand(x.shape[0], *self.grid.shape)
        x = self.lift(torch.cat([x, grid], dim=1))
        if any(self.pad):
            pad = []
            for p in reversed(self.pad):
                pad += [0, p]
            x = nn.functional.pad(x, pad)
        for i, (spectral, pointwise) in enumerate(zip(self.spectral, self.pointwise)):
            x = spectral(x) + pointwise(x)
            if i < len(self.spectral) - 1:
                x = self.act(x)
        if any(self.pad):
            x = x[(slice(None), slice(None)) + tuple(slice(0, n) for n in self.grid_shape)]
        return x

    def fields(self, u):
        """Output fields (batch, n_fields * n_grid_points) of the projection head."""
        return self.project(self.features(u)).flatten(1)

    def forward(self, u):
        if self.head_kind == "projection":
            return self.fields(u) @ self.basis.to(u.dtype)
        return self.mlp(self.project(self.features(u)).flatten(1))
