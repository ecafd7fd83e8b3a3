"""profile: where a training step and an inference call spend their time, per category.

In the usual worker (one framework), after warm-up, the same call the timed scenarios make —
one ``fit`` over ``profile.steps`` batches, then ``profile.steps`` ``predict`` calls — runs
``profile.repeats`` times unprofiled (the baseline; half before and half after the profiled call,
so drift in the machine's load biases the overhead ratio less) and once under the framework's
own profiler (picked by the adapter's ``PROFILER`` capability), with the options that profiler
documents for debugging on (shapes, memory, Python stacks; ``extra.debug.options``), so the
``profiler_overhead`` ratio is that of the profile a debugging user would take. Ops are mapped to
shared categories (``profiling/categories.py``); ``overhead`` is the profiled wall time no op
claims. ``step_time_profiled``'s ``extra.debug`` holds what the profiler gave, read back from what
it wrote (``profiling/debug.py``): op coverage, overhead, memory, source attribution, viewer.
Each native trace is kept under ``<results>/traces/`` with a one-line hint on how to open it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from twinbench import profiling
from twinbench.measure.timer import repeat
from twinbench.profiling import debug
from twinbench.profiling.attribution import attribute
from twinbench.profiling.categories import CATEGORIES, LABELS, UNKNOWN
from twinbench.results.schema import Warn
from twinbench.scenarios.base import Context, Measurement, from_samples
from twinbench.scenarios.infer import InferConfig
from twinbench.scenarios.spec import STRICT, Scenario
from twinbench.scenarios.train import TrainConfig


class ProfileConfig(BaseModel):
    """[profile]: one fit over `steps` batches and `steps` predict calls, under the profiler."""

    model_config = STRICT
    steps: int = Field(8, gt=0, description="training steps (one fit call) / predict calls")
    warmup: int = Field(2, ge=0, description="unprofiled calls first (tracing, compilation)")
    repeats: int = Field(5, gt=0, description="unprofiled timed calls: the overhead baseline")
    batch_size: int | None = Field(None, gt=0, description="default: [train] batch_size")
    infer_batch_size: int | None = Field(None, gt=0, description="default: [infer] batch_size")


SCENARIO = Scenario(
    "profile", "time per op category (framework's own profiler), traces for Perfetto",
    ProfileConfig,
    # flags read at import (XLA's HLO dump for op names), per backend
    worker_env=profiling.worker_env, view="twinbench.report.profile_view:VIEW")

# The trace's own span of the profiled steps must match the wall clock within this (the test
# checks it); categories then add up to the profiled step time exactly (by construction: the
# checks that mean something are the attributed share and the overhead ratio, tests/).
WINDOW_TOLERANCE = (0.05, 1.0)  # relative, plus absolute ms per step
MAX_UNKNOWN_LISTED = 100


def _phase(ctx: Context, prof: Any, phase: str, fn: Callable[[], object], steps: int,
           batch: int) -> list[Measurement]:
    cfg, a = ctx.section(ProfileConfig), ctx.adapter
    before = (cfg.repeats + 1) // 2
    ctx.progress(f"profile/{phase}: {cfg.warmup} warm-up + {cfg.repeats} unprofiled call(s) "
                 f"of {steps} step(s), {before} of them before the profiled one")
    t = repeat(fn, a.synchronize, warmup=cfg.warmup, samples=before)
    ctx.progress(f"profile/{phase}: one call under the {prof.NAME} profiler")
    outdir = ctx.workdir / "traces" / ctx.job.job_id.replace("/", "__") / phase
    cap = prof.capture(fn, a.synchronize, f"twinbench/{phase}", outdir)
    t.samples.extend(repeat(fn, a.synchronize, warmup=0, samples=cfg.repeats - before).samples)
    base = [1e3 * s / steps for s in t.samples]
    bd = attribute(cap.events, cap.window, prof.NAME)

    def rel(p: Path) -> str:
        return str(Path(p).relative_to(ctx.workdir)) if Path(p).is_relative_to(ctx.workdir) \
            else str(p)

    files = {k: rel(v) for k, v in cap.files.items()}
    common = {"profiler": prof.NAME, "steps": steps, "trace": files["trace"],
              "native_trace": files["native"], "open_with": cap.hint.format(**files),
              "paths_relative_to": "the results folder", "trace_events": len(cap.events)}
    prof_ms = 1e3 * cap.wall_s / steps
    base_ms = median(base)
    window_ms = bd.window_ns / 1e6 / steps
    per_step = {c: ns / 1e6 / steps for c, ns in bd.by_category.items()}
    attributed = sum(per_step.values())
    warnings = [Warn("profiler", n) for n in cap.notes]
    rel_tol, abs_tol = WINDOW_TOLERANCE
    if abs(window_ms - prof_ms) > rel_tol * prof_ms + abs_tol:
        warnings.append(Warn("profiler", f"trace window {window_ms:.3g} ms/step vs wall clock "
                                         f"{prof_ms:.3g}"))
    per_step["overhead"] = max(0.0, prof_ms - attributed)
    lo, hi = cap.window
    frames = [f for f in cap.frames if f.start < hi and f.end > lo]  # outer frames included
    memory = dict(cap.memory)
    if memory.get("bytes_allocated") is not None:
        memory["bytes_allocated_per_step"] = memory["bytes_allocated"] / steps
    facts = {"options": cap.options, "op_coverage": attributed / prof_ms,
             "overhead_x": prof_ms / base_ms, "memory": memory,
             "source": debug.source_facts(debug.op_events(cap.events, cap.window, prof.NAME),
                                          frames, prof.NAME),
             "viewer": cap.viewer}
    unknown = sorted(bd.unknown_ops.items(), key=lambda kv: -kv[1])
    unknown_list = [{"op": k, "ms_per_step": v / 1e6 / steps}
                    for k, v in unknown[:MAX_UNKNOWN_LISTED]]
    out = []
    for c in (*CATEGORIES, UNKNOWN):
        extra: dict[str, Any] = {"label": LABELS[c], "share": per_step[c] / prof_ms,
                                 "thread_ms": bd.thread_ns.get(c, 0.0) / 1e6 / steps, **common}
        if c == UNKNOWN:
            extra["unknown_ops"] = unknown_list
            extra["unknown_ops_total"] = len(unknown)
        out.append(Measurement("op_time", "ms", per_step[c], None, batch_size=batch,
                               warnings=list(warnings), extra=extra, phase=phase, category=c))
    out.append(from_samples("step_time", "ms", base, "lower",
                            [1e3 * s / steps for s in t.warmups], seconds=t.samples,
                            batch_size=batch, extra={"steps": steps, "profiled": False},
                            phase=phase))
    out.append(Measurement(
        "step_time_profiled", "ms", prof_ms, "lower", batch_size=batch,
        warnings=warnings, extra={**common, "trace_window_ms": window_ms,
                                  "attributed_ms": attributed, "unknown_ops": unknown_list,
                                  "debug": facts}, phase=phase))
    out.append(Measurement("profiler_overhead", "x", prof_ms / base_ms, "lower",
                           batch_size=batch, extra={"profiled_ms": prof_ms,
                                                    "unprofiled_ms": base_ms,
                                                    "profiler_options": cap.options},
                           phase=phase))
    return out


def run(ctx: Context) -> list[Measurement]:
    cfg, a = ctx.section(ProfileConfig), ctx.adapter
    prof = profiling.load(getattr(a, "PROFILER", None))
    bs = cfg.batch_size or ctx.section(TrainConfig).batch_size
    ib = cfg.infer_batch_size or ctx.section(InferConfig).batch_size
    steps = cfg.steps
    ds = ctx.dataset(n_train=steps * bs, n_test=ib)
    net = ctx.build(ds.input_shape, ds.num_classes)
    tc = ctx.section(TrainConfig)
    a.compile_train(net, tc.lr, tc.momentum, tc.optimizer, tc.weight_decay)
    idx = np.arange(steps * bs) % len(ds.train.y)
    x, y = a.to_device(ds.train.x[idx]), a.labels(ds.train.y[idx])
    xb = a.to_device(ds.test.x[np.arange(ib) % len(ds.test.y)])

    def train() -> None:
        a.fit(net, x, y, bs)  # the framework's idiomatic loop over `steps` batches

    def infer() -> None:
        for _ in range(steps):
            a.predict(net, xb)

    return (_phase(ctx, prof, "train", train, steps, bs)
            + _phase(ctx, prof, "infer", infer, steps, ib))
