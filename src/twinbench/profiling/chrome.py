"""Chrome trace-event JSON (what Perfetto and chrome://tracing open), read and written.

Only complete events (``"ph": "X"``) matter for attribution; timestamps are microseconds.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from twinbench.profiling.attribution import Event


def load(path: Path) -> dict[str, Any]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        data = json.load(f)
    return data if isinstance(data, dict) else {"traceEvents": data}


def events(path: Path, key: Callable[[dict[str, Any]], str | None]) -> list[Event]:
    """Complete events of a trace; ``key`` names each one (None drops it)."""
    return events_of(load(path), key)


def events_of(data: dict[str, Any], key: Callable[[dict[str, Any]], str | None]) -> list[Event]:
    """``events`` of an already loaded trace."""
    out = []
    for e in data.get("traceEvents", []):
        if e.get("ph") != "X" or "dur" not in e:
            continue
        name = key(e)
        if name is None:
            continue
        start = round(float(e["ts"]) * 1000)
        out.append(Event(name, (e.get("pid"), e.get("tid")), start,
                         start + round(float(e["dur"]) * 1000)))
    return out


def write(path: Path, evs: Iterable[Event], thread_names: dict[Any, str]) -> Path:
    """Write events as a gzipped Chrome trace, times relative to the first event."""
    evs = list(evs)
    t0 = min((e.start for e in evs), default=0)
    tids = {t: i for i, t in enumerate(dict.fromkeys(e.tid for e in evs))}
    trace = [{"ph": "M", "name": "thread_name", "pid": 1, "tid": i,
              "args": {"name": thread_names.get(t, str(t))}} for t, i in tids.items()]
    trace += [{"ph": "X", "name": e.name, "pid": 1, "tid": tids[e.tid],
               "ts": (e.start - t0) / 1000, "dur": (e.end - e.start) / 1000} for e in evs]
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        json.dump({"displayTimeUnit": "ms", "traceEvents": trace}, f)
    return path
