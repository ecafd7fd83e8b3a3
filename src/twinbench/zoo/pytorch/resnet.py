"""ResNet-18 layout for small (CIFAR-like) images, in PyTorch.

This is the PyTorch half of the first twin; its Keras sibling lives in
``twinbench.zoo.keras.resnet``. Module paths here (``conv1``, ``layer1.0.bn2``,
``layer2.0.downsample.0``, ``fc``) *are* the canonical weight names, so keep them stable.

Differences from torchvision's ImageNet ResNet-18: a 3x3 stride-1 stem and no max-pool,
because 32x32 inputs would otherwise be reduced to 1x1 far too early.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    """3x3 conv with symmetric padding 1; bias is redundant before BatchNorm."""
    return nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs with an identity (or 1x1 projection) shortcut."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_ch, out_ch, stride)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = conv3x3(out_ch, out_ch)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.downsample: nn.Sequential | None = None
        if stride != 1 or in_ch != out_ch:
            # projection shortcut so the residual matches the new shape
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_ch),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)  # (B, C_out, H', W')
        out = F.relu(self.bn1(self.conv1(x)))  # (B, C_out, H', W')
        out = self.bn2(self.conv2(out))  # (B, C_out, H', W')
        return F.relu(out + identity)


class ResNet(nn.Module):
    """ResNet-18 layout (by default): stem, four stages of BasicBlocks, global pool, linear."""

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        widths: tuple[int, ...] = (16, 32, 64, 128),
        blocks: tuple[int, ...] = (2, 2, 2, 2),
    ) -> None:
        super().__init__()
        if len(widths) != len(blocks):
            raise ValueError(f"widths {widths} and blocks {blocks} must have the same length")
        self.conv1 = conv3x3(in_channels, widths[0])
        self.bn1 = nn.BatchNorm2d(widths[0])
        in_ch = widths[0]
        for i, (width, n) in enumerate(zip(widths, blocks, strict=True)):
            stride = 1 if i == 0 else 2  # stages 2.. halve the resolution
            stage = [BasicBlock(in_ch, width, stride)]
            stage += [BasicBlock(width, width) for _ in range(n - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
            in_ch = width
        self.num_stages = len(widths)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C_in, H, W) float32
        x = F.relu(self.bn1(self.conv1(x)))  # (B, w0, H, W)
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)  # (B, w_i, H / 2^i, W / 2^i)
        x = x.mean(dim=(2, 3))  # global average pool -> (B, w_last)
        return self.fc(x)  # (B, num_classes)
