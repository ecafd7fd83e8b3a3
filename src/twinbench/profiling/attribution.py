"""Turn a profiler's events into wall-clock time per category, the same way for every profiler.

Per thread, events nest (a dispatch wraps an op wraps its kernels); the outermost event with a
category claims its whole interval, containers pass their time to their children, and an unknown
op claims only its self time (children keep theirs). A scope range (torch's ``Optimizer.step``)
is a container that lends its category to the update ops inside it. Across threads, claims
overlap (TensorFlow's inter-op pool, XLA's worker threads): each instant is split equally between
the claims active then, so the categories add up to the wall-clock time covered by some op and
never exceed the profiled window. ``overhead`` is the measured wall time minus that attributed time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

from twinbench.profiling.categories import (
    CATEGORIES,
    CONTAINER,
    SCOPE,
    UNKNOWN,
    classify,
    in_scope,
    op_label,
    refine,
)


@dataclass(frozen=True)
class Event:
    """One complete profiler event on one thread; times in integer nanoseconds."""

    name: str  # the key the category tables match (built by the profiler module)
    tid: Hashable
    start: int
    end: int


@dataclass
class Breakdown:
    """Wall-clock nanoseconds per category inside one profiled window."""

    window_ns: int
    by_category: dict[str, float]  # CATEGORIES (without overhead) + UNKNOWN
    unknown_ops: dict[str, float]  # op label -> attributed ns (self time)
    thread_ns: dict[str, float] = field(default_factory=dict)  # summed over threads, no split

    @property
    def attributed_ns(self) -> float:
        return sum(self.by_category.values())


@dataclass
class _Node:
    ev: Event
    end: int
    children: list[_Node] = field(default_factory=list)


def _forest(events: list[Event]) -> list[_Node]:
    """Nest one thread's events by time; a child sticking out of its parent is clipped."""
    roots: list[_Node] = []
    stack: list[_Node] = []
    for ev in sorted(events, key=lambda e: (e.start, -e.end)):
        while stack and ev.start >= stack[-1].end:
            stack.pop()
        node = _Node(ev, min(ev.end, stack[-1].end) if stack else ev.end)
        if node.end <= ev.start:
            continue
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)
    return roots


def _claims(roots: list[_Node], cats: dict[str, str]) -> list[tuple[int, int, str, str]]:
    """(start, end, category, key) intervals one thread's ops own, outermost first."""
    out: list[tuple[int, int, str, str]] = []
    todo: list[tuple[_Node, str | None]] = [(r, None) for r in roots]  # (node, scope around it)
    while todo:
        node, scope = todo.pop()
        cat = cats[node.ev.name]
        if cat.startswith(SCOPE) or cat == CONTAINER:
            todo.extend((ch, cat if cat.startswith(SCOPE) else scope) for ch in node.children)
            continue
        if scope is not None:
            cat = in_scope(scope, node.ev.name, cat)
        if cat != UNKNOWN:
            out.append((node.ev.start, node.end, cat, node.ev.name))
            continue
        t = node.ev.start  # unknown: only the gaps between its children are its own
        for ch in sorted(node.children, key=lambda n: n.ev.start):
            if ch.ev.start > t:
                out.append((t, ch.ev.start, UNKNOWN, node.ev.name))
            t = max(t, ch.end)
        if node.end > t:
            out.append((t, node.end, UNKNOWN, node.ev.name))
        todo.extend((ch, scope) for ch in node.children)
    return out


def attribute(events: Iterable[Event], window: tuple[int, int], profiler: str) -> Breakdown:
    """Attribute the wall-clock time of ``window`` ([start, end) ns) to categories."""
    lo, hi = window
    by_tid: dict[Hashable, list[Event]] = defaultdict(list)
    for ev in events:
        if ev.end > lo and ev.start < hi and ev.end > ev.start:
            by_tid[ev.tid].append(ev)
    keys = {ev.name for evs in by_tid.values() for ev in evs}
    cats = refine(profiler, {k: classify(profiler, k) for k in keys})
    claims = []
    for evs in by_tid.values():
        for s, e, cat, key in _claims(_forest(evs), cats):
            s, e = max(s, lo), min(e, hi)
            if e > s:
                claims.append((s, e, cat, key))
    by_cat: dict[str, float] = {c: 0.0 for c in (*CATEGORIES, UNKNOWN) if c != "overhead"}
    unknown: dict[str, float] = defaultdict(float)
    thread_ns: dict[str, float] = defaultdict(float)
    # Sweep: between two consecutive boundaries the active claims share the time equally.
    bounds = sorted([(s, 1, i) for i, (s, _, _, _) in enumerate(claims)]
                    + [(e, -1, i) for i, (_, e, _, _) in enumerate(claims)],
                    key=lambda b: (b[0], b[1]))
    active: set[int] = set()
    prev = lo
    for t, kind, i in bounds:
        if active and t > prev:
            share = (t - prev) / len(active)
            for j in active:
                cat, key = claims[j][2], claims[j][3]
                by_cat[cat] += share
                if cat == UNKNOWN:
                    unknown[op_label(key)] += share
        prev = t
        (active.add if kind == 1 else active.discard)(i)
    for s, e, cat, _ in claims:
        thread_ns[cat] += e - s
    return Breakdown(hi - lo, by_cat, dict(unknown), dict(thread_ns))


def find_window(events: Iterable[Event], marker: str) -> tuple[int, int]:
    """The [start, end) of the marker event the capture wrapped around the profiled steps."""
    found = [(ev.start, ev.end) for ev in events if ev.name == marker]
    if not found:
        raise RuntimeError(f"profile: marker {marker!r} not found in the trace")
    return min(s for s, _ in found), max(e for _, e in found)
