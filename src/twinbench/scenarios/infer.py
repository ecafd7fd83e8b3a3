"""infer: batch-1 latency percentiles and throughput at a larger batch.

Each latency sample is one eval-mode forward of one image, including the copy of the output back
to numpy, which is what an application waits for.
"""

from __future__ import annotations

from twinbench.measure.timer import repeat, time_call
from twinbench.scenarios.base import Context, Measurement, from_samples, percentile_of


def run(ctx: Context) -> list[Measurement]:
    cfg = ctx.study.infer
    ds = ctx.dataset(n_train=64, n_test=max(cfg.batch_size, 1))
    a = ctx.adapter
    net = ctx.build(ds.input_shape, ds.num_classes)
    one = a.to_device(ds.test.x[:1])
    ctx.progress(f"infer: {cfg.latency_runs} batch-1 forwards")
    warm = [1e3 * time_call(lambda: a.predict(net, one), a.synchronize) for _ in range(cfg.warmup)]
    lat = [1e3 * time_call(lambda: a.predict(net, one), a.synchronize)
           for _ in range(cfg.latency_runs)]
    out = [from_samples("latency_p50", "ms", lat, "lower", warm, batch_size=1)]
    out += [percentile_of(f"latency_p{q}", lat, q, batch_size=1) for q in (90, 99)]
    big = a.to_device(ds.test.x[: cfg.batch_size])
    ctx.progress(f"infer: throughput at batch {cfg.batch_size}")
    t = repeat(lambda: a.predict(net, big), a.synchronize, warmup=max(1, cfg.warmup // 5),
               samples=cfg.samples)
    b = cfg.batch_size
    out.append(from_samples("throughput", "samples/s", [b / s for s in t.samples], "higher",
                            [b / s for s in t.warmups], batch_size=b))
    return out
