"""Pairwise framework comparisons with significance, written to DIR/comparisons.jsonl.

For every measured quantity (same task, model, scenario, metric, mode, device) and every pair of
frameworks: the ratio of medians a/b with its bootstrap 95% interval and a two-sided
Mann-Whitney U test at 5%. "no significant difference" is reported where that is the answer.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path

from twinbench.analysis.paths import is_headline
from twinbench.atomic import write_atomic
from twinbench.measure.stats import Comparison, compare
from twinbench.results.schema import SCHEMA_VERSION, Record


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
    schema_version: int = SCHEMA_VERSION


def compare_records(a: Record, b: Record) -> Comparison | None:
    """Ratio a/b of two records of one quantity; None when a value is missing or zero."""
    if a.value is None or b.value is None or b.value == 0:
        return None
    if a.samples and b.samples:  # a tail-latency record compares its percentile, not medians
        return compare(a.samples, b.samples, of=a.extra.get("statistic", "median"))
    return Comparison(a.value / b.value, None, None, None)


def verdict(a: str, b: str, c: Comparison, better: str | None) -> str:
    if c.significant is None:
        return "not testable (too few samples)"
    if not c.significant:
        return "no significant difference"
    if better is None:
        return "significant difference"
    a_wins = (c.ratio > 1) == (better == "higher")
    return f"{a if a_wins else b} better"


def pairwise(records: list[Record]) -> list[PairResult]:
    groups: dict[tuple, dict[str, Record]] = defaultdict(dict)
    for r in records:
        if r.status == "ok" and r.value is not None and r.scenario != "parity" \
                and is_headline(r):  # each framework's best call path (analysis.paths)
            groups[(r.task, r.model, r.scenario, r.metric, r.mode, r.device)][r.framework] = r
    out = []
    for key, cells in groups.items():
        for fa, fb in combinations(sorted(cells), 2):
            ra, rb = cells[fa], cells[fb]
            c = compare_records(ra, rb)
            if c is None:
                continue
            out.append(PairResult(*key[:4], ra.unit, ra.better, key[4], key[5], fa, fb,
                                  ra.value, rb.value, c.ratio, c.ratio_ci95, c.p_value,
                                  c.significant, verdict(fa, fb, c, ra.better)))
    return out


def write_comparisons(path: Path, results: list[PairResult]) -> None:
    write_atomic(path, "".join(json.dumps(asdict(r)) + "\n" for r in results))
