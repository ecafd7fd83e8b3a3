"""Benchmark: the web table for the image-classification twins, in headless Chromium.

    .venv/bin/python benchmarks/web.py [--out DIR] [--size small] [--models resnet,mobilenet]

Runs ``twinbench run --preset web`` (parity first, then export-web in the keras-tf and pytorch
workers), prints the web table and wall time, then per model the three questions a web developer
asks — bytes a first visit downloads (gzip), time until the first prediction (load + first
inference), steady p50 — one line per route that ran. Figures come from this run only; on a
shared or loaded machine they are noisy (the records carry the other-CPU-load they saw).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from rich.console import Console

from twinbench.report.web import print_web
from twinbench.results.export import read_jsonl


def summary(out: Path) -> None:
    recs = [r for r in read_jsonl(out / "results.jsonl") if r.scenario == "export-web"]
    by: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)
    load: dict[str, float] = {}
    for r in recs:
        if r.variant is None or r.value is None:
            continue
        variant, q = r.variant, r.metric
        by[(r.model, r.framework, variant)][q] = r.value
        if q == "runtime_bytes":
            by[(r.model, r.framework, variant)]["gz"] = r.extra["gzip_bytes"]
        if q == "model_bytes":
            by[(r.model, r.framework, variant)]["model_gz"] = r.extra["gzip_bytes"]
        load[r.framework] = max(load.get(r.framework, 0.0), r.env.get("other_cpu_load") or 0.0)
    print(f"\n{'model':10} {'route':16} {'from':9} {'download gz':>12} {'to 1st pred':>12} "
          f"{'p50':>9} {'max|Δ|':>8}")
    for (model, fw, variant), q in sorted(by.items()):
        if "latency_p50" not in q:
            continue
        gz = (q["gz"] + q["model_gz"]) / 2**20
        first = q["load_time"] + q["first_inference"]
        print(f"{model:10} {variant:16} {fw:9} {gz:9.2f} MiB {first:9.0f} ms "
              f"{q['latency_p50']:6.2f} ms {q['output_max_abs_diff']:8.1e}")
    print("other processes' CPU load seen during the jobs: "
          + ", ".join(f"{fw} {v:.0%}" for fw, v in load.items()))
    for r in read_jsonl(out / "results.jsonl"):
        if r.status == "failed" and r.metric == "job":  # whole jobs (skipped, crashed)
            print(f"not measured: {r.job_id}: {(r.error or '').splitlines()[0]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--size", default=None, help="model size (default: the preset's, small)")
    ap.add_argument("--models", default=None, help="comma list (default: resnet,mobilenet)")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="tb-web-")) / "web"
    cmd = [sys.executable, "-m", "twinbench.cli", "run", "--preset", "web", "--out", str(out)]
    cmd += ["--size", args.size] if args.size else []
    cmd += ["--model", args.models] if args.models else []
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    print(f"web study: exit {proc.returncode}, wall time {wall:.0f} s, results in {out}")
    if not (out / "results.jsonl").exists():
        print(proc.stdout[-3000:] + proc.stderr[-3000:])
        return 1
    print_web(list(read_jsonl(out / "results.jsonl")), Console(width=140))
    summary(out)
    if proc.returncode != 0:  # the table above is partial: say why, and fail like the study
        print((proc.stderr.strip() or proc.stdout.strip() or "no output")[-2000:])
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
