"""Scenario registry: one line per scenario, naming the module that declares it.

Each module holds ``SCENARIO`` (a ``spec.Scenario``: description, study section, throughput or
rider, worker environment, report view), ``Config`` (its study section, if any) and
``run(ctx) -> list[Measurement]``. The study, the planner, the runner and the reports read the
specs. Every scenario module is imported when the study is (its sections come from them), so
none may import a framework at module level: a worker imports its one framework later, through
its adapter.
"""

from __future__ import annotations

import importlib
from functools import cache

from twinbench.scenarios.spec import Scenario

# Selectable scenarios, in the order `twinbench list` shows them and studies run them.
SCENARIOS: dict[str, str] = {
    "train": "twinbench.scenarios.train",
    "infer": "twinbench.scenarios.infer",
    "accuracy": "twinbench.scenarios.accuracy",
    "memory": "twinbench.scenarios.memory",
    "startup": "twinbench.scenarios.startup",
    "server": "twinbench.scenarios.server",
    "export-web": "twinbench.scenarios.export_web",
    "export-mobile": "twinbench.scenarios.export_mobile",
    "profile": "twinbench.scenarios.profile",
    "distributed": "twinbench.scenarios.distributed",
    "serve": "twinbench.scenarios.serve",
}

# Planned by twinbench itself, not selectable: parity before timing (fairness rule 3), and the
# machine ceiling once per framework when a throughput scenario runs.
INTERNAL: dict[str, str] = {
    "parity": "twinbench.scenarios.parity",
    "ceiling": "twinbench.scenarios.ceiling",
}


@cache
def spec(name: str) -> Scenario:
    """The spec a scenario's module declares (importing that module only)."""
    module = SCENARIOS.get(name) or INTERNAL.get(name)
    if module is None:
        raise KeyError(f"no scenario {name!r}")
    found = importlib.import_module(module).SCENARIO
    if not isinstance(found, Scenario) or found.name != name or found.internal != (
            name in INTERNAL):
        raise TypeError(f"{module}.SCENARIO does not declare scenario {name!r} "
                        f"({'internal' if name in INTERNAL else 'selectable'})")
    return found


def registry(internal: bool = False) -> dict[str, Scenario]:
    """Every selectable scenario's spec (with ``internal``: parity and ceiling too)."""
    names = [*SCENARIOS, *(INTERNAL if internal else ())]
    return {n: spec(n) for n in names}


def default_scenarios() -> list[str]:
    """What a study runs when it names no scenarios."""
    return [n for n, s in registry().items() if s.default]


def compared(name: str) -> bool:
    """Whether a scenario's records are compared across frameworks (parity's are checks, not
    measurements). A name no longer registered (old results) is compared."""
    return spec(name).compared if name in SCENARIOS or name in INTERNAL else True
