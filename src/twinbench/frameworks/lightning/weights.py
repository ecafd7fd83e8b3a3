"""Canonical weight transfer for Lightning models.

A Lightning twin is the PyTorch twin wrapped in a ``LightningModule`` (attribute ``net``), so
its canonical weights are exactly the PyTorch twin's: the wrapper's own ``state_dict`` would
prefix every key with ``net.``, which is why this module unwraps instead of exporting the
wrapper. Conversion and validation are ``twinbench.frameworks.pytorch.weights``, not a copy.

Public API (the same as ``twinbench.frameworks.pytorch.weights``):
``to_canonical(model)`` and ``from_canonical(model, weights)``.
"""

from __future__ import annotations

from collections.abc import Mapping

import lightning as L
import numpy as np
from torch import nn

from twinbench.frameworks.pytorch import weights as torch_weights


def twin_of(model: nn.Module) -> nn.Module:
    """The zoo's ``nn.Module`` inside a LightningModule (a plain module is its own twin)."""
    if not isinstance(model, L.LightningModule):
        return model
    net = getattr(model, "net", None)
    if not isinstance(net, nn.Module):
        raise TypeError(
            f"{type(model).__name__} has no `net` nn.Module: canonical weights are the twin's"
        )
    return net


def to_canonical(model: nn.Module) -> dict[str, np.ndarray]:
    """Export the wrapped twin's parameters and buffers under their PyTorch names."""
    return torch_weights.to_canonical(twin_of(model))


def from_canonical(model: nn.Module, weights: Mapping[str, np.ndarray]) -> None:
    """Load canonical weights into the wrapped twin in place (validated before any change)."""
    torch_weights.from_canonical(twin_of(model), weights)
