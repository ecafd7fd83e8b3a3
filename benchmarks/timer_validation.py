"""Benchmark: twinbench's clock against each framework's own timer, side by side.

    .venv/bin/python benchmarks/timer_validation.py [--tries 3]

PyTorch forward: twinbench vs torch.utils.benchmark.Timer. Keras/TF compiled forward: twinbench
vs a plain timed loop around the same tf.function. Each in its own process; inside it the two
clocks alternate over several rounds and "diff" is the median per-round ratio minus one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tries", type=int, default=3)
    args = ap.parse_args()
    print(f"{'framework':10} {'try':>3} {'twinbench ms':>13} {'reference ms':>13} {'diff':>7}")
    for which, ref in (("torch", "torch.utils.benchmark.Timer"), ("keras", "plain loop")):
        for i in range(args.tries):
            out = subprocess.run(
                [sys.executable, "-m", "twinbench.measure.validate", which], capture_output=True,
                text=True, check=True,
                env={"OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin",
                     "CUDA_VISIBLE_DEVICES": ""})
            r = json.loads(out.stdout.strip().splitlines()[-1])
            diff = r["ratio"] - 1
            print(f"{which:10} {i + 1:>3} {r['twinbench_ms']:13.4f} {r['reference_ms']:13.4f} "
                  f"{diff:+7.1%}   (reference: {ref})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
