"""Benchmark: wall time of the quick study, and the harness's own overhead.

    .venv/bin/python benchmarks/quick_study.py [--out DIR] [--preset quick]

Prints (1) the end-to-end wall time of `twinbench run --preset quick` (cold imports included),
(2) worker wall time per framework and scenario, summed over the replicate processes, with the
part every worker pays before measuring anything (its framework's import), and (3) the timer's
own cost per measured sample, from a no-op.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
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
    print(f"{args.preset} study: exit {proc.returncode}, wall time {wall:.1f} s")
    if proc.returncode not in (0, 1):
        print(proc.stderr[-2000:])
        return 1
    with sqlite3.connect(out / "results.sqlite") as db:
        jobs = [(json.loads(spec), wall) for spec, wall in
                db.execute("SELECT spec_json, wall_s FROM jobs")]
    recs = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    imports = {r["framework"]: r["value"] for r in recs
               if r["metric"] == "import_time" and r["value"] is not None}
    by: dict[tuple[str, str], list[float]] = defaultdict(list)
    for job, job_wall in jobs:  # the job as planned (plan.Job), not its id's spelling
        by[(job["framework"], job["scenario"])].append(job_wall)
    print(f"{'framework':10} {'scenario':10} {'workers':>7} {'wall s':>7} {'of it imports':>13}")
    for (fw, scenario), walls in sorted(by.items()):
        imp = imports.get(fw)
        imp_s = f"{imp * len(walls):13.1f}" if imp is not None else f"{'-':>13}"
        print(f"{fw:10} {scenario:10} {len(walls):7d} {sum(walls):7.1f} {imp_s}")
    total_imp = sum(imports.get(fw, 0.0) * len(w) for (fw, _), w in by.items())
    print(f"all workers: {sum(jobs.values()):.1f} s, of it framework imports {total_imp:.1f} s "
          "(median import time per worker x workers)")
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
