"""startup: what a user waits for before steady state — import, build, first step, first predict.

Import time is measured by the worker around the adapter import (the framework's own import is
most of it); the first training step (until the step has finished, read from the adapter's
``on_step`` hook, so a fit call's teardown is not in it) includes tracing, graph building or
compilation, kept apart from the train scenario's steady state. A tuned job runs the mode's
first tuned path (``torch.compile``, XLA ...): its first step is that compiler's cost.

The same cold start yields the worker's memory (the ``memory`` scenario): when a study selects
both, this job records both (its spec's ``rides_on``) instead of paying a second cold worker. Memory
is the worker's own (``measure.memory``: VmHWM, reset between phases), in three parts: RSS after
import, then what inference adds over it (a twin built, its first batch-1 predicts), then what
training adds over it (a twin built, the optimizer, its first steps). Inference runs first, its
twin dropped before training, so neither phase carries the other's buffers (what an allocator
keeps after ``del`` may still count: it would count for a user too).
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from typing import Any

from twinbench.measure import memory
from twinbench.measure.timer import StepClock
from twinbench.scenarios.base import Context, Measurement, on_path
from twinbench.scenarios.spec import Scenario
from twinbench.scenarios.train import TrainConfig

SCENARIO = Scenario("startup", "import, build and first-step time, apart from steady state",
                    moded=True, default=True)


@dataclass(frozen=True)
class ColdStart:
    dataset: str
    batch_size: int
    build_s: float
    first_step_s: float
    first_predict_s: float
    memory: dict[str, float | None]  # MiB: after_import, infer_peak, train_peak (measure.memory)
    train_path: Any = None
    infer_path: Any = None
    train_knobs: dict[str, Any] | None = None


def cold_start(ctx: Context) -> ColdStart:
    """Import (done by the worker), a batch-1 predict, then one training step, in a fresh
    worker; first-call times and each phase's memory."""
    cfg = ctx.section(TrainConfig)
    name = cfg.dataset or ctx.task.train_dataset
    ds = ctx.dataset(name, n_train=max(cfg.batch_size, 64), n_test=64)
    a = ctx.adapter
    mem: dict[str, float | None] = {"after_import": memory.rss_mb()}
    resets = memory.reset_peak()
    infer = ctx.primary_path("infer", ds.input_shape)
    pred = a.predictor(ctx.build(ds.input_shape, ds.num_classes), infer, batch_size=1)
    one = a.to_device(ds.test.x[:1])
    t0 = time.perf_counter()
    pred(one)
    first_predict = time.perf_counter() - t0
    for _ in range(INFER_CALLS - 1):
        pred(one)
    mem["infer_peak"] = memory.peak_mb()
    del pred
    gc.collect()
    resets = resets and memory.reset_peak()
    t0 = time.perf_counter()
    net = ctx.build(ds.input_shape, ds.num_classes)
    build = time.perf_counter() - t0
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
    mem["train_peak"] = memory.peak_mb()
    mem["resets"] = float(resets)
    return ColdStart(name, cfg.batch_size, build, first_step, first_predict, mem, train, infer,
                     a.knobs(net))


INFER_CALLS = 3  # batch-1 predicts in the memory's inference phase


def memory_measurements(c: ColdStart, scenario: str | None = None) -> list[Measurement]:
    """Peak RSS of the cold start, RSS after import, and what inference and training add over
    it; without peak resets (not Linux) only the peak (every phase's high-water mark)."""
    m = c.memory
    base = m["after_import"]
    extra: dict[str, Any] = {"source": "/proc/self/status VmHWM of the worker, reset between "
                             "phases via /proc/self/clear_refs", "after_import_mb": base,
                             "infer_peak_mb": m["infer_peak"], "train_peak_mb": m["train_peak"],
                             "phases": "import; batch-1 predicts; build + first training step"}
    common: dict[str, Any] = {"dataset": c.dataset, "extra": extra, "scenario": scenario}
    peaks = [v for v in (base, m["infer_peak"], m["train_peak"]) if v is not None]
    out = [Measurement("peak_rss", "MiB", max(peaks) if peaks else None, "lower",
                       batch_size=c.batch_size, **common)]
    if not m.get("resets") or base is None:
        extra["note"] = "peak could not be reset here: no per-phase split"
        return out
    out += [Measurement("rss_after_import", "MiB", base, "lower", **common)]
    if m["infer_peak"] is not None:
        out.append(Measurement("infer_rss_increment", "MiB", m["infer_peak"] - base, "lower",
                               batch_size=1, **common))
    if m["train_peak"] is not None:
        out.append(Measurement("train_rss_increment", "MiB", m["train_peak"] - base, "lower",
                               batch_size=c.batch_size, **common))
    return out


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
