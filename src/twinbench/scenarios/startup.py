"""startup: what a user waits for before steady state — import, build, first step, first predict.

Import time is measured by the worker around the adapter import (the framework's own import is
most of it); the first training step includes tracing/graph building, kept apart from the train
scenario's steady state.
"""

from __future__ import annotations

import time

from twinbench.scenarios.base import Context, Measurement


def run(ctx: Context) -> list[Measurement]:
    cfg = ctx.study.train
    name = cfg.dataset or ctx.task.train_dataset
    ds = ctx.dataset(name, n_train=max(cfg.batch_size, 64), n_test=64)
    a = ctx.adapter
    t0 = time.perf_counter()
    net = ctx.build(ds.input_shape, ds.num_classes)
    build = time.perf_counter() - t0
    a.compile_train(net, cfg.lr, cfg.momentum)
    x = a.to_device(ds.train.x[: cfg.batch_size])
    y = a.labels(ds.train.y[: cfg.batch_size])
    t0 = time.perf_counter()
    a.fit(net, x, y, cfg.batch_size)
    a.synchronize()
    first_step = time.perf_counter() - t0
    one = a.to_device(ds.test.x[:1])
    t0 = time.perf_counter()
    a.predict(net, one)
    first_predict = time.perf_counter() - t0
    b = {"batch_size": cfg.batch_size}
    return [
        Measurement("import_time", "s", ctx.import_s, "lower"),
        Measurement("build_time", "s", build, "lower"),
        Measurement("first_step_time", "s", first_step, "lower", **b),
        Measurement("first_predict_time", "s", first_predict, "lower", batch_size=1),
    ]
