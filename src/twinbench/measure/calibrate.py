"""Loop calibration (after pyperf): repeat a call enough times that one sample lasts at least
``min_time`` seconds, so the clock's resolution and per-call jitter stay negligible."""

from __future__ import annotations

from collections.abc import Callable

from twinbench.measure.timer import time_call


def calibrate(run_k: Callable[[int], object], sync: Callable[[], None], *, min_time: float,
              start: int = 1, max_k: int = 1 << 16) -> int:
    """A repeat count k >= start whose run lasts >= min_time (k at least doubles per try).

    ``run_k(k)`` must do k units of work; call it warm (after warm-up), since a first call that
    includes compilation would look long enough.
    """
    k = max(1, start)
    while k < max_k:
        t = time_call(lambda k=k: run_k(k), sync)
        if t >= min_time:
            return k
        # jump close to the target, but at least double
        k = min(max_k, max(2 * k, int(k * min_time / max(t, 1e-9) * 1.1)))
    return max_k


def loop(fn: Callable[[], object], k: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(k):
            fn()

    return run
