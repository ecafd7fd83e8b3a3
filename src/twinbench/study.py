"""Study files (TOML) and presets, validated with pydantic.

A study says *what* to compare (tasks x models x frameworks x scenarios) and *how* (sizes,
threads, repeats). Every mistake is reported as one line naming the file, the field and what was
expected, through :class:`twinbench.errors.UserError`.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from twinbench.errors import UserError
from twinbench.frameworks.base import FRAMEWORKS
from twinbench.scenarios import SCENARIOS
from twinbench.tasks import TASKS, all_datasets
from twinbench.zoo import MODELS

_STRICT = ConfigDict(extra="forbid")


def suggest(name: str, valid: list[str] | tuple[str, ...]) -> str:
    near = difflib.get_close_matches(name, list(valid), n=1)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    return f"unknown {name!r} (valid: {', '.join(valid)}){hint}"


def _dataset(v: str | None) -> str | None:
    if v is not None and v not in all_datasets():
        raise ValueError("data set " + suggest(v, tuple(all_datasets())))
    return v


class TrainConfig(BaseModel):
    model_config = _STRICT
    dataset: str | None = Field(None, description="default: the task's synthetic set")
    _check_dataset = field_validator("dataset")(_dataset)
    batch_size: int = Field(32, gt=0)
    steps: int = Field(4, gt=0, description="optimizer steps timed together as one sample")
    samples: int = Field(5, gt=0)
    warmup: int = Field(1, ge=0, description="samples run and stored apart before timing")
    lr: float = Field(0.05, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)


class InferConfig(BaseModel):
    model_config = _STRICT
    latency_runs: int = Field(30, gt=0, description="batch-1 forward passes timed one by one")
    warmup: int = Field(5, ge=0)
    batch_size: int = Field(64, gt=0, description="batch for the throughput measurement")
    samples: int = Field(5, gt=0)


class AccuracyConfig(BaseModel):
    model_config = _STRICT
    dataset: str | None = Field(None, description="default: the task's real (or learnable) set")
    _check_dataset = field_validator("dataset")(_dataset)
    epochs: int = Field(3, gt=0)
    batch_size: int = Field(32, gt=0)
    lr: float = Field(0.05, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    n_train: int | None = Field(None, gt=0)


class Study(BaseModel):
    model_config = _STRICT
    name: str = "custom"
    tasks: list[str] = ["image-classification"]
    models: list[str] = []
    frameworks: list[str] = ["pytorch", "keras-tf"]
    scenarios: list[str] = list(SCENARIOS)
    size: str = "small"
    image_size: int = Field(32, ge=8)
    seq_len: int = Field(64, ge=4, description="tokens per text sample (text tasks)")
    threads: int = Field(default_factory=lambda: os.cpu_count() or 1, gt=0)
    device: Literal["cpu"] = "cpu"
    mode: Literal["out-of-box"] = "out-of-box"
    seed: int = 0
    timeout_s: float = Field(600.0, gt=0)
    parity: bool = True
    data_path: str | None = None
    train: TrainConfig = TrainConfig()
    infer: InferConfig = InferConfig()
    accuracy: AccuracyConfig = AccuracyConfig()

    @field_validator("tasks", "frameworks", "scenarios", "models", mode="before")
    @classmethod
    def _split_commas(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [v]
        if isinstance(v, list):
            out: list[str] = []
            for item in v:
                parts = item.split(",") if isinstance(item, str) else [item]
                out += [p.strip() for p in parts if not isinstance(p, str) or p.strip()]
            return list(dict.fromkeys(out))
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
    def _combinations(self) -> Study:
        for m in self.models:
            if MODELS[m].task not in self.tasks:
                raise ValueError(
                    f"model {m!r} belongs to task {MODELS[m].task!r}, which is not in tasks"
                )
        for t in self.tasks:
            for cfg in ("train", "accuracy"):
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
        return [m.id for m in MODELS.values() if m.task in self.tasks]


def _known(values: list[str], valid: tuple[str, ...], what: str, allow_empty: bool = False):
    if not values and not allow_empty:
        raise ValueError(f"at least one {what} is needed (valid: {', '.join(valid)})")
    for v in values:
        if v not in valid:
            raise ValueError(f"{what} " + suggest(v, valid))
    return values


PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "name": "quick",
        "frameworks": ["pytorch", "keras-tf"],
        "size": "small",
        "train": {"batch_size": 32, "steps": 3, "samples": 5, "warmup": 1},
        "infer": {"latency_runs": 30, "warmup": 5, "batch_size": 64, "samples": 5},
        "accuracy": {"epochs": 2, "batch_size": 32, "n_train": 640},
    },
    "backends": {
        "name": "backends",
        "frameworks": ["pytorch", "keras-tf", "keras-jax", "keras-torch"],
        "size": "small",
        "train": {"batch_size": 32, "steps": 3, "samples": 5, "warmup": 1},
        "infer": {"latency_runs": 30, "warmup": 5, "batch_size": 64, "samples": 5},
        "accuracy": {"epochs": 2, "batch_size": 32},
    },
    "tiny": {
        "name": "tiny",
        "size": "tiny",
        "image_size": 16,
        "train": {"batch_size": 8, "steps": 2, "samples": 3, "warmup": 1},
        "infer": {"latency_runs": 5, "warmup": 1, "batch_size": 8, "samples": 3},
        "accuracy": {"epochs": 1, "batch_size": 32, "n_train": 256},
    },
}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


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
    data = _merge(data, {k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return Study.model_validate(data)
    except ValidationError as exc:
        raise UserError(_format(exc, source)) from exc
