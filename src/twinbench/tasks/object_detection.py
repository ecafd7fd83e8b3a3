"""object-detection: images NHWC float32 in, DETR-style set predictions out; metric COCO mAP.

The numpy contract between scenarios, adapters and this module:

* ``x``: (N, H, W, 3) float32 images, normalised with the training set's channel statistics.
* ``y``: (N, M, 5) float32 padded targets, one row ``(class, cx, cy, w, h)`` per object, boxes
  normalised to [0, 1], class -1 on padding rows (``detection_data.split_targets`` separates
  them). Adapters' ``labels()`` pass these floats through unchanged.
* ``predict`` output: (N, Q, C + 1 + 4) float32: for each of Q queries, C + 1 class logits
  (index C = "no object"), then a box ``(cx, cy, w, h)`` normalised to [0, 1] (after the
  sigmoid). Every framework's twin returns this one array from its forward pass.

``evaluate`` returns ``map`` (AP@[0.5:0.95], COCO's headline) first, then ``map_50`` and
``map_75``, all from pycocotools (``twinbench.tasks.detection_metrics``). The training loss is
the twins' own (Hungarian matching shared in ``twinbench.tasks.detection_match``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from twinbench.tasks.datasets import Dataset
from twinbench.tasks.detection_data import DETECTION_FILE_DATASETS, load_detection_dataset
from twinbench.tasks.detection_metrics import evaluate_outputs


def load(name: str, settings: Any, *, n_train: int | None = None,
         n_test: int | None = None) -> Dataset:
    return load_detection_dataset(
        name, image_size=settings.image_size, n_train=n_train, n_test=n_test, seed=settings.seed,
        path=settings.data_path if name in DETECTION_FILE_DATASETS else None,
    )


def evaluate(outputs: np.ndarray, y: np.ndarray, num_classes: int) -> dict[str, float]:
    return evaluate_outputs(outputs, y, num_classes)


def decisions(outputs: np.ndarray, num_classes: int) -> np.ndarray:
    """The class chosen per query, "no object" included: the box coordinates after the C + 1
    logits are not scores, so an argmax over the whole row would mix them in."""
    return np.asarray(outputs)[..., :num_classes + 1].argmax(axis=-1)
