"""The claims of ../shared/CLAIMS.md (C1-C12), each re-checked against THIS study's evidence.

One small function per claim reads records (and, for code and availability claims, the static
brevity counts and the zoo search) and returns a verdict with the measured lines behind it. A
claim without evidence in the study says "not measured in this study" and which study would
measure it — never a verdict made of defaults. Thresholds that turn numbers into words are
constants below, stated in the report. The deployment claims (C5-C8) are in
``claims_deploy``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twinbench.analysis.comparisons import PairResult, pairwise
from twinbench.measure.stats import ALPHA, holm
from twinbench.report.compare import fmt
from twinbench.results.schema import Record

CONFIRMED, REFUTED = "confirmed", "refuted"
NOT_SIGNIFICANT, NOT_MEASURED = "no significant difference", "not measured in this study"
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
CLOSE = 1.25  # C1: "very close" = within 25% either way
SHORTER = 0.9  # C2: Keras "shorter" = at most 90% of PyTorch's statements
MUCH_SHORTER = 0.8  # C3: Lightning "much shorter" = at most 80% of PyTorch's statements
SMALLER = 0.5  # C5/C6: int8 "compresses" = file at most half the fp32 file
TORCH_SIDE = ("pytorch", "lightning")
SPEED = {("train", "throughput"), ("infer", "throughput"), ("infer", "latency_p50")}


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
    """Everything the claim functions read; ``pairs`` are computed once."""

    records: list[Record]
    brevity: list[Any] | None = None  # twinbench.brevity.Count, static analysis
    zoos: dict[str, list[Any]] | None = None  # query -> twinbench.zoos.ZooResult
    pairs: list[PairResult] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pairs = pairwise(self.records)

    def ok(self, scenario: str, framework: str | None = None) -> list[Record]:
        return [r for r in self.records if r.scenario == scenario and r.status == "ok"
                and (framework is None or r.framework == framework)]

    def routes(self, scenario: str, framework: str) -> dict[str, dict[str, Record]]:
        """``<route>:<metric>`` records (export scenarios) as route -> metric -> record."""
        out: dict[str, dict[str, Record]] = defaultdict(dict)
        for r in self.records:
            if r.scenario == scenario and r.framework == framework and ":" in r.metric:
                route, metric = r.metric.split(":", 1)
                out[route][metric] = r
        return out


def how_to_measure(scenario: str, framework: str | None = None) -> str:
    """The command of a study that would produce records of ``scenario``."""
    from twinbench.scenarios import DEFAULT_SCENARIOS, SCENARIOS
    from twinbench.study import PRESETS

    if scenario not in SCENARIOS:
        return f"twinbench has no '{scenario}' scenario yet"
    fw = f" --framework {framework}" if framework else ""
    if scenario in DEFAULT_SCENARIOS:
        return f"twinbench run --preset quick{fw}"
    for name, p in PRESETS.items():
        if scenario in p.get("scenarios", []):
            return f"twinbench run --preset {name}{fw}"
    return f"twinbench run --scenario {scenario}{fw}"


def line(r: Record) -> str:
    """One measured value with unit, interval, mode, device and threads."""
    ci = f" [{fmt(r.ci95[0])}, {fmt(r.ci95[1])}]" if r.ci95 else " (single value)"
    return (f"{r.framework} {r.scenario} {r.metric}: {fmt(r.value, r.unit)}{ci} "
            f"({r.mode}, {r.device}, {r.threads} threads)")


def advantage(p: PairResult, fw: str) -> tuple[float, tuple[float, float] | None]:
    """How many times better ``fw`` is than the other side of the pair (>1: fw better)."""
    flip = (p.a == fw) != (p.better == "higher")  # ratio is a/b; invert when needed
    if not flip:
        return p.ratio, p.ratio_ci95
    ci = (1 / p.ratio_ci95[1], 1 / p.ratio_ci95[0]) if p.ratio_ci95 else None
    return 1 / p.ratio, ci


def pair_line(p: PairResult, fw: str) -> str:
    other = p.b if p.a == fw else p.a
    f, ci = advantage(p, fw)
    iv = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""
    sig = {True: "significant", False: "not significant"}.get(p.significant, p.basis)
    pv = "" if p.p_value is None else f", p={p.p_value:.3g}"
    return (f"{p.scenario} {p.metric} ({p.task}/{p.model}, {p.mode}, {p.device}): {fw} is "
            f"{f:.2f}×{iv} as good as {other} ({sig}{pv})")


def c1(ev: Evidence) -> ClaimResult:
    res = ClaimResult("C1", CLAIM_TEXT["C1"], NOT_MEASURED, "")
    pairs = [p for p in ev.pairs if (p.scenario, p.metric) in SPEED and "pytorch" in (p.a, p.b)
             and any(x.startswith("keras") for x in (p.a, p.b)) and p.significant is not None]
    if not pairs:
        res.summary = ("no train/infer speed pair of PyTorch and Keras measured in >= 3 worker "
                       "processes each (one process is compared within-process only, never "
                       "tested)")
        res.missing = how_to_measure("train") + " --processes 3"
        return res
    res.evidence = [pair_line(p, "pytorch") for p in pairs]
    # several tests feed this one verdict: Holm keeps its family-wise error at 5%
    adjusted = holm([p.p_value for p in pairs])
    held = {id(p) for p, q in zip(pairs, adjusted, strict=True) if q is not None and q < ALPHA}
    far = [p for p in pairs if id(p) in held and not 1 / CLOSE <= advantage(p, "pytorch")[0]
           <= CLOSE]
    near = [p for p in pairs if 1 / CLOSE <= advantage(p, "pytorch")[0] <= CLOSE]
    if far:
        worst = max(far, key=lambda p: abs(math.log(p.ratio)))
        f = advantage(worst, "pytorch")[0]
        other = worst.a if worst.b == "pytorch" else worst.b
        res.verdict = REFUTED
        res.summary = (f"{len(far)} of {len(pairs)} speed comparisons differ significantly "
                       "(Holm-adjusted across them) by "
                       f"more than {CLOSE - 1:.0%}; largest: {worst.scenario} {worst.metric}, "
                       f"PyTorch {f:.2f}× as good as {other}")
    elif len(near) == len(pairs):
        res.verdict = CONFIRMED
        res.summary = f"all {len(pairs)} speed ratios within ±{CLOSE - 1:.0%}"
    else:
        res.verdict = NOT_SIGNIFICANT
        res.summary = "ratios beyond the margin are not statistically significant"
    return res


def _brevity(ev: Evidence, claim_id: str, claim: str) -> tuple[ClaimResult, dict] | ClaimResult:
    res = ClaimResult(claim_id, claim, NOT_MEASURED, "", missing="twinbench brevity")
    if not ev.brevity:
        res.summary = "no brevity counts (static code analysis) were given to the report"
        return res
    by: dict[str, dict[str, Any]] = defaultdict(dict)
    for c in ev.brevity:
        by[c.style][c.model] = c
    return res, by


def _count_line(c: Any) -> str:
    return (f"{c.model} {c.style}: {c.core_statements} statements, {c.core_tokens} tokens, "
            f"CC {c.cc} (model+training+data+inference; static, radon/tokenize)")


def _shorter_than_pytorch(
    ev: Evidence, claim_id: str, claim: str, style: str, limit: float, none_msg: str,
    summary: Callable[[float, int, int, int], str],  # (ratio, style's, PyTorch's, families)
) -> ClaimResult:
    """Statements of ``style`` against PyTorch's, summed over the twin families both have."""
    got = _brevity(ev, claim_id, claim)
    if isinstance(got, ClaimResult):
        return got
    res, by = got
    models = sorted(set(by.get("pytorch", {})) & set(by.get(style, {})))
    if not models:
        res.summary = none_msg
        return res
    pt = sum(by["pytorch"][m].core_statements for m in models)
    other = sum(by[style][m].core_statements for m in models)
    res.evidence = [_count_line(by[s][m]) for m in models for s in ("pytorch", style)]
    ratio = other / pt
    res.verdict = CONFIRMED if ratio <= limit else REFUTED
    res.summary = summary(ratio, other, pt, len(models))
    res.missing = ""
    return res


def c2(ev: Evidence) -> ClaimResult:
    return _shorter_than_pytorch(
        ev, "C2", CLAIM_TEXT["C2"], "keras", SHORTER,
        "no twin family has both a PyTorch and a Keras file",
        lambda ratio, kr, pt, n: (
            f"over {n} twin families Keras needs {ratio:.0%} of PyTorch's statements "
            f"({kr} vs {pt}); 'shorter' means ≤ {SHORTER:.0%}"))


def c3(ev: Evidence) -> ClaimResult:
    return _shorter_than_pytorch(
        ev, "C3", CLAIM_TEXT["C3"], "lightning", MUCH_SHORTER,
        "no Lightning twin (frameworks/lightning/adapter.py) in this checkout",
        lambda ratio, lt, pt, _n: (
            f"Lightning needs {ratio:.0%} of plain PyTorch's statements ({lt} vs {pt}); "
            f"'much shorter' means ≤ {MUCH_SHORTER:.0%}. The model code is the same "
            "nn.Module: Lightning moves the loop, it does not remove it"))


def c4(ev: Evidence) -> ClaimResult:
    got = _brevity(ev, "C4", CLAIM_TEXT["C4"])
    if isinstance(got, ClaimResult):
        return got
    res, by = got
    models = sorted(set(by.get("pytorch", {})) & set(by.get("keras", {})))
    if not models:
        res.summary = "no twin family has both a PyTorch and a Keras file"
        return res
    diff: dict[str, int] = defaultdict(int)
    for m in models:
        for cat, n in by["pytorch"][m].statements.items():
            if cat != "export":
                diff[cat] += n - by["keras"][m].statements[cat]
    total = sum(diff.values())
    low = sum(v for k, v in diff.items() if k != "model definition")
    res.evidence = [f"PyTorch minus Keras, {cat}: {v:+d} statements" for cat, v in diff.items()]
    if total <= 0:
        res.verdict, res.summary = REFUTED, f"PyTorch is not longer ({total:+d} statements)"
    else:
        res.verdict = CONFIRMED if low >= total / 2 else REFUTED
        res.summary = (f"PyTorch is {total} statements longer; {low} of them ({low / total:.0%}) "
                       "are loop, device, data, metric and inference code")
    res.missing = ""
    return res


def _generic(ev: Evidence, scenario: str, claim_id: str, claim: str) -> ClaimResult:
    res = ClaimResult(claim_id, claim, NOT_MEASURED, "", missing=how_to_measure(scenario))
    recs = [r for r in ev.records if r.scenario == scenario]
    if not recs:
        res.summary = f"no {scenario} records in this study"
        return res
    res.missing = ""
    res.evidence = [line(r) if r.status == "ok" else f"{r.framework}: failed: {r.error}"
                    for r in recs][:20]
    torch_ok = [r for r in recs if r.framework in TORCH_SIDE and r.status == "ok"]
    torch_bad = [r for r in recs if r.framework in TORCH_SIDE and r.status == "failed"]
    if torch_ok:
        others = sorted({r.framework for r in recs if r.status == "ok"} - set(TORCH_SIDE))
        res.verdict = CONFIRMED
        res.summary = f"the PyTorch side produced {len(torch_ok)} {scenario} measurements" + (
            f"; so did {', '.join(others)}" if others else "")
    elif torch_bad:
        res.verdict, res.summary = REFUTED, f"the PyTorch {scenario} job failed here"
    else:
        res.summary = f"no PyTorch {scenario} records"
    return res


def c9(ev: Evidence) -> ClaimResult:
    return _generic(ev, "distributed", "C9", CLAIM_TEXT["C9"])


def c10(ev: Evidence) -> ClaimResult:
    from twinbench.report.claims_profile import c10 as check  # traces parsed, unknown share

    return check(ev)


def c11(ev: Evidence) -> ClaimResult:
    from twinbench.zoos import KERAS, PYTORCH, TENSORFLOW, availability

    res = ClaimResult("C11", CLAIM_TEXT["C11"], NOT_MEASURED, "",
                      missing="pip install timm transformers keras-hub (docs/models.md), then "
                      "twinbench report DIR")
    if not ev.zoos:
        res.summary = "no zoo search was run for this report"
        return res
    decided = []
    for query, results in ev.zoos.items():
        a = availability(results)
        res.evidence.append(f"{query}: " + "; ".join(f"{e}: {a[e]}" for e in
                                                      (PYTORCH, TENSORFLOW, KERAS)))
        torch_side, tf_side = a[PYTORCH], (a[KERAS], a[TENSORFLOW])
        if torch_side.startswith("unknown") or all(s.startswith("unknown") for s in tf_side):
            continue
        tf_best = "pretrained" if "pretrained" in tf_side else "architecture only" \
            if "architecture only" in tf_side else "absent"
        if (torch_side == "pretrained") != (tf_best == "pretrained"):
            decided.append(f"{query} ({'PyTorch' if torch_side == 'pretrained' else 'Keras/TF'})")
    res.evidence.append("static search of the zoos installed where the report was made")
    if decided:
        res.verdict, res.missing = CONFIRMED, ""
        res.summary = "pretrained weights on one side only: " + ", ".join(decided)
    elif any(not a.startswith("unknown") for q in ev.zoos.values()
             for a in availability(q).values()):
        res.summary = "zoos of only one ecosystem are installed, or no query separates them"
    return res


def c12(ev: Evidence) -> ClaimResult:
    from twinbench.recommend import Priority, recommend

    res = ClaimResult("C12", CLAIM_TEXT["C12"], NOT_MEASURED, "",
                      missing=how_to_measure("startup"))
    if not ev.ok("startup") and not ev.ok("accuracy"):
        res.summary = "no startup or accuracy records (time to a working model)"
        return res
    rec = recommend(ev.records, [Priority("deadline")], ev.brevity)
    rank = rec.ranking()
    res.evidence = [f"{fw}: deadline score {s:.2f}" for fw, s in rank]
    res.evidence += rec.criteria[0].lines[:24]
    res.missing = ""
    (top, s1), (second, s2) = rank[0], rank[1] if len(rank) > 1 else (rank[0][0], 0.0)
    keras_top = top.startswith("keras")
    if abs(s1 - s2) < 0.05 and second.startswith("keras") != keras_top:
        res.verdict, res.summary = NOT_SIGNIFICANT, f"{top} and {second} score within 0.05"
    else:
        res.verdict = CONFIRMED if keras_top else REFUTED
        res.summary = (f"{top} ranks first for a deadline ({s1:.2f} vs {second} {s2:.2f}): "
                       "startup, first step, training wall time and code brevity")
    return res


def claims() -> tuple[Callable[[Evidence], ClaimResult], ...]:
    from twinbench.report.claims_deploy import c5, c6, c7, c8

    return (c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12)


def assess(records: list[Record], brevity: list[Any] | None = None,
           zoos: dict[str, list[Any]] | None = None) -> list[ClaimResult]:
    """Every claim, in order. A check that raises gets the verdict "check failed: <why>" (a
    bug to report, not missing evidence) and keeps its statement; the other claims go on."""
    ev = Evidence(records, brevity, zoos)
    out = []
    for fn in claims():
        try:
            out.append(fn(ev))
        except Exception as exc:  # one broken check must not take the report down
            why = " ".join(f"{type(exc).__name__}: {exc}".split())[:160]
            cid = fn.__name__.upper()
            out.append(ClaimResult(cid, CLAIM_TEXT.get(cid, ""), f"{CHECK_FAILED}: {why}",
                                   "the check itself raised an error: a twinbench bug to "
                                   "report, not missing evidence"))
    return out
