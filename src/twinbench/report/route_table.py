"""A plain table of a report section (deployment routes, call paths): title, columns, rows."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RouteTable:
    """Rows of strings, shared by the terminal, HTML and Markdown renderers."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
