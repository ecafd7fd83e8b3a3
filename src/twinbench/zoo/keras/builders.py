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
    if model == "mobilenet":
        from twinbench.zoo.keras.mobilenet import mobilenet_v2

        return mobilenet_v2(input_shape=tuple(input_shape), num_classes=num_classes,
                            width=float(size["width"]), stem=int(size["stem"]),
                            blocks=tuple(tuple(b) for b in size["blocks"]),
                            last=int(size["last"]))
    if model == "unet":
        from twinbench.zoo.keras.unet import unet

        return unet(input_shape=tuple(input_shape), num_classes=num_classes,
                    widths=tuple(size["widths"]))
    if model == "transformer":
        from twinbench.zoo.keras.transformer import transformer

        return transformer(seq_len=input_shape[0], vocab_size=_vocab(size),
                           num_classes=num_classes, dim=size["dim"], depth=size["depth"],
                           heads=size["heads"])
    if model == "detr":
        from twinbench.zoo.detr_geometry import detr_config
        from twinbench.zoo.keras.detr import detr

        return detr(tuple(input_shape), num_classes, **detr_config(size, input_shape))
    raise KeyError(f"no Keras twin for model {model!r}")


def _vocab(size: dict[str, Any]) -> int:
    if not size.get("vocab_size"):
        raise ValueError("a text twin needs size['vocab_size'] (the data set's vocabulary)")
    return int(size["vocab_size"])
