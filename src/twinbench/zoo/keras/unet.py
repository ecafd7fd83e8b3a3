"""U-Net for small images, in Keras 3 (functional API, NHWC): the semantic-segmentation twin.

Twin of ``twinbench.zoo.pytorch.unet.UNet``: same layers, same order, and layer names that
spell the torch module paths with ``-`` for ``.`` (``dec1.up_conv`` -> ``dec1-up_conv``; see
``twinbench.frameworks.keras.weights``).

Traps handled so that the twins compute the same function:

* Concatenation axis: torch concatenates channels-first on ``dim=1``, this twin channels-last
  on ``axis=-1``. The *order* (skip first, then upsampled) is the same, so input channel i of
  the conv that follows reads the same feature map in both, and the canonical OIHW <-> HWIO
  kernel re-layout stays a plain transpose.
* Upsampling: ``UpSampling2D(2, interpolation="nearest")`` repeats each pixel 2x2 exactly like
  ``nn.Upsample(scale_factor=2, mode="nearest")``. (A transposed conv would need its own
  padding/kernel re-layout rules; bilinear modes differ in their align-corners conventions.)
* BatchNorm momentum 0.9 (== torch 0.1) and epsilon 1e-5; all 3x3 convs are stride 1, where
  Keras ``"same"`` pads symmetrically like torch ``padding=1``; 2x2 pools on even sizes agree.
* The running-variance update (unbiased in torch, biased in Keras) differs as documented in
  ``twinbench.zoo.keras.resnet``: only eval-mode outputs *after* training are affected.

Only ``keras`` layers are used, so the model runs on every Keras backend.
"""

from __future__ import annotations

import keras
from keras import layers

from twinbench.frameworks.keras.weights import keras_name as _name
from twinbench.zoo.geometry import check_unet_input

_FMT = "channels_last"  # explicit, so a global image_data_format cannot flip the layout


def _conv_bn_relu(x: keras.KerasTensor, filters: int, conv: str, bn: str) -> keras.KerasTensor:
    """3x3 stride-1 conv (no bias) -> BatchNorm -> ReLU, as in the torch twin."""
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, data_format=_FMT,
                      name=_name(conv))(x)
    # torch defaults: momentum 0.1 (== Keras 0.9), eps 1e-5
    x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=_name(bn))(x)
    return layers.ReLU(name=_name(conv + "_relu"))(x)


def _double_conv(x: keras.KerasTensor, filters: int, path: str) -> keras.KerasTensor:
    x = _conv_bn_relu(x, filters, f"{path}.conv1", f"{path}.bn1")  # (B, H, W, filters)
    return _conv_bn_relu(x, filters, f"{path}.conv2", f"{path}.bn2")  # (B, H, W, filters)


def _up_block(
    x: keras.KerasTensor, skip: keras.KerasTensor, filters: int, path: str
) -> keras.KerasTensor:
    """Upsample 2x, conv to the skip's width, concatenate (skip first), double conv."""
    x = layers.UpSampling2D(2, data_format=_FMT, interpolation="nearest",
                            name=_name(f"{path}.up"))(x)  # (B, 2H, 2W, C_in)
    x = _conv_bn_relu(x, filters, f"{path}.up_conv", f"{path}.up_bn")  # (B, 2H, 2W, filters)
    x = layers.Concatenate(axis=-1, name=_name(f"{path}.cat"))([skip, x])  # (B, 2H, 2W, 2f)
    return _double_conv(x, filters, path)


def unet(
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 4,
    widths: tuple[int, ...] = (16, 32, 64),
) -> keras.Model:
    """Encoder-decoder with skip connections; ``len(widths)`` levels, the last the bottleneck.

    Inputs are NHWC float32 images of ``input_shape``; outputs are logits (B, H, W, num_classes).
    """
    if len(widths) < 2:
        raise ValueError(f"a U-Net needs at least 2 widths (one level + bottleneck), got {widths}")
    levels = len(widths)
    check_unet_input(input_shape[0], input_shape[1], levels)
    inputs = keras.Input(shape=input_shape, name="input")  # (B, H, W, C_in)
    x = inputs
    skips = []
    for k, width in enumerate(widths[:-1], start=1):
        x = _double_conv(x, width, f"enc{k}")  # (B, H / 2^(k-1), W / 2^(k-1), w_k)
        skips.append(x)
        x = layers.MaxPooling2D(2, data_format=_FMT, name=f"pool{k}")(x)  # (B, H/2^k, W/2^k, w_k)
    x = _double_conv(x, widths[-1], "bottleneck")  # (B, H / 2^(L-1), W / 2^(L-1), w_L)
    for k in range(levels - 1, 0, -1):
        x = _up_block(x, skips[k - 1], widths[k - 1], f"dec{k}")  # (B, H/2^(k-1), W/2^(k-1), w_k)
    outputs = layers.Conv2D(num_classes, 1, data_format=_FMT, name="head")(x)  # (B, H, W, ncls)
    return keras.Model(inputs, outputs, name="unet")
