"""Scenario views: what a scenario shows beyond (or instead of) the generic per-metric tables
and charts, in the terminal, report.html and report.md.

A scenario names its view in its spec (``Scenario.view = "module:attribute"``); the reports
ask this module, never a scenario name. A scenario without a view gets the generic tables and
charts only.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from rich.console import Console

from twinbench.report.route_table import RouteTable
from twinbench.results.schema import Record


class _Scenarioed(Protocol):
    @property
    def scenario(self) -> str: ...


T = TypeVar("T", bound=_Scenarioed)


@dataclass(frozen=True)
class View:
    heading: str = ""  # report heading above its tables
    generic_tables: bool = True  # its rows appear in the per-metric tables
    generic_charts: bool = True  # ... and in the per-metric bar charts
    in_summary: bool = True  # its rows can be wins and ties in the summary verdict
    terminal: Callable[[list[Record], Console], None] | None = None
    tables: Callable[[list[Record]], list[RouteTable]] | None = None  # html and markdown
    figures: Callable[[list[Record]], list[tuple[str, dict[str, Any]]]] | None = None
    # figure title -> links shown under that figure (the profile's traces)
    links: Callable[[list[Record]], dict[str, list[Any]]] | None = None
    markdown: Callable[[list[Record]], list[str]] | None = None  # report.md's own section
    note: Callable[[list[Record]], str | None] | None = None  # a line under its generic table


PLAIN = View()


def view_of(scenario: str) -> View:
    """The view a scenario declares (PLAIN for none, and for a scenario not registered: old
    records keep the generic tables)."""
    from twinbench.scenarios import INTERNAL, SCENARIOS, spec

    if scenario not in SCENARIOS and scenario not in INTERNAL:
        return PLAIN
    ref = spec(scenario).view
    if ref is None:
        return PLAIN
    module, _, attr = ref.partition(":")
    view = getattr(importlib.import_module(module), attr)
    if not isinstance(view, View):
        raise TypeError(f"{ref} (the view of scenario {scenario!r}) is not a View")
    return view


def _views(records: Iterable[Record]) -> list[View]:
    """The views of the scenarios present, in registry order, each once."""
    from twinbench.scenarios import INTERNAL, SCENARIOS

    present = {r.scenario for r in records}
    order = [s for s in (*SCENARIOS, *INTERNAL) if s in present]
    return list(dict.fromkeys(v for v in map(view_of, order) if v is not PLAIN))


def in_tables(rows: Iterable[T]) -> list[T]:
    return [r for r in rows if view_of(r.scenario).generic_tables]


def in_charts(rows: Iterable[T]) -> list[T]:
    return [r for r in rows if view_of(r.scenario).generic_charts]


def in_summary(rows: Iterable[T]) -> list[T]:
    return [r for r in rows if view_of(r.scenario).in_summary]


def print_tables(tables: list[RouteTable], console: Console,
                 bad: tuple[str, ...] = ("FAILED",)) -> None:
    """A view's tables in the terminal; a row with a cell starting with ``bad`` in red."""
    from rich.markup import escape
    from rich.table import Table

    for t in tables:
        tab = Table(title=t.title, title_justify="left")
        for c in t.columns:
            tab.add_column(c)
        for cells in t.rows:
            red = any(c.startswith(bad) for c in cells)
            tab.add_row(*(escape(c) for c in cells), style="red" if red else None)
        console.print(tab)
        for n in t.notes:
            console.print(f"[dim]{escape(n)}[/dim]")


def print_views(records: list[Record], console: Console) -> None:
    for v in _views(records):
        if v.terminal:
            v.terminal(records, console)


def view_tables(records: list[Record]) -> list[tuple[str, list[RouteTable]]]:
    """(heading, tables) of the views that have tables with something in them; views that
    share a heading share its section."""
    out: dict[str, list[RouteTable]] = {}
    for v in _views(records):
        if v.tables and (tables := v.tables(records)):
            out.setdefault(v.heading, []).extend(tables)
    return list(out.items())


def view_figures(records: list[Record]) -> list[tuple[str, dict[str, Any]]]:
    return [f for v in _views(records) if v.figures for f in v.figures(records)]


def view_links(records: list[Record]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for v in _views(records):
        if v.links:
            out.update(v.links(records))
    return out


def view_markdown(records: list[Record]) -> list[str]:
    return [line for v in _views(records) if v.markdown for line in v.markdown(records)]


def note_for(scenario: str, records: list[Record]) -> str | None:
    """The line a scenario's view puts under its generic table (the ceiling's peak note)."""
    v = view_of(scenario)
    return v.note(records) if v.note else None
