"""Benchmark: wall time of the quick study, and the harness's own overhead.

    .venv/bin/python benchmarks/quick_study.py [--out DIR] [--preset quick]

Prints (1) the end-to-end wall time of `twinbench run --preset quick` (cold imports included,
the issue's budget is 3 minutes on 2 cores), (2) per job: worker wall time against the time spent
inside timed samples, and (3) the timer's own cost per measured sample, from a no-op.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from twinbench.measure.timer import repeat


def timer_overhead(n: int = 20000) -> float:
    """Seconds the harness adds to one timed sample (perf_counter pair + sync call)."""
    t = repeat(lambda: None, lambda: None, warmup=100, samples=n)
    return sorted(t.samples)[n // 2]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="tb-bench-")) / args.preset
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "twinbench.cli", "run", "--preset", args.preset,
                           "--out", str(out)], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    print(f"quick study: exit {proc.returncode}, wall time {wall:.1f} s (budget 180 s)")
    if proc.returncode not in (0, 1):
        print(proc.stderr[-2000:])
        return 1
    with sqlite3.connect(out / "results.sqlite") as db:
        jobs = dict(db.execute("SELECT job_id, wall_s FROM jobs"))
    recs = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    print(f"{'job':52} {'wall s':>7} {'timed s':>8} {'share':>6}")
    for job_id, job_wall in jobs.items():
        timed = 0.0
        for r in recs:
            if r["job_id"] == job_id and r["metric"] == "step_time":
                steps = r["extra"]["steps_per_sample"]
                timed += sum(r["samples"] + r["warmups"]) * steps / 1e3
        share = f"{timed / job_wall:6.0%}" if timed else "     -"
        print(f"{job_id:52} {job_wall:7.1f} {timed:8.2f} {share}")
    ov = timer_overhead()
    print(f"timer overhead per timed sample: {ov * 1e6:.2f} µs "
          f"(a train sample of the quick study lasts ~{_sample_ms(recs):.0f} ms)")
    return 0


def _sample_ms(recs: list[dict]) -> float:
    vals = [r["value"] * r["extra"]["steps_per_sample"] for r in recs
            if r["metric"] == "step_time" and r["value"]]
    return min(vals) if vals else float("nan")


if __name__ == "__main__":
    sys.exit(main())
