"""The profile scenario: categorisation, time accounting, traces, the terminal view.

Unit tests feed synthetic events through the categoriser and the attribution (pure Python).
The integration tests run the real worker on the tiny ResNet twin, one framework per process
(all three at once), then parse each native trace in that same process and exchange JSON.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from rich.console import Console

from twinbench.plan import Job
from twinbench.profiling import xla_dump
from twinbench.profiling.attribution import Event, attribute, find_window
from twinbench.profiling.categories import (
    CATEGORIES,
    CONTAINER,
    RULES,
    SCOPE,
    UNKNOWN,
    classify,
    refine,
)
from twinbench.report.profile_view import print_profiles
from twinbench.results.schema import Record
from twinbench.runner.local import worker_env
from twinbench.scenarios.profile import WINDOW_TOLERANCE
from twinbench.study import load_study

FRAMEWORKS = ["pytorch", "keras-tf", "keras-jax"]
SUM_TOLERANCE = 1e-6  # categories incl. overhead vs profiled step time, relative


# --- categories and attribution, synthetic ------------------------------------------------

def test_rule_targets_are_categories() -> None:
    for profiler, rules in RULES.items():
        for rx, cat in rules:
            assert cat.removeprefix(SCOPE) in CATEGORIES or cat == CONTAINER, (profiler, rx)
            assert "overhead" not in cat, "overhead is the unattributed rest, never a target"


@pytest.mark.parametrize("profiler,key,expected", [
    ("torch", "aten::conv2d", "convolution"),
    ("torch", "autograd::engine::evaluate_function: NativeBatchNormBackward0", "normalisation"),
    ("torch", "Optimizer.step#SGD.step", SCOPE + "optimizer"),
    ("torch", "enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__", "data_movement"),
    ("torch", "aten::cross_entropy_loss", "loss"),
    ("torch", "aten::linear", "matmul"),
    ("torch", "aten::copy_", "data_movement"),
    ("torch", "twinbench/train", CONTAINER),
    ("tensorflow", "StatefulPartitionedCall/gradient_tape/resnet_1/conv1_1/convolution/"
     "Conv2DBackpropFilter:_MklNativeConv2DBackpropFilter", "convolution"),
    ("tensorflow", "StatefulPartitionedCall/resnet_1/bn1_1/moments/mean:Mean", "normalisation"),
    ("tensorflow", "StatefulPartitionedCall/sgd/Mul:Mul", "optimizer"),
    ("tensorflow", "EagerLocalExecute: MatMul", "matmul"),
    ("tensorflow", "ExecutorState::Process", CONTAINER),
    ("jax", "hlo:jit_train_step:ynn_fusion.50 jit(train_step)/jvp(bn1)/jit(_var)/reduce_sum",
     "normalisation"),
    ("jax", "hlo:jit_train_step:conv_general_dilated.59", "convolution"),
    ("jax", "hlo:jit_train_step:wrapped_add jit(train_step)/sgd/add", "optimizer"),
    ("jax", "PjitFunction(train_step)", CONTAINER),
    ("jax", "PjitFunction(relu)", "activation"),
    ("jax", "hlo:jit_train_step:copy_reverse_fusion.1 reverse", "data_movement"),  # ROOT opcode
    ("jax", "hlo:jit__mean:ynn_fusion", "activation"),  # an eager jnp.mean's thunk
])
def test_known_ops(profiler: str, key: str, expected: str) -> None:
    assert classify(profiler, key) == expected


@pytest.mark.parametrize("profiler,key", [
    ("torch", "aten::frobnicate"), ("tensorflow", "scope/node:FrobnicateV7"),
    ("jax", "PjitFunction(frobnicate)"), ("jax", "hlo:jit_train_step:ynn_fusion.3"),
])
def test_synthetic_op_is_unknown(profiler: str, key: str) -> None:
    assert classify(profiler, key) == UNKNOWN


def test_unknown_op_listed_with_its_self_time() -> None:
    ms = 1_000_000
    evs = [Event("twinbench/train", 0, 0, 10 * ms),
           Event("aten::frobnicate", 0, 1 * ms, 5 * ms),  # 4 ms, 2 of them its own
           Event("aten::conv2d", 0, 2 * ms, 4 * ms),  # a known child keeps its 2 ms
           Event("aten::relu", 0, 6 * ms, 7 * ms)]
    bd = attribute(evs, find_window(evs, "twinbench/train"), "torch")
    assert bd.unknown_ops == {"aten::frobnicate": 2 * ms}
    assert bd.by_category[UNKNOWN] == 2 * ms
    assert bd.by_category["convolution"] == 2 * ms
    assert bd.by_category["activation"] == 1 * ms
    assert bd.attributed_ns == 5 * ms  # the other 5 ms of the window is overhead/idle


def test_scopes_and_threads_share_time() -> None:
    ms = 1_000_000
    evs = [Event("Optimizer.step#SGD.step", "a", 0, 4 * ms),  # a scope: owns no time itself
           Event("aten::conv2d", "a", 0, 1 * ms),  # Lightning's closure: stays convolution
           Event("aten::mul_", "a", 2 * ms, 3 * ms),  # the update: optimizer
           Event("aten::conv2d", "b", 5 * ms // 2, 6 * ms),  # overlaps the update 0.5 ms
           Event("aten::conv2d", "c", 5 * ms, 12 * ms)]  # sticks out of the window
    bd = attribute(evs, (0, 10 * ms), "torch")
    assert bd.by_category["optimizer"] == pytest.approx(0.75 * ms)  # 0.5 alone + 0.5 halved
    assert bd.by_category["convolution"] == pytest.approx(8.25 * ms)
    assert bd.attributed_ns == pytest.approx(9 * ms)  # the union of all ops, nothing counted twice
    assert bd.thread_ns["convolution"] == pytest.approx(9.5 * ms)  # summed over threads


def test_normalisation_scope_takes_its_elementwise_ops() -> None:
    base = "StatefulPartitionedCall/resnet_1/layer2-0-downsample-1_1/"
    cats = {base + "moments/mean:Mean": "normalisation", base + "mul:Mul": "activation",
            "StatefulPartitionedCall/resnet_1/add_1/AddV2:AddV2": "activation"}
    out = refine("tensorflow", cats)
    assert out[base + "mul:Mul"] == "normalisation"
    assert out["StatefulPartitionedCall/resnet_1/add_1/AddV2:AddV2"] == "activation"


_HLO = """\
%fused_computation.1 (param_0: f32[8,4], param_1: f32[4,4]) -> f32[8,4] {
  ROOT %convolution.3 = f32[8,4]{1,0} convolution(%param_0, %param_1), dim_labels=bf_io->bf
}

ENTRY %main.9 (p0: f32[8,4], p1: f32[4,4]) -> f32[8,4] {
  %ynn_fusion.2 = f32[8,4]{1,0} fusion(%p0, %p1), kind=kCustom, calls=%fused_computation.1
  ROOT %add.5 = f32[8,4]{1,0} add(%ynn_fusion.2, %p0), metadata={op_name="jit(step)/sgd/add"}
}
"""


def test_xla_dump_names_ops_and_goes_first(tmp_path: Path, monkeypatch) -> None:
    env = xla_dump.worker_env({"XLA_FLAGS": "--a=1 junk_token=2"}, "job")
    assert env["XLA_FLAGS"].startswith("--xla_dump_to=")  # before a token that stops XLA
    assert env["XLA_FLAGS"].endswith("--a=1 junk_token=2")
    (tmp_path / "module_0007.jit_step.cpu_after_optimizations.txt").write_text(_HLO)
    monkeypatch.setenv("XLA_FLAGS", f"--xla_dump_to={tmp_path}")
    names: dict[tuple[str, str], str] = {}
    assert xla_dump.read_op_names(names)
    assert names[("7", "add.5")] == "jit(step)/sgd/add"
    assert names[("7", "ynn_fusion.2")] == "convolution"  # no metadata: what it calls
    assert classify("jax", "hlo:jit_step:ynn_fusion.2 convolution") == "convolution"
    assert not tmp_path.exists()  # read once, then deleted


def _record(fw: str, metric: str, value: float, **extra: object) -> Record:
    return Record(study="t", run_id="r", job_id=f"x/{fw}/profile", task="image-classification",
                  model="resnet", framework=fw, backend="b", scenario="profile", metric=metric,
                  unit="ms", value=value, threads=1, extra=extra)


def test_profile_view_draws_bars_and_lists_unknown_ops() -> None:
    recs = [_record(fw, f"train/{c}", v) for fw in ("pytorch", "keras-tf")
            for c, v in (("convolution", 6.0), ("overhead", 2.0))]
    recs.append(_record("keras-tf", f"train/{UNKNOWN}", 1.0,
                        unknown_ops=[{"op": "scope/node:FrobnicateV7", "ms_per_step": 1.0}]))
    recs.append(_record("pytorch", "train/step_time_profiled", 8.0, open_with="Perfetto: x"))
    console = Console(record=True, width=140, color_system=None)
    print_profiles(recs, console)
    text = console.export_text()
    assert "pytorch" in text and "keras-tf" in text and "█" * 10 in text
    assert "FrobnicateV7" in text and "framework overhead/idle" in text
    assert "Perfetto: x" in text


def test_report_html_gets_one_stacked_profile_figure_per_phase() -> None:
    import json

    from twinbench.report.charts import scenario_figures

    recs = [_record(fw, f"{ph}/{c}", v) for fw in ("pytorch", "keras-tf") for ph in ("train",
            "infer") for c, v in (("convolution", 6.0), ("overhead", 2.0), ("pooling", 0.0))]
    recs.append(_record("keras-tf", "train/step_time_profiled", 8.0))
    figs = dict(scenario_figures(recs))
    profile = {t: json.loads(f) for t, f in figs.items() if t.startswith("profile")}
    assert len(profile) == 2 and len(figs) == 2  # no per-category panels besides them
    fig = profile["profile · where a training step goes · image-classification · resnet"]
    assert fig["layout"]["barmode"] == "stack"
    names = [t["name"] for t in fig["data"]]
    assert names == ["convolution", "framework overhead/idle"]  # empty categories left out
    assert fig["data"][0]["x"] == ["pytorch", "keras-tf"] and fig["data"][0]["y"] == [6.0, 6.0]


# --- the real scenario, one framework per process -------------------------------------------

_WORKER = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from twinbench import profiling
    from twinbench.runner import worker

    job, out, workdir = sys.argv[1:4]
    worker.main([job, out, workdir])
    parsed = {}
    for m in json.loads(Path(out).read_text())["measurements"]:
        if m["metric"].endswith("/step_time_profiled"):
            native = Path(workdir) / m["extra"]["native_trace"]
            parsed[m["metric"]] = len(profiling.load(m["extra"]["profiler"]).read_events(native))
    Path(out + ".parsed.json").write_text(json.dumps(parsed))
""")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("profile")
    study = load_study(preset="tiny", overrides={
        "frameworks": FRAMEWORKS, "scenarios": ["profile"], "threads": 1,
        "profile": {"steps": 2, "warmup": 1, "repeats": 2}})
    procs = {}
    for fw in FRAMEWORKS:
        job = Job(f"image-classification/resnet/{fw}/profile", "image-classification",
                  "resnet", fw, "profile", study.size, study.model_dump(mode="json"))
        (d / f"{fw}.job.json").write_text(json.dumps(job.to_dict()))
        env = worker_env(study, job)  # the runner's environment, profiler flags included
        env["PYTHONPATH"] = os.pathsep.join(sys.path)
        # XLA compiles the tiny graphs fast at -O0 (same HLO, same op names); first, since XLA
        # ignores flags after a token that is not --name=value
        env["XLA_FLAGS"] = "--xla_backend_optimization_level=0 " + env["XLA_FLAGS"]
        procs[fw] = subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(d / f"{fw}.job.json"), str(d / f"{fw}.out.json"),
             str(d)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for fw, proc in procs.items():
        out, _ = proc.communicate(timeout=600)
        (d / f"{fw}.log").write_text(out)
    return {fw: d for fw in FRAMEWORKS}


def _measurements(d: Path, fw: str) -> dict[str, dict]:
    out = d / f"{fw}.out.json"
    assert out.exists(), (d / f"{fw}.log").read_text()[-3000:]
    return {m["metric"]: m for m in json.loads(out.read_text())["measurements"]}


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_categories_sum_to_profiled_step_time(runs: dict[str, Path], fw: str) -> None:
    m = _measurements(runs[fw], fw)
    for phase in ("train", "infer"):
        step = m[f"{phase}/step_time_profiled"]
        total = sum(m[f"{phase}/{c}"]["value"] for c in (*CATEGORIES, UNKNOWN))
        assert total == pytest.approx(step["value"], rel=SUM_TOLERANCE)
        attributed, window = step["extra"]["attributed_ms"], step["extra"]["trace_window_ms"]
        assert 0 < attributed <= window * (1 + 1e-9), (phase, attributed, window)
        rel, abs_ms = WINDOW_TOLERANCE  # the trace's clock agrees with the wall clock
        assert abs(window - step["value"]) <= rel * step["value"] + abs_ms, (phase, window, step)
        assert m[f"{phase}/convolution"]["value"] > 0, phase  # a ResNet convolves
        assert m[f"{phase}/profiler_overhead"]["value"] > 0
        assert len(m[f"{phase}/step_time"]["samples"]) == 2  # unprofiled baseline kept
    # scopes reach the tables: sgd/... and compile_loss/... (JAX: via XLA's HLO op names)
    assert m["train/optimizer"]["value"] > 0 and m["train/loss"]["value"] > 0
    assert not any("HLO" in w for w in m["train/step_time_profiled"]["warnings"])


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_traces_written_and_parse(runs: dict[str, Path], fw: str) -> None:
    d = runs[fw]
    m = _measurements(d, fw)
    parsed = json.loads((d / f"{fw}.out.json.parsed.json").read_text())
    for phase in ("train", "infer"):
        extra = m[f"{phase}/step_time_profiled"]["extra"]
        with gzip.open(d / extra["trace"], "rt") as f:  # the Perfetto / Chrome trace
            events = json.load(f)["traceEvents"]
        assert sum(e.get("ph") == "X" for e in events) > 10
        assert (d / extra["native_trace"]).stat().st_size > 0
        assert parsed[f"{phase}/step_time_profiled"] > 10  # native format re-read in-framework
        assert extra["trace"] in extra["open_with"]


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_unknown_ops_are_listed_not_dropped(runs: dict[str, Path], fw: str) -> None:
    m = _measurements(runs[fw], fw)
    for phase in ("train", "infer"):
        unk = m[f"{phase}/{UNKNOWN}"]
        listed = sum(o["ms_per_step"] for o in unk["extra"]["unknown_ops"])
        assert listed == pytest.approx(unk["value"], rel=1e-6, abs=1e-9)
        assert unk["extra"]["share"] < 0.25, unk["extra"]["unknown_ops"][:5]  # tables cover it
