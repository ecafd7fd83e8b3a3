"""Group records into comparison rows: one row per measured quantity, one cell per framework.

Shared by the terminal tables and the HTML report so both say the same thing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from twinbench.analysis.comparisons import compare_records
from twinbench.analysis.paths import is_headline
from twinbench.measure.stats import FEW_VALUES, LOADED, WITHIN, Comparison
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
    mode: str = ""  # out-of-box | tuned: numbers of different modes are never one row
    device: str = ""

    @property
    def setting(self) -> str:
        """The mode and device every number of the row was measured in, for titles."""
        return ", ".join(x for x in (self.mode, self.device) if x)

    @property
    def best(self) -> str | None:
        vals = {f: r.value for f, r in self.cells.items() if r.value is not None}
        if not vals or self.better is None:
            return None
        if len(vals) > 1 and len(set(vals.values())) == 1:
            return None  # a tie: nobody is best, nobody "1.00x worse"
        pick = max if self.better == "higher" else min
        return pick(vals, key=lambda f: vals[f])

    def vs_best(self, framework: str) -> Comparison | None:
        """How many times worse than the best, with its interval and significance test."""
        best = self.best
        if best is None or best == framework:
            return None
        mine, top = self.cells[framework], self.cells[best]
        pair = (mine, top) if self.better == "lower" else (top, mine)
        return compare_records(*pair)

    def times_worse(self, framework: str) -> float | None:
        c = self.vs_best(framework)
        return c.ratio if c else None

    def not_significant(self, framework: str) -> bool:
        """True when the gap to the best is not statistically significant (5%)."""
        c = self.vs_best(framework)
        return bool(c and c.significant is False)


def rows(records: list[Record]) -> list[Row]:
    """One row per quantity; mode and device are part of it (as in ``analysis.pairwise``), so
    an out-of-box number is never compared with a tuned one, nor CPU with GPU."""
    groups: dict[tuple, dict[str, Record]] = defaultdict(dict)
    for r in records:
        if r.status == "ok" and r.scenario != "parity" and is_headline(r) and (
                r.value is not None or not_reached(r)):
            groups[(r.task, r.model, r.scenario, r.metric, r.mode, r.device)][r.framework] = r
    out = []
    for (task, model, scenario, metric, mode, device), cells in groups.items():
        any_r = next(iter(cells.values()))
        out.append(Row(task, model, scenario, metric, any_r.unit, any_r.better, cells, mode,
                       device))
    return out


def failures(records: list[Record]) -> list[Record]:
    return [r for r in records if r.status == "failed"]


def parity(records: list[Record]) -> list[Record]:
    return [r for r in records if r.scenario == "parity" and r.status == "ok"
            and "passed" in r.extra]


def not_reached(r: Record) -> bool:
    """A measured "did not happen" (accuracy's time-to-target past its budget), not a gap."""
    return r.value is None and r.extra.get("reached") is False


def fmt_value(r: Record, unit: str = "") -> str:
    """A record's value as the tables show it: "not reached" where that is the result."""
    return "not reached" if not_reached(r) else fmt(r.value, unit)


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


def fmt_worse(c: Comparison) -> str:
    text = f"{c.ratio:.2f}× worse"
    if c.ratio_ci95:
        text += f" [{c.ratio_ci95[0]:.2f}, {c.ratio_ci95[1]:.2f}]"
    if c.significant is False:
        text += " n.s."
    elif c.basis == WITHIN:
        text += " (within-process only)"
    elif c.basis == LOADED:
        text += " (other load: untested)"
    elif c.basis == FEW_VALUES:
        text += " (too few processes with a value: untested)"
    return text


LEGEND = ("Values are medians with bootstrap 95% intervals (hierarchical over worker processes "
          "when there are several); 'N× worse [lo, hi]' is the ratio to the best with its "
          "interval; a difference is tested only across >= 3 worker processes per framework "
          "(Welch t on the logs of the per-process values, 5%): 'n.s.' = not significant; "
          "'(within-process only)' = one process, never called significant; '(other load: "
          "untested)' = other processes used over 10% of the CPU during its timed windows, "
          "kept out of verdicts.")


def fmt_ci(r: Record) -> str:
    if r.ci95 is None:
        return ""
    return f"[{fmt(r.ci95[0])}, {fmt(r.ci95[1])}]"
