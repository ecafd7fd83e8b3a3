"""What every claim check shares: the verdict words, the claim texts, the evidence they read
and the lines they print. The checks themselves live one module per group (speed, code, deploy,
profile, ecosystem); ``twinbench.analysis.claims.assess`` runs them all.

A claim without fitting evidence is "not measured in this study" (with the command that would
measure it) or "not measurable here" (with the reason) — never a verdict made of defaults or of
evidence that does not bear on it (DESIGN.md, fairness rule 7).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from twinbench.analysis.comparisons import PairResult, pairwise
from twinbench.analysis.rows import Row, rows
from twinbench.analysis.text import fmt
from twinbench.frameworks.base import of_family
from twinbench.results.schema import Record

CONFIRMED, REFUTED, INCONCLUSIVE = "confirmed", "refuted", "inconclusive"
# twinbench can measure it, but this study did not: ``missing`` names the command
NOT_MEASURED = "not measured in this study"
# nothing twinbench runs on this machine bears on it yet: the summary says why
NOT_MEASURABLE = "not measurable here"
VERDICTS = (CONFIRMED, REFUTED, INCONCLUSIVE, NOT_MEASURED, NOT_MEASURABLE)
CHECK_FAILED = "check failed"  # verdict prefix: a bug in the check, never "no evidence"
# each claim's statement, also shown when its check crashes (tests keep the checks in step)
CLAIM_TEXT = {
    "C1": "The two libraries are very close in performance.",
    "C2": "Keras implementations come out shorter than PyTorch ones.",
    "C3": "PyTorch Lightning makes PyTorch code much shorter, as Keras does.",
    "C4": "PyTorch code is longer because it exposes low-level details (training loop, device "
          "moves, zero_grad).",
    "C5": "TensorFlow Lite (LiteRT) compresses a model to a flatbuffer and quantizes it to 8 "
          "bits (integers, not floats), using less memory.",
    "C6": "PyTorch's mobile route (PyTorch Mobile, now ExecuTorch) can quantize, export and save "
          "models for phones with a small runtime.",
    "C7": "TensorFlow.js lets you run models in the browser.",
    "C8": "TFX makes TensorFlow the stronger choice for production serving.",
    "C9": "PyTorch improved distributed training, including pipeline parallelism.",
    "C10": "The PyTorch Profiler helps debug and troubleshoot models.",
    "C11": "For a specific model (e.g. DETR) one library has far more support.",
    "C12": "With a tight deadline, choose Keras over PyTorch.",
}


@dataclass
class ClaimResult:
    id: str
    claim: str
    verdict: str
    summary: str
    evidence: list[str] = field(default_factory=list)
    missing: str = ""  # which study (or install) would supply the evidence


@dataclass
class Evidence:
    """Everything the claim functions read, computed once by ``analysis.study.analyze``."""

    records: list[Record]
    brevity: list[Any] | None = None  # twinbench.brevity.Count, static analysis
    zoos: dict[str, list[Any]] | None = None  # query -> twinbench.zoos.ZooResult
    pairs: list[PairResult] | None = None  # None: computed from the records here
    rows: list[Row] | None = None

    def __post_init__(self) -> None:
        if self.pairs is None:
            self.pairs = pairwise(self.records)
        if self.rows is None:
            self.rows = rows(self.records)

    def side(self, fam: str) -> list[str]:
        """The study's frameworks of family ``fam`` (frameworks.base.FrameworkSpec)."""
        return of_family(dict.fromkeys(r.framework for r in self.records), fam)

    def ok(self, scenario: str, framework: str | None = None) -> list[Record]:
        return [r for r in self.records if r.scenario == scenario and r.status == "ok"
                and (framework is None or r.framework == framework)]

    def variants(self, scenario: str, route: str,
                 model: str | None = None) -> dict[str, dict[str, Record]]:
        """One export route's records (``export.routes``; a v1 record's route is recovered
        by ``route_of``) as variant -> metric -> record. Records of the route itself (an
        unavailable route's ``status``) are under the variant ``""``."""
        from twinbench.export.routes import route_of

        out: dict[str, dict[str, Record]] = defaultdict(dict)
        for r in self.records:
            if r.scenario == scenario and (model is None or r.model == model) \
                    and route_of(r) == route:
                out[r.variant or ""][r.metric] = r
        return out


def how_to_measure(scenario: str, framework: str | None = None) -> str:
    """The command of a study that would produce records of ``scenario``."""
    from twinbench.scenarios import SCENARIOS, spec
    from twinbench.study import PRESETS

    if scenario not in SCENARIOS:
        return f"twinbench has no '{scenario}' scenario yet"
    fw = f" --framework {framework}" if framework else ""
    if spec(scenario).default:
        return f"twinbench run --preset quick{fw}"
    for name, p in PRESETS.items():
        if scenario in p.get("scenarios", []):
            return f"twinbench run --preset {name}{fw}"
    return f"twinbench run --scenario {scenario}{fw}"


def value_text(r: Record) -> str:
    """A measured value with unit, interval, mode, device and threads."""
    ci = f" [{fmt(r.ci95[0])}, {fmt(r.ci95[1])}]" if r.ci95 else " (single value)"
    return f"{fmt(r.value, r.unit)}{ci} ({r.mode}, {r.device}, {r.threads} threads)"


def line(r: Record) -> str:
    """One measured value, named: framework, scenario, quantity (``Record.name``), value."""
    return f"{r.framework} {r.scenario} {r.name}: {value_text(r)}"


def awaiting(claim_id: str, scenario: str, lacking: str, issue: str,
             ev: Evidence) -> ClaimResult | None:
    """A claim whose fitting evidence needs a scenario twinbench does not have yet: "not
    measurable here" with what is lacking and the issue that adds it; once the scenario is
    registered (``twinbench.scenarios.SCENARIOS``) and the study did not run it, "not measured
    in this study" with the command. None when its records are there: the claim's own rule
    reads them."""
    from twinbench.scenarios import SCENARIOS

    if scenario not in SCENARIOS:
        return ClaimResult(claim_id, CLAIM_TEXT[claim_id], NOT_MEASURABLE,
                           f"twinbench has no {lacking} yet", missing=f"{issue} adds the "
                           "scenario")
    if not ev.ok(scenario):
        return ClaimResult(claim_id, CLAIM_TEXT[claim_id], NOT_MEASURED,
                           f"this study did not run the {scenario} scenario",
                           missing=how_to_measure(scenario))
    return None
