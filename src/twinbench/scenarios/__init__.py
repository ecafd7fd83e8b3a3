"""Scenario registry: name -> (module, one-line description).

A scenario module exposes ``run(ctx) -> list[Measurement]``; a worker imports only the one
it runs.
"""

from __future__ import annotations

SCENARIOS: dict[str, tuple[str, str]] = {
    "train": ("twinbench.scenarios.train", "training throughput (samples/s) and step time"),
    "infer": ("twinbench.scenarios.infer",
              "batch-1 latency p50/p90/p99 and throughput at a larger batch"),
    "accuracy": ("twinbench.scenarios.accuracy",
                 "eval metric after a fixed epoch budget, its wall time, and time-to-target"),
    "memory": ("twinbench.scenarios.memory", "peak resident memory of the worker while training"),
    "startup": ("twinbench.scenarios.startup",
                "import, build and first-step time, apart from steady state"),
    "server": ("twinbench.scenarios.server",
               "Poisson arrivals: p99 latency at a target rate, highest rate within a bound"),
    "export-web": ("twinbench.scenarios.export_web",
                   "browser deployment in headless Chromium: TF.js, LiteRT.js, ONNX Runtime Web"),
    "export-mobile": ("twinbench.scenarios.export_mobile",
                      "phone deployment: LiteRT / ExecuTorch fp32 + int8, size, accuracy, latency"),
    "profile": ("twinbench.scenarios.profile",
                "time per op category (framework's own profiler), traces for Perfetto"),
}

# Selected by default; `server` takes longer and is opt-in (preset `latency`).
DEFAULT_SCENARIOS = ["train", "infer", "accuracy", "memory", "startup"]

# Planned by twinbench itself, not selectable: parity before timing (fairness rule 3), and the
# machine ceiling once per framework when a throughput scenario runs.
INTERNAL: dict[str, tuple[str, str]] = {
    "parity": ("twinbench.scenarios.parity", "twin parity against the pytorch reference"),
    "ceiling": ("twinbench.scenarios.ceiling", "GEMM FLOP/s and memory bandwidth peaks"),
}
