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
=====================  ==========================  ====================================

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


def _sublayers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    # Model.layers is public, but plain custom Layers only expose their children privately.
    return list(layer._flatten_layers(include_self=False, recursive=False))


def _entries(
    layer: keras.layers.Layer, prefix: str
) -> Iterator[tuple[str, keras.Variable, Relayout, Relayout]]:
    """Yield ``(canonical key, variable, to_canonical, from_canonical)`` for every weight."""
    table = _var_table(layer)
    if table is not None:
        for var in layer.weights:
            if var.name not in table:
                raise ValueError(
                    f"{type(layer).__name__} {layer.name!r}: no canonical mapping for "
                    f"variable {var.name!r} (quantized/LoRA/renorm layers are unsupported)"
                )
            suffix, to_c, from_c = table[var.name]
            yield f"{prefix}{suffix}", var, to_c, from_c
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


def _all_entries(model: keras.layers.Layer) -> dict[str, tuple[keras.Variable, Relayout, Relayout]]:
    if not model.built:
        raise ValueError(f"model {model.name!r} is not built; call it or build it first")
    out: dict[str, tuple[keras.Variable, Relayout, Relayout]] = {}
    for key, var, to_c, from_c in _entries(model, prefix=""):
        if key in out and out[key][0] is not var:
            raise ValueError(f"two different Keras variables map to canonical key {key!r}")
        out[key] = (var, to_c, from_c)
    return out


def _check_fits(
    expected: Mapping[str, tuple[int, ...]], weights: Mapping[str, np.ndarray]
) -> None:
    """Raise ``ValueError`` naming every missing, unexpected and mis-shaped key."""
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    misshaped = sorted(
        f"{k} got {tuple(np.shape(weights[k]))} want {tuple(expected[k])}"
        for k in set(expected) & set(weights)
        if tuple(np.shape(weights[k])) != tuple(expected[k])
    )
    problems = [
        f"{label}: {', '.join(keys)}"
        for label, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("mis-shaped", misshaped),
        )
        if keys
    ]
    if problems:
        raise ValueError("canonical weights do not fit the model; " + "; ".join(problems))


def to_canonical(model: keras.layers.Layer) -> dict[str, np.ndarray]:
    """Export every weight under its canonical (PyTorch) name and layout, as float32."""
    return {
        key: np.ascontiguousarray(to_c(keras.ops.convert_to_numpy(var)), dtype=np.float32)
        for key, (var, to_c, _) in _all_entries(model).items()
    }


def from_canonical(model: keras.layers.Layer, weights: Mapping[str, np.ndarray]) -> None:
    """Load canonical weights in place; validate everything before touching the model."""
    entries = _all_entries(model)
    expected = {  # relayout a zero-strided dummy: shapes without allocating
        key: tuple(to_c(np.broadcast_to(np.float32(0), var.shape)).shape)
        for key, (var, to_c, _) in entries.items()
    }
    _check_fits(expected, weights)
    for key, (var, _, from_c) in entries.items():
        var.assign(np.asarray(from_c(np.asarray(weights[key], np.float32)), dtype=var.dtype))
