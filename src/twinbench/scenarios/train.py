"""train: steady-state training throughput and step time.

One sample = k optimizer steps over consecutive batches, run through the framework's own
idiomatic training call (PyTorch: the explicit loop; Keras: one ``fit`` call, its per-call setup
included). k starts at ``train.steps`` and is calibrated after warm-up so a sample lasts at least
``min_sample_s``. Data is moved to the framework once, before any timing; warm-up samples
(tracing, allocator growth) are kept apart from the timed ones.
"""

from __future__ import annotations

import numpy as np

from twinbench.measure.calibrate import calibrate
from twinbench.measure.timer import repeat
from twinbench.scenarios.base import Context, Measurement, from_samples, with_flops

TRAIN_FLOPS_FACTOR = 3  # forward + backward ~ 3x the forward FLOPs (backward ~ 2x)


def run(ctx: Context) -> list[Measurement]:
    cfg = ctx.study.train
    bs = cfg.batch_size
    name = cfg.dataset or ctx.task.train_dataset
    ds = ctx.dataset(name, n_train=max(cfg.steps * bs, 64), n_test=64)
    a = ctx.adapter
    net = ctx.build(ds.input_shape, ds.num_classes)
    a.compile_train(net, cfg.lr, cfg.momentum, cfg.optimizer, cfg.weight_decay)

    def data(steps: int):
        idx = np.arange(steps * bs) % len(ds.train.y)  # cycle the set when k steps exceed it
        return a.to_device(ds.train.x[idx]), a.labels(ds.train.y[idx])

    x, y = data(cfg.steps)
    ctx.progress(f"train: {cfg.warmup} warm-up sample(s), then calibration")
    warm = repeat(lambda: a.fit(net, x, y, bs), a.synchronize, warmup=cfg.warmup, samples=0)
    cache: dict[int, tuple] = {cfg.steps: (x, y)}

    def run_k(k: int) -> None:
        steps = cfg.steps * k
        if steps not in cache:
            cache.clear()
            cache[steps] = data(steps)
        a.fit(net, *cache[steps], bs)

    k = calibrate(run_k, a.synchronize, min_time=ctx.study.min_sample_s)
    steps = cfg.steps * k
    xs, ys = cache.get(steps) or data(steps)
    ctx.progress(f"train: {cfg.samples} samples x {steps} steps")
    t = repeat(lambda: a.fit(net, xs, ys, bs), a.synchronize, warmup=0, samples=cfg.samples)
    n, nw = steps * bs, cfg.steps * bs
    def common() -> dict:
        return {"batch_size": bs, "dataset": name, "seconds": t.samples,
                "extra": {"steps_per_sample": steps, "warmup_steps_per_sample": cfg.steps}}

    thr = from_samples("throughput", "samples/s", [n / s for s in t.samples], "higher",
                       [nw / s for s in warm.warmups], **common())
    step = from_samples("step_time", "ms", [1e3 * s / steps for s in t.samples], "lower",
                        [1e3 * s / cfg.steps for s in warm.warmups], **common())
    with_flops(ctx, net, ds, thr, TRAIN_FLOPS_FACTOR)
    return [thr, step]
