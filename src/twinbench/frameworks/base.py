"""What every framework adapter offers, and the registry of framework ids.

The orchestrator never imports a framework: it only reads this registry (ids, the environment a
worker needs) and starts a worker process, which imports exactly one adapter. What differs
between frameworks is data the adapters declare (their call paths, their ``PROFILER``), not
``if framework == ...`` chains outside the adapters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

Mode = Literal["out-of-box", "tuned"]
MODES: tuple[Mode, ...] = ("out-of-box", "tuned")
PathKind = Literal["infer", "train"]


@dataclass(frozen=True)
class CallPath:
    """One documented way to run a model, as data (fairness rule 4).

    ``out-of-box`` paths are what the framework's own docs show with defaults; ``tuned`` paths
    add the knobs its performance guide names. A tuned job measures every path of its framework
    (out-of-box ones too: a knob that does not pay on this machine must not make "tuned" worse),
    an out-of-box job only the out-of-box ones; the analysis takes the best path of each
    framework per mode and shows the others beside it. Every timed record names its path
    (``extra.call_path``) and carries the knobs in effect on the timed call.
    """

    id: str
    kind: PathKind
    mode: Mode
    knobs: Mapping[str, Any]
    doc: str  # where the framework documents this way of running a model
    parts: tuple[str, ...] = ("latency", "throughput")  # infer: what the path is for
    images_only: bool = False  # e.g. channels-last: NCHW image batches only
    batched: bool = False  # infer: one call takes many batches (Keras predict, Trainer.predict)


def default_path(paths: tuple[CallPath, ...], kind: PathKind) -> CallPath:
    """The first out-of-box path of ``kind``: what parity, accuracy evaluation and exports use."""
    return next(p for p in paths if p.kind == kind and p.mode == "out-of-box")


def paths_for(paths: tuple[CallPath, ...], kind: PathKind, mode: str,
              images: bool) -> list[CallPath]:
    """The paths a job of ``mode`` runs: out-of-box ones only, or (tuned) all of them."""
    return [p for p in paths if p.kind == kind and (mode == "tuned" or p.mode == mode)
            and (images or not p.images_only)]


FAMILIES = ("pytorch", "keras")  # the two libraries the claims are about
CODE_STYLES = ("pytorch", "lightning", "keras")  # twin files the brevity counts read
PROFILERS = ("torch", "tensorflow", "jax")


@dataclass(frozen=True)
class FrameworkSpec:
    """Everything twinbench knows about a framework id, in one place.

    ``family``: which side of "PyTorch or TensorFlow/Keras" it speaks for. ``code``: the twin
    files its brevity counts read. ``carrier``: the framework whose exported artifacts (mobile,
    web, server) and zoo evidence stand for it (one Keras model whatever the backend; Lightning
    trains the PyTorch nn.Module). ``profiler``: the profiler its profile job runs. ``color``:
    its colour in charts. A field that is missing or out of range fails at import.
    """

    id: str
    library: str  # the top-level package the worker imports (for `doctor` and fairness checks)
    backend: str
    adapter: str  # "module:Class", imported only inside the worker
    family: str
    code: str
    carrier: str
    profiler: str
    color: str
    env: dict[str, str] = field(default_factory=dict)
    style: str = "explicit loop"
    description: str = ""

    def __post_init__(self) -> None:
        for name, value, valid in (("family", self.family, FAMILIES),
                                   ("code", self.code, CODE_STYLES),
                                   ("profiler", self.profiler, PROFILERS)):
            if value not in valid:
                raise ValueError(f"framework {self.id!r}: {name} {value!r} not in {valid}")
        if not re.fullmatch(r"#[0-9a-f]{6}", self.color):
            raise ValueError(f"framework {self.id!r}: color {self.color!r} is not #rrggbb")


_KERAS = "twinbench.frameworks.keras.adapter:KerasAdapter"
_KERAS_SPEC: dict[str, Any] = {"library": "keras", "adapter": _KERAS, "family": "keras",
                               "code": "keras", "carrier": "keras-tf", "profiler": "tensorflow",
                               "style": "compile/fit"}
FRAMEWORKS: dict[str, FrameworkSpec] = {
    "pytorch": FrameworkSpec(
        "pytorch", "torch", "torch", "twinbench.frameworks.pytorch.adapter:TorchAdapter",
        family="pytorch", code="pytorch", carrier="pytorch", profiler="torch", color="#ee4c2c",
        description="PyTorch, eager, explicit training loop",
    ),
    "lightning": FrameworkSpec(
        "lightning", "lightning", "torch",
        "twinbench.frameworks.lightning.adapter:LightningAdapter",
        family="pytorch", code="lightning", carrier="pytorch", profiler="torch",
        color="#792ee5", style="LightningModule + Trainer",
        description="PyTorch Lightning: the PyTorch twin in a LightningModule, Trainer.fit",
    ),
    "keras-tf": FrameworkSpec(
        id="keras-tf", backend="tensorflow", env={"KERAS_BACKEND": "tensorflow"},
        color="#ff8f00", description="Keras 3 on TensorFlow", **_KERAS_SPEC,
    ),
    "keras-jax": FrameworkSpec(
        id="keras-jax", backend="jax", env={"KERAS_BACKEND": "jax"}, color="#1a73e8",
        description="Keras 3 on JAX", **{**_KERAS_SPEC, "profiler": "jax"},
    ),
    "keras-torch": FrameworkSpec(
        id="keras-torch", backend="torch", env={"KERAS_BACKEND": "torch"}, color="#d00000",
        description="Keras 3 on PyTorch", **{**_KERAS_SPEC, "profiler": "torch"},
    ),
}
for _spec in FRAMEWORKS.values():  # a carrier must itself be a framework
    if _spec.carrier not in FRAMEWORKS:
        raise ValueError(f"framework {_spec.id!r}: carrier {_spec.carrier!r} is not a framework")


def spec(framework: str) -> FrameworkSpec:
    """The spec of ``framework``; an unknown id is a one-line user error, never a KeyError."""
    from twinbench.errors import UserError

    try:
        return FRAMEWORKS[framework]
    except KeyError:
        raise UserError(f"unknown framework {framework!r} (valid: "
                        f"{', '.join(FRAMEWORKS)})") from None


def of_family(frameworks: Any, fam: str) -> list[str]:
    """The ids among ``frameworks`` that speak for ``fam``, unknown ids left out."""
    return [f for f in frameworks if f in FRAMEWORKS and FRAMEWORKS[f].family == fam]


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


# ``on_step(steps_done)`` after an optimizer step (or a block of them, Keras'
# steps_per_execution) has finished; it blocks training (an evaluation may run in it).
OnStep = Callable[[int], None]


class Adapter(Protocol):
    """The contract between scenarios and a framework; numpy goes in and comes out."""

    id: str
    backend: str
    PROFILER: str  # "torch" | "tensorflow" | "jax": the profiler the profile scenario uses

    def call_paths(self) -> tuple[CallPath, ...]:
        """Every documented inference and training path of this framework (see CallPath)."""

    def predictor(self, net: Any, path: CallPath,
                  batch_size: int | None = None) -> Callable[[Any], np.ndarray]:
        """A function running ``path`` on a device batch (for a ``batched`` path: many batches
        of ``batch_size`` in one call) and returning numpy outputs; compiles lazily on its
        first call. ``net`` may be changed for the path (channels-last): build one per path."""

    def path_knobs(self, net: Any, path: CallPath) -> dict[str, Any]:
        """The knobs in effect when ``path`` runs on ``net``, as the framework reports them."""

    def thread_settings(self) -> dict[str, Any]: ...

    def knobs(self, net: Any) -> dict[str, Any]: ...

    def labels(self, y: np.ndarray) -> Any: ...

    def versions(self) -> dict[str, str]: ...

    def build(self, model: str, size: dict[str, Any], input_shape: tuple[int, ...],
              num_classes: int) -> Any: ...

    def get_weights(self, net: Any) -> dict[str, np.ndarray]: ...

    def set_weights(self, net: Any, weights: dict[str, np.ndarray]) -> None: ...

    def to_device(self, x: np.ndarray) -> Any:
        """Move a numpy batch (NHWC for images) into the framework's own layout and device."""

    def compile_train(self, net: Any, lr: float, momentum: float, optimizer: str = "sgd",
                      weight_decay: float = 0.0, path: CallPath | None = None) -> None:
        """Attach an optimizer (one of ``OPTIMIZERS``) and the loss; it lives across ``fit``s.

        ``momentum`` is SGD's (AdamW uses ``ADAMW_BETAS``); ``weight_decay`` is AdamW's
        decoupled decay (SGD rejects a non-zero one: torch couples it through momentum, Keras
        does not, so the twins would train different functions). ``path`` is a train
        CallPath (default: the out-of-box one); later ``fit`` calls run through it.
        """

    def fit(self, net: Any, x: Any, y: Any, batch_size: int,
            on_step: OnStep | None = None) -> float:
        """One pass over (x, y) in order, the framework's idiomatic way (one ``fit`` call);
        returns the loss. ``on_step`` is called after every step (see OnStep)."""

    def train_step(self, net: Any, x: Any, y: Any) -> float:
        """One optimizer step on one batch; returns that batch's loss (used by parity)."""

    def predict(self, net: Any, x: Any) -> np.ndarray:
        """Eval-mode forward; returns numpy logits (includes the device-to-host copy)."""

    def synchronize(self) -> None:
        """Wait for dispatched work (JAX, CUDA); a no-op where calls are synchronous."""

    def flops_per_sample(self, net: Any, x_one: Any) -> tuple[int, list[str]]:
        """Forward FLOPs of one sample, and the layers the counter could not see into."""

    def gemm(self, n: int) -> tuple[Callable[[], object], int]:
        """One fp32 n x n matrix product (the machine ceiling), and its FLOPs."""

    def stream(self, n_floats: int) -> tuple[Callable[[], object], int]:
        """An elementwise pass over ``n_floats`` floats, and the bytes it moves."""
