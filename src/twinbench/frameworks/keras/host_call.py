"""Call a numpy function from inside a Keras train step, on every Keras backend.

Keras compiles ``train_step`` into a graph on TensorFlow (``tf.function``) and JAX (``jax.jit``),
where tensors have no numpy value; some work (DETR's Hungarian matching, scipy) only exists in
numpy. Each backend has its own documented escape hatch, chosen here once:

* tensorflow: ``tf.numpy_function`` (not XLA-compilable: fine on CPU, where Keras' "auto"
  leaves ``jit_compile`` off on TensorFlow);
* jax: ``jax.pure_callback`` with the result shapes declared up front;
* torch: eager, so a plain call on the detached tensors.

Inputs should be gradient-stopped by the caller; the results carry no gradient.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

Spec = tuple[tuple[int | None, ...], str]  # (shape, dtype) of one result


def numpy_call(fn: Callable[..., Sequence[np.ndarray]], args: Sequence[Any],
               specs: Sequence[Spec]) -> tuple[Any, ...]:
    """``fn(*numpy args) -> numpy results`` as backend tensors of the declared specs."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        outs = tf.numpy_function(fn, list(args), [tf.as_dtype(d) for _, d in specs],
                                 stateful=False)
        for out, (shape, _) in zip(outs, specs, strict=True):
            out.set_shape(shape)  # numpy_function forgets shapes; None stays unknown
        return tuple(outs)
    if backend == "jax":
        import jax

        shapes = tuple(jax.ShapeDtypeStruct(s, d)  # type: ignore[no-untyped-call]
                       for s, d in specs)
        return tuple(jax.pure_callback(lambda *a: tuple(fn(*a)), shapes, *args))
    if backend == "torch":
        res = fn(*(keras.ops.convert_to_numpy(a) for a in args))
        return tuple(keras.ops.convert_to_tensor(np.asarray(r, d))
                     for r, (_, d) in zip(res, specs, strict=True))
    raise NotImplementedError(f"no numpy escape hatch for the Keras {backend!r} backend; "
                              "use tensorflow, jax or torch")
