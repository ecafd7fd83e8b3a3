"""The call-path table: every path each framework was timed on, and which one speaks for it.

One table per task, model, scenario and mode; one row per framework, quantity and path, with the
deciding figure and its interval, what the path costs once (first call: tracing/compilation;
train: per-fit-call overhead), how many cores it kept busy, and ★ for the chosen path
(``analysis.paths``). A path that failed shows why. Shared by the terminal, HTML and Markdown.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import groupby

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from twinbench.analysis.merge import base_job_id
from twinbench.analysis.paths import DECIDES
from twinbench.analysis.text import fmt, fmt_ci
from twinbench.report.route_table import RouteTable
from twinbench.results.schema import Record

COLUMNS = ["framework", "measures", "path", "value [95% CI]", "once", "cores", "chosen"]
# what a path costs once, by the group it competes in
_ONCE = {"latency": ("first_call", "first call"), "throughput": ("first_call", "first call"),
         "train": ("trace_compile_time", "compile")}


def path_tables(records: list[Record]) -> list[RouteTable]:
    by_job: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    for r in records:
        if r.extra.get("path_group") in DECIDES:
            by_job[(base_job_id(r), r.extra["path_group"], r.extra["call_path"])].append(r)
    rows = []
    for (_, group, path), recs in by_job.items():
        r0 = recs[0]
        mine = {r.metric: r for r in recs if r.status == "ok"}
        head = mine.get(DECIDES[group])
        failed = next((r for r in recs if r.status == "failed"), None)
        once_metric, once_label = _ONCE[group]
        once = mine.get(once_metric)
        cells = [r0.framework, f"{group}: {DECIDES[group]}", path]
        if head is None:
            why = (failed.error or "failed") if failed else "no value"
            cells += ["FAILED: " + why.splitlines()[0][:160], "", "", ""]
        else:
            extra = ""
            if group == "train" and "per_call_overhead" in mine:
                extra = f"; per fit call {fmt(mine['per_call_overhead'].value, 's')}"
            cells += [f"{fmt(head.value, head.unit)} {fmt_ci(head)}".strip(),
                      (f"{once_label} {fmt(once.value, once.unit)}" if once else "") + extra,
                      str(head.extra.get("cores_used", "")),
                      ("★" if head.extra.get("path_role") == "best" else "")
                      + (" tied" if path in head.extra.get("paths_tied", ()) else "")]
        rows.append(((r0.task, r0.model, r0.scenario, r0.mode), cells))
    rows.sort(key=lambda kv: (kv[0], kv[1][1], kv[1][0], kv[1][2]))
    out = []
    for (task, model, scenario, mode), group_rows in groupby(rows, key=lambda kv: kv[0]):
        cells = [c for _, c in group_rows]
        per_fw = defaultdict(set)
        for c in cells:
            per_fw[c[0]].add(c[2])
        if max(len(v) for v in per_fw.values()) < 2:
            continue  # one path per framework: the main tables say it all
        out.append(RouteTable(f"Call paths: {scenario} · {task} · {model} · {mode}", COLUMNS,
                              cells, ["★ = the path that speaks for the framework in this mode "
                                      "(best deciding figure; among paths 'tied' with it — "
                                      "no significant difference across processes — the "
                                      "first declared one); 'once' is paid per call shape "
                                      "or per fit call, never inside steady-state figures"]))
    return out


def print_paths(records: list[Record], console: Console) -> None:
    for t in path_tables(records):
        table = Table(title=t.title, title_justify="left")
        for c in t.columns:
            table.add_column(c, justify="right" if c in ("value [95% CI]", "cores") else "left")
        for cells in t.rows:
            style = "red" if cells[3].startswith("FAILED") else None
            table.add_row(*(escape(c) for c in cells), style=style)
        console.print(table)
        for n in t.notes:
            console.print(f"[dim]{escape(n)}[/dim]")
