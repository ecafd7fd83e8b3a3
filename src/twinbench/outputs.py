"""What a finished run leaves beside its results: the analysis (comparisons.jsonl,
analysis.json) and both reports (report.html, report.md).

The CLI renders them after the runner has stored and exported every record (results.sqlite,
results.jsonl), so a renderer's failure never costs a result: it becomes one line saying how to
retry (`twinbench report DIR`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from twinbench.results.schema import Record


@cache
def static_evidence() -> tuple[Any, ...]:
    """Brevity counts and the zoo search, computed once per CLI call (they read the code and
    the installed registries, not the run)."""
    from twinbench.analysis.study import static_evidence as compute

    return compute()


def write_outputs(outdir: Path, name: str, records: list[Record]) -> Any:
    """The analysis stage, once, and every file written from it: comparisons.jsonl,
    analysis.json, report.html, report.md. Returns the ``analysis.study.Analysis``."""
    from twinbench.analysis.study import analyze, write_analysis
    from twinbench.report.html import write_reports

    analysis = analyze(name, records, *static_evidence())
    write_analysis(outdir, analysis)
    write_reports(outdir, name, records, analysis)
    return analysis


@dataclass
class Rendered:
    analysis: Any = None  # analysis.study.Analysis, when it was computed
    error: str | None = None  # why the outputs could not be written (the results are saved)


def render_outputs(outdir: Path, name: str, records: list[Record]) -> Rendered:
    """``write_outputs``, with any failure turned into one line instead of a traceback."""
    try:
        return Rendered(write_outputs(outdir, name, records))
    except Exception as exc:  # noqa: BLE001 - any renderer failure is reported in one line
        first = (str(exc).splitlines() or [""])[0]
        return Rendered(None, f"{type(exc).__name__}: {first}")
