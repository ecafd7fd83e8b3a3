"""One machine peak: fractions of different frameworks against the same number, and the CPU's
theoretical peak read from its flags and clock with the assumptions said."""

from __future__ import annotations

import pytest

from twinbench.analysis.ceiling import attach_ceiling
from twinbench.measure import peak
from twinbench.results.schema import Record


def _fake_cpu(monkeypatch, vendor: str, family: int, flags: str, ghz: float) -> None:
    monkeypatch.setattr(peak, "_cpuinfo", lambda: {
        "vendor_id": vendor, "cpu family": str(family), "flags": flags,
        "model name": f"{vendor} test cpu"})
    monkeypatch.setattr(peak, "_max_ghz", lambda info: (ghz, "test clock"))
    monkeypatch.setattr(peak.os, "sched_getaffinity", lambda pid: {0, 1})


def test_theoretical_peak_from_lanes_fma_units_cores_and_clock(monkeypatch):
    _fake_cpu(monkeypatch, "AuthenticAMD", 25, "fma avx2 avx512f", 2.6)
    p = peak.theoretical_peak()
    assert (p.lanes, p.fma_units, p.cores) == (16, 1, 2)
    assert p.gflops == pytest.approx(2 * 2.6 * 2 * 16 * 1)
    assert "AMD family 25" in p.source and p.assumptions == []


def test_an_unknown_cpu_says_what_it_assumed(monkeypatch):
    _fake_cpu(monkeypatch, "GenuineIntel", 6, "fma avx2 hypervisor", 3.0)
    p = peak.theoretical_peak()
    assert (p.lanes, p.fma_units) == (8, 2)
    assert p.gflops == pytest.approx(2 * 3.0 * 2 * 8 * 2)
    assert any("2 assumed" in a for a in p.assumptions)
    assert any("virtual machine" in a for a in p.assumptions)


def _r(fw: str, scenario: str, metric: str, value: float, **extra: object) -> Record:
    return Record(study="s", run_id="r", job_id=f"t/m/{fw}/{scenario}", task="t", model="m",
                  framework=fw, backend="b", scenario=scenario, metric=metric, unit="u",
                  value=value, threads=2, extra=dict(extra))


def test_every_framework_is_a_fraction_of_one_machine_peak():
    recs = attach_ceiling([
        _r("pytorch", "ceiling", "gemm_flops", 100.0, theoretical_gflops=200.0),
        _r("keras-tf", "ceiling", "gemm_flops", 150.0, theoretical_gflops=200.0),
        _r("pytorch", "train", "throughput", 10.0, flops_per_sample=3e9, forward_flops=1e9),
        _r("keras-tf", "train", "throughput", 10.0, flops_per_sample=3e9, forward_flops=1e9)])
    thr = {r.framework: r for r in recs if r.metric == "throughput"}
    # same work and speed: the same fraction, of the best GEMM any library reached (150)
    assert thr["pytorch"].fraction_of_peak == thr["keras-tf"].fraction_of_peak == pytest.approx(
        30 / 150)
    assert thr["pytorch"].extra["machine_peak_from"] == "best measured fp32 GEMM (keras-tf)"
    assert thr["pytorch"].extra["own_library_gemm_gflops"] == 100.0
    assert thr["pytorch"].extra["fraction_of_theoretical"] == pytest.approx(30 / 200)


def test_the_report_says_which_peak_and_where_the_theoretical_one_came_from():
    from twinbench.analysis.ceiling import peak_note

    recs = [_r("pytorch", "ceiling", "gemm_flops", 100.0, theoretical_gflops=166.2,
               theoretical_source="2 cores x 2.6 GHz", theoretical_assumptions=["virtual machine"]),
            _r("keras-tf", "ceiling", "gemm_flops", 174.7, theoretical_gflops=166.2,
               theoretical_source="2 cores x 2.6 GHz", theoretical_assumptions=["virtual machine"])]
    note = peak_note(recs)
    assert note is not None
    assert "machine peak 174.7 GFLOP/s = best measured fp32 GEMM (keras-tf)" in note
    assert "Theoretical peak 166.2 GFLOP/s: 2 cores x 2.6 GHz (assumed: virtual machine)" in note
    assert peak_note([r for r in recs if r.scenario != "ceiling"]) is None
