"""Code claims C2-C4: brevity of the twins, from the static counts of ``twinbench.brevity``
(logical statements, tokens, cyclomatic complexity, per category of code)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from twinbench.analysis.claims.base import (
    CLAIM_TEXT,
    CONFIRMED,
    NOT_MEASURED,
    REFUTED,
    ClaimResult,
    Evidence,
)

SHORTER = 0.9  # C2: Keras "shorter" = at most 90% of PyTorch's statements
MUCH_SHORTER = 0.8  # C3: Lightning "much shorter" = at most 80% of PyTorch's statements


def _brevity(ev: Evidence, claim_id: str,
             claim: str) -> tuple[ClaimResult, dict[str, Any]] | ClaimResult:
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
