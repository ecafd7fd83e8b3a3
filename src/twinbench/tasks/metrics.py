"""Framework-neutral metrics computed from numpy arrays.

Each twin hands over plain numpy predictions and the SAME code scores both, so a difference in
a metric can never come from two frameworks' metric implementations disagreeing.
"""

from __future__ import annotations

import numpy as np


def _labels(a: object, what: str) -> np.ndarray:
    """Integer class ids; whole-valued floats are accepted (some frameworks argmax to float)."""
    arr = np.asarray(a)
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "f" and np.isfinite(arr).all() and (arr == np.round(arr)).all():
        return arr.astype(np.int64)
    raise ValueError(f"{what} must hold integer class ids, got dtype {arr.dtype}")


def _pair(pred: object, y: object) -> tuple[np.ndarray, np.ndarray]:
    p, t = _labels(pred, "pred"), _labels(y, "y")
    if p.shape != t.shape:
        raise ValueError(f"pred has shape {p.shape} but y has shape {t.shape}; they must match")
    if p.size == 0:
        raise ValueError("cannot score zero samples")
    return p.reshape(-1), t.reshape(-1)


def _check_range(a: np.ndarray, num_classes: int, what: str) -> None:
    if a.size and (a.min() < 0 or a.max() >= num_classes):
        raise ValueError(f"{what} holds ids in [{a.min()}, {a.max()}], outside [0, {num_classes})")


def accuracy(logits_or_pred: object, y: object) -> float:
    """Fraction correct. Accepts logits with one extra trailing class axis ((N, C) for
    classification, (N, H, W, C) for channels-last segmentation) or predictions shaped like y."""
    scores = np.asarray(logits_or_pred)
    truth = np.asarray(y)
    if scores.ndim == truth.ndim + 1:
        if scores.shape[:-1] != truth.shape or scores.shape[-1] == 0:
            raise ValueError(
                f"logits have shape {scores.shape}, expected {truth.shape} + (num_classes,)"
            )
        scores = scores.argmax(axis=-1)
    p, t = _pair(scores, truth)
    return float(np.mean(p == t))


def confusion_matrix(pred: object, y: object, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) int64 counts; rows are the true class, columns the predicted
    one (the scikit-learn convention)."""
    if num_classes <= 0:
        raise ValueError(f"num_classes must be > 0, got {num_classes}")
    p, t = _pair(pred, y)
    _check_range(p, num_classes, "pred")
    _check_range(t, num_classes, "y")
    counts = np.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def _present_classes(cm: np.ndarray) -> np.ndarray:
    """Classes seen in truth or prediction; others have no defined score and are skipped, as
    scikit-learn does when it is not given an explicit label list."""
    return (cm.sum(axis=0) + cm.sum(axis=1)) > 0


def macro_f1(pred: object, y: object, num_classes: int) -> float:
    """Unweighted mean of per-class F1 = 2TP / (2TP + FP + FN), over the classes present;
    matches sklearn's f1_score(average="macro") with zero_division=0."""
    cm = confusion_matrix(pred, y, num_classes)
    tp = np.diag(cm).astype(np.float64)
    denom = cm.sum(axis=0) + cm.sum(axis=1)  # = 2TP + FP + FN
    keep = _present_classes(cm)
    return float(np.mean(2 * tp[keep] / denom[keep]))


def mean_iou(pred: object, y: object, num_classes: int, ignore_index: int | None = None) -> float:
    """Mean over classes of TP / (TP + FP + FN) for integer maps of any shape; pixels whose
    truth is ignore_index (e.g. 255 for 'void') are left out, classes absent from both
    prediction and truth are skipped (their IoU would be 0/0)."""
    p, t = _pair(pred, y)
    if ignore_index is not None:
        keep_px = t != ignore_index
        p, t = p[keep_px], t[keep_px]
        if p.size == 0:
            raise ValueError(f"every pixel is ignore_index={ignore_index}; nothing to score")
    cm = confusion_matrix(p, t, num_classes)
    tp = np.diag(cm).astype(np.float64)
    union = cm.sum(axis=0) + cm.sum(axis=1) - np.diag(cm)
    keep = _present_classes(cm)
    return float(np.mean(tp[keep] / union[keep]))


def class_per_item(outputs: np.ndarray, num_classes: int) -> np.ndarray:
    """The class chosen per item (image, text or pixel; channels-last logits): what top-1
    agreement between two runs of a model compares. A task's ``decisions``."""
    return np.asarray(outputs).argmax(axis=-1)
