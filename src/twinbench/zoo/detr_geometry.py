"""Framework-neutral pieces of the DETR twins: feature-map size and sine position encodings.

Kept apart from the twin files so the Keras twin uses them without importing torch, and both
twins add the *same* float32 numbers (a constant, not a weight: it is not in the canonical
weights and needs no transfer).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from twinbench.errors import UserError


def feature_size(image: int, stages: int) -> int:
    """Side of the backbone's output: stage 1 keeps the size, each later stage halves it
    (3x3 stride-2 convs padded by 1 and 1x1 stride-2 shortcuts both give ceil(n / 2))."""
    for _ in range(stages - 1):
        image = (image + 1) // 2
    return image


def sine_positions(h: int, w: int, dim: int, temperature: float = 10000.0) -> np.ndarray:
    """DETR's 2-D sine encoding (PositionEmbeddingSine, normalised) -> (h*w, dim) float32.

    The first dim/2 channels encode the row, the rest the column, each as interleaved
    sin/cos pairs of geometrically spaced frequencies; rows of the result follow the row-major
    flattening of the feature map, as both twins flatten it.
    """
    npf = dim // 2
    freq = temperature ** (2 * (np.arange(npf) // 2) / npf)  # (npf,)
    y = (np.arange(h) + 0.5) / h * 2 * np.pi  # pixel centres in (0, 2 pi)
    x = (np.arange(w) + 0.5) / w * 2 * np.pi

    def encode(v: np.ndarray) -> np.ndarray:
        a = v[:, None] / freq  # (n, npf)
        return np.where(np.arange(npf) % 2 == 0, np.sin(a), np.cos(a))

    pos_y = np.broadcast_to(encode(y)[:, None, :], (h, w, npf))
    pos_x = np.broadcast_to(encode(x)[None, :, :], (h, w, npf))
    return np.concatenate([pos_y, pos_x], axis=-1).reshape(h * w, dim).astype(np.float32)


def detr_config(size: dict[str, Any], input_shape: tuple[int, ...]) -> dict[str, Any]:
    """A registry size as the twins' keyword arguments, validated against the input."""
    ints = ("dim", "heads", "enc_layers", "dec_layers", "ffn", "queries")
    cfg = {"widths": tuple(int(w) for w in size["widths"]),
           "blocks": tuple(int(b) for b in size["blocks"]), **{k: int(size[k]) for k in ints}}
    if cfg["dim"] % cfg["heads"] or cfg["dim"] % 4:
        raise UserError(f"DETR dim {cfg['dim']} must be divisible by heads ({cfg['heads']}) "
                        "and by 4 (sine encoding: half rows, half columns, sin/cos pairs)")
    if len(input_shape) != 3 or input_shape[0] != input_shape[1]:
        raise UserError(f"DETR twins take square (H, W, C) images, got {tuple(input_shape)}")
    return cfg
