"""memory: peak resident set size of a cold worker through its first training step.

The peak includes the framework's import and runtime footprint, since a user's process pays for
it too; the RSS after import and build is recorded beside it so the two can be told apart. The
first step holds the peak (tracing plus a step). It is the startup scenario's cold start, so a
study that selects both runs it once (its spec's ``rides_on``); alone, it runs the same code.
"""

from __future__ import annotations

from twinbench.scenarios.base import Context, Measurement
from twinbench.scenarios.spec import Scenario
from twinbench.scenarios.startup import cold_start, memory_measurements

SCENARIO = Scenario("memory", "peak resident memory of the worker while training",
                    rides_on="startup", moded=True, default=True)


def run(ctx: Context) -> list[Measurement]:
    return memory_measurements(cold_start(ctx))
