"""torch.profiler capture (PyTorch, Lightning, Keras on torch): CPU ops, Chrome-trace export.

The options torch.profiler documents for debugging are on: ``record_shapes`` (input shapes per
op), ``profile_memory`` (``[memory]`` instant events with the bytes of each allocation and free)
and ``with_stack`` (Python frames, ``python_function`` events, around the ops). They cost time;
the scenario's overhead ratio is measured with them on. The trace is kineto's own Chrome-trace
JSON, so it is both the native format and what Perfetto opens.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch.profiler import ProfilerActivity, profile, record_function

from twinbench.profiling import Capture, chrome, debug
from twinbench.profiling.attribution import Event, find_window

NAME = "torch"
HINT = "Perfetto: https://ui.perfetto.dev → Open trace file → {trace} (or chrome://tracing)"
_KEPT = {"cpu_op", "user_annotation"}  # aten ops, autograd nodes, record_function ranges
# CPU only: the study runs on the CPU (device "cpu"); add ProfilerActivity.CUDA with GPUs
OPTIONS: dict[str, Any] = {"activities": "CPU", "record_shapes": True, "profile_memory": True,
                           "with_stack": True}


def _key(e: dict[str, Any]) -> str | None:
    return e["name"] if e.get("cat") in _KEPT else None


def _frame(e: dict[str, Any]) -> str | None:
    return e["name"] if e.get("cat") == "python_function" else None


def read_events(path: Path) -> list[Event]:
    return chrome.events(path, _key)


def memory_facts(data: dict[str, Any], window: tuple[int, int]) -> dict[str, Any]:
    """``[memory]`` instants inside ``window``: count, bytes allocated and freed, peak total."""
    lo, hi = window
    n = alloc = freed = 0
    peak = None
    for e in data.get("traceEvents", []):
        if e.get("name") != "[memory]" or not lo <= float(e.get("ts", 0)) * 1000 < hi:
            continue
        a = e.get("args", {})
        b = int(a.get("Bytes", 0))
        n += 1
        alloc += max(b, 0)
        freed += max(-b, 0)
        if "Total Allocated" in a:
            peak = max(peak or 0, int(a["Total Allocated"]))
    return {"kind": "trace events", "option": "profile_memory=True", "events": n,
            "bytes_allocated": alloc, "bytes_freed": freed, "peak_bytes": peak}


def capture(run: Callable[[], object], sync: Callable[[], None], marker: str,
            outdir: Path) -> Capture:
    outdir.mkdir(parents=True, exist_ok=True)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=OPTIONS["record_shapes"],
                 profile_memory=OPTIONS["profile_memory"],
                 with_stack=OPTIONS["with_stack"]) as prof:
        t0 = time.perf_counter()
        with record_function(marker):
            run()
            sync()
        wall = time.perf_counter() - t0
    trace = outdir / "trace.json.gz"
    prof.export_chrome_trace(str(trace))
    data = chrome.load(trace)
    events = chrome.events_of(data, _key)
    window = find_window(events, marker)
    viewer = debug.viewer_facts("Chrome trace JSON (kineto)", "Perfetto, chrome://tracing",
                                "the profiler", debug.chrome_check(data))
    return Capture(wall, events, window, {"trace": trace, "native": trace}, HINT,
                   options=dict(OPTIONS), frames=chrome.events_of(data, _frame),
                   memory=memory_facts(data, window), viewer=viewer)
