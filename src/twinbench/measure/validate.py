"""Validate twinbench's clock against each framework's own timer, on a stable tiny model.

    python -m twinbench.measure.validate torch|keras   # prints {"twinbench_ms", "reference_ms"}

Both sides time the same forward with the same estimator (median over blocks of calls):
PyTorch: twinbench's calibrated loop vs ``torch.utils.benchmark.Timer.blocked_autorange``.
Keras/TF: twinbench's calibrated loop vs a plain timed loop around the same ``tf.function``.
One framework per process, as everywhere.

A shared machine drifts (other jobs, frequency) over the seconds one measurement takes, so the
two clocks are interleaved: ``ROUNDS`` short rounds, alternating which side goes first, and the
agreement is the median of the per-round ratios. Drift then hits both sides alike instead of
showing up as a disagreement between the clocks.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable

import numpy as np

from twinbench.measure.calibrate import calibrate, loop
from twinbench.measure.timer import repeat

ROUNDS = 9
SAMPLES = 7  # per side and round
MIN_SAMPLE_S = 0.05


def _ours(fn) -> Callable[[], float]:
    """twinbench's own machinery: calibrated loops, warm-up apart, median of samples (ms/call)."""
    k = calibrate(lambda n: loop(fn, n)(), lambda: None, min_time=MIN_SAMPLE_S)

    def measure() -> float:
        t = repeat(loop(fn, k), lambda: None, warmup=1, samples=SAMPLES)
        return 1e3 * float(np.median(t.samples)) / k

    return measure


def _plain_loop(fn, calls: int) -> Callable[[], float]:
    """The reference for Keras/TF: a plain timed loop, repeated; median of per-call means."""

    def measure() -> float:
        means = []
        for _ in range(SAMPLES):
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            means.append((time.perf_counter() - t0) / calls)
        return 1e3 * float(np.median(means))

    return measure


def interleaved(ours: Callable[[], float], reference: Callable[[], float],
                rounds: int = ROUNDS) -> dict[str, float]:
    """Alternate the two clocks round by round; the median per-round ratio is the agreement."""
    a, b = [], []
    for r in range(rounds):
        if r % 2:
            b.append(reference())
            a.append(ours())
        else:
            a.append(ours())
            b.append(reference())
    ratios = np.asarray(a) / np.asarray(b)
    return {"twinbench_ms": float(np.median(a)), "reference_ms": float(np.median(b)),
            "ratio": float(np.median(ratios)), "rounds": rounds}


def _pin_one_core() -> None:
    """Both clocks on one core, so a migration between cores cannot favour either side."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})


def torch_agreement() -> dict[str, float]:
    import torch

    torch.set_num_threads(1)
    net = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(),
                              torch.nn.Linear(512, 10)).eval()
    x = torch.randn(1, 256)

    def fwd() -> None:
        with torch.inference_mode():
            net(x)

    from torch.utils.benchmark import Timer

    timer = Timer("fwd()", globals={"fwd": fwd}, num_threads=1)
    return interleaved(_ours(fwd), lambda: 1e3 * timer.blocked_autorange(min_run_time=0.3).median)


def keras_agreement() -> dict[str, float]:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    net = keras.Sequential([keras.Input((256,)), keras.layers.Dense(512, activation="relu"),
                            keras.layers.Dense(10)])
    x = tf.random.normal((1, 256))
    compiled = tf.function(lambda v: net(v, training=False))

    def fwd() -> None:
        compiled(x).numpy()

    for _ in range(20):
        fwd()  # trace the tf.function before either clock starts
    return interleaved(_ours(fwd), _plain_loop(fwd, calls=100))


if __name__ == "__main__":
    which = sys.argv[1]
    _pin_one_core()
    result = torch_agreement() if which == "torch" else keras_agreement()
    print(json.dumps(result))
