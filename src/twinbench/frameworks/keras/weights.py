"""Canonical weight transfer for Keras 3 models (any backend).

The canonical format is PyTorch's ``state_dict`` naming and layout as float32 numpy arrays
(see ``twinbench.frameworks.pytorch.weights``), so this side re-lays-out every tensor:

=====================  ==========================  ====================================
Keras layer            Keras variable (layout)     canonical ``<layer>.<name>`` (layout)
=====================  ==========================  ====================================
Conv2D                 kernel (kh, kw, in, out)    weight (out, in, kh, kw)
DepthwiseConv2D        kernel (kh, kw, in, mult)   weight (in*mult, 1, kh, kw)
Dense                  kernel (in, out)            weight (out, in)
BatchNormalization     gamma, beta,                weight, bias,
                       moving_mean/variance        running_mean, running_var
LayerNormalization     gamma, beta                 weight, bias
Embedding              embeddings (vocab, dim)     weight (vocab, dim)
(all of the above)     bias                        bias
MultiHeadAttention     query/key/value kernel      in_proj_weight (3*dim, dim): q; k; v
                       (dim, heads, head_dim)      rows, feature = head*head_dim + i
                       query/key/value bias        in_proj_bias (3*dim,)
                       (heads, head_dim)
                       attention_output kernel     out_proj.weight (dim, heads*head_dim)
                       (heads, head_dim, dim), bias  out_proj.bias
=====================  ==========================  ====================================

torch's ``nn.MultiheadAttention`` packs q, k and v into one tensor while Keras keeps three, so
a canonical key may be *packed*: several Keras variables, each a block of rows (axis 0).

Naming: PyTorch module paths contain dots (``layer1.0.conv1``) but the Keras *torch*
backend registers every variable as a torch parameter keyed by ``"<layer>/<var>"``, and torch
rejects dots there. So Keras layer names spell the path with ``-`` (``layer1-0-conv1``);
this is reversible because torch module names are identifiers or integers, never holding
``-``. Nested layers/models (other than the top-level model) prefix their children's names.
Any unknown layer type that owns weights raises, rather than silently dropping them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import keras
import numpy as np

from twinbench.frameworks.canonical import check_fits

SEP = "-"  # stands for "." of the torch module path inside Keras layer names

Relayout = Callable[[np.ndarray], np.ndarray]


def _same(a: np.ndarray) -> np.ndarray:
    return a


def keras_name(path: str) -> str:
    """Torch module path -> Keras layer name (``layer1.0.conv1`` -> ``layer1-0-conv1``)."""
    return path.replace(".", SEP)


def canonical_name(name: str) -> str:
    """Keras layer name -> torch module path; the inverse of :func:`keras_name`."""
    return name.replace(SEP, ".")


def _depthwise_to(k: np.ndarray) -> np.ndarray:
    kh, kw, cin, mult = k.shape
    # Keras output channel c*mult + m == torch grouped-conv output channel c*mult + m
    return k.reshape(kh, kw, cin * mult).transpose(2, 0, 1)[:, None]


def _depthwise_from(w: np.ndarray, mult: int) -> np.ndarray:
    cout, _, kh, kw = w.shape
    return w[:, 0].transpose(1, 2, 0).reshape(kh, kw, cout // mult, mult)


def _var_table(layer: keras.layers.Layer) -> dict[str, tuple[str, Relayout, Relayout]] | None:
    """``{keras var name: (canonical suffix, to_canonical, from_canonical)}`` for a leaf layer.

    Returns None for layer types that are not leaves of the canonical format.
    """
    bias = ("bias", _same, _same)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        mult = layer.depth_multiplier
        return {"kernel": ("weight", _depthwise_to, lambda w: _depthwise_from(w, mult)),
                "bias": bias}
    if isinstance(layer, keras.layers.Conv2D):
        return {"kernel": ("weight", lambda k: k.transpose(3, 2, 0, 1),
                           lambda w: w.transpose(2, 3, 1, 0)),
                "bias": bias}
    if isinstance(layer, keras.layers.Dense):
        return {"kernel": ("weight", lambda k: k.T, lambda w: w.T), "bias": bias}
    if isinstance(layer, keras.layers.BatchNormalization):
        return {"gamma": ("weight", _same, _same), "beta": bias,
                "moving_mean": ("running_mean", _same, _same),
                "moving_variance": ("running_var", _same, _same)}
    if isinstance(layer, keras.layers.LayerNormalization):
        return {"gamma": ("weight", _same, _same), "beta": bias}
    if isinstance(layer, keras.layers.Embedding):
        return {"embeddings": ("weight", _same, _same)}
    return None


def _mha_entries(
    layer: keras.layers.MultiHeadAttention, prefix: str
) -> Iterator[tuple[str, keras.Variable, Relayout, Relayout, bool]]:
    """Self-attention as ``nn.MultiheadAttention(dim, heads)`` stores it (packed in_proj)."""
    dense = [layer.query_dense, layer.key_dense, layer.value_dense, layer.output_dense]
    known = {id(v) for d in dense for v in d.weights}
    extra = [v.name for v in layer.weights if id(v) not in known]
    dim, heads, head_dim = layer.query_dense.kernel.shape
    shapes = {tuple(d.kernel.shape) for d in dense[:3]}
    if extra or shapes != {(dim, heads, head_dim)} or heads * head_dim != dim:
        raise ValueError(f"MultiHeadAttention {layer.name!r}: only self-attention with "
                         f"heads*key_dim == dim, equal q/k/v sizes and no gate maps to torch")

    def kernel_from(w: np.ndarray) -> np.ndarray:
        return w.T.reshape(dim, heads, head_dim)

    for d in dense[:3]:  # order q, k, v == torch's row blocks of in_proj
        yield f"{prefix}in_proj_weight", d.kernel, lambda k: k.reshape(dim, -1).T, kernel_from, True
        if d.bias is not None:
            yield (f"{prefix}in_proj_bias", d.bias, lambda b: b.reshape(-1),
                   lambda w: w.reshape(heads, head_dim), True)
    out = layer.output_dense
    yield (f"{prefix}out_proj.weight", out.kernel, lambda k: k.reshape(-1, dim).T,
           lambda w: w.T.reshape(heads, head_dim, dim), False)
    if out.bias is not None:
        yield f"{prefix}out_proj.bias", out.bias, _same, _same, False


def _sublayers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    # Model.layers is public, but plain custom Layers only expose their children privately.
    return list(layer._flatten_layers(include_self=False, recursive=False))


def _entries(
    layer: keras.layers.Layer, prefix: str
) -> Iterator[tuple[str, keras.Variable, Relayout, Relayout, bool]]:
    """Yield ``(canonical key, variable, to_canonical, from_canonical, packed)`` per weight."""
    if isinstance(layer, keras.layers.MultiHeadAttention):
        yield from _mha_entries(layer, prefix)
        return
    table = _var_table(layer)
    if table is not None:
        for var in layer.weights:
            if var.name not in table:
                raise ValueError(
                    f"{type(layer).__name__} {layer.name!r}: no canonical mapping for "
                    f"variable {var.name!r} (quantized/LoRA/renorm layers are unsupported)"
                )
            suffix, to_c, from_c = table[var.name]
            yield f"{prefix}{suffix}", var, to_c, from_c, False
        return
    children = _sublayers(layer)
    owned_by_children = {id(v) for child in children for v in child.weights}
    own = [v.name for v in layer.weights if id(v) not in owned_by_children]
    if own:
        raise ValueError(
            f"unsupported layer type {type(layer).__name__} ({layer.name!r}) owns weights {own}"
        )
    for child in children:
        yield from _entries(child, f"{prefix}{canonical_name(child.name)}.")


_Piece = tuple[keras.Variable, Relayout, Relayout]


def _all_entries(model: keras.layers.Layer) -> dict[str, list[_Piece]]:
    """Canonical key -> its Keras pieces (one, or the row blocks of a packed tensor, in order)."""
    if not model.built:
        raise ValueError(f"model {model.name!r} is not built; call it or build it first")
    out: dict[str, list[_Piece]] = {}
    for key, var, to_c, from_c, packed in _entries(model, prefix=""):
        pieces = out.setdefault(key, [])
        if any(p[0] is var for p in pieces):
            continue  # the same layer reached twice (a shared layer)
        if pieces and not packed:
            raise ValueError(f"two different Keras variables map to canonical key {key!r}")
        pieces.append((var, to_c, from_c))
    return out


def to_canonical(model: keras.layers.Layer) -> dict[str, np.ndarray]:
    """Export every weight under its canonical (PyTorch) name and layout, as float32."""
    return {
        key: np.ascontiguousarray(
            np.concatenate([to_c(keras.ops.convert_to_numpy(v)) for v, to_c, _ in pieces]),
            dtype=np.float32)
        for key, pieces in _all_entries(model).items()
    }


def from_canonical(model: keras.layers.Layer, weights: Mapping[str, np.ndarray]) -> None:
    """Load canonical weights in place; validate everything before touching the model."""
    entries = _all_entries(model)
    rows = {  # relayout a zero-strided dummy: shapes without allocating
        key: [to_c(np.broadcast_to(np.float32(0), v.shape)).shape for v, to_c, _ in pieces]
        for key, pieces in entries.items()
    }
    expected = {key: (sum(s[0] for s in shapes), *shapes[0][1:]) for key, shapes in rows.items()}
    check_fits(expected, weights)
    for key, pieces in entries.items():
        w = np.asarray(weights[key], np.float32)
        blocks = np.split(w, np.cumsum([s[0] for s in rows[key]])[:-1], axis=0)
        for (var, _, from_c), block in zip(pieces, blocks, strict=True):
            var.assign(np.asarray(from_c(block), dtype=var.dtype))
