"""startup: what a user waits for before steady state — import, build, first step, first predict.

Import time is measured by the worker around the adapter import (the framework's own import is
most of it); the first training step (until the step has finished, read from the adapter's
``on_step`` hook, so a fit call's teardown is not in it) includes tracing, graph building or
compilation, kept apart from the train scenario's steady state. A tuned job runs the mode's
first tuned path (``torch.compile``, XLA ...): its first step is that compiler's cost.

The same cold start yields the worker's peak memory (the ``memory`` scenario): when a study
selects both, this job records both (``plan.RIDES_ON``) instead of paying a second cold worker.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from typing import Any

import psutil

from twinbench.measure.timer import StepClock
from twinbench.scenarios.base import Context, Measurement, on_path


@dataclass(frozen=True)
class ColdStart:
    dataset: str
    batch_size: int
    build_s: float
    first_step_s: float
    first_predict_s: float
    rss_after_build_mb: float
    peak_rss_mb: float
    train_path: Any = None
    infer_path: Any = None
    train_knobs: dict[str, Any] | None = None


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
    train = ctx.primary_path("train", ds.input_shape)
    a.compile_train(net, cfg.lr, cfg.momentum, cfg.optimizer, cfg.weight_decay, path=train)
    block = int(train.knobs.get("steps_per_execution", 1))
    idx = [i % len(ds.train.y) for i in range(cfg.batch_size * block)]
    x, y = a.to_device(ds.train.x[idx]), a.labels(ds.train.y[idx])
    ctx.progress(f"startup: first training step ({train.id})")
    clock = StepClock()
    clock.start()
    a.fit(net, x, y, cfg.batch_size, on_step=clock)
    first_step = clock.marks[0][1]
    knobs = a.knobs(net)
    infer = ctx.primary_path("infer", ds.input_shape)
    pred = a.predictor(ctx.build(ds.input_shape, ds.num_classes), infer, batch_size=1)
    one = a.to_device(ds.test.x[:1])
    t0 = time.perf_counter()
    pred(one)
    first_predict = time.perf_counter() - t0
    return ColdStart(name, cfg.batch_size, build, first_step, first_predict, after_build,
                     _peak_mb(), train, infer, knobs)


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
        *on_path([Measurement("first_step_time", "s", c.first_step_s, "lower",
                              batch_size=c.batch_size)], c.train_path, "startup-train",
                 c.train_knobs),
        *on_path([Measurement("first_predict_time", "s", c.first_predict_s, "lower",
                              batch_size=1)], c.infer_path, "startup-infer",
                 {"call_path": c.infer_path.id, **c.infer_path.knobs}),
    ]
    if "memory" in ctx.job.also:
        out += memory_measurements(c, scenario="memory")
    return out
