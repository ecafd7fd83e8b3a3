"""PyTorch adapter: the explicit training loop a PyTorch user writes, eager or compiled.

Images arrive as NHWC numpy and are moved once, outside every timed region, to NCHW tensors.
Call paths (``PATHS``): out-of-box is eager (``eval()`` + ``torch.inference_mode()``, the
explicit loop); tuned adds ``torch.compile`` (default mode, inductor) and, for conv nets,
channels-last memory format, the two first recommendations of PyTorch's CPU tuning guide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from twinbench.frameworks.base import (
    ADAMW_BETAS,
    ADAMW_EPS,
    CallPath,
    OnStep,
    check_optimizer,
    default_path,
)
from twinbench.frameworks.pytorch import weights
from twinbench.zoo.pytorch import builders

_GUIDE = "https://docs.pytorch.org/tutorials/recipes/recipes/tuning_guide.html"
_COMPILE = "https://docs.pytorch.org/docs/stable/generated/torch.compile.html"
_EAGER = {"mode": "eval()", "grad": "torch.inference_mode()"}
_COMPILED = {"torch.compile": "mode=default, backend=inductor"}
_CL = {"memory_format": "channels_last"}
PATHS: tuple[CallPath, ...] = (
    CallPath("eager", "infer", "out-of-box", _EAGER,
             "https://docs.pytorch.org/docs/stable/generated/torch.autograd.grad_mode."
             "inference_mode.html"),
    CallPath("compile", "infer", "tuned", {**_EAGER, **_COMPILED}, _COMPILE),
    CallPath("compile-channels-last", "infer", "tuned", {**_EAGER, **_COMPILED, **_CL}, _GUIDE,
             images_only=True),
    CallPath("loop", "train", "out-of-box", {"loop": "zero_grad, forward, backward, step"},
             "https://docs.pytorch.org/tutorials/beginner/basics/optimization_tutorial.html"),
    CallPath("compile", "train", "tuned", _COMPILED, _COMPILE),
    CallPath("compile-channels-last", "train", "tuned", {**_COMPILED, **_CL}, _GUIDE,
             images_only=True),
)


Module = Callable[..., Any]  # an nn.Module, or what torch.compile wraps it in


def prepare(net: nn.Module, path: CallPath) -> tuple[Module, Callable[[Any], Any]]:
    """(the module a path calls, the input conversion it needs) — shared with Lightning.

    Channels-last converts the module in place (its parameters keep their values) and every
    input batch, as the tuning guide shows; ``torch.compile`` wraps the module (compiling on
    the first call, which the scenarios time apart as the first call).
    """
    conv: Callable[[Any], Any] = lambda x: x  # noqa: E731
    if path.knobs.get("memory_format") == "channels_last":
        net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # stubs lack it
        conv = lambda x: x.contiguous(memory_format=torch.channels_last)  # noqa: E731
    return (torch.compile(net) if "torch.compile" in path.knobs else net), conv


def make_optimizer(params: Iterable[nn.Parameter], lr: float, momentum: float,
                   optimizer: str = "sgd", weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """The optimizer the PyTorch and Lightning twins share, every hyper-parameter explicit.

    AdamW decays every parameter in the plain list (biases, BatchNorm and LayerNorm too), as
    Keras' AdamW decays every trainable variable: no parameter groups on either side.
    """
    check_optimizer(optimizer, weight_decay)
    if optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=ADAMW_BETAS, eps=ADAMW_EPS,
                                 weight_decay=weight_decay, amsgrad=False)
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=0.0)


def optimizer_knobs(opt: torch.optim.Optimizer) -> dict[str, Any]:
    """The optimizer as built, read back from torch (the record's proof of explicit values)."""
    keys = ("lr", "momentum", "betas", "eps", "weight_decay")
    return {"name": type(opt).__name__, **{k: opt.defaults[k] for k in keys if k in opt.defaults}}


class TorchAdapter:
    id = "pytorch"
    backend = "torch"
    PROFILER = "torch"  # twinbench.profiling: which profiler the profile scenario uses
    PATHS = PATHS

    def __init__(self, threads: int, seed: int, device: str = "cpu") -> None:
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:  # already set once in this process; the record says what it is
            pass
        torch.manual_seed(seed)
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        self.device = torch.device(device)
        # per net: (optimizer, loss, the module the loop calls, its input conversion, path)
        self._opt: dict[int, tuple[torch.optim.Optimizer, Module, Module,
                                   Callable[[Any], Any], CallPath]] = {}

    def call_paths(self) -> tuple[CallPath, ...]:
        return self.PATHS

    def path_knobs(self, net: nn.Module, path: CallPath) -> dict[str, Any]:
        return {"call_path": path.id, **path.knobs}

    def predictor(self, net: nn.Module, path: CallPath,
                  batch_size: int | None = None) -> Callable[[Any], np.ndarray]:
        module, conv = prepare(net, path)

        def run(x: torch.Tensor) -> np.ndarray:
            return self._predict(net, module, conv(x))

        return run

    def versions(self) -> dict[str, str]:
        return {"torch": torch.__version__}

    def thread_settings(self) -> dict[str, int]:
        return {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}

    def build(self, model: str, size: dict[str, Any], input_shape: tuple[int, ...],
              num_classes: int) -> nn.Module:
        net = builders.build(model, size, input_shape, num_classes)
        return net.to(self.device)

    def get_weights(self, net: nn.Module) -> dict[str, np.ndarray]:
        return weights.to_canonical(net)

    def set_weights(self, net: nn.Module, w: dict[str, np.ndarray]) -> None:
        weights.from_canonical(net, w)

    def to_device(self, x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.array(x))  # a writable copy; data splits are read-only
        if not t.is_floating_point():
            t = t.long()  # token ids: embeddings index with int64
        elif t.ndim == 4:  # images NHWC -> NCHW, the layout PyTorch convolutions expect
            t = t.permute(0, 3, 1, 2).contiguous()
        return t.to(self.device)

    def labels(self, y: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.array(y))
        # class ids -> int64 for cross-entropy; float targets (detection boxes) pass through
        return (t if t.is_floating_point() else t.long()).to(self.device)

    def compile_train(self, net: nn.Module, lr: float, momentum: float, optimizer: str = "sgd",
                      weight_decay: float = 0.0, path: CallPath | None = None) -> None:
        path = path or default_path(self.PATHS, "train")
        module, conv = prepare(net, path)
        opt = make_optimizer(net.parameters(), lr, momentum, optimizer, weight_decay)
        # a twin that brings its own loss (DETR's set loss) exposes loss(outputs, targets)
        self._opt[id(net)] = (opt, getattr(net, "loss", None) or nn.CrossEntropyLoss(), module,
                              conv, path)

    def knobs(self, net: nn.Module) -> dict[str, Any]:
        if id(net) not in self._opt:
            return {}
        opt, _, _, _, path = self._opt[id(net)]
        return {**self.path_knobs(net, path), "optimizer": optimizer_knobs(opt)}

    def train_step(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
        opt, loss_fn, module, conv, _ = self._opt[id(net)]
        net.train()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(module(conv(x)), y)
        loss.backward()
        opt.step()
        return float(loss.detach())

    def fit(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int,
            on_step: OnStep | None = None) -> float:
        opt, loss_fn, module, conv, _ = self._opt[id(net)]
        net.train()
        total, steps = torch.zeros((), device=self.device), 0
        for i in range(0, len(x) - batch_size + 1, batch_size):
            xb, yb = conv(x[i : i + batch_size]), y[i : i + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(module(xb), yb)
            loss.backward()
            opt.step()
            total += loss.detach()
            steps += 1
            if on_step is not None:
                self.synchronize()
                on_step(steps)
                net.train()  # an evaluation in on_step may have switched to eval mode
        return float(total) / max(steps, 1)  # the epoch mean, as Keras' fit reports it

    def predict(self, net: nn.Module, x: torch.Tensor) -> np.ndarray:
        return self._predict(net, net, x)

    @staticmethod
    def _predict(net: nn.Module, module: Module, x: torch.Tensor) -> np.ndarray:
        net.eval()
        with torch.inference_mode():
            out = module(x)
        if out.ndim == 4:  # dense outputs NCHW -> NHWC, the layout metrics read
            out = out.permute(0, 2, 3, 1)
        array: np.ndarray = out.cpu().numpy()
        return array

    def flops_per_sample(self, net: nn.Module, x_one: torch.Tensor) -> tuple[int, list[str]]:
        from twinbench.measure.flops import torch_flops

        return torch_flops(net, x_one), []

    def gemm(self, n: int) -> tuple[Callable[[], object], int]:
        """One fp32 n x n matrix product through the framework's own math library."""
        a, b = torch.randn(n, n, device=self.device), torch.randn(n, n, device=self.device)
        return (lambda: torch.mm(a, b)), 2 * n**3

    def stream(self, n_floats: int) -> tuple[Callable[[], object], int]:
        """``a += d`` in place over preallocated arrays (two reads, one write per element, no
        allocation in the loop): bytes moved per call. The same kernel on every side."""
        a = torch.zeros(n_floats, device=self.device)
        d = torch.full((n_floats,), 1e-7, device=self.device)
        return (lambda: a.add_(d)), 3 * 4 * n_floats

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()


