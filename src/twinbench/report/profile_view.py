"""Stacked bars for the profile scenario: where each framework's step goes.

One bar per framework and phase (train, infer), split by category share of the profiled step,
with the profiled ms/step and the profiler's own overhead beside it: in the terminal
(``print_profiles``) and as plotly figures for report.html (``profile_figures``, ms per step
per category, stacked), each with the traces behind its bars (``trace_rows``: file paths and
how to open them in Perfetto or TensorBoard, for report.html and ``markdown_lines`` for
report.md). ``capability_rows`` puts what each profiler gave a debugging user side by side (op
attribution, overhead, memory, source, viewer; claim C10) in the terminal and report.md. The
generic tables still carry every number; this view is for seeing the shape at a glance.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from twinbench.analysis.claims.profile import (
    CAPABILITIES,
    PROFILER_NAMES,
    cells,
    profiled_phases,
)
from twinbench.frameworks.base import FRAMEWORKS
from twinbench.profiling.categories import CATEGORIES, LABELS, UNKNOWN
from twinbench.report.md_table import esc, table
from twinbench.report.views import View
from twinbench.results.schema import Record

ORDER = (*CATEGORIES, UNKNOWN)
STYLES = {
    "convolution": "bright_blue", "matmul": "cyan", "attention": "magenta",
    "normalisation": "green", "activation": "yellow", "pooling": "bright_green",
    "loss": "red", "optimizer": "bright_magenta", "data_movement": "blue",
    "overhead": "grey50", UNKNOWN: "bright_red",
}
# the same hues for report.html (plotly reads CSS colours)
HTML_COLORS = {
    "convolution": "#4169e1", "matmul": "#00bcd4", "attention": "#c2185b",
    "normalisation": "#2e7d32", "activation": "#f9a825", "pooling": "#8bc34a",
    "loss": "#d32f2f", "optimizer": "#ab47bc", "data_movement": "#1565c0",
    "overhead": "#9e9e9e", UNKNOWN: "#ff1744",
}
WIDTH = 48
PHASES = {"train": "a training step", "infer": "a predict call"}


def _segments(shares: dict[str, float], width: int) -> list[tuple[str, int]]:
    """Largest-remainder rounding, so the cells add up to ``width`` exactly."""
    total = sum(shares.values()) or 1.0
    raw = {c: width * v / total for c, v in shares.items()}
    cells = {c: int(r) for c, r in raw.items()}
    for c in sorted(raw, key=lambda c: raw[c] - cells[c], reverse=True)[:width - sum(
            cells.values())]:
        cells[c] += 1
    return [(c, cells[c]) for c in ORDER if cells.get(c)]


def _profile_records(records: list[Record]) -> list[Record]:
    return [r for r in records if r.scenario == "profile" and r.status == "ok"
            and r.value is not None and r.phase is not None]


def _by_phase(recs: list[Record]) -> list[tuple[tuple, dict[str, dict[str, Record]]]]:
    """((task, model, phase), {framework: {category or metric: record}}), sorted."""
    cells: dict[tuple, dict[str, dict[str, Record]]] = defaultdict(lambda: defaultdict(dict))
    for r in recs:
        phase, name = r.phase, r.category or r.metric
        cells[(r.task, r.model, phase)][r.framework][name] = r
    return sorted(cells.items(), key=lambda kv: kv[0])


def figure_title(task: str, model: str, phase: str) -> str:
    return f"profile · where {PHASES.get(phase, phase)} goes · {task} · {model}"


@dataclass(frozen=True)
class TraceRow:
    """One framework's trace of one phase; paths relative to the results folder."""

    framework: str
    profiler: str
    trace: str  # Chrome-trace JSON, opens in Perfetto
    native: str  # the profiler's own format (the same file for torch)
    open_with: str


def trace_rows(records: list[Record]) -> dict[str, list[TraceRow]]:
    """Profile figure title -> the traces behind its bars (without a trace: not listed)."""
    out: dict[str, list[TraceRow]] = defaultdict(list)
    for (task, model, phase), by_fw in _by_phase(_profile_records(records)):
        for fw, m in by_fw.items():
            r = m.get("step_time_profiled")
            if r is None or not r.extra.get("trace"):
                continue
            e = r.extra
            out[figure_title(task, model, phase)].append(TraceRow(
                fw, str(e.get("profiler", "")), str(e["trace"]),
                str(e.get("native_trace") or e["trace"]), str(e.get("open_with", ""))))
    return dict(out)


CAPABILITY_HEADER = ["framework", "profiler", "model", "phase", *CAPABILITIES]


def capability_rows(records: list[Record]) -> list[list[str]]:
    """Per framework, model and phase: what its profiler gave (claim C10), as table cells."""
    order = list(FRAMEWORKS)
    keys = sorted(profiled_phases(records).items(), key=lambda kv: (
        kv[0][1], order.index(kv[0][0]) if kv[0][0] in order else len(order), kv[0][2] != "train",
        kv[0][2]))
    out = []
    for (fw, where, phase), m in keys:
        if "step" not in m:
            continue
        prof = str(m["step"].extra.get("profiler", ""))
        c = cells(m)
        out.append([fw, PROFILER_NAMES.get(prof, prof), where, phase,
                    *(c[k] for k in CAPABILITIES)])
    return out


def markdown_lines(records: list[Record]) -> list[str]:
    """report.md's section: per profile figure, each framework's traces and how to open them,
    then what each profiler gave a debugging user, side by side."""
    rows = trace_rows(records)
    if not rows:
        return []
    out = ["## Profile traces", "", "Paths are relative to the results folder.", ""]
    for title, trs in rows.items():
        out += [f"**{esc(title)}**", ""]
        out += table(["framework", "profiler", "trace (Perfetto)", "native trace", "open with"],
                     [[t.framework, t.profiler, t.trace, t.native, t.open_with] for t in trs])
    caps = capability_rows(records)
    if caps:
        out += ["**What each profiler gave** (read back from the trace it wrote, debugging "
                "options on; claim C10, docs/profile.md)", ""]
        out += table(CAPABILITY_HEADER, [list(r) for r in caps])
    return out


def profile_figures(records: list[Record]) -> list[tuple[str, dict]]:
    """(title, plotly figure dict) per task x model x phase: ms per step, stacked by category."""
    out = []
    for (task, model, phase), by_fw in _by_phase(_profile_records(records)):
        fws = list(by_fw)
        data = []
        for c in ORDER:
            ys = [by_fw[f][c].value if c in by_fw[f] else 0.0 for f in fws]
            if any(ys):
                data.append({"type": "bar", "name": LABELS[c], "x": fws, "y": ys,
                             "marker": {"color": HTML_COLORS[c]},
                             "hovertemplate": f"{LABELS[c]}: %{{y:.3g}} ms<extra>%{{x}}</extra>"})
        title = figure_title(task, model, phase)
        layout = {"title": {"text": title, "x": 0}, "barmode": "stack", "height": 380,
                  "yaxis": {"title": {"text": "ms per step (profiled)"}, "gridcolor": "#eee"},
                  "plot_bgcolor": "white", "margin": {"t": 60, "l": 60, "r": 20, "b": 40}}
        out.append((title, {"data": data, "layout": layout}))
    return out


def print_profiles(records: list[Record], console: Console) -> None:
    recs = _profile_records(records)
    if not recs:
        return
    for (task, model, phase), by_fw in _by_phase(recs):
        console.print(f"[bold]Where {PHASES.get(phase, phase)} goes[/bold] · {task} · {model} "
                      "[dim](share of the profiled time per step)[/dim]")
        pad = max(len(f) for f in by_fw)
        for fw, m in by_fw.items():
            shares = {c: m[c].value for c in ORDER if c in m and m[c].value}
            line = Text(f"  {fw:<{pad}} ")
            for c, n in _segments(shares, WIDTH):
                line.append("█" * n, style=STYLES[c])
            step, ovh = m.get("step_time_profiled"), m.get("profiler_overhead")
            if step is not None:
                line.append(f" {step.value:.3g} ms/step")
            if ovh is not None:
                line.append(f" (profiler ×{ovh.value:.2f})", style="dim")
            console.print(line)
            unknown = m.get(UNKNOWN)
            if unknown is not None and unknown.value:
                ops = ", ".join(o["op"] for o in unknown.extra.get("unknown_ops", [])[:3])
                console.print(f"  {'':<{pad}} [bright_red]unknown ops[/bright_red] "
                              f"{unknown.value:.3g} ms: {ops}", highlight=False)
        legend = Text("  ")
        for c in ORDER:
            legend.append("█", style=STYLES[c])
            legend.append(f" {LABELS[c]}  ")
        console.print(legend)
    caps = capability_rows(records)
    if caps:
        console.print("[bold]What each profiler gave[/bold] [dim](from its own trace, debugging "
                      "options on; claim C10)[/dim]")
        for row in caps:
            console.print(f"  {escape(' · '.join(row[:4]))}", highlight=False)
            for k, v in zip(CAPABILITIES, row[4:], strict=True):
                console.print(f"    [dim]{k}:[/dim] {escape(v)}", highlight=False)
    hints = [r for r in recs if r.metric == "step_time_profiled"
             and r.extra.get("open_with")]
    if hints:
        console.print("[dim]Traces (paths relative to the results folder):[/dim]")
    for r in hints:
        console.print(f"  [dim]{r.framework} {r.phase}: "
                      f"{escape(r.extra['open_with'])}[/dim]", highlight=False)


# The profile's view (its scenario names it): the generic tables keep every number; the stacked
# bars replace the per-category bar charts, with the traces under them.
VIEW = View(generic_charts=False, terminal=print_profiles, figures=profile_figures,
            links=trace_rows, markdown=markdown_lines)
