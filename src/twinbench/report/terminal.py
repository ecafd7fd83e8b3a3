"""Terminal output: one table per scenario, each framework's value, interval and ratio to best."""

from __future__ import annotations

from itertools import groupby

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from twinbench.analysis.machine import speaks_for
from twinbench.analysis.rows import failures, parity
from twinbench.analysis.study import Analysis, analyze
from twinbench.analysis.text import LEGEND, fmt, fmt_ci, fmt_value, fmt_worse
from twinbench.report.paths_view import print_paths
from twinbench.report.views import in_tables, note_for, print_views
from twinbench.results.schema import Record


def print_results(analysis: Analysis | list[Record], console: Console) -> None:
    """The study's tables from its analysis (records alone are analysed here first)."""
    a = analysis if isinstance(analysis, Analysis) else analyze("", analysis)
    records = a.records
    frameworks = list(dict.fromkeys(r.framework for r in records))
    all_rows = sorted(in_tables(a.rows),  # scenarios with tables of their own are left out
                      key=lambda r: (r.task, r.model, r.scenario, r.mode, r.device, r.metric))
    for (task, model, scenario, mode, device), group in groupby(
        all_rows, key=lambda r: (r.task, r.model, r.scenario, r.mode, r.device)
    ):
        setting = ", ".join(x for x in (mode, device) if x)
        table = Table(title=f"{scenario} · {task} · {model} · {setting}", title_justify="left",
                      show_lines=False)
        table.add_column("metric")
        present = [f for f in frameworks if any(f in r.cells for r in all_rows)]
        for f in present:
            table.add_column(f, justify="right")
        table.add_column("best", justify="left")
        for row in group:
            cells = []
            for f in present:
                rec = row.cells.get(f)
                if rec is None:
                    cells.append("—")
                    continue
                text = fmt_value(rec, row.unit)
                ci = fmt_ci(rec)
                if ci:
                    text += f"\n[dim]{ci}[/dim]"
                if rec.extra.get("call_path"):
                    text += f"\n[dim]via {escape(rec.extra['call_path'])}[/dim]"
                if rec.fraction_of_peak is not None:
                    text += f"\n[dim]{rec.fraction_of_peak:.1%} of peak[/dim]"
                c = row.vs_best(f)
                if c is not None:
                    color = "dim" if c.significant is False else "yellow"
                    text += f"\n[{color}]{fmt_worse(c, row.unit)}[/{color}]"
                if rec.warnings:
                    text += "\n[red]⚠[/red]"
                cells.append(text)
            best = row.best if len(row.cells) > 1 else None
            label = f"{best} ({'higher' if row.better == 'higher' else 'lower'} is better)" \
                if best else ""
            table.add_row(row.metric, *cells, label)
        console.print(table)
        if note := note_for(scenario, records):
            console.print(f"[dim]{escape(note)}[/dim]")
    print_paths(records, console)
    print_views(records, console)  # each scenario's own view (route tables, profile bars)
    checks = parity(records)
    if checks:
        console.print("[bold]Twin parity[/bold] (against pytorch, same weights):")
        for r in checks:
            ok = "[green]pass[/green]" if r.extra.get("passed") else "[red]FAIL[/red]"
            relaxed = " [yellow]relaxed[/yellow] (reference's own noise floor)" \
                if r.extra.get("relaxed") else ""
            console.print(f"  {r.model} {r.framework:12} {r.metric:28} {fmt(r.value)} "
                          f"(tolerance {r.extra.get('tolerance'):.3g}) {ok}{relaxed}")
    notes = sorted({w.text for r in records for w in r.warnings if r.status == "ok"})
    if notes:
        console.print("[bold]Warnings[/bold] (⚠ above): " + "; ".join(notes[:6]))
    console.print(f"[dim]{escape(LEGEND)} Pairwise tests: comparisons.jsonl.[/dim]")
    print_claims(a, console)
    failed = failures(records)
    if failed:
        # one line per job and cause: a job that records two scenarios fails both with one cause
        lines = dict.fromkeys((r.job_id, (r.error or "unknown error").splitlines()[0])
                              for r in failed)
        console.print(f"[bold red]{len({j for j, _ in lines})} job(s) failed:[/bold red]")
        for job_id, first in lines:
            console.print(f"  [red]✗[/red] {escape(job_id)}: {escape(first)}", highlight=False)


VERDICT_STYLE = {"confirmed": "green", "refuted": "red", "inconclusive": "yellow"}


def print_claims(a: Analysis, console: Console) -> None:
    """The claims' verdicts, one line each, under the machine they speak for."""
    if not a.claims or not a.records:
        return
    console.print(f"[bold]Claims[/bold] — {escape(speaks_for(a.machine))}")
    for c in a.claims:
        style = VERDICT_STYLE.get(c.verdict, "dim")
        console.print(f"  {c.id:4} [{style}]{escape(c.verdict)}[/{style}]: "
                      f"{escape(c.summary[:240])}", highlight=False)
