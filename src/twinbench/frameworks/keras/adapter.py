"""Keras 3 adapter: one code base, the backend chosen per worker through ``KERAS_BACKEND``.

Training is the obvious Keras code: ``compile`` then ``fit`` (``train_on_batch`` only where a
single step's loss is needed, for parity). Out-of-box, ``jit_compile`` stays at Keras' default
("auto"): XLA on JAX, none on TensorFlow-on-CPU (Keras disables it on CPU-only machines) and on
the torch backend; records carry the resolved value. Inference has two documented out-of-box
paths for a batch — ``model(x, training=False)`` (the Keras FAQ's advice for small inputs;
eager, op by op) and ``predict_on_batch(x)`` (Keras' compiled predict function: tf.function on
TF, jax.jit on JAX, torch.no_grad on torch) — and ``predict(x, batch_size)`` for many batches.
Tuned adds ``jit_compile=True`` (XLA on TF, torch.compile on torch; JAX already jits) and
``steps_per_execution`` for ``fit``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras  # imports the backend too, so the worker's import timer covers it
import numpy as np

from twinbench.frameworks.base import (
    ADAMW_BETAS,
    ADAMW_EPS,
    CallPath,
    OnStep,
    check_optimizer,
    default_path,
)

BACKEND = keras.backend.backend()
BACKENDS = ("tensorflow", "jax", "torch")
STEPS_PER_EXECUTION = 8  # Keras: "for small models with a large Python overhead"
_FAQ = ("https://keras.io/getting_started/faq/"
        "#whats-the-difference-between-model-methods-predict-and-call")
_API = "https://keras.io/api/models/model_training_apis/"
PATHS: tuple[CallPath, ...] = (
    CallPath("call", "infer", "out-of-box", {"call": "model(x, training=False)"}, _FAQ),
    CallPath("predict_on_batch", "infer", "out-of-box", {"call": "predict_on_batch(x)"}, _API),
    CallPath("predict", "infer", "out-of-box", {"call": "predict(x, batch_size)"}, _API,
             parts=("throughput",), batched=True),
    CallPath("predict_on_batch-jit", "infer", "tuned",
             {"call": "predict_on_batch(x)", "jit_compile": True}, _API),
    CallPath("fit", "train", "out-of-box", {"jit_compile": "auto", "steps_per_execution": 1},
             _API),
    CallPath("fit-spe", "train", "tuned",
             {"jit_compile": "auto", "steps_per_execution": STEPS_PER_EXECUTION}, _API),
    CallPath("fit-jit", "train", "tuned", {"jit_compile": True, "steps_per_execution": 1},
             _API),
    CallPath("fit-jit-spe", "train", "tuned",
             {"jit_compile": True, "steps_per_execution": STEPS_PER_EXECUTION}, _API),
)
# Which backends each tuned path is for: JAX's "auto" already is jax.jit (a jit path would
# repeat a default one), and the torch backend refuses steps_per_execution > 1.
_BACKENDS = {"predict_on_batch-jit": ("tensorflow", "torch"), "fit-spe": ("tensorflow", "jax"),
             "fit-jit": ("torch",), "fit-jit-spe": ("tensorflow",)}
# What runs a compiled Keras function on each backend (Trainer.make_*_function), without and
# with jit_compile.
_FUNCTION = {"tensorflow": ("tf.function", "tf.function + XLA (jit_compile=True)"),
             "jax": ("eager jax ops", "jax.jit"), "torch": ("eager", "torch.compile")}


def _configure_threads(threads: int) -> dict[str, Any]:
    """Thread pools must be sized before the backend runs its first op."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        return {
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        }
    if BACKEND == "torch":
        import torch

        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:
            pass
        return {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}
    # JAX: the XLA CPU client has no thread-count setting; the worker's CPU affinity (the
    # runner pins it to ``threads`` cores when there are more) is the only bound.
    return {"intra_op": "affinity-bounded", "inter_op": "affinity-bounded"}


class _OnStep(keras.callbacks.Callback):  # type: ignore[misc]  # keras ships no types
    """``on_step`` after each step (each block of ``steps_per_execution``). A callback that
    overrides on_train_batch_end makes Keras wait for the step's logs, as its progress bar
    (verbose=1, the default in a terminal) does."""

    def __init__(self, on_step: OnStep) -> None:
        super().__init__()
        self.on_step = on_step

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.on_step(batch + 1)


class KerasAdapter:
    PATHS = PATHS

    def __init__(self, threads: int, seed: int, device: str = "cpu") -> None:
        self._threads = _configure_threads(threads)  # before the backend runs any op
        self.keras = keras
        keras.utils.set_random_seed(seed)
        if BACKEND == "torch":
            import torch

            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
        self.backend = keras.backend.backend()
        self.PROFILER = self.backend  # the backend's own profiler (twinbench.profiling)
        self.id = {"tensorflow": "keras-tf", "jax": "keras-jax", "torch": "keras-torch"}[
            self.backend
        ]

    def versions(self) -> dict[str, str]:
        out = {"keras": self.keras.__version__}
        lib = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[self.backend]
        out[lib] = __import__(lib).__version__
        return out

    def thread_settings(self) -> dict[str, Any]:
        return dict(self._threads)

    def call_paths(self) -> tuple[CallPath, ...]:
        return tuple(p for p in self.PATHS if self.backend in _BACKENDS.get(p.id, BACKENDS))

    def path_knobs(self, net: Any, path: CallPath) -> dict[str, Any]:
        out: dict[str, Any] = {"call_path": path.id, **path.knobs}
        if path.id == "call":
            out["execution"] = "eager, op by op"
            return out
        jit = bool(net.jit_compile)  # as resolved by Keras ("auto" -> a bool)
        out["jit_compile"] = jit
        out["function"] = _FUNCTION[self.backend][int(jit)]
        out["run_eagerly"] = bool(net.run_eagerly)
        return out

    def predictor(self, net: Any, path: CallPath,
                  batch_size: int | None = None) -> Callable[[Any], np.ndarray]:
        if "jit_compile" in path.knobs:
            net.jit_compile = path.knobs["jit_compile"]
        call = path.knobs["call"]
        if call == "model(x, training=False)":
            return lambda x: self.keras.ops.convert_to_numpy(net(x, training=False))
        if call == "predict_on_batch(x)":
            return lambda x: np.asarray(net.predict_on_batch(x))
        return lambda x: np.asarray(net.predict(x, batch_size=batch_size, verbose=0))

    def build(self, model: str, size: dict[str, Any], input_shape: tuple[int, ...],
              num_classes: int) -> Any:
        from twinbench.zoo.keras import builders

        return builders.build(model, size, input_shape, num_classes)

    def get_weights(self, net: Any) -> dict[str, np.ndarray]:
        from twinbench.frameworks.keras import weights

        return weights.to_canonical(net)

    def set_weights(self, net: Any, w: dict[str, np.ndarray]) -> None:
        from twinbench.frameworks.keras import weights

        weights.from_canonical(net, w)

    def to_device(self, x: np.ndarray) -> Any:
        return self.keras.ops.convert_to_tensor(np.ascontiguousarray(x))

    def labels(self, y: np.ndarray) -> Any:
        y = np.ascontiguousarray(y)  # class ids -> int32; float targets (boxes) stay float32
        return self.keras.ops.convert_to_tensor(y.astype("float32" if y.dtype.kind == "f"
                                                         else "int32"))

    def compile_train(self, net: Any, lr: float, momentum: float, optimizer: str = "sgd",
                      weight_decay: float = 0.0, path: CallPath | None = None) -> None:
        k = self.keras
        path = path or default_path(self.PATHS, "train")
        check_optimizer(optimizer, weight_decay)
        # every value explicit: Keras' AdamW defaults (epsilon 1e-7, weight_decay 0.004) are not
        # torch's. Keras decays every trainable variable (no exclude_from_weight_decay), as
        # torch's AdamW does with a plain parameter list.
        opt = (k.optimizers.AdamW(learning_rate=lr, weight_decay=weight_decay,
                                  beta_1=ADAMW_BETAS[0], beta_2=ADAMW_BETAS[1],
                                  epsilon=ADAMW_EPS, amsgrad=False)
               if optimizer == "adamw"
               else k.optimizers.SGD(learning_rate=lr, momentum=momentum, weight_decay=None))
        # a twin that overrides compute_loss (DETR's set loss) brings its own loss
        own = type(net).compute_loss is not k.Model.compute_loss
        net.compile(
            optimizer=opt,
            loss=None if own else k.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=path.knobs["jit_compile"],
            steps_per_execution=path.knobs["steps_per_execution"],
        )
        net._twinbench_path = path

    def knobs(self, net: Any) -> dict[str, Any]:
        path = getattr(net, "_twinbench_path", default_path(self.PATHS, "train"))
        out = self.path_knobs(net, path)
        opt = getattr(net, "optimizer", None)
        if opt is not None:  # as built, read back from Keras (the proof of explicit values)
            cfg = opt.get_config()
            keys = ("learning_rate", "momentum", "beta_1", "beta_2", "epsilon", "weight_decay")
            out["optimizer"] = {"name": type(opt).__name__,
                                **{k: cfg[k] for k in keys if k in cfg}}
        return out

    def train_step(self, net: Any, x: Any, y: Any) -> float:
        return float(net.train_on_batch(x, y))

    def fit(self, net: Any, x: Any, y: Any, batch_size: int,
            on_step: OnStep | None = None) -> float:
        hist = net.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0,
                       callbacks=[_OnStep(on_step)] if on_step is not None else None)
        return float(hist.history["loss"][-1])

    def predict(self, net: Any, x: Any) -> np.ndarray:
        # Keras documents __call__ (not predict) as the fast path for a single batch.
        if not getattr(net, "_jax_state_synced", True):
            # inside fit (an evaluation from on_step): Keras-JAX keeps the training state apart
            # from the model's variables and only puts it back at an epoch's end, or when a
            # callback asks, as here, through jax_state_sync()
            net.jax_state_sync()
        out: np.ndarray = self.keras.ops.convert_to_numpy(net(x, training=False))
        return out

    def flops_per_sample(self, net: Any, x_one: Any) -> tuple[int, list[str]]:
        from twinbench.measure.flops import keras_flops

        return keras_flops(net)

    def _block(self, t: Any) -> Any:
        """Wait for an op's result: JAX dispatches asynchronously, TF and torch eager do not."""
        return t.block_until_ready() if self.backend == "jax" else t

    def gemm(self, n: int) -> tuple[Callable[[], object], int]:
        """One fp32 n x n matrix product through the backend's own math library."""
        rng = np.random.default_rng(0)
        ops = self.keras.ops
        a = ops.convert_to_tensor(rng.standard_normal((n, n), dtype=np.float32))
        b = ops.convert_to_tensor(rng.standard_normal((n, n), dtype=np.float32))
        return (lambda: self._block(ops.matmul(a, b))), 2 * n**3

    def stream(self, n_floats: int) -> tuple[Callable[[], object], int]:
        """``a += d`` in place over preallocated arrays (two reads, one write per element): each
        backend's own in-place form — TF ``Variable.assign_add``, JAX a jitted add whose input
        buffer is donated to its output, torch ``add_`` — so no call allocates (an allocating
        op would time page faults, not memory bandwidth)."""
        nbytes = 3 * 4 * n_floats
        if self.backend == "tensorflow":
            import tensorflow as tf

            v = tf.Variable(tf.zeros(n_floats))
            d = tf.fill((n_floats,), 1e-7)
            return (lambda: v.assign_add(d, read_value=False)), nbytes
        if self.backend == "jax":
            import jax
            import jax.numpy as jnp

            add = jax.jit(lambda x, y: x + y, donate_argnums=0)
            state = [jnp.zeros(n_floats), jnp.full((n_floats,), 1e-7, dtype=jnp.float32)]

            def step() -> object:
                state[0] = add(state[0], state[1]).block_until_ready()
                return state[0]
            return step, nbytes
        import torch

        a, dt = torch.zeros(n_floats), torch.full((n_floats,), 1e-7)
        return (lambda: a.add_(dt)), nbytes

    def synchronize(self) -> None:
        if self.backend == "jax":
            import jax

            jax.effects_barrier()  # type: ignore[no-untyped-call]
