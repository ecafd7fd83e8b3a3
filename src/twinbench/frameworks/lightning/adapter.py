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
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from twinbench.frameworks.base import check_optimizer
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

    def set_optimizer(self, lr: float, momentum: float, optimizer: str = "sgd",
                      weight_decay: float = 0.0) -> None:
        """Set the optimizer's hyper-parameters; the next ``fit`` starts a fresh optimizer."""
        self.lr, self.momentum, self._opt = lr, momentum, None
        self.optimizer, self.weight_decay = optimizer, weight_decay

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, C, H, W) -> (B, num_classes)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor],
                      batch_idx: int) -> torch.Tensor:
        x, y = batch
        # the twin's own loss when it brings one (DETR's set loss), else cross-entropy
        loss = (getattr(self.net, "loss", None) or F.cross_entropy)(self(x), y)
        # the epoch mean, read back from trainer.callback_metrics (Keras' fit reports the same)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        if self._opt is None:
            self._opt = make_optimizer(self.parameters(), self.lr, self.momentum,
                                       self.optimizer, self.weight_decay)
        return self._opt


class LightningAdapter(TorchAdapter):
    id = "lightning"
    backend = "torch"

    def __init__(self, threads: int, seed: int, device: str = "cpu") -> None:
        super().__init__(threads, seed, device)
        if self.device.type not in _ACCELERATOR:
            raise ValueError(f"lightning adapter: no accelerator for device {device!r}")

    def versions(self) -> dict[str, str]:
        return {"lightning": L.__version__, "torch": torch.__version__}

    def build(self, model: str, size: dict[str, Any], input_shape: tuple[int, ...],
              num_classes: int) -> LitTwin:
        return LitTwin(super().build(model, size, input_shape, num_classes))

    def get_weights(self, net: nn.Module) -> dict[str, Any]:
        return weights.to_canonical(net)

    def set_weights(self, net: nn.Module, w: dict[str, Any]) -> None:
        weights.from_canonical(net, w)

    def compile_train(self, net: LitTwin, lr: float, momentum: float, optimizer: str = "sgd",
                      weight_decay: float = 0.0) -> None:
        check_optimizer(optimizer, weight_decay)  # now, not at the first fit
        net.set_optimizer(lr, momentum, optimizer, weight_decay)

    def knobs(self, net: Any) -> dict[str, Any]:
        return {"trainer": "new lightning.Trainer per fit() call", "precision": "32-true",
                "dataloader": "DataLoader(TensorDataset), num_workers=0",
                "accelerator": _ACCELERATOR[self.device.type],
                **({"optimizer": optimizer_knobs(net._opt)} if net._opt is not None else {})}

    def _trainer(self) -> L.Trainer:
        return L.Trainer(
            max_epochs=1, accelerator=_ACCELERATOR[self.device.type], devices=1, logger=False,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        )

    def fit(self, net: LitTwin, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
        # drop_last: full batches only, exactly the batches the PyTorch twin's loop runs
        loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=False,
                            drop_last=True)
        if len(loader) == 0:
            raise ValueError(f"lightning fit: {len(x)} samples make no full batch of {batch_size}")
        trainer = self._trainer()
        # Lightning (>= 2.2) keeps the train/eval mode it finds and only warns: after an
        # eval-mode predict, fit would train with BatchNorm's running statistics. So set train
        # mode, as the PyTorch loop does and as a Lightning user must after evaluating by hand.
        net.train()
        trainer.fit(net, loader)
        net.to(self.device)  # Trainer's teardown moves the module to the CPU (no-op on CPU)
        return float(trainer.callback_metrics["train_loss"])

    def train_step(self, net: LitTwin, x: torch.Tensor, y: torch.Tensor) -> float:
        """One optimizer step = one ``Trainer.fit`` over a one-batch loader (honest Lightning)."""
        return self.fit(net, x, y, batch_size=len(x))
