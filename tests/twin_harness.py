"""What every twin test shares: one worker process per framework, results exchanged as files.

Project rule: one framework per process. A twin test module holds its worker as a source string
(``python -c WORKER <twin> <dir> <job>...``); :func:`run_workers` starts one process per twin,
all at once, and a worker that dies leaves ``err_<twin>_<job>.txt`` for each of its jobs, which
:func:`twin_result` turns into a test failure carrying the worker's traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
KERAS_TWINS = [f"keras-{b}" for b in ("tensorflow", "jax", "torch")]


def worker_env(twin: str) -> dict[str, str]:
    """The environment of one twin's worker: its Keras backend, one thread, CPU only."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "KERAS_BACKEND": twin.removeprefix("keras-") if twin.startswith("keras-") else "torch",
        "OMP_NUM_THREADS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "CUDA_VISIBLE_DEVICES": "",
        "JAX_PLATFORMS": "cpu",
        # XLA's CPU backend spends seconds per kernel in LLVM at the default level; the test
        # graphs are tiny, so compile fast instead (same HLO, same numerics).
        "XLA_FLAGS": "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true",
        # torch 2.13.0's oneDNN channels-last conv backward corrupts the heap on AVX2-only CPUs
        # at the twins' test widths (Keras-on-torch convolves NHWC data as channels-last); its
        # SSE4.1 kernels compute the same function (uxlfoundation/oneDNN#6035; docs/robustness.md)
        "ONEDNN_MAX_CPU_ISA": "SSE41",
    }


def run_workers(worker: str, d: Path, plan: dict[str, list[str]], timeout: float = 300) -> None:
    """Run one worker process per twin, all in parallel; a crash fails each of its jobs."""
    procs = {
        twin: subprocess.Popen(
            [sys.executable, "-c", worker, twin, str(d), *jobs], env=worker_env(twin),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for twin, jobs in plan.items()
    }
    for twin, proc in procs.items():
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        if proc.returncode != 0:
            for job in plan[twin]:
                (d / f"err_{twin}_{job}.txt").write_text(f"worker exit {proc.returncode}\n{out}")


def twin_result(d: Path, name: str, twin: str, job: str) -> Path:
    """Path of a job's output, failing the test with the worker's traceback if it has none."""
    err = d / f"err_{twin}_{job}.txt"
    if err.exists():
        pytest.fail(f"{twin} {job} failed:\n{err.read_text()[-4000:]}")
    assert (d / name).exists(), f"{twin} {job} left no {name}"
    return d / name
