"""Group records into comparison rows: one row per measured quantity, one cell per framework.

Shared by the terminal tables and the HTML report so both say the same thing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from twinbench.results.schema import Record


@dataclass
class Row:
    task: str
    model: str
    scenario: str
    metric: str
    unit: str
    better: str | None
    cells: dict[str, Record]  # framework -> record

    @property
    def best(self) -> str | None:
        vals = {f: r.value for f, r in self.cells.items() if r.value is not None}
        if not vals or self.better is None:
            return None
        pick = max if self.better == "higher" else min
        return pick(vals, key=lambda f: vals[f])

    def times_worse(self, framework: str) -> float | None:
        """How many times worse than the best (1.0 for the best itself)."""
        best = self.best
        v = self.cells[framework].value
        if best is None or v is None:
            return None
        b = self.cells[best].value
        if not b or not v:
            return None
        return v / b if self.better == "lower" else b / v

    def overlaps_best(self, framework: str) -> bool:
        """True when this framework's 95% interval overlaps the best one's: not a clear loss."""
        best = self.best
        if best is None or best == framework:
            return False
        a, b = self.cells[framework].ci95, self.cells[best].ci95
        return bool(a and b and a[0] <= b[1] and b[0] <= a[1])


def rows(records: list[Record]) -> list[Row]:
    groups: dict[tuple, dict[str, Record]] = defaultdict(dict)
    for r in records:
        if r.status == "ok" and r.scenario != "parity":
            groups[(r.task, r.model, r.scenario, r.metric)][r.framework] = r
    out = []
    for (task, model, scenario, metric), cells in groups.items():
        any_r = next(iter(cells.values()))
        out.append(Row(task, model, scenario, metric, any_r.unit, any_r.better, cells))
    return out


def failures(records: list[Record]) -> list[Record]:
    return [r for r in records if r.status == "failed"]


def parity(records: list[Record]) -> list[Record]:
    return [r for r in records if r.scenario == "parity" and r.status == "ok"
            and "passed" in r.extra]


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    a = abs(value)
    if a == 0:
        s = "0"
    elif a >= 1000:
        s = f"{value:,.0f}"
    elif a >= 100:
        s = f"{value:.1f}"
    elif a >= 1:
        s = f"{value:.2f}"
    elif a >= 0.01:
        s = f"{value:.3f}"
    else:
        s = f"{value:.2e}"
    return f"{s} {unit}".strip()


def fmt_ci(r: Record) -> str:
    if r.ci95 is None:
        return ""
    return f"[{fmt(r.ci95[0])}, {fmt(r.ci95[1])}]"
