"""export-mobile failures, real ones: converters that refuse a model, runtimes that cannot load a
file, outputs the metrics cannot read. Each must become a failed ``status`` record of its route
variant in one line while the other variants go on, never a crashed job.

Project rule: one framework per process. This pytest process imports no framework: the real
converters run in one keras-tf and one pytorch subprocess (tiny models, started together); the
runtimes run in their own processes (``run_artifact``), as in a study.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from twinbench.export.mobile_runtime import RuntimeFailure, RuntimeResult, run_artifact
from twinbench.export.routes import ROUTES
from twinbench.scenarios import export_mobile
from twinbench.scenarios.base import Failed
from twinbench.tasks import task_module

pytestmark = pytest.mark.timeout(900)
ROOT = Path(__file__).resolve().parents[1]

_COMMON = """
import json, sys
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace
import numpy as np
from twinbench.export.routes import ROUTES
from twinbench.scenarios import export_mobile as em
from twinbench.tasks import task_module
stage, out = Path(sys.argv[1]), {}
rng = np.random.default_rng(0)
x, y = rng.random((12, 8), dtype=np.float32), rng.integers(0, 2, 12)
task = task_module("image-classification")
mobile = SimpleNamespace(latency_runs=3, warmup=1)
ctx = SimpleNamespace(study=SimpleNamespace(threads=1), section=lambda config: mobile,
                      job=SimpleNamespace(task="image-classification"),
                      adapter=SimpleNamespace(id=FW), progress=lambda m: None,
                      evaluate=task.evaluate)
def routes(name, model, ref):
    (stage / name).mkdir()
    data = {"x": x, "example": x[:1], "calib": x[:4], "ref": ref, "y": y, "num_classes": 2,
            "dataset": "random", "stage": stage / name, "warn": []}
    recs, loaded = em.run_route(ctx, ROUTES[ROUTE], fam, model, data,
                                task.evaluate(ref, y, 2), {})
    out[name] = {"records": [asdict(r) for r in recs], "loaded": bool(loaded)}
"""
# Keras: a determinant (no LiteRT builtin: Keras' export lets it through as a Select TF op, which
# ai_edge_litert cannot run; the int8-only route refuses it), a two-input model (refused by us),
# then a plain dense model in the same process, which must still export and run.
_LITERT = """FW, ROUTE = "keras-tf", "keras-litert"
import keras, tensorflow as tf
from twinbench.export import mobile_litert as fam
""" + _COMMON + """
def det(t):
    return tf.reshape(tf.linalg.det(tf.reshape(t, (-1, 2, 2, 2))), (-1, 2))
inp = keras.Input((8,))
net = keras.Model(inp, keras.layers.Lambda(det)(keras.layers.Dense(8)(inp)))
routes("det", net, net.predict(x, verbose=0).astype(np.float64))
a, b = keras.Input((8,)), keras.Input((8,))
routes("two-inputs", keras.Model([a, b], keras.layers.Add()([a, b])), np.zeros((12, 8)))
class Sub(keras.Model):  # subclassed, like the Transformer and DETR twins: no `inputs`
    def __init__(self):
        super().__init__()
        self.fc = keras.layers.Dense(2)
    def call(self, t):
        return self.fc(t)
sub = Sub()
sub(x[:1])
fam.export(sub, "fp32", x[:1], x[:4], stage / "sub.tflite")
out["subclassed_bytes"] = (stage / "sub.tflite").stat().st_size
dense = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)])
routes("dense", dense, dense.predict(x, verbose=0).astype(np.float64))
(stage / "out.json").write_text(json.dumps(out, default=str))
"""
# PyTorch: a determinant (not in the Core ATen opset that ExecuTorch's edge dialect takes),
# then a plain linear model in the same process, which must still export and run.
_EXECUTORCH = """FW, ROUTE = "pytorch", "torch-executorch"
import torch
from twinbench.export import mobile_executorch as fam
""" + _COMMON + """
class Det(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(8, 8)
    def forward(self, t):
        return torch.linalg.det(self.fc(t).reshape(-1, 2, 2, 2))
torch.manual_seed(0)
routes("det", Det().eval(), np.zeros((12, 2)))
lin = torch.nn.Linear(8, 2).eval()
with torch.no_grad():
    routes("linear", lin, lin(torch.from_numpy(x)).numpy().astype(np.float64))
(stage / "out.json").write_text(json.dumps(out, default=str))
"""


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Both converter subprocesses at once; each one's records by model, and its stage."""
    procs, stages = {}, {}
    for fw, code in (("keras-tf", _LITERT), ("pytorch", _EXECUTORCH)):
        stages[fw] = tmp_path_factory.mktemp(fw)
        env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2",
               "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
        procs[fw] = subprocess.Popen([sys.executable, "-c", code, str(stages[fw])], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = {}
    for fw, proc in procs.items():
        log, _ = proc.communicate(timeout=800)
        done = stages[fw] / "out.json"
        assert proc.returncode == 0 and done.exists(), f"{fw} script crashed:\n{log[-4000:]}"
        out[fw] = {"stage": stages[fw], **json.loads(done.read_text())}
    return out


def _by_metric(got: dict) -> dict[str, dict]:
    """A subprocess's records by name (``variant:metric``), each checked for its route."""
    route = {"keras-tf": "keras-litert", "pytorch": "torch-executorch"}
    assert {r["route"] for r in got["records"]} <= set(route.values())
    return {f"{r['variant']}:{r['metric']}": r for r in got["records"]}


def _named(recs: list[Any]) -> dict[str, Any]:
    return {f"{r.variant}:{r.metric}": r for r in recs}


def _failed(m: dict[str, dict], route: str, exported: bool = False) -> str:
    st = m[f"{route}:status"]
    assert st["status"] == "failed" and st["value"] is None and "\n" not in st["error"], st
    assert (f"{route}:file_size" in m) == exported and f"{route}:latency_p50" not in m
    return st["error"]


def test_litert_refusals_are_failed_records_and_the_next_model_runs(real: dict) -> None:
    m = _by_metric(real["keras-tf"]["det"])
    for route in ("fp32", "int8-dynamic"):  # converted with a Select TF op, refused at load
        assert _failed(m, route, exported=True).startswith(
            f"{route}: RuntimeFailure: litert runtime exited 1: RuntimeError: Select TensorFlow "
            "op(s), included in the given model, is(are) not supported by this interpreter")
    assert _failed(m, "int8-full") == ("int8-full: export failed: ConverterError: "
                                       "'tf.MatrixDeterminant' op is neither a custom op nor a "
                                       "flex op")
    ok = _by_metric(real["keras-tf"]["dense"])
    for route in ("fp32", "int8-dynamic", "int8-full"):
        assert ok[f"{route}:status"]["value"] == 1.0 and ok[f"{route}:latency_p50"]["value"] > 0
    assert ok["fp32:output_max_abs_diff"]["value"] < 1e-3
    assert real["keras-tf"]["dense"]["loaded"]
    assert real["keras-tf"]["subclassed_bytes"] > 100  # exported, not refused for lacking inputs


def test_a_model_twinbench_cannot_export_is_a_failed_record(real: dict) -> None:
    m = _by_metric(real["keras-tf"]["two-inputs"])
    for route in ("fp32", "int8-dynamic", "int8-full"):
        assert _failed(m, route) == (f"{route}: export failed: ValueError: LiteRT route takes "
                                     "single-input models, this one has 2")


def test_executorch_refusal_is_a_failed_record_and_the_next_model_exports(real: dict) -> None:
    m = _by_metric(real["pytorch"]["det"])
    for route in ("fp32", "int8-full"):
        assert "export failed" in _failed(m, route)
    assert "_linalg_det" in m["fp32:status"]["error"]
    lin = _by_metric(real["pytorch"]["linear"])
    for route in ("fp32", "int8-full"):
        assert lin[f"{route}:status"]["value"] == 1.0 and lin[f"{route}:file_size"]["value"] > 0
    assert lin["fp32:output_max_abs_diff"]["value"] < 1e-3


@pytest.mark.parametrize("fw,artifact", [("keras-tf", "dense/fp32.tflite"),
                                         ("pytorch", "linear/fp32.pte")])
def test_a_truncated_artifact_is_a_runtime_failure_record(real: dict, fw: str, artifact: str,
                                                          tmp_path: Path) -> None:
    good = (real[fw]["stage"] / artifact).read_bytes()
    runtime = "litert" if fw == "keras-tf" else "executorch"
    x = np.random.default_rng(0).random((2, 8), dtype=np.float32)
    cut = tmp_path / f"cut{Path(artifact).suffix}"
    cut.write_bytes(good[:len(good) // 2])
    with pytest.raises(RuntimeFailure, match=f"^{runtime} runtime exited -?[1-9]"):
        run_artifact(runtime, cut, x, threads=1, runs=1, warmup=0)

    def export(net: Any, route: str, example: Any, calib: Any, path: Path) -> dict:
        path.write_bytes(good[:len(good) // 2])  # what a disk that filled up would leave
        return {"export_s": 0.01}

    fam = SimpleNamespace(SUFFIX=Path(artifact).suffix, VARIANTS=("fp32",),
                          export=export, from_runtime_layout=lambda o: o)
    ref = np.zeros((2, 2))
    route = ROUTES["keras-litert" if fw == "keras-tf" else "torch-executorch"]
    assert route.loader == runtime
    recs, _ = export_mobile.run_route(_ctx("image-classification"), route, fam, None,
                                      _data(tmp_path, x, ref, np.zeros(2, int), 2), {}, {})
    m = _named(recs)
    st = m["fp32:status"]
    assert isinstance(st, Failed) and st.error.startswith(
        f"fp32: RuntimeFailure: {runtime} runtime exited")
    assert "fp32:file_size" in m and "fp32:latency_p50" not in m


# --- outputs the metrics cannot read: the route fails, the next route still measures ----------

def _ctx(task: str, evaluate: Any = None) -> Any:
    mobile = SimpleNamespace(latency_runs=3, warmup=1)
    return SimpleNamespace(
        study=SimpleNamespace(threads=1), section=lambda config: mobile,
        job=SimpleNamespace(task=task), adapter=SimpleNamespace(id="pytorch"),
        progress=lambda msg: None, evaluate=evaluate or task_module(task).evaluate)


def _data(stage: Path, x: np.ndarray, ref: np.ndarray, y: np.ndarray, n: int) -> dict:
    return {"x": x, "example": x[:1], "calib": x[:2], "ref": ref, "y": y, "num_classes": n,
            "dataset": "d", "stage": stage, "warn": []}


def _fake_runtime(monkeypatch: pytest.MonkeyPatch, outputs: dict[str, np.ndarray]) -> None:
    """The runtime 'returns' outputs[variant] (the artifact's stem), with plausible timings."""
    def run(runtime: str, path: Path, x: np.ndarray, **kw: Any) -> RuntimeResult:
        return RuntimeResult(0.1, 2.0, 1.5, [1.2], [1.0, 1.1, 1.2], 60.0, 50.0,
                             outputs[path.stem], {"threads": 1})
    monkeypatch.setattr(export_mobile, "run_artifact", run)


def _fam(layout: Any = lambda o: o) -> Any:
    def export(net: Any, route: str, example: Any, calib: Any, path: Path) -> dict:
        path.write_bytes(b"\0" * 64)
        return {"export_s": 0.01}
    return SimpleNamespace(SUFFIX=".tflite", VARIANTS=("fp32", "int8-full"),
                           export=export, from_runtime_layout=layout)


def _bad_layout(o: np.ndarray) -> np.ndarray:
    if o.shape[-1] == 1:
        raise IndexError("axis 3 is out of bounds for array of dimension 2")
    return o


@pytest.mark.parametrize("how,error", [
    ("shape", "ValueError: runtime outputs (6, 1) do not match the framework's (6, 3)"),
    ("layout", "IndexError: axis 3 is out of bounds for array of dimension 2"),
    ("metric", "ValueError: outputs hold NaN"),
])
def test_an_unreadable_output_fails_its_route_and_the_next_route_goes_on(
        how: str, error: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    x, y, ref = rng.random((6, 4), dtype=np.float32), rng.integers(0, 3, 6), rng.random((6, 3))
    real_eval = task_module("image-classification").evaluate

    def evaluate(o: np.ndarray, t: np.ndarray, n: int) -> dict[str, float]:
        if np.isnan(o).any():
            raise ValueError("outputs hold NaN")
        return real_eval(o, t, n)

    bad = np.where(np.arange(3) == 1, np.nan, ref) if how == "metric" else ref[:, :1]
    _fake_runtime(monkeypatch, {"fp32": bad, "int8-full": ref})
    ctx = _ctx("image-classification", evaluate)
    fam = _fam(_bad_layout if how == "layout" else (lambda o: o))
    recs, loaded = export_mobile.run_route(ctx, ROUTES["keras-litert"], fam, None,
                                           _data(tmp_path, x, ref, y, 3), real_eval(ref, y, 3),
                                           {})
    m = _named(recs)
    assert {r.route for r in recs} == {"keras-litert"}
    st = m["fp32:status"]
    assert isinstance(st, Failed) and st.error == f"fp32: measuring failed: {error}"
    assert "fp32:file_size" in m and "fp32:latency_p50" not in m
    assert m["int8-full:status"].value == 1.0 and "int8-full:latency_p50" in m
    assert m["int8-full:output_max_abs_diff"].value == 0.0
    assert m["int8-full:accuracy_change"].value == 0.0
    assert loaded == {}


# --- top-1 agreement compares the task's own decisions ----------------------------------------

def test_decisions_pick_the_class_per_task() -> None:
    logits = np.array([[[0.1, 0.9, 0.0], [2.0, 0.0, 1.0]]])  # (1, 2, 3)
    assert task_module("semantic-segmentation").decisions(logits[None], 3).tolist() == [[[1, 0]]]
    assert task_module("image-classification").decisions(logits[0], 3).tolist() == [1, 0]
    assert task_module("text-classification").decisions(logits[0], 3).tolist() == [1, 0]
    # detection (N, Q, C + 1 + 4) with C = 2: a box coordinate of 5.0 must not win the argmax
    det = np.array([[[0.1, 0.7, 0.2, 5.0, 0.5, 0.5, 0.5], [0.9, 0.0, 0.1, 0.5, 5.0, 0.5, 0.5]]])
    assert task_module("object-detection").decisions(det, 2).tolist() == [[1, 0]]


def test_detection_agreement_ignores_box_coordinates(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    n, q, c = 4, 5, 2
    ref = rng.random((n, q, c + 1 + 4))
    moved = ref.copy()
    moved[..., c + 1:] += 10.0  # the runtime moved every box, and no class decision
    flipped = ref.copy()
    flipped[0, 0, :c + 1] = [0, 0, 0]
    flipped[0, 0, (ref[0, 0, :c + 1].argmax() + 1) % (c + 1)] = 1.0  # one query's class changed
    _fake_runtime(monkeypatch, {"fp32": moved, "int8-full": flipped})
    ctx = _ctx("object-detection", lambda o, t, k: {"map": 0.5})
    x = rng.random((n, 8, 8, 3), dtype=np.float32)
    recs, _ = export_mobile.run_route(ctx, ROUTES["keras-litert"], _fam(), None,
                                      _data(tmp_path, x, ref, x, c), {"map": 0.5}, {})
    m = _named(recs)
    assert m["fp32:top1_agreement"].value == 1.0  # argmax over the whole row would say < 1
    assert m["int8-full:top1_agreement"].value == pytest.approx(1 - 1 / (n * q))
    assert m["fp32:top1_agreement"].extra["agreement_items"] == n * q
