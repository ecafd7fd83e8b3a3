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
# Scenarios whose records are throughputs, expressed against the measured machine ceiling.
THROUGHPUT = {"train", "infer", "server"}
# Scenarios measured from the same cold worker: when both are selected, the first one's job also
# records the second's figures (a Keras worker costs seconds of import and tracing; paying that
# twice for one cold start is waste). Keys ride on the value's job.
RIDES_ON = {"memory": "startup"}
# Scenarios whose figures depend on the call path, so a study's modes (out-of-box, tuned) each
# get a job; the others (parity, exports, profile, server) run once, on out-of-box code.
MODED = {"train", "infer", "accuracy", "startup", "memory"}
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
    also: tuple[str, ...] = ()  # further scenarios this job's worker records (see RIDES_ON)
    before: tuple[str, ...] = ()  # scenarios its worker runs first ("ceiling", see MACHINE)
    mode: str = "out-of-box"  # which call paths it runs (frameworks.base.CallPath)

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


def plan(study: Study) -> list[Job]:
    settings = study.model_dump(mode="json")
    jobs: list[Job] = []
    timed: list[Job] = []
    needs_ceiling = study.ceiling and bool(THROUGHPUT & set(study.scenarios))
    unhosted = list(study.frameworks) if needs_ceiling else []  # ceilings without a host yet

    def ceiling_first(fw: str) -> tuple[str, ...]:
        if fw in unhosted:
            unhosted.remove(fw)
            return ("ceiling",)
        return ()

    for model in study.selected_models():
        task = MODELS[model].task
        base = f"{task}/{model}"
        parity_ids: dict[str, str] = {}
        if study.parity and any(f != REFERENCE for f in study.frameworks):
            ref = f"{base}/{REFERENCE}/parity"
            jobs.append(Job(ref, task, model, REFERENCE, "parity", study.size, settings,
                            before=ceiling_first(REFERENCE)))
            for fw in study.frameworks:
                if fw != REFERENCE:
                    pid = f"{base}/{fw}/parity"
                    parity_ids[fw] = pid
                    jobs.append(Job(pid, task, model, fw, "parity", study.size, settings, ref,
                                    before=ceiling_first(fw)))
        riders = {sc: host for sc, host in RIDES_ON.items()
                  if sc in study.scenarios and host in study.scenarios}
        for fw in study.frameworks:
            for sc in study.scenarios:
                if sc in riders:
                    continue
                also = tuple(r for r, host in riders.items() if host == sc)
                for mode in (study.mode if sc in MODED else ["out-of-box"]):
                    tag = "" if mode == "out-of-box" else f"@{mode}"
                    for p in range(study.processes):
                        suffix = f"#{p + 1}" if study.processes > 1 else ""
                        timed.append(Job(f"{base}/{fw}/{sc}{tag}{suffix}", task, model, fw, sc,
                                         study.size, settings, parity_ids.get(fw), p, also,
                                         mode=mode))
    # Interleave: all frameworks' #1, then #2 ...; inside a round, framework after framework
    # for each scenario (A B A B ...), so slow drift on the machine is spread over every
    # framework instead of landing on one.
    order = {sc: i for i, sc in enumerate(study.scenarios)}
    fws = {fw: i for i, fw in enumerate(study.frameworks)}
    timed.sort(key=lambda j: (j.process, order.get(j.scenario, 0), j.mode, fws[j.framework]))
    ceilings = [Job(f"{MACHINE[0]}/{MACHINE[1]}/{fw}/ceiling", *MACHINE, fw, "ceiling",
                    study.size, settings) for fw in unhosted]
    return ceilings + jobs + timed
