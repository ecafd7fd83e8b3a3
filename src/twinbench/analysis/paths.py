"""Which call path speaks for a framework (fairness rule 4).

A job measures every call path of its mode (``frameworks.base.CallPath``); records carry
``extra.call_path`` and ``extra.path_group`` (the quantity the paths compete on: single-stream
latency, offline throughput, training). Per job and group, the path with the best value of the
group's deciding metric becomes ``extra.path_role = "best"`` — the framework's number in every
table, comparison and verdict of that mode — and the others ``"alternative"``, shown beside it
in the call-path table. Paths whose per-process values do not differ significantly from the
best are tied (``extra.paths_tied``); among them the first declared path speaks, so process
noise cannot crown a knob that did not pay. The choice is made once, here, on the merged
records (all processes). Records without a call path (exports, profiles, ceilings) are
headline records as they are.
"""

from __future__ import annotations

from collections import defaultdict

from twinbench.analysis.merge import base_job_id
from twinbench.measure.stats import MIN_PROCESSES, compare_processes
from twinbench.results.schema import Record

# group -> the metric that decides which path is best
DECIDES = {"latency": "latency_p50", "throughput": "throughput", "train": "throughput"}


def is_headline(r: Record) -> bool:
    """A record that speaks for its framework: no call path, or its group's best path."""
    return bool(r.extra.get("path_role", "best") == "best")


def _tied(r: Record, top: Record) -> bool:
    """True for ``top`` itself, and for a path whose per-process values do not differ from
    ``top``'s at 5% (needs ``MIN_PROCESSES`` processes each; fewer: only ``top`` is best)."""
    if r is top:
        return True
    a, b = (_values(r), _values(top))
    if min(len(a), len(b)) < MIN_PROCESSES or min(a + b) <= 0:
        return False
    return compare_processes(a, b).significant is False


def _values(r: Record) -> list[float]:
    return [float(v) for v in r.extra.get("process_values") or [] if v is not None]


def select_paths(records: list[Record]) -> list[Record]:
    """Mark each path-labelled record best or alternative (in place); returns ``records``."""
    groups: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for r in records:
        if r.extra.get("path_group") and r.status == "ok":
            groups[(base_job_id(r), r.extra["path_group"])].append(r)
    for (_, group), recs in groups.items():
        paths = list(dict.fromkeys(r.extra["call_path"] for r in recs))
        decider = [r for r in recs if r.metric == DECIDES.get(group) and r.value is not None]
        best, tied = paths[0], [paths[0]]
        if len(paths) > 1 and decider:
            pick = max if decider[0].better == "higher" else min
            top = pick(decider, key=lambda r: float(r.value or 0.0))
            tied = [str(r.extra["call_path"]) for r in decider if _tied(r, top)]
            # among paths the processes cannot tell apart, the first declared (the documented
            # default) speaks: picking the luckiest of equals would bias the figure upwards
            best = next(p for p in paths if p in tied)
        for r in recs:
            r.extra["path_role"] = "best" if r.extra["call_path"] == best else "alternative"
            r.extra["paths_compared"] = paths
            if len(tied) > 1:
                r.extra["paths_tied"] = tied
    return records
