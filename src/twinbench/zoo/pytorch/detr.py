"""DETR-small: a ResNet-style backbone, a transformer encoder-decoder, learned object queries,
and a set-prediction loss with Hungarian matching, in PyTorch.

The PyTorch half of the detection twin; its Keras sibling is ``twinbench.zoo.keras.detr``.
Module paths here (``backbone.layer1.0.conv1``, ``encoder.0.self_attn.in_proj_weight``,
``decoder.1.cross_attn.out_proj``, ``query_embed``, ``class_head``, ``box_head.layers.2``) *are*
the canonical weight names, so keep them stable.

As in DETR (Carion et al. 2020): post-norm layers, fixed 2-D sine positions added to queries and
keys of every attention (not to values), object-query embeddings added to the decoder's queries,
a decoder that starts from zeros, a final decoder LayerNorm, a linear class head (C + 1 outputs,
the last one "no object") and a 3-layer MLP box head with a sigmoid. Smaller: the backbone is
the ResNet twin's ``BasicBlock`` stages (CIFAR stem, no max-pool), no dropout, no auxiliary
decoding losses. Heads are ``class_head``/``box_head`` (DETR's ``*_embed`` would fall under the
embedding-table rule of ``twinbench.zoo.init``).

The loss (:meth:`DETR.loss`) detaches the outputs, asks the shared numpy matcher
(``twinbench.tasks.detection_match.dense_targets``) which query takes which object, and builds
the differentiable terms with torch ops: weighted cross-entropy, L1 and GIoU.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from twinbench.tasks import detection_match as dm
from twinbench.zoo.detr_geometry import feature_size, sine_positions
from twinbench.zoo.pytorch.resnet import BasicBlock, conv3x3


class Backbone(nn.Module):
    """The ResNet twin's stem and stages: (B, 3, H, W) -> (B, widths[-1], H', W')."""

    def __init__(self, in_channels: int, widths: tuple[int, ...], blocks: tuple[int, ...]) -> None:
        super().__init__()
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))  # (B, w0, H, W)
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)  # (B, w_i, H / 2^i, W / 2^i)
        return x


class EncoderLayer(nn.Module):
    """Self-attention (positions on q and k) -> add & norm -> FFN -> add & norm."""

    def __init__(self, dim: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.linear1 = nn.Linear(dim, ffn)
        self.linear2 = nn.Linear(ffn, dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)

    def forward(self, src: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        # src: (B, S, D); pos: (S, D)
        q = src + pos
        src = self.norm1(src + self.self_attn(q, q, src, need_weights=False)[0])
        return self.norm2(src + self.linear2(F.relu(self.linear1(src))))  # (B, S, D)


class DecoderLayer(nn.Module):
    """Self-attention over queries, cross-attention to the image, FFN; each add & norm."""

    def __init__(self, dim: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.linear1 = nn.Linear(dim, ffn)
        self.linear2 = nn.Linear(ffn, dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.norm3 = nn.LayerNorm(dim, eps=1e-5)

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor, pos: torch.Tensor,
                query_pos: torch.Tensor) -> torch.Tensor:
        # tgt: (B, Q, D); memory: (B, S, D); pos: (S, D); query_pos: (Q, D)
        q = tgt + query_pos
        tgt = self.norm1(tgt + self.self_attn(q, q, tgt, need_weights=False)[0])
        h = self.cross_attn(tgt + query_pos, memory + pos, memory, need_weights=False)[0]
        tgt = self.norm2(tgt + h)
        return self.norm3(tgt + self.linear2(F.relu(self.linear1(tgt))))  # (B, Q, D)


class MLP(nn.Module):
    """Linear layers with ReLU between them (DETR's box head)."""

    def __init__(self, dim: int, out: int, depth: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(dim, dim if i < depth - 1 else out)
                                    for i in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else F.relu(layer(x))
        return x


class DETR(nn.Module):
    """(B, 3, H, W) images -> (B, Q, C + 1 + 4): class logits, then sigmoid boxes (cx, cy, w, h)."""

    def __init__(self, num_classes: int, image_size: int, in_channels: int = 3,
                 widths: tuple[int, ...] = (16, 32, 64), blocks: tuple[int, ...] = (1, 1, 1),
                 dim: int = 64, heads: int = 4, enc_layers: int = 2, dec_layers: int = 2,
                 ffn: int = 128, queries: int = 10) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.backbone = Backbone(in_channels, widths, blocks)
        self.input_proj = nn.Conv2d(widths[-1], dim, kernel_size=1)
        self.encoder = nn.ModuleList(EncoderLayer(dim, heads, ffn) for _ in range(enc_layers))
        self.decoder = nn.ModuleList(DecoderLayer(dim, heads, ffn) for _ in range(dec_layers))
        self.decoder_norm = nn.LayerNorm(dim, eps=1e-5)
        self.query_embed = nn.Embedding(queries, dim)
        self.class_head = nn.Linear(dim, num_classes + 1)
        self.box_head = MLP(dim, 4, 3)
        side = feature_size(image_size, len(widths))
        # a constant, not a weight: outside state_dict, so outside the canonical weights
        self.register_buffer("pos", torch.from_numpy(sine_positions(side, side, dim)),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.input_proj(self.backbone(x))  # (B, D, h, w)
        src = f.flatten(2).transpose(1, 2)  # (B, h*w, D), row-major like the Keras reshape
        for layer in self.encoder:
            src = layer(src, self.pos)
        # a lookup, not .weight: a Parameter passed into the layers breaks FlopCounterMode's
        # module tracker under inference_mode (the Keras twin looks it up the same way)
        query_pos = self.query_embed(torch.arange(self.query_embed.num_embeddings,
                                                  device=x.device))  # (Q, D)
        tgt = torch.zeros(x.shape[0], *query_pos.shape, dtype=src.dtype, device=src.device)
        for layer in self.decoder:
            tgt = layer(tgt, src, self.pos, query_pos)  # (B, Q, D)
        h = self.decoder_norm(tgt)
        boxes = torch.sigmoid(self.box_head(h))  # (B, Q, 4)
        return torch.cat([self.class_head(h), boxes], dim=-1)  # (B, Q, C + 1 + 4)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """DETR's set loss for outputs (B, Q, C+5) and padded targets (B, M, 5)."""
        c = self.num_classes
        cls, box, matched = (torch.from_numpy(a).to(outputs.device) for a in dm.dense_targets(
            outputs.detach().cpu().numpy(), targets.detach().cpu().numpy(), c))
        logits, boxes = outputs[..., : c + 1], outputs[..., c + 1 :]
        weight = torch.ones(c + 1, device=outputs.device)
        weight[c] = dm.EOS_COEF
        ce = F.cross_entropy(logits.flatten(0, 1), cls.flatten().long(), weight=weight)
        n = matched.sum().clamp(min=1.0)
        l1 = (matched * (boxes - box).abs().sum(-1)).sum() / n
        giou = (matched * (1.0 - paired_giou(boxes, box))).sum() / n
        return dm.LOSS_CE * ce + dm.LOSS_BBOX * l1 + dm.LOSS_GIOU * giou


def _xyxy(b: torch.Tensor) -> torch.Tensor:
    cx, cy, w, h = b.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


def paired_giou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Generalised IoU of paired cxcywh boxes (..., 4) -> (...)."""
    a, b = _xyxy(a), _xyxy(b)
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    lt, rb = torch.maximum(a[..., :2], b[..., :2]), torch.minimum(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = area_a + area_b - inter
    hull = (torch.maximum(a[..., 2:], b[..., 2:]) - torch.minimum(a[..., :2], b[..., :2])).prod(-1)
    return inter / union - (hull - union) / hull
