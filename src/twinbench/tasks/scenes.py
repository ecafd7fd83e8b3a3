"""Procedurally generated segmentation scenes: shapes on textured, noisy backgrounds.

No segmentation data set ships with any installed package and nothing may be downloaded, so the
scenes are drawn here, seeded, in plain numpy. They are built so that a small U-Net must use
*spatial context*: a shape's colour is random and independent of its class, and the three shapes
of one scene have equal area, so only their outline says disc, square or triangle. A per-pixel
colour rule can find "something is here" but not "what it is".

Every image has its own random stream ``(tag, seed, split, index)``, so the first k images do
not depend on how many are drawn, and train and test never share a stream.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass

import numpy as np

from twinbench.errors import UserError
from twinbench.tasks.datasets import Dataset, Split, _channel_stats, _positive_int, _resize

SCENE_DATASETS: dict[str, str] = {
    "shapes": "seeded scenes of discs, squares and triangles (random colours, equal areas) on "
    "textured noisy backgrounds; 4 classes with background; no files needed",
}
CLASSES = ("background", "disc", "square", "triangle")
NUM_CLASSES = len(CLASSES)
MIN_SIZE = 8  # below this a shape is a handful of pixels and its outline carries no class

_TAG_SCENE = 0x5CE7E
_TEXTURE_GRID = 4  # low-frequency background texture: a 4x4 random grid, resized
_TEXTURE_AMP = 0.15
_NOISE = 0.06  # per-pixel noise std on every pixel, shapes included
_MIN_CONTRAST = 0.35  # Euclidean colour distance between a shape and the background mean
_RADIUS = (0.14, 0.25)  # equal-area-disc radius, as a fraction of the image size
_MAX_SHAPES = 3


@dataclass(frozen=True)
class Shape:
    """One drawn shape: class id (1 disc, 2 square, 3 triangle), centre and size in pixels."""

    cls: int
    cy: float
    cx: float
    r: float  # radius of the disc with the same area; every class gets area pi r^2
    turn: int  # triangles: quarter turns of the apex (0 up, 1 right, 2 down, 3 left)
    colour: np.ndarray  # (C,)


@dataclass(frozen=True)
class Scene:
    """A raw (un-normalised) image with its class mask and instance map."""

    image: np.ndarray  # (H, W, C) float32, values around [0, 1]
    mask: np.ndarray  # (H, W) int64 class ids, 0 = background
    instances: np.ndarray  # (H, W) int64: 0 background, i + 1 for shapes[i]
    shapes: tuple[Shape, ...]


def _triangle_vertices(s: Shape) -> np.ndarray:
    """(3, 2) (y, x) vertices of the equilateral triangle of area pi r^2 centred at s."""
    side = np.sqrt(4 * np.pi * s.r**2 / np.sqrt(3))
    circ = side / np.sqrt(3)  # circumradius
    angles = s.turn * np.pi / 2 + np.array([0.0, 2.0, 4.0]) * np.pi / 3
    return np.stack([s.cy - circ * np.cos(angles), s.cx + circ * np.sin(angles)], axis=1)


@functools.lru_cache(maxsize=8)
def _centres(size: int) -> np.ndarray:
    """(2, size, size) pixel-centre coordinates (y, x), read-only and shared."""
    grid = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    grid.flags.writeable = False
    return grid


def shape_mask(s: Shape, size: int) -> np.ndarray:
    """(size, size) bool: which pixel centres lie inside the shape."""
    yy, xx = _centres(size)
    dy, dx = yy - s.cy, xx - s.cx
    if s.cls == 1:
        return dy**2 + dx**2 <= s.r**2
    if s.cls == 2:
        half = s.r * np.sqrt(np.pi) / 2  # (2 half)^2 == pi r^2
        return (np.abs(dy) <= half) & (np.abs(dx) <= half)
    if s.cls == 3:
        v = _triangle_vertices(s)
        inside = np.ones((size, size), dtype=bool)
        for a, b in ((v[0], v[1]), (v[1], v[2]), (v[2], v[0])):
            # same side of every edge as the centroid (vertices run clockwise on screen)
            cross = (b[1] - a[1]) * (yy - a[0]) - (b[0] - a[0]) * (xx - a[1])
            inside &= cross >= 0
        return inside
    raise ValueError(f"no shape class {s.cls}; use 1 (disc), 2 (square) or 3 (triangle)")


def _extent(s: Shape) -> float:
    """Radius of a circle around the centre that holds the whole shape."""
    if s.cls == 1:
        return s.r
    if s.cls == 2:
        return s.r * np.sqrt(np.pi) / 2 * np.sqrt(2)
    return np.sqrt(4 * np.pi * s.r**2 / np.sqrt(3)) / np.sqrt(3)


def render_scene(rng: np.random.Generator, size: int, channels: int = 3,
                 noise: float = _NOISE, texture: float = _TEXTURE_AMP) -> Scene:
    """Draw 1-3 non-overlapping shapes, each fully inside the image, over a textured background."""
    base = rng.uniform(0.2, 0.8, channels)
    grid = rng.standard_normal((1, _TEXTURE_GRID, _TEXTURE_GRID, channels))
    image = base + texture * _resize(grid.astype(np.float32), size)[0]  # (H, W, C)
    mask = np.zeros((size, size), dtype=np.int64)
    instances = np.zeros((size, size), dtype=np.int64)
    shapes: list[Shape] = []
    for _ in range(int(rng.integers(1, _MAX_SHAPES + 1))):
        # class and size first, then only the position is re-drawn: retrying the class too
        # would under-sample the bulkier triangles
        cls, turn = int(rng.integers(1, NUM_CLASSES)), int(rng.integers(0, 4))
        r = float(rng.uniform(*_RADIUS)) * size
        ext = _extent(Shape(cls, 0.0, 0.0, r, turn, base))
        if 2 * ext >= size:
            continue
        colour = rng.uniform(0.0, 1.0, channels)
        while np.linalg.norm(colour - base) < _MIN_CONTRAST * np.sqrt(channels / 3):
            colour = rng.uniform(0.0, 1.0, channels)
        for _attempt in range(20):  # rejection sampling for a free spot inside the image
            cy, cx = (float(v) for v in rng.uniform(ext, size - ext, 2))
            if all(np.hypot(cy - o.cy, cx - o.cx) >= ext + _extent(o) + 1 for o in shapes):
                break
        else:
            continue
        shape = Shape(cls, cy, cx, r, turn, colour)
        inside = shape_mask(shape, size)
        image[inside] = colour
        mask[inside] = cls
        instances[inside] = len(shapes) + 1
        shapes.append(shape)
    image = image + noise * rng.standard_normal(image.shape)
    return Scene(image.astype(np.float32), mask, instances, tuple(shapes))


def _draw(n: int, size: int, channels: int, seed: int, split: int) -> tuple[np.ndarray, ...]:
    x = np.empty((n, size, size, channels), dtype=np.float32)
    y = np.empty((n, size, size), dtype=np.int64)
    for i in range(n):
        scene = render_scene(np.random.default_rng([_TAG_SCENE, seed, split, i]), size, channels)
        x[i], y[i] = scene.image, scene.mask
    return x, y


def load_scene_dataset(
    name: str,
    *,
    image_size: int = 32,
    channels: int = 3,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
) -> Dataset:
    """Draw the train and test scenes; x NHWC float32 normalised with train stats, y (N, H, W)."""
    if name not in SCENE_DATASETS:
        near = difflib.get_close_matches(str(name), list(SCENE_DATASETS), n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise UserError(f"unknown segmentation data set {name!r}; {hint}"
                        f"choose one of: {', '.join(SCENE_DATASETS)}")
    size = _positive_int(image_size, "image_size")
    if size < MIN_SIZE:
        raise UserError(f"image_size {size} is too small for shape scenes; use >= {MIN_SIZE}")
    chans = _positive_int(channels, "channels")
    n_tr = 1024 if n_train is None else _positive_int(n_train, "n_train")
    n_te = 256 if n_test is None else _positive_int(n_test, "n_test")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UserError(f"seed must be an integer >= 0, got {seed!r}")
    x_tr, y_tr = _draw(n_tr, size, chans, int(seed), 1)
    x_te, y_te = _draw(n_te, size, chans, int(seed), 2)
    mean, std = _channel_stats(x_tr)
    splits = []
    for x, y in ((x_tr, y_tr), (x_te, y_te)):
        x -= mean
        x *= 1.0 / std
        x.flags.writeable = False  # neither twin may alter data the other one will see
        y.flags.writeable = False
        splits.append(Split(x=x, y=y))
    return Dataset(name, splits[0], splits[1], NUM_CLASSES, (size, size, chans))
