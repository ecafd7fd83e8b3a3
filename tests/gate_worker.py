"""The real parity gate on right and deliberately wrong twins:
``python tests/gate_worker.py FRAMEWORK WORKDIR VARIANT...`` (one framework per process).

``pytorch correct`` writes the reference (scenarios.parity, as a study's reference job does).
For a Keras framework each VARIANT is built by swapping one piece of the Keras ResNet twin
(zoo/keras/resnet.py) for a plausible mistake, and pushed through ``scenarios.parity.run``:

  correct      the twin as it is
  bn-eps       BatchNorm epsilon 1e-3 (Keras' default) instead of torch's 1e-5
  bn-momentum  BatchNorm momentum 0.1: torch's number in Keras' convention, i.e. inverted
  same-pad     stride-2 3x3 convs with padding "same" (asymmetric in Keras) instead of pad 1
  no-residual  the basic block's identity shortcut dropped (added times 0: weights stay)
  dropout-on   a dropout left in training mode at every block's output

Prints one JSON line: variant -> {metric: {value, passed, tolerance, relaxed}}.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

FW, WORKDIR, VARIANTS = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]


def _variant(name: str) -> dict[str, Any]:
    """The module attributes of zoo.keras.resnet that build the twin with mistake ``name``."""
    import keras
    from keras import layers

    import twinbench.zoo.keras.resnet as R

    fmt, orig_block = "channels_last", R._basic_block

    def bn(momentum: float, eps: float) -> Any:
        return lambda x, path: layers.BatchNormalization(momentum=momentum, epsilon=eps,
                                                         name=R._name(path))(x)

    def same_pad(x: Any, filters: int, stride: int, path: str) -> Any:
        return layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                             data_format=fmt, name=R._name(path))(x)

    def no_residual(x: Any, in_ch: int, out_ch: int, stride: int, path: str) -> Any:
        out = R._conv3x3(x, out_ch, stride, f"{path}.conv1")
        out = layers.ReLU(name=R._name(f"{path}.relu1"))(R._bn(out, f"{path}.bn1"))
        out = R._bn(R._conv3x3(out, out_ch, 1, f"{path}.conv2"), f"{path}.bn2")
        identity = x
        if stride != 1 or in_ch != out_ch:
            identity = layers.Conv2D(out_ch, 1, strides=stride, padding="valid", use_bias=False,
                                     data_format=fmt, name=R._name(f"{path}.downsample.0"))(x)
            identity = R._bn(identity, f"{path}.downsample.1")
        out = layers.Add(name=R._name(f"{path}.add"))([out, keras.ops.multiply(identity, 0.0)])
        return layers.ReLU(name=R._name(f"{path}.relu2"))(out)

    class LeftOn(layers.Dropout):  # type: ignore[misc]
        """A dropout whose training flag was hard-wired on (eval mode included)."""

        def call(self, inputs: Any, training: Any = None) -> Any:
            return super().call(inputs, training=True)

    def dropout_on(x: Any, in_ch: int, out_ch: int, stride: int, path: str) -> Any:
        out = orig_block(x, in_ch, out_ch, stride, path)
        return LeftOn(0.2, name=R._name(f"{path}.drop"))(out)

    return {"correct": {}, "bn-eps": {"_bn": bn(0.9, 1e-3)},
            "bn-momentum": {"_bn": bn(0.1, 1e-5)}, "same-pad": {"_conv3x3": same_pad},
            "no-residual": {"_basic_block": no_residual},
            "dropout-on": {"_basic_block": dropout_on}}[name]


def main() -> None:
    from twinbench.frameworks.base import FRAMEWORKS
    from twinbench.plan import Job
    from twinbench.scenarios import parity
    from twinbench.scenarios.base import Context
    from twinbench.study import load_study

    spec = FRAMEWORKS[FW]
    os.environ.update(spec.env)
    mod, cls = spec.adapter.split(":")
    adapter = getattr(importlib.import_module(mod), cls)(threads=1, seed=0)
    study = load_study(None, "tiny")
    job = Job(f"image-classification/resnet/{FW}/parity", "image-classification", "resnet", FW,
              "parity", study.size, study.model_dump(mode="json"))
    report = {}
    for name in VARIANTS:
        swaps = _variant(name) if FW != "pytorch" else {}
        if swaps:
            import twinbench.zoo.keras.resnet as R
        saved = {k: getattr(R, k) for k in swaps} if swaps else {}
        try:
            for k, v in swaps.items():
                setattr(R, k, v)
            ms = parity.run(Context(job, study, adapter, WORKDIR, 0.0))
        finally:
            for k, v in saved.items():
                setattr(R, k, v)
        report[name] = {m.metric: {"value": m.value, **{k: m.extra.get(k) for k in
                                                         ("passed", "tolerance", "relaxed")}}
                        for m in ms}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
