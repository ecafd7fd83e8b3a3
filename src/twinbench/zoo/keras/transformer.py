"""Pre-norm Transformer encoder for text classification, in Keras 3 (any backend).

Twin of ``twinbench.zoo.pytorch.transformer.TransformerClassifier``: same layers, same order,
layer names that spell the torch module paths with ``-`` for ``.`` (``blocks.0`` ->
``blocks-0``; see ``twinbench.frameworks.keras.weights``). Subclassed layers, as a Keras user
writes a Transformer, with ``keras.layers.MultiHeadAttention`` and an explicit ``attention_mask``.

Traps handled so that the twins compute the same function:

* Mask convention: Keras' ``attention_mask`` is True (1) where a query MAY attend to a key;
  torch's ``key_padding_mask`` is True where a key is IGNORED. So this side passes
  ``ids != 0``, the torch side ``ids == 0``.
* No ``mask_zero=True`` on the embedding: Keras would then also mask padded *queries*, whose
  rows become fully masked; explicit masks keep both sides computing the same thing.
* Attention weights: Keras keeps q/k/v as three per-head kernels (dim, heads, head_dim) and
  the output as (heads, head_dim, dim); torch packs q/k/v into ``in_proj_weight`` (3*dim, dim).
  ``twinbench.frameworks.keras.weights`` converts; the 1/sqrt(head_dim) scale is the same.
* LayerNorm epsilon: Keras defaults to 1e-3, torch to 1e-5; set 1e-5 here.
* GELU: ``keras.ops.gelu`` defaults to the tanh approximation (``approximate=True``), while
  ``keras.activations.gelu`` and torch default to the exact erf form; pass
  ``approximate=False`` explicitly.
* Embedding tables have the same layout, (vocab, dim), on both sides.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import layers, ops

from twinbench.frameworks.keras.weights import keras_name as _name

PAD_ID = 0
_EPS = 1e-5  # torch's LayerNorm default


class EncoderBlock(layers.Layer):
    """LayerNorm -> self-attention -> residual; LayerNorm -> MLP (GELU) -> residual."""

    def __init__(self, dim: int, heads: int, mlp_dim: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.norm1 = layers.LayerNormalization(epsilon=_EPS, name="norm1")
        self.attn = layers.MultiHeadAttention(heads, key_dim=dim // heads, name="attn")
        self.norm2 = layers.LayerNormalization(epsilon=_EPS, name="norm2")
        self.fc1 = layers.Dense(mlp_dim, name="fc1")
        self.fc2 = layers.Dense(dim, name="fc2")

    def call(self, x: Any, keep: Any) -> Any:
        # x: (B, L, D); keep: (B, 1, L) bool, True = a real token = a key to attend to
        h = self.norm1(x)
        x = x + self.attn(h, h, attention_mask=keep)  # (B, L, D)
        h = self.fc2(ops.gelu(self.fc1(self.norm2(x)), approximate=False))  # (B, L, D)
        return x + h


class TransformerClassifier(keras.Model):
    """Token + learned position embeddings, N encoder blocks, final LayerNorm, masked mean pool,
    linear head. Inputs are int token ids (B, L), 0 = padding; outputs logits (B, C)."""

    def __init__(self, vocab_size: int, num_classes: int, max_len: int, dim: int = 64,
                 depth: int = 2, heads: int = 4, mlp_ratio: int = 4, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if dim % heads:
            raise ValueError(f"dim {dim} must be divisible by heads {heads}")
        self.tok_embed = layers.Embedding(vocab_size, dim, name="tok_embed")
        self.pos_embed = layers.Embedding(max_len, dim, name="pos_embed")
        self.blocks = [EncoderBlock(dim, heads, mlp_ratio * dim, name=_name(f"blocks.{i}"))
                       for i in range(depth)]
        self.norm = layers.LayerNormalization(epsilon=_EPS, name="norm")
        self.head = layers.Dense(num_classes, name="head")

    def call(self, ids: Any, training: bool | None = None) -> Any:
        # ids: (B, L) int token ids, L <= max_len
        keep = ops.not_equal(ids, PAD_ID)  # (B, L) True where a real token
        x = self.tok_embed(ids) + self.pos_embed(ops.arange(ops.shape(ids)[1]))  # (B, L, D)
        for block in self.blocks:
            x = block(x, keep[:, None, :])  # (B, L, D); mask broadcast over queries
        x = self.norm(x)
        w = ops.cast(keep, x.dtype)[..., None]  # (B, L, 1)
        pooled = ops.sum(x * w, axis=1) / ops.maximum(ops.sum(w, axis=1), 1.0)  # (B, D)
        return self.head(pooled)  # (B, num_classes)


def transformer(seq_len: int, vocab_size: int, num_classes: int, dim: int = 64, depth: int = 2,
                heads: int = 4, mlp_ratio: int = 4) -> TransformerClassifier:
    """Build the twin and its weights (one forward on a dummy batch), ready for weight loading."""
    model = TransformerClassifier(vocab_size, num_classes, seq_len, dim, depth, heads, mlp_ratio,
                                  name="transformer")
    model(np.ones((1, seq_len), dtype="int32"))  # builds every layer, MultiHeadAttention included
    return model
