"""Canonical weight transfer for PyTorch models.

The canonical format *is* PyTorch's ``state_dict`` (names and layouts), minus the
``num_batches_tracked`` counters, as float32 numpy arrays. So on this side the work is
only conversion and strict, readable validation; the Keras twin does the re-layout.

Public API (mirrored exactly by ``twinbench.frameworks.keras.weights``):
``to_canonical(model)`` and ``from_canonical(model, weights)``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn as nn

from twinbench.frameworks.canonical import check_fits

# BatchNorm's step counter: framework bookkeeping, not a weight (Keras has no equivalent).
_SKIP_SUFFIX = "num_batches_tracked"


def _is_canonical(name: str) -> bool:
    return not name.endswith(_SKIP_SUFFIX)


def to_canonical(model: nn.Module) -> dict[str, np.ndarray]:
    """Export every parameter and persistent buffer as a float32 numpy copy."""
    return {
        name: tensor.detach().cpu().to(torch.float32).numpy().copy()
        for name, tensor in model.state_dict().items()
        if _is_canonical(name)
    }


def from_canonical(model: nn.Module, weights: Mapping[str, np.ndarray]) -> None:
    """Load canonical weights in place; validate everything before touching the model."""
    state = model.state_dict()
    check_fits(
        {k: tuple(v.shape) for k, v in state.items() if _is_canonical(k)}, weights
    )
    new_state = {
        # keep the model's own counters / dtypes / devices; only values come from `weights`
        k: v if not _is_canonical(k) else torch.as_tensor(
            np.asarray(weights[k]), dtype=v.dtype, device=v.device
        )
        for k, v in state.items()
    }
    model.load_state_dict(new_state, strict=True)
