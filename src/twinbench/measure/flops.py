"""FLOPs per sample, counted once per twin and compared across twins.

PyTorch twins are counted by ``torch.utils.flop_counter.FlopCounterMode`` (conv, matmul,
attention). Keras twins are counted here from the layer graph with the same conventions — one
multiply-add is 2 FLOPs; only convolutions, dense projections and attention products count
(normalisation, activations and pooling are memory-bound and left out, as FlopCounterMode does).
Two independent counts that agree are evidence the twins do the same work.
"""

from __future__ import annotations

import math
from typing import Any


def conv2d(out_h: int, out_w: int, k_h: int, k_w: int, c_in: int, c_out: int,
           groups: int = 1) -> int:
    return 2 * out_h * out_w * k_h * k_w * (c_in // groups) * c_out


def dense(tokens: int, d_in: int, d_out: int) -> int:
    return 2 * tokens * d_in * d_out


def attention_core(q_len: int, k_len: int, heads: int, head_dim: int) -> int:
    """QK^T and (softmax)V products."""
    return 2 * 2 * heads * q_len * k_len * head_dim


def keras_flops(model: Any) -> tuple[int, list[str]]:
    """FLOPs of one sample through a built Keras functional model; also the uncounted layers."""
    total, skipped = 0, []
    for layer in _leaves(model):
        kind = type(layer).__name__
        if not layer.weights:
            continue  # pooling, activations, padding, adds: no FLOPs by this convention
        try:
            inp = layer.input[0] if isinstance(layer.input, list | tuple) else layer.input
            in_shape, out_shape = tuple(inp.shape)[1:], tuple(layer.output.shape)[1:]
        except (AttributeError, ValueError, IndexError):
            skipped.append(f"{layer.name} ({kind}: shapes unknown)")
            continue
        if kind == "Conv2D":
            kh, kw = layer.kernel_size
            total += conv2d(out_shape[0], out_shape[1], kh, kw, in_shape[-1], out_shape[-1],
                            layer.groups)
        elif kind == "DepthwiseConv2D":
            kh, kw = layer.kernel_size
            total += conv2d(out_shape[0], out_shape[1], kh, kw, in_shape[-1], out_shape[-1],
                            groups=in_shape[-1])
        elif kind == "Dense":
            total += dense(math.prod(in_shape[:-1]) or 1, in_shape[-1], layer.units)
        elif kind == "MultiHeadAttention":
            seq, dim = in_shape[0], in_shape[-1]
            heads, key_dim = layer.num_heads, layer.key_dim
            total += 3 * dense(seq, dim, heads * key_dim) + dense(seq, heads * key_dim, dim)
            total += attention_core(seq, seq, heads, key_dim)
        elif kind not in _FREE:
            skipped.append(f"{layer.name} ({kind})")
    return total, skipped


# Layers with weights whose FLOPs the convention leaves out.
_FREE = {"BatchNormalization", "LayerNormalization", "Embedding"}


def _leaves(model: Any):
    """Top-level layers; a MultiHeadAttention is a leaf (its projections are counted in it)."""
    for layer in model.layers:
        if hasattr(layer, "layers") and type(layer).__name__ not in ("MultiHeadAttention",):
            yield from _leaves(layer)
        else:
            yield layer


def torch_flops(net: Any, x: Any) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    was_training = net.training
    net.eval()
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        net(x)
    net.train(was_training)
    return int(counter.get_total_flops())
