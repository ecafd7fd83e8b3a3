"""Detection metrics, framework-neutral: COCO mAP through pycocotools' own COCOeval.

One implementation scores every framework (fairness rule 6), and it is the reference one:
``COCOeval`` with the standard settings (IoU thresholds 0.50:0.05:0.95, 101 recall points,
area range "all", up to 100 detections per image). Boxes stay normalised to [0, 1]: IoU does not
depend on the scale, and only the small/medium/large area ranges (not reported) would.

Detections are read from a DETR-style output the way DETR's own post-processing reads them:
every query is a detection, labelled with its most likely object class (the "no object" class
excluded) and scored with that class's softmax probability; no threshold, no NMS.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

from twinbench.tasks.detection_match import softmax, split_outputs


def detections(outputs: np.ndarray,
               num_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, Q, C+1+4) outputs -> boxes (N, Q, 4) cxcywh, scores (N, Q), labels (N, Q)."""
    logits, boxes = split_outputs(outputs, num_classes)
    prob = softmax(logits)[..., :num_classes]  # drop "no object"
    return np.asarray(boxes, np.float64), prob.max(-1), prob.argmax(-1)


def _xywh(cxcywh: np.ndarray) -> list[float]:
    cx, cy, w, h = (float(v) for v in cxcywh)
    return [cx - w / 2, cy - h / 2, w, h]


def coco_map(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
             targets: np.ndarray, num_classes: int) -> dict[str, float]:
    """COCO box AP of detections against padded targets (N, M, 5) (class -1 = padding).

    Returns ``map`` (AP@[0.5:0.95], COCO's headline), ``map_50`` and ``map_75``.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    targets = np.asarray(targets)
    annotations = []
    for i, img in enumerate(targets):
        for obj in img[img[:, 0] >= 0]:
            xywh = _xywh(obj[1:])
            # ids start at 1: COCOeval stores matched ids and treats id 0 as "unmatched"
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1,
                                "category_id": int(obj[0]) + 1, "bbox": xywh,
                                "area": xywh[2] * xywh[3], "iscrowd": 0})
    if not annotations:
        raise ValueError("mAP needs ground-truth objects; the targets hold none")
    dets = [{"image_id": i + 1, "category_id": int(labels[i, q]) + 1,
             "bbox": _xywh(boxes[i, q]), "score": float(scores[i, q])}
            for i in range(len(targets)) for q in range(boxes.shape[1])]
    if not dets:
        return {"map": 0.0, "map_50": 0.0, "map_75": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        gt = COCO()
        gt.dataset = {"images": [{"id": i + 1} for i in range(len(targets))],
                      "categories": [{"id": c + 1} for c in range(num_classes)],
                      "annotations": annotations}
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dets), iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [max(float(s), 0.0) for s in ev.stats[:3]]  # -1: a class without ground truth
    return {"map": stats[0], "map_50": stats[1], "map_75": stats[2]}


def evaluate_outputs(outputs: np.ndarray, targets: np.ndarray,
                     num_classes: int) -> dict[str, float]:
    """mAP of DETR-style outputs (N, Q, C+1+4) against padded targets (N, M, 5)."""
    out = np.asarray(outputs)
    if len(out) != len(targets):
        raise ValueError(f"{len(out)} outputs for {len(targets)} target sets")
    return coco_map(*detections(out, num_classes), targets, num_classes)
