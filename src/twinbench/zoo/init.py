"""Framework-neutral, deterministic initialisation of canonical weights.

Twins must start from the *same* numbers, so neither framework's own initialiser is used:
weights are drawn here with numpy, keyed by canonical (PyTorch ``state_dict``) names, and
loaded into each twin with its ``from_canonical``. Every tensor has its own generator seeded
from ``(seed, crc32(name))``, so the result does not depend on dict order, on which other
tensors exist, or on the numpy global state.

Rules (first match wins; ``name`` is the canonical key, ``shape`` its canonical shape):

* ``*running_mean`` -> zeros; ``*running_var`` -> ones (fresh BatchNorm statistics).
* ``*bias`` -> zeros.
* ``*weight`` with ndim >= 3 (conv, OI[HW]) -> Kaiming/He normal, mode ``fan_out``, ReLU gain:
  ``std = sqrt(2 / (out_channels * prod(kernel)))``, as torchvision's ResNet does.
* ``*embed.weight`` with ndim 2 (embedding tables, (vocab, dim)) -> standard normal, torch's
  default ``nn.Embedding`` init: unit-scale rows keep the first LayerNorm from amplifying the
  gradients (a 0.07-scale table made SGD at lr 0.05 diverge on the Transformer twin).
* ``*weight`` with ndim 2 (linear, (out, in)) -> ``uniform(-1/sqrt(in), 1/sqrt(in))``, the
  scale of torch's default ``nn.Linear`` init.
* ``*weight`` with ndim 1 (BatchNorm / LayerNorm scale) -> ones.

Anything else raises ``ValueError``, so a new kind of tensor is a conscious decision.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import numpy as np


def _rng(seed: int, name: str) -> np.random.Generator:
    # crc32 (not hash()) is stable across processes and Python versions
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def init_tensor(name: str, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Initialise one canonical tensor by the rules in the module docstring."""
    shape = tuple(int(d) for d in shape)
    if name.endswith("running_mean"):
        return np.zeros(shape, np.float32)
    if name.endswith("running_var"):
        return np.ones(shape, np.float32)
    if name.endswith("bias"):
        return np.zeros(shape, np.float32)
    if name.endswith("weight"):
        if len(shape) >= 3:
            fan_out = shape[0] * int(np.prod(shape[2:]))
            std = np.sqrt(2.0 / fan_out)
            return (_rng(seed, name).standard_normal(shape) * std).astype(np.float32)
        if len(shape) == 2 and name.endswith("embed.weight"):
            return _rng(seed, name).standard_normal(shape).astype(np.float32)
        if len(shape) == 2:
            bound = 1.0 / np.sqrt(shape[1])
            return _rng(seed, name).uniform(-bound, bound, shape).astype(np.float32)
        if len(shape) == 1:
            return np.ones(shape, np.float32)
    raise ValueError(f"no init rule for canonical tensor {name!r} with shape {shape}")


def canonical_init(shapes: Mapping[str, tuple[int, ...]], seed: int) -> dict[str, np.ndarray]:
    """Deterministic canonical weights for ``{name: shape}`` (e.g. from :func:`shapes_of`)."""
    return {name: init_tensor(name, shape, seed) for name, shape in shapes.items()}


def shapes_of(weights: Mapping[str, np.ndarray]) -> dict[str, tuple[int, ...]]:
    """``{name: shape}`` of a canonical weight dict, the input :func:`canonical_init` needs."""
    return {name: tuple(int(d) for d in np.shape(w)) for name, w in weights.items()}
