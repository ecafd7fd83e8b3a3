"""DETR-small in Keras 3: ResNet-style backbone, transformer encoder-decoder, object queries,
and the Hungarian-matched set loss in ``compute_loss``.

Twin of ``twinbench.zoo.pytorch.detr.DETR``: same layers, same order, layer names that spell the
torch module paths with ``-`` for ``.`` (``encoder-0`` -> ``encoder.0``; the functional backbone
is a nested model named ``backbone``, so its ``layer1-0-conv1`` becomes
``backbone.layer1.0.conv1``; see ``twinbench.frameworks.keras.weights``). The backbone *is* the
ResNet twin's code (``_conv3x3``, ``_bn``, ``_basic_block``), with its traps already handled.

Traps handled so that the twins compute the same function:

* ``keras.layers.MultiHeadAttention`` is called ``(query, value, key=...)``; torch's
  ``nn.MultiheadAttention`` ``(query, key, value)``. Positions go on query and key, never value.
  Cross-attention maps to torch's packed ``in_proj_weight`` too, since q, k, v all have ``dim``.
* LayerNorm epsilon 1e-5 (Keras defaults to 1e-3).
* Flattening the feature map: NHWC (B, h, w, D) -> (B, h*w, D) here and NCHW
  ``flatten(2).transpose(1, 2)`` there give the same row-major token order.
* The loss: Keras' ``train_step`` calls ``compute_loss`` inside ``tf.function`` / ``jax.jit``,
  where scipy cannot run, so the matcher is reached through
  ``twinbench.frameworks.keras.host_call.numpy_call`` (tf.numpy_function / jax.pure_callback /
  a plain call on torch). Compile this model *without* a loss: it brings its own.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import layers, ops

from twinbench.frameworks.keras.host_call import numpy_call
from twinbench.frameworks.keras.weights import keras_name as _name
from twinbench.tasks import detection_match as dm
from twinbench.zoo.detr_geometry import feature_size, sine_positions
from twinbench.zoo.keras.resnet import _FMT, _basic_block, _bn, _conv3x3

_EPS = 1e-5  # torch's LayerNorm default


def backbone(input_shape: tuple[int, ...], widths: tuple[int, ...],
             blocks: tuple[int, ...]) -> keras.Model:
    """The ResNet twin's stem and stages: (B, H, W, 3) -> (B, H', W', widths[-1])."""
    inputs = keras.Input(shape=input_shape, name="input")
    x = _bn(_conv3x3(inputs, widths[0], 1, "conv1"), "bn1")
    x = layers.ReLU(name="relu")(x)  # (B, H, W, w0)
    in_ch = widths[0]
    for i, (width, n) in enumerate(zip(widths, blocks, strict=True)):
        for j in range(n):
            stride = 2 if (i > 0 and j == 0) else 1  # stages 2.. halve the resolution
            x = _basic_block(x, in_ch, width, stride, f"layer{i + 1}.{j}")
            in_ch = width
    return keras.Model(inputs, x, name="backbone")


class EncoderLayer(layers.Layer):
    """Self-attention (positions on q and k) -> add & norm -> FFN -> add & norm."""

    def __init__(self, dim: int, heads: int, ffn: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.self_attn = layers.MultiHeadAttention(heads, key_dim=dim // heads, name="self_attn")
        self.linear1 = layers.Dense(ffn, name="linear1")
        self.linear2 = layers.Dense(dim, name="linear2")
        self.norm1 = layers.LayerNormalization(epsilon=_EPS, name="norm1")
        self.norm2 = layers.LayerNormalization(epsilon=_EPS, name="norm2")

    def call(self, src: Any, pos: Any) -> Any:
        # src: (B, S, D); pos: (S, D)
        q = src + pos
        src = self.norm1(src + self.self_attn(q, src, key=q))
        return self.norm2(src + self.linear2(ops.relu(self.linear1(src))))  # (B, S, D)


class DecoderLayer(layers.Layer):
    """Self-attention over queries, cross-attention to the image, FFN; each add & norm."""

    def __init__(self, dim: int, heads: int, ffn: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.self_attn = layers.MultiHeadAttention(heads, key_dim=dim // heads, name="self_attn")
        self.cross_attn = layers.MultiHeadAttention(heads, key_dim=dim // heads,
                                                    name="cross_attn")
        self.linear1 = layers.Dense(ffn, name="linear1")
        self.linear2 = layers.Dense(dim, name="linear2")
        self.norm1 = layers.LayerNormalization(epsilon=_EPS, name="norm1")
        self.norm2 = layers.LayerNormalization(epsilon=_EPS, name="norm2")
        self.norm3 = layers.LayerNormalization(epsilon=_EPS, name="norm3")

    def call(self, tgt: Any, memory: Any, pos: Any, query_pos: Any) -> Any:
        # tgt: (B, Q, D); memory: (B, S, D); pos: (S, D); query_pos: (Q, D)
        q = tgt + query_pos
        tgt = self.norm1(tgt + self.self_attn(q, tgt, key=q))
        tgt = self.norm2(tgt + self.cross_attn(tgt + query_pos, memory, key=memory + pos))
        return self.norm3(tgt + self.linear2(ops.relu(self.linear1(tgt))))  # (B, Q, D)


class DETR(keras.Model):
    """(B, H, W, 3) images -> (B, Q, C + 1 + 4): class logits, then sigmoid boxes (cx, cy, w, h)."""

    def __init__(self, num_classes: int, input_shape: tuple[int, ...],
                 widths: tuple[int, ...] = (16, 32, 64), blocks: tuple[int, ...] = (1, 1, 1),
                 dim: int = 64, heads: int = 4, enc_layers: int = 2, dec_layers: int = 2,
                 ffn: int = 128, queries: int = 10, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_classes, self.dim, self.queries = num_classes, dim, queries
        self.backbone = backbone(tuple(input_shape), widths, blocks)
        self.input_proj = layers.Conv2D(dim, 1, data_format=_FMT, name="input_proj")
        self.encoder = [EncoderLayer(dim, heads, ffn, name=_name(f"encoder.{i}"))
                        for i in range(enc_layers)]
        self.decoder = [DecoderLayer(dim, heads, ffn, name=_name(f"decoder.{i}"))
                        for i in range(dec_layers)]
        self.decoder_norm = layers.LayerNormalization(epsilon=_EPS, name="decoder_norm")
        self.query_embed = layers.Embedding(queries, dim, name="query_embed")
        self.class_head = layers.Dense(num_classes + 1, name="class_head")
        self.box_head = [layers.Dense(4 if i == 2 else dim, name=_name(f"box_head.layers.{i}"))
                         for i in range(3)]
        side = feature_size(int(input_shape[0]), len(widths))
        self._pos = sine_positions(side, side, dim)  # (h*w, D) numpy constant, not a weight

    def call(self, x: Any, training: bool | None = None) -> Any:
        f = self.input_proj(self.backbone(x, training=training))  # (B, h, w, D)
        src = ops.reshape(f, (-1, f.shape[1] * f.shape[2], self.dim))  # (B, h*w, D)
        pos = ops.convert_to_tensor(self._pos)
        for layer in self.encoder:
            src = layer(src, pos)
        query_pos = self.query_embed(ops.arange(self.queries))  # (Q, D)
        tgt = ops.zeros((ops.shape(src)[0], self.queries, self.dim), dtype=src.dtype)  # (B, Q, D)
        for layer in self.decoder:
            tgt = layer(tgt, src, pos, query_pos)
        h = self.decoder_norm(tgt)
        b = h
        for i, dense in enumerate(self.box_head):
            b = dense(b) if i == len(self.box_head) - 1 else ops.relu(dense(b))
        return ops.concatenate([self.class_head(h), ops.sigmoid(b)], axis=-1)  # (B, Q, C+5)

    def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None,
                     sample_weight: Any = None, training: bool = True) -> Any:
        """DETR's set loss for outputs (B, Q, C+5) and padded targets (B, M, 5)."""
        c = self.num_classes
        bq = tuple(y_pred.shape[:2])
        cls, box, matched = numpy_call(
            lambda out, t: dm.dense_targets(out, t, c), (ops.stop_gradient(y_pred), y),
            ((bq, "int32"), ((*bq, 4), "float32"), (bq, "float32")))
        logits, boxes = y_pred[..., : c + 1], y_pred[..., c + 1 :]
        nll = -ops.sum(ops.one_hot(cls, c + 1) * ops.log_softmax(logits, axis=-1), axis=-1)
        w = ops.where(ops.equal(cls, c), dm.EOS_COEF, 1.0)  # (B, Q)
        ce = ops.sum(w * nll) / ops.sum(w)
        n = ops.maximum(ops.sum(matched), 1.0)
        l1 = ops.sum(matched * ops.sum(ops.abs(boxes - box), axis=-1)) / n
        giou = ops.sum(matched * (1.0 - paired_giou(boxes, box))) / n
        return dm.LOSS_CE * ce + dm.LOSS_BBOX * l1 + dm.LOSS_GIOU * giou


def _xyxy(b: Any) -> tuple[Any, Any, Any, Any]:
    cx, cy, w, h = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def paired_giou(a: Any, b: Any) -> Any:
    """Generalised IoU of paired cxcywh boxes (..., 4) -> (...)."""
    ax0, ay0, ax1, ay1 = _xyxy(a)
    bx0, by0, bx1, by1 = _xyxy(b)
    iw = ops.maximum(ops.minimum(ax1, bx1) - ops.maximum(ax0, bx0), 0.0)
    ih = ops.maximum(ops.minimum(ay1, by1) - ops.maximum(ay0, by0), 0.0)
    inter = iw * ih
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    hull = ((ops.maximum(ax1, bx1) - ops.minimum(ax0, bx0))
            * (ops.maximum(ay1, by1) - ops.minimum(ay0, by0)))
    return inter / union - (hull - union) / hull


def detr(input_shape: tuple[int, ...], num_classes: int, **size: Any) -> DETR:
    """Build the twin and its weights (one forward on a dummy batch), ready for weight loading."""
    model = DETR(num_classes, tuple(input_shape), name="detr", **size)
    model(np.zeros((1, *input_shape), dtype="float32"))  # builds every layer, attention included
    return model
