"""Merge the records of one measurement repeated in several worker processes.

Each process is a job of its own (``.../train#2``) and keeps its raw record in the store; the
public results show one record per quantity whose samples pool every process and whose interval
comes from a hierarchical bootstrap (processes, then samples), so process-to-process noise shows.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from twinbench.measure.stats import bootstrap_ci, hierarchical_ci, stability_warnings, statistic
from twinbench.results.schema import Record, Warn


def base_job_id(r: Record) -> str:
    """The id of the measurement a process's job belongs to (its job id without ``#n``)."""
    return r.job_id.removesuffix(f"#{r.process}") if r.process is not None else r.job_id


def merge_processes(records: list[Record]) -> list[Record]:
    groups: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    out: list[Record] = []
    for r in records:
        if r.process is not None and r.status == "ok":  # one call path's records pool together
            groups[(base_job_id(r), r.name, r.extra.get("call_path", ""))].append(r)
        else:
            out.append(r)
    for (job_id, _metric, _path), recs in groups.items():
        out.append(_merge(job_id, recs))
    return out


def _merge(job_id: str, recs: list[Record]) -> Record:
    first = recs[0]
    per_process = [r.samples if r.samples else [r.value] for r in recs if r.value is not None]
    if not per_process:  # e.g. accuracy's time_to_target, "not reached" in every process
        return first.model_copy(update={"job_id": job_id, "process": None, "extra": {
            **first.extra, "processes": len(recs), "process_values": [None] * len(recs)}})
    pooled = np.concatenate([np.asarray(g, dtype=np.float64) for g in per_process])
    of = first.extra.get("statistic", "median")  # a p99 record pools into a p99
    if all(r.samples for r in recs):
        ci = hierarchical_ci(per_process, of=of)
        value = float(statistic(of)(pooled))
    else:  # single values: the processes are the samples
        ci = bootstrap_ci(pooled)
        value = float(np.median(pooled))
    samples = pooled.tolist()
    # a process's sample count says nothing of the pooled one's: recounted below
    warnings = sorted({w for r in recs for w in r.warnings if w.kind != "few-samples"},
                      key=lambda w: w.text)
    if len(per_process) < len(recs):
        warnings.append(Warn("no-value", f"no value in {len(recs) - len(per_process)} of "
                                         f"{len(recs)} processes"))
    if len(pooled) >= 2:
        warnings += [w for w in stability_warnings(pooled) if w.kind == "few-samples"]
    extra = dict(first.extra)
    extra["processes"] = len(recs)
    extra["process_values"] = [r.value for r in recs]
    if any("seed" in r.extra for r in recs):  # accuracy: each process trained from its own seed
        extra["seeds"] = [r.extra.get("seed") for r in recs]
    env = dict(first.env)
    for key in ("other_cpu_load", "other_cpu_load_timed", "cpu_steal", "cpu_steal_timed"):
        loads = [r.env[key] for r in recs if r.env.get(key) is not None]
        if loads:  # the worst process speaks for the merged figure
            env[key] = max(loads)
    return first.model_copy(update={
        "job_id": job_id, "process": None, "value": value, "samples": samples,
        "warmups": [w for r in recs for w in r.warmups], "ci95": ci,
        "warnings": warnings, "extra": extra, "env": env,
    })
