"""accuracy: the eval metric after a fixed epoch budget on real data, and the wall time it took.

Both twins start from the same weights and see the same batches in the same order; the metric is
computed by one shared numpy implementation from each framework's logits (fairness rule 6).
"""

from __future__ import annotations

import time

import numpy as np

from twinbench.scenarios.base import Context, Measurement
from twinbench.tasks.datasets import epoch_order


def run(ctx: Context) -> list[Measurement]:
    cfg = ctx.study.accuracy
    name = cfg.dataset or ctx.task.eval_dataset
    ds = ctx.dataset(name, n_train=cfg.n_train)
    a = ctx.adapter
    net = ctx.build(ds.input_shape, ds.num_classes)
    a.compile_train(net, cfg.lr, cfg.momentum)
    n = (len(ds.train.y) // cfg.batch_size) * cfg.batch_size
    losses = []
    t0 = time.perf_counter()
    for epoch in range(cfg.epochs):
        ctx.progress(f"accuracy: epoch {epoch + 1}/{cfg.epochs}")
        order = epoch_order(len(ds.train.y), epoch=epoch, seed=ctx.study.seed)[:n]
        x, y = a.to_device(ds.train.x[order]), a.labels(ds.train.y[order])
        losses.append(a.fit(net, x, y, cfg.batch_size))
    a.synchronize()
    wall = time.perf_counter() - t0
    logits = np.concatenate([
        a.predict(net, a.to_device(ds.test.x[i : i + 256])) for i in range(0, len(ds.test.y), 256)
    ])
    scores = ctx.evaluate(logits, ds.test.y, ds.num_classes)
    common = {"batch_size": cfg.batch_size, "dataset": name}
    extra = {"epochs": cfg.epochs, "n_train": n, "n_test": int(len(ds.test.y)),
             "epoch_losses": losses}
    out = [Measurement(metric, "fraction", value, "higher", extra=extra, **common)
           for metric, value in scores.items()]
    return out + [Measurement("train_wall_time", "s", wall, "lower", extra=extra, **common)]
