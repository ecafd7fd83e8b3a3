"""torch.profiler capture (PyTorch, Lightning, Keras on torch): CPU ops, Chrome-trace export.

Shapes and Python stacks are off (they cost the most and no category needs them). The trace is
kineto's own Chrome-trace JSON, so it is both the native format and what Perfetto opens.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch.profiler import ProfilerActivity, profile, record_function

from twinbench.profiling import Capture, chrome
from twinbench.profiling.attribution import Event, find_window

NAME = "torch"
HINT = "Perfetto: https://ui.perfetto.dev → Open trace file → {trace} (or chrome://tracing)"
_KEPT = {"cpu_op", "user_annotation"}  # aten ops, autograd nodes, record_function ranges


def _key(e: dict[str, Any]) -> str | None:
    return e["name"] if e.get("cat") in _KEPT else None


def read_events(path: Path) -> list[Event]:
    return chrome.events(path, _key)


def capture(run: Callable[[], object], sync: Callable[[], None], marker: str,
            outdir: Path) -> Capture:
    outdir.mkdir(parents=True, exist_ok=True)
    # CPU only: the study runs on the CPU (device "cpu"); add ProfilerActivity.CUDA with GPUs
    with profile(activities=[ProfilerActivity.CPU], record_shapes=False,
                 with_stack=False) as prof:
        t0 = time.perf_counter()
        with record_function(marker):
            run()
            sync()
        wall = time.perf_counter() - t0
    trace = outdir / "trace.json.gz"
    prof.export_chrome_trace(str(trace))
    events = read_events(trace)
    return Capture(wall, events, find_window(events, marker), {"trace": trace, "native": trace},
                   HINT)
