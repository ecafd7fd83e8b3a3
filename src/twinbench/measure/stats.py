"""Summaries of raw samples: the median with a bootstrap 95% interval, and stability warnings.

A number without its uncertainty is not shown as a verdict (fairness rule 5), so every timed
quantity goes through :func:`summarize`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

CV_WARN = 0.10


@dataclass(frozen=True)
class Summary:
    median: float
    ci95: tuple[float, float] | None
    n: int
    warnings: list[str] = field(default_factory=list)


def bootstrap_ci(
    samples: np.ndarray, seed: int = 0, statistic: Callable[..., np.ndarray] = np.median,
) -> tuple[float, float] | None:
    """Percentile-bootstrap 95% interval of a statistic (the median by default).

    None when there are too few samples to say anything.
    """
    if samples.size < 3:
        return None
    if np.all(samples == samples[0]):
        return (float(samples[0]), float(samples[0]))
    res = stats.bootstrap(
        (samples,), statistic, confidence_level=0.95, n_resamples=2000, method="percentile",
        rng=np.random.default_rng(seed),
    )
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))


def summarize(samples: list[float] | np.ndarray, unit: str = "") -> Summary:
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no samples to summarize")
    med = float(np.median(x))
    warnings: list[str] = []
    if x.size >= 2 and med != 0:
        cv = float(np.std(x, ddof=1) / abs(np.mean(x)))
        if cv > CV_WARN:
            warnings.append(f"unstable: coefficient of variation {cv:.0%} > {CV_WARN:.0%}")
    if x.size < 3:
        warnings.append(f"only {x.size} sample(s): no 95% interval")
    return Summary(med, bootstrap_ci(x), int(x.size), warnings)


def percentile(samples: list[float] | np.ndarray, q: float) -> float:
    return float(np.percentile(np.asarray(samples, dtype=np.float64), q))
