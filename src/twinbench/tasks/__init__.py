"""Task families: their data sets and framework-neutral metrics.

Each task is one module with the same two functions, so scenarios never branch on the task:

    load(name, settings, *, n_train, n_test) -> Dataset    # numpy, same order for every framework
    evaluate(outputs, y, num_classes) -> dict[str, float]  # first key is the headline metric

Only names live here (numpy at most); a worker imports the one task module it needs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from twinbench.tasks.datasets import IMAGE_DATASETS
from twinbench.tasks.scenes import SCENE_DATASETS
from twinbench.tasks.text_classification import TEXT_DATASETS


@dataclass(frozen=True)
class TaskSpec:
    id: str
    description: str
    module: str
    datasets: dict[str, str]
    train_dataset: str  # what throughput scenarios feed (content does not change speed)
    eval_dataset: str  # what the accuracy scenario learns by default
    metric: str  # the headline metric `evaluate` returns first


TASKS: dict[str, TaskSpec] = {
    "image-classification": TaskSpec(
        "image-classification",
        "classify an image into one of N classes",
        "twinbench.tasks.image_classification",
        IMAGE_DATASETS,
        train_dataset="synthetic", eval_dataset="digits", metric="accuracy",
    ),
    "semantic-segmentation": TaskSpec(
        "semantic-segmentation",
        "label every pixel with one of N classes (background included)",
        "twinbench.tasks.semantic_segmentation",
        SCENE_DATASETS,
        train_dataset="shapes", eval_dataset="shapes", metric="mean_iou",
    ),
    "text-classification": TaskSpec(
        "text-classification",
        "classify a text (token ids, one shared tokenizer) into one of N classes",
        "twinbench.tasks.text_classification",
        TEXT_DATASETS,
        train_dataset="synthetic", eval_dataset="synthetic", metric="accuracy",
    ),
}


def task_module(task: str) -> ModuleType:
    return importlib.import_module(TASKS[task].module)


def all_datasets() -> dict[str, str]:
    return {name: desc for t in TASKS.values() for name, desc in t.datasets.items()}
