"""Detection metrics (COCO mAP via pycocotools) and the shared Hungarian matcher, in numpy.

The mAP cases are computed by hand from the COCO definition (101-point interpolated precision,
IoU thresholds 0.50:0.05:0.95), so they check that twinbench feeds pycocotools correctly (ids,
box format, scores), not only that pycocotools runs.
"""

from __future__ import annotations

import numpy as np
import pytest

from twinbench.tasks import detection_match as dm
from twinbench.tasks.detection_metrics import coco_map, detections, evaluate_outputs

C = 3  # object classes; index C of the logits is "no object"


def _targets(*images: list[tuple[float, ...]], m: int = 3) -> np.ndarray:
    y = np.zeros((len(images), m, 5), np.float32)
    y[..., 0] = -1
    for i, objs in enumerate(images):
        for j, obj in enumerate(objs):
            y[i, j] = obj
    return y


def _outputs(preds: list[list[tuple[int, float, tuple[float, ...]]]], q: int = 4) -> np.ndarray:
    """Per image, (class, confidence logit, cxcywh box) per query; other queries say no-object."""
    out = np.zeros((len(preds), q, C + 5), np.float32)
    out[..., C] = 8.0  # unused queries: confidently "no object"
    out[..., C + 1 :] = (0.5, 0.5, 0.1, 0.1)
    for i, image in enumerate(preds):
        for j, (cls, logit, box) in enumerate(image):
            out[i, j, :C + 1] = 0.0
            out[i, j, cls] = logit
            out[i, j, C + 1 :] = box
    return out


def test_hand_computed_ap_with_a_false_positive_between_true_positives() -> None:
    # 2 objects in 2 images; ranked detections TP (0.9), FP (0.8), TP (0.7): precision 1 up to
    # recall 0.5, then 2/3 up to recall 1 -> AP = (51 * 1 + 50 * 2/3) / 101 at every threshold.
    y = _targets([(0, 0.3, 0.3, 0.2, 0.2)], [(0, 0.6, 0.6, 0.3, 0.3)])
    boxes = np.array([[[0.3, 0.3, 0.2, 0.2], [0.8, 0.8, 0.1, 0.1]],
                      [[0.6, 0.6, 0.3, 0.3], [0.1, 0.1, 0.1, 0.1]]])
    scores = np.array([[0.9, 0.8], [0.7, 0.1]])
    got = coco_map(boxes, scores, np.zeros((2, 2), int), y, num_classes=1)
    expected = (51 + 50 * 2 / 3) / 101
    assert got["map"] == pytest.approx(expected) and got["map_50"] == pytest.approx(expected)


def test_iou_just_above_0_6_counts_at_three_of_ten_thresholds() -> None:
    # square 0.4 wide, shifted by 0.09: IoU = 0.31 / 0.49 = 0.633 -> matched at 0.50, 0.55, 0.60
    y = _targets([(1, 0.4, 0.4, 0.4, 0.4)])
    out = _outputs([[(1, 6.0, (0.49, 0.4, 0.4, 0.4))]])
    got = evaluate_outputs(out, y, C)
    assert got["map_50"] == pytest.approx(1.0)
    assert got["map"] == pytest.approx(0.3)
    assert got["map_75"] == pytest.approx(0.0)


def test_perfect_detections_score_one_and_padding_is_ignored() -> None:
    y = _targets([(0, 0.25, 0.25, 0.2, 0.3), (2, 0.7, 0.6, 0.3, 0.2)], [(1, 0.5, 0.5, 0.5, 0.5)])
    out = _outputs([[(0, 5.0, (0.25, 0.25, 0.2, 0.3)), (2, 5.0, (0.7, 0.6, 0.3, 0.2))],
                    [(1, 5.0, (0.5, 0.5, 0.5, 0.5))]])
    got = evaluate_outputs(out, y, C)
    assert got == pytest.approx({"map": 1.0, "map_50": 1.0, "map_75": 1.0})


def test_wrong_class_scores_zero() -> None:
    y = _targets([(0, 0.5, 0.5, 0.4, 0.4)])
    got = evaluate_outputs(_outputs([[(1, 5.0, (0.5, 0.5, 0.4, 0.4))]]), y, C)
    assert got == pytest.approx({"map": 0.0, "map_50": 0.0, "map_75": 0.0})


def test_detections_skip_the_no_object_class() -> None:
    out = np.zeros((1, 2, C + 5), np.float32)
    out[0, 0, :C + 1] = [1.0, 2.0, 0.0, 9.0]  # "no object" dominates, class 1 is the best object
    out[0, 1, :C + 1] = [0.0, 0.0, 3.0, 0.0]
    boxes, scores, labels = detections(out, C)
    assert labels.tolist() == [[1, 2]]
    p = np.exp([1.0, 2.0, 0.0, 9.0]) / np.exp([1.0, 2.0, 0.0, 9.0]).sum()
    assert scores[0, 0] == pytest.approx(p[1])
    assert boxes.shape == (1, 2, 4)


def test_bad_inputs_are_rejected() -> None:
    y = _targets([(0, 0.5, 0.5, 0.4, 0.4)])
    with pytest.raises(ValueError, match=r"\(N, queries, 3 \+ 1 \+ 4\)"):
        evaluate_outputs(np.zeros((1, 4, 5), np.float32), y, C)
    with pytest.raises(ValueError, match="ground-truth"):
        evaluate_outputs(_outputs([[]]), _targets([]), C)
    with pytest.raises(ValueError, match="2 outputs for 1"):
        evaluate_outputs(_outputs([[], []]), y, C)


def test_giou_known_values() -> None:
    a = np.array([[0.0, 0.0, 1.0, 1.0]])
    assert dm.pairwise_giou(a, a)[0, 0] == pytest.approx(1.0)
    # disjoint unit squares one apart: IoU 0, hull 3, union 2 -> -1/3
    assert dm.pairwise_giou(a, np.array([[2.0, 0.0, 3.0, 1.0]]))[0, 0] == pytest.approx(-1 / 3)
    # half overlap: inter 0.5, union 1.5, hull = union -> 1/3
    assert dm.pairwise_giou(a, np.array([[0.5, 0.0, 1.5, 1.0]]))[0, 0] == pytest.approx(1 / 3)


def test_matcher_recovers_a_permutation_and_fills_no_object() -> None:
    objs = [(2, 0.2, 0.2, 0.2, 0.2), (0, 0.7, 0.3, 0.3, 0.2), (1, 0.5, 0.8, 0.2, 0.3)]
    y = _targets(objs)
    # queries 3, 0, 1 predict objects 0, 1, 2 exactly; query 2 predicts a far-away box
    out = _outputs([[(0, 4.0, objs[1][1:]), (1, 4.0, objs[2][1:]), (0, 0.0, (0.9, 0.9, 0.1, 0.1)),
                     (2, 4.0, objs[0][1:])]])
    (q, t), = dm.hungarian_match(out, y, C)
    assert dict(zip(q.tolist(), t.tolist(), strict=True)) == {3: 0, 0: 1, 1: 2}
    classes, boxes, matched = dm.dense_targets(out, y, C)
    assert classes.tolist() == [[0, 1, C, 2]] and matched.tolist() == [[1, 1, 0, 1]]
    assert np.allclose(boxes[0, 3], objs[0][1:]) and np.allclose(boxes[0, 2], dm.DUMMY_BOX)
    loss = dm.set_loss(out, y, C)
    assert loss["l1"] == pytest.approx(0.0, abs=1e-6)
    assert loss["giou"] == pytest.approx(0.0, abs=1e-6)
    # the set loss does not depend on the order of the objects
    assert dm.set_loss(out, y[:, ::-1], C) == pytest.approx(loss)


def test_matcher_ignores_padding_and_rejects_too_many_objects() -> None:
    y = _targets([], [(1, 0.5, 0.5, 0.2, 0.2)])
    out = _outputs([[], []], q=2)
    pairs = dm.hungarian_match(out, y, C)
    assert [len(q) for q, _ in pairs] == [0, 1]
    classes, _, matched = dm.dense_targets(out, y, C)
    assert (classes[0] == C).all() and matched.sum() == 1
    with pytest.raises(ValueError, match="only 2 queries"):
        dm.hungarian_match(out, _targets([(0, 0.2, 0.2, 0.1, 0.1)] * 3), C)


def test_reference_loss_terms_by_hand() -> None:
    # one query, one object, uniform logits: CE = log(C + 1); box off by 0.1 in cx
    y = _targets([(0, 0.5, 0.5, 0.2, 0.2)], m=1)
    out = np.zeros((1, 1, C + 5), np.float32)
    out[0, 0, C + 1 :] = (0.6, 0.5, 0.2, 0.2)
    loss = dm.set_loss(out, y, C)
    g = 0.1 * 0.2 / (2 * 0.04 - 0.1 * 0.2)  # hull == union: GIoU = IoU
    assert loss["ce"] == pytest.approx(np.log(C + 1))
    assert loss["l1"] == pytest.approx(0.1, rel=1e-5)
    assert loss["giou"] == pytest.approx(1 - g, rel=1e-5)
    assert loss["loss"] == pytest.approx(np.log(C + 1) + 5 * 0.1 + 2 * (1 - g), rel=1e-5)
