"""U-Net for small images, in PyTorch: the semantic-segmentation twin.

Its Keras sibling lives in ``twinbench.zoo.keras.unet``. Module paths here (``enc1.conv1``,
``bottleneck.bn2``, ``dec1.up_conv``, ``head``) *are* the canonical weight names, so keep them
stable.

Layout for ``widths = (w1, ..., wL)``: encoder levels 1..L-1 (double 3x3 conv, then 2x2 max-pool),
a bottleneck at width wL, and decoder levels L-1..1, each: 2x nearest upsampling, a 3x3 conv down
to w_k, concatenation with the encoder's skip (skip first, then upsampled), a double 3x3 conv.
A final 1x1 conv gives per-pixel logits. Nearest upsampling + conv (not a transposed conv) is
used because it is an exact twin in every framework and avoids checkerboard artefacts.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv3x3(in_ch: int, out_ch: int) -> nn.Conv2d:
    """3x3 stride-1 conv with symmetric padding 1; bias is redundant before BatchNorm."""
    return nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1, bias=False)


class DoubleConv(nn.Module):
    """(conv3x3 -> BN -> ReLU) twice; the unit every U-Net level is built from."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_ch, out_ch)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = conv3x3(out_ch, out_ch)
        self.bn2 = nn.BatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))  # (B, C_out, H, W)
        return F.relu(self.bn2(self.conv2(x)))  # (B, C_out, H, W)


class UpBlock(nn.Module):
    """Upsample 2x, conv to the skip's width, concatenate with the skip, double conv."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.up_conv = conv3x3(in_ch, out_ch)
        self.up_bn = nn.BatchNorm2d(out_ch)
        self.conv1 = conv3x3(2 * out_ch, out_ch)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = conv3x3(out_ch, out_ch)
        self.bn2 = nn.BatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.up_bn(self.up_conv(self.up(x))))  # (B, C_out, 2H, 2W)
        # skip first: conv1's input channels [0, C_out) read the skip in both twins
        x = torch.cat([skip, x], dim=1)  # (B, 2 C_out, 2H, 2W), channels-first concat
        x = F.relu(self.bn1(self.conv1(x)))  # (B, C_out, 2H, 2W)
        return F.relu(self.bn2(self.conv2(x)))


class UNet(nn.Module):
    """Encoder-decoder with skip connections; ``len(widths)`` levels, the last the bottleneck."""

    def __init__(
        self,
        num_classes: int = 4,
        in_channels: int = 3,
        widths: tuple[int, ...] = (16, 32, 64),
    ) -> None:
        super().__init__()
        if len(widths) < 2:
            raise ValueError(f"a U-Net needs at least 2 widths (one level + bottleneck), "
                             f"got {widths}")
        self.levels = len(widths)
        in_ch = in_channels
        for k, width in enumerate(widths[:-1], start=1):
            setattr(self, f"enc{k}", DoubleConv(in_ch, width))
            in_ch = width
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = DoubleConv(in_ch, widths[-1])
        for k in range(len(widths) - 1, 0, -1):
            setattr(self, f"dec{k}", UpBlock(widths[k], widths[k - 1]))
        self.head = nn.Conv2d(widths[0], num_classes, kernel_size=1)  # with bias, like Keras'

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C_in, H, W) float32, H and W divisible by 2^(levels-1) (see zoo.geometry)
        skips = []
        for k in range(1, self.levels):
            x = getattr(self, f"enc{k}")(x)  # (B, w_k, H / 2^(k-1), W / 2^(k-1))
            skips.append(x)
            x = self.pool(x)  # (B, w_k, H / 2^k, W / 2^k)
        x = self.bottleneck(x)  # (B, w_L, H / 2^(L-1), W / 2^(L-1))
        for k in range(self.levels - 1, 0, -1):
            x = getattr(self, f"dec{k}")(x, skips[k - 1])  # (B, w_k, H / 2^(k-1), W / 2^(k-1))
        return self.head(x)  # (B, num_classes, H, W) logits
