"""Framework-neutral checks on canonical weights (PyTorch state_dict names and layouts, numpy).

Shared by every framework's ``weights.py`` so a misfit reads the same on each side.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def check_fits(
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
