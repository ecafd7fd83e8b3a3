"""Which call path speaks for a framework (fairness rule 4).

A job measures every call path of its mode (``frameworks.base.CallPath``); records carry
``extra.call_path`` and ``extra.path_group`` (the quantity the paths compete on: single-stream
latency, offline throughput, training). Per job and group, the path with the best value of the
group's deciding metric becomes ``extra.path_role = "best"`` — the framework's number in every
table, comparison and verdict of that mode — and the others ``"alternative"``, shown beside it
in the call-path table. The choice is made once, here, on the merged records (all processes).
Records without a call path (exports, profiles, ceilings) are headline records as they are.
"""

from __future__ import annotations

from collections import defaultdict

from twinbench.analysis.merge import base_job_id
from twinbench.results.schema import Record

# group -> the metric that decides which path is best
DECIDES = {"latency": "latency_p50", "throughput": "throughput", "train": "throughput"}


def is_headline(r: Record) -> bool:
    """A record that speaks for its framework: no call path, or its group's best path."""
    return r.extra.get("path_role", "best") == "best"


def select_paths(records: list[Record]) -> list[Record]:
    """Mark each path-labelled record best or alternative (in place); returns ``records``."""
    groups: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for r in records:
        if r.extra.get("path_group") and r.status == "ok":
            groups[(base_job_id(r.job_id), r.extra["path_group"])].append(r)
    for (_, group), recs in groups.items():
        paths = list(dict.fromkeys(r.extra["call_path"] for r in recs))
        decider = [r for r in recs if r.metric == DECIDES.get(group) and r.value is not None]
        best = paths[0]
        if len(paths) > 1 and decider:
            pick = max if decider[0].better == "higher" else min
            best = str(pick(decider, key=lambda r: float(r.value or 0.0)).extra["call_path"])
        for r in recs:
            r.extra["path_role"] = "best" if r.extra["call_path"] == best else "alternative"
            r.extra["paths_compared"] = paths
    return records
