"""server: MLPerf-style server scenario — Poisson arrivals, p99 latency, and the highest rate
whose p99 stays within a latency bound.

The target rate defaults to half the model's single-stream capacity (1 / median latency).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from twinbench.measure.loadgen import max_rate_within, poisson_arrivals, serve, single_stream
from twinbench.results.schema import Warn
from twinbench.scenarios.base import Context, Measurement, percentile_of
from twinbench.scenarios.spec import STRICT, Scenario


class ServerConfig(BaseModel):
    """[server]: Poisson arrivals against the in-process model."""

    model_config = STRICT
    latency_bound_ms: float = Field(100.0, gt=0, description="p99 bound for the max-rate search")
    target_qps: float | None = Field(None, gt=0, description="default: half the capacity")
    duration_s: float = Field(2.0, gt=0, description="length of each Poisson run")
    min_queries: int = Field(20, gt=0)
    search_steps: int = Field(4, ge=0)


# Opt-in (preset `latency`): it takes longer than the default scenarios.
SCENARIO = Scenario(
    "server", "Poisson arrivals: p99 latency at a target rate, highest rate within a bound",
    ServerConfig, throughput=True)


def run(ctx: Context) -> list[Measurement]:
    cfg = ctx.section(ServerConfig)
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
        warnings=[] if best > 0 else [Warn(
            "capacity",
            f"no rate met p99 <= {cfg.latency_bound_ms} ms (bound below one query's latency?)")],
    )
    return [p99, rate]
