"""One PyTorch rank under ``torchrun``: DistributedDataParallel, or a 2-stage pipeline.

Run by ``torch.distributed.run`` (launch.py), which sets RANK / WORLD_SIZE / MASTER_ADDR /
MASTER_PORT for each process: ``python -m twinbench.distributed.rank_torch SPEC.json``.

* data-parallel — ``init_process_group("gloo")`` from torchrun's environment and
  ``DistributedDataParallel`` around the twin, as the DDP tutorial
  (https://docs.pytorch.org/tutorials/intermediate/ddp_tutorial.html) and the torchrun docs
  (https://docs.pytorch.org/docs/stable/elastic/run.html) show. DDP averages the gradients of
  the ranks' equal shards, so one step equals the full-batch step — except BatchNorm, whose
  statistics are per replica (``BATCH_STATS = "replica"``: the gate's reference averages
  the shards' gradients, each shard forwarded alone).
* pipeline — ``torch.distributed.pipelining`` (https://docs.pytorch.org/docs/stable/
  distributed.pipelining.html): the twin split by hand at a fixed block boundary into two
  ``PipelineStage``s, ``ScheduleGPipe`` or ``Schedule1F1B`` over ``spec.microbatches``
  microbatches (``scale_grads=True``, the default, divides the summed microbatch gradients by
  their count: the mean-loss step). Rank 0 feeds the inputs, rank 1 the targets; both see the
  whole global batch. ``busy_s`` is the time a stage spends in its forward and backward chunks.

With one process (the W=1 baseline and the gate's reference) there is no process group: the
plain step, or with ``ref_shards`` k > 1 the mean of k shards' gradients for the gate step.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from twinbench.distributed import rank_common as rc

BATCH_STATS = "replica"
VARIANTS = ("data-parallel", "pipeline")


def _split(model: str, net: Any) -> tuple[list[Any], list[list[str]], str]:
    """Two stage modules sharing the twin's parameters, the state_dict prefixes each owns, and
    where the cut is."""
    import torch
    from torch import nn

    if model == "resnet":
        n = net.num_stages
        cut = (n + 1) // 2
        first = [f"layer{i + 1}" for i in range(cut)]
        second = [f"layer{i + 1}" for i in range(cut, n)]

        class Head(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.conv1, self.bn1 = net.conv1, net.bn1
                self.parts = nn.ModuleList(getattr(net, n) for n in first)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                x = torch.relu(self.bn1(self.conv1(x)))
                for part in self.parts:
                    x = part(x)
                return x

        class Tail(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.parts = nn.ModuleList(getattr(net, n) for n in second)
                self.fc = net.fc

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                for part in self.parts:
                    x = part(x)
                out: torch.Tensor = self.fc(x.mean(dim=(2, 3)))
                return out

        return [Head(), Tail()], [["conv1", "bn1", *first], [*second, "fc"]], \
            f"stem + {', '.join(first)} | {', '.join(second)} + pool + fc"
    if model == "transformer":
        from twinbench.zoo.pytorch.transformer import PAD_ID

        depth = len(net.blocks)
        cut = (depth + 1) // 2

        class Embed(nn.Module):
            """Embeddings and the first blocks; the padding mask rides along as one extra
            feature (a stage passes tensors with gradients; the mask gets a zero one)."""

            def __init__(self) -> None:
                super().__init__()
                self.tok_embed, self.pos_embed = net.tok_embed, net.pos_embed
                self.blocks = nn.ModuleList(net.blocks[:cut])

            def forward(self, ids: torch.Tensor) -> torch.Tensor:
                pad = ids == PAD_ID
                pos = torch.arange(ids.shape[1], device=ids.device)
                x = self.tok_embed(ids) + self.pos_embed(pos)
                for block in self.blocks:
                    x = block(x, pad)
                return torch.cat([x, pad.unsqueeze(-1).to(x.dtype)], dim=-1)

        class Classify(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.blocks = nn.ModuleList(net.blocks[cut:])
                self.norm, self.head = net.norm, net.head

            def forward(self, h: torch.Tensor) -> torch.Tensor:
                x, pad = h[..., :-1], h[..., -1] > 0.5
                for block in self.blocks:
                    x = block(x, pad)
                x = self.norm(x)
                keep = (~pad).unsqueeze(-1).to(x.dtype)
                out: torch.Tensor = self.head((x * keep).sum(1) / keep.sum(1).clamp(min=1.0))
                return out

        return [Embed(), Classify()], [
            ["tok_embed", "pos_embed", *(f"blocks.{i}" for i in range(cut))],
            [*(f"blocks.{i}" for i in range(cut, depth)), "norm", "head"]], \
            f"embeddings + blocks 0..{cut - 1} | blocks {cut}..{depth - 1} + norm + head"
    raise ValueError(f"no pipeline split for model {model!r} (resnet, transformer)")


def _owned(weights: dict[str, np.ndarray], prefixes: list[str]) -> dict[str, np.ndarray]:
    return {k: v for k, v in weights.items()
            if any(k == p or k.startswith(p + ".") for p in prefixes)}


def main() -> None:
    spec, _ = rc.spec_from_argv()
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world != spec.world:
        raise RuntimeError(f"torchrun started {world} processes, the spec wants {spec.world}")
    rc.setup(spec, rank)
    log = rc.RankLog(rank, world)
    import torch

    torch.set_num_threads(spec.threads)
    adapter = rc.adapter_for("pytorch", spec.threads, spec.seed)
    net = adapter.build(spec.model, spec.size, tuple(spec.input_shape), spec.num_classes)
    adapter.set_weights(net, rc.load_init(spec))
    x, y = rc.load_data(spec)
    n = len(y)
    log.info = {"launcher": "torchrun --standalone", "torch": torch.__version__,
                "intra_op_threads": torch.get_num_threads(),
                "inter_op_threads": torch.get_num_interop_threads(), "variant": spec.variant}
    if world > 1:
        torch.distributed.init_process_group("gloo")
        log.info["backend"] = torch.distributed.get_backend()
    try:
        if spec.variant == "pipeline":
            _pipeline(spec, rank, adapter, net, x, y, n, log)
        else:
            _data_parallel(spec, rank, world, adapter, net, x, y, n, log)
    finally:
        if world > 1:
            torch.distributed.destroy_process_group()
    log.write(spec)


def _data_parallel(spec: rc.RankSpec, rank: int, world: int, adapter: Any, net: Any,
                   x: np.ndarray, y: np.ndarray, n: int, log: rc.RankLog) -> None:
    from torch import nn

    from twinbench.frameworks.pytorch.adapter import make_optimizer

    model = nn.parallel.DistributedDataParallel(net) if world > 1 else net
    opt = make_optimizer(net.parameters(), spec.lr, spec.momentum, spec.optimizer,
                         spec.weight_decay)
    loss_fn = getattr(net, "loss", None) or nn.CrossEntropyLoss()
    log.info["wrapper"] = type(model).__name__
    net.train()
    for s in range(spec.total_steps):
        ids = rc.local_ids(spec, s, n, rank, world)
        if s == 0:
            log.gate_ids = ids.tolist()
        opt.zero_grad(set_to_none=True)
        k = spec.ref_shards if (s == 0 and world == 1) else 1
        total = 0.0
        for part in np.array_split(ids, k):  # k > 1: the gate's reference, shard by shard
            loss = loss_fn(model(adapter.to_device(x[part])), adapter.labels(y[part])) / k
            loss.backward()
            total += float(loss.detach())
        opt.step()
        log.step(total)
        if s == 0 and rank == 0:
            rc.save_gate(spec, adapter.get_weights(net))


def _pipeline(spec: rc.RankSpec, rank: int, adapter: Any, net: Any, x: np.ndarray,
              y: np.ndarray, n: int, log: rc.RankLog) -> None:
    import torch
    from torch import nn
    from torch.distributed.pipelining import PipelineStage, Schedule1F1B, ScheduleGPipe

    from twinbench.frameworks.pytorch.adapter import make_optimizer

    stages, owns, where = _split(spec.model, net)
    mine = stages[rank]
    stage = PipelineStage(mine, stage_index=rank, num_stages=spec.world,
                          device=torch.device("cpu"))
    busy = [0.0]
    for name in ("forward_one_chunk", "backward_one_chunk"):
        inner = getattr(stage, name)

        def timed(*a: Any, _inner: Any = inner, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return _inner(*a, **kw)
            finally:
                busy[0] += time.perf_counter() - t

        setattr(stage, name, timed)
    loss_fn = getattr(net, "loss", None) or nn.CrossEntropyLoss()
    schedule_cls = {"gpipe": ScheduleGPipe, "1f1b": Schedule1F1B}[spec.schedule or "gpipe"]
    schedule = schedule_cls(stage, n_microbatches=spec.microbatches, loss_fn=loss_fn)
    opt = make_optimizer(mine.parameters(), spec.lr, spec.momentum, spec.optimizer,
                         spec.weight_decay)
    log.stage = rank
    log.info.update(schedule=type(schedule).__name__, microbatches=spec.microbatches,
                    split=where, stage_owns=owns[rank],
                    busy="time inside the stage's forward_one_chunk and backward_one_chunk")
    net.train()
    last = rank == spec.world - 1
    for s in range(spec.total_steps):
        ids = rc.global_ids(spec, s, n)
        if s == 0:
            log.gate_ids = ids.tolist()
        opt.zero_grad(set_to_none=True)
        busy[0] = 0.0
        losses: list[Any] = []
        if rank == 0:
            schedule.step(adapter.to_device(x[ids]))
        elif last:
            schedule.step(target=adapter.labels(y[ids]), losses=losses)
        else:
            schedule.step()
        opt.step()
        log.busy_s.append(busy[0])
        log.step(float(torch.stack(losses).mean()) if losses else None)
        if s == 0:
            part: dict[str, Any] = _owned(adapter.get_weights(net), owns[rank])
            np.savez(spec.dir / f"gate.part{rank}.npz", **part)


if __name__ == "__main__":
    main()
