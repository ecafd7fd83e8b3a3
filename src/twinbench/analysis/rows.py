"""Comparison rows: one row per measured quantity, one cell per framework, each cell's
comparison with the best computed once here (renderers only read it)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from twinbench.analysis.comparisons import compare_records
from twinbench.analysis.paths import is_headline
from twinbench.analysis.text import not_reached
from twinbench.measure.stats import Comparison
from twinbench.results.schema import Record
from twinbench.scenarios import compared


@dataclass
class Row:
    task: str
    model: str
    scenario: str
    metric: str  # the records' full name (Record.name: "fp32:export_time", "train/matmul")
    unit: str
    better: str | None
    cells: dict[str, Record]  # framework -> record
    mode: str = ""  # out-of-box | tuned: numbers of different modes are never one row
    device: str = ""
    # framework -> its comparison with the best (None: it is the best, or nothing to compare);
    # filled once by ``rows``, so no renderer re-runs a test or a bootstrap
    vs: dict[str, Comparison | None] = field(default_factory=dict)
    variant: str | None = None  # the records' route variant (export scenarios)
    phase: str | None = None  # the records' profile phase

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

    def compute(self) -> Row:
        """Fill ``vs`` for every cell; returns the row."""
        best = self.best
        for fw, mine in self.cells.items():
            if best is None or best == fw:
                self.vs[fw] = None
                continue
            top = self.cells[best]
            self.vs[fw] = compare_records(*((mine, top) if self.better == "lower"
                                            else (top, mine)))
        return self

    def vs_best(self, framework: str) -> Comparison | None:
        """How many times worse than the best, with its interval and significance test."""
        if framework not in self.vs:
            self.compute()
        return self.vs.get(framework)

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
    groups: dict[tuple[str, ...], dict[str, Record]] = defaultdict(dict)
    for r in records:
        if r.status == "ok" and compared(r.scenario) and is_headline(r) and (
                r.value is not None or not_reached(r)):
            groups[(r.task, r.model, r.scenario, r.name, r.mode, r.device)][r.framework] = r
    out = []
    for (task, model, scenario, metric, mode, device), cells in groups.items():
        any_r = next(iter(cells.values()))
        out.append(Row(task, model, scenario, metric, any_r.unit, any_r.better, cells, mode,
                       device, variant=any_r.variant, phase=any_r.phase).compute())
    return out


def failures(records: list[Record]) -> list[Record]:
    return [r for r in records if r.status == "failed"]


def parity(records: list[Record]) -> list[Record]:
    return [r for r in records if r.scenario == "parity" and r.status == "ok"
            and "passed" in r.extra]
