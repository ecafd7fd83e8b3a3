"""infer: MLPerf-style single-stream latency (batch 1) and offline throughput, per call path.

Each documented inference path of the job's mode (PyTorch: eager, ``torch.compile``,
channels-last; Keras: ``model(x)``, ``predict_on_batch``, ``predict``, XLA; Lightning: the
module, ``Trainer.predict``) runs on its own copy of the twin (same weights). Before it is timed,
its outputs must match the mode's first path on the same batch (within parity's forward
tolerance): a path that computes something else is a failed record, never a number.

Single-stream: one query after another until both ``latency_runs`` queries and
``min_duration_s`` are reached; a query is one eval-mode forward of one sample including the copy
of the output back to numpy. Offline: batches of ``batch_size``; a ``batched`` path (Keras
``predict``, ``Trainer.predict``) gets all of a sample's batches in one call, as its docs intend.
The first call of each shape (tracing, compilation) is recorded apart as ``first_call``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from twinbench.measure.calibrate import calibrate, loop
from twinbench.measure.loadgen import single_stream
from twinbench.measure.timer import CpuWindow, repeat, time_call
from twinbench.scenarios.base import (
    Context,
    Measurement,
    failed_path,
    from_samples,
    on_path,
    percentile_of,
    with_flops,
)
from twinbench.scenarios.parity import FORWARD_TOL
from twinbench.scenarios.spec import STRICT, Scenario


class InferConfig(BaseModel):
    """[infer]: single-stream latency and batched throughput (export-web reads it too)."""

    model_config = STRICT
    latency_runs: int = Field(30, gt=0, description="minimum batch-1 queries (single-stream)")
    min_duration_s: float = Field(0.5, ge=0, description="minimum single-stream duration")
    warmup: int = Field(5, ge=0)
    batch_size: int = Field(64, gt=0, description="batch for the throughput measurement")
    samples: int = Field(5, gt=0)


SCENARIO = Scenario("infer", "batch-1 latency p50/p90/p99 and throughput at a larger batch",
                    InferConfig, throughput=True, moded=True, default=True)

MIN_BATCHES = 32  # per call of a batched path (Keras predict, Lightning Trainer.predict)


class PathMismatch(RuntimeError):
    """A call path's outputs differ from the reference path's on the same batch."""


def _first(ctx: Context, fn: Any, x: Any, refs: dict[str, np.ndarray], part: str,
           ) -> tuple[float, float]:
    """(seconds of the first call — tracing/compilation included —, max |difference| of its
    outputs from the reference path's on the same input). The mode's first path to run a part
    is that part's reference."""
    t0 = time.perf_counter()
    out = np.asarray(fn(x))
    ctx.adapter.synchronize()
    first = time.perf_counter() - t0
    ref = refs.setdefault(part, out)
    if out.shape != ref.shape:
        raise PathMismatch(f"outputs of shape {out.shape}, reference {ref.shape}")
    diff = float(np.max(np.abs(out - ref))) if out.size else 0.0
    if not diff <= FORWARD_TOL:
        raise PathMismatch(f"outputs differ from the reference path by {diff:.3g} "
                           f"(tolerance {FORWARD_TOL:g})")
    return first, diff


def _latency(ctx: Context, fn: Any, ds: Any, refs: dict[str, np.ndarray]) -> list[Measurement]:
    cfg, a = ctx.section(InferConfig), ctx.adapter
    one = a.to_device(ds.test.x[:1])
    first, diff = _first(ctx, fn, one, refs, "latency")
    warm = [1e3 * time_call(lambda: fn(one), a.synchronize) for _ in range(cfg.warmup)]
    with CpuWindow() as cpu:
        lat = [1e3 * s for s in single_stream(lambda: fn(one), min_queries=cfg.latency_runs,
                                               min_duration_s=cfg.min_duration_s)]
    out = [from_samples("latency_p50", "ms", lat, "lower", warm, batch_size=1,
                        extra=cpu.extra())]
    out += [percentile_of(f"latency_p{q}", lat, q, batch_size=1) for q in (90, 99)]
    out.append(Measurement("first_call", "ms", 1e3 * first, "lower", batch_size=1,
                           extra={"includes": "tracing/compilation of the batch-1 shape"}))
    for m in out:
        m.extra["path_max_abs_diff"] = diff
    return out


def _throughput(ctx: Context, fn: Any, path: Any, ds: Any, net: Any,
                refs: dict[str, np.ndarray]) -> list[Measurement]:
    cfg, a, b = ctx.section(InferConfig), ctx.adapter, ctx.section(InferConfig).batch_size
    big = a.to_device(ds.test.x[:b])
    first, diff = _first(ctx, fn, big, refs, "throughput")
    if path.batched:  # k batches in one call: the work per call grows with k
        cache: dict[int, Any] = {}

        def run_k(k: int) -> None:
            if k not in cache:
                cache.clear()
                cache[k] = a.to_device(ds.test.x[np.arange(k * b) % len(ds.test.y)])
            fn(cache[k])
    else:
        def run_k(k: int) -> None:
            loop(lambda: fn(big), k)()
    warm = repeat(lambda: run_k(1), a.synchronize, warmup=max(1, cfg.warmup // 5), samples=0)
    # a batched path is for many batches per call (Keras: "designed for batch processing of
    # large numbers of inputs"): at least MIN_BATCHES of them, more if a call is still short
    k = calibrate(run_k, a.synchronize, min_time=ctx.study.min_sample_s,
                  start=MIN_BATCHES if path.batched else 1)
    run_k(k)  # a batched path converts its k batches once, before the clock
    with CpuWindow() as cpu:
        t = repeat(lambda: run_k(k), a.synchronize, warmup=0, samples=cfg.samples)
    thr = from_samples("throughput", "samples/s", [b * k / s for s in t.samples], "higher",
                       [b / s for s in warm.warmups], seconds=t.samples, batch_size=b,
                       extra={"calls_per_sample" if not path.batched else "batches_per_call": k,
                              **cpu.extra()})
    with_flops(ctx, net, ds, thr, 1)
    out = [thr, Measurement("first_call", "ms", 1e3 * first, "lower", batch_size=b,
                            extra={"includes": f"tracing/compilation of the batch-{b} shape"})]
    for m in out:
        m.extra["path_max_abs_diff"] = diff
    return out


def run(ctx: Context) -> list[Measurement]:
    cfg = ctx.section(InferConfig)
    ds = ctx.dataset(n_train=64, n_test=max(cfg.batch_size, 1))
    a = ctx.adapter
    refs: dict[str, np.ndarray] = {}  # part -> the reference path's outputs
    out: list[Measurement] = []
    for path in ctx.paths("infer", ds.input_shape):
        for part in path.parts:
            ctx.progress(f"infer[{path.id}]: {part}")
            try:
                net = ctx.build(ds.input_shape, ds.num_classes)  # a fresh copy per path
                fn = a.predictor(net, path, batch_size=cfg.batch_size)
                ms = (_latency(ctx, fn, ds, refs) if part == "latency"
                      else _throughput(ctx, fn, path, ds, net, refs))
                out += on_path(ms, path, part, a.path_knobs(net, path))
            except Exception as exc:  # noqa: BLE001 - one path's failure is its own record
                ctx.progress(f"infer[{path.id}] {part} failed: {type(exc).__name__}: {exc}"[:300])
                out.append(failed_path(path, part, exc))
    return out
