"""Benchmark: train throughput and time-to-target per task x training style (the `zoo` study).

    .venv/bin/python benchmarks/time_to_target.py [--out DIR] [--preset zoo]
    .venv/bin/python benchmarks/time_to_target.py --results DIR   # tabulate a finished run

Runs `twinbench run --preset zoo` (resnet, unet and transformer at small size x pytorch,
lightning and keras-tf x train, infer, accuracy) into a temporary folder, then prints from its
results.jsonl, per task and framework: train throughput (median samples/s with its 95%
interval), the training wall time of the accuracy budget, time-to-target (train seconds and
optimizer steps until the test metric first reached the task's target, or "not reached"), and
the metric after the budget. Figures are the study's own records, nothing is re-measured here;
on a busy machine they are noisy (the records carry `other load` warnings then).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from twinbench.frameworks.base import FRAMEWORKS


def _fmt(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _throughput(r: dict | None) -> str:
    if r is None:
        return "missing"
    if r["status"] != "ok" or r["value"] is None:
        return "failed"
    ci = r.get("ci95")
    return f"{r['value']:.0f} [{ci[0]:.0f}, {ci[1]:.0f}]" if ci else f"{r['value']:.0f}"


def _target(t: dict | None, s: dict | None) -> str:
    if t is None:
        return "missing"
    x = t["extra"]
    if not x.get("reached"):
        return f"not reached (best {x['best_metric']:.3f} in {x['budget_steps']} steps)"
    return f"{t['value']:.1f} s, {s['value']:.0f} steps (epoch {x['epoch']:g})" if s else \
        f"{t['value']:.1f} s"


def table(recs: list[dict]) -> list[str]:
    by: dict[tuple[str, str, str, str], dict] = {}
    for r in recs:
        by[(r["task"], r["framework"], r["scenario"], r["metric"])] = r
    cells = sorted({(r["task"], r["model"], r["framework"]) for r in recs
                    if r["scenario"] in ("train", "accuracy")},
                   key=lambda c: (c[0], list(FRAMEWORKS).index(c[2])))
    head = (f"{'task':22} {'model':11} {'framework (style)':38} {'train samples/s [95% CI]':25} "
            f"{'budget s':>8} {'metric':>14}  time-to-target (target)")
    out = [head, "-" * len(head)]
    for task, model, fw in cells:
        def get(sc: str, m: str, task: str = task, fw: str = fw) -> dict | None:
            return by.get((task, fw, sc, m))

        t, s = get("accuracy", "time_to_target"), get("accuracy", "steps_to_target")
        metric = t["extra"]["target_metric"] if t else None
        score = get("accuracy", metric) if metric else None
        wall = get("accuracy", "train_wall_time")
        style = f"{fw} ({FRAMEWORKS[fw].style})"
        target = f" (target {t['extra']['target']:g})" if t else ""
        score_s = f"{metric} {_fmt(score['value'], 3)}" if score and metric else "-"
        out.append(f"{task:22} {model:11} {style:38} "
                   f"{_throughput(get('train', 'throughput')):25} "
                   f"{_fmt(wall['value'] if wall else None):>8} {score_s:>14}  "
                   f"{_target(t, s)}{target}")
    failed = sorted({r["job_id"] for r in recs if r["status"] == "failed"})
    out += [f"FAILED: {j}" for j in failed]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="zoo")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--results", type=Path, default=None, help="tabulate this finished run")
    args = ap.parse_args()
    out = args.results
    if out is None:
        out = args.out or Path(tempfile.mkdtemp(prefix="tb-ttt-")) / args.preset
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "twinbench.cli", "run", "--preset",
                               args.preset, "--out", str(out)], capture_output=True, text=True,
                              check=False)
        print(f"{args.preset} study: exit {proc.returncode}, wall time "
              f"{time.perf_counter() - t0:.0f} s, results in {out}")
        if proc.returncode not in (0, 1):
            print(proc.stderr[-2000:])
            return 1
    recs = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    print("\n".join(table(recs)))
    load = [r["env"].get("other_cpu_load") for r in recs if r.get("env")]
    busy = [v for v in load if isinstance(v, int | float) and v > 0.2]
    if busy:
        print(f"note: other processes used > 20% of the CPU during {len(busy)} of {len(load)} "
              "records' jobs: treat the figures as noisy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
