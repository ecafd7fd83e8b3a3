"""infer: MLPerf-style single-stream latency (batch 1) and offline throughput (large batch).

Single-stream: one query after another until both ``latency_runs`` queries and
``min_duration_s`` are reached; each query is one eval-mode forward of one sample including the
copy of the output back to numpy, which is what an application waits for. Per-query latencies are
the samples (the clock resolves nanoseconds; no loop calibration needed). Offline: a batch of
``batch_size`` per call, calls per sample calibrated to at least ``min_sample_s``.
"""

from __future__ import annotations

from twinbench.measure.calibrate import calibrate, loop
from twinbench.measure.loadgen import single_stream
from twinbench.measure.timer import repeat, time_call
from twinbench.scenarios.base import (
    Context,
    Measurement,
    from_samples,
    percentile_of,
    with_flops,
)


def run(ctx: Context) -> list[Measurement]:
    cfg = ctx.study.infer
    ds = ctx.dataset(n_train=64, n_test=max(cfg.batch_size, 1))
    a = ctx.adapter
    net = ctx.build(ds.input_shape, ds.num_classes)
    one = a.to_device(ds.test.x[:1])

    def query() -> None:
        a.predict(net, one)

    ctx.progress(f"infer: single-stream, >= {cfg.latency_runs} queries")
    warm = [1e3 * time_call(query, a.synchronize) for _ in range(cfg.warmup)]
    lat = [1e3 * s for s in single_stream(query, min_queries=cfg.latency_runs,
                                           min_duration_s=cfg.min_duration_s)]
    out = [from_samples("latency_p50", "ms", lat, "lower", warm, batch_size=1)]
    out += [percentile_of(f"latency_p{q}", lat, q, batch_size=1) for q in (90, 99)]
    b = cfg.batch_size
    big = a.to_device(ds.test.x[:b])

    def batch() -> None:
        a.predict(net, big)

    ctx.progress(f"infer: offline throughput at batch {b}")
    warm_b = repeat(batch, a.synchronize, warmup=max(1, cfg.warmup // 5), samples=0).warmups
    k = calibrate(lambda n: loop(batch, n)(), a.synchronize, min_time=ctx.study.min_sample_s)
    t = repeat(loop(batch, k), a.synchronize, warmup=0, samples=cfg.samples)
    thr = from_samples("throughput", "samples/s", [b * k / s for s in t.samples], "higher",
                       [b / s for s in warm_b], seconds=t.samples, batch_size=b,
                       extra={"calls_per_sample": k})
    with_flops(ctx, net, ds, thr, 1)
    out.append(thr)
    return out
