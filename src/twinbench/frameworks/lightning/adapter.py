"""Lightning adapter: the zoo's PyTorch twin trained the way a Lightning user trains it.

The model code is the *same* ``nn.Module`` as the PyTorch framework's (``zoo/pytorch``), wrapped
in a ``LightningModule`` whose ``training_step`` returns the loss (cross-entropy, or the twin's
own) and whose ``configure_optimizers`` returns the PyTorch adapter's optimizer (SGD or AdamW).
Training goes through ``lightning.Trainer.fit`` over a ``DataLoader(TensorDataset(x, y))``;
everything else (threads, layout moves, eval-mode predict under ``torch.inference_mode()``,
weights) is the PyTorch adapter's code, inherited.

What Lightning costs, stated rather than hidden: every ``fit`` call builds a new ``Trainer``
(tens of milliseconds) and ``Trainer.fit`` runs its setup and teardown (connectors, callbacks,
hooks, strategy and optimizer setup, moving the module to the device and back to the CPU) on top
of the per-batch work. On the (busy, so noisy) 2-core development machine: 20-45 ms to build a
Trainer, and a one-step ``fit`` of the tiny ResNet took ~0.13 s longer than the PyTorch loop's;
``benchmarks/lightning_overhead.py`` measures both on yours. The train scenario times whole
``fit`` calls, so with few steps per sample this fixed cost weighs heavily: it is what a
Lightning user pays for each ``fit`` call (``train_step`` is a one-batch ``fit``).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any, cast

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from twinbench.frameworks.base import CallPath, OnStep, check_optimizer, default_path
from twinbench.frameworks.lightning import weights
from twinbench.frameworks.pytorch.adapter import TorchAdapter, make_optimizer, optimizer_knobs

# Keep workers quiet: Lightning logs "GPU available ..." / "Trainer.fit stopped ..." and a tip
# on every Trainer (Lightning's documented way to silence it is this logger's level). Two
# warnings say nothing about the comparison: the DataLoader worker hint (the data is already an
# in-memory tensor; the PyTorch loop slices it without any DataLoader) and a FutureWarning that
# Lightning 2.6's pytree helper triggers in torch 2.13.
logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
warnings.filterwarnings("ignore", message=r".*does not have many workers")
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)",
                        category=FutureWarning)

_ACCELERATOR = {"cpu": "cpu", "cuda": "gpu"}
_DOCS = "https://lightning.ai/docs/pytorch/stable/"
_COMPILED = {"torch.compile": "mode=default, backend=inductor"}
_TRAINER = {"trainer": "new lightning.Trainer per fit() call"}
PATHS: tuple[CallPath, ...] = (
    CallPath("module", "infer", "out-of-box",
             {"call": "LightningModule(x)", "mode": "eval()", "grad": "torch.inference_mode()"},
             _DOCS + "deploy/production_basic.html"),
    CallPath("trainer-predict", "infer", "out-of-box", {"call": "Trainer.predict(DataLoader)"},
             _DOCS + "deploy/production_basic.html", parts=("throughput",), batched=True),
    CallPath("compile", "infer", "tuned",
             {"call": "LightningModule(x)", "grad": "torch.inference_mode()", **_COMPILED},
             _DOCS + "advanced/compile.html"),
    CallPath("trainer-fit", "train", "out-of-box", _TRAINER, _DOCS + "common/trainer.html"),
    CallPath("trainer-fit-compiled", "train", "tuned", {**_TRAINER, **_COMPILED},
             _DOCS + "advanced/compile.html"),
)


class _OnStep(L.Callback):
    """``on_step`` after each optimizer step of ``Trainer.fit`` (Lightning's CPU loop is
    synchronous); train mode restored after it, in case it evaluated the model."""

    def __init__(self, on_step: OnStep) -> None:
        self.on_step = on_step

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        self.on_step(batch_idx + 1)
        pl_module.train()


class LitTwin(L.LightningModule):
    """A zoo twin as a LightningModule: the model is ``net``, unchanged.

    ``configure_optimizers`` builds the optimizer once and returns that same object on every
    ``Trainer.fit``: Lightning calls the hook again at each ``fit``, and a fresh optimizer would
    drop the momentum buffers (SGD) or moments and step count (AdamW) between the adapter's
    ``fit`` calls (epochs, timing samples), training a different function than the PyTorch and
    Keras twins, whose optimizers live across calls.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.lr = 0.0
        self.momentum = 0.0
        self.optimizer, self.weight_decay = "sgd", 0.0
        self._opt: torch.optim.Optimizer | None = None
        self.path: CallPath = default_path(PATHS, "train")

    def set_optimizer(self, lr: float, momentum: float, optimizer: str = "sgd",
                      weight_decay: float = 0.0) -> None:
        """Set the optimizer's hyper-parameters; the next ``fit`` starts a fresh optimizer."""
        self.lr, self.momentum, self._opt = lr, momentum, None
        self.optimizer, self.weight_decay = optimizer, weight_decay

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)  # (B, C, H, W) -> (B, num_classes)
        return out

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor],
                      batch_idx: int) -> torch.Tensor:
        x, y = batch
        # the twin's own loss when it brings one (DETR's set loss), else cross-entropy
        loss = (getattr(self.net, "loss", None) or F.cross_entropy)(self(x), y)
        # the epoch mean, read back from trainer.callback_metrics (Keras' fit reports the same)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def predict_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        out: torch.Tensor = self(batch[0])  # a TensorDataset batch is [x]
        return out

    def configure_optimizers(self) -> torch.optim.Optimizer:
        if self._opt is None:
            self._opt = make_optimizer(self.parameters(), self.lr, self.momentum,
                                       self.optimizer, self.weight_decay)
        return self._opt


def _lit(net: nn.Module) -> LitTwin:
    """The adapter's nets are LitTwins (its build); typed so as the shared contract's nn.Module."""
    if not isinstance(net, LitTwin):
        raise TypeError(f"lightning adapter: expected a LitTwin, got {type(net).__name__}")
    return net


class LightningAdapter(TorchAdapter):
    id = "lightning"
    backend = "torch"
    PATHS = PATHS

    def __init__(self, threads: int, seed: int, device: str = "cpu") -> None:
        super().__init__(threads, seed, device)
        if self.device.type not in _ACCELERATOR:
            raise ValueError(f"lightning adapter: no accelerator for device {device!r}")
        self._compiled: dict[int, Any] = {}  # net -> what Trainer.fit is given

    def versions(self) -> dict[str, str]:
        return {"lightning": L.__version__, "torch": torch.__version__}

    def build(self, model: str, size: dict[str, Any], input_shape: tuple[int, ...],
              num_classes: int) -> LitTwin:
        return LitTwin(super().build(model, size, input_shape, num_classes))

    def get_weights(self, net: nn.Module) -> dict[str, Any]:
        return weights.to_canonical(net)

    def set_weights(self, net: nn.Module, w: dict[str, Any]) -> None:
        weights.from_canonical(net, w)

    def compile_train(self, net: nn.Module, lr: float, momentum: float, optimizer: str = "sgd",
                      weight_decay: float = 0.0, path: CallPath | None = None) -> None:
        check_optimizer(optimizer, weight_decay)  # now, not at the first fit
        net = _lit(net)
        net.set_optimizer(lr, momentum, optimizer, weight_decay)
        net.path = path or default_path(PATHS, "train")
        # Lightning's recipe: model = torch.compile(model); trainer.fit(model). Kept here, not
        # on the module: an attribute would register the wrapper as its own submodule.
        self._compiled[id(net)] = torch.compile(net) if "torch.compile" in net.path.knobs \
            else net

    def path_knobs(self, net: Any, path: CallPath) -> dict[str, Any]:
        return {**super().path_knobs(net, path), "precision": "32-true",
                "accelerator": _ACCELERATOR[self.device.type]}

    def predictor(self, net: nn.Module, path: CallPath,
                  batch_size: int | None = None) -> Callable[[Any], np.ndarray]:
        if not path.batched:
            return super().predictor(net, path)
        lit = _lit(net)

        def run(x: torch.Tensor) -> np.ndarray:  # the documented batch path: Trainer.predict
            loader = DataLoader(TensorDataset(x), batch_size=batch_size or len(x))
            out = cast(list[torch.Tensor], self._trainer().predict(lit, loader))
            array: np.ndarray = torch.cat(out).cpu().numpy()
            return array

        return run

    def knobs(self, net: Any) -> dict[str, Any]:
        return {**self.path_knobs(net, net.path),
                "dataloader": "DataLoader(TensorDataset), num_workers=0",
                **({"optimizer": optimizer_knobs(net._opt)} if net._opt is not None else {})}

    def _trainer(self, callbacks: list[L.Callback] | None = None) -> L.Trainer:
        return L.Trainer(
            max_epochs=1, accelerator=_ACCELERATOR[self.device.type], devices=1, logger=False,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            callbacks=callbacks or [],
        )

    def fit(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int,
            on_step: OnStep | None = None) -> float:
        # drop_last: full batches only, exactly the batches the PyTorch twin's loop runs
        loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=False,
                            drop_last=True)
        if len(loader) == 0:
            raise ValueError(f"lightning fit: {len(x)} samples make no full batch of {batch_size}")
        trainer = self._trainer([_OnStep(on_step)] if on_step is not None else None)
        # Lightning (>= 2.2) keeps the train/eval mode it finds and only warns: after an
        # eval-mode predict, fit would train with BatchNorm's running statistics. So set train
        # mode, as the PyTorch loop does and as a Lightning user must after evaluating by hand.
        net.train()
        trainer.fit(self._compiled.get(id(net), net), loader)
        net.to(self.device)  # Trainer's teardown moves the module to the CPU (no-op on CPU)
        return float(trainer.callback_metrics["train_loss"])

    def train_step(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
        """One optimizer step = one ``Trainer.fit`` over a one-batch loader (honest Lightning)."""
        return self.fit(net, x, y, batch_size=len(x))
