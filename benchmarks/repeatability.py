"""Benchmark: run a study twice and show, per metric, both medians, intervals and overlap.

    .venv/bin/python benchmarks/repeatability.py [--preset quick]

Intervals that fail to overlap between two identical runs mean the 95% intervals understate the
real run-to-run noise on this machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _run(preset: str, out: Path) -> dict[tuple, dict]:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "twinbench.cli", "run", "--preset", preset, "--out",
                    str(out)], check=False, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    recs = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    other = max((r["env"].get("other_cpu_load") or 0.0 for r in recs), default=0.0)
    print(f"run {out.name}: {wall:.0f} s wall, other processes took up to {other:.0%} of the CPU "
          "during a job")
    return {(r["framework"], r["scenario"], r["metric"]): r for r in recs
            if r["status"] == "ok" and r["ci95"] and r["value"] is not None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="quick")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="tb-repeat-"))
    a, b = _run(args.preset, root / "a"), _run(args.preset, root / "b")
    overlap = 0
    keys = sorted(set(a) & set(b))
    print(f"{'framework':11} {'scenario':9} {'metric':18} {'run A [95% CI]':>30} "
          f"{'run B [95% CI]':>30}  overlap")
    for k in keys:
        ra, rb = a[k], b[k]
        ok = ra["ci95"][0] <= rb["ci95"][1] and rb["ci95"][0] <= ra["ci95"][1]
        overlap += ok
        fa = f"{ra['value']:.4g} [{ra['ci95'][0]:.4g}, {ra['ci95'][1]:.4g}]"
        fb = f"{rb['value']:.4g} [{rb['ci95'][0]:.4g}, {rb['ci95'][1]:.4g}]"
        print(f"{k[0]:11} {k[1]:9} {k[2]:18} {fa:>30} {fb:>30}  {'yes' if ok else 'NO'}")
    print(f"{overlap}/{len(keys)} intervals overlap between the two runs ({root})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
