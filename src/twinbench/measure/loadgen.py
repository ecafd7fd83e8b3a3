"""Query generation after MLPerf LoadGen: single-stream and server (Poisson arrivals).

The system under test is one model instance answering one query at a time, as a simple
inference service does. In the server scenario queries arrive as a Poisson process; a query that
arrives while the model is busy waits, and its latency counts from its arrival, so queueing shows
in the tail exactly as a user of such a service would feel it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def poisson_arrivals(rate: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Arrival times (s from start) of n queries at ``rate`` per second: exponential gaps."""
    if rate <= 0 or n <= 0:
        raise ValueError("rate and n must be positive")
    return np.cumsum(rng.exponential(1.0 / rate, size=n))


def single_stream(query: Callable[[], object], *, min_queries: int,
                  min_duration_s: float, max_queries: int = 100_000) -> list[float]:
    """Issue one query after another until both minimums are met; latencies in seconds."""
    lat: list[float] = []
    t_start = time.perf_counter()
    while len(lat) < max_queries and (
        len(lat) < min_queries or time.perf_counter() - t_start < min_duration_s
    ):
        t0 = time.perf_counter()
        query()
        lat.append(time.perf_counter() - t0)
    return lat


def serve(query: Callable[[], object], arrivals: np.ndarray) -> np.ndarray:
    """Answer queries at their arrival times, one at a time; latency = done - arrival."""
    lat = np.empty(len(arrivals))
    start = time.perf_counter()
    for i, due in enumerate(arrivals):
        wait = due - (time.perf_counter() - start)
        if wait > 0:
            time.sleep(wait)
        query()
        lat[i] = (time.perf_counter() - start) - due
    return lat


@dataclass
class RateResult:
    rate: float
    p99_s: float
    queries: int
    met: bool


def max_rate_within(query: Callable[[], object], *, bound_s: float, capacity_qps: float,
                    duration_s: float, min_queries: int, steps: int,
                    rng: np.random.Generator) -> tuple[float, list[RateResult]]:
    """Highest Poisson rate whose p99 latency stays within ``bound_s``, by bisection.

    Searches (0, capacity] where capacity is 1 / the single-stream median latency; returns 0.0
    when even the lowest rate tried misses the bound.
    """
    def trial(rate: float) -> RateResult:
        n = max(min_queries, int(rate * duration_s))
        lat = serve(query, poisson_arrivals(rate, n, rng))
        p99 = float(np.percentile(lat, 99))
        return RateResult(rate, p99, n, p99 <= bound_s)

    return bisect_rate(trial, capacity_qps, steps)


def bisect_rate(trial: Callable[[float], RateResult], capacity_qps: float,
                steps: int, beyond: int = 0) -> tuple[float, list[RateResult]]:
    """The bisection of ``max_rate_within`` over any way of running one rate (in process, or
    over HTTP from a client process): capacity first, then ``steps`` halvings of (0, cap].

    ``beyond``: when the capacity estimate itself meets the bound, try up to that many
    doublings above it before bisecting (a server behind HTTP can answer more than the
    closed-loop estimate, which pays the client's round trip per request)."""
    tried: list[RateResult] = []

    def met(rate: float) -> bool:
        tried.append(trial(rate))
        return tried[-1].met

    lo, hi = 0.0, capacity_qps
    if met(hi):
        for _ in range(beyond):
            lo, hi = hi, 2 * hi
            if not met(hi):
                break
        else:
            return hi, tried
    for _ in range(steps):
        mid = (lo + hi) / 2
        if met(mid):
            lo = mid
        else:
            hi = mid
    return lo, tried
