"""Speed claim C1 ("very close in performance"); C9 (distributed training) is in
``claims.distributed``.

C1 is an equivalence claim, so it is tested as one: for every speed quantity (training
throughput, batch-1 latency, batched throughput) of a PyTorch-side framework against
TensorFlow's Keras, per mode and device, the ratio of per-process geometric means is tested
against the margin [1/CLOSE, CLOSE] — TOST for "inside", a one-sided test for "outside", each
Holm-adjusted across all the lines that feed the verdict. A group (mode × scenario family ×
device) is confirmed when every line in it is shown inside, refuted when any is shown outside,
inconclusive otherwise; the claim follows the groups the same way. Lines of one process or of
single values are shown and not counted: they carry no test across processes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import product

from twinbench.analysis.claims.base import (
    CLAIM_TEXT,
    CONFIRMED,
    INCONCLUSIVE,
    NOT_MEASURED,
    REFUTED,
    ClaimResult,
    Evidence,
)
from twinbench.analysis.comparisons import process_values
from twinbench.analysis.rows import Row
from twinbench.frameworks.base import FRAMEWORKS
from twinbench.measure.stats import ALPHA, MIN_PROCESSES, Equivalence, equivalence, holm

CLOSE = 1.25  # C1: "very close" = the ratio lies within [0.8, 1.25]
SPEED = {("train", "throughput"), ("infer", "throughput"), ("infer", "latency_p50")}
# the claim names TensorFlow: its side is Keras on the TensorFlow backend; Keras on JAX or
# torch is shown beside it, not counted
TF_SIDE = tuple(f for f, s in FRAMEWORKS.items() if s.family == "keras"
                and s.backend == "tensorflow")


@dataclass
class Line:
    row: Row
    torch_fw: str
    keras_fw: str
    test: Equivalence | None  # None: not replicated, shown only
    counted: bool
    state: str = "untested"  # inside | outside | inconclusive | untested

    @property
    def group(self) -> str:
        return f"{self.row.mode}, {self.row.scenario}, {self.row.device}"

    def text(self) -> str:
        r = self.row
        head = (f"{r.scenario} {r.metric} ({r.task}/{r.model}, {r.mode}, {r.device}): "
                f"{self.torch_fw} vs {self.keras_fw}")
        if self.test is None:
            return f"{head}: not replicated in >= {MIN_PROCESSES} processes each — not tested"
        t = self.test
        lo, hi = t.ci95
        c_lo, c_hi = t.ci90
        note = "" if self.counted else " (Keras on another backend: shown, not counted)"
        return (f"{head}: {self.torch_fw} {t.ratio:.2f}× as fast [{lo:.2f}, {hi:.2f}] "
                f"(90%: [{c_lo:.2f}, {c_hi:.2f}]) — {self.state}; TOST p={t.p_inside:.3g}, "
                f"outside p={t.p_outside:.3g}{note}")


def _lines(ev: Evidence) -> list[Line]:
    out = []
    for row in ev.rows or []:
        if (row.scenario, row.metric) not in SPEED:
            continue
        torch = [f for f in row.cells if f in FRAMEWORKS and FRAMEWORKS[f].family == "pytorch"]
        keras = [f for f in row.cells if f in FRAMEWORKS and FRAMEWORKS[f].family == "keras"]
        for t, k in product(sorted(torch), sorted(keras)):
            pv, kv = process_values(row.cells[t]), process_values(row.cells[k])
            test = None
            if min(len(pv), len(kv)) >= MIN_PROCESSES and min(pv + kv) > 0:
                # oriented so that > 1 means the PyTorch side is faster
                a, b = (pv, kv) if row.better == "higher" else (kv, pv)
                test = equivalence(a, b, CLOSE)
            out.append(Line(row, t, k, test, k in TF_SIDE))
    return out


def _decide(lines: list[Line]) -> None:
    """Holm across the counted, tested lines: inside, outside or inconclusive each."""
    tested = [ln for ln in lines if ln.test is not None and ln.counted]
    p_in = holm([ln.test.p_inside for ln in tested if ln.test])
    p_out = holm([ln.test.p_outside for ln in tested if ln.test])
    for ln, pi, po in zip(tested, p_in, p_out, strict=True):
        ln.state = ("inside" if pi is not None and pi < ALPHA else
                    "outside" if po is not None and po < ALPHA else "inconclusive")
    for ln in lines:  # context lines: their own unadjusted reading
        if ln.test is not None and not ln.counted:
            ln.state = ("inside" if ln.test.p_inside < ALPHA else
                        "outside" if ln.test.p_outside < ALPHA else "inconclusive")


def _verdict(states: list[str]) -> str:
    if "outside" in states:
        return REFUTED
    if states and all(s == "inside" for s in states):
        return CONFIRMED
    return INCONCLUSIVE


def c1(ev: Evidence) -> ClaimResult:
    res = ClaimResult("C1", CLAIM_TEXT["C1"], NOT_MEASURED, "")
    lines = _lines(ev)
    _decide(lines)
    counted = [ln for ln in lines if ln.counted and ln.test is not None]
    if not counted:
        res.summary = (f"no speed quantity of a PyTorch-side framework and Keras on TensorFlow "
                       f"measured in >= {MIN_PROCESSES} worker processes each (fewer carry no "
                       "test across processes)")
        res.missing = ("twinbench run --preset verdict (or any study of train/infer with "
                       "--processes 3)")
        res.evidence = [ln.text() for ln in lines]
        return res
    groups: dict[str, list[str]] = defaultdict(list)
    for ln in counted:
        groups[ln.group].append(ln.state)
    verdicts = {g: _verdict(s) for g, s in sorted(groups.items())}
    res.verdict = _verdict(["outside" if v == REFUTED else "inside" if v == CONFIRMED
                            else "inconclusive" for v in verdicts.values()])
    res.evidence = [f"group {g}: {v} ({len(groups[g])} line(s): "
                    + ", ".join(f"{groups[g].count(s)} {s}" for s in
                                ("inside", "outside", "inconclusive") if groups[g].count(s))
                    + ")" for g, v in verdicts.items()]
    res.evidence += [ln.text() for ln in lines]
    n_in = sum(ln.state == "inside" for ln in counted)
    n_out = sum(ln.state == "outside" for ln in counted)
    res.summary = (f"{len(counted)} speed ratio(s) of PyTorch against Keras on TensorFlow, "
                   f"tested for equivalence within [{1 / CLOSE:.2f}, {CLOSE:.2f}] "
                   f"(Holm-adjusted): {n_in} shown inside, {n_out} shown outside, "
                   f"{len(counted) - n_in - n_out} inconclusive; groups: "
                   + "; ".join(f"{g} {v}" for g, v in verdicts.items()))
    return res
