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
                 "eval metric after a fixed epoch budget on real data, and its wall time"),
    "memory": ("twinbench.scenarios.memory", "peak resident memory of the worker while training"),
    "startup": ("twinbench.scenarios.startup",
                "import, build and first-step time, apart from steady state"),
}

# Checks run before any timing (fairness rule 3); not selectable as a scenario of its own.
PARITY = ("twinbench.scenarios.parity", "twin parity against the pytorch reference")
