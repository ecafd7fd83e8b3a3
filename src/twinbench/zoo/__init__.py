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
    # Run when a study names no models. False keeps presets (and their time budgets) stable as
    # the zoo grows a task; such a model runs only when named (`--model`, `models = [...]`).
    in_default_study: bool = True


# MobileNetV2's (t, c, n, s) table with stage 2 at stride 1, the usual CIFAR variant.
MOBILENET_V2_CIFAR = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))

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
    "mobilenet": ModelSpec(
        "mobilenet",
        "image-classification",
        "MobileNetV2 layout (inverted residuals, depthwise 3x3, ReLU6), CIFAR-style stem",
        sizes={  # blocks: (expand ratio, channels, repeats, first stride) per stage
            "tiny": {"width": 1.0, "stem": 8, "last": 32,
                     "blocks": ((1, 8, 1, 1), (2, 16, 2, 2), (2, 24, 1, 2))},
            "small": {"width": 0.5, "stem": 32, "last": 1280, "blocks": MOBILENET_V2_CIFAR},
            "mobilenet_v2": {"width": 1.0, "stem": 32, "last": 1280,
                             "blocks": MOBILENET_V2_CIFAR},
        },
        in_default_study=False,
    ),
    "unet": ModelSpec(
        "unet",
        "semantic-segmentation",
        "U-Net: double-conv encoder levels, bottleneck, nearest-upsample decoder, concat skips",
        sizes={  # the last width is the bottleneck; image sizes must divide by 2^(levels-1)
            "tiny": {"widths": (4, 8, 16)},
            "small": {"widths": (16, 32, 64)},
        },
    ),
    "transformer": ModelSpec(
        "transformer",
        "text-classification",
        "pre-norm Transformer encoder: token + position embeddings, masked mean pool, linear",
        sizes={  # vocab_size comes from the data set (Context.build adds it)
            "tiny": {"dim": 16, "depth": 1, "heads": 2},
            "small": {"dim": 64, "depth": 2, "heads": 4},
        },
    ),
    "detr": ModelSpec(
        "detr",
        "object-detection",
        "DETR-small: ResNet-block backbone, post-norm transformer encoder-decoder, object "
        "queries, class + box heads, Hungarian-matched set loss",
        sizes={  # queries must be >= the objects in one image; dim divisible by heads and 4
            "tiny": {"widths": (8, 16), "blocks": (1, 1), "dim": 16, "heads": 2,
                     "enc_layers": 1, "dec_layers": 1, "ffn": 32, "queries": 6},
            "small": {"widths": (16, 32, 64), "blocks": (1, 1, 1), "dim": 64, "heads": 4,
                      "enc_layers": 2, "dec_layers": 2, "ffn": 128, "queries": 10},
        },
    ),
}


def models_for(task: str) -> list[str]:
    return [m.id for m in MODELS.values() if m.task == task]
