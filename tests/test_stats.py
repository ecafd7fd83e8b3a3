"""Statistics: intervals cover what they claim, tests find real shifts and only those."""

from __future__ import annotations

import numpy as np
import pytest

from twinbench.analysis.comparisons import compare_records, pairwise
from twinbench.analysis.merge import merge_processes
from twinbench.measure.stats import (
    FEW_VALUES,
    LOADED,
    SINGLE,
    WITHIN,
    compare,
    compare_processes,
    hierarchical_ci,
    holm,
    mad,
    summarize,
)
from twinbench.results.schema import Record


def test_median_interval_covers_the_true_median_about_95_percent():
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(100):
        x = rng.normal(10.0, 1.0, 40)
        lo, hi = summarize(x).ci95
        hits += lo <= 10.0 <= hi
    assert 85 <= hits <= 100


def test_interval_width_shrinks_with_more_samples():
    rng = np.random.default_rng(2)
    small = summarize(rng.exponential(1.0, 20)).ci95
    large = summarize(rng.exponential(1.0, 2000)).ci95
    assert (large[1] - large[0]) < (small[1] - small[0]) / 4


def test_mad_of_normal_estimates_sigma():
    assert mad(np.random.default_rng(3).normal(0, 2.0, 20000)) == pytest.approx(2.0, rel=0.05)


def test_numpy_mad_equals_scipys():
    from scipy.stats import median_abs_deviation

    x = np.random.default_rng(7).exponential(3.0, 101)
    assert mad(x) == pytest.approx(median_abs_deviation(x, scale="normal"), rel=1e-12)


def test_worker_measurements_leave_the_interval_to_the_orchestrator():
    from twinbench.runner.local import _record_fields
    from twinbench.scenarios.base import from_samples, percentile_of

    x = list(np.random.default_rng(8).normal(50.0, 5.0, 200))
    med, p99 = from_samples("latency_p50", "ms", x, "lower"), percentile_of("latency_p99", x, 99)
    assert med.ci95 is None and (med.ci_of, p99.ci_of) == ("median", "p99")
    rec_med, rec_p99 = _record_fields(med.to_dict()), _record_fields(p99.to_dict())
    assert "ci_of" not in rec_med and "scenario" not in rec_med
    assert rec_med["ci95"][0] <= med.value <= rec_med["ci95"][1]
    assert rec_p99["ci95"][0] <= p99.value <= rec_p99["ci95"][1]
    assert rec_p99["ci95"][0] > rec_med["ci95"][1]  # the p99's interval, not the median's


def test_one_process_is_compared_within_process_only_and_never_called_significant():
    rng = np.random.default_rng(5)
    a, b = rng.normal(120, 3, 15), rng.normal(100, 3, 15)
    c = compare(a, b)  # a clear shift, but samples of one process are not replicates
    assert c.basis == WITHIN and c.significant is None and c.p_value is None
    assert c.ratio == pytest.approx(1.2, rel=0.03) and c.ratio_ci95[0] < 1.2 < c.ratio_ci95[1]
    assert compare([1.0, 2.0], [3.0, 4.0]).ratio_ci95 is None  # too few for an interval


def test_replicated_comparison_finds_a_shift_across_processes_and_says_so_in_its_interval():
    c = compare_processes([120.0, 118.0, 123.0], [100.0, 101.0, 99.0])
    assert c.significant is True and c.p_value < 0.01 and c.ratio == pytest.approx(1.2, rel=0.02)
    assert 1.0 < c.ratio_ci95[0] < 1.2 < c.ratio_ci95[1]
    same = compare_processes([100.0, 104.0, 97.0], [101.0, 98.0, 103.0])
    assert same.significant is False and same.ratio_ci95[0] < 1.0 < same.ratio_ci95[1]


def test_significant_exactly_when_the_interval_excludes_one():
    """No more "1.98x worse [1.91, 2.00] n.s.": the verdict and the interval are one statement."""
    rng = np.random.default_rng(11)
    for _ in range(200):
        a = rng.lognormal(0, 0.05, rng.integers(3, 6)) * rng.uniform(0.9, 1.1)
        b = rng.lognormal(0, 0.05, rng.integers(3, 6))
        c = compare_processes(a, b)
        lo, hi = c.ratio_ci95
        assert c.significant == (not lo <= 1.0 <= hi)


def test_values_at_or_below_zero_are_tested_without_a_ratio_interval():
    c = compare_processes([-0.01, 0.02, 0.0], [1.0, 1.1, 0.9])  # an overhead near zero
    assert c.ratio_ci95 is None and c.significant is True
    # a ratio of quantities straddling 0 means nothing: the difference speaks, never "-7.75×"
    assert c.difference == pytest.approx(0.0033 - 1.0, abs=1e-3)
    lo, hi = c.difference_ci95
    assert lo < c.difference < hi < 0
    from twinbench.analysis.text import fmt_worse

    text = fmt_worse(c, "s")
    assert "×" not in text and text.startswith("-0.997 s vs best [")


def test_fewer_than_three_processes_cannot_be_tested():
    with pytest.raises(ValueError, match="3 processes per side"):
        compare_processes([1.0, 2.0], [1.0, 2.0, 3.0])


def test_holm_adjusts_each_p_value_for_the_family():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.2, None, 0.01]) == [pytest.approx(0.2), None, pytest.approx(0.02)]


def test_warnings_for_unstable_and_extreme_and_short_samples():
    s = summarize([1.0, 1.02, 0.98, 1.01, 0.99, 1.03, 9.0])
    assert any(w.kind == "outlier" and w.text.startswith("extreme sample") for w in s.warnings)
    assert any(w.kind == "unstable" and w.text.startswith("unstable") for w in s.warnings)
    s = summarize([1.0, 1.0, 1.0], seconds=[1e-9, 1e-9, 1e-9])
    assert any(w.kind == "clock" and w.text.startswith("samples too short for the clock")
               for w in s.warnings)
    assert summarize([1.0, 1.01, 0.99, 1.0]).warnings == []


def test_hierarchical_interval_is_wider_when_processes_disagree():
    rng = np.random.default_rng(6)
    same = [rng.normal(100, 1, 30) for _ in range(3)]
    apart = [rng.normal(m, 1, 30) for m in (95, 100, 105)]
    w_same = np.subtract(*hierarchical_ci(same)[::-1])
    w_apart = np.subtract(*hierarchical_ci(apart)[::-1])
    assert w_apart > 3 * w_same


def _rec(fw, samples, job="t/m/{fw}/train", metric="throughput", better="higher"):
    return Record(study="s", run_id="r", job_id=job.format(fw=fw), task="t", model="m",
                  framework=fw, backend="x", scenario="train", metric=metric,
                  unit="samples/s", value=float(np.median(samples)), samples=list(samples),
                  better=better, threads=1,
                  process=int(job.rpartition("#")[2]) if "#" in job else None)


def _replicated(fw, per_process, **kw):
    r = _rec(fw, [v for p in per_process for v in p], **kw)
    return r.model_copy(update={"extra": {"processes": len(per_process),
                                          "process_values": [float(np.median(p))
                                                             for p in per_process]}})


def test_pairwise_comparisons_name_the_winner_or_say_no_difference():
    rng = np.random.default_rng(7)
    fast = [rng.normal(200, 2, 8) for _ in range(3)]
    recs = [_replicated("pytorch", fast),
            _replicated("keras-tf", [rng.normal(100, 2, 8) for _ in range(3)]),
            _replicated("keras-jax", [rng.normal(200, 2, 8) for _ in range(3)])]
    by_pair = {(p.a, p.b): p for p in pairwise(recs)}
    assert by_pair[("keras-tf", "pytorch")].verdict == "pytorch better"
    assert by_pair[("keras-jax", "keras-tf")].verdict == "keras-jax better"
    assert by_pair[("keras-jax", "pytorch")].verdict == "no significant difference"
    p = by_pair[("keras-tf", "pytorch")]
    assert p.ratio == pytest.approx(0.5, rel=0.05) and p.p_value < 0.05
    assert p.basis == "processes" and p.processes == (3, 3)


def test_one_process_each_is_labelled_within_process_and_single_values_untested():
    rng = np.random.default_rng(8)
    a, b = _rec("pytorch", rng.normal(200, 2, 8)), _rec("keras-tf", rng.normal(100, 2, 8))
    (p,) = pairwise([a, b])
    assert p.basis == WITHIN and p.significant is None and "within-process only" in p.verdict
    one = a.model_copy(update={"samples": []})
    assert compare_records(one, b.model_copy(update={"samples": []})).basis == SINGLE


def test_replicated_records_with_a_process_short_of_a_value_are_not_tested():
    """E.g. time-to-target reached with 2 of 3 seeds: the two values are not within-process
    samples of one run; the comparison says what is missing and is never significant."""
    rng = np.random.default_rng(10)
    a = _replicated("pytorch", [rng.normal(200, 2, 8) for _ in range(3)])
    b = _replicated("keras-tf", [rng.normal(100, 2, 8) for _ in range(3)])
    b = b.model_copy(update={"extra": {**b.extra, "process_values": [
        b.extra["process_values"][0], None, b.extra["process_values"][2]]}})
    c = compare_records(a, b)
    assert c.basis == FEW_VALUES and c.significant is None and c.p_value is None
    (p,) = pairwise([a, b])
    assert p.verdict == "too few processes gave a value: not tested"


def test_other_load_during_the_timed_windows_keeps_a_comparison_out_of_verdicts():
    rng = np.random.default_rng(9)
    a = _replicated("pytorch", [rng.normal(200, 2, 8) for _ in range(3)])
    b = _replicated("keras-tf", [rng.normal(100, 2, 8) for _ in range(3)])
    assert compare_records(a, b).significant is True
    loaded = b.model_copy(update={"env": {"other_cpu_load": 0.0, "other_cpu_load_timed": 0.3}})
    c = compare_records(a, loaded)
    assert c.basis == LOADED and c.significant is None and c.ratio == pytest.approx(2, rel=0.05)
    (p,) = pairwise([a, loaded])
    assert p.verdict.startswith("excluded from verdicts")


def test_merge_pools_processes_into_one_record():
    recs = [_rec("pytorch", [10.0, 11.0, 12.0], job="t/m/pytorch/train#1"),
            _rec("pytorch", [20.0, 21.0, 22.0], job="t/m/pytorch/train#2")]
    (m,) = merge_processes(recs)
    assert m.job_id == "t/m/pytorch/train"
    assert m.samples == [10.0, 11.0, 12.0, 20.0, 21.0, 22.0]
    assert m.extra["processes"] == 2 and m.extra["process_values"] == [11.0, 21.0]
    assert m.ci95[0] <= m.value <= m.ci95[1]


def test_nudged_weights_move_by_one_ulp():
    from twinbench.scenarios.parity import nudged

    w = {"c.weight": np.array([1.0, 0.0, -2.0], np.float32),
         "bn.running_var": np.ones(2, np.float32), "n": np.array([3])}
    moved = nudged(w)
    assert moved["c.weight"][0] > 1.0 and moved["c.weight"][1] == 0.0 and moved["c.weight"][2] > -2
    assert np.array_equal(moved["bn.running_var"], w["bn.running_var"])
    assert np.all(np.abs(moved["c.weight"] - w["c.weight"]) < 1e-6)
    big = {"c.weight": np.linspace(0.5, 1.5, 1000, dtype=np.float32)}
    both = nudged(big, np.random.default_rng(0))["c.weight"] - big["c.weight"]
    assert 400 < (both > 0).sum() < 600 and (both != 0).all()  # each element, either way
    assert np.all(np.abs(both) <= np.spacing(big["c.weight"]))  # by one ulp at most


def test_tail_latency_records_compare_and_pool_their_percentile_not_the_median():
    rng = np.random.default_rng(9)
    # same medians, very different tails: a's p99 is about 4x b's
    a = np.concatenate([rng.normal(10, 0.1, 90), rng.normal(40, 0.1, 10)])
    b = np.concatenate([rng.normal(10, 0.1, 90), rng.normal(10.5, 0.1, 10)])

    def p99(fw, x, job="t/m/{fw}/infer"):
        r = _rec(fw, x, job=job, metric="latency_p99", better="lower")
        return r.model_copy(update={"value": float(np.percentile(x, 99)),
                                    "extra": {"statistic": "p99"}})

    (pair,) = pairwise([p99("pytorch", a), p99("keras-tf", b)])
    assert pair.ratio == pytest.approx(np.percentile(b, 99) / np.percentile(a, 99))
    assert pair.ratio < 0.4 and pair.ratio_ci95[1] < 1.0
    assert compare(a, b).ratio == pytest.approx(1.0, abs=0.02)  # the medians agree
    (merged,) = merge_processes([p99("pytorch", a[:50], job="t/m/{fw}/infer#1"),
                                 p99("pytorch", a[50:], job="t/m/{fw}/infer#2")])
    assert merged.value == pytest.approx(np.percentile(a, 99))
    assert merged.ci95[0] <= merged.value <= merged.ci95[1]
