"""Benchmark: what Lightning's Trainer adds to the same training, per fit() call and per step.

    .venv/bin/python benchmarks/lightning_overhead.py [--model resnet] [--size tiny]
        [--batch 16] [--threads 1] [--repeats 7]

Runs the PyTorch and the Lightning adapter, each in its own worker process (fairness rule 1), on
the same twin, weights and batches. For k = 1, 4, 16 optimizer steps it times one ``fit`` call
(median of ``repeats``, after warm-up), then fits ``time = fixed + k * per_step`` by least
squares. The difference of the ``fixed`` terms is what each extra ``Trainer``/``fit`` costs a
Lightning user; the difference of ``per_step`` is Lightning's per-batch overhead. It also times
building a ``Trainer`` alone. Figures are only as quiet as the machine: run it on an idle one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

KS = (1, 4, 16)


def worker(fw: str, model: str, size_name: str, batch: int, threads: int, repeats: int) -> dict:
    from twinbench.zoo import MODELS
    from twinbench.zoo.init import canonical_init, shapes_of

    if fw == "pytorch":
        from twinbench.frameworks.pytorch.adapter import TorchAdapter as Adapter
    else:
        from twinbench.frameworks.lightning.adapter import LightningAdapter as Adapter
    a = Adapter(threads=threads, seed=0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((max(KS) * batch, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, 10, len(x))
    net = a.build(model, MODELS[model].sizes[size_name], x.shape[1:], 10)
    a.set_weights(net, canonical_init(shapes_of(a.get_weights(net)), seed=0))
    a.compile_train(net, 0.01, 0.9)
    xd, yd = a.to_device(x), a.labels(y)
    out: dict = {"fit_s": {}}
    for k in KS:
        n = k * batch
        a.fit(net, xd[:n], yd[:n], batch)  # warm-up
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            a.fit(net, xd[:n], yd[:n], batch)
            a.synchronize()
            ts.append(time.perf_counter() - t0)
        out["fit_s"][k] = float(np.median(ts))
    if fw == "lightning":
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            a._trainer()
            ts.append(time.perf_counter() - t0)
        out["trainer_build_s"] = float(np.median(ts))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet")
    ap.add_argument("--size", default="tiny")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.model, args.size, args.batch, args.threads,
                                args.repeats)))
        return 0
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "CUDA_VISIBLE_DEVICES": ""}
    res = {}
    for fw in ("pytorch", "lightning"):
        cmd = [sys.executable, __file__, "--worker", fw, "--model", args.model, "--size",
               args.size, "--batch", str(args.batch), "--threads", str(args.threads),
               "--repeats", str(args.repeats)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            print(f"{fw} worker failed:\n{proc.stderr[-2000:]}")
            return 1
        res[fw] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"{args.model}/{args.size}, batch {args.batch}, {args.threads} thread(s), "
          f"median of {args.repeats}")
    print(f"{'':10} " + " ".join(f"{f'fit k={k}':>11}" for k in KS)
          + f" {'fixed':>9} {'per step':>9}")
    fits = {}
    for fw, r in res.items():
        t = np.array([r["fit_s"][str(k)] for k in KS])
        per_step, fixed = np.polyfit(np.array(KS, float), t, 1)
        fits[fw] = (fixed, per_step)
        print(f"{fw:10} " + " ".join(f"{1e3 * v:9.1f}ms" for v in t)
              + f" {1e3 * fixed:7.1f}ms {1e3 * per_step:7.2f}ms")
    dfix = fits["lightning"][0] - fits["pytorch"][0]
    dstep = fits["lightning"][1] - fits["pytorch"][1]
    one = res["lightning"]["fit_s"]["1"] - res["pytorch"]["fit_s"]["1"]
    print(f"Lightning adds {1e3 * dfix:.1f} ms per fit() call and {1e3 * dstep:.2f} ms per step "
          f"(fitted); a one-step fit costs {1e3 * one:.1f} ms more; building a Trainer alone: "
          f"{1e3 * res['lightning']['trainer_build_s']:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
