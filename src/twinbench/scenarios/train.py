"""train: steady-state training throughput and step time.

One sample = ``steps`` optimizer steps over consecutive batches, run through the framework's own
idiomatic training call (PyTorch: the explicit loop; Keras: ``fit``). Data is moved to the
framework once, before any timing. The first ``warmup`` samples (tracing, allocator growth) are
kept apart from the timed ones.
"""

from __future__ import annotations

from twinbench.measure.timer import repeat
from twinbench.scenarios.base import Context, Measurement, from_samples


def run(ctx: Context) -> list[Measurement]:
    cfg = ctx.study.train
    n = cfg.steps * cfg.batch_size
    name = cfg.dataset or ctx.task.train_dataset
    ds = ctx.dataset(name, n_train=max(n, 64), n_test=64)
    a = ctx.adapter
    net = ctx.build(ds.input_shape, ds.num_classes)
    a.compile_train(net, cfg.lr, cfg.momentum)
    x, y = a.to_device(ds.train.x[:n]), a.labels(ds.train.y[:n])
    ctx.progress(f"train: {cfg.warmup} warm-up + {cfg.samples} samples x {cfg.steps} steps")
    t = repeat(lambda: a.fit(net, x, y, cfg.batch_size), a.synchronize,
               warmup=cfg.warmup, samples=cfg.samples)
    common = {"batch_size": cfg.batch_size, "dataset": name,
              "extra": {"steps_per_sample": cfg.steps}}
    return [
        from_samples("throughput", "samples/s", [n / s for s in t.samples], "higher",
                     [n / s for s in t.warmups], **common),
        from_samples("step_time", "ms", [1e3 * s / cfg.steps for s in t.samples], "lower",
                     [1e3 * s / cfg.steps for s in t.warmups], **common),
    ]
