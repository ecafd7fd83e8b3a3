"""MobileNetV2 layout for small (CIFAR-like) images, in PyTorch.

The PyTorch half of the MobileNet twin; its Keras sibling is ``twinbench.zoo.keras.mobilenet``.
Module paths here (``conv1``, ``layer3.0.depthwise``, ``layer3.0.bn3``, ``fc``) *are* the
canonical weight names, so keep them stable.

Differences from torchvision's ImageNet MobileNetV2, for 32x32 inputs and for parity:

* a 3x3 *stride-1* stem, and the second stage at stride 1 (the usual CIFAR variant), so 32x32
  inputs end at 4x4 instead of 1x1;
* no Dropout before the classifier: its random masks differ between frameworks, so the twins
  would not compute the same training function.

Channel counts follow torchvision: ``_make_divisible(c * width, 8)`` for every stage and the
stem, and ``_make_divisible(last * max(1, width), 8)`` for the 1x1 head conv.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from twinbench.zoo import MOBILENET_V2_CIFAR as CIFAR_BLOCKS


def _make_divisible(v: float, divisor: int = 8) -> int:
    """torchvision's channel rounding: nearest multiple of ``divisor``, never below 90% of v."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class InvertedResidual(nn.Module):
    """1x1 expand -> 3x3 depthwise -> 1x1 linear projection, residual when shapes allow.

    With expand ratio 1 there is no expand conv (as in torchvision), so the block starts at
    the depthwise conv and ``bn1`` does not exist.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = in_ch * expand_ratio
        self.use_residual = stride == 1 and in_ch == out_ch
        self.expand: nn.Conv2d | None = None
        if expand_ratio != 1:
            self.expand = nn.Conv2d(in_ch, hidden, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(hidden)
        # groups=hidden: one 3x3 filter per channel, weight (hidden, 1, 3, 3)
        self.depthwise = nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden,
                                   bias=False)
        self.bn2 = nn.BatchNorm2d(hidden)
        self.project = nn.Conv2d(hidden, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.act = nn.ReLU6()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x  # (B, C_in, H, W)
        if self.expand is not None:
            out = self.act(self.bn1(self.expand(out)))  # (B, C_in * t, H, W)
        out = self.act(self.bn2(self.depthwise(out)))  # (B, C_in * t, H / s, W / s)
        out = self.bn3(self.project(out))  # (B, C_out, H / s, W / s), linear: no activation
        return out + x if self.use_residual else out


class MobileNetV2(nn.Module):
    """Stem, stages of inverted residual blocks, 1x1 head conv, global pool, linear."""

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        width: float = 1.0,
        stem: int = 32,
        blocks: Sequence[Sequence[int]] = CIFAR_BLOCKS,
        last: int = 1280,
    ) -> None:
        super().__init__()
        if not blocks or any(len(b) != 4 for b in blocks):
            raise ValueError(f"blocks must be (t, c, n, s) rows, got {blocks}")
        in_ch = _make_divisible(stem * width)
        self.conv1 = nn.Conv2d(in_channels, in_ch, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(in_ch)
        for i, (t, c, n, s) in enumerate(blocks):
            out_ch = _make_divisible(c * width)
            stage = [InvertedResidual(in_ch if j == 0 else out_ch, out_ch, s if j == 0 else 1, t)
                     for j in range(n)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
            in_ch = out_ch
        self.num_stages = len(blocks)
        last_ch = _make_divisible(last * max(1.0, width))
        self.conv2 = nn.Conv2d(in_ch, last_ch, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(last_ch)
        self.act = nn.ReLU6()
        self.fc = nn.Linear(last_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C_in, H, W) float32
        x = self.act(self.bn1(self.conv1(x)))  # (B, stem, H, W)
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)  # (B, c_i, H / S_i, W / S_i), S_i = prod(s)
        x = self.act(self.bn2(self.conv2(x)))  # (B, last, H / S, W / S)
        x = x.mean(dim=(2, 3))  # global average pool -> (B, last)
        return self.fc(x)  # (B, num_classes)
