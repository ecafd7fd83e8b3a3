"""The analysis stage: records -> comparisons -> rows -> claims -> recommendation, once.

pyperf keeps its statistics on the ``Benchmark`` object; twinbench keeps them on an
``Analysis``: the orchestrator (and ``report``/``show``) computes one, writes
``comparisons.jsonl`` and ``analysis.json`` from it, and every renderer (terminal, markdown,
HTML) only formats it — no renderer runs a test or a bootstrap of its own.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from twinbench.analysis.claims import assess
from twinbench.analysis.claims.base import ClaimResult, Evidence
from twinbench.analysis.comparisons import PairResult, pairwise, write_comparisons
from twinbench.analysis.rows import Row, rows
from twinbench.atomic import write_atomic
from twinbench.results.schema import SCHEMA_VERSION, Record

ZOO_QUERIES = ("detr", "resnet50", "bert", "unet")  # C11's examples and the zoo's own families
# what the report's recommendation weighs when the user gave no priorities (`recommend` takes
# any): the claims' own questions — speed, and a deadline (C12)
DEFAULT_PRIORITIES = "speed,deadline"


@dataclass
class Analysis:
    study: str
    machine: str  # the machine the verdict speaks for, e.g. "2-core AMD EPYC CPU, no GPU"
    records: list[Record]
    rows: list[Row]
    pairs: list[PairResult]
    claims: list[ClaimResult]
    recommendation: Any = None  # analysis.recommend.Recommendation for DEFAULT_PRIORITIES
    brevity: list[Any] = field(default_factory=list)
    zoos: dict[str, list[Any]] | None = None
    zoo_note: str = ""


def zoo_search(queries: tuple[str, ...] = ZOO_QUERIES) -> tuple[dict[str, list[Any]] | None, str]:
    """Isolated, bounded zoo search; (None, why) when it cannot run."""
    if os.environ.get("TWINBENCH_NO_ZOO_SEARCH"):
        return None, "zoo search disabled (TWINBENCH_NO_ZOO_SEARCH)"
    from twinbench.zoos import search_isolated

    try:
        return search_isolated(list(queries)), ""
    except Exception as exc:  # the report must still be written
        return None, f"zoo search did not run: {type(exc).__name__}: {exc}"[:200]


def static_evidence() -> tuple[list[Any], dict[str, list[Any]] | None, str]:
    """(brevity counts, zoo search, why the search did not run) — evidence of the code and
    the ecosystems, not of a study."""
    from twinbench.brevity import family_table

    zoos, note = zoo_search()
    return family_table(), zoos, note


def analyze(study: str, records: list[Record], brevity: list[Any] | None = None,
            zoos: dict[str, list[Any]] | None = None, zoo_note: str = "") -> Analysis:
    """Every statistic the outputs show, computed once."""
    from twinbench.analysis.machine import machine_summary
    from twinbench.analysis.recommend import parse_priorities, recommend

    all_rows = rows(records)
    pairs = pairwise(records)
    ev = Evidence(records, brevity, zoos, pairs, all_rows)
    rec = recommend(records, parse_priorities(DEFAULT_PRIORITIES), brevity, zoos,
                    rows=all_rows) if records else None
    return Analysis(study, machine_summary(records), records, all_rows, pairs,
                    assess(records, evidence=ev), rec, brevity or [], zoos, zoo_note)


def saved_claims(outdir: Path) -> list[ClaimResult] | None:
    """The claims ``write_analysis`` saved in ``outdir/analysis.json`` (None: none readable),
    so re-printing a study shows the verdict it was given, static evidence included."""
    try:
        doc = json.loads((outdir / "analysis.json").read_text(encoding="utf-8"))
        return [ClaimResult(**c) for c in doc["claims"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _jsonable(obj: Any) -> Any:
    try:
        return asdict(obj)
    except TypeError:
        return str(obj)


def write_analysis(outdir: Path, a: Analysis) -> None:
    """comparisons.jsonl (every pair) and analysis.json (machine, claims, recommendation)."""
    write_comparisons(outdir / "comparisons.jsonl", a.pairs)
    rec = a.recommendation
    doc = {
        "schema_version": SCHEMA_VERSION, "study": a.study, "machine": a.machine,
        "claims": [asdict(c) for c in a.claims],
        "recommendation": None if rec is None else {
            "priorities": DEFAULT_PRIORITIES,
            "job_minutes": rec.job_minutes,
            "ranking": [{"framework": fw, "score": score, "ci95": list(rec.interval(fw))}
                        for fw, score in rec.ranking()],
            "resolved": rec.resolved,
            "sensitivity": [asdict(s) for s in rec.sensitivity()],
        },
        "rows": len(a.rows), "comparisons": len(a.pairs),
    }
    write_atomic(outdir / "analysis.json", json.dumps(doc, indent=2, default=_jsonable))
