"""Benchmark: how often twinbench calls a difference significant when there is none (A/A), and
whether it finds one that is there (A/B).

    .venv/bin/python benchmarks/false_positives.py [--processes 12] [--frameworks pytorch,keras-tf]
        [--slow 0.10] [--preset quick] [--model resnet] [--size SIZE]

It measures with the preset whose figures feed verdicts (``quick``: small ResNet, batch 32), as
a verdict would. ``--preset tiny`` shows why tests' sizes never feed verdicts: millisecond steps
vary by up to 2.5x between processes on this machine, and a 10% effect drowns in that.

A/A: one study measures each framework in ``--processes`` worker processes (train and infer,
interleaved as every study is). The processes are split into disjoint triples; every pair of
triples of the same framework is compared as twinbench compares two frameworks
(``analysis.comparisons.compare_records``: Welch's t on the logs of the per-process values) for
each metric. Each triple is the same code on the same machine, so a "significant" verdict is a
false positive; the rate must stay at or below 5%.

A/B: a second study of the first framework with every training step made ``--slow`` longer
(a sleep inside the step: ``TWINBENCH_INJECT_FAULT=slow=F:train``); each clean triple against
each slowed triple must come out significant, with a ratio near 1 + F.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from twinbench.analysis.comparisons import compare_records
from twinbench.measure.stats import ALPHA
from twinbench.results.schema import Record
from twinbench.results.store import Store

METRICS = {("train", "throughput"), ("train", "step_time"), ("infer", "latency_p50"),
           ("infer", "latency_p99"), ("infer", "throughput")}


def study(out: Path, args: argparse.Namespace, frameworks: list[str], scenarios: list[str],
          processes: int, env: dict[str, str] | None = None) -> list[Record]:
    """Raw per-process records (the store keeps each process's record apart)."""
    cmd = [sys.executable, "-m", "twinbench.cli", "run", "--preset", args.preset,
           "--model", args.model, "--framework", ",".join(frameworks),
           "--scenario", ",".join(scenarios), "--processes", str(processes), "--no-parity",
           "--out", str(out)] + (["--size", args.size] if args.size else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})},
                          check=False)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"study failed: {proc.stderr[-1500:]}")
    with Store(out / "results.sqlite") as s:
        return [r for r in s.records(s.last_run()) if r.status == "ok" and r.value is not None]


def triples(recs: list[Record]) -> dict[tuple[str, str, str, str], list[Record]]:
    """(framework, scenario, metric, call path) -> one merged-like record per process triple."""
    by: dict[tuple[str, str, str, str], list[Record]] = defaultdict(list)
    for r in recs:
        if (r.scenario, r.metric) in METRICS:
            by[(r.framework, r.scenario, r.metric, r.extra.get("call_path", ""))].append(r)
    out = {}
    for key, rs in by.items():
        rs.sort(key=lambda r: int(r.job_id.split("#")[1]))
        groups = [rs[i:i + 3] for i in range(0, len(rs) - len(rs) % 3, 3)]
        out[key] = [g[0].model_copy(update={"extra": {**g[0].extra, "processes": 3,
                    "process_values": [r.value for r in g]}}) for g in groups]
    return out


def detectable_ratio(values: list[float], n: int = 3, power: float = 0.8) -> float:
    """The smallest ratio a Welch test on the logs of n vs n per-process values detects with
    this power at ALPHA, given the between-process spread of ``values`` (the A/A processes)."""
    from scipy import stats

    sd = float(np.log(values).std(ddof=1))
    df = 2 * (n - 1)
    return float(np.exp((stats.t.ppf(1 - ALPHA / 2, df) + stats.t.ppf(power, df))
                        * sd * np.sqrt(2 / n)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", type=int, default=12)
    ap.add_argument("--frameworks", default="pytorch,keras-tf")
    ap.add_argument("--slow", default="0.10,0.50", help="comma list of injected slowdowns")
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--model", default="resnet")
    ap.add_argument("--size", default=None, help="default: the preset's")
    ap.add_argument("--reuse", type=Path, default=None,
                    help="a folder of an earlier run of this benchmark: its A/A study is read, "
                         "not measured again")
    args = ap.parse_args()
    fws = args.frameworks.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="tb-fp-"))
    print(f"A/A: {fws}, {args.processes} processes each, train + infer ({args.preset} preset, "
          f"{args.model}{', size ' + args.size if args.size else ''})", flush=True)
    if args.reuse:
        with Store(args.reuse / "aa" / "results.sqlite") as st:
            raw = [r for r in st.records(st.last_run()) if r.status == "ok" and r.value is not None]
        print(f"  (read from {args.reuse / 'aa'})")
    else:
        raw = study(tmp / "aa", args, fws, ["train", "infer"], args.processes)
    clean = triples(raw)
    aa = [(key, compare_records(a, b)) for key, gs in clean.items()
          for a, b in itertools.combinations(gs, 2)]
    aa = [(k, c) for k, c in aa if c is not None]
    fp = [(k, c) for k, c in aa if c.significant]
    print(f"A/A: {len(fp)} of {len(aa)} comparisons significant = {len(fp) / len(aa):.1%} "
          "(must be <= 5%)")
    for k, c in fp:
        print(f"  false positive: {k}: ratio {c.ratio:.3f} {c.ratio_ci95}, p={c.p_value:.3g}")
    print("\nBetween-process spread in the A/A study, and the smallest ratio 3 vs 3 processes "
          "detect (80% power):")
    mde = {}
    for key, gs in sorted(clean.items()):
        vals = [v for g in gs for v in g.extra["process_values"]]
        mde[key] = detectable_ratio(vals)
        cv = float(np.std(vals, ddof=1) / np.mean(vals))
        print(f"  {'/'.join(key)}: cv {cv:.1%} over {len(vals)} processes -> {mde[key]:.2f}x")
    fw = fws[0]
    key = next(k for k in clean if k[:3] == (fw, "train", "throughput"))
    ok = len(fp) <= 0.05 * len(aa)
    for frac in (float(f) for f in args.slow.split(",")):
        print(f"\nA/B: {fw} train, every step {frac:.0%} slower, {args.processes // 2} processes",
              flush=True)
        slow = triples(study(tmp / f"ab-{frac}", args, [fw], ["train"], args.processes // 2,
                             {"TWINBENCH_INJECT_FAULT": f"slow={frac}:train"}))
        ab = [compare_records(a, b) for a in clean[key] for b in slow.get(key, [])]
        ab = [c for c in ab if c is not None]
        hit = [c for c in ab if c.significant and c.ratio > 1]
        print(f"A/B: {len(hit)} of {len(ab)} clean-vs-slowed comparisons significant = "
              f"{len(hit) / max(len(ab), 1):.0%}; ratios "
              + ", ".join(f"{c.ratio:.3f} [{c.ratio_ci95[0]:.3f}, {c.ratio_ci95[1]:.3f}]"
                          for c in ab if c.ratio_ci95)
              + f" (expected about {1 + frac:.2f})")
        if 1 + frac >= mde[key]:
            ok = ok and len(hit) == len(ab)
        else:
            print(f"  {1 + frac:.2f}x is below the {mde[key]:.2f}x that 3 vs 3 processes resolve "
                  "on this machine: a miss here is expected, not a failure; more processes "
                  "(--processes) narrow it")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
