"""Task families: their data sets and framework-neutral metrics.

Each task is one module with the same functions, so scenarios never branch on the task:

    load(name, settings, *, n_train, n_test) -> Dataset    # numpy, same order for every framework
    evaluate(outputs, y, num_classes) -> dict[str, float]  # first key is the headline metric
    decisions(outputs, num_classes) -> np.ndarray          # class per image/text/pixel/query

Only names live here (numpy at most); a worker imports the one task module it needs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from twinbench.tasks.datasets import IMAGE_DATASETS
from twinbench.tasks.detection_data import DETECTION_DATASETS
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
    # accuracy scenario: time-to-target stops at the first eval where `metric` >= target
    # (None: no default target; `[accuracy] target` sets one). Values: docs/study.md.
    target: float | None = None


TASKS: dict[str, TaskSpec] = {
    "image-classification": TaskSpec(
        "image-classification",
        "classify an image into one of N classes",
        "twinbench.tasks.image_classification",
        IMAGE_DATASETS,
        train_dataset="synthetic", eval_dataset="digits", metric="accuracy",
        target=0.9,  # the small ResNet: ~0.43 after 1 epoch, ~0.96 after 2 (pytorch, seen)
    ),
    "semantic-segmentation": TaskSpec(
        "semantic-segmentation",
        "label every pixel with one of N classes (background included)",
        "twinbench.tasks.semantic_segmentation",
        SCENE_DATASETS,
        train_dataset="shapes", eval_dataset="shapes", metric="mean_iou",
        target=0.25,  # 4 classes; the small U-Net: ~0.30 after 3 epochs, 0.42 after 8
    ),
    "text-classification": TaskSpec(
        "text-classification",
        "classify a text (token ids, one shared tokenizer) into one of N classes",
        "twinbench.tasks.text_classification",
        TEXT_DATASETS,
        train_dataset="synthetic", eval_dataset="synthetic", metric="accuracy",
        target=0.8,  # 4 classes; the small Transformer: ~0.70 after 3 epochs, 0.92 after 4
    ),
    "object-detection": TaskSpec(
        "object-detection",
        "find each object: a box and one of N classes per object (DETR-style set prediction)",
        "twinbench.tasks.object_detection",
        DETECTION_DATASETS,
        train_dataset="shapes", eval_dataset="shapes", metric="map",
        # preset `detection` (AdamW 5e-4, 16 epochs): first >= 0.01 after 7 (pytorch, lightning)
        # and 12 epochs (keras-tf), seen; at epoch 1 ~0.0002. Under SGD it is not reached.
        target=0.01,
    ),
}


def task_module(task: str) -> ModuleType:
    return importlib.import_module(TASKS[task].module)


def all_datasets() -> dict[str, str]:
    return {name: desc for t in TASKS.values() for name, desc in t.datasets.items()}
