"""report.md: the study as GitHub-flavoured markdown, short enough for a pull request.

Same content as report.html without the charts: summary, claims with their measured evidence
(folded in ``<details>``), per-scenario tables, mobile and web tables, code brevity, model
availability (per ecosystem, with each zoo's state) and the environment. Cell text is escaped
(``|``, ``<``, ``>``, ``&``, backticks and newlines), because names and errors may come from users
and GitHub renders inline HTML.
"""

from __future__ import annotations

from twinbench.analysis.claims import THRESHOLDS
from twinbench.analysis.machine import speaks_for
from twinbench.analysis.text import LEGEND, NOT_TESTED, fmt_ci, fmt_value, fmt_worse
from twinbench.report.content import ReportData
from twinbench.report.md_table import esc, table
from twinbench.report.views import note_for, view_markdown


def _availability(d: ReportData) -> list[str]:
    """Per query and ecosystem what the model registries offer, how many pretrained variants
    each side lists, and which registries were not searched."""
    from twinbench.zoos import KERAS, PYTORCH, TENSORFLOW, availability, support

    out = ["## Model availability (model registries, docs/models.md)", ""]
    if not d.zoos:
        return out + [esc(d.zoo_note or "No zoo search."), ""]
    out += table(["query", PYTORCH, TENSORFLOW, KERAS, "pretrained variants listed",
                  "zoos not searched"],
                 [[q, *availability(res).values(),
                   " vs ".join(f"{s.label} {'' if s.exact else '≥ '}{s.pretrained}"
                               for s in support(res).values()),
                   ", ".join(f"{z.zoo} ({z.state})" for z in res if z.state != "installed")
                   or "—"]
                  for q, res in d.zoos.items()])
    return out


def _recommendation(d: ReportData) -> list[str]:
    """The default priorities' ranking with intervals, its resolution and sensitivity."""
    rec = d.recommendation
    if rec is None:
        return []
    labels = ", ".join(c.priority.label for c in rec.criteria)
    out = [f"## Recommendation ({esc(labels)}; a {rec.job_minutes:g}-minute training job)", "",
           "`twinbench recommend DIR --priority …` ranks for other priorities.", ""]
    out += table(["rank", "framework", "score [95%]",
                  *(f"{c.priority.label} ×{c.weight}" for c in rec.criteria)],
                 [[i, fw, f"{total:.2f} [{rec.interval(fw)[0]:.2f}, {rec.interval(fw)[1]:.2f}]",
                   *("—" if c.scores.get(fw) is None else
                     f"{c.scores[fw]:.2f} [{c.interval(fw)[0]:.2f}, {c.interval(fw)[1]:.2f}]"
                     for c in rec.criteria)]
                  for i, (fw, total) in enumerate(rec.ranking(), 1)])
    rank = rec.ranking()
    if len(rank) > 1:
        out += [f"- {'**resolved**' if rec.resolved else '**not resolved**'}: "
                + (f"{esc(rank[0][0])}'s interval is clear of every other framework's"
                   if rec.resolved else f"{esc(rank[0][0])} ranks first, but its interval "
                   "overlaps another framework's"), ""]
    sens = rec.sensitivity()
    if sens:
        out += table(["criterion", "weight ×", "top framework", "top changes?"],
                     [[s.criterion, f"{s.factor:g}", s.top, "yes" if s.changed else "no"]
                      for s in sens])
    return out


def render_markdown(d: ReportData) -> str:
    out = [f"# twinbench · {esc(d.study)}", "",
           f"{len(d.records)} records · {esc('; '.join(d.settings))}. {esc(LEGEND)}", "",
           "## Summary verdict", "",
           f"**{esc(speaks_for(d.machine))}**", ""]
    for fw, wins in d.wins.items():
        items = "; ".join(f"{w.row.scenario} {w.row.metric} ({w.row.model}, {w.row.mode}: "
                          f"{w.text})" for w in wins)
        out.append(f"- **{esc(fw)}** significantly better on {len(wins)}: {esc(items)}")
    if d.ties:
        out.append("- no significant difference: " + esc(", ".join(
            f"{r.scenario} {r.metric}" for r in d.ties)))
    if d.untested:
        out.append(f"- {NOT_TESTED}: " + esc(", ".join(
            f"{r.scenario} {r.metric}" for r in d.untested)))
    if not (d.wins or d.ties):
        out.append("- no quantity was measured for two frameworks")
    out += ["", "## Claims", "", f"Thresholds: {esc(THRESHOLDS)}", ""]
    out += table(["id", "claim", "verdict", "evidence", "to measure"],
                 [[c.id, c.claim, c.verdict, c.summary, c.missing] for c in d.claims])
    for c in (c for c in d.claims if c.evidence):
        out += [f"<details><summary>{esc(c.id)}: {len(c.evidence)} measured line"
                f"{'s' if len(c.evidence) != 1 else ''}</summary>", ""]
        out += [f"- {esc(e)}" for e in c.evidence] + ["", "</details>", ""]
    out += _recommendation(d)
    for title, group in d.tables:
        out += [f"## {esc(title)}", ""]
        rows = []
        for row in group:
            cells: list[object] = [f"{row.metric} ({row.unit})"]
            for f in d.frameworks:
                rec = row.cells.get(f)
                c = row.vs_best(f) if rec else None
                via = f"via {rec.extra['call_path']}" if rec and "call_path" in rec.extra else ""
                cells.append("—" if rec is None else " ".join(filter(None, [
                    fmt_value(rec), fmt_ci(rec), via, fmt_worse(c, row.unit) if c else ""])))
            rows.append([*cells, row.best or ""])
        out += table(["metric", *d.frameworks, "best"], rows)
        if group and (note := note_for(group[0].scenario, d.records)):
            out += [f"- {esc(note)}", ""]
    out += view_markdown(d.records)  # scenario views' own sections (the profile's traces)
    for t in [*d.path_tables, *(t for _, tables in d.view_tables for t in tables)]:
        out += [f"## {esc(t.title)}", ""]
        out += table(t.columns, t.rows)
        out += [f"- {esc(n)}" for n in t.notes] + ([""] if t.notes else [])
    if d.brevity:
        out += ["## Code brevity (static analysis of the twins, docs/brevity.md)", ""]
        cats = list(d.brevity[0].statements)
        out += table(["model", "style", "core statements", "core tokens", "CC", *cats],
                     [[c.model, c.style, c.core_statements, c.core_tokens, c.cc,
                       *c.statements.values()] for c in d.brevity])
    out += _availability(d)
    out += ["## Environment", ""]
    out += table(["key", "value"], [[k, v] for k, v in d.env.items()])
    out += table(["framework", "backend", "versions", "threads"],
                 [[fw, e["backend"], ", ".join(f"{k} {v}" for k, v in (e["versions"] or {})
                                               .items()), e["threads"]]
                  for fw, e in d.per_framework_env.items()])
    if d.failures:
        out += ["## Failed jobs", ""]
        out += [f"- {esc(r.job_id)} {esc(r.metric)}: "
                f"{esc((r.error or '').splitlines()[0] if r.error else 'failed')}"
                for r in d.failures]
    return "\n".join(out) + "\n"
