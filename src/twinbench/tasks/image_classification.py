"""image-classification: images NHWC float32 in, class logits (N, C) out; metric accuracy."""

from __future__ import annotations

from typing import Any

import numpy as np

from twinbench.tasks.datasets import FILE_DATASETS, Dataset, load_image_dataset
from twinbench.tasks.metrics import accuracy, class_per_item, macro_f1


def load(name: str, settings: Any, *, n_train: int | None = None,
         n_test: int | None = None) -> Dataset:
    return load_image_dataset(
        name, image_size=settings.image_size, channels=3, n_train=n_train, n_test=n_test,
        seed=settings.seed, path=settings.data_path if name in FILE_DATASETS else None,
    )


def evaluate(outputs: np.ndarray, y: np.ndarray, num_classes: int) -> dict[str, float]:
    pred = np.argmax(outputs, axis=-1)
    return {"accuracy": accuracy(pred, y), "macro_f1": macro_f1(pred, y, num_classes)}


decisions = class_per_item  # the class per image
