"""Terminal output: one table per scenario, each framework's value, interval and ratio to best."""

from __future__ import annotations

from itertools import groupby

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from twinbench.report.compare import failures, fmt, fmt_ci, parity, rows
from twinbench.results.schema import Record


def print_results(records: list[Record], console: Console) -> None:
    frameworks = list(dict.fromkeys(r.framework for r in records))
    all_rows = sorted(rows(records), key=lambda r: (r.task, r.model, r.scenario, r.metric))
    for (task, model, scenario), group in groupby(
        all_rows, key=lambda r: (r.task, r.model, r.scenario)
    ):
        table = Table(title=f"{scenario} · {task} · {model}", title_justify="left",
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
                text = fmt(rec.value, row.unit)
                ci = fmt_ci(rec)
                ratio = row.times_worse(f)
                if ci:
                    text += f"\n[dim]{ci}[/dim]"
                if ratio is not None and f != row.best and len(row.cells) > 1:
                    tag = " ~" if row.overlaps_best(f) else ""
                    text += f"\n[yellow]{ratio:.2f}× worse{tag}[/yellow]"
                if rec.warnings:
                    text += "\n[red]⚠[/red]"
                cells.append(text)
            best = row.best if len(row.cells) > 1 else None
            label = f"{best} ({'higher' if row.better == 'higher' else 'lower'} is better)" \
                if best else ""
            table.add_row(row.metric, *cells, label)
        console.print(table)
    checks = parity(records)
    if checks:
        console.print("[bold]Twin parity[/bold] (against pytorch, same weights):")
        for r in checks:
            ok = "[green]pass[/green]" if r.extra.get("passed") else "[red]FAIL[/red]"
            console.print(f"  {r.model} {r.framework:12} {r.metric:22} {fmt(r.value)} "
                          f"(tolerance {r.extra.get('tolerance'):g}) {ok}")
    notes = sorted({w for r in records for w in r.warnings if r.status == "ok"})
    if notes:
        console.print("[bold]Warnings[/bold] (⚠ above): " + "; ".join(notes[:6]))
    console.print("[dim]Values are medians with bootstrap 95% intervals; '~' marks an interval "
                  "that overlaps the best one (no clear difference).[/dim]")
    failed = failures(records)
    if failed:
        console.print(f"[bold red]{len(failed)} job(s) failed:[/bold red]")
        for r in failed:
            first = (r.error or "").splitlines()[0] if r.error else "unknown error"
            console.print(f"  [red]✗[/red] {escape(r.job_id)}: {escape(first)}", highlight=False)
