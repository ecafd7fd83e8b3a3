"""report.html: a self-contained page (no scripts, no network) with the study's tables.

Every string is escaped by jinja2's autoescape: model names and errors may come from users.
"""

from __future__ import annotations

from itertools import groupby
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from twinbench.report.compare import failures, fmt, fmt_ci, parity, rows
from twinbench.results.schema import Record

_env = Environment(loader=PackageLoader("twinbench.report", "templates"),
                   autoescape=select_autoescape(["html", "j2"]))


def render_html(study: str, records: list[Record]) -> str:
    all_rows = sorted(rows(records), key=lambda r: (r.task, r.model, r.scenario, r.metric))
    tables = [(f"{sc} · {task} · {model}", list(g))
              for (task, model, sc), g in groupby(all_rows, key=lambda r: (r.task, r.model,
                                                                           r.scenario))]
    env: dict[str, object] = {}
    for r in records:
        if r.env:
            for key in ("cpu", "cores", "python", "platform", "git_revision", "twinbench"):
                env.setdefault(key, r.env.get(key))
            env[f"versions ({r.framework})"] = r.env.get("versions")
            env[f"threads ({r.framework})"] = r.env.get("threads")
    return _env.get_template("report.html.j2").render(
        study=study, records=records, tables=tables,
        frameworks=list(dict.fromkeys(r.framework for r in records)),
        run_ids=sorted({r.run_id for r in records}), parity=parity(records),
        failures=failures(records), env=env, fmt=fmt, fmt_ci=fmt_ci,
    )


def write_html(path: Path, study: str, records: list[Record]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render_html(study, records), encoding="utf-8")
    tmp.replace(path)
