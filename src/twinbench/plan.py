"""Study -> jobs. A job is one framework running one scenario on one model, in its own process.

Parity jobs come first (fairness rule 3): the PyTorch twin exports weights, a batch and its
outputs; every other framework's parity job loads them and compares. A framework whose twin fails
parity gets no timed jobs for that model: they are recorded as skipped with the reason.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from twinbench.study import Study
from twinbench.zoo import MODELS

REFERENCE = "pytorch"


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Job:
        return cls(**d)


def plan(study: Study) -> list[Job]:
    settings = study.model_dump(mode="json")
    jobs: list[Job] = []
    timed: list[Job] = []
    for model in study.selected_models():
        task = MODELS[model].task
        base = f"{task}/{model}"
        parity_ids: dict[str, str] = {}
        if study.parity and any(f != REFERENCE for f in study.frameworks):
            ref = f"{base}/{REFERENCE}/parity"
            jobs.append(Job(ref, task, model, REFERENCE, "parity", study.size, settings))
            for fw in study.frameworks:
                if fw != REFERENCE:
                    pid = f"{base}/{fw}/parity"
                    parity_ids[fw] = pid
                    jobs.append(Job(pid, task, model, fw, "parity", study.size, settings, ref))
        for fw in study.frameworks:
            for sc in study.scenarios:
                timed.append(
                    Job(f"{base}/{fw}/{sc}", task, model, fw, sc, study.size, settings,
                        parity_ids.get(fw))
                )
    return jobs + timed
