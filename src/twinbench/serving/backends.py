"""The runtime tier's backends: how each artifact is exported (in the export process of its
framework) and loaded and called (in the server process), each the way its docs show.

- torch-eager (pytorch): the twin's weights (.npz), the module rebuilt in the server;
  ``module(x)`` in ``torch.inference_mode()``, eval mode.
- aoti (pytorch): ``torch.export`` with a dynamic batch + ``aoti_compile_and_package`` (.pt2);
  ``aoti_load_package``.
- onnx-torch (pytorch): ``torch.onnx.export(dynamo=True)``, dynamic batch; ONNX Runtime with
  1 intra-op and 1 inter-op thread.
- savedmodel (keras-tf): ``model.export(format="tf_saved_model")``;
  ``tf.saved_model.load(...).serve``.
- onnx-keras (keras-tf): ``model.export(format="onnx")`` (tf2onnx); ONNX Runtime as above.
- keras-jax (keras-jax): the twin's weights, the model rebuilt; ``predict_on_batch``
  (jit-compiled).

``fake`` (tests only) sleeps a fixed time per request and answers zeros: a backend of known
service time, so the load generator itself can be checked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Backend:
    name: str
    framework: str  # the framework that exports it (its twin, its weights)
    title: str
    artifact: str  # file or folder name under the export folder


BACKENDS: dict[str, Backend] = {b.name: b for b in (
    Backend("torch-eager", "pytorch", "PyTorch eager (inference_mode)", "weights.npz"),
    Backend("aoti", "pytorch", "torch.export + AOTInductor .pt2", "model.pt2"),
    Backend("onnx-torch", "pytorch", "ONNX Runtime (torch.onnx dynamo export)", "torch.onnx"),
    Backend("savedmodel", "keras-tf", "TF SavedModel (Keras model.export)", "savedmodel"),
    Backend("onnx-keras", "keras-tf", "ONNX Runtime (Keras model.export, tf2onnx)",
            "keras.onnx"),
    Backend("keras-jax", "keras-jax", "Keras-JAX predict_on_batch (jit)", "weights.npz"),
)}
FAKE = "fake"


def of_framework(framework: str) -> list[str]:
    return [n for n, b in BACKENDS.items() if b.framework == framework]


def artifact_bytes(path: Path) -> int:
    """A file's size, or a folder's (its files'); ONNX external data beside the file counts."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    extra = path.with_name(path.name + ".data")
    return path.stat().st_size + (extra.stat().st_size if extra.exists() else 0)


def _nchw(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if x.ndim == 4 else x


def _nhwc(y: np.ndarray) -> np.ndarray:
    """A channels-first dense output (segmentation) back in the layout every side answers
    in, as the PyTorch adapter's predict does."""
    return np.ascontiguousarray(y.transpose(0, 2, 3, 1)) if y.ndim == 4 else y


# ---- export (in the export process; the framework is imported there) -------------------------

def export(name: str, net: Any, example: np.ndarray, path: Path) -> None:
    """Write backend ``name``'s artifact of ``net`` to ``path``. ``example`` is a batch of two
    inputs (a batch of one would specialise torch.export's batch dimension to 1)."""
    if name in ("torch-eager", "keras-jax"):
        return  # the weights file the export process writes is the artifact
    if name == "aoti":
        import torch

        batch = torch.export.Dim("batch", min=1, max=4096)
        ep = torch.export.export(net.eval(), (torch.from_numpy(_nchw(example)),),
                                 dynamic_shapes=({0: batch},))
        torch._inductor.aoti_compile_and_package(ep, package_path=str(path))
    elif name == "onnx-torch":
        import torch

        batch = torch.export.Dim("batch", min=1, max=4096)
        torch.onnx.export(net.eval(), (torch.from_numpy(_nchw(example)),), str(path),
                          dynamo=True, dynamic_shapes=({0: batch},), verbose=False)
    elif name == "savedmodel":
        net.export(str(path), format="tf_saved_model", verbose=False)
    elif name == "onnx-keras":
        net.export(str(path), format="onnx", verbose=False)
    else:
        raise ValueError(f"no exporter for backend {name!r}")


# ---- load (in the server process) ------------------------------------------------------------

def _ort(path: Path, channels_first: bool) -> Predict:
    """ONNX Runtime on one thread; a PyTorch export takes (and gives) channels-first."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    if channels_first:
        return lambda x: _nhwc(sess.run(None, {name: _nchw(x)})[0])
    return lambda x: sess.run(None, {name: x})[0]


def _rebuilt(entry: dict[str, Any], framework: str) -> Any:
    """The twin rebuilt in this process with the exported weights, and its adapter."""
    from twinbench.distributed.rank_common import adapter_for

    adapter = adapter_for(framework, 1, entry["seed"])
    net = adapter.build(entry["model"], entry["size"], tuple(entry["input_shape"]),
                        entry["num_classes"])
    with np.load(entry["path"]) as d:
        adapter.set_weights(net, {k: d[k] for k in d.files})
    return adapter, net


def load(name: str, entry: dict[str, Any]) -> tuple[Predict, dict[str, Any]]:
    """Backend ``name``'s predict function over its exported artifact, and the knobs in effect
    (what the record says was run). ``entry`` is the export manifest's entry for it."""
    path = Path(entry.get("path", ""))
    if name == FAKE:
        delay = float(entry["delay_s"])
        out = np.zeros((1, int(entry.get("outputs", 10))), np.float32)

        def sleep(x: np.ndarray) -> np.ndarray:
            time.sleep(delay)
            return np.repeat(out, len(x), axis=0)
        return sleep, {"delay_s": delay}
    if name == "torch-eager":
        import torch

        adapter, net = _rebuilt(entry, "pytorch")
        net.eval()
        return (lambda x: adapter.predict(net, adapter.to_device(x)),
                {"call": "module(x) in torch.inference_mode()", "torch_threads":
                 torch.get_num_threads()})
    if name == "aoti":
        import torch

        runner = torch._inductor.aoti_load_package(str(path))

        def aoti(x: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return _nhwc(runner(torch.from_numpy(_nchw(x))).numpy())
        return aoti, {"call": "aoti_load_package(...)(x)",
                      "torch_threads": torch.get_num_threads()}
    if name in ("onnx-torch", "onnx-keras"):
        return _ort(path, name == "onnx-torch"), {
            "call": "InferenceSession.run", "intra_op_num_threads": 1, "inter_op_num_threads": 1}
    if name == "savedmodel":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))
        return (lambda x: loaded.serve(tf.constant(x)).numpy(),
                {"call": "tf.saved_model.load(...).serve(x)",
                 "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                 "inter_op": tf.config.threading.get_inter_op_parallelism_threads()})
    if name == "keras-jax":
        adapter, net = _rebuilt(entry, "keras-jax")
        return (lambda x: np.asarray(net.predict_on_batch(x)),
                {"call": "model.predict_on_batch(x)", "jit_compile": "auto (JAX: jit)"})
    raise ValueError(f"unknown backend {name!r}")
