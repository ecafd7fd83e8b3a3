"""export-mobile: does the twin convert for a phone, how big is it, what does int8 cost in accuracy,
and how fast does it run in the real runtime (LiteRT for Keras-on-TensorFlow, ExecuTorch for
PyTorch).

Runs in the worker of ONE framework. The twin starts from the shared initial weights and trains
for ``mobile.epochs`` on the same batches in the same order on both sides (an untrained net makes
int8's accuracy cost meaningless). Each route (``fp32``, ``int8-dynamic`` (LiteRT only),
``int8-full``) is exported, then timed and evaluated in a separate runtime process
(``twinbench.export.mobile_runtime``) at batch 1 and the study's thread count. Metrics are named
``<route>:<metric>``, so one row compares LiteRT (keras-tf column) and ExecuTorch (pytorch
column) at the same precision. A route that fails becomes a ``<route>:status`` record with
status "failed" and the converter's, the runtime's or the measuring step's error in one line;
the other routes go on.
"""

from __future__ import annotations

import importlib
import re
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType
from typing import Any

import numpy as np

from twinbench.export.mobile_runtime import (
    RUNTIMES,
    RuntimeFailure,
    RuntimeResult,
    native_libs,
    run_artifact,
)
from twinbench.scenarios.base import Context, Failed, Measurement, from_samples, percentile_of
from twinbench.tasks import task_module
from twinbench.tasks.datasets import epoch_order

# framework id -> its export module (same functions in each); others get a not-applicable record
FAMILIES: dict[str, str] = {
    "keras-tf": "twinbench.export.mobile_litert",
    "pytorch": "twinbench.export.mobile_executorch",
}
NOT_APPLICABLE: dict[str, str] = {
    "keras-jax": "LiteRT conversion needs TensorFlow graphs; the keras-tf job converts the same "
                 "Keras twin",
    "keras-torch": "Keras' LiteRT export on the torch backend needs litert-torch (not installed); "
                   "the keras-tf job converts the same Keras twin",
    "lightning": "a LightningModule is the pytorch twin's torch module; the pytorch job exports "
                 "it to ExecuTorch",
}
TITLES = {"litert": "LiteRT", "executorch": "ExecuTorch"}
FP32_TOLERANCE = 1e-3  # max |runtime - framework| on the outputs, fp32 on both sides


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


def chance_warning(base: dict[str, float], num_classes: int) -> list[str]:
    """An accuracy near chance makes int8's accuracy change meaningless: say so."""
    acc = base.get("accuracy")
    if acc is None or acc >= 1.5 / num_classes:
        return []
    return [f"the fp32 model is near chance (accuracy {acc:.3f}, {num_classes} classes): the "
            "accuracy change of int8 says little; raise mobile.epochs or mobile.n_train"]


def _train(ctx: Context, net: Any, ds: Any, epochs: int) -> None:
    """The accuracy scenario's loop: same order on every framework, idiomatic fit."""
    a, acc = ctx.adapter, ctx.study.accuracy
    a.compile_train(net, acc.lr, acc.momentum, acc.optimizer, acc.weight_decay)
    n = (len(ds.train.y) // acc.batch_size) * acc.batch_size
    for epoch in range(epochs):
        ctx.progress(f"export-mobile: training epoch {epoch + 1}/{epochs}")
        order = epoch_order(len(ds.train.y), epoch=epoch, seed=ctx.study.seed)[:n]
        a.fit(net, a.to_device(ds.train.x[order]), a.labels(ds.train.y[order]), acc.batch_size)
    a.synchronize()


def _runtime_version(runtime: str) -> str:
    try:
        return version(RUNTIMES[runtime][0])
    except PackageNotFoundError:
        return "not installed"


def footprint(runtime: str, loaded: dict[str, Any] | None) -> list[Measurement]:
    """Native library bytes: what the wheel ships (walked) and what the runtime process mapped."""
    dist, package = RUNTIMES[runtime]
    proxy = ("proxy for the on-device runtime size: shared objects of the Python wheel, which "
             "also holds converters, bindings and other backends; a device build links a subset")
    try:
        total, files = native_libs(package)
    except RuntimeFailure as exc:
        return [Failed("runtime:native_libs", "bytes", None, error=str(exc))]
    out = [Measurement("runtime:native_libs", "bytes", float(total), "lower", extra={
        "runtime": TITLES[runtime], "package": dist, "version": _runtime_version(runtime),
        "files": len(files), "largest": files[:6], "note": proxy})]
    if loaded:
        out.append(Measurement("runtime:loaded_libs", "bytes",
                               float(loaded["loaded_runtime_libs_bytes"]), "lower", extra={
            "note": f"shared objects of {package} mapped by the runtime process after running "
                    "the fp32 model (also a proxy)",
            "libs": loaded["loaded_runtime_libs"],
            "all_mapped_libs_bytes": loaded["loaded_libs_bytes"],
            "python_imports": loaded["python_imports"]}))
    return out


def _route(ctx: Context, fam: ModuleType, route: str, net: Any, data: dict[str, Any],
           base: dict[str, float], info: dict[str, Any],
           ) -> tuple[list[Measurement], dict[str, Any]]:
    """Export one route, run it in its runtime, and measure; never raises for the route."""
    cfg, r = ctx.study.mobile, route
    info = {**info, "route": f"{fam.RUNTIME}-{route}"}
    path = data["stage"] / f"{route}{fam.SUFFIX}"
    ctx.progress(f"export-mobile: {TITLES[fam.RUNTIME]} {route}: exporting")
    try:
        details = fam.export(net, route, data["example"], data["calib"], path)
    except Exception as exc:  # converters raise many types; one line, and the study goes on
        return [Failed(f"{r}:status", "", None, extra=info,
                       error=f"{r}: export failed: {one_line(exc)}")], {}
    info.update({k: v for k, v in details.items() if k != "export_s"})
    out = [Measurement(f"{r}:export_time", "s", details["export_s"], "lower", extra=dict(info)),
           Measurement(f"{r}:file_size", "bytes", float(path.stat().st_size), "lower",
                       extra={**info, "path": str(path)})]
    ctx.progress(f"export-mobile: {TITLES[fam.RUNTIME]} {route}: running in the runtime")
    try:
        res = run_artifact(fam.RUNTIME, path, data["x"], threads=ctx.study.threads,
                           runs=cfg.latency_runs, warmup=cfg.warmup)
    except RuntimeFailure as exc:
        return out + [Failed(f"{r}:status", "", None, extra=info,
                             error=f"{r}: {one_line(exc)}")], {}
    info.update({"threads_used": res.detail.get("threads"),
                 "python_imports": res.detail.get("python_imports")})
    try:
        return out + _measure(ctx, fam, r, res, data, base, info), res.detail
    except Exception as exc:  # outputs the metrics cannot read (layout, shape): this route only
        return out + [Failed(f"{r}:status", "", None, extra=info,
                             error=f"{r}: measuring failed: {one_line(exc)}")], res.detail


def _measure(ctx: Context, fam: ModuleType, r: str, res: RuntimeResult, data: dict[str, Any],
             base: dict[str, float], info: dict[str, Any]) -> list[Measurement]:
    """Parity, the task metric and the runtime's timings for one route that ran."""
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
    if r == "fp32":
        parity.update({"tolerance": FP32_TOLERANCE, "passed": diff <= FP32_TOLERANCE})
    common: dict[str, Any] = {"dataset": data["dataset"], "extra": info}
    lat: dict[str, Any] = {"batch_size": 1, "extra": info}
    out = [Measurement(f"{r}:status", "", 1.0, None, extra={**info, "state": "ok"}),
           Measurement(f"{r}:output_max_abs_diff", "abs", diff, "lower", extra=parity,
                       warnings=[] if parity.get("passed", True) else
                       [f"{r}: outputs differ from the framework by {diff:.2g}"]),
           Measurement(f"{r}:top1_agreement", "fraction", agree, "higher", extra=parity)]
    for k, v in scores.items():
        out += [Measurement(f"{r}:{k}", "fraction", v, "higher", **common),
                Measurement(f"{r}:{k}_change", "fraction", v - base[k], "higher",
                            warnings=list(data["warn"]), **common)]
    out += [Measurement(f"{r}:runtime_import", "s", res.import_s, "lower", extra={
                **info, "note": "Python import of the runtime's bindings in a fresh process; a "
                                "device app links the C++ runtime instead"}),
            Measurement(f"{r}:init_time", "ms", res.init_ms, "lower", extra={
                **info, "note": "load + prepare the model (benchmark_model's init time)"}),
            Measurement(f"{r}:first_inference", "ms", res.first_ms, "lower", **lat)]
    if res.warmups_ms:
        out.append(Measurement(f"{r}:warmup_avg", "ms", float(np.mean(res.warmups_ms)), "lower",
                               warmups=res.warmups_ms, **lat))
    s = res.samples_ms
    out += [from_samples(f"{r}:latency_p50", "ms", s, "lower", res.warmups_ms,
                         seconds=[v / 1e3 for v in s], batch_size=1,
                         extra={**info, "steady_mean_ms": float(np.mean(s))}),
            percentile_of(f"{r}:latency_p90", s, 90, **lat),
            Measurement(f"{r}:peak_rss", "MiB", res.peak_rss_mib, "lower", extra={
                **info, "rss_after_import_mib": res.rss_after_import_mib,
                "source": "VmHWM of the runtime process (/proc/self/status)"}),
            Measurement(f"{r}:runtime_rss_delta", "MiB",
                        res.peak_rss_mib - res.rss_after_import_mib, "lower", extra={
                **info, "note": "peak RSS minus RSS after importing the runtime: what loading "
                                "and running the model added"})]
    return out


def run(ctx: Context) -> list[Measurement]:
    fw = ctx.adapter.id
    if fw not in FAMILIES:
        why = NOT_APPLICABLE.get(fw, f"no mobile route starts from {fw}")
        return [Measurement("status", "", None, extra={"state": "not-applicable", "reason": why,
                                                       "routes": dict(FAMILIES)})]
    fam = importlib.import_module(FAMILIES[fw])
    cfg = ctx.study.mobile
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
    stage = ctx.workdir / "mobile" / ctx.job.job_id.replace("/", "__")
    stage.mkdir(parents=True, exist_ok=True)
    calib = fam.to_runtime_layout(ds.train.x[:cfg.calibration_samples])
    data = {"x": fam.to_runtime_layout(x), "example": fam.to_runtime_layout(x[:1]),
            "calib": calib, "ref": ref, "y": ds.test.y, "num_classes": ds.num_classes,
            "dataset": name, "stage": stage}
    info = {"runtime": TITLES[fam.RUNTIME], "runtime_version": _runtime_version(fam.RUNTIME),
            **fam.versions(), "threads_requested": ctx.study.threads, "batch_size": 1}
    trained = {"epochs": cfg.epochs, "n_train": int(len(ds.train.y)), "n_eval": int(len(x))}
    data["warn"] = chance_warning(base, ds.num_classes)
    out = [Measurement(f"framework:{k}", "fraction", v, "higher", dataset=name, extra=trained,
                       warnings=list(data["warn"])) for k, v in base.items()]
    got, loaded = run_routes(ctx, fam, net, data, base, info)
    return out + got + footprint(fam.RUNTIME, loaded)


def run_routes(ctx: Context, fam: ModuleType, net: Any, data: dict[str, Any],
               base: dict[str, float], info: dict[str, Any],
               ) -> tuple[list[Measurement], dict[str, Any]]:
    """Every route of ``fam`` in turn: a route that fails is a record, and the next one runs.

    Returns the records and the runtime process's loaded-library figures (from the first route
    that ran, {} if none did).
    """
    out: list[Measurement] = []
    loaded: dict[str, Any] = {}
    for route in fam.ROUTES:
        got, detail = _route(ctx, fam, route, net, data, base, info)
        out += got
        loaded = loaded or (detail if "loaded_runtime_libs_bytes" in detail else {})
    return out, loaded
