"""One Keras-on-TensorFlow worker under ``tf.distribute.MultiWorkerMirroredStrategy``.

Started by launch.py as ``python -m twinbench.distributed.rank_keras_tf SPEC.json RANK``, W
processes, each with its ``TF_CONFIG`` (a cluster of 127.0.0.1 ports; ``task.index`` = RANK),
as TensorFlow's multi-worker guide shows
(https://www.tensorflow.org/tutorials/distribute/multi_worker_with_keras). Variables are created
in ``strategy.scope()``. Two ways to train:

* ``custom-loop`` (alias ``data-parallel``) — the guide's custom training loop
  (https://www.tensorflow.org/tutorials/distribute/multi_worker_with_ctl): a ``tf.function``
  step that calls ``strategy.run`` on each worker's shard, the per-sample loss scaled with
  ``tf.nn.compute_average_loss(global_batch_size=G)`` and the Keras optimizer's
  ``apply_gradients`` (which all-reduces the replicas' gradients). The timed Keras-TF path:
  the documented workaround while ``fit`` fails.
* ``fit`` — the out-of-box path: ``compile`` + ``fit`` on a dataset of global batches in the
  strategy's scope. In Keras 3 it fails under MWMS (keras-team/keras#20585); the failure is
  what the scenario records.

BatchNormalization keeps per-replica statistics (``synchronized=False``, its default):
``BATCH_STATS = "replica"``. With one process there is no ``TF_CONFIG`` and the default
strategy runs the same step (with ``ref_shards`` k > 1 the gate's reference sums k shards'
gradients, each shard's loss scaled by the global batch).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

from twinbench.distributed import rank_common as rc

BATCH_STATS = "replica"
VARIANTS = ("data-parallel", "custom-loop", "fit")


def main() -> None:
    spec, rest = rc.spec_from_argv()
    rank = int(rest[0]) if rest else 0
    rc.setup(spec, rank)
    os.environ["KERAS_BACKEND"] = "tensorflow"
    if spec.world == 1:
        os.environ.pop("TF_CONFIG", None)
    log = rc.RankLog(rank, spec.world)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(spec.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    if spec.world > 1:
        # RING: TensorFlow's collective implementation for CPU workers (gRPC between them)
        opts = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.RING)
        strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=opts)
    else:
        strategy = tf.distribute.get_strategy()
    adapter = rc.adapter_for("keras-tf", spec.threads, spec.seed)
    with strategy.scope():
        net = adapter.build(spec.model, spec.size, tuple(spec.input_shape), spec.num_classes)
        adapter.set_weights(net, rc.load_init(spec))
        adapter.compile_train(net, spec.lr, spec.momentum, spec.optimizer, spec.weight_decay)
    x, y = rc.load_data(spec)
    log.info = {"launcher": "TF_CONFIG + MultiWorkerMirroredStrategy" if spec.world > 1
                else "one process (default strategy)", "tensorflow": tf.__version__,
                "keras": adapter.keras.__version__, "strategy": type(strategy).__name__,
                "replicas": strategy.num_replicas_in_sync, "variant": spec.variant,
                "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
                "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads()}
    if spec.world > 1:
        log.info["collective"] = "RING"
    if spec.variant == "fit":
        _fit(spec, rank, strategy, adapter, net, x, y, log)
    else:
        _custom_loop(spec, rank, strategy, adapter, net, x, y, log)
    log.write(spec)
    sys.stdout.flush()


def _custom_loop(spec: rc.RankSpec, rank: int, strategy: Any, adapter: Any, net: Any,
                 x: np.ndarray, y: np.ndarray, log: rc.RankLog) -> None:
    import tensorflow as tf

    keras = adapter.keras
    per_sample = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    opt = net.optimizer
    g = spec.global_batch
    log.info["knobs"] = {"call": "strategy.run(step) in tf.function",
                         "loss_scaling": f"tf.nn.compute_average_loss(global_batch_size={g})"}

    def grads_of(xb: Any, yb: Any) -> tuple[Any, list[Any]]:
        with tf.GradientTape() as tape:
            loss = tf.nn.compute_average_loss(per_sample(yb, net(xb, training=True)),
                                              global_batch_size=g)
        return loss, tape.gradient(loss, net.trainable_variables)

    def replica_step(xb: Any, yb: Any) -> Any:
        loss, grads = grads_of(xb, yb)
        opt.apply_gradients(zip(grads, net.trainable_variables, strict=True))
        return loss

    @tf.function  # type: ignore[untyped-decorator]  # tensorflow ships no types
    def step(xb: Any, yb: Any) -> Any:
        per_replica = strategy.run(replica_step, args=(xb, yb))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    n = len(y)
    for s in range(spec.total_steps):
        ids = rc.local_ids(spec, s, n, rank, spec.world)
        if s == 0:
            log.gate_ids = ids.tolist()
        k = spec.ref_shards if (s == 0 and spec.world == 1) else 1
        if k > 1:  # the gate's reference: k shards forwarded alone, their gradients summed
            total = 0.0
            acc: list[Any] = []
            for part in np.array_split(ids, k):
                loss, grads = grads_of(adapter.to_device(x[part]), adapter.labels(y[part]))
                grads = [tf.convert_to_tensor(gr) for gr in grads]  # embeddings: IndexedSlices
                acc = [a + b for a, b in zip(acc, grads, strict=True)] if acc else grads
                total += float(loss)
            opt.apply_gradients(zip(acc, net.trainable_variables, strict=True))
            log.step(total)
        else:
            log.step(float(step(adapter.to_device(x[ids]), adapter.labels(y[ids]))))
        if s == 0 and rank == 0:
            rc.save_gate(spec, adapter.get_weights(net))


def _fit(spec: rc.RankSpec, rank: int, strategy: Any, adapter: Any, net: Any,
         x: np.ndarray, y: np.ndarray, log: rc.RankLog) -> None:
    """``fit`` as the multi-worker guide runs it: every worker gets the dataset of global
    batches, the strategy shards it (auto-shard policy DATA)."""
    import tensorflow as tf

    n = spec.total_steps * spec.global_batch
    ids = np.arange(n) % len(y)
    ds = tf.data.Dataset.from_tensor_slices((x[ids], y[ids].astype("int32")))
    ds = ds.batch(spec.global_batch)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = \
        tf.data.experimental.AutoShardPolicy.DATA
    ds = ds.with_options(options)
    log.gate_ids = rc.local_ids(spec, 0, len(y), rank, spec.world).tolist()
    log.info["knobs"] = {"call": "model.fit(dataset of global batches)", "auto_shard": "DATA"}
    net.fit(ds, epochs=1, verbose=0, shuffle=False,
            callbacks=[rc.keras_step_log(log)])


if __name__ == "__main__":
    main()
