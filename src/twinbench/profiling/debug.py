"""What a debugging user gets from a profiler, measured on the files it wrote (claim C10).

Besides the op events (``attribution.py``: op coverage, and the scenario's overhead ratio), each
profiler module reads back from its own output, with the profiler's documented options for them
turned on (``Capture.options``):

- memory (``Capture.memory``): memory events in the trace (torch ``profile_memory=True``:
  ``[memory]`` instants with bytes; TensorFlow: ``MemoryAllocation``/``MemoryDeallocation`` in
  the XPlane) or a memory profile the profiler's API returns (JAX ``device_memory_profile()``,
  pprof). ``events`` 0 with the option on is a measured "nothing", not a missing record.
- source (``source_facts``): the share of op events that started inside a Python frame with a
  file and line on the same thread (torch ``with_stack=True``, the TF/JAX Python tracer at
  ``python_tracer_level=1``), and the share with a layer: an ``nn.Module:`` frame (torch) or a
  layer scope in the op's own name (TensorFlow node names, XLA ``op_name`` metadata).
- viewer (``viewer_facts``): the native file's format, what opens it, and whether the Chrome
  trace JSON (the profiler's own, or twinbench's conversion) parses as Perfetto's JSON importer
  reads it: a ``traceEvents`` list whose complete events carry numeric ``ts``/``dur``.
"""

from __future__ import annotations

import gzip
import re
from collections import defaultdict
from collections.abc import Hashable, Iterable, Iterator
from typing import Any

from twinbench.profiling.attribution import Event
from twinbench.profiling.categories import CONTAINER, classify, layer_path

# "torch/nn/modules/conv.py(549): _conv_forward" (torch); "$conv.py:549 _conv_forward" (XLA's
# and TensorFlow's Python tracer). Built-ins ("<built-in method ...>", "$<unknown> f") have none.
_SOURCE = re.compile(r"^\$?[^<$].*?\.py(?:\(\d+\): |:\d+ )")
_TORCH_MODULE = "nn.Module: "
PYTHON_FRAME = "$"  # TF/XLA Python tracer events are named "$<file>:<line> <function>"


def has_source(frame: str) -> bool:
    """Whether a Python frame's name gives a file and a line."""
    return bool(_SOURCE.match(frame))


def op_events(events: Iterable[Event], window: tuple[int, int], profiler: str) -> list[Event]:
    """Events inside ``window`` that name an op (anything but runtime containers and markers)."""
    lo, hi = window
    cats: dict[str, bool] = {}
    out = []
    for e in events:
        if e.end >= e.start and e.start < hi and e.end > lo:
            if e.name not in cats:
                cats[e.name] = classify(profiler, e.name) != CONTAINER
            if cats[e.name]:
                out.append(e)
    return out


def _stacks(ops: list[Event], frames: list[Event]) -> Iterator[tuple[Event, list[str]]]:
    """Each op with the Python frames open on its thread when it started, outermost first."""
    by_tid: dict[Hashable, list[tuple[int, int, int, str]]] = defaultdict(list)
    for f in frames:
        by_tid[f.tid].append((f.start, 0, -f.end, f.name))  # frames before ops at equal times
    for i, o in enumerate(ops):
        by_tid[o.tid].append((o.start, 1, i, o.name))
    for items in by_tid.values():
        stack: list[tuple[int, str]] = []  # (end, name)
        for start, kind, x, name in sorted(items):
            while stack and stack[-1][0] <= start:
                stack.pop()
            if kind == 0:
                stack.append((-x, name))
            else:
                yield ops[x], [n for _, n in stack]


def source_facts(ops: list[Event], frames: list[Event], profiler: str) -> dict[str, Any]:
    """Stack and layer attribution of op events (see the module docstring)."""
    with_stack = with_layer = 0
    example: tuple[int, str] | None = None
    for op, stack in _stacks(ops, frames):
        src = [f for f in stack if has_source(f)]
        layer = layer_path(profiler, op.name) is not None or any(
            f.startswith(_TORCH_MODULE) for f in stack)
        with_stack += bool(src)
        with_layer += layer
        if src and (example is None or op.end - op.start > example[0]):
            example = (op.end - op.start, f"{op.name} ← {src[-1].removeprefix(PYTHON_FRAME)}")
    n = len(ops)
    return {"op_events": n, "frames": len(frames),
            "frames_with_source": sum(has_source(f.name) for f in frames),
            "with_stack": with_stack, "share": with_stack / n if n else 0.0,
            "with_layer": with_layer, "layer_share": with_layer / n if n else 0.0,
            "example": example[1][:200] if example else None}


def chrome_check(data: dict[str, Any]) -> dict[str, int]:
    """Events of a loaded Chrome trace and how many complete ("X") events Perfetto can place.

    An empty object is padding (JAX ends its list with ``{}``), skipped as the viewers skip it;
    anything else without a phase, or a complete event without numeric times, is malformed.
    """
    evs = data.get("traceEvents")
    if not isinstance(evs, list):
        return {"events": 0, "complete_events": 0, "malformed": 1}
    complete = bad = 0
    for e in evs:
        if not isinstance(e, dict) or (e and "ph" not in e):
            bad += 1
        elif e.get("ph") == "X":
            ok = all(isinstance(e.get(k), int | float) for k in ("ts", "dur")) and e["dur"] >= 0
            complete += ok
            bad += not ok
    return {"events": len(evs), "complete_events": complete, "malformed": bad}


def viewer_facts(native_format: str, opens_in: str, perfetto_by: str,
                 check: dict[str, int]) -> dict[str, Any]:
    """``Capture.viewer``: whose Chrome trace Perfetto gets, and whether it parsed cleanly."""
    return {"native_format": native_format, "native_opens_in": opens_in,
            "perfetto_trace_by": perfetto_by, **check,
            "perfetto_ok": check["complete_events"] > 0 and not check["malformed"]}


# --- pprof (JAX's device_memory_profile), decoded without its protobuf classes ------------------

def _varint(b: bytes, i: int) -> tuple[int, int]:
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, i


def _fields(b: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of one protobuf message."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        num, wt = key >> 3, key & 7
        v: Any
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 2:
            n, i = _varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt in (1, 5):
            n = 8 if wt == 1 else 4
            v, i = b[i:i + n], i + n
        else:
            raise ValueError(f"pprof: unsupported wire type {wt}")
        yield num, wt, v


def _ints(wt: int, v: Any) -> list[int]:
    if wt == 0:
        vals = [v]
    else:
        vals, i = [], 0
        while i < len(v):
            x, i = _varint(v, i)
            vals.append(x)
    return [x - (1 << 64) if x >= 1 << 63 else x for x in vals]  # int64


def pprof_totals(blob: bytes) -> dict[str, int]:
    """Samples of a (gzipped) pprof profile and each sample type's total ("space/bytes": n)."""
    if blob[:2] == b"\x1f\x8b":
        blob = gzip.decompress(blob)
    types: list[dict[int, int]] = []
    strings: list[str] = []
    samples: list[bytes] = []
    for num, wt, v in _fields(blob):
        if num == 1 and wt == 2:
            types.append({n: x for n, _, x in _fields(v)})
        elif num == 2 and wt == 2:
            samples.append(v)
        elif num == 6 and wt == 2:
            strings.append(v.decode("utf-8", "replace"))
    totals = [0] * len(types)
    for s in samples:
        for num, wt, v in _fields(s):
            if num == 2:
                for k, x in enumerate(_ints(wt, v)[:len(types)]):
                    totals[k] += x

    def s(i: int) -> str:
        return strings[i] if 0 <= i < len(strings) else "?"

    out = {f"{s(t.get(1, 0))}/{s(t.get(2, 0))}": totals[k] for k, t in enumerate(types)}
    return {"samples": len(samples), **out}
