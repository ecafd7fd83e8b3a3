"""The mobile table: one row per route variant (fp32, int8-dynamic, int8-full of each route of
``twinbench.export.routes``), from export-mobile records.

export-mobile records carry their ``route``, ``variant`` and a bare ``metric`` (e.g. route
``torch-executorch``, variant ``int8-full``, metric ``latency_p50``) with the variant's facts in
``extra``; this module folds them into rows that read like a deployment decision: does it
convert, how big, what does int8 cost in the task metric, how fast in the real runtime. A route
the table marks unavailable is one row with its reason. Shared by the terminal and the HTML
report so both say the same thing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from twinbench.analysis.text import fmt, fmt_ci
from twinbench.results.schema import Record
from twinbench.tasks import TASKS

MOBILE_SCENARIO = "export-mobile"
MOBILE_HEADERS = ("runtime", "route", "from", "status", "export s", "size", "metric (Δ)",
                  "top-1", "max|Δ|", "init ms", "1st ms", "p50 ms", "p90 ms", "RSS MiB (Δ)")
NOTE = ("Batch 1, the study's threads, each artifact in its own runtime process (through the "
        "Python bindings, whose per-call overhead is included). metric = the task's headline "
        "metric on the eval split, (Δ) against the framework's own fp32 model; top-1 agreement "
        "and max|Δ| against that model's outputs; p50 with its bootstrap 95% interval; RSS = "
        "peak resident memory of the runtime process, (Δ) = what loading and running the model "
        "added after the import. Native-library sizes are proxies for on-device size.")


@dataclass
class MobileRow:
    runtime: str
    route: str
    framework: str
    status: str  # "ok" | "FAILED" | "not-applicable" | "unavailable"
    reason: str = ""
    values: list[str] = field(default_factory=lambda: ["—"] * 10)
    p50_ci: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def cells(self) -> tuple[str, ...]:
        """One string per MOBILE_HEADERS column (the HTML report's cells)."""
        status = self.status + (f": {self.reason}" if self.reason else "")
        v = list(self.values)
        v[7] = f"{v[7]} {self.p50_ci}".strip()
        return (self.runtime, self.route, self.framework, status, *v)


def _size(r: Record | None) -> str:
    if r is None or r.value is None:
        return "—"
    n = r.value
    return f"{n / 1024:,.1f} KiB" if n < 2**20 else f"{n / 2**20:.2f} MiB"


def _num(r: Record | None, spec: str = "") -> str:
    if r is None or r.value is None:
        return "—"
    return format(r.value, spec) if spec else fmt(r.value)


def _row(st: Record, recs: dict[str, Record], headline: str) -> MobileRow:
    """One variant's row from its ``status`` record and its records by metric."""
    get = recs.get
    row = MobileRow(str(st.extra.get("runtime", "?")), str(st.variant), st.framework, "ok")
    size = _size(get("file_size"))
    if st.status == "failed":
        row.status, row.reason = "FAILED", (st.error or "").split(": ", 1)[-1]
        row.values[0], row.values[1] = _num(get("export_time")), size
        return row
    metric, change, diff = get(headline), get(f"{headline}_change"), get("output_max_abs_diff")
    rss, delta = get("peak_rss"), get("runtime_rss_delta")
    p50 = get("latency_p50")
    row.values = [
        _num(get("export_time")), size,
        "—" if metric is None else f"{metric.value:.3f} ({change.value:+.3f})" if change
        else f"{metric.value:.3f}",
        _num(get("top1_agreement"), ".3f"),
        "—" if diff is None else f"{diff.value:.1e}"
        + (" FAIL" if diff.extra.get("passed") is False else ""),
        _num(get("init_time")), _num(get("first_inference")), _num(p50), _num(get("latency_p90")),
        "—" if rss is None else f"{rss.value:.0f} ({delta.value:.0f})" if delta
        else f"{rss.value:.0f}",
    ]
    row.p50_ci = fmt_ci(p50) if p50 else ""
    return row


def _same(a: Record, b: Record) -> bool:
    """Records of one job's route variant (v1 records, without a route, match by variant)."""
    return (a.framework, a.route, a.variant) == (b.framework, b.route, b.variant)


def mobile_tables(records: list[Record]) -> list[tuple[str, list[MobileRow], list[str]]]:
    """``[(title, rows, notes)]`` per task and model; empty without export-mobile records."""
    by_key: dict[tuple[str, str], dict[tuple[str, str], Record]] = defaultdict(dict)
    for r in records:
        if r.scenario == MOBILE_SCENARIO:  # the last record of a quantity wins (a rerun)
            by_key[(r.task, r.model)][(r.framework, f"{r.route}/{r.name}")] = r
    out = []
    for (task, model), keyed in by_key.items():
        recs = list(keyed.values())
        headline = TASKS[task].metric if task in TASKS else "accuracy"
        rows, notes = [], []
        for st in recs:
            fw = st.framework
            if st.metric == "status" and st.route is None and st.variant is None:
                rows.append(MobileRow("—", "—", fw, "not-applicable",  # no route starts here
                                      str(st.extra.get("reason", ""))))
            elif st.metric == "status" and st.variant is None:  # the route cannot run here
                up = st.extra.get("upstream")
                rows.append(MobileRow(str(st.extra.get("runtime", "?")), str(st.route), fw,
                                      str(st.extra.get("state") or "unavailable"),
                                      str(st.extra.get("reason") or st.error)
                                      + (f" (upstream: {up})" if up else "")))
            elif st.metric == "status":
                rows.append(_row(st, {r.metric: r for r in recs if _same(r, st)}, headline))
            elif st.variant == "framework" and st.metric == headline and st.value is not None:
                notes.append(f"{fw} model before export: {headline} {st.value:.3f} "
                             f"({st.extra.get('epochs')} epoch(s) on {st.extra.get('n_train')} "
                             f"samples, {st.extra.get('n_eval')} eval samples)"
                             + (f" ⚠ {st.warnings[0]}" if st.warnings else ""))
            elif st.metric == "native_libs" and st.value is not None:
                loaded = next((r for r in recs if _same(r, st) and r.metric == "loaded_libs"),
                              None)
                mapped = "" if loaded is None or loaded.value is None else (
                    f", {_size(loaded)} of them mapped by the runtime process")
                imports = (loaded.extra.get("python_imports") if loaded else None) or []
                imp = next((r for r in recs if r.framework == fw and r.route == st.route
                            and r.metric == "runtime_import"), None)  # its first variant's
                notes.append(f"{st.extra.get('runtime')} {st.extra.get('version')}: the wheel "
                             f"ships {_size(st)} of native libraries (proxy){mapped}"
                             + (f"; its Python bindings import {', '.join(imports)}"
                                if imports else "; no framework imported by the runtime")
                             + (f"; importing the runtime took {fmt(imp.value, 's')}"
                                if imp and imp.value is not None else ""))
        out.append((f"{MOBILE_SCENARIO} · {task} · {model}", rows, notes))
    return out


def print_mobile(records: list[Record], console: Console) -> None:
    if console.width < 150:  # rather long lines than a table of truncated cells
        console = Console(file=console.file, width=150, color_system=console.color_system,
                          force_terminal=console.is_terminal)
    for title, rows, notes in mobile_tables(records):
        table = Table(title=title, title_justify="left")
        heads = ("runtime route (from)", *MOBILE_HEADERS[3:])  # narrower than the HTML
        for h in heads:
            table.add_column(h, justify="left" if h in heads[:2] else "right")
        reasons: dict[str, int] = {}  # reason -> footnote number, each printed once
        for row in rows:
            status = row.status
            if row.reason:
                status += f" ({reasons.setdefault(row.reason, len(reasons) + 1)})"
            v = [escape(c) for c in row.values]
            if row.p50_ci:
                v[7] += f"\n[dim]{escape(row.p50_ci)}[/dim]"
            label = escape(f"{row.runtime} {row.route}" if row.route != "—" else "—")
            table.add_row(f"{label}\n[dim]{escape(row.framework)}[/dim]", escape(status), *v,
                          style=None if row.ok else "dim")
        console.print(table)
        for reason, i in reasons.items():
            console.print(f"  ({i}) {escape(reason)}", highlight=False)
        for note in notes:
            console.print(f"  {escape(note)}", highlight=False)
    if any(rows for _, rows, _ in mobile_tables(records)):
        console.print(f"[dim]{escape(NOTE)}[/dim]")
