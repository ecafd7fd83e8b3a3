"""Timing helpers used by every scenario, identical for every framework.

A timed region ends with the adapter's ``synchronize()`` so asynchronous dispatch (JAX, CUDA)
cannot hide work outside the clock; warm-up samples are returned apart from timed ones.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field


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


@dataclass
class StepClock:
    """Timestamps of the steps inside one ``fit`` call, from the adapter's ``on_step`` hook.

    ``marks`` holds (steps done, seconds since ``start``) after each step (or each block of
    steps: Keras' steps_per_execution). Steady-state step times come from the gaps between
    marks, so a fit call's fixed cost — setup before the first step, teardown after the last
    (Keras-TF: tf.data's autotuner idles up to seconds when its iterator is destroyed) —
    never enters them; it is measured apart as ``wall - steps x steady step``.
    """

    t0: float = 0.0
    wall: float = 0.0
    marks: list[tuple[int, float]] = field(default_factory=list)

    def start(self) -> None:
        self.marks = []
        self.t0 = time.perf_counter()

    def __call__(self, steps: int) -> None:
        self.marks.append((steps, time.perf_counter() - self.t0))

    def stop(self) -> None:
        self.wall = time.perf_counter() - self.t0

    def step_times(self, after: int = 0) -> list[tuple[int, float]]:
        """(steps, seconds) of each gap between marks, for marks after ``after`` steps."""
        pts = [(0, 0.0), *self.marks]
        return [(s1 - s0, t1 - t0) for (s0, t0), (s1, t1) in zip(pts, pts[1:], strict=False)
                if s0 >= after]


# (start, end) on the system-wide monotonic clock of every CpuWindow of this process: the worker
# reports them, so the orchestrator's load meter can judge the load during the timed windows
# alone (runner.local.LoadMeter.fractions_in).
TIMED_WINDOWS: list[tuple[float, float]] = []


@dataclass
class CpuWindow:
    """CPU seconds this process used over a wall-clock window: how many cores a framework
    actually kept busy while timed (fairness rule 2 asks for equal resources; this shows them).
    The window is also recorded in ``TIMED_WINDOWS``."""

    cpu0: float = 0.0
    t0: float = 0.0
    mono0: float = 0.0

    @staticmethod
    def _cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    def __enter__(self) -> CpuWindow:
        self.cpu0, self.t0, self.mono0 = self._cpu(), time.perf_counter(), time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu_s = self._cpu() - self.cpu0
        self.wall_s = time.perf_counter() - self.t0
        TIMED_WINDOWS.append((self.mono0, time.monotonic()))

    def extra(self) -> dict[str, float | None]:
        """CPU and wall seconds; ``cores_used`` only over a window long enough that the kernel's
        CPU accounting (a few ms per tick) does not dominate it."""
        cores = round(self.cpu_s / self.wall_s, 2) if self.wall_s >= MIN_CPU_WINDOW_S else None
        return {"cpu_s": round(self.cpu_s, 4), "wall_s": round(self.wall_s, 4),
                "cores_used": cores}


MIN_CPU_WINDOW_S = 0.2
