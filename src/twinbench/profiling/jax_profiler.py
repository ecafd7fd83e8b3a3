"""JAX profiler capture (Keras on JAX): XPlane read with ``jax.profiler.ProfileData``.

``jax.profiler.start_trace(create_perfetto_trace=True)`` writes the XPlane and a Perfetto JSON.
On the CPU each XLA thunk is an event named after its HLO instruction (``convolution.15``,
``multiply_reduce_fusion.19``), which alone says little about fusions. XLA's own HLO dump
(``--xla_dump_to``, see ``xla_dump.py``) gives each instruction its ``op_name`` metadata, e.g.
``jit(train_step)/jvp(layer1-0-bn1)/jit(_var)/reduce_sum``: the Keras layer and the primitive.
Without the dump, fused ops fall back to name-only rules and a note says so (per capture:
eager inference runs modules the dump does not cover).

For debugging, the documented options are on: host tracer level 2, the Python tracer
(``python_tracer_level=1``: ``$<file>:<line> <function>`` frames on the Python threads) and,
after the profiled steps, ``jax.profiler.device_memory_profile()`` (a pprof snapshot of the
live device buffers, kept as ``memory.prof`` beside the trace; the trace itself holds no memory
events on the CPU).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax

from twinbench.profiling import Capture, chrome, debug
from twinbench.profiling.attribution import Event, find_window
from twinbench.profiling.xla_dump import metadata_note, read_op_names

NAME = "jax"
HINT = ("Perfetto: https://ui.perfetto.dev → Open trace file → {trace}; native XPlane: "
        "tensorboard --logdir {logdir} (needs tensorboard-plugin-profile)")
_HOST_PLANE = "/host:CPU"
_op_names: dict[tuple[str, str], str] = {}  # (program id, instruction) -> op_name
OPTIONS: dict[str, Any] = {"host_tracer_level": 2, "python_tracer_level": 1,
                           "create_perfetto_trace": True,
                           "device_memory_profile": "after the profiled steps"}
_MEMORY = {"MemoryAllocation", "MemoryDeallocation"}


def read_xplane(path: Path) -> tuple[list[Event], dict[int, str], list[Event]]:
    """Host-plane events of an ``.xplane.pb``, line names and the Python tracer's frames.

    XLA thunks are keyed "hlo:<module>:<op> [op_name]"; frames ("$<file>:<line> <function>")
    are kept apart from the events attribution reads.
    """
    data = jax.profiler.ProfileData.from_file(str(path))
    plane = data.find_plane_with_name(_HOST_PLANE)
    if plane is None:
        raise RuntimeError(f"profile: no {_HOST_PLANE} plane in {path}")
    events: list[Event] = []
    frames: list[Event] = []
    names: dict[int, str] = {}
    for tid, line in enumerate(plane.lines):
        names[tid] = line.name
        for e in line.events:
            name = e.name
            start = int(e.start_ns)
            if name.startswith(debug.PYTHON_FRAME):
                frames.append(Event(name, tid, start, start + int(e.duration_ns)))
                continue
            stats = dict(e.stats)
            if "hlo_op" in stats:
                op = str(stats["hlo_op"])
                name = f"hlo:{stats.get('hlo_module', '?')}:{op}"
                op_name = _op_names.get((str(stats.get("program_id", "")), op))
                if op_name:
                    name += f" {op_name}"
            events.append(Event(name, tid, start, start + int(e.duration_ns)))
    return events, names, frames


def read_events(path: Path) -> list[Event]:
    return read_xplane(path)[0]


def memory_facts(blob: bytes | None, path: Path, events: list[Event],
                 window: tuple[int, int]) -> dict[str, Any]:
    """Memory events in the trace (none seen on the CPU) and the device memory profile (pprof):
    buffers and bytes live after the profiled steps, kept as ``path``."""
    lo, hi = window
    n = sum(e.name in _MEMORY and lo <= e.start < hi for e in events)
    out: dict[str, Any] = {"kind": "snapshot (device_memory_profile, pprof)",
                           "option": "jax.profiler.device_memory_profile()", "events": n,
                           "snapshot_buffers": 0, "live_bytes": None}
    if not blob:
        return out
    path.write_bytes(blob)
    totals = debug.pprof_totals(blob)
    out.update(snapshot_buffers=totals.get("samples", 0), file=path.name, pprof=totals,
               live_bytes=next((v for k, v in totals.items() if k.endswith("/bytes")), None))
    return out


def capture(run: Callable[[], object], sync: Callable[[], None], marker: str,
            outdir: Path) -> Capture:
    outdir.mkdir(parents=True, exist_ok=True)
    read_op_names(_op_names)  # the steps compiled during warm-up
    logdir = outdir / "tensorboard"
    opts = jax.profiler.ProfileOptions()
    opts.python_tracer_level = OPTIONS["python_tracer_level"]
    opts.host_tracer_level = OPTIONS["host_tracer_level"]
    jax.profiler.start_trace(str(logdir), create_perfetto_trace=True, profiler_options=opts)
    try:
        t0 = time.perf_counter()
        with jax.profiler.TraceAnnotation(marker):
            run()
            sync()
        wall = time.perf_counter() - t0
        blob = jax.profiler.device_memory_profile()  # outside the timed steps
    finally:
        jax.profiler.stop_trace()
    runs = sorted(logdir.glob("plugins/profile/*"), key=lambda p: p.stat().st_mtime)
    native = next(iter(runs[-1].glob("*.xplane.pb")), None) if runs else None
    trace = next(iter(runs[-1].glob("perfetto_trace.json.gz")), None) if runs else None
    if native is None or trace is None:
        raise RuntimeError(f"profile: the JAX profiler wrote no xplane/perfetto trace in {logdir}")
    events, _, frames = read_xplane(native)
    notes = metadata_note({e.name for e in events})  # this capture's thunks, not the map's
    viewer = debug.viewer_facts("XPlane protobuf (.xplane.pb) + Perfetto JSON",
                                "Perfetto (perfetto_trace.json.gz); TensorBoard with "
                                "tensorboard-plugin-profile (XPlane)", "the profiler",
                                debug.chrome_check(chrome.load(trace)))
    window = find_window(events, marker)
    return Capture(wall, events, window, {"trace": trace, "native": native, "logdir": logdir},
                   HINT, notes, options=dict(OPTIONS), frames=frames,
                   memory=memory_facts(blob, outdir / "memory.prof", events, window),
                   viewer=viewer)
