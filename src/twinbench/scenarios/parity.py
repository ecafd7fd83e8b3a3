"""parity: prove a twin computes the same function as the PyTorch reference (fairness rule 3).

The reference job (PyTorch) writes weights in the canonical layout, a batch, its eval-mode
outputs and the losses of a few optimizer steps (the study's ``[train]`` optimizer: SGD or
AdamW). Every other framework's job loads the same weights, runs the same batch, and compares:
forward outputs within 1e-4 (max abs), losses within 1e-3 (relative) — after the first step,
within FLOOR_FACTOR times the reference's own float32 noise floor where that is larger (see
below). BatchNorm running statistics are randomised first so eval mode is not trivial.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from twinbench.plan import REFERENCE
from twinbench.scenarios.base import Context, Measurement

FORWARD_TOL = 1e-4
LOSS_RTOL = 1e-3
STEPS = 3
BATCH = 8


# Training can be chaotic in float32 (a ReLU6 input a rounding error from 0 takes the other
# branch, a BatchNorm over a near-constant channel amplifies it): then the reference differs
# from ITSELF, started one ulp away, as much as a twin does. Later steps may differ by up to
# FLOOR_FACTOR times that measured noise floor (never less than LOSS_RTOL); the first step,
# from identical weights, must always meet LOSS_RTOL.
FLOOR_FACTOR = 3.0


def _rel(a: np.ndarray, ref: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.abs(np.asarray(a) - ref) / np.maximum(np.abs(ref), 1e-12)
    return out


def loss_verdict(rels: np.ndarray, floor: float) -> tuple[bool, float]:
    """(passed, the tolerance that decided) for per-step relative loss differences."""
    if rels[0] > LOSS_RTOL:  # same weights, same batch: no room for chaos yet
        return False, LOSS_RTOL
    tol = max(LOSS_RTOL, FLOOR_FACTOR * floor)
    return bool(rels.max() <= tol), tol


def nudged(w: dict[str, np.ndarray], rng: np.random.Generator | None = None,
           ) -> dict[str, np.ndarray]:
    """Trainable float weights moved by one float32 ulp — up, or (given ``rng``) each element up
    or down at random; zeros and BatchNorm statistics kept. The reference run from such weights
    measures how far float32 rounding alone moves a training trajectory (its noise floor)."""
    keep = ("running_mean", "running_var", "num_batches_tracked")

    def move(v: np.ndarray) -> np.ndarray:
        to = np.float32(np.inf) if rng is None else \
            rng.choice(np.array([-np.inf, np.inf], np.float32), v.shape)
        return np.where(v != 0, np.nextafter(v, to), v).astype(v.dtype)

    return {k: move(v) if v.dtype == np.float32 and not k.endswith(keep) else v
            for k, v in w.items()}


class ParityError(RuntimeError):
    """The reference data a parity check needs is missing (its reference job failed)."""


def reference_path(ctx: Context) -> Path:
    return ctx.workdir / "parity" / f"{ctx.job.task}__{ctx.job.model}.npz"


def _reference(ctx: Context, path: Path) -> list[Measurement]:
    cfg = ctx.study.train
    ds = ctx.dataset(n_train=64, n_test=BATCH)
    a = ctx.adapter
    net = ctx.build(ds.input_shape, ds.num_classes)
    w = a.get_weights(net)
    rng = np.random.default_rng(ctx.study.seed + 1)
    for k in w:  # non-trivial BatchNorm statistics
        if k.endswith("running_mean"):
            w[k] = rng.normal(0, 0.2, w[k].shape).astype(np.float32)
        elif k.endswith("running_var"):
            w[k] = rng.uniform(0.5, 1.5, w[k].shape).astype(np.float32)
    a.set_weights(net, w)
    x, y = ds.train.x[:BATCH], ds.train.y[:BATCH]
    out = a.predict(net, a.to_device(x))
    a.compile_train(net, cfg.lr, cfg.momentum, cfg.optimizer, cfg.weight_decay)
    xd, yd = a.to_device(x), a.labels(y)
    losses = np.array([a.train_step(net, xd, yd) for _ in range(STEPS)])
    # the reference against itself: the same steps from weights one float32 ulp away
    a.set_weights(net, nudged(w))
    a.compile_train(net, cfg.lr, cfg.momentum, cfg.optimizer, cfg.weight_decay)
    again = np.array([a.train_step(net, xd, yd) for _ in range(STEPS)])
    floor = float(_rel(again, losses)[1:].max(initial=0.0))
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {"x": x, "y": y, "out": out, "losses": losses,
                              "num_classes": ds.num_classes, "noise_floor": floor,
                              **{f"w:{k}": v for k, v in w.items()},
                              **{f"size:{k}": v for k, v in ctx.data_sizes.items()}}  # vocab
    np.savez(path, **arrays)
    return [Measurement("reference_written", "bool", 1.0, None,
                        extra={"path": str(path), "params": int(sum(v.size for v in w.values())),
                               "noise_floor": floor})]


def run(ctx: Context) -> list[Measurement]:
    path = reference_path(ctx)
    if ctx.job.framework == REFERENCE:
        return _reference(ctx, path)
    if not path.exists():
        raise ParityError(f"no parity reference at {path}: the {REFERENCE} reference job failed")
    ref = np.load(path)
    ctx.data_sizes.update({k[5:]: int(ref[k]) for k in ref.files if k.startswith("size:")})
    w = {k[2:]: ref[k] for k in ref.files if k.startswith("w:")}
    cfg = ctx.study.train
    a = ctx.adapter
    x, y = ref["x"], ref["y"]
    # outputs are not always (N, num_classes): detection's are (N, queries, classes + 1 + 4)
    ncls = int(ref["num_classes"]) if "num_classes" in ref.files else int(ref["out"].shape[-1])
    net = a.build(ctx.job.model, ctx.size, x.shape[1:], ncls)
    a.set_weights(net, w)
    out = a.predict(net, a.to_device(x))
    fwd = float(np.max(np.abs(out - ref["out"])))
    a.compile_train(net, cfg.lr, cfg.momentum, cfg.optimizer, cfg.weight_decay)
    xd, yd = a.to_device(x), a.labels(y)
    losses = np.array([a.train_step(net, xd, yd) for _ in range(STEPS)])
    rels = _rel(losses, ref["losses"])
    floor = float(ref["noise_floor"]) if "noise_floor" in ref.files else 0.0
    passed, tol = loss_verdict(rels, floor)
    rel = float(rels.max())
    return [
        Measurement("forward_max_abs_diff", "abs", fwd, "lower",
                    extra={"tolerance": FORWARD_TOL, "passed": fwd <= FORWARD_TOL,
                           "against": REFERENCE}),
        Measurement("loss_max_rel_diff", "rel", rel, "lower",
                    extra={"tolerance": tol, "passed": passed,
                           "first_step_tolerance": LOSS_RTOL, "reference_noise_floor": floor,
                           "per_step": rels.tolist(), "steps": STEPS,
                           "optimizer": cfg.optimizer,
                           "losses": losses.tolist(), "reference_losses": ref["losses"].tolist(),
                           "against": REFERENCE}),
    ]
