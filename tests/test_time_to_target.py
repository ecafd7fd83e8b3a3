"""Time-to-target in the accuracy scenario: the curve, the stop rule, "not reached", the clock.

No framework is imported: the scenario runs against a fake adapter whose test accuracy climbs
with the optimizer steps done, under a fake clock that charges 0.2 s per step, 0.5 s of fixed
cost per ``fit`` call and 100 s per predict, so the test can prove that training is one fit call,
that evaluation time stays out of the training wall time, and that the fit call's fixed cost is
in the wall time but not in time-to-target (it comes after the last step).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from twinbench.analysis.comparisons import pairwise
from twinbench.analysis.merge import merge_processes
from twinbench.analysis.rows import rows
from twinbench.analysis.text import fmt_value
from twinbench.frameworks.base import CallPath
from twinbench.report.markdown import render_markdown
from twinbench.report.terminal import print_results
from twinbench.results.schema import Record
from twinbench.scenarios import accuracy
from twinbench.scenarios.accuracy import EvalPoint, chunk_ends, first_reaching
from twinbench.study import load_study
from twinbench.tasks import TASKS, image_classification
from twinbench.tasks.datasets import Dataset, Split

N_TEST = 100


def _curve(*metrics: float) -> list[EvalPoint]:
    return [EvalPoint(i + 1, 10 * (i + 1), 2.0 * (i + 1), m) for i, m in enumerate(metrics)]


def test_chunk_ends_per_epoch_and_every_n_steps() -> None:
    assert chunk_ends(0, 44, None) == [44]
    assert chunk_ends(44, 44, None) == [88]
    assert chunk_ends(0, 44, 20) == [20, 40, 44]
    assert chunk_ends(44, 44, 20) == [60, 80, 88]  # counted in global steps across epochs
    assert chunk_ends(0, 40, 20) == [20, 40]  # no empty chunk at an epoch end


def test_reached_at_the_first_evaluation_at_or_above_target() -> None:
    curve = _curve(0.40, 0.90, 0.95, 0.85)
    assert first_reaching(curve, 0.9) is curve[1]  # ">=": equal counts
    assert first_reaching(curve, 0.93) is curve[2]
    t, s = accuracy.target_measurements(curve, 0.9, "accuracy", batch_size=32, dataset="digits")
    assert (t.metric, t.unit, t.better, t.value) == ("time_to_target", "s", "lower", 4.0)
    assert (s.metric, s.unit, s.value) == ("steps_to_target", "steps", 20.0)
    assert t.extra["reached"] is True and t.extra["epoch"] == 2
    assert t.extra["budget_steps"] == 40 and t.extra["best_metric"] == 0.95
    assert [p["metric"] for p in t.extra["curve"]] == [0.40, 0.90, 0.95, 0.85]


def test_not_reached_is_a_result_with_no_value() -> None:
    t, s = accuracy.target_measurements(_curve(0.4, 0.6), 0.9, "accuracy")
    assert t.value is None and s.value is None
    assert t.extra["reached"] is False and "epoch" not in t.extra
    assert t.extra["budget_s"] == 4.0 and t.extra["best_metric"] == 0.6


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeAdapter:
    """Test accuracy after s steps is acc(s); a step costs 0.2 s, a fit call 0.5 s more after
    its last step, a predict 100 s (fake clock)."""

    def __init__(self, clock: FakeClock, acc: Any) -> None:
        self.clock, self.acc, self.steps, self.fit_sizes = clock, acc, 0, []

    def compile_train(self, net: Any, lr: float, momentum: float, optimizer: str = "sgd",
                      weight_decay: float = 0.0, path: Any = None) -> None:
        self.path = path

    def knobs(self, net: Any) -> dict[str, Any]:
        return {"call_path": self.path.id}

    def to_device(self, x: np.ndarray) -> np.ndarray:
        return x

    def labels(self, y: np.ndarray) -> np.ndarray:
        return y

    def fit(self, net: Any, x: np.ndarray, y: np.ndarray, batch_size: int,
            on_step: Any = None) -> float:
        self.fit_sizes.append(len(x))
        for i in range(len(x) // batch_size):
            self.clock.now += 0.2
            self.steps += 1
            if on_step is not None:
                on_step(i + 1)
        self.clock.now += 0.5  # the call's teardown
        return 1.0

    def predict(self, net: Any, x: np.ndarray) -> np.ndarray:
        self.clock.now += 100.0
        right = x[:, 0] < self.acc(self.steps) * N_TEST  # samples 0..k-1 right
        logits = np.zeros((len(x), 2), np.float32)
        logits[np.arange(len(x)), np.where(right, 1, 0)] = 1.0  # true class of each is 1
        return logits

    def synchronize(self) -> None:
        pass


EPOCH_ACC = (0.30, 0.70, 0.92, 0.97, 0.99, 1.0)  # after each epoch of 5 steps


def _run(monkeypatch: pytest.MonkeyPatch, acc_of_steps: Any = None,
         **acc: Any) -> tuple[list, FakeAdapter]:
    clock = FakeClock()
    monkeypatch.setattr(accuracy.time, "perf_counter", clock)
    acc_of_steps = acc_of_steps or (lambda s: EPOCH_ACC[max(s - 1, 0) // 5])
    study = load_study(preset="tiny", overrides={"accuracy": {"batch_size": 10, **acc}})
    ds = Dataset("fake", Split(np.zeros((50, 1), np.float32), np.ones(50, np.int64)),
                 Split(np.arange(N_TEST, dtype=np.float32)[:, None], np.ones(N_TEST, np.int64)),
                 2, (1,))
    fake = FakeAdapter(clock, acc_of_steps)
    path = CallPath("fit", "train", "out-of-box", {}, "")
    ctx = SimpleNamespace(
        study=study, task=TASKS["image-classification"], adapter=fake,
        dataset=lambda name, n_train=None: ds, build=lambda shape, ncls: object(),
        evaluate=image_classification.evaluate, progress=lambda msg: None,
        primary_path=lambda kind, shape: path, section=study.section)
    return accuracy.run(ctx), fake  # type: ignore[arg-type]


def test_one_fit_call_and_the_clock_stops_for_evaluation(monkeypatch: pytest.MonkeyPatch,
                                                          ) -> None:
    out, fake = _run(monkeypatch, epochs=4)  # default target of image-classification: 0.9
    m = {r.metric: r for r in out}
    assert fake.fit_sizes == [200]  # ONE fit call over 4 epochs of 5 full batches of 10
    assert m["time_to_target"].value == pytest.approx(3.0)  # 15 steps x 0.2 s; predicts out
    assert m["steps_to_target"].value == 15.0
    assert m["train_wall_time"].value == pytest.approx(4.5)  # 20 steps + the call's 0.5 s
    assert m["accuracy"].value == pytest.approx(0.97)  # after the budget: the last evaluation
    curve = m["time_to_target"].extra["curve"]
    assert [p["steps"] for p in curve] == [5, 10, 15, 20]
    assert [p["train_s"] for p in curve] == pytest.approx([1.0, 2.0, 3.0, 4.0])
    assert m["time_to_target"].extra["target"] == TASKS["image-classification"].target == 0.9
    assert m["accuracy"].extra["fit_calls"] == 1
    assert m["accuracy"].extra["call_path"] == "fit"


def test_eval_every_evaluates_inside_the_one_fit_call(monkeypatch: pytest.MonkeyPatch) -> None:
    out, fake = _run(monkeypatch, acc_of_steps=lambda s: 0.16 * s, epochs=2, eval_every=2,
                     target=0.95)
    m = {r.metric: r for r in out}
    assert fake.fit_sizes == [100]
    curve = m["time_to_target"].extra["curve"]
    assert [p["steps"] for p in curve] == [2, 4, 5, 6, 8, 10]  # every 2 steps and epoch ends
    assert m["steps_to_target"].value == 6.0  # 0.96 >= 0.95
    assert m["time_to_target"].value == pytest.approx(1.2)


def test_data_beyond_the_cap_is_split_over_fit_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accuracy, "MAX_FIT_BYTES", 2 * 50 * 4)  # two epochs of 50 x 1 floats
    out, fake = _run(monkeypatch, epochs=3)
    m = {r.metric: r for r in out}
    assert fake.fit_sizes == [100, 50] and m["accuracy"].extra["fit_calls"] == 2
    assert m["train_wall_time"].value == pytest.approx(15 * 0.2 + 2 * 0.5)
    curve = m["time_to_target"].extra["curve"]
    assert [p["train_s"] for p in curve] == pytest.approx([1.0, 2.0, 3.5])  # + first call's 0.5


def test_not_reached_within_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    out, _ = _run(monkeypatch, epochs=2, target=0.99)
    m = {r.metric: r for r in out}
    assert m["time_to_target"].value is None and m["steps_to_target"].value is None
    assert m["time_to_target"].extra["reached"] is False
    assert m["time_to_target"].extra["budget_steps"] == 10


def test_target_is_validated() -> None:
    from twinbench.errors import UserError

    for bad in (0, 1.5, -0.1):
        with pytest.raises(UserError, match="accuracy.target"):
            load_study(preset="tiny", overrides={"accuracy": {"target": bad}})
    assert load_study(preset="tiny", overrides={"accuracy": {"target": 1}}).accuracy.target == 1


def _rec(fw: str, metric: str, value: float | None, reached: bool | None = None,
         job: str = "") -> Record:
    extra = {} if reached is None else {"reached": reached}
    return Record(study="s", run_id="r", job_id=job or f"image-classification/resnet/{fw}/acc",
                  task="image-classification", model="resnet", framework=fw,
                  backend="torch", scenario="accuracy", metric=metric, unit="s",
                  value=value, better="lower", threads=2, extra=extra,
                  process=int(job.rpartition("#")[2]) if "#" in job else None)


def test_reports_say_not_reached_and_comparisons_skip_it() -> None:
    recs = [_rec("pytorch", "time_to_target", 12.5, True),
            _rec("keras-tf", "time_to_target", None, False),
            _rec("pytorch", "train_wall_time", 20.0), _rec("keras-tf", "train_wall_time", 30.0)]
    ttt = next(r for r in rows(recs) if r.metric == "time_to_target")
    assert set(ttt.cells) == {"pytorch", "keras-tf"} and ttt.best == "pytorch"
    assert fmt_value(ttt.cells["keras-tf"]) == "not reached"
    assert fmt_value(ttt.cells["pytorch"], "s") == "12.50 s"
    assert {p.metric for p in pairwise(recs)} == {"train_wall_time"}
    console = Console(record=True, width=160)
    print_results(recs, console)
    assert "not reached" in console.export_text()
    from twinbench.analysis.study import analyze
    from twinbench.report.content import collect
    from twinbench.report.html import render

    data = collect(analyze("s", recs))
    assert "not reached" in render_markdown(data)
    assert "not reached" in render(data)


def test_merging_processes_that_never_reached() -> None:
    recs = [_rec("pytorch", "time_to_target", None, False, job=f"t/m/pytorch/accuracy#{i}")
            for i in (1, 2)]
    merged = merge_processes(recs)
    assert len(merged) == 1 and merged[0].value is None
    assert merged[0].extra["reached"] is False and merged[0].extra["processes"] == 2
    half = merge_processes([recs[0], _rec("pytorch", "time_to_target", 8.0, True,
                                          job="t/m/pytorch/accuracy#2")])
    assert half[0].value == 8.0 and "no value in 1 of 2 processes" in [
        w.text for w in half[0].warned("no-value")]


def test_each_accuracy_replicate_trains_from_its_own_seed(cli, tmp_path) -> None:
    """Real workers: process k of an accuracy job trains from seed + k (weights and data order),
    so replicates sample seed-to-seed variation; the merged record lists the seeds."""
    from twinbench.results.store import Store

    out = tmp_path / "seeds"
    r = cli("run", "--preset", "tiny", "--framework", "pytorch", "--scenario", "accuracy",
            "--processes", "3", "--threads", "1", "--no-parity", "--seed", "5", "--out", str(out))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    with Store(out / "results.sqlite") as s:
        raw = [x for x in s.records(s.last_run()) if x.metric == "accuracy"]
    assert sorted(x.extra["seed"] for x in raw) == [5, 6, 7]
    losses = {tuple(x.extra["fit_losses"]) for x in raw}
    assert len(losses) == 3  # three different training runs, not one run three times
    merged = merge_processes(raw)
    assert sorted(merged[0].extra["seeds"]) == [5, 6, 7]
