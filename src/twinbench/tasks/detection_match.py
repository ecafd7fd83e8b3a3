"""DETR's set-prediction matching, framework-neutral: numpy + scipy, called by every twin.

The Hungarian matching is not differentiable, so each twin detaches its outputs, hands them
here, and builds its loss from the result with its own ops. One implementation means the twins
cannot disagree on *which* prediction is paired with *which* object (fairness rule 6 applied to
the loss); only the differentiable terms are written twice (``zoo/pytorch/detr.py``,
``zoo/keras/detr.py``), and :func:`set_loss` is the numpy reference both are tested against.

Layouts (see ``twinbench.tasks.object_detection``):

* outputs ``(B, Q, C + 1 + 4)``: class logits (C object classes, then "no object"), then boxes
  ``(cx, cy, w, h)`` normalised to [0, 1];
* targets ``(B, M, 5)``: ``(class, cx, cy, w, h)`` per object, rows with class -1 are padding.

Costs and weights are DETR's (Carion et al. 2020): matching cost ``1 * -p(class) + 5 * L1 +
2 * -GIoU``; loss ``1 * CE (no-object weight 0.1) + 5 * L1 + 2 * (1 - GIoU)``, L1 and GIoU summed
over matched pairs and divided by the number of objects. No auxiliary decoder losses.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

COST_CLASS, COST_BBOX, COST_GIOU = 1.0, 5.0, 2.0
LOSS_CE, LOSS_BBOX, LOSS_GIOU = 1.0, 5.0, 2.0
EOS_COEF = 0.1  # weight of the "no object" class in the cross-entropy
# The box an unmatched query is compared with: any valid box keeps GIoU finite (its term is
# multiplied by 0), and a finite value everywhere keeps NaN out of every framework's gradient.
DUMMY_BOX = (0.5, 0.5, 1.0, 1.0)


def cxcywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    cx, cy, w, h = np.moveaxis(np.asarray(b, np.float64), -1, 0)
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)


def giou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Generalised IoU of xyxy boxes ``a`` and ``b`` (..., 4), broadcast against each other."""
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    union = area_a + area_b - inter
    cw = np.maximum(a[..., 2], b[..., 2]) - np.minimum(a[..., 0], b[..., 0])
    ch = np.maximum(a[..., 3], b[..., 3]) - np.minimum(a[..., 1], b[..., 1])
    hull = cw * ch  # the smallest box enclosing both
    return inter / union - (hull - union) / hull


def pairwise_giou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """GIoU of every box in ``a`` (P, 4) with every box in ``b`` (T, 4), xyxy -> (P, T)."""
    return giou(a[:, None, :], b[None, :, :])


def split_outputs(outputs: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(B, Q, C+1+4) -> logits (B, Q, C+1), boxes (B, Q, 4); checks the layout."""
    out = np.asarray(outputs)
    if out.ndim != 3 or out.shape[-1] != num_classes + 5:
        raise ValueError(f"detection outputs must be (N, queries, {num_classes} + 1 + 4), "
                         f"got {out.shape}")
    return out[..., : num_classes + 1], out[..., num_classes + 1 :]


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def hungarian_match(outputs: np.ndarray, targets: np.ndarray,
                    num_classes: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per image: (query indices, object indices) of the minimum-cost one-to-one matching."""
    logits, boxes = split_outputs(outputs, num_classes)
    targets = np.asarray(targets)
    prob = softmax(logits)
    pairs = []
    for b in range(len(targets)):
        real = targets[b][targets[b, :, 0] >= 0]  # (T, 5)
        if len(real) > boxes.shape[1]:
            raise ValueError(f"image {b} has {len(real)} objects but the model has only "
                             f"{boxes.shape[1]} queries; raise the size's `queries`")
        cls = real[:, 0].astype(np.int64)
        cost = (COST_CLASS * -prob[b][:, cls]  # (Q, T)
                + COST_BBOX * np.abs(boxes[b][:, None, :] - real[None, :, 1:]).sum(-1)
                + COST_GIOU * -pairwise_giou(cxcywh_to_xyxy(boxes[b]), cxcywh_to_xyxy(real[:, 1:])))
        q, t = linear_sum_assignment(cost)
        pairs.append((q.astype(np.int64), t.astype(np.int64)))
    return pairs


def dense_targets(outputs: np.ndarray, targets: np.ndarray,
                  num_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The matching as per-query arrays, the form every framework's loss reads.

    Returns ``classes`` (B, Q) int32 (``num_classes`` = no object), ``boxes`` (B, Q, 4) float32
    (:data:`DUMMY_BOX` where unmatched) and ``matched`` (B, Q) float32 (1 where matched).
    Fixed shapes, so TensorFlow and JAX can call this from a compiled graph.
    """
    out = np.asarray(outputs)
    b, q = out.shape[:2]
    classes = np.full((b, q), num_classes, np.int32)
    boxes = np.broadcast_to(np.asarray(DUMMY_BOX, np.float32), (b, q, 4)).copy()
    matched = np.zeros((b, q), np.float32)
    targets = np.asarray(targets)
    for i, (qi, ti) in enumerate(hungarian_match(out, targets, num_classes)):
        real = targets[i][targets[i, :, 0] >= 0]
        classes[i, qi] = real[ti, 0].astype(np.int32)
        boxes[i, qi] = real[ti, 1:]
        matched[i, qi] = 1.0
    return classes, boxes, matched


def set_loss(outputs: np.ndarray, targets: np.ndarray, num_classes: int) -> dict[str, float]:
    """The DETR loss in numpy (float64): the reference each framework's loss must reproduce."""
    logits, pred = split_outputs(outputs, num_classes)
    classes, boxes, matched = dense_targets(outputs, targets, num_classes)
    z = np.asarray(logits, np.float64)
    logp = z - z.max(-1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    nll = -np.take_along_axis(logp, classes[..., None].astype(np.int64), -1)[..., 0]  # (B, Q)
    w = np.where(classes == num_classes, EOS_COEF, 1.0)
    ce = float((w * nll).sum() / w.sum())
    n = max(float(matched.sum()), 1.0)
    l1 = float((matched * np.abs(np.asarray(pred, np.float64) - boxes).sum(-1)).sum() / n)
    g = giou(cxcywh_to_xyxy(pred), cxcywh_to_xyxy(boxes))  # (B, Q)
    lg = float((matched * (1.0 - g)).sum() / n)
    total = LOSS_CE * ce + LOSS_BBOX * l1 + LOSS_GIOU * lg
    return {"loss": total, "ce": ce, "l1": l1, "giou": lg}
