"""The launcher side's inputs: data and initial weights for the ranks, and the gate's check.

``write_inputs`` saves ``data.npz`` (enough samples for every step of the run) and ``init.npz``
(the twin's canonical initial weights, the same for every framework and rank). ``gate`` compares
rank 0's weights after one step with W ranks against the single-process reference step.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twinbench.distributed.rank_common import RankSpec, global_ids, local_ids

# batch statistics are not weights a gradient step moves: they are left out of the gate
NOT_TRAINED = ("running_mean", "running_var", "num_batches_tracked")


def write_inputs(spec: RankSpec, x: np.ndarray, y: np.ndarray,
                 init: dict[str, np.ndarray]) -> None:
    d = spec.dir
    d.mkdir(parents=True, exist_ok=True)
    np.savez(d / "data.npz", x=x, y=y)
    arrays: dict[str, Any] = dict(init)
    np.savez(d / "init.npz", **arrays)


def share_inputs(src: RankSpec, dst: RankSpec) -> None:
    """Give another launch the same data and initial weights."""
    dst.dir.mkdir(parents=True, exist_ok=True)
    for name in ("data.npz", "init.npz"):
        if src.dir.resolve() != dst.dir.resolve():
            shutil.copyfile(src.dir / name, dst.dir / name)


def nudge_init(spec: RankSpec) -> None:
    """Move every float initial weight of ``spec``'s run one ulp up: the reference step from
    there differs from the reference step by the step's own float32 noise (its noise floor)."""
    with np.load(spec.dir / "init.npz") as d:
        w: dict[str, Any] = {k: np.nextafter(d[k], np.inf).astype(d[k].dtype)
                             if d[k].dtype.kind == "f" else d[k] for k in d.files}
    np.savez(spec.dir / "init.npz", **w)


def weight_distance(a_dir: Path, b_dir: Path) -> float:
    """max |Δ| over the trained weights two gate steps saved."""
    a, b = gate_weights(a_dir), gate_weights(b_dir)
    keys = [k for k in a if not k.endswith(NOT_TRAINED) and k in b and a[k].size]
    return max((float(np.max(np.abs(a[k].astype(np.float64) - b[k]))) for k in keys),
               default=float("inf"))


def samples_needed(spec: RankSpec) -> int:
    return spec.global_batch * spec.total_steps


@dataclass
class Gate:
    passed: bool
    max_abs: float  # the largest |Δ| of any trained weight after the step
    worst: str  # the weight it is in
    shards_ok: bool  # the ranks' step-0 ids are disjoint and cover the global batch
    detail: str


def check_shards(spec: RankSpec, ranks: list[dict[str, Any]], n: int) -> tuple[bool, str]:
    ids = [list(r.get("gate_ids", [])) for r in sorted(ranks, key=lambda r: r["rank"])]
    want = sorted(global_ids(spec, 0, n).tolist())
    if spec.variant == "pipeline":  # every stage works on the whole global batch
        ok = all(sorted(part) == want for part in ids)
        return ok, (f"{len(ranks)} stages on the same {len(want)} samples" if ok
                    else "a pipeline stage did not see the global batch")
    flat = [i for part in ids for i in part]
    if len(flat) != len(set(flat)):
        return False, "ranks share sample ids in step 0"
    if sorted(flat) != want:
        return False, f"the ranks' ids ({len(flat)}) are not the global batch ({len(want)})"
    for r, part in enumerate(ids):
        if part != local_ids(spec, 0, n, r, spec.world).tolist():
            return False, f"rank {r} did not take its own shard"
    return True, f"{len(ranks)} disjoint shards of {len(want)} samples"


def gate_weights(run_dir: Path) -> dict[str, np.ndarray]:
    """The weights after the gate step: ``gate.npz`` (rank 0 of a data-parallel run) or the
    union of ``gate.part<r>.npz`` (each pipeline stage saves its own stage's weights)."""
    parts = [run_dir / "gate.npz"] if (run_dir / "gate.npz").exists() else sorted(
        run_dir.glob("gate.part*.npz"))
    out: dict[str, np.ndarray] = {}
    for p in parts:
        with np.load(p) as d:
            out.update({k: d[k] for k in d.files})
    return out


def gate(ref_dir: Path, run_dir: Path, tol: float, spec: RankSpec, ranks: list[dict[str, Any]],
         n: int) -> Gate:
    a, b = gate_weights(ref_dir), gate_weights(run_dir)
    keys = [k for k in a if not k.endswith(NOT_TRAINED)]
    if not keys or sorted(keys) != sorted(k for k in b if not k.endswith(NOT_TRAINED)):
        return Gate(False, float("inf"), "", False, "the two runs saved different weights")
    diffs = {k: float(np.max(np.abs(a[k].astype(np.float64) - b[k]))) if a[k].size else 0.0
             for k in keys}
    worst = max(diffs, key=lambda k: diffs[k])
    shards_ok, why = check_shards(spec, ranks, n)
    with np.load(ref_dir / "init.npz") as init:  # a step that moved nothing proves nothing
        moved = max(float(np.max(np.abs(a[k].astype(np.float64) - init[k]))) if a[k].size
                    else 0.0 for k in keys)
    if moved <= tol:
        return Gate(False, diffs[worst], worst, shards_ok,
                    f"the reference step moved no weight by more than {tol:g}: nothing to "
                    "compare")
    ok = diffs[worst] <= tol and shards_ok
    return Gate(ok, diffs[worst], worst, shards_ok,
                f"max |Δ| {diffs[worst]:.2e} in {worst} (tolerance {tol:g}); {why}")
