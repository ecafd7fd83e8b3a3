"""What a scenario declares about itself (``Scenario``), and the pieces its study section is
built from.

A scenario module holds three things: ``SCENARIO`` (this spec), ``Config`` (its section of a
study file, or none) and ``run(ctx)``. The registry (``twinbench.scenarios``) names the module;
the study, the planner, the runner and the reports read the spec, so nothing outside the
module special-cases a scenario. This module imports only pydantic and the task names: the
study is assembled from it without importing a framework.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from twinbench.frameworks.base import OPTIMIZERS

# A worker environment hook: (framework backend, the environment so far, the job's file slug)
# -> the variables to add. Called by the runner before it starts the job's worker.
EnvHook = Callable[[str, dict[str, str], str], dict[str, str]]


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str  # one line, for `twinbench list` and the docs
    config: type[BaseModel] | None = None  # its section of a study file
    section: str | None = None  # that section's name (default: the scenario's name)
    # its records are throughputs, expressed against the measured machine ceiling
    throughput: bool = False
    # measured by the same cold worker as this other scenario when both are selected: that
    # scenario's job records this one's figures too (a Keras import paid once)
    rides_on: str | None = None
    # its figures depend on the call path: each of the study's modes gets a job
    moded: bool = False
    default: bool = False  # selected when a study names no scenarios
    internal: bool = False  # planned by twinbench itself (parity, ceiling), never selected
    compared: bool = True  # its records are compared across frameworks (parity's are checks)
    # each worker process of a repeated measurement trains from its own seed (study seed +
    # process index): what it measures is a property of one training run, not of a process
    seed_per_process: bool = False
    # one job per model (not per framework): it measures every framework of the study from
    # processes of its own (serve: offered rates common to all), each record naming its
    # framework; the job runs under the study's first framework
    per_model: bool = False
    worker_env: EnvHook | None = None  # variables its worker needs set before it starts
    # "module:attribute" of its report view (twinbench.report.views.View), or None for the
    # generic per-metric tables and charts; a string, so no scenario imports the reports
    view: str | None = None

    @property
    def section_name(self) -> str | None:
        return (self.section or self.name.replace("-", "_")) if self.config else None


# NaN/inf in any number (timeout = inf, lr = nan) is a mistake, refused with the field's name.
STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)

def suggest(name: str, valid: list[str] | tuple[str, ...]) -> str:
    near = difflib.get_close_matches(name, list(valid), n=1)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    return f"unknown {name!r} (valid: {', '.join(valid)}){hint}"


def check_dataset(v: str | None) -> str | None:
    """A section's ``dataset`` must name a known data set (which task it fits is checked by
    the study, which knows the tasks)."""
    from twinbench.tasks import all_datasets

    if v is not None and v not in all_datasets():
        raise ValueError("data set " + suggest(v, tuple(all_datasets())))
    return v


def _optimizer(v: Any) -> Any:
    if isinstance(v, str) and v not in OPTIMIZERS:
        raise ValueError("optimizer " + suggest(v, OPTIMIZERS))
    return v


def _weight_decay(v: float, info: ValidationInfo) -> float:
    if v and info.data.get("optimizer", "sgd") != "adamw":
        raise ValueError("weight_decay needs optimizer = \"adamw\" (SGD's weight decay differs "
                         "between the frameworks: torch adds L2 through momentum, Keras decouples)")
    return v


class OptimizerFields(BaseModel):
    """The optimizer settings [train] and [accuracy] share (each section has its own values)."""

    model_config = STRICT
    lr: float = Field(0.05, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD only")
    optimizer: Literal["sgd", "adamw"] = Field(
        "sgd", description="adamw: betas (0.9, 0.999), eps 1e-8 on every framework")
    _check_optimizer = field_validator("optimizer", mode="before")(_optimizer)
    weight_decay: float = Field(0.0, ge=0, description="adamw's decoupled weight decay")
    _check_weight_decay = field_validator("weight_decay")(_weight_decay)


C = TypeVar("C", bound=BaseModel)


class StudySettings(Protocol):
    """What a scenario reads of its study (``twinbench.study.Study`` has it all): the shared
    settings, and any scenario's section through ``section``."""

    name: str
    size: str
    seed: int
    threads: int
    device: str
    processes: int
    min_sample_s: float
    timeout_s: float

    def section(self, config: type[C]) -> C: ...
