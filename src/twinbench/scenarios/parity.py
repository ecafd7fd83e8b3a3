"""parity: prove a twin computes the same function as the PyTorch reference (fairness rule 3).

The reference job (PyTorch) writes weights in the canonical layout, a batch, its eval-mode
outputs and the losses of a few SGD steps. Every other framework's job loads the same weights,
runs the same batch, and compares: forward outputs within 1e-4 (max abs), losses within 1e-3
(relative). BatchNorm running statistics are randomised first so eval mode is not trivial.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from twinbench.plan import REFERENCE
from twinbench.scenarios.base import Context, Measurement

FORWARD_TOL = 1e-4
LOSS_RTOL = 1e-3
STEPS = 3
BATCH = 8


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
    a.compile_train(net, cfg.lr, cfg.momentum)
    xd, yd = a.to_device(x), a.labels(y)
    losses = np.array([a.train_step(net, xd, yd) for _ in range(STEPS)])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=x, y=y, out=out, losses=losses,
             **{f"w:{k}": v for k, v in w.items()},
             **{f"size:{k}": v for k, v in ctx.data_sizes.items()})  # e.g. the text vocab
    return [Measurement("reference_written", "bool", 1.0, None,
                        extra={"path": str(path), "params": int(sum(v.size for v in w.values()))})]


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
    net = a.build(ctx.job.model, ctx.size, x.shape[1:], int(ref["out"].shape[-1]))
    a.set_weights(net, w)
    out = a.predict(net, a.to_device(x))
    fwd = float(np.max(np.abs(out - ref["out"])))
    a.compile_train(net, cfg.lr, cfg.momentum)
    xd, yd = a.to_device(x), a.labels(y)
    losses = np.array([a.train_step(net, xd, yd) for _ in range(STEPS)])
    rel = float(np.max(np.abs(losses - ref["losses"]) / np.maximum(np.abs(ref["losses"]), 1e-12)))
    return [
        Measurement("forward_max_abs_diff", "abs", fwd, "lower",
                    extra={"tolerance": FORWARD_TOL, "passed": fwd <= FORWARD_TOL,
                           "against": REFERENCE}),
        Measurement("loss_max_rel_diff", "rel", rel, "lower",
                    extra={"tolerance": LOSS_RTOL, "passed": rel <= LOSS_RTOL, "steps": STEPS,
                           "losses": losses.tolist(), "reference_losses": ref["losses"].tolist(),
                           "against": REFERENCE}),
    ]
