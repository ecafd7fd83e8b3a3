"""A Lightning run on W CPU processes: ``Trainer(accelerator="cpu", devices=W, strategy="ddp")``.

Started by launch.py as one process, ``python -m twinbench.distributed.rank_lightning SPEC.json``;
Lightning's ``ddp`` strategy re-runs the same command for the other ranks (its subprocess
launcher, https://lightning.ai/docs/pytorch/stable/accelerators/gpu_intermediate.html; CPU
processes talk over gloo), setting ``LOCAL_RANK`` in their environment. ``ddp_spawn`` is not
used: it needs a ``__main__`` guard and pickles the module.

Data: Lightning's default sampler injection (``use_distributed_sampler=True``) wraps a training
loader in ``DistributedSampler(shuffle=True)`` — a seeded shuffle of the whole dataset, whatever
the loader's own order. The run needs the same global batches as the other frameworks, so it
takes the option Lightning documents for that: ``use_distributed_sampler=False`` and its own
``DistributedSampler(shuffle=False)``, which deals position i to rank i mod W. The dataset
handed to the loader is each global batch reordered so that this deal gives rank r the
contiguous shard ``local_ids(spec, s, r, W)``.

BatchNorm statistics are per replica (``BATCH_STATS = "replica"``). With one process the gate's
reference step (``ref_shards`` k > 1) is a ``fit`` over the step-0 batch split in k with
``accumulate_grad_batches=k`` (Lightning's gradient accumulation: the mean of k shards'
gradients); the remaining steps are a second ``fit``. With W processes one ``fit`` runs every
step and rank 0 saves its weights after step 0.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

from twinbench.distributed import rank_common as rc

BATCH_STATS = "replica"
VARIANTS = ("data-parallel",)


def dealt_order(spec: rc.RankSpec, steps: range, n: int) -> np.ndarray:
    """Sample ids in loader order such that DistributedSampler (rank r takes positions
    r, r+W, …) gives each rank its contiguous shard of every global batch."""
    w, per = spec.world, spec.global_batch // spec.world
    out = [rc.global_ids(spec, s, n).reshape(w, per).T.reshape(-1) for s in steps]
    return np.concatenate(out)


def main() -> None:
    spec, _ = rc.spec_from_argv()
    rank = int(os.environ.get("LOCAL_RANK", "0"))
    rc.setup(spec, rank)
    log = rc.RankLog(rank, spec.world)
    import lightning as L
    import torch
    from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

    adapter = rc.adapter_for("lightning", spec.threads, spec.seed)
    net = adapter.build(spec.model, spec.size, tuple(spec.input_shape), spec.num_classes)
    adapter.set_weights(net, rc.load_init(spec))
    adapter.compile_train(net, spec.lr, spec.momentum, spec.optimizer, spec.weight_decay)
    x, y = rc.load_data(spec)
    n = len(y)
    multi = spec.world > 1
    k = 1 if multi else spec.ref_shards

    class StepLog(L.Callback):
        def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, batch: Any,
                               batch_idx: int) -> None:
            if k > 1 and not log.step_end and batch_idx < k - 1:
                return  # the gate step accumulates k batches: one optimizer step
            loss = outputs["loss"] if isinstance(outputs, dict) else outputs
            log.step(float(loss) * (k if not log.step_end else 1))
            if len(log.step_end) == 1 and trainer.global_rank == 0:
                rc.save_gate(spec, adapter.get_weights(net))

    def trainer(**kw: Any) -> Any:
        return L.Trainer(accelerator="cpu", devices=spec.world,
                         strategy="ddp" if multi else "auto", max_epochs=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[StepLog()],
                         use_distributed_sampler=False, **kw)

    def loader(ids: np.ndarray, batch: int) -> Any:
        ds = TensorDataset(adapter.to_device(x[ids]), adapter.labels(y[ids]))
        sampler: Any = DistributedSampler(ds, num_replicas=spec.world, rank=rank, shuffle=False) \
            if multi else None
        return DataLoader(ds, batch_size=batch, shuffle=False, drop_last=True, sampler=sampler)

    net.train()
    local = spec.global_batch // spec.world
    if multi:
        trainer().fit(net, loader(dealt_order(spec, range(spec.total_steps), n), local))
    else:
        first = rc.global_ids(spec, 0, n)
        trainer(accumulate_grad_batches=k).fit(net, loader(first, spec.global_batch // k))
        if spec.total_steps > 1:  # a reference launch may be the gate step alone
            rest = np.concatenate([rc.global_ids(spec, s, n)
                                   for s in range(1, spec.total_steps)])
            trainer().fit(net, loader(rest, spec.global_batch))
    log.gate_ids = rc.local_ids(spec, 0, n, rank, spec.world).tolist()
    log.info = {"launcher": 'Trainer(accelerator="cpu", devices=W, strategy="ddp")' if multi
                else "one process, Trainer(devices=1)", "lightning": L.__version__,
                "torch": torch.__version__, "intra_op_threads": torch.get_num_threads(),
                "variant": spec.variant,
                "knobs": {"sampler": "use_distributed_sampler=False + DistributedSampler("
                                     "shuffle=False)"
                          if multi else "sequential",
                          "accumulate_grad_batches (gate step)": k,
                          "backend": torch.distributed.get_backend()
                          if torch.distributed.is_initialized() else None}}
    log.write(spec)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
