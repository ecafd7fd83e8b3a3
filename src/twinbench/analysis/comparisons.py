"""Pairwise framework comparisons with significance, written to DIR/comparisons.jsonl.

For every measured quantity (same task, model, scenario, metric, mode, device) and every pair of
frameworks: the ratio a/b with its 95% interval, and — only where both sides were measured in
at least ``MIN_PROCESSES`` worker processes — a test across processes (``measure.stats``:
Welch's t on the logs of the per-process values). Measurements of one process are compared
"within-process only", never called significant; single values are not tested.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from itertools import combinations
from pathlib import Path

from twinbench.analysis.paths import is_headline
from twinbench.atomic import write_atomic
from twinbench.measure.stats import (
    FEW_VALUES,
    LOADED,
    MIN_PROCESSES,
    OTHER_LOAD_LIMIT,
    REPLICATED,
    SINGLE,
    WITHIN,
    Comparison,
    compare,
    compare_processes,
)
from twinbench.results.schema import SCHEMA_VERSION, Record
from twinbench.scenarios import compared


@dataclass(frozen=True)
class PairResult:
    task: str
    model: str
    scenario: str
    metric: str
    unit: str
    better: str | None
    mode: str
    device: str
    a: str
    b: str
    a_value: float
    b_value: float
    ratio: float
    ratio_ci95: tuple[float, float] | None
    p_value: float | None
    significant: bool | None
    verdict: str
    basis: str = REPLICATED  # what the interval and test rest on (measure.stats)
    processes: tuple[int, int] = (1, 1)
    schema_version: int = SCHEMA_VERSION


def process_values(r: Record) -> list[float]:
    """The record's statistic in each worker process that produced it (merge_processes)."""
    return [float(v) for v in r.extra.get("process_values") or [] if v is not None]


def processes(r: Record) -> int:
    return int(r.extra.get("processes", 1))


def other_load(r: Record) -> float:
    """Other processes' share of the CPU while the record was measured: during its timed
    windows where the worker reported them (the worst process of a merged record), else over
    its whole job."""
    env = r.env or {}
    return float(env.get("other_cpu_load_timed", env.get("other_cpu_load")) or 0.0)


def compare_records(a: Record, b: Record) -> Comparison | None:
    """Ratio a/b of two records of one quantity; None when a value is missing or zero.

    Replicated when both have ``MIN_PROCESSES`` processes; else within-process (a tail record
    compares its percentile, not medians); else single values. A comparison with other load
    above ``OTHER_LOAD_LIMIT`` on either side keeps its ratio but is not tested (``LOADED``)."""
    if a.value is None or b.value is None or b.value == 0:
        return None
    pa, pb = process_values(a), process_values(b)
    if max(other_load(a), other_load(b)) > OTHER_LOAD_LIMIT and (a.samples or pa):
        c = compare_processes(pa, pb) if min(len(pa), len(pb)) >= MIN_PROCESSES else \
            compare(a.samples, b.samples, of=a.extra.get("statistic", "median")) \
            if a.samples and b.samples else Comparison(a.value / b.value, None, None, None)
        return replace(c, p_value=None, significant=None, basis=LOADED)
    if min(len(pa), len(pb)) >= MIN_PROCESSES:
        return compare_processes(pa, pb)
    if min(processes(a), processes(b)) >= MIN_PROCESSES:  # replicated, but values are missing
        return Comparison(a.value / b.value, None, None, None, FEW_VALUES)
    if a.samples and b.samples:
        return compare(a.samples, b.samples, of=a.extra.get("statistic", "median"))
    return Comparison(a.value / b.value, None, None, None, SINGLE)


def verdict(a: str, b: str, c: Comparison, better: str | None) -> str:
    if c.significant is None:
        return {WITHIN: "within-process only: not tested across processes",
                SINGLE: "single values: not tested",
                LOADED: "excluded from verdicts: other processes loaded the CPU while timed",
                FEW_VALUES: "too few processes gave a value: not tested",
                }.get(c.basis, "not tested")
    if not c.significant:
        return "no significant difference"
    if better is None:
        return "significant difference"
    a_wins = (c.ratio > 1) == (better == "higher")
    return f"{a if a_wins else b} better"


def pairwise(records: list[Record]) -> list[PairResult]:
    groups: dict[tuple[str, ...], dict[str, Record]] = defaultdict(dict)
    for r in records:
        if r.status == "ok" and r.value is not None and compared(r.scenario) \
                and is_headline(r):  # each framework's best call path (analysis.paths)
            groups[(r.task, r.model, r.scenario, r.name, r.mode, r.device)][r.framework] = r
    out = []
    for key, cells in groups.items():
        for fa, fb in combinations(sorted(cells), 2):
            ra, rb = cells[fa], cells[fb]
            c = compare_records(ra, rb)
            if c is None:
                continue
            task, model, scenario, metric, mode, device = key
            out.append(PairResult(task, model, scenario, metric, ra.unit, ra.better, mode,
                                  device, fa, fb, float(ra.value or 0.0), float(rb.value or 0.0),
                                  c.ratio, c.ratio_ci95, c.p_value, c.significant,
                                  verdict(fa, fb, c, ra.better), c.basis,
                                  (processes(ra), processes(rb))))
    return out


def write_comparisons(path: Path, results: list[PairResult]) -> None:
    write_atomic(path, "".join(json.dumps(asdict(r)) + "\n" for r in results))
