"""TensorFlow profiler capture (Keras on TensorFlow): XPlane protobuf, parsed in-process.

``tf.profiler.experimental.start/stop`` writes a TensorBoard log folder holding
``plugins/profile/<run>/<host>.xplane.pb``. TensorBoard's profile plugin (which would turn it
into a trace viewer) is not a dependency, so the XPlane is read with the protobuf classes
TensorFlow bundles (``tensorflow.tsl.profiler.protobuf.xplane_pb2``) and re-written as a
Chrome trace for Perfetto beside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import tensorflow as tf

from twinbench.profiling import Capture, chrome
from twinbench.profiling.attribution import Event, find_window

NAME = "tensorflow"
HINT = ("Perfetto: https://ui.perfetto.dev → Open trace file → {trace}; native XPlane: "
        "tensorboard --logdir {logdir} (needs tensorboard-plugin-profile)")
_HOST_PLANE = "/host:CPU"


def _xplane_pb2():
    try:
        from tensorflow.tsl.profiler.protobuf import xplane_pb2
    except ImportError:  # older layouts ship it as a top-level tsl package
        from tsl.profiler.protobuf import xplane_pb2  # type: ignore[no-redef]
    return xplane_pb2


def read_xplane(path: Path) -> tuple[list[Event], dict[tuple[int, int], str]]:
    """Host-plane events of an ``.xplane.pb`` (op names as "scope/node:Type") and line names."""
    space = _xplane_pb2().XSpace()
    space.ParseFromString(path.read_bytes())
    events: list[Event] = []
    names: dict[tuple[int, int], str] = {}
    for plane in space.planes:
        if plane.name != _HOST_PLANE:
            continue
        meta = plane.event_metadata
        for i, line in enumerate(plane.lines):
            tid = (plane.id, i)
            names[tid] = line.display_name or line.name
            base_ps = line.timestamp_ns * 1000
            for e in line.events:
                start = (base_ps + e.offset_ps) // 1000
                events.append(Event(meta[e.metadata_id].name, tid, start,
                                    start + max(e.duration_ps // 1000, 0)))
    if not names:
        raise RuntimeError(f"profile: no {_HOST_PLANE} plane in {path}")
    return events, names


def read_events(path: Path) -> list[Event]:
    return read_xplane(path)[0]


def capture(run: Callable[[], object], sync: Callable[[], None], marker: str,
            outdir: Path) -> Capture:
    outdir.mkdir(parents=True, exist_ok=True)
    logdir = outdir / "tensorboard"
    opts = tf.profiler.experimental.ProfilerOptions(host_tracer_level=2, python_tracer_level=0,
                                                    device_tracer_level=1)
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
    events, names = read_xplane(native)
    trace = chrome.write(outdir / "trace.json.gz", events, names)
    return Capture(wall, events, find_window(events, marker),
                   {"trace": trace, "native": native, "logdir": logdir}, HINT)
