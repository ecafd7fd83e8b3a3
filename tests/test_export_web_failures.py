"""export-web when things go wrong: a broken converter, a bad page result, a dead Chromium, a
stale runtime. Fast and framework-free (project rule: one framework per process, and this
pytest process imports none): fake converters, fake nets, fake page results; only the
browser-crash test starts the real Chromium, which setup installs."""

from __future__ import annotations

import json
import signal
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import psutil
import pytest

from conftest import chromium_or_skip
from twinbench.export import tfjs_converter, web_convert
from twinbench.export.routes import ROUTES
from twinbench.export.web_convert import ConversionError, WebModel
from twinbench.report.web import packages, web_tables
from twinbench.results.schema import Record
from twinbench.scenarios import export_web
from twinbench.scenarios.base import Measurement
from twinbench.web import runtimes as web
from twinbench.web.browser import Browser
from twinbench.web.server import StaticServer

FAKE = {  # what the fake ``tensorflowjs`` package does when the converter imports it
    "crash": "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)",
    "non-zero": "raise RuntimeError('boom: unsupported op Foo')",
    "garbage": "import os; print('Segmentation fault? no: garbage', flush=True); os._exit(0)",
    "empty": "import os; os._exit(0)",
    "wrong-json": "import os; print(json.dumps({'files': []}), flush=True); os._exit(0)",
    "hang": "import time; time.sleep(60)",
}
EXPECT = {
    "crash": f"tensorflowjs converter failed (signal {int(signal.SIGSEGV)}): no output",
    "non-zero": "tensorflowjs converter failed (exit 1): RuntimeError: boom: unsupported op Foo",
    "garbage": "tensorflowjs converter printed 'Segmentation fault? no: garbage' instead of",
    "empty": "tensorflowjs converter printed nothing instead of its JSON report",
    "wrong-json": "tensorflowjs converter printed '{\"files\": []}' instead of its JSON report",
    "hang": "tensorflowjs converter timed out after 3 s",
}


class FakeNet:
    def export(self, path: str, format: str, verbose: bool) -> None:  # noqa: A002 (keras' name)
        Path(path).mkdir(parents=True)


@pytest.mark.parametrize("mode", list(FAKE))
def test_every_converter_failure_is_one_conversion_error_line(
        mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "conv" / "tensorflowjs"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("import json\n" + FAKE[mode] + "\n")
    monkeypatch.setenv(tfjs_converter.ENV_VAR, str(tmp_path / "conv"))
    with pytest.raises(ConversionError) as err:
        web_convert.to_tfjs(FakeNet(), tmp_path / "tfjs", (8, 8, 3), timeout_s=3)
    msg = str(err.value)
    assert msg.startswith(EXPECT[mode]) and "\n" not in msg, msg


def test_converter_timeout_fires_before_the_job_watchdog() -> None:
    assert web_convert.converter_timeout_s(600) == 300 < 600
    assert web_convert.converter_timeout_s(None) == web_convert.converter_timeout_s(1e6) == 900


def _ctx(tmp: Path, threads: int = 2) -> Any:
    study = SimpleNamespace(threads=threads, timeout_s=600.0)
    infer = SimpleNamespace(latency_runs=5, warmup=1)
    return SimpleNamespace(study=study, adapter=SimpleNamespace(id="keras-tf"), workdir=tmp,
                           progress=lambda msg: None, section=lambda config: infer)


def _named(ms: list[Measurement]) -> dict[str, Measurement]:
    """Measurements by their record's name (``variant:metric``)."""
    return {(f"{m.variant}:" if m.variant else "") + m.metric: m for m in ms}


def _model(tmp: Path, route: str) -> WebModel:
    (tmp / route).mkdir(parents=True, exist_ok=True)
    (tmp / route / "model.bin").write_bytes(b"x" * 2000)
    return WebModel(route, tmp / route / "model.bin", (1, 8, 8, 3), "NHWC", 0.5, {})


def test_a_broken_route_does_not_cost_the_others(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*a: Any) -> WebModel:
        raise KeyError("a bug, not a known failure")

    monkeypatch.setitem(export_web.EXPORTS, "tfjs", broken)
    monkeypatch.setitem(export_web.EXPORTS, "litert",
                        lambda net, out, shape, t: _model(out, "litert"))
    rts = [ROUTES["keras-tfjs"], ROUTES["keras-litert-js"]]
    models, recs = export_web._convert(_ctx(tmp_path), None, rts, tmp_path,
                                       np.zeros((4, 8, 8, 3), np.float32), (8, 8, 3))
    assert models["keras-tfjs"] == "conversion failed: KeyError: 'a bug, not a known failure'"
    assert isinstance(models["keras-litert-js"], WebModel)
    assert [(r.route, r.variant, r.metric) for r in recs] == [
        ("keras-litert-js", "litert", "convert_time")]
    assert recs[0].extra["converter_timeout_s"] == 300


class FakeBrowser:
    def __init__(self, result: dict[str, Any]) -> None:
        self.result = result

    def run_page(self, url: str) -> dict[str, Any]:
        return dict(self.result)


PAGE = {"ok": True, "runtime_init_ms": 10.0, "model_load_ms": 5.0, "ready_ms": 20.0,
        "first_inference_ms": 3.0, "samples_ms": [1.0, 1.1, 1.2, 0.9, 1.0], "warmups_ms": [2.0],
        "threads": None, "workers": 1, "cross_origin_isolated": True}


def _measure(tmp: Path, outputs: list[float]) -> list[Measurement]:
    route = ROUTES["keras-litert-js"]
    v = web.runtime(route).variants(2)[1]
    ref = np.arange(8, dtype=np.float64).reshape(4, 2)
    return export_web._measure(_ctx(tmp), FakeBrowser({**PAGE, "outputs": outputs}), tmp, route,
                               v, _model(tmp, "litert"), ref, {"runtime": "litert"})


def _records(ms: list[Measurement], framework: str = "keras-tf") -> list[Record]:
    return [Record(study="t", run_id="r", job_id="j", task="image-classification",
                   model="resnet", framework=framework, backend="tensorflow",
                   scenario="export-web", route=m.route, variant=m.variant, metric=m.metric,
                   unit=m.unit, value=m.value,
                   samples=m.samples, threads=2, status=getattr(m, "status", "ok"),
                   error=getattr(m, "error", None), extra=m.extra) for m in ms]


def test_parity_failure_is_visible_and_a_wrong_sized_output_is_a_failed_record(
        tmp_path: Path) -> None:
    ok = _named(_measure(tmp_path, list(np.arange(8.0) + 1e-5)))
    assert {m.route for m in ok.values()} == {"keras-litert-js"}
    assert ok["litert-wasm-2t:status"].value == 1.0
    assert ok["litert-wasm-2t:status"].extra["state"] == "ok"
    assert ok["litert-wasm-2t:status"].extra["threads_reported"] is None  # no echo
    assert ok["litert-wasm-2t:status"].extra["workers_started"] == 1
    bad = _named(_measure(tmp_path, list(np.arange(8.0) + 0.25)))
    st = bad["litert-wasm-2t:status"]
    assert (st.value, st.extra["state"], st.extra["max_abs_diff"]) == (0.0, "parity-failed", 0.25)
    assert st.extra["reason"] == "outputs differ from keras-tf: max|Δ| 2.50e-01 > 0.001"
    assert bad["litert-wasm-2t:output_max_abs_diff"].extra["passed"] is False
    assert "litert-wasm-2t:latency_p50" in bad  # it ran: the timings stay on record
    [row] = web_tables(_records(list(bad.values())))[0][1]
    assert (row.status, row.reason) == ("PARITY FAILED", st.extra["reason"])
    assert row.p50 != "—" and row.parity.endswith("FAIL (> 0.001)")
    [wrong] = _measure(tmp_path, [0.0] * 9)
    assert wrong.status == "failed" and (wrong.route, wrong.variant, wrong.metric) == (
        "keras-litert-js", "litert-wasm-2t", "status")
    assert wrong.error == ("litert-wasm-2t: page returned 9 output values, the framework 8 "
                           "(shape (4, 2))")


def test_missing_fields_print_a_dash_and_stale_runtimes_are_flagged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    st = Measurement("status", "", None, extra={"state": "unavailable"}, route="x",
                     variant="x-wasm-1t")
    [row] = web_tables(_records([st]))[0][1]
    assert "None" not in (row.runtime, row.short, row.backend, row.reason)
    assert (row.runtime, row.backend, row.reason) == ("—", "—", "—")
    pkg = tmp_path / "node_modules" / "@x" / "rt"
    pkg.mkdir(parents=True)
    (pkg / "package.json").write_text(json.dumps({"version": "1.0.0"}))
    (tmp_path / "releases.json").write_text(json.dumps(
        {"npm": {"@x/rt": {"version": "1.0.0", "released": "2024-10-21T00:00:00Z"}}}))
    monkeypatch.setenv(web.ENV_VAR, str(tmp_path))
    fresh = web.package_info("@x/rt", today=date(2025, 10, 21))
    assert (fresh["age_days"], fresh["stale"]) == (365, False)
    old = web.package_info("@x/rt", today=date(2025, 10, 22))
    assert (old["age_days"], old["stale"]) == (366, True)
    assert web.package_info("@x/none")["stale"] is None
    line = packages(_records([Measurement("status", "", 1.0, extra={**old, "state": "ok"},
                                          route="x", variant="rt-wasm-1t")]))
    assert line == ["@x/rt 1.0.0 (released 2024-10-21, STALE: 366 days before this run)"]


def test_cli_preset_help_lists_every_preset() -> None:
    from typer.main import get_command

    from twinbench.cli import app
    from twinbench.study import PRESETS

    run = get_command(app).commands["run"]  # type: ignore[attr-defined]
    text = next(p.help for p in run.params if p.name == "preset")
    assert all(name in text for name in PRESETS), (list(PRESETS), text)


def _kill_chromium() -> int:
    """Kill the browser process this test's Playwright started (its renderers follow)."""
    mine = [p for p in psutil.Process().children(recursive=True) if "chrom" in p.name()]
    top = [p for p in mine if p.parent() is None or "chrom" not in p.parent().name()]
    for p in top:
        p.kill()
    return len(top)


def test_a_bad_variant_and_a_dead_browser_fail_only_their_variants(tmp_path: Path) -> None:
    chromium_or_skip()
    killed: list[int] = []

    def measure(ctx: Any, browser: Browser, route: Any, v: Any, m: WebModel,
                info: dict[str, Any]) -> list[Measurement]:
        at = {"route": route.id, "variant": v.id}
        if v.id == "litert-wasm-2t":
            raise ValueError("cannot reshape array of size 9 into shape (4,2)")
        if v.id == "ort-wasm-1t":
            killed.append(_kill_chromium())
        with StaticServer({"/pages/": web.PAGES}) as srv:
            res = browser.run_page(f"{srv.url}/pages/probe.html")
        if not res.get("ok"):
            return [export_web.Failed("status", "", None, extra=info, **at,
                                      error=f"{v.id}: page failed: {res.get('error')}")]
        return [Measurement("status", "", 1.0, extra={**info, "state": "ok"}, **at)]

    rts = [ROUTES[r] for r in ("keras-tfjs", "keras-litert-js", "torch-ort-web")]
    models = {"keras-tfjs": "conversion failed: tensorflowjs converter timed out after 300 s",
              "keras-litert-js": _model(tmp_path, "litert"),
              "torch-ort-web": _model(tmp_path, "ort")}
    recs = _named(export_web._variants(_ctx(tmp_path), rts, models, None, measure))
    assert killed and killed[0] >= 1
    assert recs["tfjs-wasm-1t:status"].error == (
        "tfjs-wasm-1t: conversion failed: tensorflowjs converter timed out after 300 s")
    assert recs["litert-wasm-1t:status"].value == 1.0
    assert recs["litert-wasm-2t:status"].error == (
        "litert-wasm-2t: ValueError: cannot reshape array of size 9 into shape (4,2)")
    dead = recs["ort-wasm-1t:status"]
    assert dead.status == "failed" and dead.error.startswith("ort-wasm-1t: page failed: ")
    after = recs["ort-wasm-2t:status"]  # measured in a restarted Chromium
    assert after.value == 1.0 and after.extra["browser_restarts"] == 1
    assert recs["ort-webgpu:status"].extra["state"] in ("unavailable", "not-run")
    assert recs["litert-webgpu:status"].extra["browser_restarts"] == 0
    left = [p for p in psutil.Process().children(recursive=True) if "chrom" in p.name()]
    assert not psutil.wait_procs(left, timeout=15)[1], "a Chromium outlived the scenario"
