"""Claims C5-C8 of ../shared/CLAIMS.md: deployment — phone (LiteRT, ExecuTorch), browser
(TF.js beside LiteRT.js and ONNX Runtime Web) and server — from export and server records.

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
    awaiting,
    how_to_measure,
    line,
)
from twinbench.analysis.text import fmt
from twinbench.results.schema import Record

ROUTE = "int8-full"  # integer weights and activations: what "quantizes to 8 bits" means
SMALLER = 0.5  # the int8 file at most half the fp32 file
ACCURACY_DROP = 0.02  # the task metric may fall at most 2 points (absolute) under int8
# memory: int8's runtime memory (peak RSS added by loading and running) must be lower than
# fp32's; more than this factor (and MEMORY_SLACK_MIB) above it refutes, between is undecided:
# the figures are single values of one runtime process each
MEMORY_FACTOR, MEMORY_SLACK_MIB = 1.10, 1.0


def _judge_model(fw: str, model: str, routes: dict[str, dict[str, Record]], runtime: str,
                 memory: bool) -> tuple[str, str, list[str]]:
    """(verdict, summary, evidence) of one model's fp32 and int8 routes in one runtime."""
    fp, q = routes.get("fp32", {}), routes.get(ROUTE, {})
    for name, r in (("fp32", fp), (ROUTE, q)):
        st = r.get("status")
        if st is not None and st.status == "failed":  # a tool failure, not evidence
            return NOT_MEASURABLE, f"{model}: the {runtime} {name} route failed here (a tool " \
                f"or route failure, not a verdict on the claim): {st.error}", []
    need = ("file_size", "latency_p50", "runtime_rss_delta")
    lacking = [f"{n}:{k}" for n, r in (("fp32", fp), (ROUTE, q)) for k in need if k not in r]
    change = next((q[k] for k in sorted(q) if k.endswith("_change")), None)
    if change is None:
        lacking.append(f"{ROUTE}:<metric>_change")
    keys = [*need, "peak_rss", "latency_p90"] + [k for k in sorted(q) if k.endswith("_change")]
    evidence = [line(r[k]).replace(f"{fw} export-mobile {name}:", f"{runtime} {model} {name} ")
                for name, r in (("fp32", fp), (ROUTE, q)) for k in keys if k in r]
    if lacking:
        return INCONCLUSIVE, f"{model}: no {', '.join(lacking)} record", evidence
    size = q["file_size"].value / fp["file_size"].value  # type: ignore[operator]
    drop = -(change.value or 0.0)  # type: ignore[union-attr]
    metric = change.metric.split(":")[1].removesuffix("_change")  # type: ignore[union-attr]
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
    text = f"{model}: " + "; ".join(t for _, t in checks.values()) + \
        f"; batch-1 latency in the {runtime} runtime {lat:.2f}× fp32's (shown, not judged)"
    if fp["file_size"].value and fp["file_size"].value < 2**20:
        text += "; a model this small is dominated by fixed file overhead"
    states = [ok for ok, _ in checks.values()]
    verdict = REFUTED if False in states else CONFIRMED if all(states) else INCONCLUSIVE
    return verdict, text, evidence


def _int8(ev: Evidence, fw: str, claim_id: str, runtime: str, memory: bool) -> ClaimResult:
    res = ClaimResult(claim_id, CLAIM_TEXT[claim_id], NOT_MEASURED, "",
                      missing=how_to_measure("export-mobile"))
    models = sorted({r.model for r in ev.records if r.scenario == "export-mobile"
                     and r.framework == fw})
    if not models:
        res.summary = f"no {runtime} export records (framework {fw}, scenario export-mobile)"
        return res
    res.missing = ""
    judged = [_judge_model(fw, m, ev.routes("export-mobile", fw, m), runtime, memory)
              for m in models]
    verdicts = [v for v, _, _ in judged]
    decided = [v for v in verdicts if v != NOT_MEASURABLE]
    res.verdict = (NOT_MEASURABLE if not decided else REFUTED if REFUTED in decided else
                   CONFIRMED if all(v == CONFIRMED for v in decided) else INCONCLUSIVE)
    res.summary = " | ".join(t for _, t, _ in judged)
    res.evidence = [e for _, _, ev_ in judged for e in ev_]
    return res


def c5(ev: Evidence) -> ClaimResult:
    """LiteRT: smaller, accuracy within the bound, and less memory in the LiteRT runtime."""
    return _int8(ev, "keras-tf", "C5", "LiteRT", memory=True)


def c6(ev: Evidence) -> ClaimResult:
    """ExecuTorch: the int8 route works (smaller, accuracy within the bound) in the
    ExecuTorch runtime; the runtime's native library size is shown (the "small runtime")."""
    r = _int8(ev, "pytorch", "C6", "ExecuTorch", memory=False)
    libs = ev.routes("export-mobile", "pytorch").get("runtime", {}).get("native_libs")
    if libs is not None and libs.value is not None:
        r.evidence.append(line(libs) + " — runtime library size (wheel proxy)")
    return r


def c7(ev: Evidence) -> ClaimResult:
    res = ClaimResult("C7", "TensorFlow.js lets you run models in the browser.", NOT_MEASURED, "",
                      missing=how_to_measure("export-web", "keras-tf"))
    web = {fw: ev.routes("export-web", fw) for fw in {r.framework for r in ev.records
                                                        if r.scenario == "export-web"}}
    tfjs = {v: m for v, m in web.get("keras-tf", {}).items() if v.startswith("tfjs")}
    if not tfjs:
        res.summary = "no TF.js records (framework keras-tf, scenario export-web)"
        return res
    res.missing = ""
    ran = []
    for fw, variants in sorted(web.items()):
        for v, m in sorted(variants.items()):
            st = m.get("status")
            ran_unequal = st is not None and st.extra.get("state") == "parity-failed"
            if (st is None or st.status == "failed" or st.value != 1.0) and not ran_unequal:
                why = (st.error if st and st.error else st.extra.get("reason", "did not run")
                       if st else "no status")
                res.evidence.append(f"{v} ({fw}): not run: {why}")
                continue
            if st is None:
                continue
            pkg = f"{st.extra.get('package', '?')} {st.extra.get('version', '?')}, released " \
                  f"{st.extra.get('released', 'unknown')}"
            parts = [line(m[k]).split(": ", 1)[1] for k in ("load_time", "latency_p50")
                     if k in m]
            size = sum(m[k].value or 0 for k in ("model_bytes", "runtime_bytes") if k in m)
            ok = m.get("output_max_abs_diff")
            par = "parity ok" if ok and ok.extra.get("passed") else "parity FAILED"
            res.evidence.append(f"{v} ({fw}, {pkg}): load {parts[0] if parts else '?'}; "
                                f"latency p50 {parts[1] if len(parts) > 1 else '?'}; "
                                f"download {fmt(size, 'bytes')}; {par}")
            if v.startswith("tfjs") and ok and ok.extra.get("passed"):
                ran.append(v)
    res.verdict = CONFIRMED if ran else REFUTED
    res.summary = (f"TF.js ran the twin in headless Chromium ({', '.join(ran)}) with outputs "
                   "matching Keras" if ran else "no TF.js variant ran with matching outputs here")
    return res


# The scenario that would carry C8's evidence: a model served over HTTP on loopback under open-
# loop load by each ecosystem's serving stack (../shared/CLAIMS.md). The ``server`` scenario times
# the in-process model under load: no serving stack is involved, so it does not bear on C8.
SERVING = "serving"


def c8(ev: Evidence) -> ClaimResult:
    res = awaiting("C8", SERVING, "serving scenario (SavedModel, AOTInductor, ONNX Runtime behind "
                   "HTTP under load); the in-process 'server' figures do not involve a serving "
                   "stack and TFX's pipeline parts are not run here",
                   "issue #21 (serving under load)", ev)
    if res is None:  # loud until the scenario brings its rule: "check failed", never a guess
        raise NotImplementedError("C8's rule on serving records arrives with its scenario")
    res.evidence = [line(r) for r in ev.ok("server")][:6]
    return res
