"""The serve scenario end to end from the CLI (tiny sizes): exports from PyTorch and Keras-TF,
the neutral front end over every backend, LitServe and Ray Serve as shipped; every server's
answers equal its framework's in-process model (< 1e-5); common offered rates; nothing left
running; a server that crashes mid-run becomes a failed record, not a hang. Speed is not
asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from conftest import ROOT

pytestmark = pytest.mark.timeout(900)
STUDY = """
name = "serve-test"
frameworks = [{frameworks}]
scenarios = ["serve"]
models = ["resnet"]
size = "tiny"
image_size = 16
parity = false
[serve]
backends = [{backends}]
servers = [{servers}]
server_backends = ["onnx-torch"]
duration_s = 0.5
min_queries = 20
warmup_queries = 5
search_steps = 1
capacity_s = 0.3
parity_inputs = 3
"""


def _run(tmp: Path, frameworks: str, backends: str, servers: str,
         env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, list[dict]]:
    study = tmp / "study.toml"
    study.write_text(STUDY.format(frameworks=frameworks, backends=backends, servers=servers))
    out = tmp / "out"
    proc = subprocess.run([sys.executable, "-m", "twinbench.cli", "run", str(study), "--out",
                           str(out)], capture_output=True, text=True, timeout=850, cwd=ROOT,
                          check=False, env={**os.environ, **(env or {})})
    path = out / "results.jsonl"
    assert path.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    return proc, [r for r in recs if r["scenario"] == "serve"]


def _left(out: Path) -> list[str]:
    """Processes still running that belong to this results folder (servers, clients)."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if str(out) in cmd:
            found.append(cmd[:200])
    return found


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("serve-cli")
    proc, recs = _run(tmp, '"pytorch", "keras-tf"',
                      '"torch-eager", "aoti", "onnx-torch", "savedmodel", "onnx-keras"',
                      '"litserve", "ray-serve"')
    return {"proc": proc, "recs": recs, "out": tmp / "out"}


def _get(recs: list[dict], variant: str, metric: str) -> dict:
    got = [r for r in recs if r["variant"] == variant and r["metric"] == metric]
    assert len(got) == 1, (variant, metric, [(r["variant"], r["metric"], r["status"],
                                              r.get("error")) for r in recs])
    return got[0]


PAIRS = [("torch-eager@aiohttp", "pytorch"), ("aoti@aiohttp", "pytorch"),
         ("onnx-torch@aiohttp", "pytorch"), ("savedmodel@aiohttp", "keras-tf"),
         ("onnx-keras@aiohttp", "keras-tf"), ("onnx-torch@litserve", "pytorch"),
         ("onnx-torch@ray-serve", "pytorch")]


def test_every_server_answers_as_the_in_process_model(run):
    assert run["proc"].returncode == 0, run["proc"].stdout[-3000:]
    for variant, fw in PAIRS:
        p = _get(run["recs"], variant, "http_max_abs_diff")
        assert p["status"] == "ok" and p["framework"] == fw
        assert p["extra"]["passed"] and p["value"] < 1e-5 and p["extra"]["inputs"] == 3


def test_each_pair_is_timed_at_the_common_rates(run):
    recs = run["recs"]
    rates = set()
    for variant, _ in PAIRS:
        for tag in ("0.5x", "0.8x"):
            p50 = _get(recs, variant, f"latency_p50_at_{tag}")
            p99 = _get(recs, variant, f"latency_p99_at_{tag}")
            assert p50["status"] == p99["status"] == "ok" and 0 < p50["value"] <= p99["value"]
            assert p99["ci95"] and p99["knobs"]["server"] == variant.split("@")[1]
            assert _get(recs, variant, f"error_rate_at_{tag}")["value"] == 0
            rates.add((tag, round(p50["extra"]["offered_qps"], 6)))
        assert _get(recs, variant, "cold_start")["value"] > 0
        assert _get(recs, variant, "max_qps_within_bound")["status"] == "ok"
        mem = _get(recs, variant, "server_memory")
        assert mem["value"] > 0 and mem["extra"]["left_after_stop"] == []
        # nothing connected outside 127.0.0.0/8; the one wildcard listen allowed is Ray
        # Serve's replica's gRPC server (hard-coded [::]:0, ray-project/ray#64544)
        assert mem["extra"]["off_loopback_connections"] == []
        wild = mem["extra"]["listening_wildcard"]
        assert wild == [] if "ray" not in variant else len(wild) <= 1
    assert len(rates) == 2  # the same two offered rates for every pair
    caps = [_get(recs, v, "latency_single_stream")["extra"]["capacity_qps"] for v, _ in PAIRS]
    assert max(q for t, q in rates if t == "0.5x") == pytest.approx(0.5 * min(caps), rel=1e-6)
    assert _get(recs, "onnx-torch@ray-serve", "processes")["value"] > _get(
        recs, "onnx-torch@aiohttp", "processes")["value"] == 1


def test_exports_and_what_is_not_here_are_recorded(run):
    recs = run["recs"]
    for b, fw in (("aoti", "pytorch"), ("onnx-torch", "pytorch"), ("savedmodel", "keras-tf"),
                  ("onnx-keras", "keras-tf")):
        assert _get(recs, b, "export_time")["framework"] == fw
        assert _get(recs, b, "artifact_size")["value"] > 0
    tfx = _get(recs, "tfx", "available")
    assert tfx["extra"]["state"] == "unavailable" and "absl-py" in tfx["extra"]["reason"]
    assert _get(recs, None, "serialisation_time")["value"] > 0
    assert _left(run["out"]) == []
    out = run["proc"].stdout
    assert "Serving over HTTP" in out and "C8" in (run["out"] / "report.md").read_text()


def test_a_server_crash_mid_run_is_a_failed_record(tmp_path):
    proc, recs = _run(tmp_path, '"pytorch"', '"onnx-torch"', "",
                      env={"TWINBENCH_SERVE_CRASH_AFTER": "30"})
    assert proc.returncode == 0, proc.stdout[-3000:]
    f = [r for r in recs if r["status"] == "failed"]
    assert len(f) == 1 and f[0]["variant"] == "onnx-torch@aiohttp"
    assert "died mid-run" in f[0]["error"] and "exit code 70" in f[0]["error"]
    assert _get(recs, "onnx-torch@aiohttp", "http_max_abs_diff")["status"] == "ok"
    assert _left(tmp_path / "out") == []


def test_dense_outputs_are_served_in_one_layout_and_token_inputs_are_said_unserved(tmp_path):
    """U-Net (segmentation): PyTorch's ONNX export answers channels-first; the backend turns it
    to the layout the in-process model answers in, so parity holds. Transformer (token ids):
    the float32 encoding cannot carry them: one unavailable record, no failure."""
    study = tmp_path / "study.toml"
    study.write_text(STUDY.format(frameworks='"pytorch"', backends='"onnx-torch"', servers="")
                     .replace('models = ["resnet"]', 'models = ["unet", "transformer"]\n'
                              'tasks = ["semantic-segmentation", "text-classification"]'))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "twinbench.cli", "run", str(study), "--out",
                           str(out)], capture_output=True, text=True, timeout=600, cwd=ROOT,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    recs = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    unet = [r for r in recs if r["scenario"] == "serve" and r["model"] == "unet"]
    p = _get(unet, "onnx-torch@aiohttp", "http_max_abs_diff")
    assert p["extra"]["passed"] and p["value"] < 1e-5
    text = [r for r in recs if r["scenario"] == "serve" and r["model"] == "transformer"]
    assert len(text) == 1 and text[0]["extra"]["state"] == "unavailable"
    assert "token ids" in text[0]["extra"]["reason"]
