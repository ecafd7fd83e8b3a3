"""export-web: the three browser routes in a real headless Chromium, and their failure records.

Project rule: one framework per process. This pytest process imports no framework; the routes
run through the real CLI (one worker process per framework), and the converter test runs Keras
in a subprocess. The browser tests need Debian's chromium and web/node_modules, which
scripts/setup.sh installs; without them they fail in CI and skip elsewhere, saying so
(conftest.require).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from conftest import chromium_or_skip, tfjs_converter_or_skip, web_runtimes_or_skip
from twinbench.export.routes import ROUTES, Route, of_kind
from twinbench.web import runtimes as web
from twinbench.web.server import StaticServer

ROOT = Path(__file__).resolve().parents[1]
ENV = {"OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "",
       "JAX_PLATFORMS": "cpu"}
STUDY = """
name = "web-test"
frameworks = [{frameworks}]
scenarios = ["export-web"]
models = ["resnet"]
size = "tiny"
image_size = 16
threads = 2
parity = false
[infer]
latency_runs = 6
warmup = 2
"""
RUNS = ["tfjs-wasm-1t", "tfjs-wasm-2t", "tfjs-cpu", "litert-wasm-1t", "litert-wasm-2t",
        "ort-wasm-1t", "ort-wasm-2t"]
GPU = ["tfjs-webgl", "tfjs-webgpu", "litert-webgpu", "ort-webgpu"]


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), b""


def test_server_serves_only_its_folders_and_counts_bytes(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "a.wasm").write_bytes(b"x" * 1000)
    (tmp_path / "secret.txt").write_text("no")
    with StaticServer({"/s/": tmp_path / "site"}, isolated=True) as srv:
        assert srv.url.startswith("http://127.0.0.1:")
        status, headers, body = _get(srv.url + "/s/a.wasm")
        assert (status, len(body), headers["Content-Type"]) == (200, 1000, "application/wasm")
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"
        for bad in ("/s/../secret.txt", "/s/%2e%2e/secret.txt", "/secret.txt", "/s/", "/s/nope"):
            assert _get(srv.url + bad)[0] == 404, bad
        assert srv.totals() == {"/s/a.wasm": 1000}
        srv.reset()
        assert srv.totals() == {}
    with StaticServer({"/s/": tmp_path / "site"}) as srv:
        assert "Cross-Origin-Opener-Policy" not in _get(srv.url + "/s/a.wasm")[1]


def test_variants_gpu_verdicts_and_package_dates(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    assert [v.id for v in web.RUNTIMES["ort"].variants(1)] == ["ort-wasm-1t", "ort-webgpu"]
    v = web.RUNTIMES["tfjs"].variants(4)
    assert [(x.id, x.isolated, x.gpu) for x in v] == [
        ("tfjs-wasm-1t", False, False), ("tfjs-wasm-4t", True, False), ("tfjs-cpu", False, False),
        ("tfjs-webgl", False, True), ("tfjs-webgpu", False, True)]
    assert [r.id for r in web.routes_for("keras-tf")] == ["keras-tfjs", "keras-litert-js"]
    assert [web.runtime(r).id for r in web.routes_for("pytorch")] == ["ort"]
    assert web.routes_for("keras-jax") == []
    soft = {"webgl": "ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero)))"}
    assert "software rasterizer" in web.gpu_verdict("webgl", soft)
    assert web.gpu_verdict("webgl", {"webgl": "ANGLE (NVIDIA, H100)"}) is None
    assert "no WebGPU adapter" in web.gpu_verdict("webgpu", {"webgpu": None})
    assert web.gpu_verdict("webgpu", {"webgpu": "nvidia hopper"}) is None
    pkg = tmp_path / "node_modules" / "@x" / "rt"
    pkg.mkdir(parents=True)
    (pkg / "package.json").write_text(json.dumps({"name": "@x/rt", "version": "1.2.3"}))
    (tmp_path / "releases.json").write_text(json.dumps(
        {"npm": {"@x/rt": {"version": "1.2.3", "released": "2024-10-21T21:35:41Z"}}}))
    monkeypatch.setenv(web.ENV_VAR, str(tmp_path))
    assert web.package_info("@x/rt", date(2024, 11, 1)) == {
        "package": "@x/rt", "version": "1.2.3", "released": "2024-10-21", "age_days": 11,
        "stale": False}
    (pkg / "package.json").write_text(json.dumps({"version": "1.2.4"}))  # not what was recorded
    assert web.package_info("@x/rt")["released"] == "unknown"
    assert web.package_info("@x/none")["version"] == "not installed"


_CONVERT = textwrap.dedent("""
    import sys
    from pathlib import Path
    import keras
    from twinbench.export import tfjs_converter
    d = Path(sys.argv[1])
    x = keras.Input((8, 8, 3))
    y = keras.layers.Add()([keras.layers.Conv2D(3, 3, padding="same", use_bias=False)(x), x])
    m = keras.Model(x, keras.layers.GlobalAveragePooling2D()(y))  # conv -> residual Add
    m.export(str(d / "sm"), verbose=False)
    for patch in (False, True):
        tfjs_converter.convert(str(d / "sm"), str(d / f"tfjs{int(patch)}"), patch=patch)
""")


def _fused_with_activation_bias(model_json: Path) -> list[str]:
    nodes = {n["name"]: n for n in json.loads(model_json.read_text())["modelTopology"]["node"]}
    return [n["name"] for n in nodes.values() if n["op"] == "_FusedConv2D"
            and nodes[n["input"][2].split(":")[0]]["op"] != "Const"]


def test_tfjs_converter_patch_keeps_residual_add_out_of_the_bias(tmp_path: Path) -> None:
    tfjs_converter_or_skip()
    proc = subprocess.run([sys.executable, "-c", _CONVERT, str(tmp_path)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **ENV,
                                                       "KERAS_BACKEND": "tensorflow"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the bug: tensorflowjs 4.22 fuses the shortcut activation in as a conv "bias"
    assert _fused_with_activation_bias(tmp_path / "tfjs0" / "model.json")
    assert not _fused_with_activation_bias(tmp_path / "tfjs1" / "model.json")
    ops = [n["op"] for n in json.loads((tmp_path / "tfjs1" / "model.json").read_text())
           ["modelTopology"]["node"]]
    assert "AddV2" in ops or "Add" in ops


def _run(tmp: Path, frameworks: str, env: dict[str, str] | None = None) -> list[dict]:
    study = tmp / "study.toml"
    study.write_text(STUDY.format(frameworks=frameworks))
    proc = subprocess.run(
        [sys.executable, "-m", "twinbench.cli", "run", str(study), "--out", str(tmp / "out")],
        capture_output=True, text=True, timeout=900, cwd=ROOT, check=False,
        env={**os.environ, **(env or {})})
    path = tmp / "out" / "results.jsonl"
    assert path.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    (tmp / "stdout.txt").write_text(proc.stdout)
    return [json.loads(line) for line in path.read_text().splitlines()]


def _by_metric(records: list[dict]) -> dict[str, dict]:
    """export-web records by name (``variant:metric``; a route's or a job's own: ``metric``)."""
    return {(f"{r['variant']}:" if r.get("variant") else "") + r["metric"]: r for r in records
            if r["scenario"] == "export-web"}


def test_web_routes_come_from_the_route_table_and_a_wrong_row_is_caught() -> None:
    table = of_kind("web")
    assert {r.loader for r in table} == set(web.RUNTIMES)
    assert all(r.variant_prefix == f"{r.loader}-" for r in table)
    good = ROUTES["keras-tfjs"]
    for bad, why in ((replace(good, loader="nope"), "no browser runtime 'nope'"),
                     (replace(good, variant_prefix="js-"), "variant_prefix 'js-'")):
        with pytest.raises(ValueError, match=why):
            web.check({**ROUTES, good.id: bad}, web.RUNTIMES)
    with pytest.raises(ValueError, match=r"serve no web route"):
        web.check({k: r for k, r in ROUTES.items() if k != "torch-ort-web"}, web.RUNTIMES)
    new = Route("torch-litert-js", "web", "pytorch", "twinbench.export.web_convert", "LiteRT.js",
                "litert", "PyTorch → LiteRT.js", variant_prefix="litert-")
    web.check({**ROUTES, new.id: new}, web.RUNTIMES)  # a second route to one runtime


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict], Path]:
    chromium_or_skip()
    web_runtimes_or_skip()
    d = tmp_path_factory.mktemp("web")
    return _by_metric(_run(d, '"keras-tf", "pytorch"')), d


@pytest.mark.parametrize("variant", RUNS)
def test_route_runs_in_chromium_with_output_parity(variant: str, routes) -> None:
    recs, _ = routes
    st = recs[f"{variant}:status"]
    assert st["status"] == "ok", st.get("error")
    assert st["extra"]["state"] == "ok"
    assert st["route"] == next(r.id for r in of_kind("web")
                               if variant.startswith(r.variant_prefix))
    assert st["metric"] == "status" and st["variant"] == variant
    diff = recs[f"{variant}:output_max_abs_diff"]
    assert diff["extra"]["passed"] and diff["value"] <= diff["extra"]["tolerance"] == 1e-3
    assert diff["extra"]["n_inputs"] == 4
    p50 = recs[f"{variant}:latency_p50"]
    assert len(p50["samples"]) == 6 and len(p50["warmups"]) == 2 and p50["ci95"] is not None
    assert recs[f"{variant}:latency_p90"]["value"] >= p50["value"] > 0
    assert recs[f"{variant}:load_time"]["value"] > 0 < recs[f"{variant}:first_inference"]["value"]
    conv = recs[f"{st['extra']['runtime']}:convert_time"]
    model = recs[f"{variant}:model_bytes"]
    assert model["value"] == conv["extra"]["model_bytes_on_disk"] > 1000  # all of it, once
    files = recs[f"{variant}:runtime_bytes"]["extra"]["files"]
    assert any(f.endswith(".wasm") for f in files) == (st["extra"]["backend"] == "wasm")
    e = st["extra"]
    isolated = e["threads_requested"] > 1
    assert e["cross_origin_isolated"] is isolated
    # threads: evidence from the browser, not the page echoing its own request. A wasm thread
    # pool is Web Workers, which Chromium reports; a single-threaded page starts none.
    if isolated and variant.startswith(("litert", "ort")):
        assert e["workers_started"] >= 1, e
    if not isolated:
        assert e["workers_started"] == 0, e
    if variant.startswith("litert"):  # no API reports its pool; the threaded build is evidence
        assert e["threads_reported"] is None
        assert any("threaded" in f for f in files) is isolated
    if variant.startswith("tfjs-wasm"):  # TF.js asks its wasm module (caps at cores/2)
        assert 1 <= e["threads_reported"] <= e["threads_requested"]
    assert st["extra"]["version"] == web.package_info(st["extra"]["package"])["version"]
    assert st["extra"]["browser"].startswith("Chromium ")


@pytest.mark.parametrize("variant", GPU)
def test_gpu_backends_are_never_faked(variant: str, routes) -> None:
    recs, _ = routes
    st = recs[f"{variant}:status"]
    assert st["extra"]["state"] in ("unavailable", "not-run") and st["extra"]["reason"]
    assert not [m for m in recs if m.startswith(variant + ":") and m != f"{variant}:status"]


def test_web_table_in_terminal_and_report(routes) -> None:
    _, d = routes
    out = (d / "stdout.txt").read_text()
    assert "export-web · image-classification · resnet" in out
    for route in ("TF.js wasm 1t", "TF.js cpu", "LiteRT.js wasm 2t", "ORT Web wasm 1t"):
        assert route in out
    assert "Web runtimes" in out and "tensorflowjs 4.22.0" in out
    for pkg in ("@tensorflow/tfjs", "onnxruntime-web"):  # freshness is judged, not just listed
        info = web.package_info(pkg)
        assert info["stale"] is not None, info
        head = f"{pkg} {info['version']} (released {info['released']}"
        assert (head + ", STALE:" in " ".join(out.split())) is info["stale"], head
    html = (d / "out" / "report.html").read_text()
    assert "export-web" in html and all(v in html for v in RUNS + GPU)


def test_missing_browser_and_broken_converter_are_failed_records(tmp_path: Path) -> None:
    recs = _by_metric(_run(tmp_path, '"keras-tf", "keras-jax"', {
        "TWINBENCH_CHROMIUM": str(tmp_path / "no-chromium"),
        "TWINBENCH_TFJS_CONVERTER": str(tmp_path / "no-converter")}))
    for v in ("tfjs-wasm-1t", "tfjs-wasm-2t", "tfjs-cpu", "tfjs-webgpu"):
        r = recs[f"{v}:status"]
        assert r["status"] == "failed" and r["value"] is None
        assert r["error"] == (f"{v}: conversion failed: tensorflowjs converter failed (exit 2): "
                              f"tensorflowjs converter not installed in {tmp_path}/no-converter "
                              "(run scripts/setup.sh)")
    for v in ("litert-wasm-1t", "litert-wasm-2t", "litert-webgpu"):
        r = recs[f"{v}:status"]
        assert r["status"] == "failed"
        assert r["error"].startswith(f"{v}: no Chromium at {tmp_path}/no-chromium")
    assert "litert:convert_time" in recs and "tfjs:convert_time" not in recs  # converted anyway
    na = recs["status"]
    assert na["framework"] == "keras-jax" and na["extra"]["state"] == "not-applicable"
