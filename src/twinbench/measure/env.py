"""The environment fingerprint recorded with every result (fairness rule 7).

Enough to reproduce or explain a difference: versions, CPU model, cores, thread settings,
twinbench's own git revision. Framework versions are added by the adapter inside the worker.
The machine fields (``cpu``, ``cores``, ``cpus_available``, ``simd``, ``memory_gib``, ``gpus``)
are what ``twinbench.analysis.machine.machine_summary`` says a report speaks for.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import twinbench

THREAD_VARS = (
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS", "XLA_FLAGS", "KERAS_BACKEND",
)


@functools.cache
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# widest vector extension first: the one the CPU's GEMM kernels can use
_SIMD = (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"), ("asimd", "NEON"))


@functools.cache
def cpu_simd() -> str | None:
    """The widest SIMD extension /proc/cpuinfo lists (None where it cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            flags = set(line.split(":", 1)[1].split())
            return next((name for flag, name in _SIMD if flag in flags), None)
    return None


def _cpu_list_len(text: str) -> int:
    """How many CPUs a list such as "0-3,8" names."""
    n = 0
    for part in text.strip().split(","):
        if part:
            lo, _, hi = part.partition("-")
            n += int(hi or lo) - int(lo) + 1
    return n


@functools.cache
def cpus_available() -> int | None:
    """CPUs this machine (container) grants the study: the cgroup's cpuset and CPU quota, at
    most ``os.cpu_count()``; None where neither is readable. Not the worker's own affinity,
    which the runner pins to the study's threads."""
    found = []
    for path in ("/sys/fs/cgroup/cpuset.cpus.effective", "/sys/fs/cgroup/cpuset/cpuset.cpus"):
        try:
            found.append(_cpu_list_len(Path(path).read_text()))
            break
        except (OSError, ValueError):
            continue
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            found.append(max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    found = [n for n in found if n > 0]
    return min([*found, os.cpu_count() or found[0]]) if found else None


@functools.cache
def memory_gib() -> float | None:
    """Physical memory of the machine, GiB (None where it cannot be read)."""
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (AttributeError, OSError, ValueError):
        return None


@functools.cache
def gpus() -> list[str]:
    """Names of the NVIDIA GPUs visible here; [] when none is (no driver, no ``nvidia-smi``).

    The driver's /proc files first (no process to start); ``nvidia-smi -L`` where they are
    hidden (some containers). A GPU of another vendor is not detected: twinbench measures on the
    CPU only so far, and says which accelerators were present, not which it used.
    """
    names = []
    try:
        for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
            for line in info.read_text().splitlines():
                if line.startswith("Model:"):
                    names.append(line.split(":", 1)[1].strip())
    except OSError:
        pass
    if names or shutil.which("nvidia-smi") is None:
        return names
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10,
                             check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    # "GPU 0: NVIDIA H200 (UUID: GPU-...)"
    return [ln.split(":", 1)[1].split("(UUID")[0].strip() for ln in out.splitlines()
            if ln.startswith("GPU ") and ":" in ln]


@functools.cache
def git_revision() -> str:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, timeout=5, check=False,
        )
        rev = out.stdout.strip()
        if rev:
            dirty = subprocess.run(
                ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True, text=True, timeout=5, check=False,
            ).stdout.strip()
            return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def cpu_governor() -> str:
    """Frequency scaling policy; anything but "performance" lets clock speed drift mid-study."""
    try:
        return Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor").read_text().strip()
    except OSError:
        return "not readable here"


def fingerprint() -> dict[str, object]:
    return {
        "twinbench": twinbench.__version__,
        "git_revision": git_revision(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpus_available": cpus_available(),
        "simd": cpu_simd(),
        "memory_gib": memory_gib(),
        "gpus": gpus(),
        "thread_env": {k: os.environ[k] for k in THREAD_VARS if k in os.environ},
        "cpu_governor": cpu_governor(),
        "executable": sys.executable,
    }
