"""memory: peak resident set size of the worker process while it trains.

The peak includes the framework's import and runtime footprint, since a user's process pays for
it too; the RSS after import and build is recorded beside it so the two can be told apart.
"""

from __future__ import annotations

import resource

import psutil

from twinbench.scenarios.base import Context, Measurement


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def run(ctx: Context) -> list[Measurement]:
    cfg = ctx.study.train
    n = cfg.steps * cfg.batch_size
    name = cfg.dataset or ctx.task.train_dataset
    ds = ctx.dataset(name, n_train=max(n, 64), n_test=64)
    a = ctx.adapter
    net = ctx.build(ds.input_shape, ds.num_classes)
    a.compile_train(net, cfg.lr, cfg.momentum)
    x, y = a.to_device(ds.train.x[:n]), a.labels(ds.train.y[:n])
    after_build = psutil.Process().memory_info().rss / 2**20
    ctx.progress("memory: training while the peak is tracked")
    a.fit(net, x, y, cfg.batch_size)  # the first fit holds the peak: tracing plus a step
    a.synchronize()
    extra = {"rss_after_build_mb": after_build, "source": "getrusage(RUSAGE_SELF).ru_maxrss"}
    return [Measurement("peak_rss", "MiB", _peak_mb(), "lower", batch_size=cfg.batch_size,
                        dataset=name, extra=extra)]
