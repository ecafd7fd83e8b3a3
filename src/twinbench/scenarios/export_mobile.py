"""export-mobile: does the twin convert for a phone, how big is it, what does int8 cost in accuracy,
and how fast does it run in the real runtime — for every mobile route of the route table
(``twinbench.export.routes``) that starts in this job's worker: Keras -> LiteRT in keras-tf's,
PyTorch -> ExecuTorch (and PyTorch -> LiteRT through litert-torch, where it installs) in
pytorch's.

Runs in the worker of ONE framework. The twin starts from the shared initial weights and trains
for ``mobile.epochs`` on the same batches in the same order on both sides (an untrained net makes
int8's accuracy cost meaningless), once for all its routes. Each variant of a route (``fp32``,
``int8-dynamic`` (LiteRT only), ``int8-full``) is exported, then timed and evaluated in a
separate runtime process (``twinbench.export.mobile_runtime``) at batch 1 and the study's thread
count. Records carry ``route`` (the table's id), ``variant`` and a bare ``metric``, so one row
(``fp32:latency_p50``) compares LiteRT (keras-tf column) and ExecuTorch (pytorch column) at the
same precision. A variant that fails becomes a ``status`` record of that variant with status
"failed" and the converter's, the runtime's or the measuring step's error in one line; the other
variants and routes go on. A route the table marks unavailable is one ``status`` record of that
route (no variant, no value) with ``extra.state`` "unavailable", the reason and the upstream
issue: the route exists and says why it did not run, without failing anything.
"""

from __future__ import annotations

import importlib
import re
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType
from typing import Any

import numpy as np
from pydantic import BaseModel, Field, field_validator

from twinbench.export import routes
from twinbench.export.mobile_runtime import (
    RUNTIMES,
    RuntimeFailure,
    RuntimeResult,
    native_libs,
    run_artifact,
)
from twinbench.export.routes import Route
from twinbench.results.schema import Warn
from twinbench.scenarios.accuracy import AccuracyConfig
from twinbench.scenarios.base import Context, Failed, Measurement, from_samples, percentile_of
from twinbench.scenarios.spec import STRICT, Scenario, check_dataset
from twinbench.tasks import task_module
from twinbench.tasks.datasets import epoch_order


class MobileConfig(BaseModel):
    """[mobile]: train briefly (so int8's accuracy cost means something), export, run."""

    model_config = STRICT
    dataset: str | None = Field(None, description="default: the task's real (or learnable) set")
    _check_dataset = field_validator("dataset")(check_dataset)
    epochs: int = Field(2, ge=0, description="training before export, [accuracy] optimizer")
    n_train: int | None = Field(640, gt=0)
    n_eval: int | None = Field(None, gt=0, description="eval samples run in each runtime")
    calibration_samples: int = Field(64, gt=0, description="int8-full representative set")
    latency_runs: int = Field(50, gt=0, description="steady batch-1 runs in the runtime")
    warmup: int = Field(5, ge=0)


SCENARIO = Scenario(
    "export-mobile", "phone deployment: LiteRT / ExecuTorch fp32 + int8, size, accuracy, latency",
    MobileConfig, section="mobile", view="twinbench.report.deploy_views:MOBILE")

FP32_TOLERANCE = 1e-3  # max |runtime - framework| on the outputs, fp32 on both sides
FRAMEWORK = "framework"  # the variant of the framework's own model's records (no route)


# an MLIR diagnostic: "<unknown>:0: error: ...", "loc(...): error: ..." or a line "error: ..."
_MLIR_ERROR = re.compile(r"(?:^|:\d+:\s*|\)\s*:\s*)error:(.*)")


def _drop_loc(text: str) -> str:
    """MLIR prefixes its message with a ``loc(...)`` blob hundreds of characters long."""
    if not text.startswith("loc("):
        return text
    depth = 0
    for i, ch in enumerate(text[3:], 3):
        depth += (ch == "(") - (ch == ")")
        if depth == 0:
            return text[i + 1:].lstrip(": ").strip()
    return text


def one_line(exc: BaseException) -> str:
    """The most telling line of a converter error: MLIR's 'error:' message without its location,
    else the first line that is not just an introduction ending in ':'."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    said = (_drop_loc(m.group(1).strip()) for m in map(_MLIR_ERROR.search, lines) if m)
    pick = next((msg for msg in said if msg), None) or next(
        (ln for ln in lines if not ln.endswith(":")), lines[0] if lines else "")
    return f"{type(exc).__name__}: {pick}"[:300]


def chance_warning(base: dict[str, float], num_classes: int) -> list[Warn]:
    """An accuracy near chance makes int8's accuracy change meaningless: say so."""
    acc = base.get("accuracy")
    if acc is None or acc >= 1.5 / num_classes:
        return []
    return [Warn("other", f"the fp32 model is near chance (accuracy {acc:.3f}, {num_classes} "
                          "classes): the accuracy change of int8 says little; raise "
                          "mobile.epochs or mobile.n_train")]


def _train(ctx: Context, net: Any, ds: Any, epochs: int) -> None:
    """The accuracy scenario's loop: same order on every framework, idiomatic fit."""
    a, acc = ctx.adapter, ctx.section(AccuracyConfig)
    a.compile_train(net, acc.lr, acc.momentum, acc.optimizer, acc.weight_decay)
    n = (len(ds.train.y) // acc.batch_size) * acc.batch_size
    for epoch in range(epochs):
        ctx.progress(f"export-mobile: training epoch {epoch + 1}/{epochs}")
        order = epoch_order(len(ds.train.y), epoch=epoch, seed=ctx.study.seed)[:n]
        a.fit(net, a.to_device(ds.train.x[order]), a.labels(ds.train.y[order]), acc.batch_size)
    a.synchronize()


def _runtime_version(loader: str) -> str:
    try:
        return version(RUNTIMES[loader][0])
    except PackageNotFoundError:
        return "not installed"


def footprint(route: Route, loaded: dict[str, Any] | None) -> list[Measurement]:
    """Native library bytes: what the wheel ships (walked) and what the runtime process mapped.
    Variant ``runtime`` (with the route's prefix): one figure per route, not per precision."""
    dist, package = RUNTIMES[route.loader]
    at: dict[str, Any] = {"route": route.id, "variant": route.variant("runtime")}
    proxy = ("proxy for the on-device runtime size: shared objects of the Python wheel, which "
             "also holds converters, bindings and other backends; a device build links a subset")
    try:
        total, files = native_libs(package)
    except RuntimeFailure as exc:
        return [Failed("native_libs", "bytes", None, error=str(exc), **at)]
    out = [Measurement("native_libs", "bytes", float(total), "lower", extra={
        "runtime": route.runtime, "package": dist, "version": _runtime_version(route.loader),
        "files": len(files), "largest": files[:6], "note": proxy}, **at)]
    if loaded:
        out.append(Measurement("loaded_libs", "bytes",
                               float(loaded["loaded_runtime_libs_bytes"]), "lower", extra={
            "note": f"shared objects of {package} mapped by the runtime process after running "
                    "the fp32 model (also a proxy)",
            "libs": loaded["loaded_runtime_libs"],
            "all_mapped_libs_bytes": loaded["loaded_libs_bytes"],
            "python_imports": loaded["python_imports"]}, **at))
    return out


def _variant(ctx: Context, route: Route, fam: ModuleType, name: str, net: Any,
             data: dict[str, Any], base: dict[str, float], info: dict[str, Any],
             ) -> tuple[list[Measurement], dict[str, Any]]:
    """Export one variant of a route, run it in its runtime, and measure; never raises."""
    cfg, v = ctx.section(MobileConfig), route.variant(name)
    at: dict[str, Any] = {"route": route.id, "variant": v}
    path = data["stage"] / f"{v}{fam.SUFFIX}"
    ctx.progress(f"export-mobile: {route.runtime} {v}: exporting")
    try:
        details = fam.export(net, name, data["example"], data["calib"], path)
    except Exception as exc:  # converters raise many types; one line, and the study goes on
        return [Failed("status", "", None, extra=info, error=f"{v}: export failed: "
                       f"{one_line(exc)}", **at)], {}
    info = {**info, **{k: val for k, val in details.items() if k != "export_s"}}
    out = [Measurement("export_time", "s", details["export_s"], "lower", extra=dict(info), **at),
           Measurement("file_size", "bytes", float(path.stat().st_size), "lower",
                       extra={**info, "path": str(path)}, **at)]
    ctx.progress(f"export-mobile: {route.runtime} {v}: running in the runtime")
    try:
        res = run_artifact(route.loader, path, data["x"], threads=ctx.study.threads,
                           runs=cfg.latency_runs, warmup=cfg.warmup)
    except RuntimeFailure as exc:
        return out + [Failed("status", "", None, extra=info, error=f"{v}: {one_line(exc)}",
                             **at)], {}
    info.update({"threads_used": res.detail.get("threads"),
                 "python_imports": res.detail.get("python_imports")})
    try:
        return out + _measure(ctx, fam, name, at, res, data, base, info), res.detail
    except Exception as exc:  # outputs the metrics cannot read (layout, shape): this variant only
        return out + [Failed("status", "", None, extra=info,
                             error=f"{v}: measuring failed: {one_line(exc)}", **at)], res.detail


def _measure(ctx: Context, fam: ModuleType, name: str, at: dict[str, Any], res: RuntimeResult,
             data: dict[str, Any], base: dict[str, float],
             info: dict[str, Any]) -> list[Measurement]:
    """Parity, the task metric and the runtime's timings for one variant that ran."""
    pred = fam.from_runtime_layout(res.outputs).astype(np.float64)
    ref, n = data["ref"], data["num_classes"]
    if pred.shape != ref.shape:
        raise ValueError(f"runtime outputs {pred.shape} do not match the framework's {ref.shape}")
    diff = float(np.max(np.abs(pred - ref)))
    decide = task_module(ctx.job.task).decisions  # class per image, text, pixel or query
    picked = decide(ref, n)
    agree = float(np.mean(decide(pred, n) == picked))
    scores = ctx.evaluate(pred, data["y"], n)
    parity = {**info, "n_inputs": int(len(ref)), "against": f"{ctx.adapter.id} model",
              "agreement_items": int(picked.size)}
    if name == "fp32":
        parity.update({"tolerance": FP32_TOLERANCE, "passed": diff <= FP32_TOLERANCE})
    common: dict[str, Any] = {"dataset": data["dataset"], "extra": info, **at}
    lat: dict[str, Any] = {"batch_size": 1, "extra": info, **at}
    out = [Measurement("status", "", 1.0, None, extra={**info, "state": "ok"}, **at),
           Measurement("output_max_abs_diff", "abs", diff, "lower", extra=parity, **at,
                       warnings=[] if parity.get("passed", True) else
                       [Warn("parity", f"{at['variant']}: outputs differ from the framework by "
                                       f"{diff:.2g}")]),
           Measurement("top1_agreement", "fraction", agree, "higher", extra=parity, **at)]
    for k, val in scores.items():
        out += [Measurement(k, "fraction", val, "higher", **common),
                Measurement(f"{k}_change", "fraction", val - base[k], "higher",
                            warnings=list(data["warn"]), **common)]
    out += [Measurement("runtime_import", "s", res.import_s, "lower", extra={
                **info, "note": "Python import of the runtime's bindings in a fresh process; a "
                                "device app links the C++ runtime instead"}, **at),
            Measurement("init_time", "ms", res.init_ms, "lower", extra={
                **info, "note": "load + prepare the model (benchmark_model's init time)"}, **at),
            Measurement("first_inference", "ms", res.first_ms, "lower", **lat)]
    if res.warmups_ms:
        out.append(Measurement("warmup_avg", "ms", float(np.mean(res.warmups_ms)), "lower",
                               warmups=res.warmups_ms, **lat))
    s = res.samples_ms
    out += [from_samples("latency_p50", "ms", s, "lower", res.warmups_ms,
                         seconds=[val / 1e3 for val in s], batch_size=1,
                         extra={**info, "steady_mean_ms": float(np.mean(s))}, **at),
            percentile_of("latency_p90", s, 90, **lat),
            Measurement("peak_rss", "MiB", res.peak_rss_mib, "lower", extra={
                **info, "rss_after_import_mib": res.rss_after_import_mib,
                "source": "VmHWM of the runtime process (/proc/self/status)"}, **at),
            Measurement("runtime_rss_delta", "MiB",
                        res.peak_rss_mib - res.rss_after_import_mib, "lower", extra={
                **info, "note": "peak RSS minus RSS after importing the runtime: what loading "
                                "and running the model added"}, **at)]
    return out


def unavailable(route: Route) -> Measurement:
    """A route in the table that cannot run here: one ``status`` record of the route (no
    variant, no value, like export-web's GPU backends a browser does not offer) with the reason
    and the upstream issue, so the report shows that the route exists and why it did not run.
    Not a failure: nothing broke, and every study that runs the worker would say so."""
    return Measurement("status", "", None, route=route.id, extra={
        "state": "unavailable", "runtime": route.runtime, "title": route.title,
        "reason": route.unavailable_reason, "upstream": route.upstream, "why": route.why_not,
        "packages": list(route.pip)})


def run(ctx: Context) -> list[Measurement]:
    fw = ctx.adapter.id
    mine = routes.of_kind("mobile", fw)
    if not mine:
        return [Measurement("status", "", None, extra={
            "state": "not-applicable", "reason": routes.not_applicable("mobile", fw),
            "routes": {r.id: r.framework for r in routes.of_kind("mobile")}})]
    out: list[Measurement] = [unavailable(r) for r in mine if not r.available]
    ready = [r for r in mine if r.available]
    if not ready:
        return out
    cfg = ctx.section(MobileConfig)
    name = cfg.dataset or ctx.task.eval_dataset
    ds = ctx.dataset(name, n_train=cfg.n_train, n_test=cfg.n_eval)
    a = ctx.adapter
    net = ctx.build(ds.input_shape, ds.num_classes)
    if cfg.epochs:
        _train(ctx, net, ds, cfg.epochs)
    x = ds.test.x
    ref = np.concatenate([a.predict(net, a.to_device(x[i:i + 256]))
                          for i in range(0, len(x), 256)]).astype(np.float64)
    base = ctx.evaluate(ref, ds.test.y, ds.num_classes)
    warn = chance_warning(base, ds.num_classes)
    trained = {"epochs": cfg.epochs, "n_train": int(len(ds.train.y)), "n_eval": int(len(x))}
    out += [Measurement(k, "fraction", v, "higher", dataset=name, extra=trained,
                        warnings=list(warn), variant=FRAMEWORK) for k, v in base.items()]
    for route in ready:
        fam = importlib.import_module(route.module)
        stage = ctx.workdir / "mobile" / ctx.job.job_id.replace("/", "__") / route.id
        stage.mkdir(parents=True, exist_ok=True)
        data = {"x": fam.to_runtime_layout(x), "example": fam.to_runtime_layout(x[:1]),
                "calib": fam.to_runtime_layout(ds.train.x[:cfg.calibration_samples]),
                "ref": ref, "y": ds.test.y, "num_classes": ds.num_classes, "dataset": name,
                "stage": stage, "warn": warn}
        info = {"runtime": route.runtime, "runtime_version": _runtime_version(route.loader),
                **fam.versions(), "threads_requested": ctx.study.threads, "batch_size": 1}
        got, loaded = run_route(ctx, route, fam, net, data, base, info)
        out += got + footprint(route, loaded)
    return out


def run_route(ctx: Context, route: Route, fam: ModuleType, net: Any, data: dict[str, Any],
              base: dict[str, float], info: dict[str, Any],
              ) -> tuple[list[Measurement], dict[str, Any]]:
    """Every variant of a route in turn: a variant that fails is a record, the next one runs.

    Returns the records and the runtime process's loaded-library figures (from the first
    variant that ran, {} if none did).
    """
    out: list[Measurement] = []
    loaded: dict[str, Any] = {}
    for name in fam.VARIANTS:
        got, detail = _variant(ctx, route, fam, name, net, data, base, info)
        out += got
        loaded = loaded or (detail if "loaded_runtime_libs_bytes" in detail else {})
    return out, loaded
