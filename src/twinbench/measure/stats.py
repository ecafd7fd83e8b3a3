"""Statistics of raw samples: medians with bootstrap 95% intervals, stability warnings, and
significance-tested comparisons between frameworks.

A number without its uncertainty is not shown as a verdict (fairness rule 5), so every timed
quantity goes through :func:`summarize`, and every pair of frameworks through a comparison:

* **replicated** (:func:`compare_processes`): each side measured in at least ``MIN_PROCESSES``
  worker processes. The unit of replication is the process — allocator state, memory layout and
  caches differ between processes, not between samples of one — so the test runs on the
  per-process values (medians, or the percentile a tail record is): Welch's t on their logs. The
  ratio is the ratio of geometric means with the matching t interval, so "significant" and
  "the interval excludes 1" are one statement.
* **within-process only** (:func:`compare`): one process per side. Samples of one process are
  not independent replicates of the framework, so the ratio and its bootstrap interval are
  shown, labelled, and never called significant.

``scipy.stats`` is imported where an interval or a test is computed, not at module import:
workers import this module for medians and warnings, and leave the bootstrap to the
orchestrator (:func:`interval`), so no worker pays scipy.stats' import (about a second here).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from twinbench.results.schema import Warn

CV_WARN = 0.10
OUTLIER_MADS = 5.0  # a min/max this many scaled MADs from the median is "extreme"
ALPHA = 0.05
N_RESAMPLES = 2000
MIN_PROCESSES = 3  # per side, for a comparison to be tested at all
# Other processes' share of the CPU during a measurement's timed windows above which its
# figures are flagged and its comparisons kept out of verdicts.
OTHER_LOAD_LIMIT = 0.10
REPLICATED, WITHIN, SINGLE = "processes", "within-process only", "single values"
LOADED = "excluded: other load"
# replicated, but some processes gave no value (e.g. a target not reached with every seed)
FEW_VALUES = "too few processes with a value"
# A sample shorter than this many clock ticks is dominated by the clock's own resolution.
CLOCK_TICKS_MIN = 1000


@dataclass(frozen=True)
class Summary:
    median: float
    ci95: tuple[float, float] | None
    n: int
    mad: float = 0.0
    warnings: list[Warn] = field(default_factory=list)


@dataclass(frozen=True)
class Comparison:
    """a versus b: ``ratio`` of the statistic, with its own interval and a test."""

    ratio: float
    ratio_ci95: tuple[float, float] | None
    p_value: float | None
    significant: bool | None  # None: not tested (one process per side, or single values)
    basis: str = REPLICATED  # REPLICATED | WITHIN | SINGLE: what the interval and test rest on
    p_adjusted: float | None = None  # Holm-adjusted, where several tests feed one verdict
    # values at or below 0 (an overhead that came out negative by noise) have no meaningful
    # ratio: the difference of means a - b and its Welch interval speak instead
    difference: float | None = None
    difference_ci95: tuple[float, float] | None = None


NORMAL_MAD_SCALE = 1.482602218505602  # 1 / Phi^-1(3/4), scipy's median_abs_deviation "normal"


def mad(x: np.ndarray) -> float:
    """Median absolute deviation, scaled to estimate the standard deviation of normal data.

    Equal to ``scipy.stats.median_abs_deviation(x, scale="normal")`` (a test checks), in numpy
    so that workers need not import scipy.stats.
    """
    x = np.asarray(x, dtype=np.float64)
    return float(np.median(np.abs(x - np.median(x))) * NORMAL_MAD_SCALE) if x.size else 0.0


def bootstrap_ci(
    samples: np.ndarray, seed: int = 0, statistic: Callable[..., np.ndarray] = np.median,
) -> tuple[float, float] | None:
    """Percentile-bootstrap 95% interval of a statistic (the median by default).

    None when there are too few samples to say anything.
    """
    samples = np.asarray(samples, dtype=np.float64)
    if samples.size < 3:
        return None
    if np.all(samples == samples[0]):
        return (float(samples[0]), float(samples[0]))
    from scipy import stats

    res = stats.bootstrap(
        (samples,), statistic, confidence_level=0.95, n_resamples=N_RESAMPLES,
        method="percentile", rng=np.random.default_rng(seed),
    )
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))


def hierarchical_ci(groups: Sequence[Sequence[float]], seed: int = 0,
                    of: str = "median") -> tuple[float, float] | None:
    """95% interval of the pooled median when samples come in groups (one per worker process).

    Resamples processes, then samples within each, so process-to-process noise widens the
    interval instead of hiding behind many samples from one lucky process.
    """
    arrays = [np.asarray(g, dtype=np.float64) for g in groups if len(g)]
    stat = statistic(of)
    if len(arrays) < 2:
        return bootstrap_ci(arrays[0], seed, statistic=stat) if arrays else None
    rng = np.random.default_rng(seed)
    meds = np.empty(N_RESAMPLES)
    for i in range(N_RESAMPLES):
        picked = rng.integers(0, len(arrays), len(arrays))
        pooled = np.concatenate([rng.choice(arrays[j], arrays[j].size) for j in picked])
        meds[i] = stat(pooled)
    return (float(np.percentile(meds, 2.5)), float(np.percentile(meds, 97.5)))


def stability_warnings(x: np.ndarray, seconds: Sequence[float] | None = None) -> list[Warn]:
    """pyperf-style warnings: unstable spread, extreme min/max, samples too short to time."""
    out: list[Warn] = []
    med = float(np.median(x))
    if x.size >= 2 and med != 0:
        cv = float(np.std(x, ddof=1) / abs(np.mean(x)))
        if cv > CV_WARN:
            out.append(Warn("unstable",
                            f"unstable: coefficient of variation {cv:.0%} > {CV_WARN:.0%}"))
    spread = mad(x)
    if x.size >= 5 and spread > 0:
        far = max(abs(float(x.max()) - med), abs(float(x.min()) - med)) / spread
        if far > OUTLIER_MADS:
            out.append(Warn("outlier", f"extreme sample: {far:.0f} MADs from the median"))
    if seconds:
        tick = time.get_clock_info("perf_counter").resolution
        if min(seconds) < tick * CLOCK_TICKS_MIN:
            out.append(Warn("clock", f"samples too short for the clock: shortest "
                                     f"{min(seconds):.2e} s, resolution {tick:.0e} s"))
    if x.size < 3:
        out.append(Warn("few-samples", f"only {x.size} sample(s): no 95% interval"))
    return out


def summarize(samples: Sequence[float] | np.ndarray,
              seconds: Sequence[float] | None = None, with_ci: bool = True) -> Summary:
    """Median, bootstrap interval, MAD and warnings; ``seconds`` are the raw sample durations.

    ``with_ci=False`` leaves the interval out (None), for a worker whose orchestrator adds it.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no samples to summarize")
    return Summary(float(np.median(x)), bootstrap_ci(x) if with_ci else None, int(x.size),
                   mad(x), stability_warnings(x, seconds))


def interval(samples: Sequence[float], of: str) -> tuple[float, float] | None:
    """Bootstrap 95% interval of ``of``: "median", or a percentile such as "p99"."""
    return bootstrap_ci(np.asarray(samples), statistic=statistic(of))


def statistic(of: str) -> Callable[..., np.ndarray]:
    """The function behind ``of``: "median" or a percentile such as "p99"."""
    if of == "median":
        return np.median
    q = float(of.removeprefix("p"))
    return lambda x, axis=-1: np.percentile(x, q, axis=axis)


def compare(a: Sequence[float], b: Sequence[float], seed: int = 0,
            of: str = "median") -> Comparison:
    """Within-process only: the ratio a/b of a statistic (``of``: the median, or "p99" …) of two
    sample sets, with a bootstrap interval of that statistic's ratio — and no significance:
    samples of one process are not replicates of the framework (module docstring)."""
    xa, xb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    stat = statistic(of)
    ratio = float(stat(xa) / stat(xb))
    if xa.size < 3 or xb.size < 3:
        return Comparison(ratio, None, None, None, WITHIN)
    if np.all(xa == xa[0]) and np.all(xb == xb[0]):
        return Comparison(ratio, (ratio, ratio), None, None, WITHIN)
    from scipy import stats

    res = stats.bootstrap(
        (xa, xb), lambda u, v, axis=-1: stat(u, axis=axis) / stat(v, axis=axis),
        paired=False, confidence_level=0.95, n_resamples=N_RESAMPLES, method="percentile",
        rng=np.random.default_rng(seed),
    )
    ci = (float(res.confidence_interval.low), float(res.confidence_interval.high))
    return Comparison(ratio, ci, None, None, WITHIN)


def compare_processes(a: Sequence[float], b: Sequence[float]) -> Comparison:
    """Replicated: per-process values of each side (at least ``MIN_PROCESSES`` each). Welch's t
    on their logs; the ratio of geometric means with its t interval (module docstring). Values
    at or below 0 (an overhead that came out negative by noise) are compared as they are:
    Welch's t on the values and the difference of means with its interval; no ratio."""
    xa, xb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if min(xa.size, xb.size) < MIN_PROCESSES:
        raise ValueError(f"a replicated comparison needs {MIN_PROCESSES} processes per side")
    from scipy import stats

    if (xa <= 0).any() or (xb <= 0).any():
        res = stats.ttest_ind(xa, xb, equal_var=False)
        p = 1.0 if np.isnan(res.pvalue) else float(res.pvalue)
        ci = res.confidence_interval(0.95)
        diff_ci = None if np.isnan(ci.low) else (float(ci.low), float(ci.high))
        return Comparison(float("nan"), None, p, p < ALPHA, REPLICATED,
                          difference=float(xa.mean() - xb.mean()), difference_ci95=diff_ci)
    la, lb = np.log(xa), np.log(xb)
    d = float(la.mean() - lb.mean())
    va, vb = la.var(ddof=1) / la.size, lb.var(ddof=1) / lb.size
    se = float(np.sqrt(va + vb))
    if se == 0:  # identical values in every process: no noise to test against
        return Comparison(float(np.exp(d)), (float(np.exp(d)),) * 2, None, d != 0, REPLICATED)
    df = (va + vb) ** 2 / (va**2 / (la.size - 1) + vb**2 / (lb.size - 1))
    p = float(2 * stats.t.sf(abs(d) / se, df))
    q = float(stats.t.ppf(1 - ALPHA / 2, df))
    return Comparison(float(np.exp(d)), (float(np.exp(d - q * se)), float(np.exp(d + q * se))),
                      p, p < ALPHA, REPLICATED)


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment: family-wise error at ALPHA over several tests that feed
    one verdict (None stays None: an untested comparison takes no part)."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    out: list[float | None] = list(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - rank) * p))
        out[i] = running
    return out


def percentile(samples: Sequence[float] | np.ndarray, q: float) -> float:
    return float(np.percentile(np.asarray(samples, dtype=np.float64), q))


@dataclass(frozen=True)
class Equivalence:
    """a versus b against a margin [1/m, m] on the ratio of geometric means (replicated).

    ``p_inside``: TOST (two one-sided Welch tests on the logs) — small when the ratio is
    shown to lie inside the margin. ``p_outside``: one-sided test that it lies beyond the
    nearer edge — small when it is shown to lie outside. ``ci90`` is the interval TOST at 5%
    reads (inside at 5% <=> the 90% interval lies inside the margin).
    """

    ratio: float
    ci95: tuple[float, float]
    ci90: tuple[float, float]
    p_inside: float
    p_outside: float


def equivalence(a: Sequence[float], b: Sequence[float], margin: float) -> Equivalence:
    """Equivalence test of per-process values a and b (at least ``MIN_PROCESSES`` each)."""
    from scipy import stats

    la = np.log(np.asarray(a, dtype=np.float64))
    lb = np.log(np.asarray(b, dtype=np.float64))
    if min(la.size, lb.size) < MIN_PROCESSES:
        raise ValueError(f"an equivalence test needs {MIN_PROCESSES} processes per side")
    d, m = float(la.mean() - lb.mean()), float(np.log(margin))
    va, vb = la.var(ddof=1) / la.size, lb.var(ddof=1) / lb.size
    se = float(np.sqrt(va + vb))
    r = float(np.exp(d))
    if se == 0:  # no noise: the point decides
        inside = abs(d) < m
        return Equivalence(r, (r, r), (r, r), 0.0 if inside else 1.0, 1.0 if inside else 0.0)
    df = (va + vb) ** 2 / (va**2 / (la.size - 1) + vb**2 / (lb.size - 1))
    t = stats.t(df)
    p_inside = float(max(t.sf((d + m) / se), t.sf((m - d) / se)))
    p_outside = float(t.sf((abs(d) - m) / se))

    def ci(level: float) -> tuple[float, float]:
        q = float(t.ppf(1 - (1 - level) / 2))
        return (float(np.exp(d - q * se)), float(np.exp(d + q * se)))

    return Equivalence(r, ci(0.95), ci(0.90), p_inside, p_outside)
