"""startup: what a user waits for before steady state — import, build, first step, first predict.

Import time is measured by the worker around the adapter import (the framework's own import is
most of it); the first training step includes tracing/graph building, kept apart from the train
scenario's steady state.

The same cold start yields the worker's peak memory (the ``memory`` scenario): when a study
selects both, this job records both (``plan.RIDES_ON``) instead of paying a second cold worker.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass

import psutil

from twinbench.scenarios.base import Context, Measurement


@dataclass(frozen=True)
class ColdStart:
    dataset: str
    batch_size: int
    build_s: float
    first_step_s: float
    first_predict_s: float
    rss_after_build_mb: float
    peak_rss_mb: float


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def cold_start(ctx: Context) -> ColdStart:
    """Build, one training step (tracing included) and one batch-1 predict, in a fresh worker."""
    cfg = ctx.study.train
    name = cfg.dataset or ctx.task.train_dataset
    ds = ctx.dataset(name, n_train=max(cfg.batch_size, 64), n_test=64)
    a = ctx.adapter
    t0 = time.perf_counter()
    net = ctx.build(ds.input_shape, ds.num_classes)
    build = time.perf_counter() - t0
    after_build = psutil.Process().memory_info().rss / 2**20
    a.compile_train(net, cfg.lr, cfg.momentum, cfg.optimizer, cfg.weight_decay)
    x = a.to_device(ds.train.x[: cfg.batch_size])
    y = a.labels(ds.train.y[: cfg.batch_size])
    ctx.progress("startup: first training step")
    t0 = time.perf_counter()
    a.fit(net, x, y, cfg.batch_size)
    a.synchronize()
    first_step = time.perf_counter() - t0
    one = a.to_device(ds.test.x[:1])
    t0 = time.perf_counter()
    a.predict(net, one)
    first_predict = time.perf_counter() - t0
    return ColdStart(name, cfg.batch_size, build, first_step, first_predict, after_build,
                     _peak_mb())


def memory_measurements(c: ColdStart, scenario: str | None = None) -> list[Measurement]:
    extra = {"rss_after_build_mb": c.rss_after_build_mb,
             "source": "getrusage(RUSAGE_SELF).ru_maxrss",
             "through": "import, build, first training step, first predict"}
    return [Measurement("peak_rss", "MiB", c.peak_rss_mb, "lower", batch_size=c.batch_size,
                        dataset=c.dataset, extra=extra, scenario=scenario)]


def run(ctx: Context) -> list[Measurement]:
    c = cold_start(ctx)
    out = [
        Measurement("import_time", "s", ctx.import_s, "lower"),
        Measurement("build_time", "s", c.build_s, "lower"),
        Measurement("first_step_time", "s", c.first_step_s, "lower", batch_size=c.batch_size),
        Measurement("first_predict_time", "s", c.first_predict_s, "lower", batch_size=1),
    ]
    if "memory" in ctx.job.also:
        out += memory_measurements(c, scenario="memory")
    return out
