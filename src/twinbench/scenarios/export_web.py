"""export-web: does the twin convert for the browser, what must a visitor download, how long until
the first prediction, and how fast after that — measured in a real headless Chromium.

Runs in the worker of ONE framework, every web route of the route table (``twinbench.export.
routes``) that starts there (keras-tf: TF.js and LiteRT.js; pytorch: ONNX Runtime Web); each
route's runtime (page, npm package, backends) is in ``twinbench.web.runtimes``. The twin is built
with the shared initial weights, converted, served from 127.0.0.1, and each runtime/backend
variant is opened in a fresh browser context. Records carry ``route`` (the table's id),
``variant`` (``tfjs-wasm-1t``) and a bare ``metric``. Every variant yields a ``status`` record —
ok (1), parity-failed (0: it ran, but its outputs differ from the framework's), unavailable here
(0: GPU backends without a GPU), not-run, or failed with a one-line reason — and, when it ran,
load time, first inference, latency p50/p90 with raw samples, bytes downloaded and output parity
against the framework's own outputs. A route the table marks unavailable is one ``status``
record of that route (no variant, no value, ``extra.state`` "unavailable") with the reason.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np

from twinbench.export import routes
from twinbench.export.routes import Route
from twinbench.export.web_convert import EXPORTS, ConversionError, WebModel, converter_timeout_s
from twinbench.scenarios.base import Context, Failed, Measurement, from_samples, percentile_of
from twinbench.scenarios.infer import InferConfig
from twinbench.scenarios.spec import Scenario
from twinbench.web import runtimes as web
from twinbench.web.browser import Browser, BrowserUnavailable, check_chromium
from twinbench.web.runtimes import PAGES, Variant
from twinbench.web.server import StaticServer

# No section of its own: the pages' runs follow [infer] (latency_runs, warmup).
SCENARIO = Scenario(
    "export-web", "browser deployment in headless Chromium: TF.js, LiteRT.js, ONNX Runtime Web",
    view="twinbench.report.deploy_views:WEB")

N_INPUTS = 4  # batch-1 inputs whose outputs are compared (LiteRT models are fixed at batch 1)
TOLERANCE = 1e-3  # max |browser - framework| on the logits, fp32 on both sides


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]


_GZ: dict[Path, int] = {}


def _gzip_size(path: Path) -> int:
    """What a server compressing at gzip's default level would send (cached per file)."""
    if path not in _GZ:
        _GZ[path] = len(gzip.compress(path.read_bytes(), compresslevel=6))
    return _GZ[path]


def _bytes(server: StaticServer, prefix: str) -> tuple[int, int, dict[str, int]]:
    sent = {p: n for p, n in server.totals().items() if p.startswith(prefix)}
    gz = 0
    for p in sent:
        f = server.resolve(p)
        gz += _gzip_size(f) if f is not None else 0
    return sum(sent.values()), gz, sent


def _nontrivial(w: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """Random norm statistics, scales and shifts (as the parity scenario does), so conversion
    passes that fold BatchNorm are exercised and the parity check is not trivially met."""
    from twinbench.zoo.perturb import perturb_bn

    return perturb_bn(w, seed + 7, running_var=("uniform", 0.5, 1.5), every_norm=True)


def _write_inputs(folder: Path, x_nhwc: np.ndarray, model: WebModel) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    x = x_nhwc.transpose(0, 3, 1, 2) if model.layout == "NCHW" else x_nhwc
    np.ascontiguousarray(x, dtype="<f4").tofile(folder / "inputs.bin")
    (folder / "meta.json").write_text(json.dumps(
        {"input_shape": list(model.input_shape), "n_inputs": int(x.shape[0])}))


def _measure(ctx: Context, browser: Browser, stage: Path, route: Route, v: Variant,
             model: WebModel, ref: np.ndarray, info: dict[str, Any]) -> list[Measurement]:
    cfg, rt = ctx.section(InferConfig), web.runtime(route)
    at: dict[str, Any] = {"route": route.id, "variant": v.id}
    mounts = {"/pages/": PAGES, "/npm/": web.web_dir() / "node_modules",
              "/models/": stage / "models", "/data/": stage / "data"}
    query = urlencode({"model": f"/models/{rt.id}/{model.entry.name}", "data": f"/data/{rt.id}/",
                       "backend": v.backend, "threads": v.threads, "runs": cfg.latency_runs,
                       "warmup": cfg.warmup})
    with StaticServer(mounts, isolated=v.isolated) as server:
        ctx.progress(f"export-web: {v.id} in Chromium")
        res = browser.run_page(f"{server.url}/pages/{rt.page}?{query}")
        model_b, model_gz, model_files = _bytes(server, "/models/")
        rt_b, rt_gz, rt_files = _bytes(server, "/npm/")
    # threads: what the runtime itself reports (None where it has no API: LiteRT.js), and the
    # Web Workers Chromium saw the page start (a wasm thread pool is workers), not an echo
    info = {**info, "threads_reported": res.get("threads"),
            "workers_started": res.get("workers"), "runtime_detail": res.get("detail"),
            "cross_origin_isolated": res.get("cross_origin_isolated"),
            "runtime_reported_version": res.get("runtime_version")}
    if not res.get("ok"):
        return [Failed("status", "", None, extra=info, **at,
                       error=f"{v.id}: page failed: {res.get('error', 'no result')}"[:400])]
    out = np.asarray(res["outputs"], dtype=np.float64)
    if out.size != ref.size:
        return [Failed("status", "", None, extra=info, **at,
                       error=f"{v.id}: page returned {out.size} output values, the framework "
                             f"{ref.size} (shape {tuple(ref.shape)})")]
    diff = float(np.max(np.abs(out.reshape(ref.shape) - ref)))
    passed = diff <= TOLERANCE
    state = {"state": "ok"} if passed else {
        "state": "parity-failed", "max_abs_diff": diff,
        "reason": f"outputs differ from {ctx.adapter.id}: max|Δ| {diff:.2e} > {TOLERANCE:g}"}
    load = res["runtime_init_ms"] + res["model_load_ms"]
    common: dict[str, Any] = {"batch_size": 1, "extra": info, **at}
    return [
        Measurement("status", "", 1.0 if passed else 0.0, None, extra={**info, **state}, **at),
        Measurement("load_time", "ms", load, "lower", batch_size=1, extra={
            **info, "runtime_init_ms": res["runtime_init_ms"],
            "model_load_ms": res["model_load_ms"], "ready_since_navigation_ms": res["ready_ms"]},
            **at),
        Measurement("first_inference", "ms", res["first_inference_ms"], "lower", **common),
        from_samples("latency_p50", "ms", res["samples_ms"], "lower", res["warmups_ms"],
                     **common),
        percentile_of("latency_p90", res["samples_ms"], 90, **common),
        Measurement("model_bytes", "bytes", float(model_b), "lower", extra={
            **info, "gzip_bytes": model_gz, "files": model_files}, **at),
        Measurement("runtime_bytes", "bytes", float(rt_b), "lower", extra={
            **info, "gzip_bytes": rt_gz, "files": rt_files}, **at),
        Measurement("output_max_abs_diff", "abs", diff, "lower", extra={
            **info, "tolerance": TOLERANCE, "passed": passed, "n_inputs": len(ref),
            "against": f"{ctx.adapter.id} predict"}, **at),
    ]


def _browser_problem() -> str | None:
    """Why no page can run here (one line), or None."""
    try:
        check_chromium()
    except BrowserUnavailable as exc:
        return str(exc)
    missing = web.missing_packages()
    if missing:
        return (f"npm packages missing in {web.web_dir() / 'node_modules'}: {', '.join(missing)} "
                "(run scripts/setup.sh)")
    return None


def _convert(ctx: Context, net: Any, web_routes: list[Route], stage: Path, x: np.ndarray,
             sample_shape: tuple[int, ...]) -> tuple[dict[str, WebModel | str], list[Measurement]]:
    """Each route's model (by route id), or the one-line reason it did not convert (never
    raises: a broken route must not cost the other routes their records)."""
    models: dict[str, WebModel | str] = {}
    out: list[Measurement] = []
    timeout_s = converter_timeout_s(ctx.study.timeout_s)
    today = date.today()
    for route in web_routes:
        rt = web.runtime(route)
        ctx.progress(f"export-web: converting for {rt.title}")
        try:
            m = EXPORTS[rt.export](net, stage / "models" / rt.id, sample_shape, timeout_s)
            _write_inputs(stage / "data" / rt.id, x, m)
        except ConversionError as exc:
            models[route.id] = f"conversion failed: {_one_line(exc)}"
            continue
        except Exception as exc:  # a bug, not a known failure mode: still only this route
            models[route.id] = f"conversion failed: {type(exc).__name__}: {_one_line(exc)}"
            continue
        models[route.id] = m
        released = {k: d for k, v in m.tools.items()  # a stale converter is a finding too
                    if (d := web.release_date("pypi", k, v)) != "unknown"}
        stale = {k: age for k, d in released.items()
                 if (age := web.age_days(d, today)) is not None and age > web.STALE_DAYS}
        # variant: the runtime's id ("tfjs"), what its browser variants start with
        out.append(Measurement("convert_time", "s", m.convert_s, "lower", extra={
            "runtime": rt.id, "tools": m.tools, "tools_released": released,
            "tools_stale_days": stale, "converter_timeout_s": timeout_s,
            "model_bytes_on_disk": m.bytes_on_disk, "files": [p.name for p in m.files]},
            route=route.id, variant=rt.id))
    return models, out


MeasureFn = Callable[[Context, Browser, Route, Variant, WebModel, dict[str, Any]],
                     list[Measurement]]


def _variants(ctx: Context, web_routes: list[Route], models: dict[str, WebModel | str],
              problem: str | None, measure: MeasureFn) -> list[Measurement]:
    """Every variant's records. One variant that goes wrong (an exception, a crashed page, a
    dead Chromium) is that variant's failed record; the next variants still run, in a
    restarted browser when the old one died."""
    out: list[Measurement] = []
    restarts = 0
    with ExitStack() as stack:
        browser: Browser | None = None
        probe: dict[str, Any] = {}
        if problem is None:
            try:
                browser = stack.enter_context(Browser())
                with StaticServer({"/pages/": PAGES}) as server:
                    probe = browser.run_page(f"{server.url}/pages/probe.html")
                probe["browser"] = f"Chromium {browser.version}"
            except BrowserUnavailable as exc:
                problem, browser = str(exc), None
            except Exception as exc:  # Playwright itself broken: every variant says why
                problem = f"browser setup failed: {type(exc).__name__}: {_one_line(exc)}"
                browser = None
        today = date.today()
        for route in web_routes:
            rt = web.runtime(route)
            pkg = web.package_info(rt.package, today)
            for v in rt.variants(ctx.study.threads):
                at: dict[str, Any] = {"route": route.id, "variant": v.id}
                if browser is not None and not browser.connected:
                    try:
                        browser.restart()
                        restarts += 1
                    except BrowserUnavailable as exc:
                        problem, browser = f"Chromium died and did not restart: {exc}", None
                info = {"runtime": rt.id, "title": rt.title, "short": rt.short, "variant": v.id,
                        "backend": v.backend, "threads_requested": v.threads,
                        "isolated": v.isolated, **pkg, "browser": probe.get("browser"),
                        "browser_restarts": restarts}
                m = models[route.id]
                if isinstance(m, str) or browser is None:
                    why = m if isinstance(m, str) else problem
                    out.append(Failed("status", "", None, extra=info, error=f"{v.id}: {why}",
                                      **at))
                elif v.gpu and not probe.get("ok"):
                    out.append(Failed("status", "", None, extra=info, **at, error=(
                        f"{v.id}: GPU probe page failed: {probe.get('error', 'no result')}")))
                elif v.gpu:
                    why = web.gpu_verdict(v.backend, probe)
                    out.append(Measurement("status", "", 0.0 if why else None, extra={
                        **info, "tools": m.tools, "state": "unavailable" if why else "not-run",
                        "reason": why or "a GPU is offered, but twinbench does not time it yet"},
                        **at))
                else:
                    try:
                        out += measure(ctx, browser, route, v, m, {**info, "tools": m.tools})
                    except Exception as exc:  # a bug in one variant must not end the job
                        out.append(Failed("status", "", None, extra=info, **at, error=(
                            f"{v.id}: {type(exc).__name__}: {_one_line(exc)}")[:400]))
    return out


def run(ctx: Context) -> list[Measurement]:
    fw = ctx.adapter.id
    mine = routes.of_kind("web", fw)
    if not mine:
        return [Measurement("status", "", None, extra={
            "state": "not-applicable", "reason": routes.not_applicable("web", fw)})]
    # a route the table marks unavailable: its status record says why (as export-mobile's)
    gone = [Measurement("status", "", None, route=r.id, extra={
        "state": "unavailable", "runtime": r.loader, "title": r.title,
        "reason": r.unavailable_reason, "upstream": r.upstream, "why": r.why_not})
        for r in mine if not r.available]
    web_routes = web.routes_for(fw)
    if not web_routes:
        return gone
    ds = ctx.dataset(n_train=64, n_test=N_INPUTS)
    a = ctx.adapter
    net = ctx.build(ds.input_shape, ds.num_classes)
    a.set_weights(net, _nontrivial(a.get_weights(net), ctx.study.seed))
    x = np.asarray(ds.test.x[:N_INPUTS], dtype=np.float32)
    # batch 1, one input at a time, exactly as the page runs them
    ref = np.concatenate([a.predict(net, a.to_device(x[i:i + 1])) for i in range(len(x))])
    stage = ctx.workdir / "web" / ctx.job.job_id.replace("/", "__")
    shutil.rmtree(stage, ignore_errors=True)
    problem = _browser_problem()  # known before converting; conversion is measured regardless
    models, out = _convert(ctx, net, web_routes, stage, x, tuple(ds.input_shape))

    def measure(ctx: Context, browser: Browser, route: Route, v: Variant, m: WebModel,
                info: dict[str, Any]) -> list[Measurement]:
        return _measure(ctx, browser, stage, route, v, m, ref, info)

    return gone + out + _variants(ctx, web_routes, models, problem, measure)
