"""export-mobile: a tiny ResNet through every route in both real runtimes, and failures as records.

Project rule: one framework per process. This pytest process imports no framework: the pytorch
and keras-tf jobs run in the real worker (``twinbench.runner.worker``), in parallel, and a third
pytorch worker has its ExecuTorch exporter monkeypatched to raise, as a converter would. Each
artifact is timed by the worker in its own runtime process (LiteRT, ExecuTorch).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from twinbench.export.mobile_runtime import native_libs
from twinbench.plan import plan
from twinbench.report.mobile import mobile_tables, print_mobile
from twinbench.results.schema import Record
from twinbench.runner.local import worker_env
from twinbench.scenarios import export_mobile
from twinbench.study import load_study

# ~100 s of CPU in all (ExecuTorch's lowering and its runtime's import dominate): about 2 minutes
# on 2 idle cores, several times that on a shared machine, hence the longer limit.
pytestmark = pytest.mark.timeout(1200)
ROUTES = {"keras-tf": ("fp32", "int8-dynamic", "int8-full"), "pytorch": ("fp32", "int8-full")}
ROUTE_ID = {"keras-tf": "keras-litert", "pytorch": "torch-executorch"}
BROKEN = "pytorch-broken"
# Run the real worker after replacing the ExecuTorch exporter with one that fails like a converter.
_BREAK_AND_RUN = """
import sys
import twinbench.export.mobile_executorch as m
def boom(*args, **kwargs):
    raise RuntimeError("converter exploded\\nloc(unknown): second line of the converter's log")
m.export = boom
from twinbench.runner.worker import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Run the three workers at once; return each one's payload (measurements by metric)."""
    d = tmp_path_factory.mktemp("mobile")
    study = load_study(preset="tiny", overrides={
        "frameworks": ["pytorch", "keras-tf"], "scenarios": ["export-mobile"], "parity": False,
        "threads": 1})
    jobs = {j.framework: j for j in plan(study)}
    jobs[BROKEN] = replace(jobs["pytorch"], job_id=jobs["pytorch"].job_id + "-broken")
    procs = {}
    for name, job in jobs.items():
        (d / f"{name}.job.json").write_text(json.dumps(job.to_dict()))
        env = {**worker_env(study, job), "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
               "CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"}
        head = ["-c", _BREAK_AND_RUN] if name == BROKEN else ["-m", "twinbench.runner.worker"]
        procs[name] = subprocess.Popen(
            [sys.executable, *head, str(d / f"{name}.job.json"), str(d / f"{name}.out.json"),
             str(d)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = {}
    for name, proc in procs.items():
        log, _ = proc.communicate(timeout=1100)
        path = d / f"{name}.out.json"
        out[name] = {"rc": proc.returncode, "log": log[-4000:], "job": jobs[name],
                     "payload": json.loads(path.read_text()) if path.exists() else None}
    return out


def _measured(results: dict, name: str) -> dict[str, dict]:
    """A worker's measurements by name: ``variant:metric``, or ``route:metric`` for a route
    that did not run (no variant)."""
    res = results[name]
    assert res["rc"] == 0 and res["payload"], f"{name} worker failed:\n{res['log']}"
    return {f"{m['variant'] or m['route']}:{m['metric']}": m
            for m in res["payload"]["measurements"]}


@pytest.mark.parametrize("framework", sorted(ROUTES))
def test_every_route_exports_runs_and_is_measured(results: dict, framework: str) -> None:
    m = _measured(results, framework)
    base = m["framework:accuracy"]["value"]
    assert m["framework:accuracy"]["route"] is None  # the framework's own model: no route
    for r in ROUTES[framework]:
        st = m[f"{r}:status"]
        assert st["value"] == 1.0 and "error" not in st, st
        assert st["route"] == ROUTE_ID[framework] and st["metric"] == "status"
        assert m[f"{r}:file_size"]["value"] > 1000 and m[f"{r}:export_time"]["value"] > 0
        acc, change = m[f"{r}:accuracy"]["value"], m[f"{r}:accuracy_change"]["value"]
        assert 0 <= acc <= 1 and change == pytest.approx(acc - base)
        assert f"{r}:macro_f1_change" in m
        p50 = m[f"{r}:latency_p50"]
        assert len(p50["samples"]) == 10 and len(p50["warmups"]) == 2
        assert p50["ci_of"] == "median"  # the orchestrator bootstraps the interval
        assert m[f"{r}:latency_p90"]["value"] >= p50["value"]
        for q in ("init_time", "first_inference", "warmup_avg", "peak_rss", "runtime_import"):
            assert m[f"{r}:{q}"]["value"] > 0, q
        assert 0 <= m[f"{r}:runtime_rss_delta"]["value"] < m[f"{r}:peak_rss"]["value"]
        assert p50["extra"]["threads_used"] == 1
    fp32, int8 = m["fp32:output_max_abs_diff"], m["int8-full:output_max_abs_diff"]
    assert fp32["extra"]["passed"] and fp32["value"] < 1e-3
    assert m["fp32:top1_agreement"]["value"] == 1.0
    assert int8["value"] > 10 * fp32["value"]  # really int8: the numbers moved
    assert m["int8-full:top1_agreement"]["value"] > 0.5
    assert m["int8-full:file_size"]["value"] < m["fp32:file_size"]["value"]
    assert m["int8-full:export_time"]["extra"]["calibration_samples"] == 16


def test_runtimes_run_apart_from_the_framework(results: dict) -> None:
    tf, torch = _measured(results, "keras-tf"), _measured(results, "pytorch")
    assert tf["fp32:peak_rss"]["extra"]["python_imports"] == []  # ai_edge_litert alone
    assert "torch" in torch["fp32:peak_rss"]["extra"]["python_imports"]  # ExecuTorch's bindings
    assert "tensorflow" not in torch["fp32:peak_rss"]["extra"]["python_imports"]
    for m in (tf, torch):
        libs = m["runtime:native_libs"]
        assert libs["value"] > 1e6 and "proxy" in libs["extra"]["note"]
        assert 0 < m["runtime:loaded_libs"]["value"] <= libs["value"]


def test_the_unavailable_litert_torch_route_is_a_record_with_its_reason(results: dict) -> None:
    st = _measured(results, "pytorch")["torch-litert:status"]
    assert st.get("status", "ok") == "ok" and st["value"] is None and st["variant"] is None
    assert st["extra"]["state"] == "unavailable" and "typing-extensions" in st["extra"]["why"]
    assert st["extra"]["upstream"] == "google-ai-edge/LiteRT#8894"
    assert not [k for k in _measured(results, "pytorch") if k.startswith("litert-")]


def test_a_failing_converter_is_a_failed_record_and_the_job_goes_on(results: dict) -> None:
    m = _measured(results, BROKEN)
    for r in ROUTES["pytorch"]:
        st = m[f"{r}:status"]
        assert st["status"] == "failed" and st["value"] is None
        assert st["error"] == f"{r}: export failed: RuntimeError: converter exploded"
        assert f"{r}:latency_p50" not in m and f"{r}:file_size" not in m
    assert m["framework:accuracy"]["value"] is not None  # the rest of the job still ran
    assert m["runtime:native_libs"]["value"] > 0


def _records(results: dict) -> list[Record]:
    """The payloads as the orchestrator stores them (intervals bootstrapped there)."""
    from twinbench.runner.local import _record_fields

    out = []
    for name in (*ROUTES, BROKEN):
        job = results[name]["job"]
        for m in _measured(results, name).values():
            out.append(Record(study="t", run_id="r", job_id=job.job_id, framework=name,
                              backend="x", threads=1,
                              **{"task": job.task, "model": job.model, "scenario": job.scenario,
                                 **_record_fields(dict(m), job)}))
    return out


def test_mobile_table_shows_each_route_and_the_failures(results: dict) -> None:
    [(title, rows, notes)] = mobile_tables(_records(results))
    assert title == "export-mobile · image-classification · resnet"
    got = {(r.runtime, r.route, r.framework): r for r in rows}
    gone = got[("LiteRT", "torch-litert", "pytorch")]  # the route exists, and why it did not run
    assert gone.status == "unavailable" and "google-ai-edge/LiteRT#8894" in gone.reason
    for fw, routes in ROUTES.items():
        runtime = "LiteRT" if fw == "keras-tf" else "ExecuTorch"
        for route in routes:
            row = got[(runtime, route, fw)]
            assert row.ok and "KiB" in row.values[1] and row.p50_ci.startswith("[")
    broken = got[("ExecuTorch", "fp32", BROKEN)]
    assert broken.status == "FAILED" and "converter exploded" in broken.reason
    assert any("Python bindings import torch" in n for n in notes)
    console = Console(record=True, width=200)
    print_mobile(_records(results), console)
    text = console.export_text()
    assert "LiteRT int8-dynamic" in text and "ExecuTorch int8-full" in text
    assert "LiteRT torch-litert" in text and "typing-extensions" in text


@pytest.mark.parametrize("fw", ["keras-jax", "keras-torch", "lightning", "some-new-framework"])
def test_frameworks_without_a_route_get_a_not_applicable_record(fw: str) -> None:
    ctx = SimpleNamespace(adapter=SimpleNamespace(id=fw))
    [m] = export_mobile.run(ctx)  # returns before touching data, the adapter or a framework
    assert m.metric == "status" and m.value is None and m.route is None
    assert m.extra["state"] == "not-applicable" and m.extra["reason"]
    if fw != "some-new-framework":  # its family's routes run in its carrier's job
        assert "job, which exports the same" in m.extra["reason"]


def test_one_line_prefers_the_converters_error_line() -> None:
    exc = ValueError("Could not translate MLIR to FlatBuffer.\n<unknown>:0: error: "
                     "'tf.Foo' op is neither a custom op nor a flex op\nnote: see current op")
    line = export_mobile.one_line(exc)
    assert line == "ValueError: 'tf.Foo' op is neither a custom op nor a flex op"
    loc = ValueError('Could not translate MLIR.<unknown>:0: error: loc(callsite(fused["A:", '
                     '"f@g"] at fused["B:", "B_1"])): \'tf.Bar\' op is neither a custom op')
    assert export_mobile.one_line(loc) == "ValueError: 'tf.Bar' op is neither a custom op"
    ours = RuntimeError("executorch runtime exited 1: Failed to load program, error: 0x:23")
    assert export_mobile.one_line(ours) == f"RuntimeError: {ours}"  # not an MLIR diagnostic
    intro = RuntimeError("The following call raised this error:\nCould not guard on u0 > 0")
    assert export_mobile.one_line(intro) == "RuntimeError: Could not guard on u0 > 0"
    assert export_mobile.one_line(RuntimeError("")) == "RuntimeError: "


def test_near_chance_accuracy_is_flagged() -> None:
    assert export_mobile.chance_warning({"accuracy": 0.10, "macro_f1": 0.02}, 10)
    assert export_mobile.chance_warning({"accuracy": 0.60}, 10) == []
    assert export_mobile.chance_warning({"mean_iou": 0.05}, 4) == []  # only accuracy is judged


def test_native_libs_walks_a_package_without_importing_it(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "fakert"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('must not be imported')\n")
    (pkg / "libcore.so").write_bytes(b"\0" * 300)
    (pkg / "sub" / "libextra.so.1").write_bytes(b"\0" * 200)
    (pkg / "notes.txt").write_bytes(b"\0" * 999)
    monkeypatch.syspath_prepend(str(tmp_path))
    total, files = native_libs("fakert")
    assert total == 500
    assert files == [("libcore.so", 300), (os.path.join("sub", "libextra.so.1"), 200)]
