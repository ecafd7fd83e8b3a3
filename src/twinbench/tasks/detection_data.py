"""Object-detection data: box scenes drawn here, and COCO-style annotation files read from disk.

Targets are variable-length per image, but scenarios slice and reorder ``y`` like any array, so
they are *padded*: ``y`` is (N, M, 5) float32 with rows ``(class, cx, cy, w, h)``, boxes
normalised to [0, 1] by the image's width and height, and class -1 on padding rows
(:func:`split_targets` gives the (N, M) classes and (N, M, 4) boxes apart).

* ``shapes``: the segmentation scenes of ``twinbench.tasks.scenes`` (discs, squares, triangles,
  random colours, equal areas, textured backgrounds), with each shape's tight pixel box from the
  instance map; classes 0 disc, 1 square, 2 triangle.
* ``coco``: a folder with ``train.json`` and ``test.json`` (or ``val.json``), or COCO's own
  ``annotations/instances_train*.json`` and ``instances_val*.json``; ``bbox`` is
  ``[x, y, w, h]`` in pixels, ``iscrowd`` objects are skipped (as DETR does). Images are ``.npy``
  arrays (H, W[, C]), or PNG/JPEG when Pillow is installed (it is not in the pinned set); every
  image is resized to ``image_size`` squared, and its boxes stay normalised.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from twinbench.errors import UserError
from twinbench.tasks.datasets import Dataset, Split, _channel_stats, _positive_int, _resize
from twinbench.tasks.scenes import _TAG_SCENE, MIN_SIZE, render_scene

DETECTION_DATASETS: dict[str, str] = {
    "shapes": "seeded scenes of discs, squares and triangles with their boxes (1-3 per image); "
    "3 classes; no files needed",
    "coco": "COCO-style JSON boxes (train.json + test.json, or annotations/instances_*.json) "
    "with .npy images (PNG/JPEG need Pillow); needs --data-path",
}
DETECTION_FILE_DATASETS = frozenset({"coco"})
SHAPE_CLASSES = ("disc", "square", "triangle")
MAX_SHAPES = 3
_STREAM_DETECTION = 10  # scene streams apart from the segmentation set's (1 train, 2 test)


def split_targets(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, M, 5) padded targets -> classes (N, M) int64 (-1 = padding), boxes (N, M, 4)."""
    y = np.asarray(y)
    return y[..., 0].astype(np.int64), y[..., 1:]


def pack_targets(objects: list[list[tuple[int, float, float, float, float]]],
                 max_objects: int) -> np.ndarray:
    """Per-image lists of ``(class, cx, cy, w, h)`` -> padded (N, max_objects, 5) float32."""
    y = np.zeros((len(objects), max(max_objects, 1), 5), np.float32)
    y[..., 0] = -1
    for i, objs in enumerate(objects):
        if len(objs) > y.shape[1]:
            raise ValueError(f"image {i} has {len(objs)} objects, more than {y.shape[1]}")
        for j, obj in enumerate(objs):
            y[i, j] = obj
    return y


def _scene_boxes(instances: np.ndarray, classes: list[int]) -> list[tuple]:
    """Tight pixel-edge box of each instance, normalised cxcywh."""
    size = instances.shape[0]
    out = []
    for k, cls in enumerate(classes):
        rows, cols = np.nonzero(instances == k + 1)
        if rows.size == 0:
            continue
        x0, x1, y0, y1 = cols.min(), cols.max() + 1, rows.min(), rows.max() + 1
        out.append((cls, (x0 + x1) / 2 / size, (y0 + y1) / 2 / size, (x1 - x0) / size,
                    (y1 - y0) / size))
    return out


def _draw_scenes(n: int, size: int, channels: int, seed: int,
                 split: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.empty((n, size, size, channels), dtype=np.float32)
    objects = []
    for i in range(n):
        rng = np.random.default_rng([_TAG_SCENE, seed, _STREAM_DETECTION + split, i])
        scene = render_scene(rng, size, channels)
        x[i] = scene.image
        objects.append(_scene_boxes(scene.instances, [s.cls - 1 for s in scene.shapes]))
    return x, pack_targets(objects, MAX_SHAPES)


def load_detection_dataset(name: str, *, image_size: int = 32, n_train: int | None = None,
                           n_test: int | None = None, seed: int = 0,
                           path: str | None = None) -> Dataset:
    """x NHWC float32 normalised with train statistics, y (N, M, 5) padded targets."""
    size = _positive_int(image_size, "image_size")
    n_tr = None if n_train is None else _positive_int(n_train, "n_train")
    n_te = None if n_test is None else _positive_int(n_test, "n_test")
    if name == "shapes":
        if size < MIN_SIZE:
            raise UserError(f"image_size {size} is too small for shape scenes; use >= {MIN_SIZE}")
        train = _draw_scenes(n_tr or 1024, size, 3, int(seed), 1)
        test = _draw_scenes(n_te or 256, size, 3, int(seed), 2)
        classes: tuple[str, ...] = SHAPE_CLASSES
    elif name == "coco":
        if not path:
            raise UserError("the coco data set reads your files: pass --data-path FOLDER "
                            "(or data_path in the study file)")
        train, test, classes = read_coco_folder(Path(path).expanduser(), size, n_tr, n_te)
    else:
        raise UserError(f"unknown detection data set {name!r}; choose one of: "
                        f"{', '.join(DETECTION_DATASETS)}")
    mean, std = _channel_stats(train[0])
    splits = []
    for x, y in (train, test):
        x = (x - mean) * (1.0 / std)
        x = x.astype(np.float32)
        x.flags.writeable = False  # neither twin may alter data the other one will see
        y.flags.writeable = False
        splits.append(Split(x=x, y=y))
    return Dataset(name, splits[0], splits[1], len(classes), (size, size, 3))


def _annotation_file(root: Path, split: str) -> Path:
    names = ("train",) if split == "train" else ("test", "val")
    found = [root / f"{n}.json" for n in names if (root / f"{n}.json").is_file()]
    for n in names:
        found += sorted((root / "annotations").glob(f"instances_{n}*.json"))
    if not found:
        want = " or ".join(f"{n}.json" for n in names)
        raise UserError(f"{root}: no {split} annotations; expected {want} or "
                        f"annotations/instances_{names[-1]}*.json")
    return found[0]


def read_coco_folder(root: Path, size: int, n_train: int | None, n_test: int | None):
    """((x, y) train, (x, y) test, class names); categories from the train file, in id order."""
    if not root.is_dir():
        raise UserError(f"{root}: no such folder; the coco data set wants a folder with "
                        "train.json and test.json (COCO-style) and the images")
    files = {s: _annotation_file(root, s) for s in ("train", "test")}
    docs = {s: _read_json(f) for s, f in files.items()}
    cats = sorted(int(c["id"]) for c in docs["train"]["categories"])
    if not cats:
        raise UserError(f"{files['train']}: 'categories' is empty")
    index = {c: i for i, c in enumerate(cats)}
    names = {int(c["id"]): str(c.get("name", c["id"])) for c in docs["train"]["categories"]}
    parts = {s: _read_split(files[s], docs[s], root, size, index, n)
             for s, n in (("train", n_train), ("test", n_test))}
    m = max(len(o) for s in parts for o in parts[s][1])
    out = [(x, pack_targets(objs, m)) for x, objs in parts.values()]
    return out[0], out[1], tuple(names[c] for c in cats)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a readable JSON file ({exc})") from None
    keys = doc if isinstance(doc, dict) else {}
    missing = [k for k in ("images", "annotations", "categories") if k not in keys]
    if missing:
        raise UserError(f"{path}: a COCO annotation file needs the keys images, annotations "
                        f"and categories; missing {missing}")
    return doc


def _read_split(path: Path, doc: dict[str, Any], root: Path, size: int, index: dict[int, int],
                n: int | None) -> tuple[np.ndarray, list[list[tuple]]]:
    images = sorted(doc["images"], key=lambda im: int(im["id"]))
    if not images:
        raise UserError(f"{path}: 'images' is empty")
    if n is not None:
        if n > len(images):
            raise UserError(f"{path} has only {len(images)} images, {n} asked for; "
                            f"use n_train/n_test <= {len(images)}")
        images = images[:n]
    by_image: dict[int, list[dict[str, Any]]] = {}
    for ann in doc["annotations"]:
        by_image.setdefault(int(ann["image_id"]), []).append(ann)
    x = np.empty((len(images), size, size, 3), np.float32)
    objects = []
    for i, im in enumerate(images):
        file = _find_image(path, root, str(im["file_name"]))
        pixels = read_image(file)  # (H, W, 3)
        h, w = pixels.shape[:2]
        if (im.get("height", h), im.get("width", w)) != (h, w):
            raise UserError(f"{file} is {h}x{w} pixels but {path} says "
                            f"{im.get('height')}x{im.get('width')}")
        x[i] = _resize(pixels[None], size)[0]
        objs = []
        for ann in by_image.get(int(im["id"]), []):
            if ann.get("iscrowd", 0):
                continue
            cat = int(ann["category_id"])
            if cat not in index:
                raise UserError(f"{path}: annotation {ann.get('id')} has category {cat}, "
                                "which the train file's categories do not list")
            bx, by, bw, bh = (float(v) for v in ann["bbox"])
            if not np.isfinite([bx, by, bw, bh]).all():
                raise UserError(f"{path}: annotation {ann.get('id')} has a NaN or inf in its "
                                f"bbox {ann['bbox']}; fix the file")
            if bw <= 0 or bh <= 0:
                raise UserError(f"{path}: annotation {ann.get('id')} has an empty bbox "
                                f"{ann['bbox']}; COCO boxes are [x, y, width, height]")
            x0, y0 = np.clip([bx / w, by / h], 0, 1)
            x1, y1 = np.clip([(bx + bw) / w, (by + bh) / h], 0, 1)
            objs.append((index[cat], (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0))
        objects.append(objs)
    return x, objects


def _find_image(ann_file: Path, root: Path, name: str) -> Path:
    tag = ann_file.stem.removeprefix("instances_")  # COCO: instances_val2017 -> val2017/
    for base in (ann_file.parent, root, root / tag, root / "images"):
        if (base / name).is_file():
            return base / name
    raise UserError(f"{ann_file}: image {name!r} not found next to it, in {root} or in "
                    f"{root / tag}")


def read_image(path: Path) -> np.ndarray:
    """An image file as (H, W, 3) float32 in [0, 1] (uint8 scaled; float arrays kept)."""
    if path.suffix.lower() == ".npy":
        try:
            a = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: not a readable .npy array ({exc})") from None
    else:
        try:
            from PIL import Image
        except ImportError:
            raise UserError(f"{path}: reading {path.suffix} images needs Pillow, which is not "
                            "installed (pip install pillow), or store images as .npy") from None
        with Image.open(path) as im:
            a = np.asarray(im.convert("RGB"))
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[-1] not in (1, 3, 4):
        raise UserError(f"{path}: an image must be (H, W), (H, W, 1|3|4), got {a.shape}")
    a = np.repeat(a, 3, -1) if a.shape[-1] == 1 else a[..., :3]
    if a.dtype.kind in "fc" and not np.isfinite(a).all():
        raise UserError(f"{path}: the image contains NaN or inf values; fix or re-create it")
    return (a / 255.0 if a.dtype == np.uint8 else a).astype(np.float32)
