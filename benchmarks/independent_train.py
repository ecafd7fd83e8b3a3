"""Benchmark: twinbench's steady-state training figure against an independent measurement.

    .venv/bin/python benchmarks/independent_train.py [--size resnet18] [--batch 64]
        [--threads 2] [--steps 20] [--frameworks pytorch,keras-tf,keras-jax,keras-torch]

For each framework, in a process of its own: the twin (zoo model) built straight from the
framework's own API — no twinbench adapter, scenario or timer — trained the way a user times
it: PyTorch, a plain loop timed step by step; Keras, ``fit`` over all steps in ONE call with a
batch-end callback that records ``time.perf_counter()`` (the TimeHistory pattern of the
TensorFlow model garden). Warm-up steps (tracing, compilation) are excluded; the steady figure
is the median step. Then ``twinbench run`` measures the same configuration (synthetic data,
the same batch, threads and size, out-of-box) and the table prints both, their ratio, and
whether twinbench lands within 10% of the independent figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"}
BACKEND = {"keras-tf": "tensorflow", "keras-jax": "jax", "keras-torch": "torch"}


def independent(fw: str, size: str, batch: int, threads: int, steps: int, warm: int) -> dict:
    """Steady seconds per step, measured without any twinbench measurement code."""
    from twinbench.zoo import MODELS

    widths = MODELS["resnet"].sizes[size]
    rng = np.random.default_rng(0)
    n = (warm + steps) * batch
    x = rng.standard_normal((n, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, 10, n)
    if fw == "pytorch":
        import torch
        import torch.nn.functional as F

        from twinbench.zoo.pytorch.resnet import ResNet

        torch.set_num_threads(threads)
        net = ResNet(num_classes=10, **widths)
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        xt, yt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), torch.from_numpy(y)
        times = []
        net.train()
        for i in range(warm + steps):
            t0 = time.perf_counter()
            opt.zero_grad()
            F.cross_entropy(net(xt[i * batch:(i + 1) * batch]), yt[i * batch:(i + 1) * batch]) \
                .backward()
            opt.step()
            times.append(time.perf_counter() - t0)
        return {"step_s": float(np.median(times[warm:])), "steps": steps}
    import keras

    from twinbench.zoo.keras.resnet import resnet

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    elif keras.backend.backend() == "torch":
        import torch

        torch.set_num_threads(threads)
    net = resnet((32, 32, 3), num_classes=10, **widths)
    net.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    class TimeHistory(keras.callbacks.Callback):
        def on_train_begin(self, logs: dict | None = None) -> None:
            self.ends = [time.perf_counter()]

        def on_train_batch_end(self, b: int, logs: dict | None = None) -> None:
            self.ends.append(time.perf_counter())

    cb = TimeHistory()
    net.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0, callbacks=[cb])
    gaps = np.diff(cb.ends)
    return {"step_s": float(np.median(gaps[warm:])), "steps": steps}


def twinbench_figure(fws: list[str], size: str, batch: int, threads: int, out: Path,
                     ) -> dict[str, dict[str, dict]]:
    """framework -> {metric: record} of twinbench's train records on the best path."""
    study = out / "study.toml"
    study.write_text(f'name = "independent-check"\nframeworks = {json.dumps(fws)}\n'
                     f'scenarios = ["train"]\nsize = "{size}"\nthreads = {threads}\n'
                     f'parity = false\nceiling = false\n[train]\nbatch_size = {batch}\n'
                     'steps = 4\nsamples = 5\nwarmup = 1\n')
    proc = subprocess.run([sys.executable, "-m", "twinbench.cli", "run", str(study), "--out",
                           str(out / "run")], capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"twinbench run failed:\n{proc.stderr[-2000:]}")
    recs = [json.loads(line) for line in (out / "run" / "results.jsonl").read_text().splitlines()]
    by: dict[str, dict[str, dict]] = {}
    for r in recs:
        if r["scenario"] == "train" and r["extra"].get("path_role", "best") == "best":
            by.setdefault(r["framework"], {})[r["metric"]] = r
    return by


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="resnet18")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warm", type=int, default=3)
    ap.add_argument("--frameworks", default="pytorch,keras-tf,keras-jax,keras-torch")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(independent(args.worker, args.size, args.batch, args.threads,
                                     args.steps, args.warm)))
        return 0
    fws = args.frameworks.split(",")
    ind = {}
    for fw in fws:
        env = {**os.environ, **ENV, "KERAS_BACKEND": BACKEND.get(fw, "torch"),
               "OMP_NUM_THREADS": str(args.threads)}
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--worker", fw, "--size", args.size,
                               "--batch", str(args.batch), "--threads", str(args.threads),
                               "--steps", str(args.steps), "--warm", str(args.warm)],
                              capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            print(f"{fw}: independent run failed: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        ind[fw] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{fw}: independent {args.batch / ind[fw]['step_s']:.1f} img/s "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    tb = twinbench_figure(fws, args.size, args.batch, args.threads,
                          Path(tempfile.mkdtemp(prefix="tb-indep-")))
    print(f"\nResNet ({args.size}) training, batch {args.batch}, {args.threads} threads, "
          "synthetic CIFAR 32x32, fp32, out-of-box")
    print(f"{'framework':12} {'independent img/s':>18} {'twinbench img/s [95% CI]':>28} "
          f"{'tb/ind':>7}  within 10%")
    for fw in fws:
        if fw not in ind or fw not in tb:
            print(f"{fw:12} missing")
            continue
        i_thr = args.batch / ind[fw]["step_s"]
        r, over = tb[fw]["step_time"], tb[fw].get("per_call_overhead", {}).get("value")
        t_thr = args.batch / (r["value"] / 1e3)
        ci = r["ci95"] and [args.batch / (c / 1e3) for c in reversed(r["ci95"])]
        ci_s = f"[{ci[0]:.1f}, {ci[1]:.1f}]" if ci else ""
        ratio = t_thr / i_thr
        print(f"{fw:12} {i_thr:18.1f} {t_thr:>13.1f} {ci_s:>14} {ratio:7.3f}  "
              f"{'yes' if abs(ratio - 1) <= 0.10 else 'NO'}  (via {r['extra']['call_path']}; "
              f"per fit call {over if over is None else f'{over:.2f} s'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
