"""The claims of ../shared/CLAIMS.md (C1-C12), each re-checked against a study's evidence.

One function per claim, grouped by kind in the modules of this package; each reads the
evidence computed once (``base.Evidence``) and returns a ``base.ClaimResult``: a verdict
(``base.VERDICTS``) with the lines behind it. ``CHECKS`` is the order the report shows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twinbench.analysis.claims import (
    code,
    deploy,
    distributed,
    ecosystem,
    profile,
    serving,
    speed,
)
from twinbench.analysis.claims.base import CHECK_FAILED, CLAIM_TEXT, ClaimResult, Evidence
from twinbench.results.schema import Record

# the thresholds that turn numbers into words, stated under the claims in every report
THRESHOLDS = (
    f"'close' (C1) = the speed ratio shown inside [{1 / speed.CLOSE:.2f}, {speed.CLOSE:.2f}] "
    "by an equivalence test (TOST on per-process values, Holm-adjusted over the lines), "
    "'not close' = shown outside; 'shorter' (C2) = at most "
    f"{code.SHORTER:.0%} of PyTorch's statements, 'much shorter' (C3) = at most "
    f"{code.MUCH_SHORTER:.0%}; int8 (C5/C6) = the int8-full file at most "
    f"{deploy.SMALLER:.0%} of fp32, the task metric dropping at most {deploy.ACCURACY_DROP} "
    "(absolute), and (C5) less runtime memory than fp32. Code counts are static analysis of "
    "the twins' code.")
Check = Callable[[Evidence], ClaimResult]
CHECKS: tuple[Check, ...] = (
    speed.c1, code.c2, code.c3, code.c4, deploy.c5, deploy.c6, deploy.c7, serving.c8,
    distributed.c9, profile.c10, ecosystem.c11, ecosystem.c12,
)


def assess(records: list[Record], brevity: list[Any] | None = None,
           zoos: dict[str, list[Any]] | None = None,
           evidence: Evidence | None = None) -> list[ClaimResult]:
    """Every claim, in order. A check that raises gets the verdict "check failed: <why>" (a
    bug to report, not missing evidence) and keeps its statement; the other claims go on."""
    ev = evidence or Evidence(records, brevity, zoos)
    out = []
    for fn in CHECKS:
        try:
            out.append(fn(ev))
        except Exception as exc:  # one broken check must not take the report down
            why = " ".join(f"{type(exc).__name__}: {exc}".split())[:160]
            cid = fn.__name__.upper()
            out.append(ClaimResult(cid, CLAIM_TEXT.get(cid, ""), f"{CHECK_FAILED}: {why}",
                                   "the check itself raised an error: a twinbench bug to "
                                   "report, not missing evidence"))
    return out
