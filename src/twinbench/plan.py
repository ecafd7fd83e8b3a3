"""Study -> jobs. A job is one framework running one scenario on one model, in its own process.

Parity jobs come first (fairness rule 3): the PyTorch twin exports weights, a batch and its
outputs; every other framework's parity job loads them and compares. A framework whose twin fails
parity gets no timed jobs for that model: they are recorded as skipped with the reason.
"""

from __future__ import annotations

from twinbench.job import MACHINE, REFERENCE, Job
from twinbench.scenarios import registry
from twinbench.study import Study
from twinbench.zoo import MODELS

__all__ = ["Job", "MACHINE", "REFERENCE", "plan", "throughput", "riders", "moded", "per_model"]


def throughput() -> set[str]:
    """Scenarios whose records are throughputs, expressed against the measured machine
    ceiling (their spec's ``throughput``)."""
    return {n for n, s in registry().items() if s.throughput}


def riders() -> dict[str, str]:
    """Scenario -> the scenario whose cold worker also records it, when both are selected
    (a Keras worker costs seconds of import and tracing; paying that twice is waste)."""
    return {n: s.rides_on for n, s in registry().items() if s.rides_on}


def moded() -> set[str]:
    """Scenarios whose figures depend on the call path, so each of a study's modes
    (out-of-box, tuned) gets a job; the others run once, on out-of-box code."""
    return {n for n, s in registry().items() if s.moded}


def per_model() -> set[str]:
    """Scenarios planned once per model (spec ``per_model``), under the study's first framework;
    their records name the framework each one measures."""
    return {n for n, s in registry().items() if s.per_model}


def plan(study: Study) -> list[Job]:
    settings = study.model_dump(mode="json")
    jobs: list[Job] = []
    timed: list[Job] = []
    needs_ceiling = study.ceiling and bool(throughput() & set(study.scenarios))
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
        riding = {sc: host for sc, host in riders().items()
                  if sc in study.scenarios and host in study.scenarios}
        for fw in study.frameworks:
            for sc in study.scenarios:
                if sc in riding or (fw != study.frameworks[0] and sc in per_model()):
                    continue
                also = tuple(r for r, host in riding.items() if host == sc)
                dep = None if sc in per_model() else parity_ids.get(fw)
                for mode in (study.mode if sc in moded() else ["out-of-box"]):
                    tag = "" if mode == "out-of-box" else f"@{mode}"
                    for p in range(study.processes):
                        suffix = f"#{p + 1}" if study.processes > 1 else ""
                        timed.append(Job(f"{base}/{fw}/{sc}{tag}{suffix}", task, model, fw, sc,
                                         study.size, settings, dep, p, also,
                                         mode=mode, replicated=study.processes > 1))
    # Interleave: all frameworks' #1, then #2 ...; inside a round, framework after framework
    # for each scenario (A B A B ...), so slow drift on the machine is spread over every
    # framework instead of landing on one.
    order = {sc: i for i, sc in enumerate(study.scenarios)}
    fws = {fw: i for i, fw in enumerate(study.frameworks)}
    timed.sort(key=lambda j: (j.process, order.get(j.scenario, 0), j.mode, fws[j.framework]))
    ceilings = [Job(f"{MACHINE[0]}/{MACHINE[1]}/{fw}/ceiling", *MACHINE, fw, "ceiling",
                    study.size, settings) for fw in unhosted]
    return ceilings + jobs + timed
