"""PyTorch -> ExecuTorch ``.pte`` with the XNNPACK backend: fp32, and int8 through PT2E.

The documented flow: ``torch.export`` -> ``to_edge_transform_and_lower(..., partitioner=
[XnnpackPartitioner()])`` -> ``to_executorch()`` (the ``torch-executorch`` route of
``twinbench.export.routes``). For int8 (``int8-full``): the exported module
is annotated by ``XNNPACKQuantizer`` (symmetric, per-channel weights, static int8 activations),
``prepare_pt2e`` inserts observers, the representative samples from the task's training split
calibrate them, ``convert_pt2e`` folds them into quantize/dequantize pairs, and the result is
exported and lowered again; XNNPACK then runs the int8 kernels. Input and output stay float32,
as in LiteRT's full-integer variant, so both runtimes are fed the same numbers.

Trap: the first lowering in a process builds XNNPACK's pattern graphs (upsampling patterns,
tens of seconds on a loaded 2-core machine) and caches them, so the first variant's export time
includes a one-off cost; the record says which export came first.

Only the pytorch worker imports this module; torch and executorch are imported inside.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

VARIANTS = ("fp32", "int8-full")
SUFFIX = ".pte"
_LOWERED = {"count": 0}  # lowerings done in this process (the first pays the one-off setup)


def to_runtime_layout(x: np.ndarray) -> np.ndarray:
    """Task inputs -> the .pte input: images NHWC -> NCHW float32, token ids -> int64."""
    if x.dtype.kind != "f":
        return np.ascontiguousarray(x.astype(np.int64))
    if x.ndim == 4:
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)
    return np.ascontiguousarray(x, dtype=np.float32)


def from_runtime_layout(out: np.ndarray) -> np.ndarray:
    """Dense outputs NCHW -> NHWC, the layout the task's metrics read (as the adapter does)."""
    return out.transpose(0, 2, 3, 1) if out.ndim == 4 else out


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {"torch": version("torch"), "executorch": version("executorch"),
            "torchao": version("torchao")}


def _quantize(net: Any, example: tuple, calibration: np.ndarray) -> Any:
    import torch
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = XNNPACKQuantizer().set_global(
        get_symmetric_quantization_config(is_per_channel=True))
    prepared = prepare_pt2e(torch.export.export(net, example).module(), quantizer)
    with torch.no_grad():
        for s in calibration:  # observers record activation ranges, one sample at a time
            prepared(torch.from_numpy(np.ascontiguousarray(s[None])))
    return convert_pt2e(prepared)


def _delegation(edge: Any) -> dict[str, int]:
    """How many graph nodes XNNPACK took over (the rest run as portable CPU kernels)."""
    try:
        from executorch.devtools.backend_debug import get_delegation_info

        info = get_delegation_info(edge.exported_program().graph_module)
        return {"delegated_subgraphs": int(info.num_delegated_subgraphs),
                "delegated_nodes": int(info.num_delegated_nodes),
                "non_delegated_nodes": int(info.num_non_delegated_nodes),
                "non_delegated_ops": {op: int(b.non_delegated) for op, b in
                                      info.delegation_by_operator.items() if b.non_delegated}}
    except Exception as exc:  # a bonus figure: never lose the export for it
        return {"delegation_error": f"{type(exc).__name__}: {exc}"[:200]}


def export(net: Any, variant: str, example: np.ndarray, calibration: np.ndarray,
           path: Path) -> dict[str, Any]:
    """Write ``path`` (.pte) for ``variant``; returns details for the record.

    ``example`` is one batch-1 input (it fixes the exported shape), ``calibration`` the
    representative samples (N, ...), both already in the .pte's layout (NCHW images).
    """
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    if variant not in VARIANTS:
        raise ValueError(f"unknown ExecuTorch variant {variant!r} (valid: {', '.join(VARIANTS)})")
    net = net.eval()
    ex = (torch.from_numpy(example),)
    first = _LOWERED["count"] == 0
    t0 = time.perf_counter()
    module = _quantize(net, ex, calibration) if variant == "int8-full" else net
    edge = to_edge_transform_and_lower(torch.export.export(module, ex),
                                       partitioner=[XnnpackPartitioner()])
    program = edge.to_executorch()
    path.write_bytes(program.buffer)
    export_s = time.perf_counter() - t0
    _LOWERED["count"] += 1
    return {"export_s": export_s, "tool": "torch.export + to_edge_transform_and_lower",
            "backend": "XnnpackPartitioner", "first_lowering_in_process": first,
            "quantizer": "XNNPACKQuantizer symmetric per-channel (PT2E)"
            if variant == "int8-full" else None,
            "calibration_samples": int(len(calibration)) if variant == "int8-full" else 0,
            **_delegation(edge)}
