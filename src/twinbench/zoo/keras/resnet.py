"""ResNet-18 layout for small (CIFAR-like) images, in Keras 3 (functional API, NHWC).

Twin of ``twinbench.zoo.pytorch.resnet.ResNet``: same layers, same order, and layer names
that spell the torch module paths with ``-`` for ``.`` (``layer2.0.downsample.0`` ->
``layer2-0-downsample-0``). Dots work as Keras names on the tensorflow and jax backends, but
the torch backend registers variables as torch parameters, which may not contain dots. See
``twinbench.frameworks.keras.weights`` for the (reversible) convention.

Traps handled so that the twins compute the same function:

* BatchNorm: torch ``momentum=0.1`` weighs the *new* batch; Keras ``momentum`` weighs the
  *old* running value, so 0.9 here. Epsilon is 1e-5 in torch, 1e-3 by default in Keras.
  (Remaining, unfixable without a custom layer: torch updates ``running_var`` with the
  unbiased batch variance, Keras with the biased one, so running variances drift apart
  by up to a factor n/(n-1) during training. Training-mode outputs use batch statistics
  and are unaffected; eval-mode outputs *after* training differ slightly.)
* Stride-2 3x3 convs: torch ``padding=1`` pads (1, 1); Keras ``"same"`` at stride 2 on an
  even size pads (0, 1), shifting the sampling grid by one pixel. So pad explicitly with
  ``ZeroPadding2D(1)`` and convolve ``"valid"``. (At stride 1 ``"same"`` is symmetric.)
* Convs have no bias (BatchNorm follows); ``fc`` is a Dense with bias, like ``nn.Linear``.

Only ``keras`` / ``keras.ops`` are used, so the model runs on every Keras backend.
"""

from __future__ import annotations

import keras
from keras import layers

from twinbench.frameworks.keras.weights import keras_name as _name

_FMT = "channels_last"  # explicit, so a global image_data_format cannot flip the layout


def _conv3x3(x: keras.KerasTensor, filters: int, stride: int, path: str) -> keras.KerasTensor:
    """3x3 conv, no bias, padded symmetrically by 1 like ``nn.Conv2d(..., padding=1)``."""
    if stride == 1:
        return layers.Conv2D(filters, 3, padding="same", use_bias=False,
                             data_format=_FMT, name=_name(path))(x)
    x = layers.ZeroPadding2D(1, data_format=_FMT, name=_name(path + "_pad"))(x)
    return layers.Conv2D(filters, 3, strides=stride, padding="valid", use_bias=False,
                         data_format=_FMT, name=_name(path))(x)


def _bn(x: keras.KerasTensor, path: str) -> keras.KerasTensor:
    # torch defaults: momentum 0.1 (== Keras 0.9), eps 1e-5
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=_name(path))(x)


def _basic_block(
    x: keras.KerasTensor, in_ch: int, out_ch: int, stride: int, path: str
) -> keras.KerasTensor:
    """Two 3x3 convs with an identity (or 1x1 projection) shortcut; see torch BasicBlock."""
    out = _conv3x3(x, out_ch, stride, f"{path}.conv1")  # (B, H', W', C_out)
    out = _bn(out, f"{path}.bn1")
    out = layers.ReLU(name=_name(f"{path}.relu1"))(out)
    out = _conv3x3(out, out_ch, 1, f"{path}.conv2")  # (B, H', W', C_out)
    out = _bn(out, f"{path}.bn2")
    identity = x
    if stride != 1 or in_ch != out_ch:
        # 1x1 "valid" conv at stride 2 samples pixels 0, 2, 4, ... exactly like torch
        identity = layers.Conv2D(out_ch, 1, strides=stride, padding="valid", use_bias=False,
                                 data_format=_FMT, name=_name(f"{path}.downsample.0"))(x)
        identity = _bn(identity, f"{path}.downsample.1")  # (B, H', W', C_out)
    out = layers.Add(name=_name(f"{path}.add"))([out, identity])
    return layers.ReLU(name=_name(f"{path}.relu2"))(out)


def resnet(
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    widths: tuple[int, ...] = (16, 32, 64, 128),
    blocks: tuple[int, ...] = (2, 2, 2, 2),
) -> keras.Model:
    """ResNet-18 layout (by default): stem, four stages of BasicBlocks, global pool, linear.

    Inputs are NHWC float32 images of ``input_shape``; outputs are logits (B, num_classes).
    """
    if len(widths) != len(blocks):
        raise ValueError(f"widths {widths} and blocks {blocks} must have the same length")
    inputs = keras.Input(shape=input_shape, name="input")  # (B, H, W, C_in)
    x = _conv3x3(inputs, widths[0], 1, "conv1")  # (B, H, W, w0)
    x = _bn(x, "bn1")
    x = layers.ReLU(name="relu")(x)
    in_ch = widths[0]
    for i, (width, n) in enumerate(zip(widths, blocks, strict=True)):
        for j in range(n):
            stride = 2 if (i > 0 and j == 0) else 1  # stages 2.. halve the resolution
            x = _basic_block(x, in_ch, width, stride, f"layer{i + 1}.{j}")
            in_ch = width
        # x: (B, H / 2^i, W / 2^i, w_i)
    x = layers.GlobalAveragePooling2D(data_format=_FMT, name="avgpool")(x)  # (B, w_last)
    outputs = layers.Dense(num_classes, name="fc")(x)  # (B, num_classes)
    return keras.Model(inputs, outputs, name="resnet")
