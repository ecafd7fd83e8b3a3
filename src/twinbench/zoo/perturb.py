"""Seeded, non-trivial BatchNorm state for a canonical weight dict.

Fresh BatchNorm layers hold zeros and ones (running mean 0, variance 1, scale 1, shift 0): an
eval-mode comparison of two twins from such weights cannot see a statistic that was dropped,
swapped with another, or loaded into the wrong slot. :func:`perturb_bn` draws new values for
them with numpy only, so the parity scenario, the web export and the twin tests all perturb
weights the same way in any process.

Which tensors are drawn, by canonical (PyTorch ``state_dict``) name:

* ``*running_mean`` and ``*running_var``: BatchNorm statistics;
* ``gamma`` / ``beta``: the ``weight`` / ``bias`` of a BatchNorm layer (a name prefix that has a
  ``running_mean``); with ``every_norm=True`` instead every 1-D ``*weight`` (LayerNorm scales
  too) and every ``*bias`` (linear and convolution biases too).

Each kind is drawn from its :data:`Draw` (``None`` keeps that kind as it is). The draws happen
one tensor at a time, in the dict's order (``sort=True``: in sorted name order), from ONE
generator seeded with ``seed``: the same weights, seed and settings give the same numbers in
every process, and a caller that changes none of them keeps the draws it had.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np

# ("normal", mean, std) or ("uniform", low, high)
Draw = tuple[Literal["normal", "uniform"], float, float]

MEAN: Draw = ("normal", 0.0, 0.2)
VAR: Draw = ("uniform", 0.5, 2.0)
GAMMA: Draw = ("uniform", 0.5, 1.5)
BETA: Draw = ("normal", 0.0, 0.2)


def _draw(rng: np.random.Generator, how: Draw, shape: tuple[int, ...]) -> np.ndarray:
    kind, a, b = how
    if kind == "normal":
        return rng.normal(a, b, shape).astype(np.float32)
    if kind == "uniform":
        return rng.uniform(a, b, shape).astype(np.float32)
    raise ValueError(f"unknown distribution {kind!r} (valid: normal, uniform)")


def perturb_bn(w: Mapping[str, np.ndarray], seed: int, *,
               running_mean: Draw | None = MEAN, running_var: Draw | None = VAR,
               gamma: Draw | None = GAMMA, beta: Draw | None = BETA,
               every_norm: bool = False, sort: bool = False) -> dict[str, np.ndarray]:
    """A copy of ``w`` (same key order) with its BatchNorm state drawn at random (see module
    docstring); tensors of no drawn kind are passed through unchanged."""
    bn = {k[: -len("running_mean")] for k in w if k.endswith("running_mean")}

    def how(k: str, v: np.ndarray) -> Draw | None:
        if k.endswith("running_mean"):
            return running_mean
        if k.endswith("running_var"):
            return running_var
        if every_norm:
            if k.endswith("weight") and np.ndim(v) == 1:
                return gamma
            return beta if k.endswith("bias") else None
        for leaf, drawn in (("weight", gamma), ("bias", beta)):
            if k.endswith(leaf) and k[: -len(leaf)] in bn:
                return drawn
        return None

    rng = np.random.default_rng(seed)
    out = dict(w)
    for k in sorted(w) if sort else w:
        drawn = how(k, w[k])
        if drawn is not None:
            out[k] = _draw(rng, drawn, np.shape(w[k]))
    return out
