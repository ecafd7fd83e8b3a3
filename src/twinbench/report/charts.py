"""Plotly figures for report.html: one figure per scenario, one bar panel per metric.

Bars are medians, whiskers the bootstrap 95% interval, and each bar is labelled with its ratio to
the best framework ("n.s." when that gap is not significant). Figures leave here as JSON made
safe to sit inside a ``<script>`` element: ``<``, ``>`` and ``&`` become ``\\u003c`` etc., so a
metric or model name holding ``</script>`` cannot end the element early.
"""

from __future__ import annotations

import json
from itertools import groupby
from typing import Any

from twinbench.analysis.rows import Row, rows
from twinbench.analysis.text import not_reached
from twinbench.frameworks.base import FRAMEWORKS
from twinbench.report.views import in_charts, view_figures
from twinbench.results.schema import Record

PER_ROW = 3


def safe_json(obj: object) -> str:
    """JSON that cannot close or open an HTML element it is embedded in."""
    text = obj if isinstance(obj, str) else json.dumps(obj)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _label(row: Row, fw: str) -> str:
    if not_reached(row.cells[fw]):
        return "not reached"
    if row.best == fw:
        return "best" if len(row.cells) > 1 else ""
    c = row.vs_best(fw)
    if c is None:
        return ""
    note = {False: " n.s.", None: " (untested)"}.get(c.significant, "")
    if c.difference is not None:
        return f"{c.difference:+.3g} vs best{note}"
    return f"{c.ratio:.2f}× worse{note}"


def figure(title: str, group: list[Row], frameworks: list[str]) -> dict[str, Any]:
    """A plotly figure as a plain dict: a grid of bar panels, one per metric.

    Built by hand rather than with ``plotly.graph_objects``, whose validation and templates
    cost seconds per figure on a loaded 2-core machine; plotly.js reads the same JSON.
    """
    n = len(group)
    cols = min(PER_ROW, n)
    nrows = (n + cols - 1) // cols
    gap_x, gap_y = 0.08, 0.5 / max(nrows, 1) if nrows > 1 else 0.0
    w, h = (1 - gap_x * (cols - 1)) / cols, (1 - gap_y * (nrows - 1)) / nrows
    data: list[dict[str, Any]] = []
    layout: dict[str, Any] = {
        "title": {"text": title, "x": 0}, "height": 320 * nrows + 40, "showlegend": False,
        "margin": {"t": 80, "l": 50, "r": 20, "b": 40}, "plot_bgcolor": "white",
        "uniformtext": {"minsize": 9, "mode": "show"}, "annotations": []}
    for i, row in enumerate(group):
        r, c = divmod(i, cols)
        ax = "" if i == 0 else str(i + 1)
        x0, y1 = c * (w + gap_x), 1 - r * (h + gap_y)
        layout[f"xaxis{ax}"] = {"domain": [x0, x0 + w], "anchor": f"y{ax}"}
        layout[f"yaxis{ax}"] = {"domain": [y1 - h, y1], "anchor": f"x{ax}", "rangemode": "tozero",
                                "gridcolor": "#eee"}
        sense = f", {row.better} is better" if row.better else ""
        layout["annotations"].append({
            "text": f"{row.metric} ({row.unit}{sense})", "showarrow": False, "xref": "paper",
            "yref": "paper", "x": x0 + w / 2, "y": y1, "xanchor": "center", "yanchor": "bottom"})
        fws = [f for f in frameworks if f in row.cells]
        recs = [row.cells[f] for f in fws]
        up = [(q.ci95[1] - q.value) if q.ci95 and q.value is not None else 0 for q in recs]
        down = [(q.value - q.ci95[0]) if q.ci95 and q.value is not None else 0 for q in recs]
        data.append({
            "type": "bar", "x": fws, "y": [q.value for q in recs], "xaxis": f"x{ax}",
            "yaxis": f"y{ax}",
            "marker": {"color": [FRAMEWORKS[f].color if f in FRAMEWORKS else "#777777"
                                 for f in fws]},
            "error_y": {"type": "data", "symmetric": False, "array": up, "arrayminus": down,
                        "visible": True},
            "text": [_label(row, f) for f in fws], "textposition": "outside",
            "hovertemplate": "%{x}: %{y:.4g} " + row.unit.replace("%", "%%") + "<extra></extra>",
        })
    return {"data": data, "layout": layout}


def scenario_figures(records: list[Record]) -> list[tuple[str, str]]:
    """(title, safe figure JSON) per task x model x scenario x mode x device, for plain
    (non-route) metrics; the title names the mode and device of every bar in it."""
    frameworks = list(dict.fromkeys(r.framework for r in records))
    keep = in_charts(rows(records))  # scenarios with figures of their own are left out
    keep.sort(key=lambda r: (r.task, r.model, r.scenario, r.mode, r.device, r.metric))
    out = []
    for (task, model, scenario, mode, device), g in groupby(
            keep, key=lambda r: (r.task, r.model, r.scenario, r.mode, r.device)):
        title = f"{scenario} · {task} · {model} · {', '.join(x for x in (mode, device) if x)}"
        out.append((title, safe_json(figure(title, list(g), frameworks))))
    # each scenario view's own figures (the profile's stacked category bars)
    return out + [(title, safe_json(fig)) for title, fig in view_figures(records)]
