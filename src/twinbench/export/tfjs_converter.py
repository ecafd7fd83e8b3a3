"""Run the ``tensorflowjs`` SavedModel -> TF.js graph model converter in a process of its own.

    python -m twinbench.export.tfjs_converter SAVED_MODEL_DIR OUT_DIR

Why a separate process and a private folder: ``tensorflowjs`` 4.22 (its last release, 2024)
declares ``tensorflow-decision-forests`` (which pins an older TensorFlow), ``tensorflow-hub``
(which needs ``setuptools<81``), ``tf-keras`` and ``flax``. Installing those would downgrade the
TensorFlow twinbench measures. So setup installs the converter alone (``pip install --no-deps
--target .venv/tfjs-converter``), and this process puts that folder on ``sys.path`` and stands in
empty modules for the three imports the SavedModel route never calls: decision forests (its op
registrations), TF-Hub (hub module inputs) and tf_keras (Keras-format inputs). Real packages, if
installed, win over the stand-ins.

One converter bug is patched (``TWINBENCH_TFJS_PATCH=0`` switches the patch off): the
``normalize_bias_add`` pass turns *every* Add that follows a Conv2D/MatMul into a BiasAdd. Where
a conv feeds a residual Add directly (a folded-away BatchNorm with zero shift, as in a freshly
initialised ResNet, or a conv without norm) the "bias" is a 4-D activation: TF.js's cpu backend
broadcasts it, but the wasm backend refuses the graph ("FusedConv2D only supports rank-1 bias but
got rank 4"). The patch keeps such Adds as Add and flattens (1, ..., 1, C) constant operands to
the 1-D bias BiasAdd is defined for. Prints one JSON line: versions, files, stand-ins, patches.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

ENV_VAR = "TWINBENCH_TFJS_CONVERTER"  # folder holding the tensorflowjs package
STAND_INS = ("tensorflow_decision_forests", "tensorflow_hub", "tf_keras")
PATCH_VAR = "TWINBENCH_TFJS_PATCH"


def converter_dir() -> Path:
    return Path(os.environ.get(ENV_VAR) or Path(sys.prefix) / "tfjs-converter")


def _stand_in(name: str) -> types.ModuleType:
    mod = types.ModuleType(name, f"twinbench stand-in: {name} is not used by the SavedModel route")
    mod.__spec__ = importlib.machinery.ModuleSpec(name, loader=None)
    mod.__twinbench_stand_in__ = True  # type: ignore[attr-defined]

    def __getattr__(attr: str) -> object:  # noqa: N807 (module-level __getattr__)
        raise AttributeError(f"{name}.{attr}: {name} is a twinbench stand-in; this converter "
                             "path needs the real package")

    mod.__getattr__ = __getattr__  # type: ignore[method-assign]
    return mod


def _const(nodes: dict[str, Any], name: str) -> Any:
    """The Const node behind input ``name`` (through Identity nodes), or None."""
    node = nodes.get(name.lstrip("^").split(":")[0])
    while node is not None and node.op == "Identity":
        node = nodes.get(node.input[0].lstrip("^").split(":")[0])
    return node if node is not None and node.op == "Const" else None


PATCH = ("normalize_bias_add: residual (non-constant) Adds stay Add; (1,..,1,C) constants "
         "become 1-D biases")


def _patched(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def normalize_bias_add_op(graph_def: Any) -> Any:
        nodes = {n.name: n for n in graph_def.node}
        keep: dict[str, str] = {}
        for n in list(graph_def.node):
            if n.op not in ("Add", "AddV2") or len(n.input) != 2:
                continue
            const = _const(nodes, n.input[1])
            dims = [d.size for d in const.attr["value"].tensor.tensor_shape.dim] if const else []
            if const is None or not dims or any(d != 1 for d in dims[:-1]):
                keep[n.name] = n.op  # an activation (residual) or a non-bias shape: stay Add
            elif len(dims) > 1:  # (1, ..., 1, C): the same numbers as a 1-D bias
                flat = graph_def.node.add()
                flat.CopyFrom(const)
                flat.name = f"{n.name}/bias_1d"
                del flat.attr["value"].tensor.tensor_shape.dim[:-1]
                n.input[1] = flat.name
        out = original(graph_def)
        for n in out.node:
            if n.name in keep and n.op == "BiasAdd":
                n.op = keep[n.name]
                del n.attr["data_format"]
        return out

    return normalize_bias_add_op


def load_converter() -> list[str]:
    """Put the private tensorflowjs on sys.path behind its stand-ins; returns the stand-ins."""
    folder = converter_dir()
    if not (folder / "tensorflowjs").is_dir():
        raise FileNotFoundError(f"tensorflowjs converter not installed in {folder} "
                                "(run scripts/setup.sh)")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    for name in STAND_INS:
        if name not in sys.modules and importlib.util.find_spec(name) is None:
            sys.modules[name] = _stand_in(name)
    return [n for n in STAND_INS if getattr(sys.modules.get(n), "__twinbench_stand_in__", 0)]


def convert(saved_model: str, out: str, patch: bool = True) -> dict[str, Any]:
    """SavedModel -> TF.js graph model in ``out``; the patch is applied only for this call."""
    stood_in = load_converter()
    import tensorflowjs
    from tensorflowjs.converters import normalize_bias_add
    from tensorflowjs.converters.tf_saved_model_conversion_v2 import convert_tf_saved_model

    original = normalize_bias_add.normalize_bias_add_op
    if patch:
        normalize_bias_add.normalize_bias_add_op = _patched(original)
    try:
        convert_tf_saved_model(saved_model, out, signature_def="serving_default",
                               saved_model_tags="serve")
    finally:
        normalize_bias_add.normalize_bias_add_op = original
    return {"tensorflowjs": tensorflowjs.__version__,
            "files": sorted(p.name for p in Path(out).iterdir()),
            "stand_ins": stood_in, "patches": [PATCH] if patch else []}


def main(argv: list[str]) -> int:
    saved_model, out = argv
    try:
        report = convert(saved_model, out, patch=os.environ.get(PATCH_VAR, "1") != "0")
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
