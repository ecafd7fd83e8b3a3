"""A job: one framework running one scenario on one model, in its own worker process."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

REFERENCE = "pytorch"
# The machine ceiling is measured once per framework, first thing in that framework's first
# parity worker when there is one (a fresh process, as a job of its own would be): one Keras
# import fewer. Its records keep the identity of a machine measurement (MACHINE).
MACHINE = ("machine", "gemm")


@dataclass(frozen=True)
class Job:
    job_id: str
    task: str
    model: str
    framework: str
    scenario: str  # a scenario name, or "parity"
    size: str
    settings: dict[str, Any] = field(default_factory=dict)  # the study, as plain data
    needs: str | None = None  # a parity job that must pass first
    process: int = 0  # which repeat of a measurement (several worker processes)
    also: tuple[str, ...] = ()  # further scenarios this job's worker records (rides_on)
    before: tuple[str, ...] = ()  # scenarios its worker runs first ("ceiling", see MACHINE)
    mode: str = "out-of-box"  # which call paths it runs (frameworks.base.CallPath)
    # one of several worker processes of one measurement (its id ends in #n); parity and
    # ceiling jobs run once whatever the study's processes
    replicated: bool = False

    @property
    def repeat(self) -> int | None:
        """Which of the study's worker processes this job is (1-based; the ``#n`` of its id),
        None when the measurement runs in one process."""
        return self.process + 1 if self.replicated else None

    @property
    def scenarios(self) -> tuple[str, ...]:
        return (*self.before, self.scenario, *self.also)

    def identity(self, scenario: str) -> tuple[str, str]:
        """(task, model) of the records this job writes for ``scenario``."""
        return MACHINE if scenario == "ceiling" else (self.task, self.model)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Job:
        return cls(**{**d, "also": tuple(d.get("also", ())),
                      "before": tuple(d.get("before", ()))})
