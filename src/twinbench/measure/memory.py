"""Resident memory of this process from /proc/self/status, with peak resets between phases.

Why not ``getrusage().ru_maxrss``: it can inherit the parent's high-water mark across fork and
exec (a worker forked from a large orchestrator starts with its peak), and it cannot be reset,
so one number mixes the import with training and inference. ``VmHWM`` is this process's own
peak, and writing ``5`` to ``/proc/self/clear_refs`` (Linux >= 4.0) resets it to the current RSS,
so each phase's peak is measured apart. Child processes (compilers' workers) are not included.
"""

from __future__ import annotations

from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR = Path("/proc/self/clear_refs")


def _kib(field: str) -> float | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])  # "VmHWM:   123456 kB"
    except OSError:
        pass
    return None


def rss_mb() -> float | None:
    """Current resident set size in MiB (None off Linux)."""
    kib = _kib("VmRSS")
    return kib / 1024 if kib is not None else None


def peak_mb() -> float | None:
    """Peak resident set size since the process started or the last ``reset_peak``, MiB."""
    kib = _kib("VmHWM")
    return kib / 1024 if kib is not None else None


def reset_peak() -> bool:
    """Reset the peak to the current RSS; False where the kernel offers no way to."""
    try:
        _CLEAR.write_text("5")
    except OSError:
        return False
    return True
