"""MobileNetV2 layout for small (CIFAR-like) images, in Keras 3 (functional API, NHWC).

Twin of ``twinbench.zoo.pytorch.mobilenet.MobileNetV2``: same layers, same order, layer names
that spell the torch module paths with ``-`` for ``.`` (``layer3.0.depthwise`` ->
``layer3-0-depthwise``; see ``twinbench.frameworks.keras.weights``).

Traps handled so that the twins compute the same function:

* Depthwise conv: torch ``Conv2d(C, C, 3, groups=C)`` holds weight (C, 1, 3, 3); Keras
  ``DepthwiseConv2D`` holds kernel (3, 3, C, 1). The generic weight mapping re-lays it out
  (depth multiplier 1: channel c of one is channel c of the other).
* Stride-2 3x3 (depthwise) convs: Keras ``"same"`` at stride 2 on an even size pads (0, 1),
  torch ``padding=1`` pads (1, 1); so ``ZeroPadding2D(1)`` + ``"valid"``, as in the ResNet twin.
* BatchNorm: momentum 0.9 (== torch 0.1), epsilon 1e-5 (torch's; Keras' default is 1e-3).
  Running variance still drifts by n/(n-1) during training (see ``zoo/keras/resnet.py``).
* ReLU6 is ``layers.ReLU(6.0)``; torch's ``nn.ReLU6`` clamps to [0, 6] the same way.
* No Dropout before the classifier (random masks differ between frameworks).

Only ``keras`` / ``keras.ops`` are used, so the model runs on every Keras backend.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from twinbench.frameworks.keras.weights import keras_name as _name
from twinbench.zoo import MOBILENET_V2_CIFAR as CIFAR_BLOCKS

_FMT = "channels_last"  # explicit, so a global image_data_format cannot flip the layout


def _make_divisible(v: float, divisor: int = 8) -> int:
    """torchvision's channel rounding: nearest multiple of ``divisor``, never below 90% of v."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _bn(x: keras.KerasTensor, path: str) -> keras.KerasTensor:
    # torch defaults: momentum 0.1 (== Keras 0.9), eps 1e-5
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=_name(path))(x)


def _relu6(x: keras.KerasTensor, path: str) -> keras.KerasTensor:
    return layers.ReLU(6.0, name=_name(path))(x)


def _conv1x1(x: keras.KerasTensor, filters: int, path: str) -> keras.KerasTensor:
    return layers.Conv2D(filters, 1, use_bias=False, data_format=_FMT, name=_name(path))(x)


def _depthwise3x3(x: keras.KerasTensor, stride: int, path: str) -> keras.KerasTensor:
    """3x3 depthwise conv, no bias, padded symmetrically by 1 like torch ``padding=1``."""
    if stride == 1:
        return layers.DepthwiseConv2D(3, padding="same", use_bias=False, data_format=_FMT,
                                      name=_name(path))(x)
    x = layers.ZeroPadding2D(1, data_format=_FMT, name=_name(path + "_pad"))(x)
    return layers.DepthwiseConv2D(3, strides=stride, padding="valid", use_bias=False,
                                  data_format=_FMT, name=_name(path))(x)


def _inverted_residual(
    x: keras.KerasTensor, in_ch: int, out_ch: int, stride: int, t: int, path: str
) -> keras.KerasTensor:
    """1x1 expand -> 3x3 depthwise -> 1x1 linear projection; see torch InvertedResidual."""
    out = x  # (B, H, W, C_in)
    if t != 1:  # no expand conv (and no bn1) at expand ratio 1, as in the torch twin
        out = _conv1x1(out, in_ch * t, f"{path}.expand")  # (B, H, W, C_in * t)
        out = _relu6(_bn(out, f"{path}.bn1"), f"{path}.relu1")
    out = _depthwise3x3(out, stride, f"{path}.depthwise")  # (B, H / s, W / s, C_in * t)
    out = _relu6(_bn(out, f"{path}.bn2"), f"{path}.relu2")
    out = _conv1x1(out, out_ch, f"{path}.project")  # (B, H / s, W / s, C_out)
    out = _bn(out, f"{path}.bn3")  # linear bottleneck: no activation
    if stride == 1 and in_ch == out_ch:
        out = layers.Add(name=_name(f"{path}.add"))([out, x])
    return out


def mobilenet_v2(
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    width: float = 1.0,
    stem: int = 32,
    blocks: Sequence[Sequence[int]] = CIFAR_BLOCKS,
    last: int = 1280,
) -> keras.Model:
    """Stem, stages of inverted residual blocks, 1x1 head conv, global pool, linear.

    Inputs are NHWC float32 images of ``input_shape``; outputs are logits (B, num_classes).
    """
    if not blocks or any(len(b) != 4 for b in blocks):
        raise ValueError(f"blocks must be (t, c, n, s) rows, got {blocks}")
    inputs = keras.Input(shape=input_shape, name="input")  # (B, H, W, C_in)
    in_ch = _make_divisible(stem * width)
    x = layers.Conv2D(in_ch, 3, padding="same", use_bias=False, data_format=_FMT,
                      name="conv1")(inputs)  # (B, H, W, stem)
    x = _relu6(_bn(x, "bn1"), "relu1")
    for i, (t, c, n, s) in enumerate(blocks):
        out_ch = _make_divisible(c * width)
        for j in range(n):
            x = _inverted_residual(x, in_ch, out_ch, s if j == 0 else 1, t, f"layer{i + 1}.{j}")
            in_ch = out_ch
        # x: (B, H / S_i, W / S_i, c_i), S_i = product of the strides so far
    last_ch = _make_divisible(last * max(1.0, width))
    x = _conv1x1(x, last_ch, "conv2")  # (B, H / S, W / S, last)
    x = _relu6(_bn(x, "bn2"), "relu2")
    x = layers.GlobalAveragePooling2D(data_format=_FMT, name="avgpool")(x)  # (B, last)
    outputs = layers.Dense(num_classes, name="fc")(x)  # (B, num_classes)
    return keras.Model(inputs, outputs, name="mobilenet_v2")
