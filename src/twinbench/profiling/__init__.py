"""Side-by-side profiles: each framework's own profiler, one shared vocabulary of categories.

A worker picks its profiler through the adapter's ``PROFILER`` capability ("torch",
"tensorflow" or "jax"); only that module is imported, so the worker still imports one framework.
Every profiler module offers ``capture(run, sync, marker, outdir) -> Capture`` and
``read_events(path) -> list[Event]``; categories live in ``categories.py``, the time accounting
in ``attribution.py``, and what a debugging user gets from the trace (memory events, Python
frames, whether Perfetto opens it) in ``debug.py``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from twinbench.profiling.attribution import Event

PROFILERS: dict[str, str] = {
    "torch": "twinbench.profiling.torch_profiler",
    "tensorflow": "twinbench.profiling.tf_profiler",
    "jax": "twinbench.profiling.jax_profiler",
}


@dataclass
class Capture:
    """What one profiled run left behind."""

    wall_s: float  # perf_counter around the marked region, profiler running
    events: list[Event]
    window: tuple[int, int]  # the marker's [start, end) in the events' clock, ns
    files: dict[str, Path]  # "trace": Chrome-trace JSON for Perfetto; "native": own format
    hint: str  # one line on how to open the trace; {trace} {native} {logdir} name the files
    notes: list[str] = field(default_factory=list)
    # What the profiler gave beyond op events, read back from what it wrote (debug.py):
    options: dict[str, Any] = field(default_factory=dict)  # the documented options turned on
    frames: list[Event] = field(default_factory=list)  # Python frames, named "file:line func"
    memory: dict[str, Any] = field(default_factory=dict)  # debug.memory_facts
    viewer: dict[str, Any] = field(default_factory=dict)  # debug.viewer_facts


def load(name: str | None) -> ModuleType:
    """The profiler module for an adapter's ``PROFILER`` capability."""
    if name not in PROFILERS:
        raise RuntimeError(f"profile: this framework declares no profiler (PROFILER={name!r}; "
                           f"known: {', '.join(PROFILERS)})")
    return importlib.import_module(PROFILERS[name])


# Environment a profiler needs before its framework is imported; framework-free modules only,
# since the orchestrator calls them.
ENV_HOOKS: dict[str, str] = {"jax": "twinbench.profiling.xla_dump"}


def worker_env(backend: str, env: dict[str, str], job_slug: str) -> dict[str, str]:
    """Extra worker environment for a profile job of this backend (XLA reads flags at import)."""
    name = ENV_HOOKS.get(backend)
    return importlib.import_module(name).worker_env(env, job_slug) if name else {}
