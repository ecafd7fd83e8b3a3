"""Timing helpers used by every scenario, identical for every framework.

A timed region ends with the adapter's ``synchronize()`` so asynchronous dispatch (JAX, CUDA)
cannot hide work outside the clock; warm-up samples are returned apart from timed ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Timed:
    warmups: list[float]
    samples: list[float]


def time_call(fn: Callable[[], object], sync: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t0


def repeat(
    fn: Callable[[], object], sync: Callable[[], None], *, warmup: int, samples: int,
    on_sample: Callable[[], None] | None = None,
) -> Timed:
    """Run ``fn`` ``warmup`` times untimed-for-statistics, then ``samples`` timed times."""
    warm = [time_call(fn, sync) for _ in range(warmup)]
    out = []
    for _ in range(samples):
        out.append(time_call(fn, sync))
        if on_sample is not None:
            on_sample()
    return Timed(warm, out)
