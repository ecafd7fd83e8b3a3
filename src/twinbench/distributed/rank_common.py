"""The rank side of a distributed launch: the spec it reads and the log it writes.

Framework-free (numpy, json, os): a rank module calls ``setup()`` first, before it imports its
framework, so the thread knobs and the CPU pinning are in place when the framework starts.

Data: ``data.npz`` holds ``x`` (the dataset's numpy layout, NHWC for images) and ``y``. Step s of
the run uses the global sample ids ``global_ids(spec, s)``; rank r of W takes the contiguous
slice ``local_ids(spec, s, r, W)``: the ranks' ids are disjoint and their union is the global
batch. Step 0 is the gate step (from the initial weights in ``init.npz``), then ``warmup`` steps,
then ``steps`` timed steps.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

LOOPBACK = "127.0.0.1"
# fault injection for tests and for trying the launcher's clean-up by hand: "RANK:STEPS" makes
# rank RANK exit abruptly (code CRASH_CODE) when it has finished STEPS steps
CRASH_VAR = "TWINBENCH_DIST_CRASH"
CRASH_CODE = 17


@dataclass
class RankSpec:
    framework: str  # a twinbench framework id (pytorch, lightning, keras-jax, keras-tf)
    model: str
    size: dict[str, Any]
    task: str
    input_shape: list[int]
    num_classes: int
    lr: float
    momentum: float
    optimizer: str
    weight_decay: float
    seed: int
    global_batch: int
    steps: int  # timed steps
    warmup: int  # untimed steps after the gate step
    world: int  # processes (W)
    threads: int  # intra-op threads per process
    workdir: str  # data.npz, init.npz in; rank<r>.json, gate.npz, rank<r>.log out
    master_port: int
    # the gate's reference when world == 1: one SGD step whose gradient is the mean of
    # ``ref_shards`` shards' gradients, each forward with its own batch statistics (what data
    # parallelism with replica-local BatchNorm computes); 1 = the plain full-batch step
    variant: str = "data-parallel"  # what the rank module runs (its VARIANTS)
    ref_shards: int = 1
    pin: bool = True  # pin rank r to CPU r (threads == 1) or to CPUs 0..threads-1 (W == 1)
    # pipeline parallelism (torch only)
    schedule: str | None = None  # "gpipe" | "1f1b"
    microbatches: int = 1

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: str | Path) -> RankSpec:
        return cls(**json.loads(Path(path).read_text()))

    @property
    def dir(self) -> Path:
        return Path(self.workdir)

    @property
    def total_steps(self) -> int:
        return 1 + self.warmup + self.steps


def global_ids(spec: RankSpec, step: int, n: int) -> np.ndarray:
    g = spec.global_batch
    return (np.arange(step * g, (step + 1) * g) % n).astype(np.int64)


def local_ids(spec: RankSpec, step: int, n: int, rank: int, world: int) -> np.ndarray:
    ids = global_ids(spec, step, n)
    per = spec.global_batch // world
    return ids[rank * per:(rank + 1) * per]


def load_data(spec: RankSpec) -> tuple[np.ndarray, np.ndarray]:
    with np.load(spec.dir / "data.npz") as d:
        return d["x"], d["y"]


def load_init(spec: RankSpec) -> dict[str, np.ndarray]:
    with np.load(spec.dir / "init.npz") as d:
        return {k: d[k] for k in d.files}


def cpus_for(spec: RankSpec, rank: int) -> set[int]:
    n = os.cpu_count() or 1
    if spec.world == 1:
        return {c % n for c in range(spec.threads)}
    return {(rank * spec.threads + c) % n for c in range(spec.threads)}


THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "TF_NUM_INTRAOP_THREADS")


def setup(spec: RankSpec, rank: int) -> None:
    """Before the framework is imported: thread variables, CPU pinning, loopback only."""
    t = str(spec.threads)
    for v in THREAD_VARS:
        os.environ[v] = t
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"
    os.environ["MASTER_ADDR"] = LOOPBACK
    if spec.pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus_for(spec, rank))


@dataclass
class RankLog:
    """What one rank writes (``rank<r>.json``); times are ``time.monotonic()``, which is one
    clock for every process of the machine, so the launcher aligns ranks on it."""

    rank: int
    world: int
    pid: int = field(default_factory=os.getpid)
    t_start: float = field(default_factory=time.monotonic)
    step_end: list[float] = field(default_factory=list)  # one per step, gate step first
    losses: list[float] = field(default_factory=list)
    gate_ids: list[int] = field(default_factory=list)  # the sample ids of this rank's step 0
    busy_s: list[float] = field(default_factory=list)  # pipeline: compute seconds per step
    stage: int | None = None  # pipeline: this rank's stage
    cpus: list[int] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)  # launcher, backend, knobs, versions
    peak_rss: int = 0

    def step(self, loss: float | None = None) -> None:
        self.step_end.append(time.monotonic())
        if loss is not None:
            self.losses.append(float(loss))
        if os.environ.get(CRASH_VAR) == f"{self.rank}:{len(self.step_end)}":
            os._exit(CRASH_CODE)  # fault injection: this rank dies, its peers wait in a collective

    def write(self, spec: RankSpec) -> None:
        self.peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        if hasattr(os, "sched_getaffinity"):
            self.cpus = sorted(os.sched_getaffinity(0))
        tmp = spec.dir / f".rank{self.rank}.json.tmp"
        tmp.write_text(json.dumps(asdict(self)))
        tmp.replace(spec.dir / f"rank{self.rank}.json")


def save_gate(spec: RankSpec, weights: dict[str, np.ndarray]) -> None:
    """Rank 0's weights after the gate step (canonical names, as ``adapter.get_weights``)."""
    arrays: dict[str, Any] = dict(weights)
    np.savez(spec.dir / "gate.npz", **arrays)


def keras_step_log(log: RankLog) -> Any:
    """A Keras callback marking each training step's end in ``log`` (it imports keras: call it
    after ``setup()``). A callback with ``on_train_batch_end`` makes Keras wait for each step's
    result, so the marks are step ends, not dispatches."""
    import keras

    class StepLog(keras.callbacks.Callback):  # type: ignore[misc]  # keras ships no types
        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            log.step(float((logs or {}).get("loss", float("nan"))))

    return StepLog()


def adapter_for(framework: str, threads: int, seed: int) -> Any:
    """The framework's twinbench adapter (imports the framework)."""
    import importlib

    from twinbench.frameworks.base import FRAMEWORKS

    module, cls = FRAMEWORKS[framework].adapter.split(":")
    return getattr(importlib.import_module(module), cls)(threads=threads, seed=seed, device="cpu")


def spec_from_argv(argv: list[str] | None = None) -> tuple[RankSpec, list[str]]:
    args = list(sys.argv[1:] if argv is None else argv)
    return RankSpec.load(args[0]), args[1:]
