"""Ensemble members: one after the other, or vectorised in one network with torch.func?

Issue 22 asks for the members of :class:`~skoperator.uncertainty.EnsembleRegressor`
to be trained "in parallel through joblib ... or vectorised in one network
(torch.func), whichever is faster; the choice measured". This script measures
the second option against the first on the training step itself, with the
networks the estimator builds (the antiderivative recipe of
``benchmarks/bench_uncertainty.py``: MLP branch and trunk 40 x 3, 40 basis
functions, batches of 64 functions x ``n_eval=10`` random points), on one
thread:

- ``one member``: one network's step (forward at per-function points, MSE,
  backward, Adam);
- ``sequential``: the steps of ``M`` networks one after the other (what each
  joblib worker does; on ``W`` cores ``M`` members take about
  ``ceil(M / W)`` of these);
- ``vmap``: the ``M`` networks' parameters stacked
  (``torch.func.stack_module_state``) and one step of the vectorised network
  (``torch.func.vmap`` over ``torch.func.functional_call``), one Adam over the
  stacked parameters, which updates every member exactly as its own Adam
  would (the summed loss separates by member);
- ``vmap-restack``: the same, but the members keep their own parameters and
  these are stacked again at every step (what a network that stores its
  members as ordinary modules pays);
- ``batched``: the members' branches and trunks each as one
  :class:`~skoperator._layers.BatchedStack` (weights stacked layer by layer,
  the first layer one matrix product with the shared input, the others
  ``baddbmm``), no ``torch.func``: what :class:`EnsembleRegressor` does.

It prints milliseconds per step and the ratios to one member, with repeats
interleaved and the median taken. ``--threads 2`` measures both with two
torch threads (the vectorised step has larger operations, which a second
thread can share; the sequential one then competes with a second worker).

    python benchmarks/bench_ensemble_vectorised.py            # about 30 s
    python benchmarks/bench_ensemble_vectorised.py --members 5 --steps 300 --threads 2
"""

import copy
import statistics
import time

import _common
import numpy as np
import torch
from torch.func import functional_call, stack_module_state, vmap

from skoperator import DeepONetRegressor
from skoperator.datasets import make_antiderivative


class _AtPoints(torch.nn.Module):
    """A DeepONet evaluated at per-function points: (u, y) -> (batch, m)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, u, y):
        out = self.net.combine(self.net.encode_branch(u), self.net.encode_trunk(y))
        return self.net.unscale(self.net.transform(y, out))


def networks(n_members, seed):
    """``n_members`` networks of the recipe, initialised by different seeds."""
    U, Y, G = make_antiderivative(200, random_state=seed)
    nets = []
    for k in range(n_members):
        est = DeepONetRegressor(coords=Y, n_eval=10, max_iter=1, tol=None, device="cpu",
                                n_jobs=None, random_state=seed + k).fit(U, G)
        nets.append(_AtPoints(copy.deepcopy(est.network_)).train())
    return nets


def batches(n_steps, batch, m, rng):
    U, Y, G = make_antiderivative(1000, random_state=123)
    U, G = torch.as_tensor(U, dtype=torch.float32), torch.as_tensor(G, dtype=torch.float32)
    Y = torch.as_tensor(Y, dtype=torch.float32)
    out = []
    for _ in range(n_steps):
        rows = torch.as_tensor(rng.choice(len(U), batch, replace=False))
        cols = torch.as_tensor(rng.randint(0, Y.shape[0], (batch, m)))
        out.append((U[rows], Y[cols], G[rows[:, None], cols]))
    return out


def run_sequential(nets, data):
    opts = [torch.optim.Adam(n.parameters(), lr=1e-3) for n in nets]
    tic = time.perf_counter()
    for u, y, g in data:
        for net, opt in zip(nets, opts):
            loss = (net(u, y) - g).square().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return (time.perf_counter() - tic) / len(data)


def run_vmap(nets, data):
    params, buffers = stack_module_state(nets)  # leaves of shape (M, ...)
    base = copy.deepcopy(nets[0]).to("meta")
    opt = torch.optim.Adam(params.values(), lr=1e-3)

    def one(p, b, u, y):
        return functional_call(base, (p, b), (u, y))

    batched = vmap(one, in_dims=(0, 0, None, None))
    tic = time.perf_counter()
    for u, y, g in data:
        pred = batched(params, buffers, u, y)  # (M, batch, m)
        loss = (pred - g).square().mean(dim=(1, 2)).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - tic) / len(data)


def run_restacked(nets, data):
    """vmap with the parameters stacked again at every step from the members' own tensors."""
    params = [p for net in nets for p in net.parameters()]
    names = [name for name, _ in nets[0].named_parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)

    def one(p, u, y):
        return functional_call(nets[0], p, (u, y))

    batched = vmap(one, in_dims=(0, None, None))
    tic = time.perf_counter()
    for u, y, g in data:
        per_net = [list(net.parameters()) for net in nets]
        stacked = {name: torch.stack([ps[i] for ps in per_net]) for i, name in enumerate(names)}
        pred = batched(stacked, u, y)
        loss = (pred - g).square().mean(dim=(1, 2)).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - tic) / len(data)


def run_batched(nets, data):
    """The members' branches and trunks as two BatchedStack modules (what the package does)."""
    from skoperator._layers import BatchedStack

    deeponets = [n.net for n in nets]
    branch = BatchedStack([d.branch for d in deeponets])
    trunk = BatchedStack([d.trunk for d in deeponets])
    first = deeponets[0]
    bias = torch.nn.Parameter(torch.stack([d.bias.detach() for d in deeponets]).squeeze(-1))
    opt = torch.optim.Adam([*branch.parameters(), *trunk.parameters(), bias], lr=1e-3)
    M, p = len(nets), first.n_basis
    tic = time.perf_counter()
    for u, y, g in data:
        b = branch((u - first.u_shift) / first.u_scale).reshape(len(u), M, p)
        t = trunk((y - first.y_shift) / first.y_scale)
        t = t.reshape(*t.shape[:-1], M, p)
        out = torch.einsum("bkp,bmkp->kbm", b, t) + bias[:, None, None]
        pred = out * first.g_scale + first.g_shift
        loss = (pred - g).square().mean(dim=(1, 2)).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - tic) / len(data)


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--members", type=_common.positive_int, default=5)
    p.add_argument("--steps", type=_common.positive_int, default=200)
    args = p.parse_args(argv)
    args.repeats = args.repeats or 3
    if args.quick:
        args.steps, args.repeats = 20, 1
    _common.setup(args)
    data = batches(args.steps, 64, 10, np.random.RandomState(0))
    nets = networks(args.members, 0)
    times = {"one member": [], "sequential": [], "vmap": [], "vmap-restack": [],
             "batched": []}
    for _ in range(args.repeats):  # interleaved
        times["one member"].append(run_sequential(copy.deepcopy(nets[:1]), data))
        times["sequential"].append(run_sequential(copy.deepcopy(nets), data))
        times["vmap"].append(run_vmap(copy.deepcopy(nets), data))
        times["vmap-restack"].append(run_restacked(copy.deepcopy(nets), data))
        times["batched"].append(run_batched(copy.deepcopy(nets), data))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"# {args.members} members, antiderivative recipe networks, {args.steps} steps of "
          f"64 functions x 10 points, {torch.get_num_threads()} thread(s), median of "
          f"{args.repeats}")
    for k, v in med.items():
        print(f"{k:<12} {1e3 * v:8.3f} ms/step  {v / med['one member']:5.2f}x one member")
    fastest = min(med, key=lambda k: med[k] if k != "one member" else float("inf"))
    print(f"fastest for {args.members} members: {fastest}")


if __name__ == "__main__":
    main()
