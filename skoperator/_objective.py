"""What training minimises: the training tensors, one step's objective, the full grid.

:func:`step_objective` computes the residuals of one mini-batch and hands
them, with their weights, to the loss component (:mod:`skoperator.losses`);
it is the part :func:`torch.compile` compiles. :func:`grid_chunks` is the
one chunked evaluator of the whole training grid, used by the L-BFGS polish
(:func:`full_grid_objective`, :func:`physics_objective`), by adaptive
sampling's residuals and by :mod:`skoperator.inspection`. With a process
group, :func:`step_share` and :func:`chunk_share` say how much each rank's
part weighs. Everything here sees tensors (and, for targets too large for
memory, an array gathered batch by batch).
"""

import numpy as np
import torch

from ._scaling import standardized


# --------------------------------------------------------------------- data
class TrainingData:
    """Training tensors on the training device.

    Parameters
    ----------
    U : Tensor of shape (n_functions, n_sensors)
        Raw inputs.
    G : Tensor of shape (n_functions, n_points[, n_outputs]) or ndarray
        Of shape (n_functions, n_outputs * n_points) for the ndarray.
        Targets (the last axis only with several output fields). A Tensor
        is already standardised; a numpy array (a memmap)
        stays where it is, in the estimator's column layout (field ``c`` at
        point ``j`` in column ``c * n_points + j``), and is gathered and
        standardised per batch.
    coords : Tensor of shape (n_points, d) or (n_functions, n_points, d)
        Raw coordinates: shared by every function, or per function (each
        function's own points; NaN rows pad functions with fewer points, and
        their targets are missing).
    g_shift, g_scale : Tensor of shape (n_outputs,)
        Standardisation of each output field.
    has_missing : bool
        Whether G holds NaN (then the loss is masked).
    """

    def __init__(self, U, G, coords, g_shift, g_scale, has_missing):
        self.U = U
        self.G = G
        self.coords = coords
        self.device = U.device
        self.g_shift = g_shift.to(self.device)
        self.g_scale = g_scale.to(self.device)
        self.has_missing = has_missing
        self.n_functions, self.n_points = U.shape[0], coords.shape[-2]
        self.per_function = coords.dim() == 3
        self.n_outputs = int(g_shift.numel())
        self.grid_index = torch.arange(self.n_points, device=self.device)
        self._np_shift = g_shift.cpu().numpy().astype(np.float32)
        self._np_scale = g_scale.cpu().numpy().astype(np.float32)
        self._field_offsets = np.arange(self.n_outputs) * self.n_points
        # set by the trainer when a full-grid step can skip the grid (TableGram)
        self.gram = None

    @property
    def streamed(self):
        """Whether the targets stay in a numpy array, read per batch."""
        return not torch.is_tensor(self.G)

    def targets(self, rows, cols):
        """Standardised targets for ``rows`` at ``cols``.

        ``cols`` is None (every point), of shape (m,) (the same points for
        every row) or (batch, m). Only the sampled entries are read. The
        result has shape (batch, m) with one output field, (batch, m,
        n_outputs) with several.
        """
        if not self.streamed:
            if cols is None:
                return self.G[rows]
            if cols.dim() == 1:
                return self.G[rows][:, cols]
            return self.G[rows[:, None], cols]
        r = rows.cpu().numpy()
        c = None if cols is None else cols.cpu().numpy()
        if self.n_outputs == 1:
            block = self.G[r] if c is None else self.G[r[:, None], c if c.ndim == 2 else c[None]]
        elif c is None:
            block = self.G[r].reshape(len(r), self.n_outputs, self.n_points).transpose(0, 2, 1)
        else:
            idx = c[..., None] + self._field_offsets  # (m, K) or (batch, m, K)
            block = self.G[r[:, None, None], idx if idx.ndim == 3 else idx[None]]
        block = standardized(block, self._np_shift, self._np_scale)
        return torch.from_numpy(np.ascontiguousarray(block)).to(self.device, non_blocking=True)

    def rows_in_chunks(self, n_elements=1 << 22, step=None, subset=None):
        """Rows covering the functions (or ``subset``), about ``n_elements`` targets each.

        ``step`` sets the rows per chunk instead.
        """
        if step is None:
            step = max(1, n_elements // max(1, self.n_points * self.n_outputs))
        if subset is not None:
            for start in range(0, subset.numel(), step):
                yield subset[start:start + step].to(self.device)
            return
        for start in range(0, self.n_functions, step):
            yield torch.arange(start, min(start + step, self.n_functions), device=self.device)

    def mean_square(self):
        """Mean square of every (function, field) over its observed points, units of G."""
        out = torch.empty(self.n_functions, self.n_outputs, dtype=torch.float64,
                          device=self.device)
        for rows in self.rows_in_chunks():
            g = self.targets(rows, None).double()
            g = (g if g.dim() == 3 else g.unsqueeze(-1)) * self.g_scale.double() \
                + self.g_shift.double()
            ok = torch.isfinite(g)
            out[rows] = torch.where(ok, g, 0.0).pow(2).sum(dim=1) / ok.sum(dim=1).clamp(min=1)
        return out


# --------------------------------------------------------------- one step
def choose_trunk_path(n_points, batch_size, n_eval, trunk_flops, n_basis):
    """Cheaper way to evaluate per-function samples, from a flop count.

    "grid" evaluates the trunk once on all points, forms the full
    (batch, n_points) product and gathers the samples; "pairs" evaluates the
    trunk at each of the batch x n_eval sampled points. Their costs are about
    ``n_points * trunk_flops + batch * n_points * (n_basis + 8)`` and
    ``batch * n_eval * (trunk_flops + n_basis)``. The ``+ 8`` stands for the
    elementwise passes over the (batch, n_points) block that the grid path
    adds (bias, gather and their backward). For batch 256, n_eval 32 and the
    default 40x3 MLPs this switches at 3,700 points; on a 2-core CPU the
    measured costs cross between 2,000 and 4,000 points
    (``benchmarks/bench_scaling.py``).
    """
    grid = n_points * trunk_flops + batch_size * n_points * (n_basis + 8)
    pairs = batch_size * n_eval * (trunk_flops + n_basis)
    return "grid" if grid <= pairs else "pairs"


# ------------------------------------------------------------ the Gram path
def _owner(cls, name):
    """The class of ``cls``'s method resolution order that defines ``name``, or None."""
    return next((k for k in cls.__mro__ if name in vars(k)), None)


class TableGram:
    """What a full-grid step over a fixed table trunk needs, without the grid.

    With a trunk that is a fixed table ``T`` of shape (n_points, p) (a
    :class:`~skoperator.networks.PODTrunk` without correction: no trainable
    parameter), one output field, every target observed and no
    ``output_transform``, the mean square over the ``N`` points of the
    standardised residual of function ``i``, ``|T b_i + beta - g_i|^2 / N``,
    is a quadratic form in the branch's coefficients ``b_i`` and the bias
    ``beta``::

        (b.M b + 2 beta b.s + N beta^2 - 2 b.c_i - 2 beta S_i + Q_i) / N

    with ``M = T^T T``, ``s = T^T 1``, ``c_i = T^T g_i``, ``S_i = sum(g_i)``
    and ``Q_i = |g_i|^2``, computed once per fit in float64 (one pass over
    the targets, about the cost of one full-grid forward pass). A step then
    costs the branch alone instead of the (batch, n_points) product, its
    bias, its residual and their backward; the objective and its gradient
    are the grid path's up to rounding (the form is evaluated in float64, so
    that a residual far smaller than the targets is not lost to
    cancellation). The loss must say how it depends on these mean squares
    (``from_mean_square``, :mod:`skoperator.losses`).
    """

    def __init__(self, network, data):
        with torch.no_grad():
            table = network.trunk.at_index(data.grid_index)     # (N, p)
        n_points, p = table.shape
        f64 = dict(dtype=torch.float64, device=data.device)
        step = 1 << 15                                           # points per slice of T
        slices = [slice(j, j + step) for j in range(0, n_points, step)]
        self.M, self.s = torch.zeros(p, p, **f64), torch.zeros(p, **f64)
        for j in slices:
            t = table[j].double()
            self.M += t.T @ t
            self.s += t.sum(dim=0)
        self.c = torch.empty(data.n_functions, p, **f64)
        self.S = torch.empty(data.n_functions, **f64)
        self.Q = torch.empty(data.n_functions, **f64)
        for rows in data.rows_in_chunks(n_elements=1 << 25):
            g = data.targets(rows, None)                         # (r, N), standardised
            c = torch.zeros(rows.numel(), p, **f64)
            for j in slices:
                c += g[:, j].double() @ table[j].double()
            self.c[rows], self.S[rows] = c, g.double().sum(dim=1)
            self.Q[rows] = g.double().square().sum(dim=1)
        self.n_points = n_points

    @staticmethod
    def applies(network, data, loss):
        """Whether a full-grid step of this network, data and loss can take the Gram path."""
        trunk, cls = network.trunk, type(loss)
        return (network.trunk_is_table and not network.trunk_conditioned
                and not any(p.requires_grad for p in trunk.parameters())
                and network.n_outputs == 1 and network.output_transform is None
                and not data.per_function and not data.has_missing
                # defined beside __call__: not BaseLoss's, nor one a subclass that
                # changes __call__ inherits
                and _owner(cls, "from_mean_square") is _owner(cls, "__call__"))

    def mean_square(self, b, bias, rows):
        """Mean square (batch, 1) over every point of the standardised residuals of ``rows``."""
        dtype = torch.promote_types(b.dtype, torch.float32)
        b, beta = b.double(), bias.double()
        value = (((b @ self.M) * b).sum(dim=1) + 2 * beta * (b @ self.s)
                 + self.n_points * beta.square() - 2 * (b * self.c[rows]).sum(dim=1)
                 - 2 * beta * self.S[rows] + self.Q[rows]) / self.n_points
        return value.clamp(min=0).to(dtype).unsqueeze(-1)


def forward_at(network, data, rows, cols, path):
    """Standardised outputs (batch, m[, K]) of ``rows`` at ``cols``."""
    b = network.encode_branch(data.U[rows])
    coords = data.coords
    if data.per_function:  # each function at its own points: the trunk runs at every pair
        y = coords[rows]
        if cols is not None:
            index = cols if cols.dim() == 2 else cols.expand(rows.numel(), -1)
            y = y.gather(1, index.unsqueeze(-1).expand(-1, -1, y.shape[-1]))
        y = torch.nan_to_num(y)  # padding points: their targets are missing, weight 0
        return network.standardized(b, network.encode_trunk(y), y)
    # A conditioned trunk runs per (function, point) pair: the grid path would
    # evaluate it at every point of every function, so sampled columns go by pairs.
    if cols is None or (path == "grid" and not network.trunk_conditioned):
        out = network.standardized(b, network.encode_trunk(coords, data.grid_index), coords)
        if cols is not None:
            index = cols if out.dim() == 2 else cols.unsqueeze(-1).expand(-1, -1, out.shape[-1])
            out = out.gather(1, index)
        return out
    y = coords[cols]  # a shared subset (m,) or per-function pairs (batch, m)
    return network.standardized(b, network.encode_trunk(y, cols), y)


def trunk_evaluations(n_points, cols, path, n_rows=1, per_function=False):
    """Trunk evaluations of one step: the grid, or the sampled points."""
    if per_function:
        return n_rows * (n_points if cols is None else cols.shape[-1])
    if cols is None or path == "grid":
        return n_points
    return cols.numel()


def residuals(out, target, weight, has_missing):
    """Residuals (batch, m, K) of outputs against targets, and their weights.

    Missing targets (NaN) get residual 0 and weight 0; ``weight`` (the
    sampler's, shape (m,) or (batch, m), or None) multiplies the weights.
    """
    if out.dim() == 2:
        out, target = out.unsqueeze(-1), target.unsqueeze(-1)
    if weight is not None:
        weight = (weight if weight.dim() == 2 else weight.expand(out.shape[0], -1)).unsqueeze(-1)
    if not has_missing:
        return out - target, weight
    finite = torch.isfinite(target)
    w = finite.to(out.dtype) if weight is None else finite.to(out.dtype) * weight
    return torch.where(finite, out - torch.nan_to_num(target), 0.0), w


def step_objective(network, data, loss, rows, cols, weight, target, path):
    """The training objective and report (or None) of one mini-batch, given its targets.

    The part of a step that :func:`torch.compile` compiles: tensors in,
    tensors out, no host synchronisation.
    """
    if path == "gram":  # every point, through the quadratic form (TableGram)
        b = network.encode_branch(data.U[rows])
        return loss.from_mean_square(data.gram.mean_square(b, network.bias, rows), rows)
    out = forward_at(network, data, rows, cols, path)
    residual, w = residuals(out, target, weight, data.has_missing)
    return loss(residual, w, rows)


def grid_chunks(network, data, rows_per_chunk=None, subset=None, chunks=None):
    """The one chunked evaluator of the whole training grid.

    Yields ``(rows, residual, weight)`` for chunks of training functions (all,
    those of ``subset``, or the given ``chunks`` of rows) at every training
    point (``residual`` of shape (chunk, n_points, K), in the current grad
    mode; ``weight`` None or 0 where a target is missing).
    """
    if chunks is None:
        chunks = data.rows_in_chunks(step=rows_per_chunk, subset=subset)
    for rows in chunks:
        out = forward_at(network, data, rows, None, "grid")
        yield (rows,) + residuals(out, data.targets(rows, None), None, data.has_missing)


def chunk_share(loss, data, rows):
    """How much a chunk of functions weighs in the full-grid loss: functions or observed
    entries, or, for a per-function loss with missing targets, the (function, field) pairs
    with an observed entry (what such a loss averages over, as :func:`step_share`)."""
    if not data.has_missing:
        if loss.per_function:
            return float(rows.numel())
        return float(rows.numel() * data.n_points * data.n_outputs)
    used = torch.isfinite(data.targets(rows, None))
    if loss.per_function:
        return float((used if used.dim() == 3 else used.unsqueeze(-1)).any(dim=1).sum())
    return float(used.sum())


def step_share(loss, data, rows, target, weight):
    """How much a rank's part of a mini-batch weighs in the loss of the global batch.

    The count the loss divides by: the functions ``rows`` when every target
    is observed (the entries per function are the same on every rank); with
    missing targets, the observed entries of non-zero weight, or for a
    per-function loss the (function, field) pairs with an observed entry.
    Weighting each rank's gradient by it gives the gradient of one process
    with the whole batch.
    """
    if not data.has_missing:
        return float(rows.numel())
    used = torch.isfinite(target)
    if used.dim() == 2:
        used = used.unsqueeze(-1)
    if weight is not None:
        used = used & (weight > 0).unsqueeze(-1)
    if loss.per_function:
        return float(used.any(dim=1).sum())
    return float(used.sum())


def full_grid_objective(network, data, loss, backward=False, comm=None):
    """The loss on every training function at every point, as floats (objective, report).

    Chunks are weighted by :func:`chunk_share` (counted first, so that each
    chunk's gradient is scaled before it accumulates); with ``backward``
    gradients accumulate (those of the full-grid objective). With a process
    group (``comm``), each rank evaluates its share of the functions and the
    objective and its gradient are reduced over the ranks.
    """
    subset = None if comm is None else comm.shard(data.n_functions)
    chunks = list(data.rows_in_chunks(subset=subset))
    shares = [chunk_share(loss, data, rows) for rows in chunks]
    total = sum(shares) if subset is None else comm.sum([sum(shares)])[0]
    value = report = 0.0
    with torch.set_grad_enabled(backward):
        pieces = grid_chunks(network, data, chunks=chunks)
        for (rows, residual, weight), share in zip(pieces, shares):
            v, r = loss(residual, weight, rows)
            if backward:
                (v * (share / total)).backward()
            v = float(v.detach())
            value += v * share / total
            report += (v * loss.report_factor() if r is None else float(r.detach())) \
                * share / total
    if subset is not None:
        value, report = _sum_over_ranks(network, comm, backward, [value, report])
    return value, report


def _sum_over_ranks(network, comm, backward, values):
    """Sum ``values`` (floats) and, with ``backward``, the gradients over the ranks."""
    if backward:
        comm.sum_gradients([p for p in network.parameters() if p.requires_grad])
    return comm.sum(values)


def physics_objective(physics, network, data, seed, backward=False, comm=None):
    """A physics term over every training function at collocation points fixed by ``seed``.

    The term of each chunk of functions (the chunks of the full-grid
    evaluation) is computed with a generator seeded by ``seed`` and the chunk's
    index, so that calls with the same ``seed`` see the same points: the
    fixed objective an L-BFGS polish needs. Chunks are weighted by their
    share of the functions; with ``backward`` their gradients accumulate.
    With a process group (``comm``), each rank takes its share of the
    functions and the value and gradients are summed over the ranks.
    Returns the value as a float.
    """
    subset = None if comm is None else comm.shard(data.n_functions)
    chunks = list(data.rows_in_chunks(subset=subset))
    total = data.n_functions
    value = 0.0
    with torch.set_grad_enabled(True):  # the residual differentiates the network
        for i, rows in enumerate(chunks):
            generator = torch.Generator(device=data.device).manual_seed(seed + i)
            term = physics(network, data.U[rows], rows, generator) * (rows.numel() / total)
            if backward:
                term.backward()
            value += float(term.detach())
    if subset is not None:
        value = _sum_over_ranks(network, comm, backward, [value])[0]
    return value


def training_residuals(network, data):
    """Squared error (n_functions, n_points) on the training grid.

    Standardised units, summed over output fields, 0 where the target is
    missing; evaluated without gradients, in chunks of functions.
    """
    out = torch.empty(data.n_functions, data.n_points, device=data.device)
    was_training = network.training
    network.eval()
    with torch.no_grad():
        for rows, residual, _ in grid_chunks(network, data):
            out[rows] = residual.square().sum(dim=-1)
    network.train(was_training)
    return out


def check_sample(sampler, cols, weight, n_rows, n_points):
    """Check a sampler's first draw against the protocol, with an error that names it."""
    name = type(sampler).__name__
    protocol = ("sample(rows, generator) must return (cols, weight): cols None, or an "
                "integer tensor of shape (m,) or (batch, m) with values in [0, n_points); "
                "weight None or a float tensor of the shape of cols")
    problem = None
    if cols is not None:
        if not torch.is_tensor(cols):
            problem = f"cols is a {type(cols).__name__}"
        elif cols.dtype not in (torch.int64, torch.int32):
            problem = f"cols has dtype {cols.dtype}"
        elif cols.dim() not in (1, 2) or (cols.dim() == 2 and cols.shape[0] != n_rows):
            problem = f"cols has shape {tuple(cols.shape)} for a batch of {n_rows}"
        elif cols.numel() and (int(cols.min()) < 0 or int(cols.max()) >= n_points):
            problem = (f"cols holds values in [{int(cols.min())}, {int(cols.max())}] for "
                       f"n_points={n_points}")
    if problem is None and weight is not None:
        if cols is None or not torch.is_tensor(weight) or not weight.dtype.is_floating_point:
            problem = "weight is not a float tensor (or comes without cols)"
        elif tuple(weight.shape) not in (tuple(cols.shape), tuple(cols.shape[-1:])):
            problem = (f"weight has shape {tuple(weight.shape)} for cols of shape "
                       f"{tuple(cols.shape)}")
    if problem is not None:
        raise ValueError(f"The sampler {name} broke the sampler protocol: {problem}. {protocol}.")
