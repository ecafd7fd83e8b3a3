"""Model id -> PyTorch twin. The only place that knows which file holds which model."""

from __future__ import annotations

from typing import Any

from torch import nn


def build(model: str, size: dict[str, Any], input_shape: tuple[int, ...],
          num_classes: int) -> nn.Module:
    if model == "resnet":
        from twinbench.zoo.pytorch.resnet import ResNet

        return ResNet(num_classes=num_classes, in_channels=input_shape[-1],
                      widths=tuple(size["widths"]), blocks=tuple(size["blocks"]))
    if model == "mobilenet":
        from twinbench.zoo.pytorch.mobilenet import MobileNetV2

        return MobileNetV2(num_classes=num_classes, in_channels=input_shape[-1],
                           width=float(size["width"]), stem=int(size["stem"]),
                           blocks=tuple(tuple(b) for b in size["blocks"]), last=int(size["last"]))
    if model == "unet":
        from twinbench.zoo.geometry import check_unet_input
        from twinbench.zoo.pytorch.unet import UNet

        check_unet_input(input_shape[0], input_shape[1], len(size["widths"]))
        return UNet(num_classes=num_classes, in_channels=input_shape[-1],
                    widths=tuple(size["widths"]))
    if model == "transformer":
        from twinbench.zoo.pytorch.transformer import TransformerClassifier

        return TransformerClassifier(vocab_size=_vocab(size), num_classes=num_classes,
                                     max_len=input_shape[0], dim=size["dim"],
                                     depth=size["depth"], heads=size["heads"])
    if model == "detr":
        from twinbench.zoo.detr_geometry import detr_config
        from twinbench.zoo.pytorch.detr import DETR

        return DETR(num_classes=num_classes, image_size=input_shape[0],
                    in_channels=input_shape[-1], **detr_config(size, input_shape))
    raise KeyError(f"no PyTorch twin for model {model!r}")


def _vocab(size: dict[str, Any]) -> int:
    if not size.get("vocab_size"):
        raise ValueError("a text twin needs size['vocab_size'] (the data set's vocabulary)")
    return int(size["vocab_size"])
