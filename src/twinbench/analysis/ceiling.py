"""Throughput against the hardware ceiling, and the FLOP-count check across twins.

Each throughput record that carries ``extra.flops_per_sample`` gets ``achieved_flops`` and
``fraction_of_peak`` against ONE machine peak: the best fp32 GEMM any framework reached in the
study's ceiling jobs, so the fractions of different frameworks are comparable (each library's own
GEMM stays in the ceiling table as a comparison of its own). ``extra.fraction_of_theoretical``
relates it to the CPU's theoretical peak where one was read (``measure.peak``). Twins whose
forward FLOP counts differ are flagged: they would not be doing the same work.
"""

from __future__ import annotations

from collections import defaultdict

from twinbench.results.schema import Record, Warn

GFLOP = 1e9


def _gemms(records: list[Record]) -> list[Record]:
    """The measured fp32 GEMM records of the study's ceiling jobs."""
    return [r for r in records if r.scenario == "ceiling" and r.metric == "gemm_flops"
            and r.value and r.status == "ok"]


def attach_ceiling(records: list[Record]) -> list[Record]:
    gemms = _gemms(records)
    peaks = {r.framework: r.value for r in gemms}
    machine_peak = max((v for v in peaks.values() if v is not None), default=None)
    best = max(gemms, key=lambda r: r.value or 0.0, default=None)
    theory = next((r.extra.get("theoretical_gflops") for r in gemms
                   if r.extra.get("theoretical_gflops")), None)
    fwd: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)
    for r in records:
        flops = r.extra.get("flops_per_sample")
        if r.status != "ok" or not flops or r.value is None:
            continue
        r.flops_per_sample = float(flops)
        r.achieved_flops = r.value * r.flops_per_sample
        if machine_peak and best is not None:
            r.fraction_of_peak = r.achieved_flops / (machine_peak * GFLOP)
            r.extra["machine_peak_gflops"] = machine_peak
            r.extra["machine_peak_from"] = f"best measured fp32 GEMM ({best.framework})"
            r.extra["own_library_gemm_gflops"] = peaks.get(r.framework)
        if theory:
            r.extra["fraction_of_theoretical"] = r.achieved_flops / (theory * GFLOP)
        fwd[(r.task, r.model, r.scenario)][r.framework] = float(r.extra.get("forward_flops", 0))
    for r in records:
        counts = fwd.get((r.task, r.model, r.scenario), {})
        if r.flops_per_sample and len(set(counts.values())) > 1:
            r.warnings.append(Warn("flops", f"FLOP counts differ across twins: {counts}"))
    return records


def peak_note(records: list[Record]) -> str | None:
    """One line for the ceiling table: the machine peak every "% of peak" is against, and the
    CPU's theoretical peak with where it came from (None without a measured GEMM)."""
    gemms = _gemms(records)
    if not gemms:
        return None
    best = max(gemms, key=lambda r: r.value or 0.0)
    note = (f"machine peak {best.value:.1f} GFLOP/s = best measured fp32 GEMM ({best.framework});"
            " every '% of peak' is against it")
    theory = next((r for r in gemms if r.extra.get("theoretical_gflops")), None)
    if theory is not None:
        e = theory.extra
        note += (f". Theoretical peak {e['theoretical_gflops']:.1f} GFLOP/s: "
                 f"{e.get('theoretical_source', '')}")
        if e.get("theoretical_assumptions"):
            note += f" (assumed: {'; '.join(e['theoretical_assumptions'])})"
    return note
