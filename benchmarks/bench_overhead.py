"""Target 2: wrapper overhead of ``fit(sampling="full")``.

Compares ``DeepONetRegressor(sampling="full", tol=None)`` with a minimal
hand-written Cartesian-product loop doing the same work: the same MLPs
(40x3, p = 40, ReLU) and scalar bias, Adam with the estimator's learning rate
and kernel flags, the same batches (a fresh permutation per epoch, batch 256)
and epochs, the epoch loss accumulated on the device and read once per epoch.
The hand-written loop standardises U, coords and G once beforehand with the
estimator's statistics; the estimator standardises inputs inside the network
at every step, which is counted as its overhead. Two ratios are printed:
median seconds per epoch (``history_[i]["seconds"]`` against the loop's own
epoch timer) and whole ``fit`` wall time against the loop's wall time
including its data preparation. Target: at most 1.15x.

    python benchmarks/bench_overhead.py            # about 10 s on 2 cores
    python benchmarks/bench_overhead.py --quick
"""

import time

import _common
import numpy as np
import torch
from torch import nn

from skoperator import DeepONetRegressor


def mlp(n_in, width, depth, n_out):
    layers, size = [], n_in
    for _ in range(depth):
        layers += [nn.Linear(size, width), nn.ReLU()]
        size = width
    return nn.Sequential(*layers, nn.Linear(size, n_out))


def hand_written_fit(U, Y, G, *, n_epochs, batch_size, device, adam_flags, lr=1e-3, seed=0):
    """The minimal loop. Returns (wall seconds, list of epoch seconds)."""
    _common.sync(device)
    tic = time.perf_counter()
    gen = torch.Generator(device=device).manual_seed(seed)
    torch.manual_seed(seed)
    u = torch.as_tensor((U - U.mean(0)) / U.std(0), dtype=torch.float32, device=device)
    y = torch.as_tensor((Y - Y.mean(0)) / Y.std(0), dtype=torch.float32, device=device)
    g = torch.as_tensor((G - G.mean()) / G.std(), dtype=torch.float32, device=device)
    branch = mlp(u.shape[1], 40, 3, 40).to(device)
    trunk = mlp(y.shape[1], 40, 3, 40).to(device)
    bias = nn.Parameter(torch.zeros((), device=device))
    params = [*branch.parameters(), *trunk.parameters(), bias]
    optimizer = torch.optim.Adam(params, lr=lr, **adam_flags)
    n = u.shape[0]
    epoch_seconds = []
    for _ in range(n_epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=gen, device=device)
        total = torch.zeros((), device=device)
        for start in range(0, n, batch_size):
            rows = perm[start:start + batch_size]
            out = branch(u[rows]) @ trunk(y).T + bias
            loss = torch.mean((out - g[rows]) ** 2)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total = total + loss.detach() * rows.numel()
        float(total / n)  # the epoch loss, read once (a host sync on a GPU)
        epoch_seconds.append(time.perf_counter() - t0)
    _common.sync(device)
    return time.perf_counter() - tic, epoch_seconds


def estimator(n_epochs, device, batch_size=256):
    return DeepONetRegressor(sampling="full", batch_size=batch_size, max_iter=n_epochs,
                             tol=None, device=device, random_state=0)


def adam_flags_of(est):
    """The estimator's Adam kernel choice, so that both sides run the same kernels."""
    group = est._optimizer_state["param_groups"][0]
    return {"foreach": group.get("foreach"), "fused": group.get("fused")}


def compare(U, Y, G, *, n_epochs, repeats, device, batch_size=256):
    warm = estimator(2, device, batch_size).fit(U, G)
    flags = adam_flags_of(warm)
    hand_written_fit(U, Y, G, n_epochs=2, batch_size=batch_size, device=device,
                     adam_flags=flags)
    out = {"hand epoch": [], "fit epoch": [], "hand wall": [], "fit wall": []}
    for _ in range(repeats):
        wall, epochs = hand_written_fit(U, Y, G, n_epochs=n_epochs, batch_size=batch_size,
                                        device=device, adam_flags=flags)
        out["hand wall"].append(wall)
        out["hand epoch"].append(float(np.median(epochs[1:])))
        wall, epoch = _common.fit_timed(estimator(n_epochs, device, batch_size), U, G, device)
        out["fit wall"].append(wall)
        out["fit epoch"].append(epoch)
    return out, flags


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", type=_common.positive_int, default=None, help="epochs per fit")
    args = p.parse_args(argv)
    device = _common.setup(args)
    n_epochs = args.epochs or (5 if args.quick else 60)
    repeats = args.repeats or (1 if args.quick else 5)
    U, Y, G = _common.antiderivative(2000)
    out, flags = compare(U, Y, G, n_epochs=n_epochs, repeats=repeats, device=device)
    print(f"# antiderivative 2000 x 100, sampling='full', batch 256, {n_epochs} epochs x "
          f"{repeats} interleaved repeats, Adam flags {flags}")
    _common.line("hand-written Cartesian loop, median epoch", np.median(out["hand epoch"]))
    _common.line("fit(sampling='full'), median epoch (history_)", np.median(out["fit epoch"]))
    _common.line("hand-written Cartesian loop, whole run", np.median(out["hand wall"]), "s")
    _common.line("fit(sampling='full'), whole fit", np.median(out["fit wall"]), "s")
    epoch_ratio = np.array(out["fit epoch"]) / np.array(out["hand epoch"])
    wall_ratio = np.array(out["fit wall"]) / np.array(out["hand wall"])
    print(f"# per-repeat epoch ratios {np.round(epoch_ratio, 3).tolist()}, "
          f"wall ratios {np.round(wall_ratio, 3).tolist()}")
    _common.verdict(f"2 fit / hand loop, per epoch [{device.type}]",
                    float(np.median(epoch_ratio)), 1.15, at_least=False)
    _common.verdict(f"2 fit / hand loop, whole fit ({n_epochs} epochs) [{device.type}]",
                    float(np.median(wall_ratio)), 1.15, at_least=False)


if __name__ == "__main__":
    main()
