"""Segmentation scenes and the semantic-segmentation task: determinism, shapes, masks that match
what was drawn, learnability (the class is in the outline, not in the colour), and evaluate()."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from scipy import ndimage

from twinbench.errors import UserError
from twinbench.tasks import TASKS, task_module
from twinbench.tasks.metrics import mean_iou
from twinbench.tasks.scenes import (
    NUM_CLASSES,
    SCENE_DATASETS,
    Shape,
    load_scene_dataset,
    render_scene,
    shape_mask,
)
from twinbench.tasks.semantic_segmentation import evaluate, load


@pytest.fixture(scope="module")
def ds32():
    return load_scene_dataset("shapes", image_size=32, n_train=256, n_test=128, seed=0)


def _one_hot_logits(pred: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    return np.eye(num_classes, dtype=np.float32)[pred] * 5.0  # (N, H, W, C)


# ------------------------------------------------------------------ data set contract


def test_shapes_dtypes_normalisation_and_read_only(ds32) -> None:
    assert ds32.num_classes == NUM_CLASSES == 4 and ds32.input_shape == (32, 32, 3)
    for split, n in ((ds32.train, 256), (ds32.test, 128)):
        assert split.x.shape == (n, 32, 32, 3) and split.x.dtype == np.float32
        assert split.y.shape == (n, 32, 32) and split.y.dtype == np.int64
        assert split.y.min() == 0 and split.y.max() == NUM_CLASSES - 1
        assert not split.x.flags.writeable and not split.y.flags.writeable
    stats = ds32.train.x.astype(np.float64)
    np.testing.assert_allclose(stats.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(stats.std(axis=(0, 1, 2)), 1.0, atol=1e-3)


def test_deterministic_seeded_and_prefix_stable(ds32) -> None:
    again = load_scene_dataset("shapes", image_size=32, n_train=256, n_test=128, seed=0)
    np.testing.assert_array_equal(ds32.train.x, again.train.x)
    np.testing.assert_array_equal(ds32.test.y, again.test.y)
    other = load_scene_dataset("shapes", image_size=32, n_train=256, n_test=128, seed=1)
    assert not np.array_equal(ds32.train.y, other.train.y)
    assert not np.array_equal(ds32.train.y[:128], ds32.test.y)  # separate streams
    # each scene has its own stream: fewer scenes are a prefix (masks; x is re-normalised)
    fewer = load_scene_dataset("shapes", image_size=32, n_train=64, n_test=16, seed=0)
    np.testing.assert_array_equal(fewer.train.y, ds32.train.y[:64])
    np.testing.assert_array_equal(fewer.test.y, ds32.test.y[:16])


def test_classes_are_balanced_and_scenes_hold_one_to_three_shapes(ds32) -> None:
    frac = np.bincount(ds32.train.y.ravel(), minlength=4) / ds32.train.y.size
    assert 0.6 < frac[0] < 0.95  # mostly background, as in real scenes
    shapes = frac[1:] / frac[1:].sum()
    assert shapes.min() > 0.2, f"shape classes unbalanced: {shapes}"
    counts = [len(render_scene(np.random.default_rng(i), 32).shapes) for i in range(100)]
    assert set(counts) == {1, 2, 3}


def test_task_registry_and_module_load() -> None:
    spec = TASKS["semantic-segmentation"]
    assert spec.metric == "mean_iou" and spec.datasets == SCENE_DATASETS
    assert spec.train_dataset == spec.eval_dataset == "shapes"
    settings = SimpleNamespace(image_size=16, seed=3, data_path=None)
    ds = task_module("semantic-segmentation").load("shapes", settings, n_train=8, n_test=4)
    assert ds.train.x.shape == (8, 16, 16, 3) and ds.test.y.shape == (4, 16, 16)
    direct = load_scene_dataset("shapes", image_size=16, n_train=8, n_test=4, seed=3)
    np.testing.assert_array_equal(ds.train.y, direct.train.y)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"name": "shape"}, "did you mean 'shapes'?"),
        ({"name": "digits"}, "unknown segmentation data set 'digits'"),
        ({"image_size": 4}, "image_size 4 is too small"),
        ({"image_size": 0}, "image_size must be a positive integer"),
        ({"n_train": 0}, "n_train must be a positive integer"),
        ({"n_test": True}, "n_test must be a positive integer"),
        ({"seed": -1}, "seed must be an integer >= 0"),
    ],
)
def test_bad_inputs_are_one_line_user_errors(kwargs: dict, needle: str) -> None:
    args = {"name": "shapes", "image_size": 16, "n_train": 4, "n_test": 4, "seed": 0, **kwargs}
    name = args.pop("name")
    with pytest.raises(UserError) as exc:
        load_scene_dataset(name, **args)
    assert needle in str(exc.value) and "\n" not in str(exc.value)


# ------------------------------------------------------------------ masks match the drawing


@pytest.mark.parametrize("cls", [1, 2, 3])
def test_shape_geometry_equal_areas_centred(cls: int) -> None:
    for turn in range(4):
        s = Shape(cls, 50.3, 49.7, 20.0, turn, np.zeros(3))
        m = shape_mask(s, 100)
        assert abs(m.sum() / (np.pi * 20.0**2) - 1) < 0.03  # every class has area pi r^2
        ys, xs = np.nonzero(m)
        assert abs(ys.mean() + 0.5 - 50.3) < 1 and abs(xs.mean() + 0.5 - 49.7) < 1


def test_triangles_point_where_turn_says() -> None:
    widths = {}
    for turn in range(4):
        m = shape_mask(Shape(3, 50.0, 50.0, 20.0, turn, np.zeros(3)), 100)
        rows, cols = m.sum(axis=1), m.sum(axis=0)
        rows, cols = rows[rows > 0], cols[cols > 0]
        widths[turn] = (rows[0] < rows[-1], cols[0] < cols[-1])  # narrow top? narrow left?
    assert widths[0][0] and not widths[2][0]  # apex up, apex down
    assert not widths[1][1] and widths[3][1]  # apex right, apex left


def test_masks_match_drawn_shapes_pixel_for_pixel() -> None:
    for i in range(40):
        scene = render_scene(np.random.default_rng([7, i]), 24, noise=0.0, texture=0.0)
        background = scene.image[scene.instances == 0]
        assert np.ptp(background, axis=0).max() < 1e-6  # flat background without texture
        assert np.array_equal(scene.mask > 0, scene.instances > 0)
        for k, s in enumerate(scene.shapes, start=1):
            drawn = scene.instances == k
            # no occlusion, fully inside: the instance is exactly the shape's own mask
            np.testing.assert_array_equal(drawn, shape_mask(s, 24))
            assert np.all(scene.mask[drawn] == s.cls)
            np.testing.assert_allclose(scene.image[drawn], np.broadcast_to(
                s.colour.astype(np.float32), (drawn.sum(), 3)))
            assert np.linalg.norm(s.colour - background[0]) >= 0.35 - 1e-6  # visible


# ------------------------------------------------------------------ learnable, and not trivially


def _outline_rule(fg: np.ndarray) -> np.ndarray:
    """Classify each connected foreground blob by how much of its bounding box it fills:
    square ~1, disc ~pi/4, triangle ~1/2. Uses the outline only, never the colour."""
    pred = np.zeros(fg.shape, dtype=np.int64)
    for i in range(len(fg)):
        labels, _ = ndimage.label(fg[i])
        for k, box in enumerate(ndimage.find_objects(labels), start=1):
            blob = labels[box] == k
            fill = blob.sum() / blob.size
            pred[i][box][blob] = 2 if fill > 0.9 else 1 if fill > 0.64 else 3
    return pred


def test_class_lives_in_the_outline_not_in_the_colour(ds32) -> None:
    y_tr, y_te = ds32.train.y, ds32.test.y
    assert mean_iou(y_te, y_te, 4) == 1.0
    all_background = mean_iou(np.zeros_like(y_te), y_te, 4)
    # per-pixel baseline: nearest class-mean colour, fitted on the training pixels
    px_tr, px_te = ds32.train.x.reshape(-1, 3), ds32.test.x.reshape(-1, 3)
    means = np.stack([px_tr[y_tr.ravel() == c].mean(axis=0) for c in range(4)])
    colour_rule = ((px_te[:, None] - means[None]) ** 2).sum(-1).argmin(1).reshape(y_te.shape)
    per_pixel = mean_iou(colour_rule, y_te, 4)
    # the outline of the true foreground alone recovers the classes
    outline = mean_iou(_outline_rule(y_te > 0), y_te, 4)
    print(f"\nmIoU: all-background {all_background:.3f}, per-pixel colour {per_pixel:.3f}, "
          f"outline rule {outline:.3f}")
    assert all_background < 0.25 and per_pixel < 0.3
    assert outline > 0.85 and outline > per_pixel + 0.5


# ------------------------------------------------------------------ evaluate()


def test_evaluate_hand_cases() -> None:
    y = np.array([[[0, 1], [2, 3]]])  # (1, 2, 2)
    perfect = evaluate(_one_hot_logits(y), y, 4)
    assert perfect == {"mean_iou": 1.0, "pixel_accuracy": 1.0}
    # class 2 predicted on the class-3 pixel: per-class IoU 1, 1, 1/2, 0
    got = evaluate(_one_hot_logits(np.array([[[0, 1], [2, 2]]])), y, 4)
    assert got["pixel_accuracy"] == pytest.approx(0.75)
    assert got["mean_iou"] == pytest.approx((1 + 1 + 0.5 + 0) / 4)
    bg = evaluate(_one_hot_logits(np.zeros_like(y)), y, 4)
    assert bg["mean_iou"] == pytest.approx(0.25 / 4) and bg["pixel_accuracy"] == 0.25
    assert list(perfect) == ["mean_iou", "pixel_accuracy"]  # headline metric first


def test_evaluate_rejects_channels_first_and_mismatched_shapes() -> None:
    y = np.zeros((2, 8, 8), dtype=np.int64)
    with pytest.raises(ValueError, match="channels-first"):
        evaluate(np.zeros((2, 4, 8, 8), np.float32), y, 4)  # NCHW
    with pytest.raises(ValueError, match=r"\(N, H, W, 4\)"):
        evaluate(np.zeros((2, 8, 8, 3), np.float32), y, 4)
    with pytest.raises(ValueError):
        evaluate(np.zeros((2, 8, 8), np.float32), y, 4)


def test_load_ignores_a_data_path_meant_for_file_data_sets() -> None:
    settings = SimpleNamespace(image_size=16, seed=0, data_path="/nonexistent/cifar")
    assert load("shapes", settings, n_train=2, n_test=2).train.x.shape == (2, 16, 16, 3)
