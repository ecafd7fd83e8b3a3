"""report.html: one self-contained file that works offline — plotly.js is inlined from the
installed python ``plotly`` package, nothing is fetched when the page opens.

Every string is escaped by jinja2's autoescape (model names and errors may come from users);
figure JSON goes through ``charts.safe_json``, so no value can close a ``<script>`` element.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from twinbench.analysis.claims import THRESHOLDS
from twinbench.analysis.claims.base import (
    CHECK_FAILED,
    CONFIRMED,
    INCONCLUSIVE,
    NOT_MEASURABLE,
    NOT_MEASURED,
    REFUTED,
)
from twinbench.analysis.machine import speaks_for
from twinbench.analysis.study import Analysis, analyze, static_evidence
from twinbench.analysis.text import LEGEND, NOT_TESTED, fmt, fmt_ci, fmt_value, fmt_worse
from twinbench.atomic import write_atomic
from twinbench.report.content import ReportData, collect
from twinbench.results.schema import Record

_env = Environment(loader=PackageLoader("twinbench.report", "templates"),
                   autoescape=select_autoescape(["html", "j2"]))
VERDICT_CLASS = {CONFIRMED: "ok", REFUTED: "fail", INCONCLUSIVE: "ns", NOT_MEASURED: "nm",
                 NOT_MEASURABLE: "nm", CHECK_FAILED: "fail"}


def verdict_class(verdict: str) -> str:
    """CSS class of a claim verdict ("check failed: <why>" is styled as a failure)."""
    return VERDICT_CLASS.get(verdict.split(":")[0], "")


def _plotly_js() -> Markup:
    from plotly.offline import get_plotlyjs

    js = get_plotlyjs()
    if "</script" in js.lower():  # would end the inline element; never seen, but checked
        raise RuntimeError("plotly.js contains '</script': cannot inline it safely")
    return Markup(js)


def render(data: ReportData) -> str:
    from twinbench.report.charts import scenario_figures
    from twinbench.report.views import view_links

    figures = [(title, Markup(fig)) for title, fig in scenario_figures(data.records)]
    return _env.get_template("report.html.j2").render(
        d=data, figures=figures, plotly_js=_plotly_js(), fmt=fmt, fmt_ci=fmt_ci,
        fmt_value=fmt_value, fmt_worse=fmt_worse, verdict_class=verdict_class, legend=LEGEND,
        not_tested=NOT_TESTED, thresholds=THRESHOLDS, speaks_for=speaks_for,
        run_ids=sorted({r.run_id for r in data.records}), traces=view_links(data.records),
    )


def render_html(study: str, records: list[Record], brevity: list | None = None,
                zoos: dict | None = None, zoo_note: str = "") -> str:
    return render(collect(analyze(study, records, brevity, zoos, zoo_note)))


def report_data(study: str, records: list[Record]) -> ReportData:
    """Everything a report needs, static evidence included (brevity, the zoo search)."""
    return collect(analyze(study, records, *static_evidence()))


def write_reports(outdir: Path, study: str, records: list[Record],
                  analysis: Analysis | None = None) -> tuple[Path, Path]:
    """report.html and report.md from one analysis (computed here when not given)."""
    from twinbench.report.markdown import render_markdown

    data = collect(analysis) if analysis is not None else report_data(study, records)
    html, md = outdir / "report.html", outdir / "report.md"
    write_atomic(html, render(data))
    write_atomic(md, render_markdown(data))
    return html, md
