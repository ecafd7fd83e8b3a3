"""semantic-segmentation: images NHWC float32 in, per-pixel logits (N, H, W, C) out; metric mIoU.

Outputs must be channels-last: the PyTorch adapter turns its NCHW logits into NHWC in
``predict``, so one numpy implementation scores every framework (fairness rule 6).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from twinbench.tasks.datasets import Dataset
from twinbench.tasks.metrics import accuracy, class_per_item, mean_iou
from twinbench.tasks.scenes import load_scene_dataset


def load(name: str, settings: Any, *, n_train: int | None = None,
         n_test: int | None = None) -> Dataset:
    return load_scene_dataset(name, image_size=settings.image_size, channels=3,
                              n_train=n_train, n_test=n_test, seed=settings.seed)


def evaluate(outputs: np.ndarray, y: np.ndarray, num_classes: int) -> dict[str, float]:
    scores, truth = np.asarray(outputs), np.asarray(y)
    if scores.ndim != 4 or scores.shape[:3] != truth.shape or scores.shape[-1] != num_classes:
        raise ValueError(
            f"segmentation outputs must be (N, H, W, {num_classes}) logits for masks of shape "
            f"{truth.shape}, got {scores.shape}; channels-first outputs must be transposed first"
        )
    pred = scores.argmax(axis=-1)
    return {"mean_iou": mean_iou(pred, truth, num_classes),
            "pixel_accuracy": accuracy(pred, truth)}


decisions = class_per_item  # the class per pixel
