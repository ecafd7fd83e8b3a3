"""The profile scenario: categorisation, time accounting, traces, the terminal view.

Unit tests feed synthetic events through the categoriser and the attribution (pure Python),
and synthetic records through the views and claim C10. The real scenario, one framework per
worker process, is tested in test_profile_runs.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from twinbench.profiling import xla_dump
from twinbench.profiling.attribution import Event, attribute, find_window
from twinbench.profiling.categories import (
    CATEGORIES,
    CONTAINER,
    RULES,
    SCOPE,
    UNKNOWN,
    classify,
    layer_path,
    refine,
)
from twinbench.report.profile_view import print_profiles
from twinbench.results.schema import Record

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
    ("jax", "PjitFunction(_einsum)", "matmul"),  # eager Keras einsum (attention, projections)
    ("jax", "hlo:jit__einsum:transpose_copy_fusion", "matmul"),  # ... and its thunks
    ("jax", "PjitFunction(_var)", "normalisation"),  # eager LayerNorm's variance
    ("jax", "hlo:jit_train_step:f jit(train_step)/jvp(blocks-0)/erfc", "activation"),  # GELU
    ("jax", "hlo:jit_train_step:wrapped_reduce-window reduce-window", "pooling"),
    ("torch", "aten::_native_multi_head_attention", SCOPE + "attention"),  # inference fast path
    ("torch", "aten::_scaled_dot_product_flash_attention_for_cpu", "attention"),
    # an output projection is linear, whatever its layer is called
    ("tensorflow", "StatefulPartitionedCall/m_1/self_attention_1/attention_output_1/MatMul:"
     "_MklBatchMatMulV2", "matmul"),
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


def _record(fw: str, name: str, value: float, **extra: object) -> Record:
    """A profile record named as the reports name it: ``phase/category`` (an ``op_time``
    record of that category) or ``phase/metric``."""
    phase, _, what = name.rpartition("/")
    whole = what in ("step_time", "step_time_profiled", "profiler_overhead") or not phase
    return Record(study="t", run_id="r", job_id=f"x/{fw}/profile", task="image-classification",
                  model="resnet", framework=fw, backend="b", scenario="profile",
                  metric=what if whole else "op_time", phase=phase or None,
                  category=None if whole else what, unit="ms", value=value, threads=1,
                  extra=extra)


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


# --- attention and normalisation from layer scopes ----------------------------------------

def test_torch_inference_attention_splits_scores_from_projections() -> None:
    ms = 1_000_000
    evs = [Event("aten::_native_multi_head_attention", 0, 0, 10 * ms),  # a scope, no time
           Event("aten::mm", 0, 0, 2 * ms),  # q/k/v projection
           Event("aten::_transform_bias_rescale_qkv", 0, 2 * ms, 3 * ms),
           Event("aten::bmm", 0, 3 * ms, 5 * ms),  # scores
           Event("aten::_masked_softmax", 0, 5 * ms, 6 * ms),
           Event("aten::bmm", 0, 6 * ms, 8 * ms),  # weights x values
           Event("aten::addmm", 0, 8 * ms, 10 * ms)]  # output projection
    bd = attribute(evs, (0, 10 * ms), "torch")
    assert bd.by_category["attention"] == 6 * ms and bd.by_category["matmul"] == 4 * ms


_TF = "StatefulPartitionedCall/transformer_1/blocks-0_1/"
_TF_KEYS = {  # real keys of the Keras transformer twin on TensorFlow -> expected category
    _TF + "attn_1/einsum/Einsum:_MklEinsum": "attention",  # scores
    _TF + "attn_1/Softmax:_MklSoftmax": "attention",
    _TF + "attn_1/SelectV2:SelectV2": "attention",  # the mask
    "StatefulPartitionedCall/gradient_tape/transformer_1/blocks-0_1/attn_1/einsum_1/Einsum_1:"
    "_MklEinsum": "attention",
    _TF + "attn_1/query_1/MatMul:_MklBatchMatMulV2": "matmul",  # projections
    _TF + "attn_1/key_1/MatMul:_MklBatchMatMulV2": "matmul",
    _TF + "attn_1/attention_output_1/MatMul:_MklBatchMatMulV2": "matmul",
    _TF + "norm1_1/Rsqrt:Rsqrt": "normalisation",
    _TF + "norm1_1/mul_1:Mul": "normalisation",  # scale: the norm layer's
    _TF + "add:AddV2": "activation",  # the residual: in the block, not in its LayerNorm
    _TF + "fc1_1/BiasAdd:BiasAdd": "activation",
}
_JX = "hlo:jit_train_step:f jit(train_step)/"
_JAX_KEYS = {  # the same on JAX, keys as jax_profiler builds them from XLA's op_name metadata
    _JX + "jvp(blocks-0)/attn/vmap(BTNH,BSNH->BNTS)/dot_general": "attention",
    _JX + "jvp(blocks-0)/attn/vmap()/div": "attention",  # softmax
    _JX + "transpose(jvp(blocks-0))/attn/vmap()/reduce_sum": "attention",
    _JX + "jvp(blocks-0)/attn/query/abc,cde->abde/dot_general": "matmul",
    _JX + "jvp(blocks-0)/attn/key/abc,cde->abde/dot_general": "matmul",
    _JX + "jvp(blocks-0)/attn/attention_output/abcd,cde->abe/dot_general": "matmul",
    _JX + "jvp(blocks-0)/norm1/rsqrt": "normalisation",
    _JX + "jvp(blocks-0)/norm1/jit(_var)/sub": "normalisation",
    _JX + "jvp(blocks-0)/add": "activation",
    _JX + "jvp(bn1)/jit(_var)/reduce_sum": "normalisation",  # a flat ResNet layer still works
    _JX + "jvp(bn1)/mul": "normalisation",
}


@pytest.mark.parametrize("profiler,keys", [("tensorflow", _TF_KEYS), ("jax", _JAX_KEYS)])
def test_keras_attention_and_norm_scopes(profiler: str, keys: dict[str, str]) -> None:
    out = refine(profiler, {k: classify(profiler, k) for k in keys})
    assert {k: out[k] for k in keys} == keys


def test_layer_paths() -> None:
    assert layer_path("tensorflow", _TF + "norm1_1/moments/mean:Mean") == \
        "transformer_1/blocks-0_1/norm1_1/moments"
    assert layer_path("tensorflow", "EagerLocalExecute: Softmax") is None
    assert layer_path("jax", _JX + "transpose(jvp(blocks-0))/attn/vmap()/mul") == "blocks-0/attn"
    assert layer_path("jax", "hlo:jit__einsum:ynn_fusion") is None  # eager: no metadata
    assert layer_path("torch", "aten::bmm") is None


def test_hlo_metadata_note_is_per_capture() -> None:
    train = ["hlo:jit_train_step:ynn_fusion.50 jit(train_step)/jvp(bn1)/mul",
             "hlo:jit_train_step:ynn_fusion.3", "PjitFunction(train_step)"]
    infer = ["hlo:jit__einsum:ynn_fusion", "PjitFunction(_einsum)"]
    assert xla_dump.metadata_note(train) == []  # some thunks named: no note
    note = xla_dump.metadata_note(infer)  # whatever earlier captures found
    assert len(note) == 1 and "1 XLA thunks" in note[0]
    assert xla_dump.metadata_note(["PjitFunction(relu)"]) == []  # no XLA thunk at all


# --- traces in the reports, claim C10 --------------------------------------------------------

_TRACE = {"profiler": "torch", "trace": "traces/x/train/trace.json.gz",
          "native_trace": "traces/x/train/trace.json.gz", "trace_events": 1234,
          "open_with": "Perfetto: https://ui.perfetto.dev → Open trace file → "
                       "traces/x/train/trace.json.gz"}
# extra.debug as the scenario writes it (values from a real capture of a small conv net)
_DEBUG = {
    "torch": {
        "options": {"activities": "CPU", "record_shapes": True, "profile_memory": True,
                    "with_stack": True},
        "op_coverage": 0.956, "overhead_x": 1.18,
        "memory": {"kind": "trace events", "option": "profile_memory=True", "events": 298,
                   "bytes_allocated": 33222224, "bytes_freed": 33219624,
                   "peak_bytes": 3687344, "bytes_allocated_per_step": 8305556.0},
        "source": {"op_events": 624, "frames": 911, "frames_with_source": 445,
                   "with_stack": 624, "share": 1.0, "with_layer": 180, "layer_share": 0.288,
                   "example": "aten::conv2d ← torch/nn/modules/conv.py(549): _conv_forward"},
        "viewer": {"native_format": "Chrome trace JSON (kineto)",
                   "native_opens_in": "Perfetto, chrome://tracing",
                   "perfetto_trace_by": "the profiler", "events": 1955,
                   "complete_events": 1575, "malformed": 0, "perfetto_ok": True}},
    "tensorflow": {
        "options": {"host_tracer_level": 2, "python_tracer_level": 1, "device_tracer_level": 1},
        "op_coverage": 0.442, "overhead_x": 1.21,
        "memory": {"kind": "trace events", "option": "none documented (host_tracer_level=2)",
                   "events": 0, "bytes_allocated": 0, "peak_bytes": None,
                   "bytes_allocated_per_step": 0.0},
        "source": {"op_events": 425, "frames": 0, "frames_with_source": 0, "with_stack": 0,
                   "share": 0.0, "with_layer": 336, "layer_share": 0.79, "example": None},
        "viewer": {"native_format": "XPlane protobuf (.xplane.pb)",
                   "native_opens_in": "TensorBoard with tensorboard-plugin-profile",
                   "perfetto_trace_by": "twinbench (converted)", "events": 3343,
                   "complete_events": 3332, "malformed": 0, "perfetto_ok": True}},
    "jax": {
        "options": {"host_tracer_level": 2, "python_tracer_level": 1,
                    "create_perfetto_trace": True,
                    "device_memory_profile": "after the profiled steps"},
        "op_coverage": 0.439, "overhead_x": 1.08,
        "memory": {"kind": "snapshot (device_memory_profile, pprof)",
                   "option": "jax.profiler.device_memory_profile()", "events": 0,
                   "snapshot_buffers": 16, "live_bytes": 2744, "file": "memory.prof"},
        "source": {"op_events": 237, "frames": 4457, "frames_with_source": 1927,
                   "with_stack": 16, "share": 0.068, "with_layer": 0, "layer_share": 0.0,
                   "example": "PjitFunction(relu) ← dispatch.py:81 apply_primitive"},
        "viewer": {"native_format": "XPlane protobuf (.xplane.pb) + Perfetto JSON",
                   "native_opens_in": "Perfetto (perfetto_trace.json.gz); TensorBoard",
                   "perfetto_trace_by": "the profiler", "events": 5557,
                   "complete_events": 5538, "malformed": 0, "perfetto_ok": True}},
}
_PROFILER = {"pytorch": "torch", "lightning": "torch", "keras-torch": "torch",
             "keras-tf": "tensorflow", "keras-jax": "jax"}


def _profile(fw: str, unknown_share: float = 0.01, debug: dict | None = None,
             **extra: object) -> list[Record]:
    """One framework's profile records, train and infer, as the scenario writes them;
    ``debug`` patches extra.debug (a key set to None drops it)."""
    out = []
    prof = _PROFILER[fw]
    facts = {**_DEBUG[prof], **(debug or {})}
    facts = {k: v for k, v in facts.items() if v is not None}
    for ph in ("train", "infer"):
        t = {k: (v.replace("train", ph) if isinstance(v, str) else v) for k, v in _TRACE.items()}
        t["profiler"] = prof
        out += [_record(fw, f"{ph}/convolution", 6.0), _record(fw, f"{ph}/overhead", 2.0),
                _record(fw, f"{ph}/unknown", 8 * unknown_share, share=unknown_share,
                        unknown_ops=[]),
                _record(fw, f"{ph}/step_time_profiled", 8.0,
                        **{**t, "debug": facts, **extra}),
                _record(fw, f"{ph}/profiler_overhead", facts.get("overhead_x", 1.1),
                        profiler_options=facts.get("options", {}))]
    return out


def test_reports_link_the_traces_next_to_the_profile_bars() -> None:
    from twinbench.analysis.study import analyze
    from twinbench.report.content import collect
    from twinbench.report.html import render_html
    from twinbench.report.markdown import render_markdown

    recs = _profile("pytorch") + _profile("keras-tf", trace="traces/y/train/trace.json.gz",
                                          native_trace="traces/y/train/vm.xplane.pb",
                                          open_with="tensorboard --logdir traces/y/train/tb")
    html = render_html("t", recs)
    infer = html.index('aria-label="profile · where a predict call goes')
    train = html.index('aria-label="profile · where a training step goes')
    assert infer < html.index('<a href="traces/x/infer/trace.json.gz">') < train  # each under
    assert train < html.index('<a href="traces/x/train/trace.json.gz">') < html.index(
        '<h2 id="tables">')  # its own figure
    assert 'native <a href="traces/y/train/vm.xplane.pb">' in html
    assert "tensorboard --logdir traces/y/train/tb" in html and "ui.perfetto.dev" in html
    md = render_markdown(collect(analyze("t", recs)))
    assert "## Profile traces" in md and "traces/y/train/vm.xplane.pb" in md
    assert "tensorboard --logdir traces/y/train/tb" in md
    assert "Open trace file → traces/x/infer/trace.json.gz" in md


def _c10(recs: list[Record]):
    from twinbench.analysis.claims import assess

    return {c.id: c for c in assess(recs)}["C10"]


def _failed(fw: str) -> Record:
    return _record(fw, "status", None).model_copy(update={"status": "failed", "error": "boom"})


_ALL = _profile("pytorch") + _profile("keras-tf") + _profile("keras-jax")


def test_c10_confirmed_puts_the_five_capabilities_side_by_side() -> None:
    c10 = _c10(_ALL)
    assert c10.verdict == "confirmed", c10
    assert "side by side with keras-jax, keras-tf" in c10.summary and not c10.missing
    lines = {e.split(" ", 1)[0]: e for e in c10.evidence}
    assert list(lines) == ["pytorch", "keras-tf", "keras-jax"]  # one line per framework
    for cap in ("op events cover", "overhead ×", "memory ", "under a Python file:line",
                "viewer:"):  # the five capabilities, train / infer
        assert all(cap in line for line in lines.values()), cap
    torch, tf, jax = lines["pytorch"], lines["keras-tf"], lines["keras-jax"]
    assert "torch.profiler" in torch and "op events cover 96% / 96% of the step" in torch
    assert "memory 298 events (8.31 MB/step)" in torch
    assert "100% / 100% of op events under a Python file:line" in torch
    assert "with_stack" in torch and "×1.18" in torch  # overhead with the options that were on
    assert "0 events / 0 events [none documented" in tf
    assert "Perfetto trace by twinbench (converted)" in tf
    assert "snapshot of 16 buffers" in jax and "7% / 7% of op events" in jax


@pytest.mark.parametrize("debug,says", [
    ({"op_coverage": 0.3}, "op events cover 30% of the step (< 50%)"),
    ({"memory": {**_DEBUG["torch"]["memory"], "events": 0}}, "no memory events"),
    ({"source": {**_DEBUG["torch"]["source"], "share": 0.0, "frames": 0}},
     "0% of op events under a Python file:line"),
    ({"viewer": {**_DEBUG["torch"]["viewer"], "malformed": 3, "perfetto_ok": False}},
     "no Chrome trace of its own that Perfetto reads"),
])
def test_c10_refuted_when_a_written_trace_lacks_a_capability(debug: dict, says: str) -> None:
    c10 = _c10(_profile("pytorch", debug=debug) + _profile("keras-tf"))
    assert c10.verdict == "refuted", c10
    assert says in c10.summary and "pytorch train" in c10.summary


def test_c10_judges_the_pytorch_side_only() -> None:
    # Keras on TensorFlow lacks memory events and stacks: evidence, not a verdict on PyTorch
    assert _c10(_profile("lightning") + _profile("keras-tf")).verdict == "confirmed"
    # ... and Lightning is PyTorch's side: its lacks count
    c10 = _c10(_profile("pytorch") + _profile("lightning", debug={"op_coverage": 0.1}))
    assert c10.verdict == "refuted" and "lightning" in c10.summary


@pytest.mark.parametrize("recs,says", [
    ([_failed("pytorch")], "the profile job failed"),
    (_profile("pytorch") + [_failed("lightning")], "lightning: the profile job failed"),
    (_profile("pytorch", debug={"options": None, "op_coverage": None, "memory": None,
                                "source": None, "viewer": None}) + _profile("keras-tf"),
     "recorded without extra.debug"),
    ([r for r in _profile("pytorch") if r.name != "infer/step_time_profiled"],
     "pytorch infer: no trace recorded"),
])
def test_c10_inconclusive_on_partial_records(recs: list[Record], says: str) -> None:
    c10 = _c10(recs)
    assert c10.verdict == "inconclusive", c10
    assert says in c10.summary and c10.missing  # re-run the profile preset


def test_c10_refutes_before_it_calls_records_partial() -> None:
    c10 = _c10(_profile("pytorch", debug={"op_coverage": 0.1}) + [_failed("lightning")])
    assert c10.verdict == "refuted"


@pytest.mark.parametrize("recs", [_profile("keras-tf"), []])
def test_c10_not_measured_without_pytorch_profiles(recs: list[Record]) -> None:
    c10 = _c10(recs)
    assert c10.verdict == "not measured in this study"
    assert "no PyTorch profile" in c10.summary and "--preset profile" in c10.missing


def test_capabilities_table_in_report_md_and_terminal() -> None:
    from twinbench.report.profile_view import markdown_lines

    md = "\n".join(markdown_lines(_ALL))
    assert "**What each profiler gave**" in md
    assert "| framework | profiler | model | phase | op attribution | overhead | memory | " \
           "source | viewer |" in md
    row = next(line for line in md.splitlines() if line.startswith("| keras-jax | jax.profiler"))
    assert "| image-classification/resnet | train | 44% of the step in 237 op events |" in row
    console = Console(record=True, width=200, color_system=None)
    print_profiles(_ALL, console)
    text = console.export_text()
    assert "What each profiler gave" in text and "pytorch · torch.profiler" in text
    assert "memory: 298 memory events" in text


def test_profile_view_and_markdown_import_each_other_without_a_cycle() -> None:
    import subprocess
    import sys

    code = ("import twinbench.report.profile_view as v, twinbench.report.markdown as m; "
            "assert v.esc is m.esc and v.table is m.table")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- profiling/debug.py: what a trace gives a debugging user, synthetic ------------------------

def test_source_facts_find_the_python_frame_each_op_started_in() -> None:
    from twinbench.profiling.debug import has_source, source_facts

    frames = [Event("twinbench/frameworks/pytorch/adapter.py(80): fit", 1, 0, 100),
              Event("nn.Module: ResNet_0", 1, 0, 40),
              Event("torch/nn/modules/conv.py(549): _conv_forward", 1, 5, 30),
              Event("<built-in method conv2d of type object at 0x1>", 1, 6, 29)]
    ops = [Event("aten::conv2d", 1, 6, 29),  # inside the module, its layer known
           Event("aten::add_", 1, 50, 60),  # outside the module: a stack, no layer
           Event("aten::mm", 2, 10, 20)]  # another thread: no frames there
    f = source_facts(ops, frames, "torch")
    assert (f["op_events"], f["with_stack"], f["with_layer"]) == (3, 2, 1)
    assert f["share"] == pytest.approx(2 / 3) and f["frames_with_source"] == 2
    assert f["example"] == "aten::conv2d ← torch/nn/modules/conv.py(549): _conv_forward"
    assert has_source("$conv.py:549 _conv_forward") and not has_source("$<unknown> __exit__")
    assert not has_source("<built-in function isinstance>")
    jax = source_facts([Event("PjitFunction(train_step)", 0, 5, 9)],
                       [Event("$trainer.py:120 train_step", 0, 0, 10)], "jax")
    assert jax["share"] == 1.0 and jax["example"].endswith("← trainer.py:120 train_step")


def test_op_events_leave_out_containers_and_the_window_outside() -> None:
    from twinbench.profiling.debug import op_events

    evs = [Event("twinbench/train", 0, 0, 100), Event("aten::conv2d", 0, 10, 20),
           Event("aten::relu", 0, 150, 160)]
    assert [e.name for e in op_events(evs, (0, 100), "torch")] == ["aten::conv2d"]


def test_chrome_check_reads_traces_as_perfetto_would() -> None:
    from twinbench.profiling.debug import chrome_check, viewer_facts

    ok = {"traceEvents": [{"ph": "M", "name": "thread_name"},
                          {"ph": "X", "name": "a", "ts": 1.5, "dur": 2}, {}]}  # JAX's tail {}
    assert chrome_check(ok) == {"events": 3, "complete_events": 1, "malformed": 0}
    bad = {"traceEvents": [{"ph": "X", "name": "a", "ts": "1"}, {"name": "no phase"}]}
    assert chrome_check(bad)["malformed"] == 2
    assert chrome_check({"nothing": 1})["malformed"] == 1
    assert viewer_facts("x", "y", "the profiler", chrome_check(ok))["perfetto_ok"]
    assert not viewer_facts("x", "y", "the profiler", chrome_check(bad))["perfetto_ok"]


def _pb_varint(n: int) -> bytes:
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def _pb(num: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return _pb_varint(num << 3) + _pb_varint(payload)
    return _pb_varint(num << 3 | 2) + _pb_varint(len(payload)) + payload


def test_pprof_totals_sum_a_device_memory_profile() -> None:
    import gzip

    from twinbench.profiling.debug import pprof_totals

    strings = [b"", b"allocations", b"count", b"space", b"bytes"]
    prof = (_pb(1, _pb(1, 1) + _pb(2, 2)) + _pb(1, _pb(1, 3) + _pb(2, 4))
            + _pb(2, _pb(1, _pb_varint(7)) + _pb(2, _pb_varint(2) + _pb_varint(1024)))
            + _pb(2, _pb(2, _pb_varint(1) + _pb_varint(300)))
            + b"".join(_pb(6, s) for s in strings))
    want = {"samples": 2, "allocations/count": 3, "space/bytes": 1324}
    assert pprof_totals(prof) == want
    assert pprof_totals(gzip.compress(prof)) == want  # what jax returns: gzipped
