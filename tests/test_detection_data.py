"""Detection data: the generated box scenes, the COCO-style loader (on files written here), the
padded-target layout, and the task's registration."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from twinbench.errors import UserError
from twinbench.plan import plan
from twinbench.study import load_study
from twinbench.tasks import TASKS, object_detection
from twinbench.tasks.detection_data import (
    _STREAM_DETECTION,
    load_detection_dataset,
    pack_targets,
    split_targets,
)
from twinbench.tasks.scenes import _TAG_SCENE, render_scene


def test_shapes_layout_and_determinism() -> None:
    ds = load_detection_dataset("shapes", image_size=24, n_train=40, n_test=12, seed=3)
    assert ds.train.x.shape == (40, 24, 24, 3) and ds.train.y.shape == (40, 3, 5)
    assert ds.test.y.shape == (12, 3, 5) and ds.num_classes == 3
    assert ds.input_shape == (24, 24, 3)
    cls, boxes = split_targets(ds.train.y)
    real = cls >= 0
    assert set(np.unique(cls[real])) == {0, 1, 2} and np.all(cls[~real] == -1)
    assert real.sum(1).min() >= 1 and np.all((boxes[real] >= 0) & (boxes[real] <= 1))
    assert np.all(boxes[real][:, 2:] > 0)
    assert abs(float(ds.train.x.mean())) < 0.05  # normalised with train statistics
    again = load_detection_dataset("shapes", image_size=24, n_train=10, n_test=12, seed=3)
    assert np.array_equal(again.train.y, ds.train.y[:10])  # first k do not depend on n
    assert np.array_equal(again.test.y, ds.test.y)  # (x is normalised with train statistics)
    other = load_detection_dataset("shapes", image_size=24, n_train=10, n_test=12, seed=4)
    assert not np.array_equal(other.train.y, again.train.y)
    assert not ds.train.x.flags.writeable and not ds.train.y.flags.writeable


def test_shape_boxes_are_tight_around_the_drawn_pixels() -> None:
    size = 32
    ds = load_detection_dataset("shapes", image_size=size, n_train=6, n_test=1, seed=0)
    for i in range(6):  # re-draw the same scenes and compare with their instance maps
        scene = render_scene(np.random.default_rng([_TAG_SCENE, 0, _STREAM_DETECTION + 1, i]),
                             size)
        cls, boxes = split_targets(ds.train.y[i : i + 1])
        assert (cls[0] >= 0).sum() == len(scene.shapes)
        for k, shape in enumerate(scene.shapes):
            assert cls[0, k] == shape.cls - 1
            rows, cols = np.nonzero(scene.instances == k + 1)
            cx, cy, w, h = boxes[0, k] * size
            assert (cx - w / 2, cx + w / 2) == pytest.approx((cols.min(), cols.max() + 1))
            assert (cy - h / 2, cy + h / 2) == pytest.approx((rows.min(), rows.max() + 1))


def test_pack_and_split_targets() -> None:
    y = pack_targets([[(1, 0.5, 0.5, 0.2, 0.2)], []], max_objects=2)
    assert y.shape == (2, 2, 5) and y.dtype == np.float32
    cls, boxes = split_targets(y)
    assert cls.tolist() == [[1, -1], [-1, -1]] and boxes[0, 0].tolist() == pytest.approx(
        [0.5, 0.5, 0.2, 0.2])
    with pytest.raises(ValueError, match="3 objects"):
        pack_targets([[(0, 0.5, 0.5, 0.1, 0.1)] * 3], max_objects=2)


def _coco(root: Path, split: str, images: list[tuple[int, str, np.ndarray]],
          anns: list[dict], cats=((5, "cat"), (9, "dog"))) -> None:
    for _, name, pixels in images:
        np.save(root / name, pixels)
    doc = {"images": [{"id": i, "file_name": n, "height": p.shape[0], "width": p.shape[1]}
                      for i, n, p in images],
           "annotations": anns, "categories": [{"id": c, "name": n} for c, n in cats]}
    (root / f"{split}.json").write_text(json.dumps(doc))


def _ann(i: int, image: int, cat: int, bbox: list[float], crowd: int = 0) -> dict:
    return {"id": i, "image_id": image, "category_id": cat, "bbox": bbox, "iscrowd": crowd}


@pytest.fixture
def coco_dir(tmp_path: Path) -> Path:
    wide = np.zeros((10, 20, 3), np.uint8)  # H 10, W 20: boxes normalise per axis
    wide[2:6, 4:12] = 255
    grey = np.full((8, 8), 0.5, np.float32)  # a single-channel float image
    _coco(tmp_path, "train", [(7, "a.npy", wide), (3, "b.npy", grey)],
          [_ann(1, 7, 9, [4, 2, 8, 4]), _ann(2, 7, 5, [0, 0, 20, 10], crowd=1),
           _ann(3, 3, 5, [0, 0, 4, 8]), _ann(4, 3, 9, [4, 4, 4, 4])])
    _coco(tmp_path, "test", [(1, "c.npy", wide)], [_ann(1, 1, 5, [10, 5, 10, 5])])
    return tmp_path


def test_coco_loader_reads_boxes_classes_and_images(coco_dir: Path) -> None:
    settings = SimpleNamespace(image_size=16, seed=0, data_path=str(coco_dir))
    ds = object_detection.load("coco", settings)
    assert ds.num_classes == 2 and ds.input_shape == (16, 16, 3)
    assert ds.train.x.shape == (2, 16, 16, 3) and ds.train.y.shape == (2, 2, 5)
    # images in id order: b (id 3) first; categories 5 -> 0, 9 -> 1; the crowd box is skipped
    close = np.testing.assert_allclose
    close(ds.train.y[0], [[0, 0.25, 0.5, 0.5, 1.0], [1, 0.75, 0.75, 0.5, 0.5]], atol=1e-6)
    close(ds.train.y[1], [[1, 0.4, 0.4, 0.4, 0.4], [-1, 0, 0, 0, 0]], atol=1e-6)
    close(ds.test.y[0, 0], [0, 0.75, 0.75, 0.5, 0.5], atol=1e-6)
    # the bright rectangle of image a lands where its box says, after the resize to 16x16
    a = ds.train.x[1].mean(-1)
    cx, cy = ds.train.y[1, 0, 1] * 16, ds.train.y[1, 0, 2] * 16
    assert a[int(cy), int(cx)] > a[1, 15]
    subset = object_detection.load("coco", settings, n_train=1, n_test=1)
    assert len(subset.train.y) == 1


def test_coco_layout_of_the_real_data_set(tmp_path: Path) -> None:
    (tmp_path / "annotations").mkdir()
    for split in ("train2017", "val2017"):
        (tmp_path / split).mkdir()
        _coco(tmp_path / split, "x", [(1, "img.npy", np.zeros((6, 6, 3), np.uint8))],
              [_ann(1, 1, 5, [1, 1, 2, 2])])
        (tmp_path / split / "x.json").rename(tmp_path / "annotations" / f"instances_{split}.json")
    ds = load_detection_dataset("coco", image_size=8, path=str(tmp_path))
    assert ds.test.y[0, 0].tolist() == pytest.approx([0, 2 / 6, 2 / 6, 2 / 6, 2 / 6])


def test_coco_loader_errors_are_one_line(coco_dir: Path, tmp_path: Path) -> None:
    def expect(path: Path | None, expected: str, **kw) -> None:
        with pytest.raises(UserError) as exc:
            load_detection_dataset("coco", image_size=8, path=None if path is None
                                   else str(path), **kw)
        assert expected in str(exc.value) and "\n" not in str(exc.value)

    expect(None, "--data-path")
    expect(coco_dir / "nope", "no such folder")
    expect(coco_dir, "only 2 images", n_train=5)
    bad = tmp_path / "bad"
    bad.mkdir()
    expect(bad, "no train annotations")
    img = [(1, "a.npy", np.zeros((4, 4, 3), np.uint8))]
    _coco(bad, "train", img, [_ann(1, 1, 5, [0, 0, 0, 2])])
    _coco(bad, "test", img, [_ann(1, 1, 7, [0, 0, 2, 2])])
    expect(bad, "empty bbox")
    _coco(bad, "train", img, [])
    expect(bad, "category 7")
    (bad / "test.json").write_text(json.dumps({"images": [{"id": 1, "file_name": "zz.npy"}],
                                               "annotations": [], "categories": []}))
    expect(bad, "'zz.npy' not found")
    (bad / "test.json").write_text("{not json")
    expect(bad, "not a readable JSON")
    (bad / "test.json").write_text("[]")
    expect(bad, "needs the keys images, annotations and categories")


def test_png_without_pillow_says_what_to_do(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)  # as if Pillow were not installed
    from twinbench.tasks.detection_data import read_image

    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(UserError, match="needs Pillow"):
        read_image(tmp_path / "a.png")


def test_task_is_registered_and_plans() -> None:
    spec = TASKS["object-detection"]
    assert spec.metric == "map" and {"shapes", "coco"} <= set(spec.datasets)
    study = load_study(preset="tiny", overrides={"tasks": ["object-detection"],
                                                 "frameworks": ["pytorch", "keras-tf"],
                                                 "scenarios": ["train", "accuracy"]})
    assert study.selected_models() == ["detr"]
    jobs = [j.job_id for j in plan(study)]
    assert "object-detection/detr/keras-tf/parity" in jobs
    assert "object-detection/detr/pytorch/accuracy" in jobs


def test_evaluate_scores_perfect_outputs_from_the_targets() -> None:
    ds = load_detection_dataset("shapes", image_size=16, n_train=4, n_test=8)
    y = ds.test.y
    out = np.zeros((len(y), 4, 3 + 5), np.float32)
    out[..., 3] = 5.0  # every query "no object" ...
    out[..., 4:] = 0.5
    cls, boxes = split_targets(y)
    for i, j in zip(*np.nonzero(cls >= 0), strict=True):  # ... except one per object
        out[i, j, :4] = 0.0
        out[i, j, cls[i, j]] = 5.0
        out[i, j, 4:] = boxes[i, j]
    assert object_detection.evaluate(out, y, 3)["map"] == pytest.approx(1.0)
