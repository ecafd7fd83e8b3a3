"""TensorFlow profiler capture (Keras on TensorFlow): XPlane protobuf, parsed in-process.

``tf.profiler.experimental.start/stop`` writes a TensorBoard log folder holding
``plugins/profile/<run>/<host>.xplane.pb``. TensorBoard's profile plugin (which would turn it
into a trace viewer) is not a dependency, so the XPlane is read with the protobuf classes
TensorFlow bundles (``tensorflow.tsl.profiler.protobuf.xplane_pb2``) and re-written as a
Chrome trace for Perfetto beside it.

For debugging, the documented options are on: host tracer level 2 and the Python tracer
(``python_tracer_level=1``, Python frames as ``$<file>:<line> <function>`` events). TensorFlow's
ProfilerOptions has no memory option; the XPlane's ``MemoryAllocation``/``MemoryDeallocation``
events (what TensorBoard's memory profile reads) are counted as they come.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tensorflow as tf

from twinbench.profiling import Capture, chrome, debug
from twinbench.profiling.attribution import Event, find_window

NAME = "tensorflow"
HINT = ("Perfetto: https://ui.perfetto.dev → Open trace file → {trace}; native XPlane: "
        "tensorboard --logdir {logdir} (needs tensorboard-plugin-profile)")
_HOST_PLANE = "/host:CPU"
OPTIONS: dict[str, Any] = {"host_tracer_level": 2, "python_tracer_level": 1,
                           "device_tracer_level": 1}
_MEMORY = {"MemoryAllocation", "MemoryDeallocation"}
_MEMORY_STATS = ("allocation_bytes", "requested_bytes", "peak_bytes_in_use")


class XPlane:
    """What ``read_xplane`` takes from the host plane."""

    def __init__(self) -> None:
        self.events: list[Event] = []  # op and runtime events (not Python frames, not memory)
        self.names: dict[tuple[int, int], str] = {}  # line -> thread name
        self.frames: list[Event] = []  # Python tracer frames, "$<file>:<line> <function>"
        self.memory: list[tuple[int, dict[str, int]]] = []  # (time, stats) of memory events


def _xplane_pb2():
    try:
        from tensorflow.tsl.profiler.protobuf import xplane_pb2
    except ImportError:  # older layouts ship it as a top-level tsl package
        from tsl.profiler.protobuf import xplane_pb2  # type: ignore[no-redef]
    return xplane_pb2


def read_xplane(path: Path) -> XPlane:
    """Host-plane events of an ``.xplane.pb`` (op names as "scope/node:Type") and line names."""
    space = _xplane_pb2().XSpace()
    space.ParseFromString(path.read_bytes())
    out = XPlane()
    for plane in space.planes:
        if plane.name != _HOST_PLANE:
            continue
        meta, stat_names = plane.event_metadata, plane.stat_metadata
        for i, line in enumerate(plane.lines):
            tid = (plane.id, i)
            out.names[tid] = line.display_name or line.name
            base_ps = line.timestamp_ns * 1000
            for e in line.events:
                name = meta[e.metadata_id].name
                start = (base_ps + e.offset_ps) // 1000
                ev = Event(name, tid, start, start + max(e.duration_ps // 1000, 0))
                if name in _MEMORY:
                    stats = {stat_names[st.metadata_id].name: st.int64_value or st.uint64_value
                             for st in e.stats}
                    out.memory.append((start, {k: int(stats[k]) for k in _MEMORY_STATS
                                               if k in stats}))
                else:
                    (out.frames if name.startswith(debug.PYTHON_FRAME) else out.events).append(ev)
    if not out.names:
        raise RuntimeError(f"profile: no {_HOST_PLANE} plane in {path}")
    return out


def read_events(path: Path) -> list[Event]:
    return read_xplane(path).events


def memory_facts(xp: XPlane, window: tuple[int, int]) -> dict[str, Any]:
    """The XPlane's memory events inside ``window``: count, bytes, peak in use."""
    lo, hi = window
    mem = [st for t, st in xp.memory if lo <= t < hi]
    peaks = [st["peak_bytes_in_use"] for st in mem if "peak_bytes_in_use" in st]
    return {"kind": "trace events", "option": "none documented (host_tracer_level=2)",
            "events": len(mem), "bytes_allocated": sum(st.get("allocation_bytes", 0)
                                                       for st in mem),
            "peak_bytes": max(peaks) if peaks else None}


def capture(run: Callable[[], object], sync: Callable[[], None], marker: str,
            outdir: Path) -> Capture:
    outdir.mkdir(parents=True, exist_ok=True)
    logdir = outdir / "tensorboard"
    opts = tf.profiler.experimental.ProfilerOptions(**OPTIONS)
    tf.profiler.experimental.start(str(logdir), options=opts)
    try:
        t0 = time.perf_counter()
        with tf.profiler.experimental.Trace(marker):
            run()
            sync()
        wall = time.perf_counter() - t0
    finally:
        tf.profiler.experimental.stop()
    planes = sorted(logdir.glob("plugins/profile/*/*.xplane.pb"), key=lambda p: p.stat().st_mtime)
    if not planes:
        raise RuntimeError(f"profile: the TensorFlow profiler wrote no .xplane.pb under {logdir}")
    native = planes[-1]
    xp = read_xplane(native)
    trace = chrome.write(outdir / "trace.json.gz", xp.events, xp.names)
    window = find_window(xp.events, marker)
    notes = []
    if OPTIONS["python_tracer_level"] and not xp.frames:
        notes.append("python_tracer_level=1 was passed and the XPlane holds no Python frames "
                     "(TensorFlow 2.21 was seen to log '<option> expects an i value' for every "
                     "ProfilerOptions field and keep its defaults)")
    viewer = debug.viewer_facts("XPlane protobuf (.xplane.pb)",
                                "TensorBoard with tensorboard-plugin-profile",
                                "twinbench (converted)", debug.chrome_check(chrome.load(trace)))
    return Capture(wall, xp.events, window, {"trace": trace, "native": native, "logdir": logdir},
                   HINT, notes, options=dict(OPTIONS), frames=xp.frames,
                   memory=memory_facts(xp, window), viewer=viewer)
