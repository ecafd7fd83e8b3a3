"""server: MLPerf-style server scenario — Poisson arrivals, p99 latency, and the highest rate
whose p99 stays within a latency bound.

The target rate defaults to half the model's single-stream capacity (1 / median latency).
"""

from __future__ import annotations

import numpy as np

from twinbench.measure.loadgen import max_rate_within, poisson_arrivals, serve, single_stream
from twinbench.scenarios.base import Context, Measurement, percentile_of


def run(ctx: Context) -> list[Measurement]:
    cfg = ctx.study.server
    ds = ctx.dataset(n_train=64, n_test=8)
    a = ctx.adapter
    net = ctx.build(ds.input_shape, ds.num_classes)
    one = a.to_device(ds.test.x[:1])

    def query() -> None:
        a.predict(net, one)

    for _ in range(3):
        query()
    base = single_stream(query, min_queries=10, min_duration_s=0.2)
    capacity = 1.0 / float(np.median(base))
    target = cfg.target_qps or capacity / 2
    rng = np.random.default_rng(ctx.study.seed)
    n = max(cfg.min_queries, int(target * cfg.duration_s))
    ctx.progress(f"server: {n} Poisson queries at {target:.1f}/s")
    lat = serve(query, poisson_arrivals(target, n, rng))
    p99 = percentile_of("server_latency_p99", [1e3 * v for v in lat], 99, batch_size=1)
    p99.extra.update({"target_qps": target, "queries": n})
    ctx.progress(f"server: searching the highest rate with p99 <= {cfg.latency_bound_ms} ms")
    best, tried = max_rate_within(
        query, bound_s=cfg.latency_bound_ms / 1e3, capacity_qps=capacity,
        duration_s=cfg.duration_s, min_queries=cfg.min_queries, steps=cfg.search_steps, rng=rng,
    )
    rate = Measurement(
        "max_qps_within_bound", "queries/s", best, "higher", batch_size=1,
        extra={"latency_bound_ms": cfg.latency_bound_ms, "capacity_qps": capacity,
               "tried": [vars(t) for t in tried]},
        warnings=[] if best > 0 else [
            f"no rate met p99 <= {cfg.latency_bound_ms} ms (bound below one query's latency?)"],
    )
    return [p99, rate]
