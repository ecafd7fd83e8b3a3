"""accuracy: the eval metric after a fixed epoch budget, and time-to-target.

Both twins start from the same weights and see the same batches in the same order; the metric is
computed by one shared numpy implementation from each framework's logits (fairness rule 6).

Training is ONE call of the framework's own ``fit`` over every epoch, as a user writes it
(``fit(epochs=N)`` with a callback to evaluate): the epochs' batches, each epoch in its own
seeded order (the same on every side), are laid end to end, and the headline metric
(``evaluate``'s first key) is scored on the test split from the adapter's ``on_step`` hook after
every epoch (and every ``eval_every`` steps when set). The clock stops while the model is
evaluated, so ``train_wall_time`` counts training only — the fit call's own fixed cost included,
once, as a user pays it. ``time_to_target`` / ``steps_to_target`` are the train seconds and
optimizer steps until the first evaluation at or above the target; "not reached" within the
budget is a result too, recorded as ``value: null`` with ``extra.reached = false``
(docs/results-schema.md). Data beyond ``MAX_FIT_BYTES`` is split over several fit calls (the
record says how many). A tuned job trains through the mode's first tuned path.

Read steps with care: at these learning rates training is chaotic, so float32 rounding alone (a
different kernel or thread count) moves the curve within an epoch. Seen here: the small ResNet on
digits, PyTorch with 1 vs 2 threads, losses 30% apart after 44 steps; the twins' curves differ
as much. A gap in ``steps_to_target`` between frameworks can be that noise; per step, the wall
time is the framework's.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from twinbench.errors import UserError
from twinbench.scenarios.base import Context, Measurement, on_path
from twinbench.scenarios.spec import STRICT, OptimizerFields, Scenario, check_dataset
from twinbench.tasks.datasets import epoch_order


class AccuracyConfig(OptimizerFields):
    """[accuracy]: a fixed epoch budget on the task's real (or learnable) set."""

    model_config = STRICT
    dataset: str | None = Field(None, description="default: the task's real (or learnable) set")
    _check_dataset = field_validator("dataset")(check_dataset)
    epochs: int = Field(3, gt=0)
    batch_size: int = Field(32, gt=0)
    n_train: int | None = Field(None, gt=0)
    target: float | None = Field(None, gt=0, le=1, description="headline metric for "
                                 "time-to-target; default: the task's target")
    eval_every: int | None = Field(None, gt=0, description="also evaluate every N steps "
                                   "(one fit call per chunk); default: once per epoch")


SCENARIO = Scenario(
    "accuracy", "eval metric after a fixed epoch budget, its wall time, and time-to-target",
    AccuracyConfig, moded=True, default=True,
    # a reached accuracy belongs to one training run: replicates differ in their seed, so a
    # "significant" difference has survived seed-to-seed variation (timed scenarios keep the
    # study's seed: their replicates differ in the process, not in the work)
    seed_per_process=True)

EVAL_BATCH = 256
MAX_FIT_BYTES = 4 * 2**30  # the end-to-end epochs of one fit call, as float32 input


@dataclass(frozen=True)
class EvalPoint:
    """One evaluation on the test split, after ``steps`` optimizer steps."""

    epoch: float  # epochs done (a fraction when eval_every splits an epoch)
    steps: int
    train_s: float  # training wall time so far, evaluations excluded
    metric: float  # the headline metric on the test split


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


def _shifted(ev: _Evaluator, offset: int, steps: int) -> None:
    """A fit call's step count as the study's global one (earlier calls' steps added)."""
    ev(offset + steps)


def _eval_points(per_epoch: int, epochs: int, eval_every: int | None) -> list[int]:
    """The global step counts after which the model is evaluated."""
    return [e for ep in range(epochs) for e in chunk_ends(ep * per_epoch, per_epoch, eval_every)]


class _Evaluator:
    """The ``on_step`` hook of the accuracy fit: evaluates at each due step (the first mark at or
    after it: Keras' steps_per_execution reports blocks), with the training clock stopped."""

    def __init__(self, ctx: Context, net: Any, ds: Any, due: list[int], per_epoch: int) -> None:
        self.ctx, self.net, self.ds, self.per_epoch = ctx, net, ds, per_epoch
        self.due: list[int] = list(due)
        self.curve: list[EvalPoint] = []
        self.scores: dict[str, float] = {}
        self.t0 = self.paused = self.before = 0.0  # before: train seconds of earlier fit calls

    def start(self) -> None:
        self.t0, self.paused = time.perf_counter(), 0.0

    def stop(self) -> None:
        """The end of a fit call: its train seconds join those before it."""
        self.before = self.train_s()

    def train_s(self) -> float:
        return self.before + time.perf_counter() - self.t0 - self.paused

    def __call__(self, steps: int) -> None:
        if not self.due or steps < self.due[0]:
            return
        while self.due and self.due[0] <= steps:
            self.due.pop(0)
        self.ctx.adapter.synchronize()
        t = time.perf_counter()
        train_s = self.train_s()
        self.scores = _evaluate(self.ctx, self.net, self.ds)
        self.curve.append(EvalPoint(round(steps / self.per_epoch, 4), steps, train_s,
                                    float(next(iter(self.scores.values())))))
        self.ctx.progress(f"accuracy: step {steps}, {next(iter(self.scores))} "
                          f"{self.curve[-1].metric:.3f}")
        self.paused += time.perf_counter() - t


def run(ctx: Context) -> list[Measurement]:
    cfg = ctx.section(AccuracyConfig)
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
    path = ctx.primary_path("train", ds.input_shape)
    a.compile_train(net, cfg.lr, cfg.momentum, cfg.optimizer, cfg.weight_decay, path=path)
    orders = [epoch_order(len(ds.train.y), epoch=e, seed=ctx.study.seed)[: per_epoch * bs]
              for e in range(cfg.epochs)]
    epoch_bytes = per_epoch * bs * int(np.prod(ds.train.x.shape[1:])) * 4
    per_call = max(1, min(cfg.epochs, MAX_FIT_BYTES // max(epoch_bytes, 1)))
    ev = _Evaluator(ctx, net, ds, _eval_points(per_epoch, cfg.epochs, cfg.eval_every), per_epoch)
    losses, calls = [], 0
    for first in range(0, cfg.epochs, per_call):
        idx = np.concatenate(orders[first : first + per_call])
        x, y = a.to_device(ds.train.x[idx]), a.labels(ds.train.y[idx])  # before the clock
        ctx.progress(f"accuracy: epochs {first + 1}-{first + len(idx) // (per_epoch * bs)} "
                     f"of {cfg.epochs} in one fit call ({path.id})")
        offset = first * per_epoch
        ev.start()
        losses.append(a.fit(net, x, y, bs, on_step=partial(_shifted, ev, offset)))
        a.synchronize()
        ev.stop()
        calls += 1
    wall, curve, scores = ev.before, ev.curve, ev.scores
    headline = next(iter(scores))
    common: dict[str, Any] = {"batch_size": bs, "dataset": name}
    extra = {"epochs": cfg.epochs, "n_train": per_epoch * bs, "n_test": int(len(ds.test.y)),
             "fit_calls": calls, "fit_losses": losses, "eval_every": cfg.eval_every,
             "seed": ctx.study.seed,
             "curve": [asdict(p) for p in curve]}
    out = [Measurement(metric, "fraction", value, "higher", extra=extra, **common)
           for metric, value in scores.items()]
    out.append(Measurement("train_wall_time", "s", wall, "lower", extra=extra, **common))
    if target is not None:
        out += target_measurements(curve, target, headline, **common)
    return on_path(out, path, "accuracy", a.knobs(net))
