"""What every framework adapter offers, and the registry of framework ids.

The orchestrator never imports a framework: it only reads this registry (ids, the environment a
worker needs) and starts a worker process, which imports exactly one adapter. Capability flags
(``SUPPORTS_*``) replace ``if framework == ...`` chains outside the adapters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class FrameworkSpec:
    id: str
    library: str  # the top-level package the worker imports (for `doctor` and fairness checks)
    backend: str
    adapter: str  # "module:Class", imported only inside the worker
    env: dict[str, str] = field(default_factory=dict)
    style: str = "explicit loop"
    description: str = ""


_KERAS = "twinbench.frameworks.keras.adapter:KerasAdapter"
FRAMEWORKS: dict[str, FrameworkSpec] = {
    "pytorch": FrameworkSpec(
        "pytorch", "torch", "torch", "twinbench.frameworks.pytorch.adapter:TorchAdapter",
        description="PyTorch, eager, explicit training loop",
    ),
    "lightning": FrameworkSpec(
        "lightning", "lightning", "torch",
        "twinbench.frameworks.lightning.adapter:LightningAdapter",
        style="LightningModule + Trainer",
        description="PyTorch Lightning: the PyTorch twin in a LightningModule, Trainer.fit",
    ),
    "keras-tf": FrameworkSpec(
        "keras-tf", "keras", "tensorflow", _KERAS, {"KERAS_BACKEND": "tensorflow"},
        style="compile/fit", description="Keras 3 on TensorFlow",
    ),
    "keras-jax": FrameworkSpec(
        "keras-jax", "keras", "jax", _KERAS, {"KERAS_BACKEND": "jax"},
        style="compile/fit", description="Keras 3 on JAX",
    ),
    "keras-torch": FrameworkSpec(
        "keras-torch", "keras", "torch", _KERAS, {"KERAS_BACKEND": "torch"},
        style="compile/fit", description="Keras 3 on PyTorch",
    ),
}

# The packages a worker of each framework is expected to import; anything else from this set
# found in sys.modules after a job is recorded as a fairness warning.
FRAMEWORK_PACKAGES = ("torch", "tensorflow", "jax")

# Optimizers every adapter builds from its own library. AdamW's hyper-parameters are passed
# explicitly on every side, because the libraries' defaults differ (torch.optim.AdamW: eps 1e-8,
# weight_decay 0.01; keras.optimizers.AdamW: epsilon 1e-7, weight_decay 0.004). Keras adds its
# epsilon to sqrt(v) *before* v's bias correction, torch after it: docs/study.md ("AdamW").
OPTIMIZERS = ("sgd", "adamw")
ADAMW_BETAS = (0.9, 0.999)
ADAMW_EPS = 1e-8


def check_optimizer(optimizer: str, weight_decay: float) -> None:
    """The one-line errors every adapter raises for an optimizer setting it cannot twin."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r} (valid: {', '.join(OPTIMIZERS)})")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0 (got {weight_decay})")
    if optimizer == "sgd" and weight_decay:
        raise ValueError("weight_decay needs optimizer 'adamw': SGD's differs between the "
                         "frameworks (torch: L2 through momentum, Keras: decoupled)")


class Adapter(Protocol):
    """The contract between scenarios and a framework; numpy goes in and comes out."""

    id: str
    backend: str
    SUPPORTS_TRAIN: bool
    SUPPORTS_INFER: bool
    PROFILER: str  # "torch" | "tensorflow" | "jax": the profiler the profile scenario uses

    def versions(self) -> dict[str, str]: ...

    def build(self, model: str, size: dict[str, Any], input_shape: tuple[int, ...],
              num_classes: int) -> Any: ...

    def get_weights(self, net: Any) -> dict[str, np.ndarray]: ...

    def set_weights(self, net: Any, weights: dict[str, np.ndarray]) -> None: ...

    def to_device(self, x: np.ndarray) -> Any:
        """Move a numpy batch (NHWC for images) into the framework's own layout and device."""

    def compile_train(self, net: Any, lr: float, momentum: float, optimizer: str = "sgd",
                      weight_decay: float = 0.0) -> None:
        """Attach an optimizer (one of ``OPTIMIZERS``) and the loss; it lives across ``fit``s.

        ``momentum`` is SGD's (AdamW uses ``ADAMW_BETAS``); ``weight_decay`` is AdamW's
        decoupled decay (SGD rejects a non-zero one: torch couples it through momentum, Keras
        does not, so the twins would train different functions).
        """

    def fit(self, net: Any, x: Any, y: Any, batch_size: int) -> float:
        """One pass over (x, y) in order, the framework's idiomatic way; returns the loss."""

    def train_step(self, net: Any, x: Any, y: Any) -> float:
        """One optimizer step on one batch; returns that batch's loss (used by parity)."""

    def predict(self, net: Any, x: Any) -> np.ndarray:
        """Eval-mode forward; returns numpy logits (includes the device-to-host copy)."""

    def synchronize(self) -> None: ...
