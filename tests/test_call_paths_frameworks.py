"""Every framework's documented call paths, run for real (tests/paths_worker.py, one process per
framework): the paths compute the same function, and each one is what its knobs say it is —
a test fails if a path silently changed (Keras predict_on_batch turning eager, a "compiled" path
compiling nothing, knobs that describe another call).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from twin_harness import SRC
from twinbench.frameworks.known_issues import upstream
from twinbench.scenarios.parity import FORWARD_TOL

WORKER = Path(__file__).with_name("paths_worker.py")
FRAMEWORKS = ("pytorch", "lightning", "keras-tf", "keras-jax", "keras-torch")


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    d = tmp_path_factory.mktemp("paths")
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path,
           "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "",
           "JAX_PLATFORMS": "cpu",
           # torch 2.13.0's oneDNN channels-last conv backward corrupts the heap on AVX2-only
           # CPUs at this test's tiny widths (the worker dies with SIGABRT; reproduced without
           # twinbench, uxlfoundation/oneDNN#6035); its SSE4.1 kernels compute the same function
           "ONEDNN_MAX_CPU_ISA": "SSE41"}
    out: dict[str, dict] = {}
    # two workers at a time (two cores), the longest first: torch.compile of Keras-torch, then
    # of the PyTorch twin and its Lightning module, then the XLA and JAX ones
    queue = ["keras-torch", "pytorch", "lightning", "keras-tf", "keras-jax"]
    running: dict[str, subprocess.Popen[str]] = {}
    deadline = time.monotonic() + 900
    while queue or running:
        if time.monotonic() > deadline:
            for p in running.values():
                p.kill()
            pytest.fail(f"call-path workers still running after 900 s: {sorted(running)}")
        while queue and len(running) < 2:
            fw = queue.pop(0)
            running[fw] = subprocess.Popen(
                [sys.executable, str(WORKER), fw, str(d / f"{fw}.json")], env=env,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        fw, p = next(((f, p) for f, p in running.items() if p.poll() is not None),
                     (None, None))
        if p is None:
            time.sleep(0.2)
            continue
        log = p.communicate()[0]
        del running[fw]
        assert p.returncode == 0, f"{fw} worker failed:\n{log[-3000:]}"
        out[fw] = json.loads((d / f"{fw}.json").read_text())
    return out


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_every_inference_path_computes_the_same_function(reports, fw) -> None:
    paths = reports[fw]["infer"]
    assert len(paths) >= 2, paths
    for pid, e in paths.items():
        assert "error" not in e, (pid, e["error"])
        assert e["max_abs_diff"] <= FORWARD_TOL, (pid, e["max_abs_diff"])
        assert e["knobs"]["call_path"] == pid


@pytest.mark.parametrize("fw", ["pytorch", "lightning"])
def test_torch_compiled_paths_compile_and_eager_ones_do_not(reports, fw) -> None:
    for pid, e in reports[fw]["infer"].items():
        compiled = "torch.compile" in e["knobs"]
        assert (e["graphs_compiled"] > 0) == compiled, (pid, e)
        assert e["grad_during_forward"] == [False], (pid, e)  # inference_mode / no_grad


def test_keras_tf_predict_on_batch_is_a_traced_graph_and_jit_is_xla(reports) -> None:
    p = reports["keras-tf"]["infer"]
    assert p["call"]["predict_function"] is None  # model(x): eager, no compiled function
    assert p["call"]["knobs"]["execution"] == "eager, op by op"
    pob, jit = p["predict_on_batch"], p["predict_on_batch-jit"]
    assert pob["tf_traces"] >= 1 and not pob["tf_xla"] and pob["knobs"]["jit_compile"] is False
    assert jit["tf_traces"] >= 1 and jit["tf_xla"] and jit["knobs"]["jit_compile"] is True


def test_keras_jax_predict_on_batch_is_jax_jit(reports) -> None:
    p = reports["keras-jax"]["infer"]
    assert p["predict_on_batch"]["jax_jit"] and p["predict_on_batch"]["knobs"]["jit_compile"]
    assert "predict_on_batch-jit" not in p  # on JAX the default already jits: no duplicate


def test_keras_torch_call_records_autograd_and_predict_on_batch_does_not(reports) -> None:
    p = reports["keras-torch"]["infer"]
    assert p["call"]["grad_during_forward"] == [True]  # model(x) on torch keeps autograd on
    assert p["predict_on_batch"]["grad_during_forward"] == [False]
    assert p["predict_on_batch-jit"]["torch_compiled"]
    assert not p["predict_on_batch"]["torch_compiled"]


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_training_paths_report_their_steps_and_the_knobs_in_effect(reports, fw) -> None:
    for pid, e in reports[fw]["train"].items():
        if "error" in e:  # a documented path that fails here must be a known upstream bug
            assert upstream(e["error"]), (pid, e["error"])
            continue
        assert e["knobs"]["call_path"] == pid
        if fw.startswith("keras"):
            spe = e["keras"]["steps_per_execution"]
            assert e["steps"] == [spe, 2 * spe]  # one mark per block of steps
            assert e["knobs"]["steps_per_execution"] == spe
            assert e["keras"]["jit_compile"] == e["knobs"]["jit_compile"]
        else:
            assert e["steps"] == [1, 2]


def test_lightnings_compile_recipe_fails_here_with_its_upstream_issue(reports) -> None:
    # Lightning 2.6.6 + torch 2.13: torch.compile(LightningModule) with self.log() in
    # training_step crashes in Dynamo. When a release fixes it, this test says so.
    e = reports["lightning"]["train"]["trainer-fit-compiled"]
    assert "Lightning-AI/pytorch-lightning#21836" in (upstream(e.get("error", "")) or ""), e
