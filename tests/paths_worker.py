"""One framework's call paths, run for real: ``python tests/paths_worker.py FRAMEWORK OUT.json``.

For every inference path of the framework: its outputs against the first path's on the same
weights and batch, the knobs it reports, and evidence of what ran (a traced tf.function, a
jax.jit, a torch.compile graph, autograd on or off during the forward). For every training path:
the steps the ``on_step`` hook saw and the knobs in effect. A path that raises is recorded with
its error. One framework per process (project rule); tests/test_call_paths_frameworks.py reads
the JSON.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any

import numpy as np

FW, OUT = sys.argv[1], sys.argv[2]
SIZE = {"widths": (4, 8, 8, 16), "blocks": (1, 1, 1, 1)}
SHAPE = (16, 16, 3)


def _closure_objects(fn: Any, depth: int = 4) -> list[Any]:
    """The function and the objects it closes over (and theirs), where Keras keeps its compiled
    step; a tf.function is looked into through its ``python_function``."""
    seen, todo = [fn], [fn]
    for _ in range(depth):
        nxt = []
        for f in todo:
            f = getattr(f, "python_function", f)
            for c in getattr(f, "__closure__", None) or ():
                try:
                    obj = c.cell_contents
                except ValueError:  # an empty cell
                    continue
                seen.append(obj)
                nxt.append(obj)
        todo = nxt
    return seen


def _keras_evidence(net: Any, backend: str) -> dict[str, Any]:
    f = getattr(net, "predict_function", None)
    if f is None:
        return {"predict_function": None}
    inner = _closure_objects(f)
    return {"predict_function": type(f).__name__,
            "tf_traces": f.experimental_get_tracing_count()
            if hasattr(f, "experimental_get_tracing_count") else None,
            "tf_xla": any(getattr(o, "_jit_compile", None) is True for o in inner),
            "jax_jit": any(type(o).__name__ == "PjitFunction" for o in inner),
            "torch_compiled": any(hasattr(o, "_torchdynamo_orig_callable")
                                  or type(o).__name__ == "OptimizedModule" for o in inner)}


def main() -> None:
    from twinbench.frameworks.base import FRAMEWORKS
    from twinbench.zoo.init import canonical_init, shapes_of

    spec = FRAMEWORKS[FW]
    os.environ.update(spec.env)
    mod, cls = spec.adapter.split(":")
    a = getattr(importlib.import_module(mod), cls)(threads=1, seed=0)
    backend = a.backend
    grad_seen: list[bool] = []
    if backend == "torch":  # autograd on or off during each forward (Keras-torch layers too)
        import torch

        torch.nn.modules.module.register_module_forward_hook(
            lambda m, i, o: grad_seen.append(torch.is_grad_enabled()))
        counters = torch._dynamo.utils.counters

    def build() -> Any:
        net = a.build("resnet", SIZE, SHAPE, 10)
        a.set_weights(net, canonical_init(shapes_of(a.get_weights(net)), seed=0))
        return net

    x = np.random.default_rng(0).standard_normal((4, *SHAPE)).astype(np.float32)
    y = np.arange(4) % 10
    report: dict[str, Any] = {"infer": {}, "train": {}}
    ref = None
    for p in a.call_paths():
        entry: dict[str, Any] = {"mode": p.mode}
        report[p.kind][p.id] = entry
        try:
            net = build()
            if p.kind == "infer":
                graphs0 = counters["stats"]["unique_graphs"] if backend == "torch" else 0
                grad_seen.clear()
                fn = a.predictor(net, p, batch_size=2)
                out = np.asarray(fn(a.to_device(x)))
                ref = out if ref is None else ref
                entry["max_abs_diff"] = float(np.max(np.abs(out - ref)))
                entry["knobs"] = a.path_knobs(net, p)
                if backend == "torch":
                    entry["graphs_compiled"] = counters["stats"]["unique_graphs"] - graphs0
                    entry["grad_during_forward"] = sorted(set(grad_seen))
                if FW.startswith("keras"):
                    entry.update(_keras_evidence(net, backend))
            else:
                a.compile_train(net, 0.05, 0.9, path=p)
                steps: list[int] = []
                block = int(p.knobs.get("steps_per_execution", 1))
                xs, ys = np.concatenate([x] * 2 * block), np.concatenate([y] * 2 * block)
                a.fit(net, a.to_device(xs), a.labels(ys), 4, on_step=steps.append)
                entry["steps"] = steps
                entry["knobs"] = a.knobs(net)
                if FW.startswith("keras"):
                    entry["keras"] = {"jit_compile": bool(net.jit_compile),
                                      "steps_per_execution": net.steps_per_execution}
        except Exception as exc:  # noqa: BLE001 - recorded for the test to judge
            entry["error"] = f"{type(exc).__name__}: {exc}"[:500]
    with open(OUT, "w") as f:
        json.dump(report, f, indent=1, default=str)


if __name__ == "__main__":
    main()
