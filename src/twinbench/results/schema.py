"""The results contract: one record per measured quantity (see docs/results-schema.md).

Records are the only thing that crosses from a worker process to the orchestrator, the store and
the reports, so the schema is versioned: a reader refuses data written by a newer schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# v2: route, variant, phase, category and process are fields (v1 packed them into metric and
# job_id strings), warnings carry a kind. v1 files are upgraded when read (``upgrade``).
SCHEMA_VERSION = 2

# What a warning is about, so readers select by kind instead of matching text.
WARN_KINDS = (
    "unstable",     # spread between samples (coefficient of variation)
    "outlier",      # an extreme sample, many MADs from the median
    "clock",        # samples too short for the clock's resolution
    "few-samples",  # too few samples for an interval
    "tail",         # a tail percentile from too few samples
    "no-value",     # some processes of a repeated measurement gave no value
    "load",         # other processes or the hypervisor took CPU while it ran
    "flops",        # FLOPs could not be counted
    "profiler",     # a profiler's own notes (trace window, tracer options)
    "parity",       # an exported model's outputs differ from the framework's
    "export",       # a converter's or runtime's notes
    "capacity",     # a server run that found no rate within the bound
    "other",
)
WarnKind = Literal[
    "unstable", "outlier", "clock", "few-samples", "tail", "no-value", "load", "flops",
    "profiler", "parity", "export", "capacity", "other"]


@dataclass(frozen=True)
class Warn:
    """One warning on a record: its ``kind`` (WARN_KINDS) and the sentence a reader sees."""

    kind: WarnKind
    text: str

    def __str__(self) -> str:
        return self.text


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
    route: str | None = None  # export scenarios: the route it measures (export.routes)
    variant: str | None = None  # a route's variant: "fp32", "int8-full", "tfjs-wasm-1t" ...
    phase: str | None = None  # profile: "train" or "infer"
    category: str | None = None  # profile: the op category of an "op_time" record
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
    warnings: list[Warn] = Field(default_factory=list)
    flops_per_sample: float | None = None  # throughput records: FLOPs one sample costs
    achieved_flops: float | None = None  # throughput x flops_per_sample, FLOP/s
    fraction_of_peak: float | None = None  # achieved / this framework's measured GEMM peak
    knobs: dict[str, Any] = Field(default_factory=dict)
    extra: dict[str, Any] = Field(default_factory=dict)
    env: dict[str, Any] = Field(default_factory=dict)
    created: str = ""
    # which worker process of a repeated measurement (1-based); None for one process and for
    # the merged record that pools them (extra.processes)
    process: int | None = None

    @property
    def name(self) -> str:
        """The quantity's full name, for display and identity only (never parsed):
        ``variant:metric`` for a route's variant, ``phase/category`` or ``phase/metric`` for
        profile records, else the metric."""
        if self.phase is not None:
            return f"{self.phase}/{self.category or self.metric}"
        if self.variant is not None:
            return f"{self.variant}:{self.metric}"
        return self.metric

    def key(self) -> tuple[str, str, str, str, str, str]:
        """What makes two records comparable across frameworks (everything but the framework)."""
        return (self.task, self.model, self.scenario, self.name, self.mode, self.device)

    def warned(self, *kinds: str) -> list[Warn]:
        """Its warnings of the given kinds (all of them when none is given)."""
        return [w for w in self.warnings if not kinds or w.kind in kinds]


class SchemaError(Exception):
    """Data written by a schema this version of twinbench cannot read."""


def check_version(version: int, where: str) -> None:
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"{where} was written by results schema v{version}, newer than this twinbench "
            f"(v{SCHEMA_VERSION}); upgrade twinbench to read it"
        )


UPGRADE_NOTE = ("written by results schema v1: read as v{v} (route variant, profile phase and "
                "category, process index and warning kinds recovered from v1's metric, job id "
                "and warning strings; v1 recorded no route id)")
# v1 warnings, by their opening words (used only to upgrade v1 data: v2 writers set the kind)
_V1_KINDS = (("unstable", "unstable"), ("extreme sample", "outlier"),
             ("samples too short", "clock"), ("only ", "few-samples"), ("no value in", "no-value"),
             ("other load", "load"), ("FLOPs not counted", "flops"),
             ("trace window", "profiler"), ("python_tracer", "profiler"), ("p9", "tail"),
             ("no rate", "capacity"))
_V1_PROFILE = ("step_time", "step_time_profiled", "profiler_overhead")
_PROCESS = re.compile(r"#(\d+)$")


def read_record(data: dict[str, Any], where: str, upgraded: set[str]) -> Record:
    """A stored record's data as a Record: a newer schema refused, v1 upgraded (``where`` is
    added to ``upgraded``, for one note per file: ``note_upgraded``)."""
    version = int(data.get("schema_version", 0))
    check_version(version, where)
    if version < SCHEMA_VERSION:
        upgraded.add(where)
    return Record.model_validate(upgrade(data))


def note_upgraded(upgraded: set[str]) -> None:
    """One line on stderr per file that held v1 records."""
    import sys

    for where in sorted(upgraded):
        print(f"note: {where} " + UPGRADE_NOTE.format(v=SCHEMA_VERSION), file=sys.stderr)


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """A v1 record's data as v2 (data of v2 is returned as it is)."""
    if int(data.get("schema_version", SCHEMA_VERSION)) >= 2:
        return data
    d = dict(data, schema_version=SCHEMA_VERSION)
    d["warnings"] = [w if isinstance(w, dict) else {
        "kind": next((k for p, k in _V1_KINDS if str(w).startswith(p)), "other"),
        "text": str(w)} for w in d.get("warnings", [])]
    metric = str(d.get("metric", ""))
    if d.get("scenario") in ("export-web", "export-mobile") and ":" in metric:
        d["variant"], d["metric"] = metric.split(":", 1)
    elif d.get("scenario") == "profile" and "/" in metric:
        d["phase"], name = metric.split("/", 1)
        if name in _V1_PROFILE:
            d["metric"] = name
        else:
            d["metric"], d["category"] = "op_time", name
    if m := _PROCESS.search(str(d.get("job_id", ""))):
        d["process"] = int(m.group(1))
    return d
