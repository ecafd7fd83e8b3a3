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
    raise KeyError(f"no PyTorch twin for model {model!r}")
