"""Terminal output of the verdict commands: brevity, models, recommend, compare (rich tables).

Kept apart from cli.py so the commands stay a few lines each; every user-supplied string goes
through ``rich.markup.escape``.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from twinbench.analysis.text import fmt, fmt_ci


def print_brevity(counts: list[Any], console: Console) -> None:
    from twinbench.brevity import CATEGORIES

    t = Table(title="code brevity of the twins (static analysis: radon + tokenize; rules in "
              "docs/brevity.md)", title_justify="left")
    for c in ("model", "style", "core stmts", "core tokens", "LLOC", "SLOC", "CC",
              *CATEGORIES):
        t.add_column(c, justify="left" if c in ("model", "style") else "right")
    for c in counts:
        t.add_row(c.model, c.style, str(c.core_statements), str(c.core_tokens), str(c.lloc),
                  str(c.sloc), str(c.cc), *(str(c.statements[k]) for k in CATEGORIES))
    console.print(t)
    console.print("[dim]core = model definition + training loop + device + data + metrics + "
                  "inference (export is the same for every model). LLOC/CC: radon on the "
                  "normalised code; SLOC: radon on the file as written.[/dim]")


def print_models(query: str, results: list[Any], console: Console, limit: int = 12) -> None:
    from twinbench.zoos import availability, support

    t = Table(title=f"where is {escape(query)!r}? (model registries, offline)",
              title_justify="left")
    for c in ("zoo", "state", "ecosystem", "found", "pretrained"):
        t.add_column(c)
    for z in results:
        head = f"{z.zoo} {z.version or ''}".strip()
        if z.state != "installed":
            t.add_row(head, f"[yellow]{z.state}[/]", "", escape(z.note), "")
        elif not z.hits:
            t.add_row(head, "installed", "", "[dim]no match[/]", "")
        for i, h in enumerate(z.hits[:limit]):
            pre = {True: "yes", False: "no", None: "not declared"}[h.pretrained]
            t.add_row(head if i == 0 else "", "installed" if i == 0 else "", h.ecosystem,
                      escape(h.name) + (f" [dim]{escape(h.detail)}[/]" if h.detail else ""), pre)
        if len(z.hits) > limit:
            t.add_row("", "", "", f"[dim]… {len(z.hits) - limit} more[/]", "")
    console.print(t)
    for eco, state in availability(results).items():
        console.print(f"  {eco}: {escape(state)}")
    for s in support(results).values():
        console.print(f"  pretrained variants: {escape(s.text())}")
    for z in results:
        if z.bridges:
            console.print(f"  {z.zoo} also loads checkpoints of {escape(', '.join(z.bridges))}"
                          " (converted on load)")


def print_recommendation(rec: Any, console: Console) -> None:
    """Ranking with 95% intervals, whether it is resolved, the weight-sensitivity table, then
    every criterion's lines (each score traceable) and the missing evidence."""
    t = Table(title=f"recommendation (device {escape(rec.device)}, a {rec.job_minutes:g}-minute "
              "training job)", title_justify="left")
    t.add_column("rank")
    t.add_column("framework")
    t.add_column("score [95%]", justify="right")
    for c in rec.criteria:
        note = "" if c.scored else " (no tested evidence)"
        t.add_column(f"{escape(c.priority.label)} ×{c.weight}{note}", justify="right")
    for i, (fw, total) in enumerate(rec.ranking(), 1):
        lo, hi = rec.interval(fw)
        cells = ["—" if c.scores.get(fw) is None else
                 f"{c.scores[fw]:.2f} [{c.interval(fw)[0]:.2f}, {c.interval(fw)[1]:.2f}]"
                 for c in rec.criteria]
        t.add_row(str(i), fw, f"{total:.2f} [{lo:.2f}, {hi:.2f}]", *cells)
    console.print(t)
    console.print("[dim]credit per line = 1/(times worse than the best), its interval from the "
                  "ratio's 95% interval; only lines tested across >= 3 worker processes score; "
                  "criterion score = geometric mean of its lines' credits; total = weighted "
                  "mean, earlier priorities weigh more; — = no tested evidence (counts 0, "
                  "interval [0, 1]).[/dim]")
    rank = rec.ranking()
    if len(rank) > 1:
        top = rank[0][0]
        console.print(f"[bold green]resolved[/]: {escape(top)}'s interval is clear of every "
                      "other framework's" if rec.resolved else
                      f"[bold yellow]not resolved[/]: {escape(top)} ranks first, but its "
                      "interval overlaps another framework's — the evidence does not separate "
                      "them")
    sens = rec.sensitivity()
    if sens:
        s = Table(title="sensitivity: one criterion's weight changed, the others fixed",
                  title_justify="left")
        for col in ("criterion", "weight ×", "top framework", "changes?"):
            s.add_column(col)
        for row in sens:
            s.add_row(escape(row.criterion), f"{row.factor:g}", escape(row.top),
                      "[yellow]yes[/]" if row.changed else "no")
        console.print(s)
    for c in rec.criteria:
        console.print(f"[bold]{escape(c.priority.label)}[/] — lines behind the score:")
        for ln in c.lines or ["  (none)"]:
            console.print("  " + escape(ln), highlight=False, soft_wrap=True)
    missing = [m for c in rec.criteria for m in c.missing]
    if missing:
        console.print("[bold yellow]Missing evidence[/]:")
        for m in dict.fromkeys(missing):
            console.print("  " + escape(m), highlight=False, soft_wrap=True)


def print_changes(changes: list[Any], only_a: list[Any], only_b: list[Any],
                  versions: list[str], console: Console, names: tuple[str, str]) -> None:
    t = Table(title=f"{escape(names[0])} (A) → {escape(names[1])} (B)", title_justify="left")
    for c in ("framework", "scenario · metric", "A", "B", "B/A [95%]", "p", "verdict"):
        t.add_column(c, justify="right" if c in ("A", "B", "B/A [95%]", "p") else "left")
    color = {"improved": "green", "regressed": "red"}
    for ch in changes:
        task, model, fw, scen, metric, mode, device, path = ch.key
        ratio = "—" if ch.ratio is None else f"{ch.ratio:.3f}" + (
            f" [{ch.ratio_ci95[0]:.3f}, {ch.ratio_ci95[1]:.3f}]" if ch.ratio_ci95 else "")
        v = ch.verdict if ch.verdict not in color else f"[{color[ch.verdict]}]{ch.verdict}[/]"
        via = f", {path}" if path else ""
        t.add_row(fw, escape(f"{scen} · {metric} ({model}, {mode}{via}, {device})"),
                  f"{fmt(ch.a.value, ch.unit)} {fmt_ci(ch.a)}", f"{fmt(ch.b.value, ch.unit)} "
                  f"{fmt_ci(ch.b)}", ratio, "" if ch.p_value is None else f"{ch.p_value:.3g}", v)
    console.print(t)
    if versions:
        console.print("[bold]Versions that changed[/]: " + escape("; ".join(versions)))
    for label, keys in (("only in A", only_a), ("only in B", only_b)):
        if keys:
            console.print(f"[dim]{label}: " + escape(", ".join(
                f"{k[2]} {k[3]}·{k[4]}" for k in keys[:12])) + (" …" if len(keys) > 12 else "")
                + "[/dim]")
    console.print("[dim]B/A with its 95% interval; a verdict only where both sides ran in >= 3 "
                  "worker processes (Welch t on the logs of per-process values, 5%); 'untested' "
                  "= one process, single values or too few processes with a value.[/dim]")
