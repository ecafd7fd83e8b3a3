"""What report.html and report.md say, computed once from the records: the summary verdict,
per-scenario rows, the mobile and web tables, environment, code brevity, model availability
and the claims. Renderers only lay it out.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from twinbench.analysis.claims.base import ClaimResult
from twinbench.analysis.rows import Row, failures, parity
from twinbench.analysis.study import Analysis
from twinbench.analysis.text import fmt_worse
from twinbench.report.paths_view import path_tables
from twinbench.report.route_table import RouteTable
from twinbench.report.views import in_summary, in_tables, view_tables
from twinbench.results.schema import Record

ENV_KEYS = ("cpu", "cores", "affinity", "python", "platform", "git_revision", "twinbench")


@dataclass
class Win:
    framework: str
    row: Row
    text: str  # "2.42× [2.34, 3.37] better than keras-tf"


@dataclass
class ReportData:
    study: str
    machine: str  # the machine the verdict speaks for (analysis.machine)
    recommendation: Any  # analysis.recommend.Recommendation, or None
    records: list[Record]
    frameworks: list[str]
    tables: list[tuple[str, list[Row]]]
    wins: dict[str, list[Win]]
    ties: list[Row]
    untested: list[Row]
    view_tables: list[tuple[str, list[RouteTable]]]  # (heading, tables) of scenario views
    path_tables: list[RouteTable]
    claims: list[ClaimResult]
    brevity: list[Any]
    zoos: dict[str, list[Any]] | None
    zoo_note: str
    env: dict[str, Any]
    per_framework_env: dict[str, dict[str, Any]]
    parity: list[Record]
    failures: list[Record]
    settings: list[str]


# A tail percentile comes from the same samples as its median: one sample set, one verdict (the
# median's); the tails stay in the tables beside it.
TAILS = ("latency_p90", "latency_p99")


def verdicts(all_rows: list[Row]) -> tuple[dict[str, list[Win]], list[Row], list[Row]]:
    """Rows won significantly (the winner beats every other framework at 5%, tested across
    processes), ties, and rows not tested (one process, single values, or
    too few processes with a value)."""
    wins: dict[str, list[Win]] = defaultdict(list)
    ties, untested = [], []
    for row in all_rows:
        if len(row.cells) < 2 or row.best is None or row.metric in TAILS:
            continue
        others = [(f, row.vs_best(f)) for f in row.cells if f != row.best]
        if any(c is None or c.significant is None for _, c in others):
            untested.append(row)
        elif all(c.significant for _, c in others if c):
            f, c = min(others, key=lambda t: t[1].ratio if t[1] and t[1].difference is None
                       else 0)
            text = fmt_worse(c, row.unit).replace("× worse", "× better").replace(
                " vs best", " better") if c else ""
            wins[row.best].append(Win(row.best, row, f"{text} than {f}" if c else ""))
        else:
            ties.append(row)
    return dict(wins), ties, untested


def environment(records: list[Record]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    env: dict[str, Any] = {}
    per: dict[str, dict[str, Any]] = {}
    for r in records:
        if not r.env:
            continue
        for key in ENV_KEYS:
            if r.env.get(key) is not None:
                env.setdefault(key, r.env.get(key))
        per.setdefault(r.framework, {
            "backend": r.backend, "versions": r.env.get("versions"),
            "threads": r.env.get("threads"), "other_cpu_load": r.env.get("other_cpu_load"),
            "foreign_frameworks_imported": r.env.get("foreign_frameworks_imported")})
    return env, per


def collect(a: Analysis) -> ReportData:
    """Lay the analysis out for the renderers: tables, summary verdict, deploy tables."""
    records = a.records
    all_rows = sorted(a.rows, key=lambda r: (r.task, r.model, r.scenario, r.mode, r.device,
                                             r.metric))
    plain = in_tables(all_rows)
    tables = [(f"{sc} · {task} · {model} · {g[0].setting}", g) for (task, model, sc, _, _), g in
              ((k, list(v)) for k, v in groupby(
                  plain, key=lambda r: (r.task, r.model, r.scenario, r.mode, r.device)))]
    wins, ties, untested = verdicts(in_summary(plain))
    env, per = environment(records)
    ok = [r for r in records if r.status == "ok"]
    settings = sorted({f"{r.mode}, {r.device}, {r.threads} threads" for r in ok})
    return ReportData(
        a.study, a.machine, a.recommendation, records,
        list(dict.fromkeys(r.framework for r in records)), tables, wins, ties,
        untested, view_tables(records), path_tables(records), a.claims,
        a.brevity, a.zoos, a.zoo_note, env, per, parity(records), failures(records), settings)
