"""The CPU's theoretical fp32 peak: cores x clock x FLOPs per cycle per core, where readable.

FLOPs per cycle = 2 (a fused multiply-add) x SIMD lanes x FMA units. The lanes come from the
CPU's flags (avx512f: 16 fp32 lanes, avx2/fma: 8, else 4); the number of FMA units is not in the
flags, so it comes from a small table of microarchitectures, and where the CPU is not in it, 2
is assumed — said so in ``assumptions``. The clock is the highest the kernel reports (cpufreq's
``cpuinfo_max_freq``, else the ``cpu MHz`` of /proc/cpuinfo, which on a VM is the host's base
clock). A theoretical peak is an upper bound no library reaches; the measured GEMM of the best
framework is the practical one, and both are recorded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

# (vendor, family) -> (FMA units per core at the width the lanes give, note). AMD Zen 4 (family
# 25 = 0x19, models 0x10-0x1f / 0x60-0x7f) runs AVX-512 as two halves over two 256-bit FMA pipes:
# 16 fp32 FMA lanes per cycle, i.e. one 512-bit FMA per cycle.
_FMA_UNITS = {("AuthenticAMD", 25): (1, "AMD family 25 (Zen 3/4): 2 x 256-bit FMA pipes, "
                                        "AVX-512 double-pumped = 1 x 512-bit FMA per cycle"),
              ("AuthenticAMD", 23): (2, "AMD family 23 (Zen 1/2): 2 FMA pipes"),
              ("AuthenticAMD", 26): (2, "AMD family 26 (Zen 5): 2 x 512-bit FMA pipes")}


@dataclass(frozen=True)
class Peak:
    gflops: float | None
    cores: int
    ghz: float | None
    lanes: int
    fma_units: int
    source: str
    assumptions: list[str] = field(default_factory=list)


def _cpuinfo() -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() not in out:
                out[key.strip()] = value.strip()
    except OSError:
        pass
    return out


def _max_ghz(info: dict[str, str]) -> tuple[float | None, str]:
    try:
        khz = float(Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text())
        return khz / 1e6, "cpufreq cpuinfo_max_freq"
    except (OSError, ValueError):
        pass
    try:
        return float(info["cpu MHz"]) / 1e3, "/proc/cpuinfo cpu MHz"
    except (KeyError, ValueError):
        return None, "no clock readable"


def theoretical_peak() -> Peak:
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    lanes = 16 if "avx512f" in flags else 8 if {"avx2", "fma"} <= flags else 4
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 1)
    ghz, clock = _max_ghz(info)
    assumptions = []
    try:
        family = int(info.get("cpu family", "-1"))
    except ValueError:
        family = -1
    units, note = _FMA_UNITS.get((info.get("vendor_id", ""), family), (0, ""))
    if not units:
        units = 2
        assumptions.append(f"FMA units per core unknown for {info.get('model name', 'this CPU')}"
                           ": 2 assumed")
    if "hypervisor" in flags:
        assumptions.append("virtual machine: the clock is what the guest is told")
    gflops = cores * ghz * 2 * lanes * units if ghz else None
    source = (f"{cores} cores x {ghz:.3g} GHz ({clock}) x 2 (FMA) x {lanes} fp32 lanes x "
              f"{units} FMA unit(s)" if ghz else clock) + (f"; {note}" if note else "")
    return Peak(gflops, cores, ghz, lanes, units, source, assumptions)
