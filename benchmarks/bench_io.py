"""skoperator.io: cost of dump/load against pickle, and onnxruntime against predict.

For an MLP model (the paper's 40x3 networks, p = 40) and an FNO-branch model
trained a few epochs on the antiderivative problem, prints the seconds of
``dump`` and ``load`` (medians of repeats) and the file size, beside
``pickle.dumps``/``pickle.loads`` of the same model; then the seconds of
``predict`` (float64 on the CPU) and of the exported graph in onnxruntime
(float32) on the same inputs, and their largest relative difference.
Targets: the loaded model predicts exactly as the saved one (difference 0),
and the ONNX graph agrees with ``predict`` to 1e-5 relative.

    python benchmarks/bench_io.py            # about half a minute on 2 cores
    python benchmarks/bench_io.py --quick
"""

import os
import pickle
import tempfile
import time
import warnings

import _common
import numpy as np

from skoperator import DeepONetRegressor
from skoperator.io import dump, load, to_onnx
from skoperator.networks import FNOBranch, MLPBranch, MLPTrunk


def timed(function, repeats):
    """Median seconds of ``function()`` over ``repeats`` calls, and its last result."""
    seconds, result = [], None
    for _ in range(repeats):
        tic = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - tic)
    return float(np.median(seconds)), result


def main():
    args = _common.parser(__doc__.splitlines()[0]).parse_args()
    device = _common.setup(args)
    repeats = args.repeats or (2 if args.quick else 5)
    n_functions = 200 if args.quick else 1000
    U, Y, G = _common.antiderivative(n_functions, n_points=100)
    models = {
        "mlp": dict(branch=MLPBranch(), trunk=MLPTrunk()),
        "fno": dict(branch=FNOBranch(modes=12, width=16, n_layers=2), trunk=MLPTrunk()),
    }
    ok = True
    folder = tempfile.mkdtemp()
    for name, settings in models.items():
        est = DeepONetRegressor(coords=Y, n_basis=40, max_iter=2 if args.quick else 5,
                                tol=None, device=device, random_state=0, **settings)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(U, G)
        path = os.path.join(folder, f"{name}.skop")
        t_dump, _ = timed(lambda: dump(est, path), repeats)
        t_load, loaded = timed(lambda: load(path), repeats)
        t_pdump, blob = timed(lambda: pickle.dumps(est), repeats)
        t_pload, _ = timed(lambda: pickle.loads(blob), repeats)
        _common.line(f"{name}: dump ({os.path.getsize(path) / 1e6:.2f} MB)", t_dump, "s")
        _common.line(f"{name}: load", t_load, "s")
        _common.line(f"{name}: pickle.dumps ({len(blob) / 1e6:.2f} MB)", t_pdump, "s")
        _common.line(f"{name}: pickle.loads", t_pload, "s")
        t_pred, ref = timed(lambda: est.predict(U), repeats)
        same = float(np.abs(loaded.predict(U) - ref).max())
        ok &= _common.verdict(f"{name}: loaded predict - predict", same, 0.0,
                              at_least=False, what="max |diff|")
        try:
            import onnxruntime
        except ImportError:
            print("# onnxruntime is not installed: the ONNX lines are left out")
            continue
        tic = time.perf_counter()
        graph = to_onnx(est, os.path.join(folder, f"{name}.onnx"))
        _common.line(f"{name}: to_onnx", time.perf_counter() - tic, "s")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = args.threads  # the same threads as predict (0: default)
        session = onnxruntime.InferenceSession(graph, options,
                                               providers=["CPUExecutionProvider"])
        feed = {"U": U.astype(np.float32), "coords": Y.astype(np.float32)}
        t_onnx, got = timed(lambda: session.run(None, feed)[0], repeats)
        _common.line(f"{name}: predict ({n_functions} x {len(Y)}, float64)", t_pred, "s")
        _common.line(f"{name}: onnxruntime (float32)", t_onnx, "s")
        error = float(np.abs(got - ref).max() / np.abs(ref).max())
        ok &= _common.verdict(f"{name}: onnxruntime vs predict", error, 1e-5, at_least=False,
                              what="rel. err")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
