"""Model id -> Keras twin. The only place that knows which file holds which model."""

from __future__ import annotations

from typing import Any

import keras


def build(model: str, size: dict[str, Any], input_shape: tuple[int, ...],
          num_classes: int) -> keras.Model:
    if model == "resnet":
        from twinbench.zoo.keras.resnet import resnet

        return resnet(input_shape=tuple(input_shape), num_classes=num_classes,
                      widths=tuple(size["widths"]), blocks=tuple(size["blocks"]))
    raise KeyError(f"no Keras twin for model {model!r}")
