"""Claim C10 of ../shared/CLAIMS.md: "The PyTorch Profiler helps debug and troubleshoot models".

Helping means, here, that its output can be read: the profile job wrote a trace, the trace parsed
back into op events, and those ops explain the step, i.e. the time in ops twinbench's tables do
not name (``unknown``) stays under ``UNKNOWN_MAX`` of the profiled step in every phase. Helpers
and verdict names live in ``twinbench.report.claims``.
"""

from __future__ import annotations

from collections import defaultdict

from twinbench.report.claims import (
    CLAIM_TEXT,
    CONFIRMED,
    NOT_MEASURED,
    REFUTED,
    TORCH_SIDE,
    ClaimResult,
    Evidence,
    how_to_measure,
)
from twinbench.results.schema import Record

UNKNOWN_MAX = 0.10  # C10: at most 10% of a profiled step in ops no category names


def _phases(recs: list[Record]) -> dict[tuple[str, str, str], dict[str, Record]]:
    """(framework, job, phase) -> {name: record} for one framework's ok profile records."""
    out: dict[tuple[str, str, str], dict[str, Record]] = defaultdict(dict)
    for r in recs:
        if r.status == "ok" and "/" in r.metric:
            phase, name = r.metric.split("/", 1)
            out[(r.framework, r.job_id, phase)][name] = r
    return out


def _check(fw: str, phase: str, m: dict[str, Record]) -> tuple[str, str, str]:
    """(problem kind: "" | "trace" | "unknown", problem, evidence line) for one profiled phase."""
    step, unknown = m.get("step_time_profiled"), m.get("unknown")
    if step is None:
        return "unknown", "no step_time_profiled record", f"{fw} {phase}: no profiled step"
    e = step.extra
    events = e.get("trace_events")
    where = f"{fw} {phase}: trace {e.get('trace') or 'missing'}, {events} events parsed"
    if not e.get("trace") or not events:
        return "trace", "no trace written and parsed", where
    share = unknown.extra.get("share") if unknown is not None else None
    if share is None:
        return "unknown", "no unknown-ops record", where
    where += f", unknown ops {share:.1%} of the step"
    if "overhead" in m and step.value:
        where += f", named categories {1 - m['overhead'].value / step.value - share:.0%}"
    if share > UNKNOWN_MAX:
        return "unknown", f"unknown ops take {share:.0%} of the step (> {UNKNOWN_MAX:.0%})", where
    return "", "", where


def c10(ev: Evidence) -> ClaimResult:
    res = ClaimResult("C10", CLAIM_TEXT["C10"], NOT_MEASURED, "", missing=how_to_measure("profile"))
    recs = [r for r in ev.records if r.scenario == "profile"]
    torch = [r for r in recs if r.framework in TORCH_SIDE]
    if not torch:
        res.summary = "no PyTorch profile records in this study"
        return res
    res.missing = ""
    failed = [r for r in torch if r.status == "failed"]
    checks = [(k, *_check(k[0], k[2], m)) for k, m in sorted(_phases(torch).items())]
    res.evidence = [line for *_, line in checks]
    res.evidence += [f"{r.framework}: failed: {r.error}" for r in failed][:5]
    bad = {kind: [f"{k[0]} {k[2]}: {p}" for k, kd, p, _ in checks if kd == kind]
           for kind in ("trace", "unknown")}
    if not checks:
        res.verdict = REFUTED if failed else NOT_MEASURED
        res.summary = "the PyTorch profile job failed here" if failed else \
            "no PyTorch profile phase records"
    elif bad["trace"]:
        res.verdict = REFUTED
        res.summary = "the profiler left no trace that parses: " + "; ".join(bad["trace"])
    elif bad["unknown"]:  # a trace is there, but twinbench's tables cannot explain it
        res.summary = "; ".join(bad["unknown"])
        res.missing = "op-name rules for the unknown ops (extra.unknown_ops) in " \
            "profiling/categories.py"
    else:
        others = sorted({r.framework for r in recs if r.status == "ok"} - set(TORCH_SIDE))
        res.verdict = CONFIRMED
        res.summary = (f"{len(checks)} PyTorch profile(s) wrote a Perfetto trace that parsed, "
                       f"unknown ops ≤ {UNKNOWN_MAX:.0%} of each step"
                       + (f"; side by side with {', '.join(others)}" if others else ""))
    return res
