"""Call paths (fairness rule 4): which paths a mode runs, how a path that computes something else
is caught, how steady state is kept apart from a fit call's fixed cost, and which path speaks
for a framework.

No framework is imported here: the scenarios run against fake adapters (numpy) under a fake
clock; tests/test_call_paths_frameworks.py runs the real ones.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from twinbench.analysis.comparisons import pairwise
from twinbench.analysis.merge import merge_processes
from twinbench.analysis.paths import is_headline, select_paths
from twinbench.analysis.rows import rows
from twinbench.frameworks.base import CallPath, default_path, paths_for
from twinbench.measure import timer
from twinbench.results.schema import Record
from twinbench.scenarios import infer, train
from twinbench.study import load_study
from twinbench.tasks.datasets import Dataset, Split

EAGER = CallPath("eager", "infer", "out-of-box", {"call": "eager"}, "doc")
FAST = CallPath("fast", "infer", "tuned", {"call": "compiled"}, "doc")
CL = CallPath("cl", "infer", "tuned", {"call": "channels-last"}, "doc", images_only=True)
LOOP = CallPath("loop", "train", "out-of-box", {}, "doc")


def test_a_mode_runs_its_own_paths_and_tuned_runs_all() -> None:
    paths = (EAGER, FAST, CL, LOOP)
    assert paths_for(paths, "infer", "out-of-box", images=True) == [EAGER]
    assert paths_for(paths, "infer", "tuned", images=True) == [EAGER, FAST, CL]
    assert paths_for(paths, "infer", "tuned", images=False) == [EAGER, FAST]  # token ids
    assert default_path(paths, "train") is LOOP


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeAdapter:
    """Logits = x @ W; path "wrong" is off by 1e-3 (a path that computes something else).
    fit: 0.01 s per step, 0.05 s before the first step and 0.3 s after the last (fake clock)."""

    def __init__(self, clock: Clock, paths: tuple[CallPath, ...]) -> None:
        self.clock, self.paths = clock, paths
        self.w = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)

    def call_paths(self) -> tuple[CallPath, ...]:
        return self.paths

    def to_device(self, x: np.ndarray) -> np.ndarray:
        return x

    def labels(self, y: np.ndarray) -> np.ndarray:
        return y

    def synchronize(self) -> None:
        pass

    def predictor(self, net: Any, path: CallPath, batch_size: int | None = None) -> Any:
        off = 1e-3 if path.id == "wrong" else 0.0

        def run(x: np.ndarray) -> np.ndarray:
            self.clock.now += 1e-4 * len(x)
            return x.reshape(len(x), -1)[:, :4] @ self.w + off
        return run

    def path_knobs(self, net: Any, path: CallPath) -> dict[str, Any]:
        return {"call_path": path.id, **path.knobs}

    def compile_train(self, net: Any, *args: Any, path: CallPath | None = None) -> None:
        self.path = path

    def knobs(self, net: Any) -> dict[str, Any]:
        return {"call_path": self.path.id}

    def fit(self, net: Any, x: Any, y: Any, bs: int, on_step: Any = None) -> float:
        self.clock.now += 0.05
        for i in range(len(x) // bs):
            self.clock.now += 0.01
            if on_step is not None:
                on_step(i + 1)
        self.clock.now += 0.3
        return 1.0

    def flops_per_sample(self, net: Any, x: Any) -> tuple[int, list[str]]:
        return 24, []


def _ctx(monkeypatch: pytest.MonkeyPatch, paths: tuple[CallPath, ...], mode: str) -> Any:
    clock = Clock()
    for mod in (timer.time, infer.time):
        monkeypatch.setattr(mod, "perf_counter", clock)
    study = load_study(preset="tiny")
    x = np.random.default_rng(1).standard_normal((64, 2, 2, 1)).astype(np.float32)
    ds = Dataset("fake", Split(x, np.zeros(64, np.int64)), Split(x, np.zeros(64, np.int64)), 3,
                 (2, 2, 1))
    ctx = SimpleNamespace(study=study, adapter=FakeAdapter(clock, paths), progress=lambda m: None,
                          dataset=lambda *a, **k: ds, build=lambda shape, n: object(),
                          task=SimpleNamespace(train_dataset="fake"), mode=mode,
                          section=study.section)
    ctx.paths = lambda kind, shape: paths_for(paths, kind, mode, images=len(shape) == 3)
    return ctx


def test_a_path_that_computes_something_else_is_a_failed_record(monkeypatch) -> None:
    wrong = CallPath("wrong", "infer", "tuned", {"call": "off by 1e-3"}, "doc")
    out = infer.run(_ctx(monkeypatch, (EAGER, FAST, wrong), "tuned"))
    failed = [m for m in out if getattr(m, "status", "ok") == "failed"]
    assert {(m.extra["call_path"], m.extra["path_group"]) for m in failed} == {
        ("wrong", "latency"), ("wrong", "throughput")}
    assert all("differ from the reference path by 0.001" in m.error for m in failed)
    ok = {(m.extra["call_path"], m.metric) for m in out if m not in failed}
    assert ("fast", "latency_p50") in ok and ("eager", "throughput") in ok
    assert all(m.knobs["call_path"] == m.extra["call_path"] for m in out)


def test_steady_state_leaves_the_fit_calls_fixed_cost_out(monkeypatch) -> None:
    out = train.run(_ctx(monkeypatch, (LOOP,), "out-of-box"))
    m = {r.metric: r for r in out}
    assert m["step_time"].value == pytest.approx(10.0)  # ms: 0.01 s per step, nothing else
    assert all(s == pytest.approx(10.0) for s in m["step_time"].samples)
    assert m["per_call_overhead"].value == pytest.approx(0.35)  # 0.05 before + 0.3 after
    assert m["trace_compile_time"].value == pytest.approx(0.0)  # no first-call extra here
    assert m["throughput"].extra["call_path"] == "loop"
    assert m["throughput"].knobs == {"call_path": "loop"}


def _rec(fw: str, path: str, metric: str, value: float, job: str = "", group: str = "latency",
         better: str = "lower", samples: list[float] | None = None) -> Record:
    return Record(study="s", run_id="r", job_id=job or f"t/m/{fw}/infer", task="t", model="m",
                  framework=fw, backend="b", scenario="infer", metric=metric, unit="ms",
                  value=value, better=better, threads=2, samples=samples or [value] * 5,
                  extra={"call_path": path, "path_group": group},
                  process=int(job.rpartition("#")[2]) if "#" in job else None)


def test_the_best_path_speaks_for_its_framework_and_the_rest_stand_beside() -> None:
    recs = select_paths([
        _rec("keras-tf", "call", "latency_p50", 30.0), _rec("keras-tf", "call", "latency_p99", 40),
        _rec("keras-tf", "predict_on_batch", "latency_p50", 3.0),
        _rec("keras-tf", "predict_on_batch", "latency_p99", 90.0),  # the p50 decides
        _rec("pytorch", "eager", "latency_p50", 2.5), _rec("pytorch", "eager", "latency_p99", 3),
    ])
    best = {(r.framework, r.metric): r.extra["call_path"] for r in recs if is_headline(r)}
    assert best == {("keras-tf", "latency_p50"): "predict_on_batch",
                    ("keras-tf", "latency_p99"): "predict_on_batch",
                    ("pytorch", "latency_p50"): "eager", ("pytorch", "latency_p99"): "eager"}
    assert recs[0].extra["paths_compared"] == ["call", "predict_on_batch"]
    (p50,) = [r for r in rows(recs) if r.metric == "latency_p50"]
    assert p50.cells["keras-tf"].value == 3.0  # not the eager call path's 30 ms
    assert {(p.metric, p.a_value) for p in pairwise(recs) if p.a == "keras-tf"} == {
        ("latency_p50", 3.0), ("latency_p99", 90.0)}


def test_processes_pool_per_path_never_across_paths() -> None:
    recs = [_rec("keras-tf", path, "latency_p50", v, job=f"t/m/keras-tf/infer#{p}",
                 samples=[v, v + 0.1])
            for p in (1, 2) for path, v in (("call", 30.0), ("predict_on_batch", 3.0))]
    merged = select_paths(merge_processes(recs))
    assert sorted((r.extra["call_path"], r.value) for r in merged) == [
        ("call", pytest.approx(30.05)), ("predict_on_batch", pytest.approx(3.05))]
    assert all(r.extra["processes"] == 2 for r in merged)
    assert [r.extra["call_path"] for r in merged if is_headline(r)] == ["predict_on_batch"]


def _procs(fw: str, path: str, values: list[float]) -> Record:
    r = _rec(fw, path, "throughput", float(sorted(values)[1]), better="higher", group="train")
    return r.model_copy(update={"extra": {**r.extra, "processes": len(values),
                                          "process_values": values}})


def test_paths_the_processes_cannot_tell_apart_are_tied_and_the_default_speaks() -> None:
    # compile's point is higher, but three processes each cannot separate it from the loop
    tied = select_paths([_procs("pytorch", "loop", [1000.0, 1150.0, 880.0]),
                         _procs("pytorch", "compile", [1107.0, 900.0, 1250.0])])
    assert [r.extra["call_path"] for r in tied if is_headline(r)] == ["loop"]
    assert tied[0].extra["paths_tied"] == ["loop", "compile"]
    # a clear gain is not a tie: the knob that pays speaks
    clear = select_paths([_procs("pytorch", "loop", [1000.0, 1010.0, 990.0]),
                          _procs("pytorch", "compile", [1500.0, 1490.0, 1510.0])])
    assert [r.extra["call_path"] for r in clear if is_headline(r)] == ["compile"]
    assert "paths_tied" not in clear[0].extra
