"""Keras (TensorFlow backend) -> LiteRT ``.tflite``: fp32, dynamic-range int8, full-integer int8.

The obvious documented code: ``model.export(path, format="litert", ...)``, which Keras 3 runs
as ExportArchive -> SavedModel -> ``tf.lite.TFLiteConverter`` and which passes converter
options through. Variants of the ``keras-litert`` route (``twinbench.export.routes``):

* ``fp32``: no optimisation.
* ``int8-dynamic``: ``Optimize.DEFAULT`` without data: int8 weights, float activations
  (quantized on the fly inside the kernels).
* ``int8-full``: ``Optimize.DEFAULT`` with a representative data set from the task's training
  split and ``TFLITE_BUILTINS_INT8`` ops only, so the converter fails instead of silently
  leaving float ops behind. Input and output stay float32 (quantize/dequantize at the edges),
  the same interface as ExecuTorch's PT2E int8, so both are fed the same numbers.

The input is fixed at batch 1, what a phone app runs and what LiteRT plans memory for.
Only the worker of keras-tf imports this module; TensorFlow is imported inside the functions.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

VARIANTS = ("fp32", "int8-dynamic", "int8-full")
SUFFIX = ".tflite"


def to_runtime_layout(x: np.ndarray) -> np.ndarray:
    """Task inputs (images NHWC, token ids) -> what the .tflite input takes: unchanged."""
    return np.ascontiguousarray(x if x.dtype.kind == "f" else x.astype(np.int32))


def from_runtime_layout(out: np.ndarray) -> np.ndarray:
    return out  # Keras is channels-last already, like the task's metrics


def versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    return {"keras": keras.__version__, "tensorflow": tf.__version__}


def _options(variant: str, calibration: np.ndarray) -> dict[str, Any]:
    import tensorflow as tf

    if variant == "fp32":
        return {}
    if variant == "int8-dynamic":
        return {"optimizations": [tf.lite.Optimize.DEFAULT]}
    if variant == "int8-full":
        def representative():  # one batch-1 sample per step, as the converter expects
            for s in calibration:
                yield [s[None]]

        return {"optimizations": [tf.lite.Optimize.DEFAULT],
                "representative_dataset": representative,
                "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]}}
    raise ValueError(f"unknown LiteRT variant {variant!r} (valid: {', '.join(VARIANTS)})")


def export(net: Any, variant: str, example: np.ndarray, calibration: np.ndarray,
           path: Path) -> dict[str, Any]:
    """Write ``path`` (.tflite) for ``variant``; returns details for the record.

    ``example`` is one batch-1 input (it fixes the signature), ``calibration`` the
    representative samples (N, ...) in the same layout.
    """
    import tensorflow as tf

    inputs = getattr(net, "inputs", None)  # subclassed twins (Transformer, DETR) have none
    if inputs is not None and len(inputs) != 1:
        raise ValueError(f"LiteRT route takes single-input models, this one has {len(inputs)}")
    opts = _options(variant, calibration)
    sig = [tf.TensorSpec(example.shape, tf.as_dtype(example.dtype), name="input")]
    t0 = time.perf_counter()
    net.export(str(path), format="litert", input_signature=sig, verbose=False, **opts)
    export_s = time.perf_counter() - t0
    return {"export_s": export_s, "tool": "keras Model.export(format='litert')",
            "converter": f"tf.lite.TFLiteConverter (tensorflow {tf.__version__})",
            "options": sorted(opts), "calibration_samples":
            int(len(calibration)) if variant == "int8-full" else 0}
