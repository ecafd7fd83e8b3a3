"""Run one mobile artifact in its real runtime, in a process of its own, and time it.

    python -m twinbench.export.mobile_runtime LOADER ARTIFACT INPUTS.npz OUTDIR THREADS RUNS WARMUP

LOADER is a route's ``loader`` (``twinbench.export.routes``): one per runtime, whichever route
made the file (Keras -> LiteRT and PyTorch -> LiteRT both load with ``litert``).

Why a separate process per artifact: the worker that exported the model holds a whole framework
(TensorFlow or PyTorch) in memory, which would swamp the runtime's own footprint. This process
imports numpy and the runtime only: ``ai_edge_litert`` needs no TensorFlow; ExecuTorch's Python
bindings (``executorch.runtime``) link libtorch and import ``torch`` first, which the result
records (``python_imports``) rather than hides.

The fields follow LiteRT's ``benchmark_model``: init time (load + prepare), first inference,
warm-up average, then steady-state samples (median and p90 are computed by the caller). After the
timing, every input is run once more for the outputs that parity and the task metric need, so
those extra arrays do not count in the peak memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# loader id -> (Python distribution, top-level package); the package holds its native libraries
RUNTIMES: dict[str, tuple[str, str]] = {
    "litert": ("ai-edge-litert", "ai_edge_litert"),
    "executorch": ("executorch", "executorch"),
}
FRAMEWORK_MODULES = ("tensorflow", "torch", "jax", "keras")


class RuntimeFailure(RuntimeError):
    """The runtime could not load or run the artifact; the message is one line."""


@dataclass
class RuntimeResult:
    import_s: float
    init_ms: float
    first_ms: float
    warmups_ms: list[float]
    samples_ms: list[float]
    peak_rss_mib: float
    rss_after_import_mib: float
    outputs: np.ndarray  # runtime outputs for every input, in the artifact's own layout
    detail: dict[str, Any] = field(default_factory=dict)


def _status_mib(field: str) -> float:
    """A memory field of /proc/self/status (Linux) in MiB, without importing psutil.

    ``VmHWM`` (peak RSS) belongs to this process image; ``getrusage``'s ``ru_maxrss`` would not
    do: Linux carries it over from the parent through fork + exec, so a runtime started by a
    1 GB TensorFlow worker would report 1 GB.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _loaded_libs() -> dict[str, int]:
    """Shared objects this process has mapped, with their file sizes (what really loaded)."""
    paths = set()
    for line in Path("/proc/self/maps").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 6 and ".so" in parts[-1] and parts[-1].startswith("/"):
            paths.add(parts[-1])
    return {p: os.path.getsize(p) for p in sorted(paths) if os.path.exists(p)}


def _litert(path: Path, threads: int) -> tuple[Callable[[np.ndarray], np.ndarray], dict]:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=threads)  # XNNPACK delegate by default
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]

    def run(x: np.ndarray) -> np.ndarray:
        it.set_tensor(inp["index"], x)
        it.invoke()
        return it.get_tensor(out["index"])

    return run, {"input_dtype": str(np.dtype(inp["dtype"])), "threads": threads}


def _executorch(path: Path, threads: int) -> tuple[Callable[[np.ndarray], np.ndarray], dict]:
    import torch  # the bindings link libtorch; executorch.runtime imports it anyway
    from executorch.extension.pybindings import portable_lib
    from executorch.runtime import Runtime

    portable_lib._unsafe_reset_threadpool(threads)  # XNNPACK's pool; default is every core
    method = Runtime.get().load_program(path).load_method("forward")

    def run(x: np.ndarray) -> np.ndarray:
        return method.execute([torch.from_numpy(x)])[0].numpy()

    return run, {"threads": int(portable_lib._threadpool_get_thread_count())}


_LOADERS = {"litert": _litert, "executorch": _executorch}
_IMPORTS = {"litert": "ai_edge_litert.interpreter", "executorch": "executorch.runtime"}
# what `twinbench doctor` runs to prove a loader's native part loads: one line with its version
_PROBES = {
    "litert": "from ai_edge_litert.interpreter import Interpreter; import ai_edge_litert as a; "
              "print('ai-edge-litert ' + a.__version__)",
    "executorch": "from executorch.runtime import Runtime; Runtime.get(); "
                  "from executorch.version import __version__ as v; print('executorch ' + v)",
}
LOADERS = tuple(_LOADERS)
assert set(_LOADERS) == set(_IMPORTS) == set(_PROBES) == set(RUNTIMES), "one entry per loader"


def probe_code(loader: str) -> str:
    """Python code that loads ``loader``'s native part and prints its version (for doctor,
    which runs it in a process of its own)."""
    return _PROBES[loader]


def bench(runtime: str, path: Path, x: np.ndarray, threads: int, runs: int,
          warmup: int) -> tuple[RuntimeResult, dict[str, int]]:
    """Time ``runtime`` on the artifact; ``x`` holds every input, ``x[:1]`` is timed."""
    t0 = time.perf_counter()
    __import__(_IMPORTS[runtime])
    import_s = time.perf_counter() - t0
    rss_import = _status_mib("VmRSS")
    t0 = time.perf_counter()
    run, detail = _LOADERS[runtime](path, threads)
    init_ms = 1e3 * (time.perf_counter() - t0)
    one = np.ascontiguousarray(x[:1])

    def timed() -> float:
        t = time.perf_counter()
        run(one)
        return 1e3 * (time.perf_counter() - t)

    first = timed()
    warm = [timed() for _ in range(warmup)]
    samples = [timed() for _ in range(runs)]
    peak = _status_mib("VmHWM")
    libs = _loaded_libs()
    outs = np.concatenate([np.array(run(np.ascontiguousarray(x[i:i + 1])))
                           for i in range(len(x))])
    detail["python_imports"] = sorted(m for m in FRAMEWORK_MODULES if m in sys.modules)
    return RuntimeResult(import_s, init_ms, first, warm, samples, peak, rss_import, outs,
                         detail), libs


def run_artifact(runtime: str, artifact: Path, x: np.ndarray, *, threads: int, runs: int,
                 warmup: int, timeout_s: float = 300.0) -> RuntimeResult:
    """Start the runtime process for one artifact; raise RuntimeFailure with one line."""
    work = artifact.with_suffix(artifact.suffix + ".run")
    work.mkdir(parents=True, exist_ok=True)
    np.savez(work / "inputs.npz", x=x)
    cmd = [sys.executable, "-m", "twinbench.export.mobile_runtime", runtime, str(artifact),
           str(work / "inputs.npz"), str(work), str(threads), str(runs), str(warmup)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                              check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeFailure(f"{runtime} runtime timed out after {timeout_s:g} s") from exc
    finally:
        (work / "inputs.npz").unlink(missing_ok=True)  # the eval split, megabytes per artifact
    result = work / "result.json"
    if proc.returncode != 0 or not result.exists():
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        why = next((ln for ln in reversed(lines) if "Error" in ln), lines[-1] if lines else "")
        raise RuntimeFailure(f"{runtime} runtime exited {proc.returncode}: {why.strip()[:300]}")
    meta = json.loads(result.read_text())
    return RuntimeResult(outputs=np.load(work / "outputs.npy"), **meta)


def native_libs(package: str) -> tuple[int, list[tuple[str, int]]]:
    """Total bytes of the shared objects a package ships, and its largest ones (a proxy)."""
    import importlib.util

    spec = importlib.util.find_spec(package)  # finds the folder without importing it
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeFailure(f"package {package!r} is not installed")
    files: list[tuple[str, int]] = []
    for root in spec.submodule_search_locations:
        for p in Path(root).rglob("*.so*"):
            if p.is_file() and (p.suffix == ".so" or ".so." in p.name):
                files.append((str(p.relative_to(root)), p.stat().st_size))
    files.sort(key=lambda f: -f[1])
    return sum(n for _, n in files), files


def main(argv: list[str]) -> int:
    runtime, artifact, inputs, outdir, threads, runs, warmup = argv
    x = np.load(inputs)["x"]
    res, libs = bench(runtime, Path(artifact), x, int(threads), int(runs), int(warmup))
    pkg = RUNTIMES[runtime][1]
    own = {p: n for p, n in libs.items() if f"/{pkg}/" in p}
    res.detail["loaded_libs_bytes"] = sum(libs.values())
    res.detail["loaded_runtime_libs_bytes"] = sum(own.values())
    res.detail["loaded_runtime_libs"] = {Path(p).name: n for p, n in own.items()}
    out = Path(outdir)
    np.save(out / "outputs.npy", res.outputs)
    meta = {k: v for k, v in res.__dict__.items() if k != "outputs"}
    (out / "result.json").write_text(json.dumps(meta))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
