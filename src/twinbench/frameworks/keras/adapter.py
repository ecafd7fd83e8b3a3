"""Keras 3 adapter: one code base, the backend chosen per worker through ``KERAS_BACKEND``.

Training is the obvious Keras code: ``compile`` then ``fit`` (``train_on_batch`` only where a
single step's loss is needed, for parity). ``jit_compile`` is left at Keras' default ("auto"),
which the record states: XLA on JAX, none on TensorFlow-on-CPU and on the torch backend.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras  # imports the backend too, so the worker's import timer covers it
import numpy as np

from twinbench.frameworks.base import ADAMW_BETAS, ADAMW_EPS, check_optimizer

BACKEND = keras.backend.backend()


def _configure_threads(threads: int) -> dict[str, int]:
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
    # JAX: the XLA CPU client reads XLA_FLAGS (set by the runner) when it starts.
    return {"intra_op": threads, "inter_op": threads}


class KerasAdapter:
    SUPPORTS_TRAIN = True
    SUPPORTS_INFER = True

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

    def thread_settings(self) -> dict[str, int]:
        return dict(self._threads)

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
                      weight_decay: float = 0.0) -> None:
        k = self.keras
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
        )

    def knobs(self, net: Any) -> dict[str, Any]:
        jit = getattr(net, "jit_compile", None)
        out = {"jit_compile": jit, "run_eagerly": getattr(net, "run_eagerly", None)}
        opt = getattr(net, "optimizer", None)
        if opt is not None:  # as built, read back from Keras (the proof of explicit values)
            cfg = opt.get_config()
            keys = ("learning_rate", "momentum", "beta_1", "beta_2", "epsilon", "weight_decay")
            out["optimizer"] = {"name": type(opt).__name__,
                                **{k: cfg[k] for k in keys if k in cfg}}
        return out

    def train_step(self, net: Any, x: Any, y: Any) -> float:
        return float(net.train_on_batch(x, y))

    def fit(self, net: Any, x: Any, y: Any, batch_size: int) -> float:
        hist = net.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        return float(hist.history["loss"][-1])

    def predict(self, net: Any, x: Any) -> np.ndarray:
        # Keras documents __call__ (not predict) as the fast path for a single batch.
        return self.keras.ops.convert_to_numpy(net(x, training=False))

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
        """An elementwise pass over a large array: bytes read + written per call."""
        ops = self.keras.ops
        a = ops.ones((n_floats,), dtype="float32")
        return (lambda: self._block(ops.multiply(a, 1.0001))), 2 * 4 * n_floats

    def synchronize(self) -> None:
        if self.backend == "jax":
            import jax

            jax.effects_barrier()
