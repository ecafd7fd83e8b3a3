"""accuracy: the eval metric after a fixed epoch budget, and time-to-target.

Both twins start from the same weights and see the same batches in the same order; the metric is
computed by one shared numpy implementation from each framework's logits (fairness rule 6).

Time-to-target: the headline metric (``evaluate``'s first key) is scored on the test split after
every epoch (and every ``eval_every`` steps when set; each chunk between two evaluations is one
call of the adapter's idiomatic ``fit``, so Keras still trains through ``fit``). The training
clock is paused while data is prepared and while the model is evaluated, so the wall time counts
training only. ``time_to_target`` / ``steps_to_target`` are the train seconds and optimizer steps
until the first evaluation at or above the target; "not reached" within the budget is a result
too, recorded as ``value: null`` with ``extra.reached = false`` (docs/results-schema.md).

Read steps with care: at these learning rates training is chaotic, so float32 rounding alone (a
different kernel or thread count) moves the curve within an epoch. Seen here: the small ResNet on
digits, PyTorch with 1 vs 2 threads, losses 30% apart after 44 steps; the twins' curves differ
as much. A gap in ``steps_to_target`` between frameworks can be that noise; per step, the wall
time is the framework's.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from twinbench.errors import UserError
from twinbench.scenarios.base import Context, Measurement
from twinbench.tasks.datasets import epoch_order

EVAL_BATCH = 256


@dataclass(frozen=True)
class EvalPoint:
    """One evaluation on the test split, after ``steps`` optimizer steps."""

    epoch: float  # epochs done (a fraction when eval_every splits an epoch)
    steps: int
    train_s: float  # training wall time so far, evaluations and data preparation excluded
    metric: float  # the headline metric on the test split
    loss: float  # mean training loss of the chunk that ended here


def chunk_ends(first_step: int, steps: int, eval_every: int | None) -> list[int]:
    """Global step counts where an epoch of ``steps`` steps starting after ``first_step`` pauses
    for an evaluation: every multiple of ``eval_every`` inside it, and always its end."""
    last = first_step + steps
    inner = [] if eval_every is None else [
        k for k in range(first_step + 1, last) if k % eval_every == 0]
    return [*inner, last]


def first_reaching(curve: list[EvalPoint], target: float) -> EvalPoint | None:
    """The first evaluation whose metric is at least ``target``; None when none is."""
    return next((p for p in curve if p.metric >= target), None)


def target_measurements(curve: list[EvalPoint], target: float, metric: str,
                        **common: Any) -> list[Measurement]:
    """``time_to_target`` (s) and ``steps_to_target``; ``value=None`` when not reached."""
    hit = first_reaching(curve, target)
    extra: dict[str, Any] = {
        "reached": hit is not None, "target": target, "target_metric": metric,
        "evaluations": len(curve), "budget_steps": curve[-1].steps if curve else 0,
        "budget_s": curve[-1].train_s if curve else 0.0,
        "best_metric": max((p.metric for p in curve), default=None),
        "curve": [asdict(p) for p in curve],
    }
    if hit is not None:
        extra["epoch"] = hit.epoch
    return [
        Measurement("time_to_target", "s", hit.train_s if hit else None, "lower",
                    extra=dict(extra), **common),
        Measurement("steps_to_target", "steps", float(hit.steps) if hit else None, "lower",
                    extra=dict(extra), **common),
    ]


def _evaluate(ctx: Context, net: Any, ds: Any) -> dict[str, float]:
    a = ctx.adapter
    n = len(ds.test.y)
    logits = np.concatenate([a.predict(net, a.to_device(ds.test.x[i : i + EVAL_BATCH]))
                             for i in range(0, n, EVAL_BATCH)])
    return ctx.evaluate(logits, ds.test.y, ds.num_classes)


def run(ctx: Context) -> list[Measurement]:
    cfg = ctx.study.accuracy
    name = cfg.dataset or ctx.task.eval_dataset
    target = cfg.target if cfg.target is not None else ctx.task.target
    ds = ctx.dataset(name, n_train=cfg.n_train)
    a = ctx.adapter
    bs = cfg.batch_size
    per_epoch = len(ds.train.y) // bs  # full batches only: every step has the same shape
    if per_epoch == 0:
        raise UserError(f"accuracy: {len(ds.train.y)} training samples make no full batch of "
                        f"{bs}; lower [accuracy] batch_size or raise n_train")
    net = ctx.build(ds.input_shape, ds.num_classes)
    a.compile_train(net, cfg.lr, cfg.momentum, cfg.optimizer, cfg.weight_decay)
    curve: list[EvalPoint] = []
    epoch_losses: list[float] = []
    scores: dict[str, float] = {}
    wall, done = 0.0, 0
    for epoch in range(cfg.epochs):
        ctx.progress(f"accuracy: epoch {epoch + 1}/{cfg.epochs}")
        order = epoch_order(len(ds.train.y), epoch=epoch, seed=ctx.study.seed)
        start, losses = done, []
        for end in chunk_ends(start, per_epoch, cfg.eval_every):
            idx = order[(done - start) * bs : (end - start) * bs]
            x, y = a.to_device(ds.train.x[idx]), a.labels(ds.train.y[idx])  # clock paused
            t0 = time.perf_counter()
            loss = a.fit(net, x, y, bs)
            a.synchronize()
            wall += time.perf_counter() - t0
            losses.append((loss, end - done))
            done = end
            scores = _evaluate(ctx, net, ds)  # clock paused
            curve.append(EvalPoint(round(done / per_epoch, 4), done, wall,
                                   float(next(iter(scores.values()))), float(loss)))
        epoch_losses.append(sum(v * k for v, k in losses) / per_epoch)
    headline = next(iter(scores))
    common = {"batch_size": bs, "dataset": name}
    extra = {"epochs": cfg.epochs, "n_train": per_epoch * bs, "n_test": int(len(ds.test.y)),
             "epoch_losses": epoch_losses, "eval_every": cfg.eval_every,
             "curve": [asdict(p) for p in curve]}
    out = [Measurement(metric, "fraction", value, "higher", extra=extra, **common)
           for metric, value in scores.items()]
    out.append(Measurement("train_wall_time", "s", wall, "lower", extra=extra, **common))
    if target is not None:
        out += target_measurements(curve, target, headline, **common)
    return out
