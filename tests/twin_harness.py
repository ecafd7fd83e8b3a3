"""What every twin test shares: tests/twin_worker.py, one process per framework, results as files.

Project rule: one framework per process; the pytest process only uses numpy. A test writes a
case (:func:`write_case`: the worker's ``config.json`` and ``inputs.npz``), then
:func:`run_workers` starts one worker per framework, all at once: a worker whose job needs
another framework's weights waits for that worker's ``init`` (so no waves, and each framework
imports once). A worker that dies leaves ``err_<fw>_<job>.txt`` for each of its jobs, which
:func:`twin_result` turns into a test failure carrying the worker's traceback. Frameworks are
the product's ids (``twinbench.frameworks.base.FRAMEWORKS``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from twinbench.frameworks.base import FRAMEWORKS

SRC = Path(__file__).resolve().parents[1] / "src"
WORKER = Path(__file__).with_name("twin_worker.py")
KERAS = [f for f, s in FRAMEWORKS.items() if s.library == "keras"]  # keras-tf, -jax, -torch
TORCH = [f for f, s in FRAMEWORKS.items() if s.library != "keras"]  # pytorch, lightning
REF = "pytorch"  # the study's parity reference, whose weights the other twins load


def worker_env(fw: str, **extra: str) -> dict[str, str]:
    """The environment of one framework's worker: its Keras backend, one thread, CPU only."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "KERAS_BACKEND": FRAMEWORKS[fw].env.get("KERAS_BACKEND", "torch"),
        "OMP_NUM_THREADS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "CUDA_VISIBLE_DEVICES": "",
        "JAX_PLATFORMS": "cpu",
        # XLA's CPU backend spends seconds per kernel in LLVM at the default level; the test
        # graphs are tiny, so compile fast instead (same HLO, same numerics).
        "XLA_FLAGS": "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true",
        # torch 2.13.0's oneDNN channels-last conv backward corrupts the heap on AVX2-only CPUs
        # at the twins' test widths (Keras-on-torch convolves NHWC data as channels-last); its
        # SSE4.1 kernels compute the same function (uxlfoundation/oneDNN#6035; docs/robustness.md).
        # The PyTorch adapter itself feeds contiguous NCHW batches, the other half of the fix.
        "ONEDNN_MAX_CPU_ISA": "SSE41",
        **extra,
    }


def write_case(d: Path, config: dict[str, Any], **inputs: Any) -> Path:
    """A case folder for the worker: ``config.json`` and ``inputs.npz`` (see twin_worker)."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.json").write_text(json.dumps(config))
    np.savez(d / "inputs.npz", **inputs)
    return d


def run_workers(d: Path, plan: dict[str, list[str]], timeout: float = 600,
                env: dict[str, str] | None = None) -> dict[str, str]:
    """Run one worker per framework of ``plan`` (framework -> jobs), all in parallel; return
    each one's console output. A crash or a timeout fails each of its jobs."""
    logs = {fw: d / f"log_{fw}.txt" for fw in plan}
    procs = {}
    for fw, jobs in plan.items():
        with open(logs[fw], "w") as log:  # a file, not a pipe: nobody blocks on a full pipe
            procs[fw] = subprocess.Popen([sys.executable, str(WORKER), fw, str(d), *jobs],
                                         env=worker_env(fw, **(env or {})), stdout=log,
                                         stderr=subprocess.STDOUT)
    deadline, running = time.monotonic() + timeout, dict(procs)
    while running:
        late = time.monotonic() > deadline
        for fw, p in list(running.items()):
            if late and p.poll() is None:
                p.kill()
                p.wait()
            if p.poll() is None:
                continue
            del running[fw]
            if p.returncode != 0:  # at once: the workers waiting for its init then stop too
                why = f"worker exit {p.returncode}{' (timed out)' if late else ''}"
                for job in plan[fw]:
                    case, _, name = job.rpartition("/")
                    err = d / case / f"err_{fw}_{name}.txt"
                    if not err.exists():
                        err.write_text(f"{why}\n{logs[fw].read_text()[-8000:]}")
        time.sleep(0.1)
    return {fw: path.read_text() for fw, path in logs.items()}


def twin_result(d: Path, name: str, fw: str, job: str) -> Path:
    """Path of a job's output, failing the test with the worker's traceback if it has none."""
    err = d / f"err_{fw}_{job}.txt"
    if err.exists():
        pytest.fail(f"{fw} {job} failed:\n{err.read_text()[-4000:]}")
    assert (d / name).exists(), f"{fw} {job} left no {name}"
    return d / name


def load(d: Path, name: str, fw: str, job: str) -> dict[str, Any]:
    """The arrays of a job's .npz output (see :func:`twin_result`)."""
    return dict(np.load(twin_result(d, name, fw, job)))


def run_out(d: Path, fw: str, origin: str, mistake: str = "") -> dict[str, Any]:
    """What ``run:<origin>[:<mistake>]`` of ``fw`` wrote."""
    name = f"{fw}+{mistake}" if mistake else fw
    job = f"run:{origin}" + (f":{mistake}" if mistake else "")
    return load(d, f"out_{name}_from_{origin}.npz", fw, job)


def init_weights(d: Path, fw: str) -> dict[str, Any]:
    """The weights ``fw``'s init job exported."""
    return load(d, f"w_{fw}.npz", fw, "init")


def info(out: dict[str, Any]) -> dict[str, Any]:
    """The ``info`` a run recorded (threads, knobs, Lightning's Trainer state)."""
    got: dict[str, Any] = json.loads(str(out["info"]))
    return got


def trained(out: dict[str, Any]) -> dict[str, np.ndarray]:
    """The weights a run ended with, by canonical name."""
    return {k[len("trained/"):]: v for k, v in out.items() if k.startswith("trained/")}


# What a twin must match, on the same weights and batches (the model tests may add checks):
FORWARD_TOL = 1e-4  # eval outputs, max|diff|
LOSS_RTOL = 1e-3  # every loss (train_step's and fit's), relative
TRAINED_TOL = 1e-4  # every weight and running_mean after training, max|diff|
# torch updates running_var with the unbiased batch variance, Keras with the biased one (factor
# n/(n-1)): bounded, not equal. See twinbench.zoo.keras.resnet.
VAR_RTOL = 0.1


def check_parity(a: dict[str, Any], b: dict[str, Any], label: str, shape: tuple[int, ...],
                 tol: Callable[[str], float] | None = None) -> None:
    """``a`` ran its own weights, ``b`` the same weights: outputs, losses, fit's step reports and
    the trained weights must agree (``tol(name)``: a weight's tolerance, default TRAINED_TOL)."""
    fwd = float(np.max(np.abs(a["out"] - b["out"])))
    rel = np.abs(a["losses"] - b["losses"]) / np.abs(a["losses"])
    print(f"\n{label}: forward max|diff| {fwd:.2e}, "
          f"loss rel diffs {np.array2string(rel, precision=2)}, losses {a['losses']}")
    assert a["out"].shape == b["out"].shape == shape, (a["out"].shape, b["out"].shape)
    assert np.std(a["out"]) > 1e-2, "degenerate outputs make the comparison meaningless"
    assert not np.allclose(a["losses"][0], a["losses"][1:]), "training steps changed nothing"
    # fit's on_step reports (the worker checks each run's against its batches)
    assert list(a["marks"]) == list(b["marks"]), (a["marks"], b["marks"])
    assert fwd < FORWARD_TOL, f"forward max|diff| {fwd:.2e}"
    assert np.all(rel < LOSS_RTOL), f"loss rel diffs {rel}"
    check_trained(a, b, tol)


def check_trained(a: dict[str, Any], b: dict[str, Any],
                  tol: Callable[[str], float] | None = None) -> None:
    """Weights and BatchNorm statistics after training: each within ``tol(name)``."""
    ta, tb = trained(a), trained(b)
    assert sorted(ta) == sorted(tb), "the runs trained different tensors"
    var = [k for k in ta if k.endswith("running_var")]
    diffs = {k: float(np.max(np.abs(ta[k] - tb[k]))) for k in ta if k not in var}
    allowed = {k: tol(k) if tol else TRAINED_TOL for k in diffs}
    worst = max(diffs, key=lambda k: diffs[k] / allowed[k])
    print(f"after training: worst {worst} max|diff| {diffs[worst]:.2e} "
          f"(tolerance {allowed[worst]:.1e}), params+running_mean max {max(diffs.values()):.2e}")
    assert diffs[worst] < allowed[worst], \
        f"after training {worst} differs by {diffs[worst]:.2e} (tolerance {allowed[worst]:.1e})"
    assert all(np.allclose(ta[k], tb[k], rtol=VAR_RTOL) for k in var)
