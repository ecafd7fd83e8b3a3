"""Benchmark: DETR twins on the box scenes — training throughput, inference throughput, and the
COCO mAP each style reaches in the same wall-clock training budget.

    .venv/bin/python benchmarks/detection.py [--frameworks pytorch,lightning,keras-tf]
        [--size small] [--budget-s 60] [--batch 32] [--threads 1]
        [--optimizer adamw] [--lr 5e-4] [--weight-decay 1e-4]

Each style runs in its own worker process (fairness rule 1) with the same twin, the same
canonical initial weights, the same data order (``epoch_order``) and the same optimizer: by
default the ``detection`` preset's AdamW (``twinbench.study.PRESETS``), every hyper-parameter
passed explicitly on both sides (``frameworks/base.py``).
Training goes through the adapter's idiomatic ``fit`` in chunks of ``--chunk`` batches until
``--budget-s`` seconds have passed (first chunk included: a user waits for tracing too), so a
faster framework trains more steps in the budget; the training throughput is taken over the
chunks after the first (steady state). Inference: ``predict`` over the test scenes at batch 64,
median of 3 passes after a warm-up. mAP is pycocotools' (``twinbench.tasks.detection_metrics``).

Why AdamW: under plain SGD + momentum 0.9 DETR stays at the "same box for every image" plateau
for many epochs at lr 0.05 and reaches mAP@0.5 ~0.005 in a minute at lr 0.01 (seen here);
``--optimizer sgd --lr 0.01 --weight-decay 0`` reproduces that. DETR is slow to converge (its
paper trains 500 epochs with AdamW), so a budget of minutes gives a modest mAP on every side;
the point is the comparison at equal budget, not the absolute value.
Figures are only as quiet as the machine: run it on an idle one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from twinbench.frameworks.base import ADAMW_BETAS, ADAMW_EPS, OPTIMIZERS, check_optimizer
from twinbench.study import PRESETS

_ADAPTERS = {"pytorch": "twinbench.frameworks.pytorch.adapter:TorchAdapter",
             "lightning": "twinbench.frameworks.lightning.adapter:LightningAdapter",
             "keras-tf": "twinbench.frameworks.keras.adapter:KerasAdapter",
             "keras-jax": "twinbench.frameworks.keras.adapter:KerasAdapter",
             "keras-torch": "twinbench.frameworks.keras.adapter:KerasAdapter"}
_BACKEND = {"keras-tf": "tensorflow", "keras-jax": "jax", "keras-torch": "torch"}


def worker(fw: str, args: argparse.Namespace) -> dict:
    import importlib

    from twinbench.tasks.datasets import epoch_order
    from twinbench.tasks.detection_data import load_detection_dataset
    from twinbench.tasks.detection_metrics import evaluate_outputs
    from twinbench.zoo import MODELS
    from twinbench.zoo.init import canonical_init, shapes_of

    module, cls = _ADAPTERS[fw].split(":")
    a = getattr(importlib.import_module(module), cls)(threads=args.threads, seed=0)
    ds = load_detection_dataset("shapes", image_size=args.image_size, n_train=args.n_train,
                                n_test=args.n_test, seed=0)
    net = a.build("detr", MODELS["detr"].sizes[args.size], ds.input_shape, ds.num_classes)
    a.set_weights(net, canonical_init(shapes_of(a.get_weights(net)), seed=0))
    a.compile_train(net, args.lr, 0.9, args.optimizer, args.weight_decay)
    bs, chunk = args.batch, args.chunk * args.batch
    per_epoch = (len(ds.train.y) // bs) * bs
    chunks, losses, steps, epoch, pos = [], [], 0, 0, 0
    order = epoch_order(len(ds.train.y), epoch=0, seed=0)[:per_epoch]
    t_start = time.perf_counter()
    while time.perf_counter() - t_start < args.budget_s:
        if pos + chunk > per_epoch:
            epoch, pos = epoch + 1, 0
            order = epoch_order(len(ds.train.y), epoch=epoch, seed=0)[:per_epoch]
        idx = order[pos : pos + chunk]
        pos += chunk
        x, y = a.to_device(ds.train.x[idx]), a.labels(ds.train.y[idx])
        t0 = time.perf_counter()
        losses.append(a.fit(net, x, y, bs))
        a.synchronize()
        chunks.append(time.perf_counter() - t0)
        steps += len(idx) // bs
    wall = time.perf_counter() - t_start
    steady = chunks[1:] or chunks
    xt = a.to_device(ds.test.x)

    def predict() -> np.ndarray:
        return np.concatenate([a.predict(net, xt[i : i + 64]) for i in range(0, len(xt), 64)])

    predict()  # warm-up (tracing)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        out = predict()
        times.append(time.perf_counter() - t0)
    scores = evaluate_outputs(out, ds.test.y, ds.num_classes)
    return {"steps": steps, "epochs": steps * bs / per_epoch, "train_wall_s": wall,
            "first_chunk_s": chunks[0], "train_sps": chunk * len(steady) / sum(steady),
            "infer_sps": len(ds.test.y) / float(np.median(times)), "last_loss": losses[-1],
            **scores}


def _optimizer(args: argparse.Namespace) -> str:
    if args.optimizer == "sgd":
        return f"SGD lr {args.lr:g} momentum 0.9"
    (b1, b2), eps = ADAMW_BETAS, ADAMW_EPS
    return (f"AdamW lr {args.lr:g} betas ({b1}, {b2}) eps {eps:g} "
            f"weight decay {args.weight_decay:g}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frameworks", default="pytorch,lightning,keras-tf")
    ap.add_argument("--size", default="small")
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--n-train", type=int, default=1024)
    ap.add_argument("--n-test", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--chunk", type=int, default=8, help="batches per fit() call")
    ap.add_argument("--budget-s", type=float, default=60.0)
    preset = PRESETS["detection"]["accuracy"]
    ap.add_argument("--optimizer", choices=OPTIMIZERS, default=preset["optimizer"])
    ap.add_argument("--lr", type=float, default=preset["lr"])
    ap.add_argument("--weight-decay", type=float, default=preset["weight_decay"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args)))
        return 0
    frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    unknown = [f for f in frameworks if f not in _ADAPTERS]
    if unknown:
        print(f"unknown framework(s) {unknown}; choose from {', '.join(_ADAPTERS)}")
        return 2
    try:
        check_optimizer(args.optimizer, args.weight_decay)
    except ValueError as exc:
        print(exc)
        return 2
    res = {}
    for fw in frameworks:
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "CUDA_VISIBLE_DEVICES": "",
               "TF_CPP_MIN_LOG_LEVEL": "2", "JAX_PLATFORMS": "cpu",
               "KERAS_BACKEND": _BACKEND.get(fw, "torch")}
        print(f"running {fw} ...", flush=True)
        cmd = [sys.executable, __file__, *sys.argv[1:], "--worker", fw]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            print(f"{fw} worker failed:\n{proc.stderr[-2000:]}")
            return 1
        res[fw] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"\nDETR-{args.size}, shapes {args.image_size}px, {args.n_train} train / {args.n_test} "
          f"test scenes, batch {args.batch}, {_optimizer(args)}, "
          f"{args.threads} thread(s), training budget {args.budget_s:g} s per style")
    head = (f"{'style':12} {'steps':>6} {'epochs':>6} {'1st fit':>8} {'train/s':>8} "
            f"{'infer/s':>8} {'loss':>6} {'mAP':>7} {'mAP@.5':>7}")
    print(head)
    for fw, r in res.items():
        print(f"{fw:12} {r['steps']:6d} {r['epochs']:6.1f} {r['first_chunk_s']:7.1f}s "
              f"{r['train_sps']:8.1f} {r['infer_sps']:8.1f} {r['last_loss']:6.3f} "
              f"{r['map']:7.4f} {r['map_50']:7.4f}")
    print("train/s: steady-state training samples/s (chunks after the first); infer/s: "
          "predict samples/s at batch 64; loss: mean of the last fit() call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
