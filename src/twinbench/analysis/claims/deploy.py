"""Claims C5-C8 of ../shared/CLAIMS.md: deployment — phone (LiteRT, ExecuTorch), browser
(TF.js beside LiteRT.js and ONNX Runtime Web) and server — from export and server records.

Which routes bear on which claim comes from the route table (``twinbench.export.routes``): C5
judges every mobile route whose files LiteRT runs, C6 every one ExecuTorch runs, C7 the web
routes TF.js runs; records are selected by their ``route`` and ``variant`` fields.

Helpers, verdict names and thresholds live in ``twinbench.analysis.claims``.
"""

from __future__ import annotations

from twinbench.analysis.claims.base import (
    CLAIM_TEXT,
    CONFIRMED,
    INCONCLUSIVE,
    NOT_MEASURABLE,
    NOT_MEASURED,
    REFUTED,
    ClaimResult,
    Evidence,
    how_to_measure,
    line,
    value_text,
)
from twinbench.analysis.text import fmt
from twinbench.export.routes import Route, of_kind
from twinbench.results.schema import Record

ROUTE = "int8-full"  # the variant (integer weights and activations) "quantizes to 8 bits" means
SMALLER = 0.5  # the int8 file at most half the fp32 file
ACCURACY_DROP = 0.02  # the task metric may fall at most 2 points (absolute) under int8
# memory: int8's runtime memory (peak RSS added by loading and running) must be lower than
# fp32's; more than this factor (and MEMORY_SLACK_MIB) above it refutes, between is undecided:
# the figures are single values of one runtime process each
MEMORY_FACTOR, MEMORY_SLACK_MIB = 1.10, 1.0


def _routes(loader: str) -> list[Route]:
    """The table's mobile routes whose files run in ``loader``'s runtime."""
    return [r for r in of_kind("mobile") if r.loader == loader]


def _at(route: Route, model: str, r: Record) -> str:
    """One evidence line: the runtime, model, variant and quantity, then the value."""
    return f"{route.runtime} {model} {r.variant} {r.metric}: {value_text(r)}"


def _judge_model(route: Route, model: str, variants: dict[str, dict[str, Record]], label: str,
                 memory: bool) -> tuple[str, str, list[str]]:
    """(verdict, summary, evidence) of one model's fp32 and int8 variants on one route."""
    runtime = route.runtime
    names = (route.variant("fp32"), route.variant(ROUTE))
    fp, q = variants.get(names[0], {}), variants.get(names[1], {})
    for name, r in zip(names, (fp, q), strict=True):
        st = r.get("status")
        if st is not None and st.status == "failed":  # a tool failure, not evidence
            return NOT_MEASURABLE, f"{label}: the {runtime} {name} variant failed here (a " \
                f"tool or route failure, not a verdict on the claim): {st.error}", []
    need = ("file_size", "latency_p50", "runtime_rss_delta")
    lacking = [f"{n}:{k}" for n, r in zip(names, (fp, q), strict=True) for k in need
               if k not in r]
    change = next((q[k] for k in sorted(q) if k.endswith("_change")), None)
    if change is None:
        lacking.append(f"{names[1]}:<metric>_change")
    keys = [*need, "peak_rss", "latency_p90"] + [k for k in sorted(q) if k.endswith("_change")]
    evidence = [_at(route, model, r[k]) for r in (fp, q) for k in keys if k in r]
    if lacking:
        return INCONCLUSIVE, f"{label}: no {', '.join(lacking)} record", evidence
    size = q["file_size"].value / fp["file_size"].value  # type: ignore[operator]
    drop = -(change.value or 0.0)  # type: ignore[union-attr]
    metric = change.metric.removesuffix("_change")  # type: ignore[union-attr]
    mq, mf = q["runtime_rss_delta"].value or 0.0, fp["runtime_rss_delta"].value or 0.0
    lat = (q["latency_p50"].value or 0.0) / (fp["latency_p50"].value or 1.0)
    checks = {
        "size": (size <= SMALLER, f"int8 file {size:.0%} of fp32 (≤ {SMALLER:.0%} needed)"),
        "accuracy": (drop <= ACCURACY_DROP, f"{metric} {-drop:+.3f} under int8 on "
                     f"{change.extra.get('n_eval', 'the')} eval samples (a drop ≤ "  # type: ignore[union-attr]
                     f"{ACCURACY_DROP} needed)"),
    }
    if memory:
        worse = mq > mf * MEMORY_FACTOR + MEMORY_SLACK_MIB
        checks["memory"] = (True if mq < mf else False if worse else None,
                            f"runtime memory {fmt(mq, 'MiB')} vs fp32 {fmt(mf, 'MiB')} "
                            "(single values of one process)")
    text = f"{label}: " + "; ".join(t for _, t in checks.values()) + \
        f"; batch-1 latency in the {runtime} runtime {lat:.2f}× fp32's (shown, not judged)"
    if fp["file_size"].value and fp["file_size"].value < 2**20:
        text += "; a model this small is dominated by fixed file overhead"
    states = [ok for ok, _ in checks.values()]
    verdict = REFUTED if False in states else CONFIRMED if all(states) else INCONCLUSIVE
    return verdict, text, evidence


def _int8(ev: Evidence, claim_id: str, loader: str, memory: bool) -> ClaimResult:
    """The claim's verdict over every model on every mobile route of ``loader``'s runtime."""
    res = ClaimResult(claim_id, CLAIM_TEXT[claim_id], NOT_MEASURED, "",
                      missing=how_to_measure("export-mobile"))
    got = {r.id: {m: ev.variants("export-mobile", r.id, m) for m in sorted(
        {x.model for x in ev.records if x.scenario == "export-mobile"})} for r in _routes(loader)}
    ran = [r for r in _routes(loader) if any(set(v) - {""} for v in got[r.id].values())]
    for r in _routes(loader):  # a route the table marks unavailable: its record says why
        st = next((v[""]["status"] for v in got[r.id].values() if "status" in v.get("", {})),
                  None)
        if r not in ran and st is not None:
            res.evidence.append(f"{r.title}: not run here: "
                                f"{st.extra.get('why') or st.error or st.extra.get('reason')}")
    if not ran:
        names = " or ".join(f"{r.id} (framework {r.framework})" for r in _routes(loader)
                            if r.available)
        res.summary = f"no {_routes(loader)[0].runtime} export records (route {names}, " \
                      "scenario export-mobile)"
        return res
    res.missing = ""
    judged = [_judge_model(r, m, v, m if len(ran) == 1 else f"{m} ({r.title})", memory)
              for r in ran for m, v in got[r.id].items() if set(v) - {""}]
    verdicts = [v for v, _, _ in judged]
    decided = [v for v in verdicts if v != NOT_MEASURABLE]
    res.verdict = (NOT_MEASURABLE if not decided else REFUTED if REFUTED in decided else
                   CONFIRMED if all(v == CONFIRMED for v in decided) else INCONCLUSIVE)
    res.summary = " | ".join(t for _, t, _ in judged)
    res.evidence = [e for _, _, ev_ in judged for e in ev_] + res.evidence
    return res


def c5(ev: Evidence) -> ClaimResult:
    """LiteRT: smaller, accuracy within the bound, and less memory in the LiteRT runtime (every
    mobile route of the table whose files LiteRT runs)."""
    return _int8(ev, "C5", "litert", memory=True)


def c6(ev: Evidence) -> ClaimResult:
    """ExecuTorch: the int8 variant works (smaller, accuracy within the bound) in the
    ExecuTorch runtime; the runtime's native library size is shown (the "small runtime")."""
    res = _int8(ev, "C6", "executorch", memory=False)
    for route in _routes("executorch"):
        libs = ev.variants("export-mobile", route.id).get(route.variant("runtime"), {}) \
            .get("native_libs")
        if libs is not None and libs.value is not None:
            res.evidence.append(line(libs) + " — runtime library size (wheel proxy)")
    return res


def c7(ev: Evidence) -> ClaimResult:
    tfjs = [r for r in of_kind("web") if r.loader == "tfjs"]  # the claim's runtime
    res = ClaimResult("C7", CLAIM_TEXT["C7"], NOT_MEASURED, "",
                      missing=how_to_measure("export-web", tfjs[0].framework))
    web = {r.id: ev.variants("export-web", r.id) for r in of_kind("web")}
    if not any(web[r.id] for r in tfjs):
        res.summary = "no TF.js records (" + ", ".join(
            f"route {r.id}, framework {r.framework}" for r in tfjs) + ", scenario export-web)"
        return res
    res.missing = ""
    ran = []
    for route in of_kind("web"):
        for v, m in sorted(web[route.id].items()):
            st = m.get("status")
            if st is None:  # the route's conversion record, not a browser variant
                continue
            fw = st.framework
            if v == "":  # the whole route is unavailable here
                why = st.extra.get("why") or st.error or st.extra.get("reason")
                res.evidence.append(f"{route.title} ({fw}): not run: {why}")
                continue
            ran_unequal = st.extra.get("state") == "parity-failed"
            if (st.status == "failed" or st.value != 1.0) and not ran_unequal:
                why = st.error if st.error else st.extra.get("reason", "did not run")
                res.evidence.append(f"{v} ({fw}): not run: {why}")
                continue
            pkg = f"{st.extra.get('package', '?')} {st.extra.get('version', '?')}, released " \
                  f"{st.extra.get('released', 'unknown')}"
            parts = [value_text(m[k]) for k in ("load_time", "latency_p50") if k in m]
            size = sum(m[k].value or 0 for k in ("model_bytes", "runtime_bytes") if k in m)
            ok = m.get("output_max_abs_diff")
            par = "parity ok" if ok and ok.extra.get("passed") else "parity FAILED"
            res.evidence.append(f"{v} ({fw}, {pkg}): load {parts[0] if parts else '?'}; "
                                f"latency p50 {parts[1] if len(parts) > 1 else '?'}; "
                                f"download {fmt(size, 'bytes')}; {par}")
            if route in tfjs and ok and ok.extra.get("passed"):
                ran.append(v)
    res.verdict = CONFIRMED if ran else REFUTED
    res.summary = (f"TF.js ran the twin in headless Chromium ({', '.join(ran)}) with outputs "
                   "matching Keras" if ran else "no TF.js variant ran with matching outputs here")
    return res
