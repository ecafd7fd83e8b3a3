"""The twin registry: which models exist, for which task, in which sizes.

Only names and plain numbers live here, so the orchestrator can plan without importing a
framework; each framework's adapter maps a model id to its own twin file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelSpec:
    id: str
    task: str
    description: str
    sizes: dict[str, dict[str, Any]] = field(default_factory=dict)
    default_size: str = "small"


MODELS: dict[str, ModelSpec] = {
    "resnet": ModelSpec(
        "resnet",
        "image-classification",
        "ResNet-18 layout (stem, 4 stages x 2 basic blocks), CIFAR-style stem",
        sizes={
            "tiny": {"widths": (4, 8, 8, 16), "blocks": (1, 1, 1, 1)},
            "small": {"widths": (16, 32, 64, 128), "blocks": (2, 2, 2, 2)},
            "resnet18": {"widths": (64, 128, 256, 512), "blocks": (2, 2, 2, 2)},
        },
    ),
}


def models_for(task: str) -> list[str]:
    return [m.id for m in MODELS.values() if m.task == task]
