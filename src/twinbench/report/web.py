"""The web table: one row per browser runtime x backend, from export-web records.

export-web records carry their ``route`` (``twinbench.export.routes``), ``variant`` (e.g.
``tfjs-wasm-1t``) and a bare ``metric`` (``latency_p50``), with the variant's facts in
``extra``; this module folds them back into rows that read like a deployment decision: does it
run, how many bytes, how long until the first prediction, how fast. A route the table marks
unavailable is one row with its reason. (The HTML and markdown reports lay out the same rows.)
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from twinbench.analysis.text import fmt, fmt_ci
from twinbench.results.schema import Record

WEB_SCENARIO = "export-web"


@dataclass
class WebRow:
    runtime: str
    backend: str
    framework: str
    status: str  # "ok" | "unavailable" | "not-applicable" | "FAILED" ...
    reason: str = ""
    model: str = "—"
    runtime_bytes: str = "—"
    download_gz: str = "—"
    load: str = "—"
    first: str = "—"
    p50: str = "—"
    p50_ci: str = ""
    p90: str = "—"
    parity: str = "—"
    short: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _h(n: float) -> str:
    return f"{n / 1024:,.0f}K" if n < 2**20 else f"{n / 2**20:.1f}M"


def _size(r: Record | None) -> str:
    return "—" if r is None or r.value is None else _h(r.value)


def _gz(*recs: Record | None) -> str:
    """What a visitor downloads from a server compressing at gzip level 6 (model + runtime)."""
    sizes = [r.extra.get("gzip_bytes") for r in recs if r is not None]
    return _h(sum(sizes)) if sizes and None not in sizes else "—"


def _num(r: Record | None) -> str:
    return "—" if r is None or r.value is None else fmt(r.value)


def _text(*values: object) -> str:
    """The first value that is set, as text; "—" when none is (never the word "None")."""
    return next((str(v) for v in values if v is not None and v != ""), "—")


def _row(st: Record, recs: dict[str, Record]) -> WebRow:
    """One variant's row from its ``status`` record and its records by metric."""
    e = st.extra
    get = recs.get

    used, asked = e.get("threads_reported"), e.get("threads_requested")
    threads = f"{_text(asked)}t" + (f" ({used} used)" if used is not None and used != asked
                                    else "")
    backend = f"wasm {threads}" if e.get("backend") == "wasm" else _text(e.get("backend"))
    row = WebRow(_text(e.get("title"), e.get("runtime")), backend, st.framework, "ok",
                 short=_text(e.get("short"), e.get("runtime")))
    if st.status == "failed":
        row.status, row.reason = "FAILED", (st.error or "").split(": ", 1)[-1]
        return row
    state = e.get("state", "ok")
    if state not in ("ok", "parity-failed"):
        row.status, row.reason = _text(state), _text(e.get("reason"))
        return row
    if state == "parity-failed":  # it ran: show its numbers, but never as a plain "ok"
        row.status, row.reason = "PARITY FAILED", _text(e.get("reason"))
    p50, diff = get("latency_p50"), get("output_max_abs_diff")
    row.model, row.runtime_bytes = _size(get("model_bytes")), _size(get("runtime_bytes"))
    row.download_gz = _gz(get("model_bytes"), get("runtime_bytes"))
    row.load, row.first, row.p90 = _num(get("load_time")), _num(get("first_inference")), \
        _num(get("latency_p90"))
    row.p50, row.p50_ci = _num(p50), fmt_ci(p50) if p50 else ""
    if diff is not None and diff.value is not None:
        row.parity = f"{diff.value:.1e} " + (
            "ok" if diff.extra.get("passed") else f"FAIL (> {diff.extra.get('tolerance'):g})")
    return row


def _same(a: Record, b: Record) -> bool:
    """Records of one job's route variant (v1 records, without a route, match by variant)."""
    return (a.framework, a.route, a.variant) == (b.framework, b.route, b.variant)


def web_tables(records: list[Record]) -> list[tuple[str, list[WebRow]]]:
    """``[(title, rows)]`` per task and model, in record order; empty without web records."""
    by_key: dict[tuple[str, str], dict[tuple[str, str], Record]] = defaultdict(dict)
    for r in records:
        if r.scenario == WEB_SCENARIO:  # the last record of a quantity wins (a rerun)
            by_key[(r.task, r.model)][(r.framework, f"{r.route}/{r.name}")] = r
    out = []
    for (task, model), keyed in by_key.items():
        recs = list(keyed.values())
        rows = []
        for st in recs:
            if st.metric != "status":
                continue
            if st.route is None and st.variant is None:  # a framework without a browser route
                rows.append(WebRow("—", "—", st.framework, "not-applicable",
                                   st.extra.get("reason", "")))
            elif st.variant is None:  # the route cannot run here
                up = st.extra.get("upstream")
                rows.append(WebRow(_text(st.extra.get("title"), st.route), "—", st.framework,
                                   _text(st.extra.get("state"), "unavailable"),
                                   _text(st.extra.get("reason"), st.error)
                                   + (f" (upstream: {up})" if up else ""),
                                   short=_text(st.route)))
            else:
                rows.append(_row(st, {r.metric: r for r in recs if _same(r, st)}))
        out.append((f"{WEB_SCENARIO} · {task} · {model}", rows))
    return out


def _stale(age_days: int | None) -> str:
    return "" if age_days is None else f", STALE: {age_days} days before this run"


def packages(records: list[Record]) -> list[str]:
    """One line per runtime package and converter: version and release date (freshness)."""
    seen: dict[str, str] = {}
    for r in records:
        e = r.extra
        if r.scenario == WEB_SCENARIO and e.get("package"):
            seen[e["package"]] = f"{e['package']} {_text(e.get('version'))} " \
                                 f"(released {_text(e.get('released'))}" \
                                 f"{_stale(e.get('age_days') if e.get('stale') else None)})"
        if r.scenario == WEB_SCENARIO and r.metric == "convert_time":
            dates, old = e.get("tools_released", {}), e.get("tools_stale_days", {})
            tools = ", ".join(f"{k} {v}" + (f" (released {dates[k]}{_stale(old.get(k))})"
                                            if k in dates else "")
                              for k, v in e.get("tools", {}).items()
                              if k not in ("stand-ins", "patches"))
            seen[r.name] = f"{e.get('runtime')} model converted in {fmt(r.value, 's')} " \
                             f"({tools})"
    return list(seen.values())


TERMINAL = ("route", "from", "status", "model", "runtime", "gzip", "load ms", "1st ms",
            "p50 ms [95% CI]", "p90 ms", "max|Δ|")


def print_web(records: list[Record], console: Console) -> None:
    if console.width < 140:  # rather long lines than a table wrapped into pieces
        console = Console(file=console.file, width=140, color_system=console.color_system,
                          force_terminal=console.is_terminal)
    width = console.width
    for title, rows in web_tables(records):
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1))
        for h in TERMINAL:
            table.add_column(h, justify="left" if h in TERMINAL[:3] else "right", no_wrap=True)
        notes: dict[str, int] = {}  # reason -> footnote number, each reason printed once
        for row in rows:
            status = row.status.replace("unavailable", "n/a").replace("not-applicable", "n/a")
            if row.reason:
                status += f" ({notes.setdefault(row.reason, len(notes) + 1)})"
            p50 = escape(row.p50) + (f" [dim]{escape(row.p50_ci)}[/dim]" if row.p50_ci else "")
            route = f"{row.short or row.runtime} {row.backend}".strip(" —") or "—"
            table.add_row(*(escape(c) for c in (route, row.framework, status, row.model,
                                                  row.runtime_bytes, row.download_gz, row.load,
                                                  row.first)),
                          p50, escape(row.p90), escape(row.parity.replace(" ok", "")),
                          style=None if row.ok else "dim")
        console.print(table, width=width)
        for note, i in notes.items():
            console.print(f"  ({i}) {escape(note)}", highlight=False, width=width)
    lines = packages(records)
    if lines:
        console.print("[bold]Web runtimes[/bold]: " + escape("; ".join(lines)), highlight=False,
                      width=width)
        console.print("[dim]Measured in headless Chromium on this machine's CPU. load = runtime "
                      "start + model fetch and compile; latency = one batch-1 forward with the "
                      "output read back; model/runtime = bytes served uncompressed, gzip = what "
                      "both weigh compressed (level 6); "
                      "max|Δ| = largest logit difference to the framework's own output (FAIL "
                      "above 1e-3).[/dim]", width=width)
