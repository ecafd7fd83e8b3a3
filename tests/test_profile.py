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


def _profile(fw: str, unknown_share: float = 0.01, **extra: object) -> list[Record]:
    out = []
    for ph in ("train", "infer"):
        t = {k: (v.replace("train", ph) if isinstance(v, str) else v) for k, v in _TRACE.items()}
        out += [_record(fw, f"{ph}/convolution", 6.0), _record(fw, f"{ph}/overhead", 2.0),
                _record(fw, f"{ph}/unknown", 8 * unknown_share, share=unknown_share,
                        unknown_ops=[]),
                _record(fw, f"{ph}/step_time_profiled", 8.0, **{**t, **extra})]
    return out


def test_reports_link_the_traces_next_to_the_profile_bars() -> None:
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
    md = render_markdown(collect("t", recs))
    assert "## Profile traces" in md and "traces/y/train/vm.xplane.pb" in md
    assert "tensorboard --logdir traces/y/train/tb" in md
    assert "Open trace file → traces/x/infer/trace.json.gz" in md


@pytest.mark.parametrize("recs,verdict,says", [
    (_profile("pytorch") + _profile("keras-tf"), "confirmed", "side by side with keras-tf"),
    (_profile("pytorch", unknown_share=0.3), "not measured in this study", "30%"),
    (_profile("pytorch", trace_events=0), "refuted", "no trace"),
    ([_record("pytorch", "status", None).model_copy(update={"status": "failed",
                                                            "error": "boom"})],
     "refuted", "failed"),
    (_profile("keras-tf"), "not measured in this study", "no PyTorch profile"),
])
def test_c10_rests_on_parsed_traces_and_known_ops(recs: list[Record], verdict: str,
                                                  says: str) -> None:
    from twinbench.report.claims import assess

    c10 = {c.id: c for c in assess(recs)}["C10"]
    assert c10.verdict == verdict, c10
    assert says in c10.summary
