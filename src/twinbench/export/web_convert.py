"""Export routes to the browser: the obvious documented code for each framework.

* Keras on TensorFlow -> SavedModel (``model.export``) -> TF.js graph model (the ``tensorflowjs``
  converter, run by :mod:`twinbench.export.tfjs_converter` in its own process);
* Keras on TensorFlow -> ``.tflite`` (``model.export(format="litert")``, shared with the
  export-mobile scenario) with a fixed batch-1 input, because LiteRT.js wants static shapes;
* PyTorch -> ONNX (``torch.onnx.export``, the torch.export-based exporter) with every weight
  inside the file: onnxruntime-web cannot fetch ONNX "external data".

Each function imports its framework lazily: a worker only ever calls its own framework's route.
Images arrive per sample as NHWC; the ONNX model keeps PyTorch's NCHW, which ``WebModel.layout``
tells the caller so it can feed the page the same numbers in the model's own layout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONVERTER_TIMEOUT_S = 900.0  # the most a SavedModel -> TF.js conversion may take


class ConversionError(RuntimeError):
    """A route could not produce its model; the message is one line."""


@dataclass
class WebModel:
    route: str
    entry: Path  # the file the page loads; its siblings in the folder are fetched as needed
    input_shape: tuple[int, ...]  # batch 1, in the model's own layout
    layout: str  # "NHWC" | "NCHW"
    convert_s: float
    tools: dict[str, str] = field(default_factory=dict)  # converter name -> version

    @property
    def files(self) -> list[Path]:
        return sorted(p for p in self.entry.parent.iterdir() if p.is_file())

    @property
    def bytes_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.files)


def _image_shape(sample_shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(sample_shape) != 3:
        raise ConversionError(f"browser routes take images (H, W, C); got input {sample_shape}")
    h, w, c = (int(d) for d in sample_shape)
    return h, w, c


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}"[:300]


def converter_timeout_s(job_timeout_s: float | None) -> float:
    """Half the job's budget (at most 900 s): the converter's own timeout must fire before the
    job's watchdog kills the worker, so the user reads "converter timed out", and the LiteRT.js
    route and the pages still have time to run."""
    return CONVERTER_TIMEOUT_S if job_timeout_s is None else min(CONVERTER_TIMEOUT_S,
                                                                   job_timeout_s / 2)


def to_tfjs(net: Any, out: Path, sample_shape: tuple[int, ...],
            timeout_s: float = CONVERTER_TIMEOUT_S) -> WebModel:
    h, w, c = _image_shape(sample_shape)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    saved = out.parent / f"{out.name}-savedmodel"
    try:
        net.export(str(saved), format="tf_saved_model", verbose=False)
    except Exception as exc:
        raise ConversionError(f"SavedModel export failed: {_one_line(exc)}") from exc
    report = _run_converter(saved, out, timeout_s)
    import keras
    import tensorflow as tf

    tools = {"keras": keras.__version__, "tensorflow": tf.__version__,
             "tensorflowjs": report["tensorflowjs"]}
    if report.get("stand_ins"):
        tools["stand-ins"] = ", ".join(report["stand_ins"])
    if report.get("patches"):
        tools["patches"] = "; ".join(report["patches"])
    return WebModel("tfjs", out / "model.json", (1, h, w, c), "NHWC",
                    time.perf_counter() - t0, tools)


def _run_converter(saved: Path, out: Path, timeout_s: float) -> dict[str, Any]:
    """Run ``twinbench.export.tfjs_converter``; any way it can go wrong is one ConversionError
    line (a crash, a non-zero exit, a hang, a last stdout line that is not its JSON report)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "twinbench.export.tfjs_converter", str(saved), str(out)],
            capture_output=True, text=True, env=env, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ConversionError(f"tensorflowjs converter timed out after {timeout_s:g} s") from exc
    except OSError as exc:
        raise ConversionError(f"tensorflowjs converter did not start: {_one_line(exc)}") from exc
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()] or ["no output"]
        code = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
        raise ConversionError(f"tensorflowjs converter failed ({code}): {lines[-1][:300]}")
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    try:
        report = json.loads(last)
        if not isinstance(report, dict) or "tensorflowjs" not in report:
            raise ValueError("no 'tensorflowjs' version in it")
    except ValueError as exc:
        shown = repr(last[:120]) if last else "nothing"
        raise ConversionError(f"tensorflowjs converter printed {shown} instead of its JSON "
                              f"report ({exc})"[:400]) from exc
    return report


def to_litert(net: Any, out: Path, sample_shape: tuple[int, ...],
              timeout_s: float = CONVERTER_TIMEOUT_S) -> WebModel:
    """The fp32 ``.tflite`` of the export-mobile scenario (same code, same file), batch 1.

    In-process, so ``timeout_s`` cannot interrupt it; the job's watchdog bounds it."""
    import numpy as np

    from twinbench.export import mobile_litert

    h, w, c = _image_shape(sample_shape)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "model.tflite"
    example = np.zeros((1, h, w, c), np.float32)
    try:
        details = mobile_litert.export(net, "fp32", example, example, path)
    except Exception as exc:
        raise ConversionError(f"LiteRT export failed: {_one_line(exc)}") from exc
    return WebModel("litert", path, (1, h, w, c), "NHWC", details["export_s"],
                    mobile_litert.versions())


def to_onnx(net: Any, out: Path, sample_shape: tuple[int, ...],
            timeout_s: float = CONVERTER_TIMEOUT_S) -> WebModel:
    """In-process, so ``timeout_s`` cannot interrupt it; the job's watchdog bounds it."""
    import onnx
    import torch

    h, w, c = _image_shape(sample_shape)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "model.onnx"
    t0 = time.perf_counter()
    net.eval()
    example = torch.zeros(1, c, h, w)  # NCHW, the layout the PyTorch twin computes in
    try:
        torch.onnx.export(net, (example,), str(path), dynamo=True, external_data=False,
                          input_names=["input"], output_names=["logits"])
        model = onnx.load(str(path))
        # Belt and braces: whatever the exporter chose, the page needs one self-contained file.
        onnx.save(model, str(path), save_as_external_data=False)
        onnx.checker.check_model(str(path))
    except Exception as exc:
        raise ConversionError(f"ONNX export failed: {_one_line(exc)}") from exc
    extra = [p.name for p in out.iterdir() if p != path]
    if extra:
        raise ConversionError(f"ONNX export left external files {extra}; onnxruntime-web needs "
                              "the weights inside the .onnx")
    import onnxscript

    return WebModel("onnx", path, (1, c, h, w), "NCHW", time.perf_counter() - t0,
                    {"torch": torch.__version__, "onnx": onnx.__version__,
                     "onnxscript": onnxscript.__version__})


EXPORTS: dict[str, Callable[[Any, Path, tuple[int, ...], float], WebModel]] = {
    "tfjs": to_tfjs, "litert": to_litert, "onnx": to_onnx,
}
