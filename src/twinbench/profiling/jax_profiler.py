"""JAX profiler capture (Keras on JAX): XPlane read with ``jax.profiler.ProfileData``.

``jax.profiler.start_trace(create_perfetto_trace=True)`` writes the XPlane and a Perfetto JSON.
On the CPU each XLA thunk is an event named after its HLO instruction (``convolution.15``,
``multiply_reduce_fusion.19``), which alone says little about fusions. XLA's own HLO dump
(``--xla_dump_to``, see ``xla_dump.py``) gives each instruction its ``op_name`` metadata, e.g.
``jit(train_step)/jvp(layer1-0-bn1)/jit(_var)/reduce_sum``: the Keras layer and the primitive.
Without the dump, fused ops fall back to name-only rules and a note says so (per capture:
eager inference runs modules the dump does not cover).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import jax

from twinbench.profiling import Capture
from twinbench.profiling.attribution import Event, find_window
from twinbench.profiling.xla_dump import metadata_note, read_op_names

NAME = "jax"
HINT = ("Perfetto: https://ui.perfetto.dev → Open trace file → {trace}; native XPlane: "
        "tensorboard --logdir {logdir} (needs tensorboard-plugin-profile)")
_HOST_PLANE = "/host:CPU"
_op_names: dict[tuple[str, str], str] = {}  # (program id, instruction) -> op_name


def read_xplane(path: Path) -> tuple[list[Event], dict[int, str]]:
    """Host-plane events of an ``.xplane.pb``; XLA thunks keyed "hlo:<module>:<op> [op_name]"."""
    data = jax.profiler.ProfileData.from_file(str(path))
    plane = data.find_plane_with_name(_HOST_PLANE)
    if plane is None:
        raise RuntimeError(f"profile: no {_HOST_PLANE} plane in {path}")
    events: list[Event] = []
    names: dict[int, str] = {}
    for tid, line in enumerate(plane.lines):
        names[tid] = line.name
        for e in line.events:
            stats = dict(e.stats)
            name = e.name
            if "hlo_op" in stats:
                op = str(stats["hlo_op"])
                name = f"hlo:{stats.get('hlo_module', '?')}:{op}"
                op_name = _op_names.get((str(stats.get("program_id", "")), op))
                if op_name:
                    name += f" {op_name}"
            start = int(e.start_ns)
            events.append(Event(name, tid, start, start + int(e.duration_ns)))
    return events, names


def read_events(path: Path) -> list[Event]:
    return read_xplane(path)[0]


def capture(run: Callable[[], object], sync: Callable[[], None], marker: str,
            outdir: Path) -> Capture:
    outdir.mkdir(parents=True, exist_ok=True)
    read_op_names(_op_names)  # the steps compiled during warm-up
    logdir = outdir / "tensorboard"
    opts = jax.profiler.ProfileOptions()
    opts.python_tracer_level = 0  # Python frames cost the most; torch/TF capture none either
    opts.host_tracer_level = 2
    jax.profiler.start_trace(str(logdir), create_perfetto_trace=True, profiler_options=opts)
    try:
        t0 = time.perf_counter()
        with jax.profiler.TraceAnnotation(marker):
            run()
            sync()
        wall = time.perf_counter() - t0
    finally:
        jax.profiler.stop_trace()
    runs = sorted(logdir.glob("plugins/profile/*"), key=lambda p: p.stat().st_mtime)
    native = next(iter(runs[-1].glob("*.xplane.pb")), None) if runs else None
    trace = next(iter(runs[-1].glob("perfetto_trace.json.gz")), None) if runs else None
    if native is None or trace is None:
        raise RuntimeError(f"profile: the JAX profiler wrote no xplane/perfetto trace in {logdir}")
    events, _ = read_xplane(native)
    notes = metadata_note({e.name for e in events})  # this capture's thunks, not the map's
    return Capture(wall, events, find_window(events, marker),
                   {"trace": trace, "native": native, "logdir": logdir}, HINT, notes)
