"""One Keras-on-JAX process of a data-parallel run.

Started by launch.py as ``python -m twinbench.distributed.rank_keras_jax SPEC.json RANK``:

* ``data-parallel`` — W processes, each calling ``keras.distribution.initialize`` with the
  coordinator on 127.0.0.1 (JAX's CPU collectives: gloo), then
  ``keras.distribution.set_distribution(DataParallel(devices=list_devices(),
  auto_shard_dataset=False))`` as Keras' distribution guide shows
  (https://keras.io/guides/distribution/): each process hands ``fit`` its own shard of every
  global batch (array input is not auto-sharded), Keras assembles the global batch, and the
  step is one SPMD program over the W processes' devices.
* ``spmd`` — one process driving W host devices (``--xla_force_host_platform_device_count=W``,
  set by launch.py): the same ``DataParallel`` with the whole global batch fed by one process.
  A separately labelled mode, not the multi-process figure.

Training is ``compile`` + ``fit`` (Keras' own path, jit-compiled by default on JAX), one step
per ``fit`` batch; a callback marks each step's end (it makes Keras wait for the step's
result). Under SPMD, BatchNormalization's batch mean is over the global batch
(``BATCH_STATS = "global"``), so the W=2 step equals the plain full-batch step.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from twinbench.distributed import rank_common as rc

BATCH_STATS = "global"
VARIANTS = ("data-parallel", "spmd")


def main() -> None:
    spec, rest = rc.spec_from_argv()
    rank = int(rest[0]) if rest else 0
    rc.setup(spec, rank)
    os.environ["KERAS_BACKEND"] = "jax"
    log = rc.RankLog(rank, spec.world)
    import jax
    import keras

    multi = spec.world > 1 and spec.variant != "spmd"
    if multi:  # before any computation, as keras.distribution.initialize requires
        keras.distribution.initialize(job_addresses=f"{rc.LOOPBACK}:{spec.master_port}",
                                      num_processes=spec.world, process_id=rank)
    adapter = rc.adapter_for("keras-jax", spec.threads, spec.seed)
    dist = None
    if spec.world > 1:
        dist = keras.distribution.DataParallel(devices=keras.distribution.list_devices(),
                                               auto_shard_dataset=False)
        keras.distribution.set_distribution(dist)
    net = adapter.build(spec.model, spec.size, tuple(spec.input_shape), spec.num_classes)
    adapter.set_weights(net, rc.load_init(spec))
    adapter.compile_train(net, spec.lr, spec.momentum, spec.optimizer, spec.weight_decay)
    x, y = rc.load_data(spec)
    log.info = {"launcher": ("keras.distribution.initialize (coordinator 127.0.0.1)" if multi
                             else "one process, XLA_FLAGS=--xla_force_host_platform_device_"
                                  f"count={spec.world}" if spec.world > 1 else "one process"),
                "keras": keras.__version__, "jax": jax.__version__, "variant": spec.variant,
                "processes": jax.process_count(), "devices": len(jax.devices()),
                "local_devices": jax.local_device_count(),
                "distribution": type(dist).__name__ if dist else None,
                "cpu_collectives": jax.config.values.get("jax_cpu_collectives_implementation"),
                "threads": "affinity-bounded (XLA's CPU client has no thread-count knob)",
                "knobs": {**adapter.knobs(net), "call": "model.fit (one step per batch)",
                          "auto_shard_dataset": False if dist else None}}
    # this process's part of each global batch: its shard (multi-process) or all of it
    def part(s: int) -> np.ndarray:
        if multi:
            return rc.local_ids(spec, s, len(y), rank, spec.world)
        return rc.global_ids(spec, s, len(y))

    local = spec.global_batch // spec.world if multi else spec.global_batch
    log.gate_ids = part(0).tolist()
    cb = rc.keras_step_log(log)
    # step 0 alone (the gate step; weights are read back after it), then the rest in one fit
    net.fit(x[part(0)], y[part(0)], batch_size=local, epochs=1, shuffle=False, verbose=0,
            callbacks=[cb])
    if rank == 0:
        rc.save_gate(spec, adapter.get_weights(net))
    if spec.total_steps > 1:  # a reference launch may be the gate step alone
        rest_ids = np.concatenate([part(s) for s in range(1, spec.total_steps)])
        net.fit(x[rest_ids], y[rest_ids], batch_size=local, epochs=1, shuffle=False,
                verbose=0, callbacks=[cb])
    log.write(spec)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
