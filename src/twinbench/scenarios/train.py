"""train: steady-state training throughput and step time, per call path, and what a fit costs.

For each call path of the job's mode (PyTorch: the explicit loop, compiled; Lightning:
``Trainer.fit``; Keras: ``fit``, with ``steps_per_execution`` / XLA when tuned) a fresh twin is
built from the same weights and trained through the framework's own ``fit``:

* warm-up: ``warmup`` fit calls of ``steps`` steps each (the first one traces or compiles);
* then ONE long fit call whose steps are timestamped as they finish (the adapter's ``on_step``:
  a Keras callback, a Lightning callback, a line in the PyTorch loop). A sample is a block of k
  consecutive steps (k calibrated so a block lasts ``min_sample_s``); the first block is dropped
  (it carries the call's setup). Steady state is what a user's long ``fit`` runs at.

Apart from it, per path: ``per_call_overhead`` — a fit call's wall time minus its steps at the
steady step time (setup and teardown: Keras' data adapter and callbacks, a new Lightning
``Trainer``, Keras-TF's idle tf.data autotuner at iterator teardown), one value per fit call
after the first — and ``trace_compile_time``: the first call's first step minus a steady step.
CPU seconds over the timed window say how many cores the framework kept busy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from twinbench.measure.timer import CpuWindow, StepClock
from twinbench.scenarios.base import (
    Context,
    Measurement,
    failed_path,
    from_samples,
    on_path,
    with_flops,
)
from twinbench.scenarios.spec import STRICT, OptimizerFields, Scenario, check_dataset


class TrainConfig(OptimizerFields):
    """[train]: the batches every training-speed figure (and parity's steps) use."""

    model_config = STRICT
    dataset: str | None = Field(None, description="default: the task's synthetic set")
    _check_dataset = field_validator("dataset")(check_dataset)
    batch_size: int = Field(32, gt=0)
    steps: int = Field(4, gt=0, description="optimizer steps timed together as one sample")
    samples: int = Field(5, gt=0)
    warmup: int = Field(1, ge=0, description="samples run and stored apart before timing")


SCENARIO = Scenario("train", "training throughput (samples/s) and step time", TrainConfig,
                    throughput=True, moded=True, default=True)

TRAIN_FLOPS_FACTOR = 3  # forward + backward ~ 3x the forward FLOPs (backward ~ 2x)
GROUP = "train"


def _fit(ctx: Context, net: Any, data: tuple[Any, Any], bs: int) -> StepClock:
    clock = StepClock()
    clock.start()
    ctx.adapter.fit(net, *data, bs, on_step=clock)
    ctx.adapter.synchronize()
    clock.stop()
    return clock


def _steady_step(clocks: list[StepClock]) -> float:
    """Median seconds per step over the gaps between marks (each call's first gap excluded)."""
    per = [t / n for c in clocks for n, t in c.step_times()[1:] if n]
    if not per:  # one mark per call (a block as long as the call): fall back to the last gap
        per = [t / n for c in clocks for n, t in c.step_times() if n]
    return float(np.median(per))


def _path(ctx: Context, path: Any, ds: Any, name: str) -> list[Measurement]:
    cfg = ctx.section(TrainConfig)
    a, bs = ctx.adapter, cfg.batch_size
    net = ctx.build(ds.input_shape, ds.num_classes)
    a.compile_train(net, cfg.lr, cfg.momentum, cfg.optimizer, cfg.weight_decay, path=path)
    block = int(path.knobs.get("steps_per_execution", 1))  # marks come once per block

    def data(steps: int) -> tuple[Any, Any]:
        idx = np.arange(steps * bs) % len(ds.train.y)  # cycle the set when steps exceed it
        return a.to_device(ds.train.x[idx]), a.labels(ds.train.y[idx])

    ctx.progress(f"train[{path.id}]: {cfg.warmup} warm-up fit call(s) of {cfg.steps} steps")
    warm_data = data(max(cfg.steps, block))
    warm = [_fit(ctx, net, warm_data, bs) for _ in range(max(cfg.warmup, 1))]
    step_s = _steady_step(warm[1:] or warm)
    k = max(1, math.ceil(ctx.study.min_sample_s / max(step_s, 1e-9)))
    k = block * math.ceil(k / block)  # a sample is whole blocks
    total = block + k * cfg.samples  # the first block carries the call's setup: dropped
    ctx.progress(f"train[{path.id}]: one fit call of {total} steps, {cfg.samples} samples x {k}")
    timed_data = data(total)
    with CpuWindow() as cpu:
        timed = _fit(ctx, net, timed_data, bs)
    t = dict(timed.marks)
    ends = [block + i * k for i in range(cfg.samples + 1)]
    missing = [e for e in ends if e not in t]
    if missing:
        raise RuntimeError(f"fit reported no step end at step(s) {missing[:3]} "
                           f"(marks at {sorted(t)[:8]}...)")
    seconds = [t[e1] - t[e0] for e0, e1 in zip(ends, ends[1:], strict=False)]
    steady = float(np.median(seconds)) / k
    calls = [*warm[1:], timed]
    overhead = [c.wall - c.marks[-1][0] * steady for c in calls]
    # the first call's extra cost over a later one: tracing / compilation (and first touches)
    first = warm[0].wall - warm[0].marks[-1][0] * steady - float(np.median(overhead))
    extra = {"steps_per_sample": k, "fit_steps": total, "first_block_dropped": block,
             "warmup_fit_calls": len(warm), "steps_per_warmup_call": warm[0].marks[-1][0],
             **cpu.extra()}
    common: dict[str, Any] = {"batch_size": bs, "dataset": name, "seconds": seconds,
                              "extra": extra}
    warm_thr = [c.marks[-1][0] * bs / c.wall for c in warm]
    thr = from_samples("throughput", "samples/s", [k * bs / s for s in seconds], "higher",
                       warm_thr, **common)
    step = from_samples("step_time", "ms", [1e3 * s / k for s in seconds], "lower",
                        [1e3 / w * bs for w in warm_thr], **common)
    with_flops(ctx, net, ds, thr, TRAIN_FLOPS_FACTOR)
    out = [thr, step]
    per_call: dict[str, Any] = dict(batch_size=bs, dataset=name,
                                    extra={"fit_calls": len(overhead)})
    out.append(from_samples("per_call_overhead", "s", overhead, "lower", **per_call)
               if len(overhead) > 1 else  # one fit call after the first: a single value
               Measurement("per_call_overhead", "s", overhead[0], "lower", **per_call))
    out.append(Measurement("trace_compile_time", "s", max(first, 0.0), "lower", batch_size=bs,
                           dataset=name, extra={"first_fit_call_s": warm[0].wall}))
    return on_path(out, path, GROUP, a.knobs(net))


def run(ctx: Context) -> list[Measurement]:
    cfg = ctx.section(TrainConfig)
    name = cfg.dataset or ctx.task.train_dataset
    ds = ctx.dataset(name, n_train=max(cfg.steps * cfg.batch_size, 64), n_test=64)
    out: list[Measurement] = []
    for path in ctx.paths("train", ds.input_shape):
        try:
            out += _path(ctx, path, ds, name)
        except Exception as exc:  # noqa: BLE001 - one path's failure is its own record
            ctx.progress(f"train[{path.id}] failed: {type(exc).__name__}: {exc}"[:300])
            out.append(failed_path(path, GROUP, exc))
    return out
