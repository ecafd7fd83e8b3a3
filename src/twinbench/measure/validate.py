"""Validate twinbench's clock against each framework's own timer, on a stable tiny model.

    python -m twinbench.measure.validate torch|keras   # prints {"twinbench_ms", "reference_ms"}

Both sides time the same forward with the same estimator (median over blocks of calls):
PyTorch: twinbench's calibrated loop vs ``torch.utils.benchmark.Timer.blocked_autorange``.
Keras/TF: twinbench's calibrated loop vs a plain timed loop around the same ``tf.function``.
One framework per process, as everywhere.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from twinbench.measure.calibrate import calibrate, loop
from twinbench.measure.timer import repeat

SAMPLES = 15
MIN_SAMPLE_S = 0.05


def _median_ms(fn) -> float:
    """twinbench's own machinery: calibrated loops, warm-up apart, median of samples."""
    k = calibrate(lambda n: loop(fn, n)(), lambda: None, min_time=MIN_SAMPLE_S)
    t = repeat(loop(fn, k), lambda: None, warmup=2, samples=SAMPLES)
    return 1e3 * float(np.median(t.samples)) / k


def _plain_loop_ms(fn, calls: int) -> float:
    """The reference: a plain timed loop, repeated; median of the per-call means."""
    means = []
    for _ in range(SAMPLES):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        means.append((time.perf_counter() - t0) / calls)
    return 1e3 * float(np.median(means))


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

    ours = _median_ms(fwd)
    ref = Timer("fwd()", globals={"fwd": fwd}, num_threads=1).blocked_autorange(min_run_time=1.0)
    return {"twinbench_ms": ours, "reference_ms": 1e3 * ref.median}


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
    ours = _median_ms(fwd)
    return {"twinbench_ms": ours, "reference_ms": _plain_loop_ms(fwd, calls=100)}


if __name__ == "__main__":
    which = sys.argv[1]
    result = torch_agreement() if which == "torch" else keras_agreement()
    print(json.dumps(result))
