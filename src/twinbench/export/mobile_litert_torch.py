"""PyTorch -> LiteRT ``.tflite`` through ``litert-torch`` (formerly ai-edge-torch): fp32 and
full-integer int8 through PT2E, run by the same LiteRT interpreter as the Keras route.

The documented flow: ``litert_torch.convert(module.eval(), sample_args)`` -> ``.export(path)``.
For int8 (``int8-full``): ``torch.export`` -> ``prepare_pt2e`` with litert-torch's own
``PT2EQuantizer`` (symmetric, per-channel weights, static int8 activations) -> calibration on
the representative samples -> ``convert_pt2e(fold_quantize=False)`` -> ``litert_torch.convert(
..., quant_config=QuantConfig(pt2e_quantizer=...))``. Input and output stay float32, as in the
other int8 routes.

The route is in the table as unavailable (``twinbench.export.routes``): litert-torch cannot be
installed beside the pinned set (docs/mobile.md). The module is kept importable without it, so
the table's checks and the day it installs need no other change. The input keeps PyTorch's NCHW
layout (what the twin computes in), like the ExecuTorch route.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from twinbench.export.mobile_executorch import from_runtime_layout, to_runtime_layout

VARIANTS = ("fp32", "int8-full")
SUFFIX = ".tflite"
__all__ = ["VARIANTS", "SUFFIX", "to_runtime_layout", "from_runtime_layout", "versions", "export"]


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {"torch": version("torch"), "litert-torch": version("litert-torch")}


def _quantized(net: Any, example: tuple[Any, ...], calibration: np.ndarray) -> tuple[Any, Any]:
    import torch
    from litert_torch.quantize import pt2e_quantizer
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = pt2e_quantizer.PT2EQuantizer().set_global(
        pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True))
    prepared = prepare_pt2e(torch.export.export(net, example).module(), quantizer)
    with torch.no_grad():
        for s in calibration:  # observers record activation ranges, one sample at a time
            prepared(torch.from_numpy(np.ascontiguousarray(s[None])))
    return convert_pt2e(prepared, fold_quantize=False), QuantConfig(pt2e_quantizer=quantizer)


def export(net: Any, variant: str, example: np.ndarray, calibration: np.ndarray,
           path: Path) -> dict[str, Any]:
    """Write ``path`` (.tflite) for ``variant``; returns details for the record."""
    import litert_torch
    import torch

    if variant not in VARIANTS:
        raise ValueError(f"unknown litert-torch variant {variant!r} (valid: {', '.join(VARIANTS)})")
    net = net.eval()
    ex = (torch.from_numpy(example),)
    t0 = time.perf_counter()
    if variant == "int8-full":
        module, quant = _quantized(net, ex, calibration)
        edge = litert_torch.convert(module, ex, quant_config=quant)
    else:
        edge = litert_torch.convert(net, ex)
    edge.export(str(path))
    return {"export_s": time.perf_counter() - t0, "tool": "litert_torch.convert",
            "quantizer": "litert-torch PT2EQuantizer symmetric per-channel (PT2E)"
            if variant == "int8-full" else None,
            "calibration_samples": int(len(calibration)) if variant == "int8-full" else 0}
