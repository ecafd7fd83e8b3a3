"""Pre-norm Transformer encoder for text classification, in PyTorch.

The PyTorch half of the text twin; its Keras sibling is ``twinbench.zoo.keras.transformer``.
Module paths here (``tok_embed``, ``blocks.0.attn.in_proj_weight``, ``blocks.0.fc1``, ``norm``,
``head``) *are* the canonical weight names, so keep them stable.

Written the way a PyTorch user writes it: ``nn.MultiheadAttention(batch_first=True)`` with a
``key_padding_mask``. Choices pinned on purpose, because the Keras twin must match them:

* Padding mask: token id 0 is padding. torch's ``key_padding_mask`` is True where a key is
  IGNORED (Keras' ``attention_mask`` is the opposite: True where attention is allowed).
* ``need_weights=False``: otherwise torch also returns head-averaged attention weights and
  leaves its fused attention kernel.
* GELU is the exact (erf) one, ``approximate="none"``, torch's default.
* LayerNorm eps 1e-5 (torch's default; Keras' default is 1e-3).
* No dropout, no ``padding_idx``: pad positions are masked out of attention and pooling, so
  their embedding row gets no gradient either way, and both twins stay deterministic.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

PAD_ID = 0


class EncoderBlock(nn.Module):
    """LayerNorm -> self-attention -> residual; LayerNorm -> MLP (GELU) -> residual."""

    def __init__(self, dim: int, heads: int, mlp_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn = nn.MultiheadAttention(dim, heads, bias=True, batch_first=True)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.fc1 = nn.Linear(dim, mlp_dim)
        self.fc2 = nn.Linear(mlp_dim, dim)

    def forward(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        # x: (B, L, D); pad: (B, L) bool, True = padding = a key to ignore
        h = self.norm1(x)
        h, _ = self.attn(h, h, h, key_padding_mask=pad, need_weights=False)  # (B, L, D)
        x = x + h
        h = self.fc2(F.gelu(self.fc1(self.norm2(x)), approximate="none"))  # (B, L, D)
        return x + h


class TransformerClassifier(nn.Module):
    """Token + learned position embeddings, N encoder blocks, final LayerNorm, masked mean pool,
    linear head."""

    def __init__(self, vocab_size: int, num_classes: int, max_len: int, dim: int = 64,
                 depth: int = 2, heads: int = 4, mlp_ratio: int = 4) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} must be divisible by heads {heads}")
        self.tok_embed = nn.Embedding(vocab_size, dim)
        self.pos_embed = nn.Embedding(max_len, dim)
        self.blocks = nn.ModuleList(
            EncoderBlock(dim, heads, mlp_ratio * dim) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-5)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        # ids: (B, L) int64 token ids, 0 = padding, L <= max_len
        pad = ids == PAD_ID  # (B, L) True where padding
        pos = torch.arange(ids.shape[1], device=ids.device)  # (L,)
        x = self.tok_embed(ids) + self.pos_embed(pos)  # (B, L, D)
        for block in self.blocks:
            x = block(x, pad)  # (B, L, D)
        x = self.norm(x)
        keep = (~pad).unsqueeze(-1).to(x.dtype)  # (B, L, 1)
        pooled = (x * keep).sum(1) / keep.sum(1).clamp(min=1.0)  # mean over real tokens (B, D)
        return self.head(pooled)  # (B, num_classes)
