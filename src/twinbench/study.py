"""Study files (TOML) and presets, validated with pydantic.

A study says *what* to compare (tasks x models x frameworks x scenarios) and *how* (sizes,
threads, repeats). Every mistake is reported as one line naming the file, the field and what was
expected, through :class:`twinbench.errors.UserError`.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from twinbench.errors import UserError
from twinbench.frameworks.base import FRAMEWORKS
from twinbench.scenarios import SCENARIOS, default_scenarios, registry
from twinbench.scenarios.spec import STRICT, suggest
from twinbench.tasks import TASKS
from twinbench.zoo import MODELS

__all__ = ["Study", "suggest", "load_study", "load_composite", "PRESETS", "COMPOSITES"]

# Each scenario's section ([train], [mobile] ...), from the scenario registry: the class its
# module declares, under the section name it declares.
SECTIONS: dict[str, type[BaseModel]] = {
    s.section_name: s.config for s in registry(internal=True).values()
    if s.config is not None and s.section_name is not None}
_SECTION_OF = {cfg: name for name, cfg in SECTIONS.items()}
C = TypeVar("C", bound=BaseModel)

class StudyCore(BaseModel):
    """The study's own settings; ``Study`` adds a section per scenario that declares one."""

    model_config = STRICT
    name: str = "custom"
    tasks: list[str] = ["image-classification"]
    models: list[str] = []
    frameworks: list[str] = ["pytorch", "keras-tf"]
    scenarios: list[str] = Field(default_factory=default_scenarios)
    size: str = "small"
    image_size: int = Field(32, ge=8)
    seq_len: int = Field(64, ge=4, description="tokens per text sample (text tasks)")
    max_vocab: int = Field(20000, ge=2, description="text: vocabulary cap incl. pad and unknown")
    threads: int = Field(default_factory=lambda: os.cpu_count() or 1, gt=0)
    device: str = "cpu"
    mode: list[Literal["out-of-box", "tuned"]] = Field(
        default_factory=lambda: ["out-of-box"],
        description="out-of-box: each framework's documented default paths; tuned: every "
        "documented path and knob (torch.compile, XLA, steps_per_execution ...), best one wins")
    seed: int = Field(0, ge=0)  # numpy's generators refuse negative seeds
    timeout_s: float = Field(600.0, gt=0)
    memory_limit_mb: float | None = Field(
        None, gt=0, description="kill a worker whose processes use more resident memory")
    parity: bool = True
    processes: int = Field(1, ge=1, le=100,  # each one is a full cold worker per job
                           description="worker processes per timed measurement")
    min_sample_s: float = Field(0.1, gt=0, description="calibrate loops to at least this long")
    ceiling: bool = Field(True, description="measure GEMM and bandwidth peaks per framework")
    data_path: str | None = None

    def section(self, config: type[C]) -> C:
        """A scenario's section, by the class its module declares (``study.section(
        TrainConfig)``): typed, where ``study.train`` is only known at run time."""
        value = getattr(self, _SECTION_OF[config])
        assert isinstance(value, config)
        return value

    @field_validator("tasks", "frameworks", "scenarios", "models", "mode", mode="before")
    @classmethod
    def _split_commas(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [v]
        if isinstance(v, list):
            out: list[Any] = []
            for item in v:
                if isinstance(item, str):
                    out += [p.strip() for p in item.split(",") if p.strip()]
                else:
                    out.append(item)  # not a name: pydantic rejects it with a clear message
            return list(dict.fromkeys(out)) if all(isinstance(x, str) for x in out) else out
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if v != "cpu":
            raise ValueError(f"device {v!r} is not supported: twinbench measures on the CPU only "
                             "so far (GPU support is not built yet); use device = \"cpu\"")
        return v

    @field_validator("tasks")
    @classmethod
    def _tasks(cls, v: list[str]) -> list[str]:
        return _known(v, tuple(TASKS), "task")

    @field_validator("frameworks")
    @classmethod
    def _frameworks(cls, v: list[str]) -> list[str]:
        return _known(v, tuple(FRAMEWORKS), "framework")

    @field_validator("scenarios")
    @classmethod
    def _scenarios(cls, v: list[str]) -> list[str]:
        return _known(v, tuple(SCENARIOS), "scenario")

    @field_validator("models")
    @classmethod
    def _models(cls, v: list[str]) -> list[str]:
        return _known(v, tuple(MODELS), "model", allow_empty=True)

    @model_validator(mode="after")
    def _combinations(self) -> StudyCore:
        for m in self.models:
            if MODELS[m].task not in self.tasks:
                raise ValueError(
                    f"model {m!r} belongs to task {MODELS[m].task!r}, which is not in tasks"
                )
        for t in self.tasks:
            for cfg in (c for c, kind in SECTIONS.items() if "dataset" in kind.model_fields):
                ds = getattr(self, cfg).dataset
                if ds is not None and ds not in TASKS[t].datasets:
                    raise ValueError(
                        f"{cfg}.dataset {ds!r} does not belong to task {t!r} "
                        f"(valid: {', '.join(TASKS[t].datasets)})"
                    )
        for m in self.selected_models():
            if self.size not in MODELS[m].sizes:
                raise ValueError(
                    f"size {self.size!r} is not defined for model {m!r} "
                    f"(valid: {', '.join(MODELS[m].sizes)})"
                )
        return self

    def selected_models(self) -> list[str]:
        if self.models:
            return list(self.models)
        return [m.id for m in MODELS.values() if m.task in self.tasks and m.in_default_study]


if clash := sorted(set(SECTIONS) & set(StudyCore.model_fields)):  # a scenario's mistake
    raise TypeError(f"scenario sections {clash} would replace study settings of the same name")
if TYPE_CHECKING:
    Study = StudyCore
else:  # the sections, each defaulting to its class's defaults
    Study = create_model("Study", __base__=StudyCore, __doc__=StudyCore.__doc__,
                         **{name: (cfg, Field(default_factory=cfg))
                            for name, cfg in SECTIONS.items()})


def _known(values: list[str], valid: tuple[str, ...], what: str, allow_empty: bool = False):
    if not values and not allow_empty:
        raise ValueError(f"at least one {what} is needed (valid: {', '.join(valid)})")
    for v in values:
        if v not in valid:
            raise ValueError(f"{what} " + suggest(v, valid))
    return values


# DETR trains with AdamW (its paper: lr 1e-4, weight decay 1e-4); the small twin from scratch
# learns at 5e-4 (docs/models.md). [train] carries it too: parity checks [train]'s optimizer.
_DETR_ADAMW = {"optimizer": "adamw", "lr": 5e-4, "weight_decay": 1e-4}

# Presets whose figures feed verdicts measure in this many worker processes: a difference is
# tested only across processes (measure.stats.MIN_PROCESSES), and their runs interleave the
# frameworks (plan.plan).
VERDICT_PROCESSES = 3

PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "name": "quick",
        "processes": VERDICT_PROCESSES,
        "frameworks": ["pytorch", "keras-tf"],
        "size": "small",
        "train": {"batch_size": 32, "steps": 3, "samples": 5, "warmup": 1},
        "infer": {"latency_runs": 30, "min_duration_s": 0.3, "warmup": 3, "batch_size": 64,
                  "samples": 5},
        "accuracy": {"epochs": 2, "batch_size": 32},  # all 1438 training digits
    },
    "zoo": {  # one twin per task x the three training styles: train, infer, time-to-target
        "name": "zoo",
        "processes": VERDICT_PROCESSES,
        "tasks": ["image-classification", "semantic-segmentation", "text-classification"],
        "frameworks": ["pytorch", "lightning", "keras-tf"],
        "scenarios": ["train", "infer", "accuracy"],
        "size": "small",
        "train": {"batch_size": 32, "steps": 3, "samples": 5, "warmup": 1},
        "infer": {"latency_runs": 30, "min_duration_s": 0.3, "warmup": 3, "batch_size": 64,
                  "samples": 5},
        "accuracy": {"epochs": 4, "batch_size": 32},  # every task's default target in reach
    },
    "detection": {  # the DETR twin x the three training styles, AdamW (SGD leaves it at mAP ~0)
        "name": "detection",
        "processes": VERDICT_PROCESSES,
        "tasks": ["object-detection"],
        "frameworks": ["pytorch", "lightning", "keras-tf"],
        "scenarios": ["train", "infer", "accuracy"],
        "size": "small",
        "timeout_s": 1200.0,  # accuracy: 16 epochs + 16 mAP evaluations, slow on a busy machine
        "train": {"batch_size": 32, "steps": 3, "samples": 5, "warmup": 1, **_DETR_ADAMW},
        "infer": {"latency_runs": 30, "min_duration_s": 0.3, "warmup": 3, "batch_size": 64,
                  "samples": 5},
        "accuracy": {"epochs": 16, "batch_size": 32, "n_train": 1024, **_DETR_ADAMW},
    },
    "backends": {
        "name": "backends",
        "processes": VERDICT_PROCESSES,
        "frameworks": ["pytorch", "keras-tf", "keras-jax", "keras-torch"],
        "size": "small",
        "train": {"batch_size": 32, "steps": 3, "samples": 5, "warmup": 1},
        "infer": {"latency_runs": 30, "warmup": 5, "batch_size": 64, "samples": 5},
        "accuracy": {"epochs": 2, "batch_size": 32},
    },
    "latency": {
        "name": "latency",
        "processes": VERDICT_PROCESSES,
        "frameworks": ["pytorch", "keras-tf"],
        "scenarios": ["infer", "server"],
        "infer": {"latency_runs": 100, "min_duration_s": 2.0},
    },
    "precise": {
        "name": "precise",
        "frameworks": ["pytorch", "keras-tf", "keras-jax", "keras-torch"],
        "processes": 3,
        "train": {"samples": 10, "warmup": 2},
        "infer": {"latency_runs": 200, "min_duration_s": 2.0, "samples": 10},
    },
    "mobile": {
        "name": "mobile",
        "frameworks": ["pytorch", "keras-tf"],  # ExecuTorch and LiteRT
        "scenarios": ["export-mobile"],
        "models": ["resnet", "mobilenet"],  # MobileNet is the model phones are built for
        "size": "small",
        "timeout_s": 1200.0,  # ExecuTorch lowers twice and starts its runtime twice per job
        "accuracy": {"batch_size": 32},
        # all 1408 digits x 3 epochs: MobileNet is still at chance after 2 x 640 (seen here)
        "mobile": {"epochs": 3, "n_train": None, "calibration_samples": 64, "latency_runs": 50,
                   "warmup": 5},
    },
    "web": {  # export-web: TF.js + LiteRT.js (keras-tf), ONNX Runtime Web (pytorch), Chromium
        "name": "web",
        "frameworks": ["pytorch", "keras-tf"],
        "scenarios": ["export-web"],
        "models": ["resnet", "mobilenet"],  # the image-classification twins
        "size": "small",
        # page-side runs, one batch-1 forward each; 100 so p90 is resolved (percentile_of);
        # a keras-tf job (5 pages) took about a minute at 50 runs, far inside timeout_s 600
        "infer": {"latency_runs": 100, "warmup": 5},
    },
    "tiny": {
        "name": "tiny",
        "size": "tiny",
        "image_size": 16,
        "train": {"batch_size": 8, "steps": 2, "samples": 3, "warmup": 1},
        "infer": {"latency_runs": 5, "min_duration_s": 0, "warmup": 1, "batch_size": 8,
                  "samples": 3},
        "server": {"duration_s": 0.3, "min_queries": 10, "search_steps": 2},
        "min_sample_s": 0.02,
        "accuracy": {"epochs": 1, "batch_size": 32, "n_train": 256},
        "mobile": {"epochs": 1, "n_train": 256, "n_eval": 96, "calibration_samples": 16,
                   "latency_runs": 10, "warmup": 2},
        "profile": {"steps": 4, "warmup": 1, "repeats": 3},
        "distributed": {"global_batch": 8, "steps": 3, "warmup": 1, "schedules": ["1f1b"],
                        "microbatches": [2], "launch_timeout_s": 120,
                        "unpinned": False},
        "serve": {"duration_s": 0.5, "min_queries": 20, "warmup_queries": 5,
                  "search_steps": 1, "capacity_s": 0.3, "parity_inputs": 2},
    },
    "serve": {  # C8: the ResNet twin over HTTP under open-loop load, every export and server
        "name": "serve",
        "frameworks": ["pytorch", "keras-tf", "keras-jax"],
        "scenarios": ["serve"],
        "models": ["resnet"],
        "size": "small",
        "parity": False,  # each HTTP answer is checked against its own framework's model
        "timeout_s": 3600.0,  # one job: 3 exports, 10 servers started twice, 5 runs each
    },
    "distributed": {  # C9: data-parallel 1 -> 2 processes in every framework, torch pipelines
        "name": "distributed",
        "tasks": ["image-classification", "text-classification"],
        "frameworks": ["pytorch", "lightning", "keras-jax", "keras-tf"],
        "scenarios": ["distributed"],
        "models": ["resnet", "transformer"],
        "size": "small",
        "timeout_s": 1500.0,  # one job launches W=1, W=2, 1x2 threads (+ 8 pipeline runs)
        "distributed": {"global_batch": 32, "steps": 20, "warmup": 3},
    },
    "profile": {  # side-by-side profiles of the ResNet twin (traces under <out>/traces)
        "name": "profile",
        "frameworks": ["pytorch", "keras-tf", "keras-jax"],
        "scenarios": ["profile"],
        "models": ["resnet"],
        "size": "small",
        "train": {"batch_size": 32},
        "infer": {"batch_size": 32},
        "profile": {"steps": 8, "warmup": 2, "repeats": 5},
    },
}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


# Composite presets. One study is a cross product (tasks x models x frameworks x scenarios x
# modes), so a verdict on every claim needs several: a composite is a list of parts, each a
# preset-like dict run as a study of its own into OUT/<part>/ (twinbench.runner.composite), the
# records of all parts then reported as one. No two parts measure the same quantity (task, model,
# framework, scenario, metric, mode, device): the machine ceiling and each twin's parity are
# measured in one part only (``ceiling`` / ``parity`` false in the others, which run the same
# twins at the same size and seed), so the merged report holds one value per quantity.
# Wall times are estimates for an idle 2-core CPU (the quick preset: 370 s measured).
COMPOSITES: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "verdict": [
        # C1, C12: the quick study without accuracy (train, infer, startup + memory; out-of-box,
        # 3 processes), parity and the machine ceiling: 20 jobs, ~5 min (447 s with accuracy,
        # whose 6 jobs took 152 s: no claim reads time-to-accuracy, `--preset quick` measures it)
        ("speed", _merge(PRESETS["quick"], {
            "name": "verdict-speed", "scenarios": ["train", "infer", "startup", "memory"]})),
        # C1 in tuned mode (torch.compile, XLA, steps_per_execution, channels-last): training
        # and inference of the ResNet twin, every documented path, 3 processes: 12 jobs,
        # ~14 min (every worker compiles from a cold cache, each documented path: 827 s measured,
        # pytorch train 83 s and infer 68 s a job, keras-tf 77 s and 45 s)
        ("tuned", _merge(PRESETS["quick"], {
            "name": "verdict-tuned", "mode": ["tuned"], "scenarios": ["train", "infer"],
            "parity": False, "ceiling": False})),
        # C1 beyond image classification: the UNet and transformer twins, train + infer, 3
        # processes, their parity checks: 28 jobs, ~6.5 min (388 s measured)
        ("tasks", _merge(PRESETS["zoo"], {
            "name": "verdict-tasks", "tasks": ["semantic-segmentation", "text-classification"],
            "frameworks": ["pytorch", "keras-tf"], "scenarios": ["train", "infer"],
            "ceiling": False})),
        # C5, C6: LiteRT and ExecuTorch routes of the ResNet twin (the mobile preset's
        # training): 2 jobs, ~2 min (125 s measured)
        ("mobile", _merge(PRESETS["mobile"], {
            "name": "verdict-mobile", "models": ["resnet"], "parity": False})),
        # C7: TF.js, LiteRT.js and ONNX Runtime Web in Chromium: 2 jobs, ~1 min (68 s measured)
        ("web", _merge(PRESETS["web"], {
            "name": "verdict-web", "models": ["resnet"], "parity": False})),
        # C10: the PyTorch Profiler beside TensorFlow's: 2 jobs, ~1 min (63 s measured)
        ("profile", _merge(PRESETS["profile"], {
            "name": "verdict-profile", "frameworks": ["pytorch", "keras-tf"],
            "parity": False})),
        # C2-C4 (code brevity) and C11 (zoo search) are static: the report computes them.
        # C8 (serving) is measured by `--preset serve` (~10 min) and C9 (distributed
        # training) by `--preset distributed` (~30 min more on 2 cores), not by this composite.
    ],
}
COMPOSITE_ESTIMATE = {"verdict": "~29 min on an idle 2-core CPU"}
# Flags that change how a composite's jobs run, applied to every part. The others (what is
# measured: tasks, models, frameworks, scenarios, modes, size, processes, data) would make
# the parts overlap or stop deciding the claims they are there for, so they are refused.
COMPOSITE_OVERRIDES = ("threads", "timeout_s", "memory_limit_mb", "seed", "device")


def load_composite(name: str, overrides: dict[str, Any] | None = None) -> list[tuple[str, Study]]:
    """(part, study) of a composite preset, each part validated with the ``overrides``
    (only ``COMPOSITE_OVERRIDES``; any other is a one-line UserError)."""
    if name not in COMPOSITES:
        raise UserError(f"composite preset {suggest(name, tuple(COMPOSITES))}")
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if bad := [k for k in given if k not in COMPOSITE_OVERRIDES]:
        raise UserError(f"preset {name!r} runs fixed parts and cannot apply {', '.join(bad)} "
                        f"(only {', '.join(COMPOSITE_OVERRIDES)} apply to every part)")
    parts = []
    for part, data in COMPOSITES[name]:
        try:
            parts.append((part, Study.model_validate(_merge(data, given))))
        except ValidationError as exc:
            loc = exc.errors()[0]["loc"]
            where = "command line" if loc and loc[0] in given else \
                f"preset {name!r}, part {part!r}"
            raise UserError(_format(exc, where)) from exc
    return parts


def _format(exc: ValidationError, source: str) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "study"
    msg = err["msg"].removeprefix("Value error, ")
    got = err.get("input")
    shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
    more = f" [+{len(exc.errors()) - 1} more]" if len(exc.errors()) > 1 else ""
    return f"{source}: {where}: {msg}{shown}{more}"


def load_study(
    path: str | Path | None = None, preset: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> Study:
    """Preset, then file, then command-line overrides; validated once at the end."""
    data: dict[str, Any] = {}
    source = "command line"
    if preset is not None:
        if preset not in PRESETS:
            raise UserError(f"preset {suggest(preset, tuple(PRESETS))}")
        data = _merge(data, PRESETS[preset])
        source = f"preset {preset!r}"
    if path is not None:
        p = Path(path)
        source = str(p)
        try:
            data = _merge(data, tomllib.loads(p.read_text(encoding="utf-8")))
        except FileNotFoundError as exc:
            raise UserError(f"{p}: no such study file") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"{p}: cannot read the study file ({exc})") from exc
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{p}: not valid TOML: {exc}") from exc
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if "tasks" in given and "models" not in given:
        data.pop("models", None)  # models picked for other tasks would no longer fit
    data = _merge(data, given)
    try:
        return Study.model_validate(data)
    except ValidationError as exc:
        loc = exc.errors()[0]["loc"]
        if loc and loc[0] in given:
            source = "command line"
        raise UserError(_format(exc, source)) from exc
