"""Metrics against hand-computed cases and against scikit-learn on random cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from sklearn.metrics import f1_score, jaccard_score

from twinbench.tasks.metrics import accuracy, confusion_matrix, macro_f1, mean_iou


def test_accuracy_from_predictions_and_logits() -> None:
    y = np.array([0, 1, 2, 1])
    assert accuracy(np.array([0, 1, 1, 1]), y) == 0.75
    logits = np.array([[3.0, 0, 0], [0, 2, 1], [0, 0, 5], [1, 0, 0]])
    assert accuracy(logits, y) == 0.75
    # channels-last segmentation logits: one extra trailing class axis
    seg_logits = np.zeros((1, 2, 2, 3))
    seg_logits[0, :, :, 2] = 1.0
    assert accuracy(seg_logits, np.array([[[2, 2], [0, 2]]])) == 0.75
    # whole-valued floats (e.g. an argmax returned as float) are accepted
    assert accuracy(np.array([0.0, 1.0, 2.0, 0.0]), y) == 0.75


@pytest.mark.parametrize(
    ("pred", "y"),
    [
        (np.zeros(3, dtype=int), np.zeros(4, dtype=int)),  # length mismatch
        (np.zeros((4, 3, 2)), np.zeros(4, dtype=int)),  # logits with a wrong inner shape
        (np.zeros((5, 3)), np.zeros(4, dtype=int)),  # logits for the wrong batch
        (np.array([0.5, 1.0]), np.array([0, 1])),  # fractional predictions
        (np.zeros(0, dtype=int), np.zeros(0, dtype=int)),  # nothing to score
    ],
)
def test_accuracy_rejects_bad_shapes(pred: np.ndarray, y: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"shape|integer|zero"):
        accuracy(pred, y)


def test_confusion_matrix_hand_case() -> None:
    y = np.array([0, 0, 1, 2, 2, 2])
    pred = np.array([0, 1, 1, 2, 0, 2])
    expected = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    cm = confusion_matrix(pred, y, 3)
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, expected)
    np.testing.assert_array_equal(cm, sk_confusion_matrix(y, pred, labels=[0, 1, 2]))


def test_confusion_matrix_validates() -> None:
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(np.array([0, 1]), np.array([-1, 1]), 3)
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(np.array([0, 1]), np.array([[0, 1]]), 3)
    with pytest.raises(ValueError, match="num_classes"):
        confusion_matrix(np.array([0]), np.array([0]), 0)


def test_macro_f1_hand_case() -> None:
    y = np.array([0, 0, 1, 2, 2, 2])
    pred = np.array([0, 1, 1, 2, 0, 2])
    # per class F1 = 2TP / (2TP + FP + FN): class0 2/4, class1 2/3, class2 4/5
    assert macro_f1(pred, y, 3) == pytest.approx((2 / 4 + 2 / 3 + 4 / 5) / 3)
    # class 3 never appears in truth or prediction: skipped, not counted as 0
    assert macro_f1(pred, y, 4) == pytest.approx((2 / 4 + 2 / 3 + 4 / 5) / 3)
    assert macro_f1(y, y, 3) == 1.0


def test_mean_iou_hand_case_and_ignore_index() -> None:
    y = np.array([[0, 0, 1], [2, 2, 255]])
    pred = np.array([[0, 1, 1], [2, 0, 1]])
    # kept pixels: y=[0,0,1,2,2], p=[0,1,1,2,0]; IoU: c0 1/3, c1 1/2, c2 1/2; class 3 skipped
    assert mean_iou(pred, y, 4, ignore_index=255) == pytest.approx((1 / 3 + 1 / 2 + 1 / 2) / 3)
    assert mean_iou(y[:, :2], y[:, :2], 3) == 1.0
    with pytest.raises(ValueError, match="outside"):
        mean_iou(pred, y, 4)  # 255 is out of range when it is not ignored
    with pytest.raises(ValueError, match="ignore_index"):
        mean_iou(np.array([1]), np.array([255]), 4, ignore_index=255)
    with pytest.raises(ValueError, match="shape"):
        mean_iou(pred[:1], y, 4, ignore_index=255)


@pytest.mark.parametrize("seed", range(20))
def test_metrics_match_sklearn_on_random_cases(seed: int) -> None:
    rng = np.random.default_rng(seed)
    num_classes = int(rng.integers(2, 8))
    n = int(rng.integers(1, 60))
    # draw from a random subset of classes so that some are absent from truth and/or prediction
    y = rng.choice(rng.permutation(num_classes)[: max(1, num_classes - 2)], size=n)
    pred = np.where(rng.random(n) < 0.6, y, rng.integers(0, num_classes, size=n))
    assert accuracy(pred, y) == pytest.approx(float(np.mean(pred == y)))
    assert macro_f1(pred, y, num_classes) == pytest.approx(
        f1_score(y, pred, average="macro", zero_division=0)
    )
    assert mean_iou(pred, y, num_classes) == pytest.approx(
        jaccard_score(y, pred, average="macro", zero_division=0)
    )
    labels = list(range(num_classes))
    np.testing.assert_array_equal(
        confusion_matrix(pred, y, num_classes), sk_confusion_matrix(y, pred, labels=labels)
    )


def test_mean_iou_matches_sklearn_on_random_maps() -> None:
    rng = np.random.default_rng(123)
    y = rng.integers(0, 5, size=(3, 16, 16))
    pred = np.where(rng.random(y.shape) < 0.7, y, rng.integers(0, 5, size=y.shape))
    y[:, :2] = 255  # a void border
    keep = y != 255
    expected = jaccard_score(y[keep], pred[keep], average="macro", zero_division=0)
    assert mean_iou(pred, y, 5, ignore_index=255) == pytest.approx(expected)
