"""Throughput against the hardware ceiling, and the FLOP-count check across twins.

Each throughput record that carries ``extra.flops_per_sample`` gets ``achieved_flops`` and
``fraction_of_peak`` against the GEMM peak its own framework reached in the study's ceiling job
(the machine's peak through that library). Twins whose forward FLOP counts differ are flagged:
they would not be doing the same work.
"""

from __future__ import annotations

from collections import defaultdict

from twinbench.results.schema import Record

GFLOP = 1e9


def attach_ceiling(records: list[Record]) -> list[Record]:
    peaks = {r.framework: r.value for r in records
             if r.scenario == "ceiling" and r.metric == "gemm_flops" and r.value}
    machine_peak = max(peaks.values(), default=None)
    fwd: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)
    for r in records:
        flops = r.extra.get("flops_per_sample")
        if r.status != "ok" or not flops or r.value is None:
            continue
        r.flops_per_sample = float(flops)
        r.achieved_flops = r.value * r.flops_per_sample
        peak = peaks.get(r.framework)
        if peak:
            r.fraction_of_peak = r.achieved_flops / (peak * GFLOP)
            r.extra["peak_gflops"] = peak
            r.extra["machine_peak_gflops"] = machine_peak
        fwd[(r.task, r.model, r.scenario)][r.framework] = float(r.extra.get("forward_flops", 0))
    for r in records:
        counts = fwd.get((r.task, r.model, r.scenario), {})
        if r.flops_per_sample and len(set(counts.values())) > 1:
            r.warnings.append(f"FLOP counts differ across twins: {counts}")
    return records
