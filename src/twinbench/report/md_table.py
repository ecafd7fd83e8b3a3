"""Markdown cells and tables for report.md and the views that add sections to it.

Cell text is escaped (``|``, ``<``, ``>``, ``&``, backticks and newlines), because names and
errors may come from users and GitHub renders inline HTML. Its own module so that
``report.markdown`` and the views it calls (``report.profile_view``) import it without a cycle.
"""

from __future__ import annotations

ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "\\|", "`": "\\`", "\n": " ",
           "\r": " "}


def esc(value: object) -> str:
    return "".join(ESCAPES.get(ch, ch) for ch in str(value))


def table(header: list[str], rows: list[list[object]]) -> list[str]:
    out = ["| " + " | ".join(esc(h) for h in header) + " |",
           "|" + "---|" * len(header)]
    out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return out + [""]
