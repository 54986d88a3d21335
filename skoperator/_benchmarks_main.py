"""The main job's problem (``python -m skoperator``): a grid on which the trunk's cost matters.

One :class:`~skoperator._benchmark_record.Benchmark` record, joined into
``reproduce.BENCHMARKS`` by ``_benchmarks``.
"""

import functools

from ._benchmark_record import Benchmark
from .datasets import make_antiderivative
from .networks import MLPBranch, MLPTrunk
from .optimizers import Adam

__all__ = ["MAIN_JOB"]

#: The main job's records.
MAIN_JOB = [
    Benchmark(
        name="antiderivative-fine",
        title="Example 1 on a fine output grid (8,000 points): where sampling saves time",
        # The paper's law (Karumuri et al. 2024, Example 1: 100 sensors), each
        # output function at 8,000 points instead of 100: a full-grid step
        # evaluates the trunk and the loss at 8,000 points per function, a
        # sampled step at n_eval.
        make=functools.partial(make_antiderivative, n_sensors=100, n_points=8000),
        architecture=dict(branch=MLPBranch(layers=(40, 40, 40)),
                          trunk=MLPTrunk(layers=(40, 40, 40)), n_basis=40),
        recipes={
            # The antiderivative's quick recipe without its L-BFGS polish (a
            # full-grid phase, a cost that no n_eval changes), the gradient
            # clipped at 1.0: R2 0.9963, 0.9970, 0.9977, 0.9978 at n_eval 1,
            # 10, 50 and the full grid, unclipped 0.9961, 0.9968, 0.9962,
            # 0.9972 (500 held-out functions; benchmarks/bench_main_job.py
            # --sweep, benchmarks/results/main_job.txt).
            "quick": dict(learning_rate_init=4e-3, learning_rate="onecycle", batch_size=128,
                          max_iter=250, optimizer=Adam(clip_grad_norm=1.0)),
        },
        n_train=(2000,), n_evals=(1, 10, 50, "full"), n_test=1000,
    ),
]
