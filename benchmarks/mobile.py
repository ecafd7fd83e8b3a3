"""Benchmark: phone deployment of the classification twins, LiteRT vs ExecuTorch, fp32 vs int8.

    .venv/bin/python benchmarks/mobile.py [--out DIR] [--size small] [--model resnet,...]
                                          [--threads N] [--from-results DIR]

Runs ``twinbench run --preset mobile`` (parity checks, then the export-mobile scenario for pytorch
-> ExecuTorch and keras-tf -> LiteRT) for every image-classification model in the zoo, then prints
one line per model x runtime x route: file size, accuracy on the eval split and its change from
the framework's fp32 model, batch-1 latency in the real runtime (median with its bootstrap 95%
interval, p90) and export time. ``--from-results`` re-prints a finished run without running.
Timings on a shared machine are noisy: read the intervals and the load warnings.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from twinbench.errors import UserError
from twinbench.export.routes import ROUTES, route_of
from twinbench.results.export import read_jsonl
from twinbench.results.schema import Record
from twinbench.zoo import models_for

VARIANTS = ("fp32", "int8-dynamic", "int8-full")  # a route's own variants, in table order


def _cell(r: Record | None, spec: str = ".3f") -> str:
    return "—" if r is None or r.value is None else format(r.value, spec)


def table(records: list[Record]) -> list[str]:
    by: dict[tuple[str, str], dict[tuple[str | None, str], Record]] = defaultdict(dict)
    runtime: dict[str, str] = {}  # framework -> the runtimes its routes ran (the route table)
    for r in records:
        if r.scenario == "export-mobile":
            by[(r.model, r.framework)][(r.variant, r.metric)] = r
            if (rid := route_of(r)) in ROUTES and ROUTES[rid].available:  # v1 files too
                runtime[r.framework] = ROUTES[rid].runtime
    head = (f"{'model':10} {'runtime':10} {'route':12} {'size KiB':>9} {'accuracy':>8} "
            f"{'Δ fp32':>7} {'p50 ms':>8} {'95% CI':>17} {'p90 ms':>8} {'export s':>8}")
    lines = [head, "-" * len(head)]
    for (model, fw), m in sorted(by.items()):
        variants = [f"{rt.variant_prefix}{v}" for rt in ROUTES.values()
                    if rt.kind == "mobile" and rt.framework == fw for v in VARIANTS]
        for route in variants:
            st = m.get((route, "status"))
            if st is None:
                continue
            if st.status == "failed":
                lines.append(f"{model:10} {runtime.get(fw, fw):10} {route:12} FAILED: {st.error}")
                continue
            size = m.get((route, "file_size"))
            p50 = m.get((route, "latency_p50"))
            ci = "" if p50 is None or p50.ci95 is None else \
                f"[{p50.ci95[0]:.3f}, {p50.ci95[1]:.3f}]"
            lines.append(
                f"{model:10} {runtime.get(fw, fw):10} {route:12} "
                f"{size.value / 1024 if size else float('nan'):9.1f} "
                f"{_cell(m.get((route, 'accuracy'))):>8} "
                f"{_cell(m.get((route, 'accuracy_change')), '+.3f'):>7} {_cell(p50):>8} "
                f"{ci:>17} {_cell(m.get((route, 'latency_p90'))):>8} "
                f"{_cell(m.get((route, 'export_time')), '.1f'):>8}")
    for (model, fw), m in sorted(by.items()):
        base = m.get(("framework", "accuracy"))
        libs = m.get(("runtime", "native_libs"))
        if base is not None and libs is not None:
            lines.append(f"{model}/{fw}: fp32 framework accuracy {base.value:.3f}; "
                         f"{runtime.get(fw, fw)} wheel ships {libs.value / 2**20:.1f} MiB of "
                         "native libraries (proxy)"
                         + (f"\n  ⚠ {base.warnings[0]}" if base.warnings else ""))
    for r in records:
        if r.scenario == "export-mobile" and r.metric == "job":  # skipped or crashed jobs
            lines.append(f"{r.model}/{r.framework}: job {(r.error or '').splitlines()[0]}")
    warn = sorted({w.text for r in records if r.scenario == "export-mobile"
                   for w in r.warned("load")})
    if warn:
        lines.append("machine load: " + "; ".join(warn[:4]))
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--size", default=None, help="model size (default: the preset's, small)")
    ap.add_argument("--model", default=",".join(models_for("image-classification")))
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--from-results", type=Path, default=None)
    args = ap.parse_args()
    out = args.from_results
    if out is None:
        out = args.out or Path(tempfile.mkdtemp(prefix="tb-mobile-")) / "mobile"
        cmd = [sys.executable, "-m", "twinbench.cli", "run", "--preset", "mobile", "--model",
               args.model, "--out", str(out)]
        cmd += ["--size", args.size] if args.size else []
        cmd += ["--threads", str(args.threads)] if args.threads else []
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        print(f"mobile study ({args.model}): exit {proc.returncode}, "
              f"{time.perf_counter() - t0:.0f} s, results in {out}")
        if proc.returncode not in (0, 1):
            print(proc.stderr[-2000:])
            return 1
    try:
        records = read_jsonl(out / "results.jsonl")
    except UserError as exc:  # a wrong --from-results folder: one line, as the CLI says it
        print(f"benchmarks/mobile.py: error: {exc}", file=sys.stderr)
        return 2
    for line in table(records):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
