"""The results contract: one record per measured quantity (see docs/results-schema.md).

Records are the only thing that crosses from a worker process to the orchestrator, the store and
the reports, so the schema is versioned: a reader refuses data written by a newer schema.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

FRAMEWORK_IDS = ("pytorch", "lightning", "keras-tf", "keras-jax", "keras-torch")
TASK_IDS = (
    "image-classification",
    "object-detection",
    "semantic-segmentation",
    "text-classification",
)


class Record(BaseModel):
    """One measured quantity, or one failed job (``status == "failed"``, ``value is None``)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    study: str
    run_id: str
    job_id: str
    task: str
    model: str
    framework: str
    backend: str
    mode: Literal["out-of-box", "tuned"] = "out-of-box"
    scenario: str
    metric: str
    unit: str
    value: float | None
    samples: list[float] = Field(default_factory=list)
    warmups: list[float] = Field(default_factory=list)
    ci95: tuple[float, float] | None = None
    better: Literal["lower", "higher"] | None = None
    device: str = "cpu"
    threads: int
    batch_size: int | None = None
    dataset: str | None = None
    status: Literal["ok", "failed"] = "ok"
    error: str | None = None
    warnings: list[str] = Field(default_factory=list)
    flops_per_sample: float | None = None  # throughput records: FLOPs one sample costs
    achieved_flops: float | None = None  # throughput x flops_per_sample, FLOP/s
    fraction_of_peak: float | None = None  # achieved / this framework's measured GEMM peak
    knobs: dict[str, Any] = Field(default_factory=dict)
    extra: dict[str, Any] = Field(default_factory=dict)
    env: dict[str, Any] = Field(default_factory=dict)
    created: str = ""

    def key(self) -> tuple[str, str, str, str, str, str]:
        """What makes two records comparable across frameworks (everything but the framework)."""
        return (self.task, self.model, self.scenario, self.metric, self.mode, self.device)


class SchemaError(Exception):
    """Data written by a schema this version of twinbench cannot read."""


def check_version(version: int, where: str) -> None:
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"{where} was written by results schema v{version}, newer than this twinbench "
            f"(v{SCHEMA_VERSION}); upgrade twinbench to read it"
        )
