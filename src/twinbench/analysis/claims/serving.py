"""C8: "TFX makes TensorFlow the stronger choice for production serving" (CLAIMS.md: production
pipelines — serving, data validation, continuous training).

What one machine can show (the ``serve`` scenario's records): the serving part. TensorFlow's
own serving artifact is the SavedModel (what TF Serving would load; TF Serving itself is not
installable here, so the neutral front end serves it); PyTorch's own are eager and AOTInductor
(ONNX Runtime serves both sides' ONNX exports and belongs to neither). Both are compared
behind the same front end, at the same offered rates, on p99 latency with its interval, and on
the highest rate within the p99 bound.

Verdict (of the serving part): **confirmed** when the SavedModel's p99 is below the best
PyTorch-own backend's at every common rate (intervals apart) and its max rate is not lower;
**refuted** when the best PyTorch-own backend's p99 is below the SavedModel's at every
common rate (intervals apart) and its max rate is not lower; **inconclusive** otherwise. A
SavedModel that does not export or answer correctly refutes. TFX's pipeline parts (data
validation, continuous training) are not measurable here: every line says so.
"""

from __future__ import annotations

from collections import defaultdict

from twinbench.analysis.claims.base import (
    CLAIM_TEXT,
    CONFIRMED,
    INCONCLUSIVE,
    REFUTED,
    ClaimResult,
    Evidence,
    awaiting,
)
from twinbench.analysis.text import fmt
from twinbench.results.schema import Record

SERVE = "serve"
TF_OWN = "savedmodel@aiohttp"
TORCH_OWN = ("torch-eager@aiohttp", "aoti@aiohttp")
ONNX = ("onnx-torch@aiohttp", "onnx-keras@aiohttp")
NOT_HERE = ("TFX's pipeline parts (data validation, continuous training) are not measurable "
            "here; this verdict covers serving only")


def _pairs(recs: list[Record]) -> dict[str, dict[str, Record]]:
    out: dict[str, dict[str, Record]] = defaultdict(dict)
    for r in recs:
        if r.scenario == SERVE and "@" in (r.variant or ""):
            out[r.variant or ""]["failed" if r.status == "failed" else r.metric] = r
    return out


def _p99s(m: dict[str, Record]) -> dict[str, Record]:
    return {k.removeprefix("latency_p99_at_"): r for k, r in m.items()
            if k.startswith("latency_p99_at_") and r.value is not None}


def _ci(r: Record) -> tuple[float, float]:
    v = float(r.value or 0.0)
    return (float(r.ci95[0]), float(r.ci95[1])) if r.ci95 else (v, v)


def _below(a: Record, b: Record) -> bool:
    """a's p99 below b's with the intervals apart."""
    return _ci(a)[1] < _ci(b)[0]


def _text(v: str, m: dict[str, Record]) -> str:
    parts = []
    for _, r in sorted(_p99s(m).items()):
        lo, hi = _ci(r)
        parts.append(f"p99 {fmt(r.value)} ms [{fmt(lo)}, {fmt(hi)}] at "
                     f"{fmt(r.extra.get('offered_qps'))}/s")
    mx = m.get("max_qps_within_bound")
    if mx is not None:
        parts.append(f"max {fmt(mx.value)}/s within p99 ≤ "
                     f"{fmt(mx.extra.get('latency_bound_ms'))} ms")
    for metric, unit in (("cold_start", "s"), ("server_memory", "MiB")):
        if metric in m:
            parts.append(f"{metric.replace('_', ' ')} {fmt(m[metric].value, unit)}")
    return f"{v} ({next(iter(m.values())).framework}): " + "; ".join(parts)


def c8(ev: Evidence) -> ClaimResult:
    res = awaiting("C8", SERVE, "serving scenario", "issue #21", ev)
    if res is not None:
        return res
    pairs = _pairs(ev.records)
    evidence = [_text(v, m) if "failed" not in m or _p99s(m) else
                f"{v}: FAILED: {(m['failed'].error or '').splitlines()[0][:160]}"
                for v, m in sorted(pairs.items())]
    for r in ev.records:
        if r.scenario == SERVE and r.metric == "available":
            evidence.append(f"{r.variant}: not run — {r.extra.get('reason', '')}")
        elif r.scenario == SERVE and r.metric == "export_time" and r.status == "failed":
            evidence.append(f"export {r.variant} ({r.framework}): FAILED: "
                            f"{(r.error or '').splitlines()[0][:160]}")

    def result(verdict: str, summary: str) -> ClaimResult:
        return ClaimResult("C8", CLAIM_TEXT["C8"], verdict, f"{summary}. {NOT_HERE}",
                           evidence)

    tf = pairs.get(TF_OWN, {})
    torch = {v: pairs[v] for v in TORCH_OWN if v in pairs and _p99s(pairs[v])}
    if not _p99s(tf):
        if "keras-tf" in {r.framework for r in ev.ok(SERVE)} or any(
                r.variant in ("savedmodel", TF_OWN) and r.status == "failed"
                for r in ev.records if r.scenario == SERVE):
            return result(REFUTED, "TensorFlow's SavedModel did not serve here")
        return result(INCONCLUSIVE, "no SavedModel served in this study (keras-tf not in it)")
    if not torch:
        return result(INCONCLUSIVE, "no PyTorch-own backend (eager, AOTInductor) served in "
                                    "this study")
    tags = sorted(_p99s(tf))

    def best(tag: str) -> tuple[str, Record]:
        got = [(v, _p99s(m)[tag]) for v, m in torch.items() if tag in _p99s(m)]
        return min(got, key=lambda vr: float(vr[1].value or 0.0))

    def maxq(m: dict[str, Record]) -> float:
        r = m.get("max_qps_within_bound")
        return float(r.value) if r is not None and r.value is not None else 0.0

    bests = {t: best(t) for t in tags}
    tf_max = maxq(tf)
    torch_max = max(maxq(m) for m in torch.values())
    detail = "; ".join(f"at {fmt(_p99s(tf)[t].extra.get('offered_qps'))}/s SavedModel p99 "
                       f"{fmt(_p99s(tf)[t].value)} ms vs {v} {fmt(r.value)} ms"
                       for t, (v, r) in bests.items())
    detail += f"; max rate within the bound SavedModel {fmt(tf_max)}/s vs PyTorch " \
              f"{fmt(torch_max)}/s"
    onnx = [(v, _p99s(pairs[v])[tags[-1]]) for v in ONNX if v in pairs
            and tags[-1] in _p99s(pairs[v])]
    if onnx:  # the runtime either side can export to: said, never counted for a side
        detail += "; ONNX Runtime, which serves either side's export, at the higher rate: " \
            + ", ".join(f"{v} p99 {fmt(r.value)} ms" for v, r in onnx)
    if all(_below(_p99s(tf)[t], bests[t][1]) for t in tags) and tf_max >= torch_max:
        return result(CONFIRMED, f"TensorFlow's SavedModel served with a lower p99 than "
                                 f"PyTorch's own backends ({detail})")
    if all(_below(bests[t][1], _p99s(tf)[t]) for t in tags) and torch_max >= tf_max:
        return result(REFUTED, f"PyTorch's own backend served with a lower p99 than "
                               f"TensorFlow's SavedModel ({detail})")
    return result(INCONCLUSIVE, f"neither side's own serving path is lower on p99 at every "
                                f"common rate with intervals apart ({detail})")
