"""Claims C5-C8 of ../shared/CLAIMS.md: deployment — phone (LiteRT, ExecuTorch), browser
(TF.js beside LiteRT.js and ONNX Runtime Web) and server — from export and server records.

Helpers, verdict names and thresholds live in ``twinbench.report.claims``.
"""

from __future__ import annotations

from twinbench.report.claims import (
    CONFIRMED,
    NOT_MEASURED,
    NOT_SIGNIFICANT,
    REFUTED,
    SMALLER,
    ClaimResult,
    Evidence,
    advantage,
    how_to_measure,
    line,
    pair_line,
)
from twinbench.report.compare import fmt


def _int8(ev: Evidence, fw: str, claim_id: str, claim: str, runtime: str) -> ClaimResult:
    res = ClaimResult(claim_id, claim, NOT_MEASURED, "", missing=how_to_measure("export-mobile"))
    routes = ev.routes("export-mobile", fw)
    fp, q = routes.get("fp32", {}), routes.get("int8-full", {})
    if "file_size" not in fp:
        res.summary = f"no {runtime} export records (framework {fw}, scenario export-mobile)"
        return res
    res.missing = ""
    failed = q.get("status")
    if failed is not None and failed.status == "failed":
        res.verdict, res.summary = REFUTED, f"int8 export failed: {failed.error}"
        res.evidence = [line(fp["file_size"])]
        return res
    if "file_size" not in q:
        res.summary = "the int8-full route has no file-size record"
        return res
    keys = ["file_size", "latency_p50", "runtime_rss_delta", "peak_rss"]
    keys += [k for k in q if k.endswith("_change")]
    res.evidence = [line(r[k]).replace(f"{fw} export-mobile ", f"{runtime} {name} ")
                    for name, r in (("fp32", fp), ("int8-full", q)) for k in keys if k in r]
    size = q["file_size"].value / fp["file_size"].value
    mem = ""
    if "runtime_rss_delta" in q and "runtime_rss_delta" in fp:
        mem = (f"; memory added by loading and running: {fmt(q['runtime_rss_delta'].value)} "
               f"vs {fmt(fp['runtime_rss_delta'].value, 'MiB')}")
    change = next((q[k] for k in q if k.endswith("_change")), None)
    acc = f"; {change.metric.split(':')[1]} {change.value:+.3f}" if change else ""
    fb, qb = fp["file_size"].value, q["file_size"].value
    small = "; a model this small is dominated by fixed file overhead, so the ratio " \
            "understates what int8 does to large weights" if fb < 2**20 else ""
    res.verdict = CONFIRMED if size <= SMALLER else REFUTED
    res.summary = (f"int8 file is {size:.0%} of fp32 ({fmt(qb / 1024, 'KiB')} vs "
                   f"{fmt(fb / 1024, 'KiB')}){acc}{mem}{small}")
    return res


def c5(ev: Evidence) -> ClaimResult:
    r = _int8(ev, "keras-tf", "C5", "TensorFlow Lite (LiteRT) compresses a model to a flatbuffer "
              "and quantizes it to 8 bits (integers, not floats), using less memory.", "LiteRT")
    return r


def c6(ev: Evidence) -> ClaimResult:
    r = _int8(ev, "pytorch", "C6", "PyTorch's mobile route (PyTorch Mobile, now ExecuTorch) can "
              "quantize, export and save models for phones with a small runtime.", "ExecuTorch")
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


def c8(ev: Evidence) -> ClaimResult:
    res = ClaimResult("C8", "TFX makes TensorFlow the stronger choice for production serving.",
                      NOT_MEASURED, "", missing=how_to_measure("server"))
    pairs = [p for p in ev.pairs if p.scenario == "server" and {p.a, p.b} >= {"pytorch",
                                                                             "keras-tf"}]
    res.evidence = [line(r) for r in ev.ok("server")]
    if not pairs:
        res.summary = "no server-scenario pair of pytorch and keras-tf"
        return res
    res.missing = ""
    res.evidence += [pair_line(p, "keras-tf") for p in pairs]
    tested = [p for p in pairs if p.significant is not None]
    wins = [p for p in tested if p.significant and advantage(p, "keras-tf")[0] > 1]
    losses = [p for p in tested if p.significant and advantage(p, "keras-tf")[0] < 1]
    res.verdict = CONFIRMED if wins and not losses else REFUTED if losses and not wins \
        else NOT_SIGNIFICANT
    res.summary = ("latency under Poisson load of the in-process model only; TFX's pipeline "
                   "tools (data validation, continuous training) are not measured by twinbench")
    return res
