"""Every op-name mapping of the profile scenario, in one place: profiler op -> shared category.

Each profiler names its ops differently (``aten::conv2d``, ``.../Conv2DBackpropFilter:
_MklNativeConv2DBackpropFilter``, ``conv_general_dilated.59``), so each gets an ordered regex
table; the first matching rule wins (``re.search`` on the event's key, which the profiler module
builds). ``CONTAINER`` marks framework/runtime events (dispatch, executors, markers) that own no
time themselves: their children are attributed, and time no op claims becomes
``overhead`` = framework overhead/idle. An op no rule matches is ``UNKNOWN``: its self time is
reported under its own name, never dropped.

Attention means the same on every side: scores, masking, softmax and the weighted sum of values.
The q/k/v and output projections are matmul/linear (torch's ``in_proj``/``out_proj`` linears,
Keras MultiHeadAttention's ``query``/``key``/``value``/``attention_output`` sublayers).

Known limits, stated rather than hidden: TensorFlow and JAX ops carry the Keras layer scope only
inside compiled functions (``fit``); eager ops (Keras ``__call__`` for inference) carry none, so
the elementwise pieces of a normalisation layer there count as activation/elementwise, and an
attention layer's einsums as matmul and its softmax as activation.
"""

from __future__ import annotations

import re
from functools import lru_cache

CATEGORIES: tuple[str, ...] = (
    "convolution", "matmul", "attention", "normalisation", "activation", "pooling", "loss",
    "optimizer", "data_movement", "overhead",
)
UNKNOWN = "unknown"
CONTAINER = "container"
# "scope:<category>": a range that wraps other work (torch's "Optimizer.step#SGD.step" also wraps
# Lightning's forward/backward closure). It owns no time itself; inside it, the ops SCOPE_OPS
# names (an optimizer's in-place updates) take its category, every other op keeps its own.
SCOPE = "scope:"
SCOPE_OPS: dict[str, str] = {
    "optimizer": r"^aten::(\w+_|_foreach_\w+|clone|copy_|detach|zeros_like|empty_like|empty)$",
    # torch's inference fast path: scores and weighted sum (bmm), softmax; its mm/addmm
    # (the q/k/v and output projections) stay matmul, as in training
    "attention": r"^aten::(bmm|baddbmm|_masked_softmax|_?softmax|_transform_bias_rescale_qkv)$",
}
LABELS: dict[str, str] = {
    "convolution": "convolution", "matmul": "matmul/linear", "attention": "attention",
    "normalisation": "normalisation", "activation": "activation/elementwise",
    "pooling": "pooling/resize", "loss": "loss", "optimizer": "optimizer update",
    "data_movement": "data movement/copies", "overhead": "framework overhead/idle",
    UNKNOWN: "unknown ops",
}
# Categories a normalisation layer's scope turns into "normalisation" (see ``refine``).
_PROMOTABLE = {"activation", "data_movement"}


def _names(prefix: str, names: str, suffix: str = "$") -> str:
    """``prefix(?:a|b|c)suffix`` from a space-separated list, to keep the tables readable."""
    return prefix + "(?:" + "|".join(names.split()) + ")" + suffix


def _eager(names: str) -> str:
    """Eager JAX: the dispatch ``PjitFunction(f)`` and its thunks, in module ``jit_f``."""
    return _names(r"^PjitFunction\(", names, r"\)$") + "|" + _names(r"^hlo:jit_", names, ":")


_TF_TYPE = r"[: ](?:_Mkl|_MklNative|_MklFused|_MklNativeFused|_Fused)?"  # TF + oneDNN variants
_TF_DATA = """Identity IdentityN ReadVariableOp AssignVariableOp AssignAddVariableOp
    AssignSubVariableOp Cast Reshape Transpose ConjugateTranspose Tile Pad PadV2 MirrorPad Slice
    StridedSlice StridedSliceGrad ConcatV2 Concat Pack Unpack Split SplitV Gather GatherV2
    GatherNd ResourceGather ScatterNd Squeeze ExpandDims Shape ShapeN Size Rank Fill ZerosLike
    OnesLike Const _EagerConst BroadcastTo BroadcastArgs BroadcastGradientArgs _Recv _Send
    _HostRecv _HostSend Copy CopyHost DeepCopy Snapshot StopGradient PreventGradient OneHot Range
    Reverse ReverseV2 VarHandleOp Empty \\w*Dataset\\w* \\w*Iterator\\w* Optional\\w*"""
_TF_MATH = """AddV2 Add AddN Sub Mul MulNoNan Neg RealDiv Div DivNoNan FloorDiv FloorMod Maximum
    Minimum Square SquaredDifference Sqrt Exp Log Log1p Pow Abs Sign Sum Mean Max Min Prod ArgMax
    ArgMin Equal NotEqual Greater GreaterEqual Less LessEqual Select SelectV2 LogicalAnd LogicalOr
    LogicalNot Reciprocal Floor Ceil Round BiasAdd BiasAddGrad Erf Cos Sin ClipByValue Cumsum
    InTopKV2 IsFinite AssignAdd"""
_TF_ACT = """Relu ReluGrad Relu6 Relu6Grad Elu EluGrad Selu SeluGrad Gelu GeluGrad LeakyRelu
    LeakyReluGrad Sigmoid SigmoidGrad Tanh TanhGrad Softmax LogSoftmax Softplus SoftplusGrad"""

# JAX primitives (the last part of an op_name) and HLO opcodes (a fusion's ROOT, no metadata)
_JAX_DATA = """transpose reshape broadcast_in_dim copy copy_p convert_element_type rev pad
    concatenate slice dynamic_slice dynamic_update_slice squeeze expand_dims gather scatter
    scatter-add scatter_add iota device_put select_and_scatter_add reverse bitcast broadcast
    dynamic-slice dynamic-update-slice convert"""
_JAX_MATH = """add add_any sub mul div max min exp log log1p neg select_n eq ne gt ge lt le and or
    not reduce_sum reduce_max reduce_min reduce_prod argmax argmin tanh logistic integer_pow pow
    sqrt abs sign erf erfc stop_gradient square clamp cumsum nextafter multiply subtract divide
    maximum minimum exponential negate select compare reduce power remainder"""
# eager JAX: "PjitFunction(<jax.numpy function>)" and its thunks' module "jit_<function>"
_JAX_EAGER_DATA = """reshape _reshape transpose _pad pad concatenate broadcast_to broadcast_in_dim
    convert_element_type astype copy device_put squeeze expand_dims take _take gather stack
    asarray array _convert_element_type zeros ones full"""
_JAX_EAGER_MATH = """add subtract multiply divide true_divide negative maximum minimum exp log
    sqrt square power abs where _where equal not_equal greater greater_equal less less_equal sum
    _sum mean _mean max _max min _min argmax clip tanh sigmoid relu gelu silu softmax
    log_softmax logaddexp sign reciprocal _reduce_sum _reduce_max _reduce_min logical_and
    logical_or logical_not"""

RULES: dict[str, list[tuple[str, str]]] = {
    # torch.profiler: aten ops, autograd nodes ("autograd::engine::evaluate_function: XBackward0")
    # and record_function annotations. The outermost categorised event claims the time.
    "torch": [
        (r"^twinbench/|^ProfilerStep#", CONTAINER),
        (r"^Optimizer\.(step|zero_grad)#", SCOPE + "optimizer"),
        (r"^aten::_foreach_|^aten::_fused_(sgd|adam)|AccumulateGrad", "optimizer"),
        (r"^enumerate\(DataLoader\)#", "data_movement"),  # Lightning's input pipeline
        (r"cross_entropy|nll_loss|NllLoss|LogSoftmaxBackward|log_softmax|mse_loss|MseLoss|"
         r"binary_cross_entropy|BinaryCrossEntropy|smooth_l1|SmoothL1|l1_loss|kl_div",
         "loss"),
        (r"^aten::_native_multi_head_attention$", SCOPE + "attention"),
        (r"scaled_dot_product|_flash_attention|_efficient_attention|ScaledDotProduct|"
         r"multi_head_attention", "attention"),
        (r"conv\dd|conv_transpose|convolution|Convolution|mkldnn_conv|slow_conv|conv_depthwise",
         "convolution"),
        (_names(r"^aten::", "linear addmm mm bmm matmul baddbmm addmv mv dot einsum "
                "_addmm_activation mkldnn_linear") +
         r"|AddmmBackward|MmBackward|BmmBackward|MvBackward|LinearBackward", "matmul"),
        (r"batch_norm|BatchNorm|layer_norm|LayerNorm|group_norm|GroupNorm|instance_norm|"
         r"rms_norm|RmsNorm", "normalisation"),
        (r"^aten::rsqrt_?$", "normalisation"),  # as for TF and JAX: rsqrt is a norm's tell
        # the zoo's torch twins pool globally with mean((2, 3))
        (r"pool|Pool|upsample|Upsample|interpolate|grid_sampler|^aten::mean$|MeanBackward",
         "pooling"),
        (_names(r"^aten::", "empty empty_like empty_strided zeros ones full zeros_like ones_like "
                "fill_ zero_ copy_ _to_copy to clone contiguous view reshape _reshape_alias "
                "permute transpose t expand as_strided as_strided_ slice select index "
                "index_select gather scatter cat stack pad constant_pad_nd narrow squeeze "
                "unsqueeze flatten unbind split chunk detach detach_ alias lift_fresh resize_ "
                "set_ unfold _unsafe_view embedding item _local_scalar_dense resolve_conj "
                "resolve_neg new_empty new_zeros _copy_from roll flip repeat tile masked_fill "
                "one_hot arange broadcast_to random_ uniform_ normal_ bernoulli_ is_nonzero "
                "_has_compatible_shallow_copy_type") +
         r"|^detach$|^(autograd::engine::evaluate_function: )?(T|View|Permute|Transpose|"
         r"ReshapeAlias|UnsafeView|Clone|Expand|Slice|Select|Cat|Stack|Squeeze|Unsqueeze|"
         r"Embedding|Index|ToCopy|ConstantPadNd|Unfold|Split|Unbind)Backward\d*$",
         "data_movement"),
        (r"relu|Relu|gelu|Gelu|silu|Silu|sigmoid|Sigmoid|tanh|Tanh|softmax|Softmax|hardswish|"
         r"Hardswish|hardtanh|Hardtanh|clamp|threshold|Threshold|elu|Elu|leaky|Leaky|"
         + _names(r"^aten::", "add add_ sub sub_ rsub subtract mul mul_ multiply div div_ "
                  "divide neg exp log sqrt pow abs sum prod max min maximum minimum where "
                  "addcmul_ addcdiv_ lerp_ sign square reciprocal eq ne gt lt ge le argmax any "
                  "all cumsum norm var std erf") +
         r"|(Add|Sub|Mul|Div|Sum|Neg|Exp|Log|Pow|Where|Max|Min|Sqrt|Rsqrt|Abs|Var|Std)"
         r"Backward\d*$", "activation"),
    ],
    # TensorFlow XPlane: graph ops are "scope/node:Type", eager ops "EagerLocalExecute: Type";
    # every other host event (executor, eager runtime, tf.data iterators) is a container.
    "tensorflow": [
        (r"^(?!EagerLocalExecute: )(?![^:\s]+:\w+$)", CONTAINER),
        (r"^EagerLocalExecute: (__inference_|__forward_|__backward_|StatefulPartitionedCall|"
         r"PartitionedCall)|[: ](StatefulPartitionedCall|PartitionedCall|NoOp)$", CONTAINER),
        (r"(^|/)(sgd|adam|adamw|rmsprop|adagrad|lion|optimizer)(_\d+)?/|"
         r"[: ](ResourceApply\w+|ApplyGradientDescent)$", "optimizer"),
        (r"(^|/)(compile_loss|loss)(_\d+)?/|SoftmaxCrossEntropyWithLogits", "loss"),
        (_TF_TYPE + r"\w*(Conv[123]D|DepthwiseConv2dNative)\w*$", "convolution"),
        (_TF_TYPE + r"\w*(MatMul|Einsum)\w*$", "matmul"),
        (r"/(moments|batchnorm|batch_normalization|layer_normalization)/|(^|/|-)bn\d*(_\d+)?/|"
         + _TF_TYPE + r"(FusedBatchNorm\w*|LayerNorm\w*|Rsqrt|RsqrtGrad)$", "normalisation"),
        (r"(?i:(^|/)[^/:]*(pool|resiz|upsampl)[^/:]*/)|" + _TF_TYPE +
         r"(AvgPool\w*|MaxPool\w*|Resize\w*|CropAndResize\w*)$", "pooling"),
        (_names(_TF_TYPE, _TF_ACT) + r"|(?i:(^|/)[^/:]*(relu|gelu|sigmoid|tanh|softmax|swish|"
         r"silu|activation)[^/:]*/)", "activation"),
        (_names(_TF_TYPE, _TF_DATA), "data_movement"),
        (_names(_TF_TYPE, _TF_MATH), "activation"),
    ],
    # JAX XPlane: XLA thunks as "hlo:<module>:<instruction> <op_name metadata, when known>",
    # eager dispatches as "PjitFunction(<function>)"; everything else is a container.
    "jax": [
        (r"^(?!hlo:|PjitFunction\()", CONTAINER),
        (r"^PjitFunction\((train_step|test_step|predict_step|\w*_function|multi_\w*|one_\w*)\)$",
         CONTAINER),
        (r"/(sgd|adam|adamw|rmsprop|adagrad|lion|optimizer)/", "optimizer"),
        (r"compile_loss|crossentropy|/loss/", "loss"),
        (r"(?i)dot_product_attention", "attention"),  # jax.nn / keras.ops primitives
        (r"conv_general_dilated|[\s:(]convolution", "convolution"),
        (r"dot_general|[\s:(]dot\b|[\s:(]matmul\b|[\s:(]dot\.|:jit__?(matmul|dot|einsum)\b|"
         r"^PjitFunction\(_?(matmul|dot|einsum)\)$",
         "matmul"),
        (r"jit\(_var\)|jit\(_mean\)|^PjitFunction\(_var\)$|^hlo:jit__var:|moments|rsqrt|"
         r"batch_?norm|layer_?norm|[(/-]bn\d*[)/]",
         "normalisation"),
        (r"(?i)reduce[_-]window|pool|resize|upsampl", "pooling"),
        (r"(?i)relu|gelu|silu|swish|sigmoid|softmax|logistic|tanh", "activation"),
        (_names(r"[\s/]", _JAX_DATA) + "|" + _eager(_JAX_EAGER_DATA) +
         r"|^hlo:[^ ]*:(copy|transpose|reshape|bitcast|broadcast|concatenate|slice|pad|gather|"
         r"scatter|reverse|iota|convert)[\w.-]*$", "data_movement"),
        (_names(r"[\s/]", _JAX_MATH) + "|" + _eager(_JAX_EAGER_MATH) +
         r"|^hlo:jit_\w+:(wrapped_\w+|(?!ynn_)\w+_fusion)[\w.]*$", "activation"),
    ],
}

_COMPILED = {p: [(re.compile(rx), cat) for rx, cat in rules] for p, rules in RULES.items()}


@lru_cache(maxsize=65536)
def classify(profiler: str, key: str) -> str:
    """Category of one event key: a CATEGORIES entry, CONTAINER or UNKNOWN."""
    for rx, cat in _COMPILED[profiler]:
        if rx.search(key):
            return cat
    return UNKNOWN


def in_scope(scope: str, key: str, cat: str) -> str:
    """The category of op ``key`` (own category ``cat``) inside a ``scope:<category>`` range."""
    name = scope.removeprefix(SCOPE)
    return name if re.search(SCOPE_OPS[name], key) else cat


# Layer scopes (compiled code only). TensorFlow: "<scopes>/<node>:<Type>", the scopes being the
# Keras layers (``resnet_1/bn1_1``) and the ops' own name scopes (``moments``, ``einsum``). XLA's
# op_name: "jit(train_step)/jvp(<layer>)/<sublayer>/…/<primitive>", transforms in parentheses.
_TF_PREFIX = re.compile(r"^(?:(?:StatefulPartitionedCall|gradient_tape)/)+")
_NORM_INTERNAL = re.compile(r"(?:/(?:moments|batchnorm))+$")  # a norm op's own name scopes
_JAX_LAYER = re.compile(r"(?:transpose\()?jvp\(([\w.-]+)\)\)?|([\w.-]+)")
# Keras MultiHeadAttention's projection sublayers: a scope holding query/ and key/ is one
_PROJECTIONS = re.compile(r"(query|key|value|attention_output)(?:_\d+)?")


def layer_path(profiler: str, key: str) -> str | None:
    """The "/"-joined layer scope of an op, or None (torch, eager ops, no metadata)."""
    if profiler == "tensorflow":
        if key.startswith("EagerLocalExecute") or ":" not in key:
            return None
        return _TF_PREFIX.sub("", key.rsplit(":", 1)[0]).rpartition("/")[0] or None
    if profiler != "jax" or not key.startswith("hlo:"):
        return None
    comps = key.partition(" ")[2].split(";")[0].split("/")[:-1]  # the last is the primitive
    if comps and re.fullmatch(r"jit\(\w+\)", comps[0]):
        comps = comps[1:]  # the step function
    path = []
    for c in comps:
        m = _JAX_LAYER.fullmatch(c)
        if not m:
            break  # vmap(), jit(_var), an einsum spec: inside the layer, not a layer
        path.append(m.group(1) or m.group(2))
    return "/".join(path) or None


def _within(path: str | None, scope: str) -> bool:
    return path is not None and (path == scope or path.startswith(scope + "/"))


def _attention_scopes(paths: set[str]) -> set[str]:
    """Scopes that hold both a ``query`` and a ``key`` sublayer: Keras MultiHeadAttention."""
    seen: dict[str, set[str]] = {}
    for p in paths:
        comps = p.split("/")
        for i, c in enumerate(comps):
            m = _PROJECTIONS.fullmatch(c)
            if m and i:
                seen.setdefault("/".join(comps[:i]), set()).add(m.group(1))
    return {s for s, kinds in seen.items() if {"query", "key"} <= kinds}


def refine(profiler: str, cats: dict[str, str]) -> dict[str, str]:
    """Categories from layer scopes, after the op-name rules.

    An op inside a MultiHeadAttention scope but outside its projections is attention (the score
    einsums, mask, softmax, dropout). An elementwise or data-movement op inside a layer that
    holds a normalisation op (moments, rsqrt) belongs to that normalisation (scale, shift,
    moving averages) -- the innermost such layer only, so a block holding a LayerNorm keeps
    its other ops.
    """
    paths = {k: layer_path(profiler, k) for k in cats}
    known = {p for p in paths.values() if p}
    if not known:
        return cats
    attn = _attention_scopes(known)
    norm = {_NORM_INTERNAL.sub("", paths[k]) for k, c in cats.items()
            if c == "normalisation" and paths[k]}
    out = dict(cats)
    for k, c in cats.items():
        p = paths[k]
        if p is None or c == CONTAINER or c.startswith(SCOPE):
            continue
        for a in attn:
            if _within(p, a) and not _PROJECTIONS.fullmatch((p[len(a) + 1:] + "/").split("/")[0]):
                out[k] = "attention"
        if out[k] in _PROMOTABLE and any(_within(p, n) for n in norm):
            out[k] = "normalisation"
    return out


def op_label(key: str) -> str:
    """A readable, aggregated name for an unknown op (instance numbers stripped)."""
    return re.sub(r"(?<=[A-Za-z_])[._]\d+\b", "", key)[:160]
