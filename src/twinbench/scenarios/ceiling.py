"""ceiling: the machine's peak as each framework's own math library reaches it.

GEMM FLOP/s (fp32, n x n matrix product) and memory bandwidth (``a += d`` in place over arrays
far larger than the caches, preallocated on every side: an allocating op would time page
faults). Measured once per framework per study. The machine's peak is the best GEMM any
framework reached (``analysis.ceiling``); every throughput is a fraction of that one number,
beside the CPU's theoretical peak (``measure.peak``, recorded here with its source).
"""

from __future__ import annotations

from collections.abc import Callable

from twinbench.measure.calibrate import calibrate, loop
from twinbench.measure.peak import theoretical_peak
from twinbench.measure.timer import repeat
from twinbench.scenarios.base import Context, Measurement, from_samples
from twinbench.scenarios.spec import Scenario

# Planned once per framework when a throughput scenario runs; its rows are the machine's, not a
# comparison of twins (report.ceiling_view: no charts, no summary wins, the peak note).
SCENARIO = Scenario("ceiling", "GEMM FLOP/s and memory bandwidth peaks", internal=True,
                    view="twinbench.report.ceiling_view:VIEW")

GEMM_N = 1024
STREAM_FLOATS = 32 * 2**20  # 128 MiB of float32


def _measure(ctx: Context, fn: Callable[[], object], work: float, metric: str, unit: str,
             scale: float) -> Measurement:
    a = ctx.adapter
    fn()  # first call: allocations, library initialisation
    k = calibrate(lambda n: loop(fn, n)(), a.synchronize, min_time=ctx.study.min_sample_s)
    t = repeat(loop(fn, k), a.synchronize, warmup=1, samples=5)
    return from_samples(metric, unit, [work * k / s / scale for s in t.samples], "higher",
                        [work * k / s / scale for s in t.warmups], seconds=t.samples,
                        extra={"calls_per_sample": k})


def run(ctx: Context) -> list[Measurement]:
    ctx.progress("ceiling: GEMM and memory bandwidth")
    gemm, flops = ctx.adapter.gemm(GEMM_N)
    stream, nbytes = ctx.adapter.stream(STREAM_FLOATS)
    g = _measure(ctx, gemm, flops, "gemm_flops", "GFLOP/s", 1e9)
    peak = theoretical_peak()
    g.extra.update({"n": GEMM_N, "theoretical_gflops": peak.gflops,
                    "theoretical_source": peak.source, "theoretical_assumptions": peak.assumptions})
    b = _measure(ctx, stream, nbytes, "memory_bandwidth", "GB/s", 1e9)
    b.extra.update({"bytes_per_call": nbytes, "kernel": "a += d, in place (2 reads, 1 write)"})
    return [g, b]
