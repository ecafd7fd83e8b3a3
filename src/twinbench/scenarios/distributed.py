"""distributed: data-parallel training on 1 and 2 processes through each framework's own
launcher, and PyTorch's pipeline parallelism.

The job's worker prepares the data and the twin's canonical initial weights, then launches
(``twinbench.distributed.launch``) with the same *global* batch:

* W=1: one process, one thread, pinned to CPU 0 — the baseline, and the gate's reference step;
* W=2: two processes, one thread each, each pinned to its own CPU;
* 1×2: one process with two threads (the same CPU budget as W=2), when ``same_budget``.

Before any figure counts, the **gradient-equivalence gate**: rank 0's weights after one step
from the initial weights with W=2 must equal the W=1 reference step within ``gate_tolerance``
(the reference averages the shards' gradients where the framework's data parallelism computes
BatchNorm statistics per replica), and the ranks' sample ids must be disjoint shards whose
union is the global batch. Where the reference step's own float32 noise floor (the same step
from weights one ulp away) is larger, the tolerance is FLOOR_FACTOR times it, capped at
MAX_GATE_TOLERANCE, and the record says it was relaxed. A framework that fails the gate gets
failed records instead of figures, as a twin that fails parity does.

A step's time is its slowest rank's (the ranks' step ends on one monotonic clock); samples/s
is global batch / step time over the timed steps. Scaling efficiency E = thr(W=2) /
(2·thr(W=1)) and the same-budget ratio thr(2×1) / thr(1×2) come with bootstrap intervals over
the steps of one launch each. Launch time is process start → the first step's end (imports,
rendezvous, the first step's tracing); peak RSS is per rank.

Keras-TF: ``fit`` under ``MultiWorkerMirroredStrategy`` is the out-of-box path and fails in
Keras 3 (keras-team/keras#20585): it is run and recorded as it fails; the timed Keras-TF figures
come from TensorFlow's documented custom loop (``strategy.run``), labelled as the workaround.
Keras on the torch backend has no distribution support (Keras 3's distribution API is JAX-only):
its records say so. Pipeline parallelism (``torch.distributed.pipelining``; no first-party
counterpart in TensorFlow, Keras or JAX) runs on the pytorch job: GPipe and 1F1B at each
microbatch count, with the stages' measured idle fraction (bubble) beside the schedule's
theoretical one.
"""

from __future__ import annotations

import importlib
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from twinbench.scenarios.base import Context, Failed, Measurement, from_samples
from twinbench.scenarios.spec import STRICT, OptimizerFields, Scenario

Schedule = Literal["gpipe", "1f1b"]
SCHEDULES: tuple[Schedule, ...] = ("gpipe", "1f1b")


class DistributedConfig(OptimizerFields):
    """[distributed]: the global batch, steps and launches of the distributed runs."""

    model_config = STRICT
    global_batch: int = Field(32, gt=0, description="samples per step over all processes "
                                                     "(even: W=2 splits it in two)")
    steps: int = Field(20, gt=1, description="timed steps per launch")
    warmup: int = Field(3, ge=0, description="untimed steps after the gate step")
    gate_tolerance: float = Field(1e-5, gt=0)
    same_budget: bool = Field(True, description="also one process with 2 threads")
    unpinned: bool = Field(True, description="also W=2 without CPU pinning (the OS schedules "
                                             "the ranks; pinning costs some runtimes more "
                                             "than others)")
    launch_timeout_s: float = Field(300.0, gt=0, description="per launch; the process group "
                                                            "is killed past it")
    schedules: list[Schedule] = Field(
        default_factory=lambda: list(SCHEDULES), description="pipeline schedules (pytorch)")
    microbatches: list[int] = Field(default_factory=lambda: [1, 2, 4, 8])
    keras_tf_fit: bool = Field(True, description="run Keras fit under MWMS (the out-of-box "
                                                 "path, keras-team/keras#20585)")
    keras_jax_spmd: bool = Field(False, description="also Keras-JAX's one-process SPMD mode "
                                                    "over 2 forced host devices")


SCENARIO = Scenario("distributed", "data-parallel scaling 1→2 processes, pipeline parallelism",
                    DistributedConfig, view="twinbench.report.distributed_view:VIEW")

WORLD = 2
NO_DISTRIBUTION = {
    "keras-torch": "Keras 3's distribution API (keras.distribution) is implemented for the JAX "
                   "backend only; Keras on torch has no data-parallel launcher of its own",
}
FLOOR_FACTOR = 3.0  # as the parity check's: a twin may differ by 3x the reference's own noise
MAX_GATE_TOLERANCE = 1e-3  # no noise floor widens the gate beyond this (absolute)
INTERVAL_NOTE = "bootstrap over the timed steps of one launch per side (not across launches)"


def step_times(ranks: list[dict[str, Any]], warmup: int) -> np.ndarray:
    """Seconds per timed step, each the slowest rank's: the gaps between the latest rank's
    step ends (step 0 is the gate step, then ``warmup`` untimed steps)."""
    ends = np.max(np.array([r["step_end"] for r in ranks], dtype=np.float64), axis=0)
    out: np.ndarray = np.diff(ends)[warmup:]
    return out


class Runner:
    """The launches of one job, sharing its data and initial weights."""

    def __init__(self, ctx: Context) -> None:
        from twinbench.distributed.launch import free_port
        from twinbench.distributed.prepare import samples_needed, write_inputs
        from twinbench.distributed.rank_common import RankSpec

        self.ctx, self.cfg = ctx, ctx.section(DistributedConfig)
        cfg, fw = self.cfg, ctx.job.framework
        if cfg.global_batch % WORLD:
            raise ValueError(f"[distributed] global_batch {cfg.global_batch} must be even")
        self.root = Path(ctx.workdir) / "distributed" / ctx.job.job_id.replace("/", "__")
        base = RankSpec(framework=fw, model=ctx.job.model, size={}, task=ctx.job.task,
                        input_shape=[], num_classes=0, lr=cfg.lr, momentum=cfg.momentum,
                        optimizer=cfg.optimizer, weight_decay=cfg.weight_decay,
                        seed=ctx.study.seed, global_batch=cfg.global_batch, steps=cfg.steps,
                        warmup=cfg.warmup, world=1, threads=1,
                        workdir=str(self.root / "inputs"), master_port=free_port())
        n = samples_needed(base)
        ds = ctx.dataset(n_train=n, n_test=1)
        net = ctx.build(ds.input_shape, ds.num_classes)
        self.base = replace(base, size=dict(ctx.size), input_shape=list(ds.input_shape),
                            num_classes=ds.num_classes)
        self.n = n
        write_inputs(self.base, ds.train.x[:n], ds.train.y[:n], ctx.adapter.get_weights(net))

    def spec(self, name: str, **kw: Any) -> Any:
        from twinbench.distributed.launch import free_port
        from twinbench.distributed.prepare import share_inputs

        s = replace(self.base, workdir=str(self.root / name), master_port=free_port(), **kw)
        share_inputs(self.base, s)
        return s

    def launch(self, name: str, **kw: Any) -> tuple[Any, Any]:
        from twinbench.distributed.launch import launch

        s = self.spec(name, **kw)
        self.ctx.progress(f"distributed: {name} (W={s.world}, {s.threads} thread(s), "
                          f"{s.variant})")
        return s, launch(s, self.cfg.launch_timeout_s)


def _knobs(spec: Any, launcher: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"launcher": launcher, "world": spec.world, "threads_per_process": spec.threads,
            "global_batch": spec.global_batch, "variant": spec.variant,
            "pinned": spec.pin,
            **({"schedule": spec.schedule, "microbatches": spec.microbatches}
               if spec.variant == "pipeline" else {}), **(extra or {})}


def _figures(spec: Any, res: Any, label: str, path: str, launcher: str) -> list[Measurement]:
    """samples/s (per timed step), launch time and peak RSS of one successful launch."""
    steps = step_times(res.ranks, spec.warmup)
    thr = spec.global_batch / steps
    info = res.ranks[0].get("info", {})
    knobs = _knobs(spec, launcher, info.get("knobs"))
    extra = {"call_path": path, "world": spec.world, "threads": spec.threads, "info": info}
    first = max(r["step_end"][0] for r in res.ranks) - res.t0
    rss = [r["peak_rss"] / 2**20 for r in sorted(res.ranks, key=lambda r: r["rank"])]
    ms = [from_samples("samples_per_s", "samples/s", list(thr), "higher",
                       seconds=list(steps), batch_size=spec.global_batch),
          Measurement("launch_time", "s", first, "lower",
                      extra={"wall_s": res.wall_s, "what": "process start → first step's end"}),
          Measurement("peak_rss", "MiB", max(rss), "lower", extra={"per_rank_mib": rss})]
    for m in ms:
        m.variant, m.knobs = label, knobs
        m.extra = {**extra, **m.extra}
    return ms


def _failed(label: str, spec: Any, error: str, launcher: str, path: str,
            upstream: str | None = None) -> Failed:
    first = error.strip().splitlines()[0] if error.strip() else "failed"
    f = Failed("samples_per_s", "samples/s", None, error=f"{label}: {first}"
               + (f" (upstream: {upstream})" if upstream else ""))
    f.variant, f.knobs = label, _knobs(spec, launcher)
    f.extra = {"call_path": path, "log_tail": error[-3000:], "upstream": upstream,
               "world": spec.world, "threads": spec.threads}
    return f


def _ratio(metric: str, a: list[Measurement], b: list[Measurement], scale: float, seed: int,
           what: str) -> Measurement:
    from twinbench.measure.stats import compare  # ratio of medians, bootstrap interval

    c = compare(a[0].samples or [], b[0].samples or [], seed)
    ci = (c.ratio_ci95[0] / scale, c.ratio_ci95[1] / scale) if c.ratio_ci95 else None
    return Measurement(metric, "ratio", c.ratio / scale, "higher", ci95=ci,
                       extra={"what": what, "interval": INTERVAL_NOTE})


def run(ctx: Context) -> list[Measurement]:
    from twinbench.distributed.launch import LAUNCHERS, RANK_MODULES

    fw = ctx.job.framework
    if fw not in RANK_MODULES:
        m = Measurement("samples_per_s", "samples/s", None, variant="dp-w2",
                        extra={"state": "unavailable",
                               "reason": NO_DISTRIBUTION.get(fw, f"no launcher for {fw}")})
        return [m]
    rank_mod = importlib.import_module(RANK_MODULES[fw])
    replica_bn = getattr(rank_mod, "BATCH_STATS", "replica") == "replica"
    launcher = LAUNCHERS[fw]
    dp_path = "custom-loop" if fw == "keras-tf" else "data-parallel"
    r = Runner(ctx)
    cfg, out = r.cfg, []

    ref, ref_res = r.launch("dp-w1", ref_shards=WORLD if replica_bn else 1, variant=dp_path)
    if not ref_res.ok:
        return [_failed("dp-w1", ref, ref_res.error or "", launcher, dp_path)]
    w1 = _figures(ref, ref_res, "dp-w1", dp_path, launcher)
    out += w1
    two, two_res = r.launch("dp-w2", world=WORLD, variant=dp_path)
    if not two_res.ok:
        out.append(_failed("dp-w2", two, two_res.error or "", launcher, dp_path))
    else:
        out += _gated(ctx, r, ref, two, two_res, w1, launcher, dp_path)
    if cfg.unpinned:
        out += _unpinned(ctx, r, w1, launcher, dp_path)
    if cfg.same_budget:
        out += _same_budget(ctx, r, out, launcher, dp_path)
    if fw == "keras-tf" and cfg.keras_tf_fit:
        out += _keras_fit(r, launcher)
    if fw == "keras-jax" and cfg.keras_jax_spmd:
        spmd, spmd_res = r.launch("spmd-1proc", world=1, threads=1, variant="spmd")
        out += (_figures(spmd, spmd_res, "spmd-1proc", "spmd", "one process, 2 forced host "
                         "devices (XLA_FLAGS)") if spmd_res.ok else
                [_failed("spmd-1proc", spmd, spmd_res.error or "", launcher, "spmd")])
    if fw == "pytorch":
        out += _pipeline(ctx, r, out)
    return out


def _unpinned(ctx: Context, r: Runner, w1: list[Measurement], launcher: str,
              path: str) -> list[Measurement]:
    """W=2 with no CPU affinity set (the gate ran on the pinned launch: same code, same data)."""
    spec, res = r.launch("dp-w2-unpinned", world=WORLD, variant=path, pin=False)
    if not res.ok:
        return [_failed("dp-w2-unpinned", spec, res.error or "", launcher, path)]
    ms = _figures(spec, res, "dp-w2-unpinned", path, launcher)
    eff = _ratio("scaling_efficiency", ms, w1, float(WORLD), ctx.study.seed,
                 "E = thr(W=2, unpinned) / (2 · thr(W=1)), same global batch")
    eff.variant = "dp-w2-unpinned"
    return [*ms, eff]


def _same_budget(ctx: Context, r: Runner, done: list[Measurement], launcher: str,
                 path: str) -> list[Measurement]:
    """One process with 2 threads (the CPU budget of W=2), and thr(2×1) / thr(1×2)."""
    wide, res = r.launch("dp-w1-2threads", threads=WORLD, variant=path)
    if not res.ok:
        return [_failed("dp-w1-2threads", wide, res.error or "", launcher, path)]
    ms = _figures(wide, res, "dp-w1-2threads", path, launcher)
    w2 = [m for m in done if m.variant == "dp-w2" and m.metric == "samples_per_s"
          and m.value is not None]
    if w2:
        ratio = _ratio("same_budget_ratio", w2, ms, 1.0, ctx.study.seed,
                       "thr(2 processes × 1 thread) / thr(1 process × 2 threads)")
        ratio.variant = "dp-w2"
        ms.append(ratio)
    return ms


def _tolerance(r: Runner, ref: Any) -> tuple[float, dict[str, Any]]:
    """The gate's tolerance: ``gate_tolerance``, widened to FLOOR_FACTOR × the reference
    step's own float32 noise floor where that is larger (never beyond MAX_GATE_TOLERANCE).

    The floor: the reference step again from initial weights one ulp away. Where the W=2 step
    runs the same kernels on the same shards (DDP), it matches to the bit; where it is another
    program (an SPMD partition reorders reductions), it differs by rounding, which an
    ill-conditioned step (deep BatchNorm stacks) amplifies as much as a one-ulp nudge."""
    from twinbench.distributed.launch import launch
    from twinbench.distributed.prepare import nudge_init, weight_distance

    base = r.cfg.gate_tolerance
    probe = r.spec("gate-floor", ref_shards=ref.ref_shards, variant=ref.variant, steps=0,
                   warmup=0)
    nudge_init(probe)
    res = launch(probe, r.cfg.launch_timeout_s)
    if not res.ok:
        return base, {"noise_floor": None, "floor_error": (res.error or "").splitlines()[0]}
    floor = weight_distance(ref.dir, probe.dir)
    tol = min(max(base, FLOOR_FACTOR * floor), MAX_GATE_TOLERANCE)
    return tol, {"noise_floor": floor, "floor_factor": FLOOR_FACTOR, "base_tolerance": base,
                 "relaxed": tol > base, "max_tolerance": MAX_GATE_TOLERANCE,
                 "floor_probe": "the reference step from initial weights one ulp up"}


def _gated(ctx: Context, r: Runner, ref: Any, two: Any, two_res: Any, w1: list[Measurement],
           launcher: str, path: str) -> list[Measurement]:
    from twinbench.distributed.prepare import gate

    tol, floor = _tolerance(r, ref)
    g = gate(ref.dir, two.dir, tol, two, two_res.ranks, r.n)
    check = _gate_record(g, "dp-w2", ref, tol, path)
    check.extra.update(floor)
    if not g.passed:
        f = _failed("dp-w2", two, f"gradient-equivalence gate failed: {g.detail}", launcher,
                    path)
        return [check, f]
    w2 = _figures(two, two_res, "dp-w2", path, launcher)
    eff = _ratio("scaling_efficiency", w2, w1, float(WORLD), ctx.study.seed,
                 "E = thr(W=2) / (2 · thr(W=1)), same global batch")
    eff.variant = "dp-w2"
    return [check, *w2, eff]


def _gate_record(g: Any, label: str, ref: Any, tol: float, path: str) -> Measurement:
    return Measurement("gate_max_abs_diff", "abs", g.max_abs if g.max_abs != float("inf")
                       else None, "lower", variant=label,
                       extra={"passed": g.passed, "shards_ok": g.shards_ok, "detail": g.detail,
                              "worst": g.worst, "tolerance": tol, "call_path": path,
                              "reference_shards": ref.ref_shards
                              if ref.variant != "pipeline" else ref.microbatches})


def _keras_fit(r: Runner, launcher: str) -> list[Measurement]:
    """Keras ``fit`` under MWMS, the out-of-box path: recorded as it ends."""
    spec, res = r.launch("fit-w2", world=WORLD, variant="fit")
    if res.ok:
        return _figures(spec, res, "fit-w2", "fit", launcher)
    from twinbench.frameworks.known_issues import upstream

    return [_failed("fit-w2", spec, res.error or "", launcher, "fit",
                    upstream(res.error or ""))]


def _pipeline_gate(r: Runner, refs: dict[int, Any], spec: Any, res: Any) -> Any:
    """The pipeline's first step against a one-process step whose gradient averages the
    microbatches' (each forwarded alone: BatchNorm statistics are per microbatch)."""
    from twinbench.distributed.launch import launch
    from twinbench.distributed.prepare import Gate, gate

    mb = spec.microbatches
    if mb not in refs:
        ref = r.spec(f"pipe-ref-m{mb}", ref_shards=mb, steps=0, warmup=0)
        refs[mb] = (ref, launch(ref, r.cfg.launch_timeout_s))
    ref, ref_res = refs[mb]
    if not ref_res.ok:
        return Gate(False, float("inf"), "", False,
                    f"the reference step failed: {(ref_res.error or '').splitlines()[0]}")
    return gate(ref.dir, spec.dir, r.cfg.gate_tolerance, spec, res.ranks, r.n)


def _bubble(spec: Any, res: Any, label: str) -> Measurement:
    """The stages' measured idle share of a step, beside the schedule's theoretical bubble."""
    steps = step_times(res.ranks, spec.warmup)
    idle = []
    for rk in sorted(res.ranks, key=lambda rk: rk["rank"]):
        busy = np.asarray(rk.get("busy_s", []), dtype=np.float64)[1 + spec.warmup:]
        if busy.size == steps.size and busy.size:
            idle.append(float(np.median(1 - busy / steps)))
    mb = spec.microbatches
    return Measurement("bubble_fraction", "fraction", float(np.mean(idle)) if idle else None,
                       "lower", variant=label,
                       extra={"per_stage_idle": idle, "theoretical": (WORLD - 1) / (mb + WORLD - 1),
                              "what": "1 − a stage's compute time / step time, median over "
                                      "steps, mean over stages (send/receive waits count as "
                                      "idle)", "call_path": "pipeline"})


def _pipeline(ctx: Context, r: Runner, done: list[Measurement]) -> list[Measurement]:
    """GPipe and 1F1B at each microbatch count, each gated, against the unsplit baselines."""
    out: list[Measurement] = []
    refs: dict[int, Any] = {}
    launcher = "torchrun --standalone --nproc-per-node=2, torch.distributed.pipelining"
    base = {v: [m for m in done if m.variant == v and m.metric == "samples_per_s"
                and m.value is not None] for v in ("dp-w1", "dp-w1-2threads")}
    for sched in r.cfg.schedules:
        for mb in r.cfg.microbatches:
            label = f"pipe-{sched}-m{mb}"
            if r.cfg.global_batch % mb:
                continue
            if sched == "1f1b" and mb < WORLD:  # torch checks it in Schedule1F1B
                out.append(Measurement(
                    "samples_per_s", "samples/s", None, variant=label,
                    knobs={"schedule": sched, "microbatches": mb, "world": WORLD},
                    extra={"state": "unavailable", "call_path": "pipeline",
                           "reason": f"Schedule1F1B needs microbatches ≥ stages ({WORLD}): "
                                     "one microbatch has nothing to interleave"}))
                continue
            spec, res = r.launch(label, world=WORLD, variant="pipeline", schedule=sched,
                                 microbatches=mb)
            if not res.ok:
                out.append(_failed(label, spec, res.error or "", launcher, "pipeline"))
                continue
            g = _pipeline_gate(r, refs, spec, res)
            if not g.passed:
                out.append(_failed(label, spec, f"gradient-equivalence gate failed: {g.detail}",
                                   launcher, "pipeline"))
                continue
            ms = _figures(spec, res, label, "pipeline", launcher)
            rss = next(m for m in ms if m.metric == "peak_rss")
            rss.extra["per_stage_mib"] = rss.extra.pop("per_rank_mib")
            ms += [_gate_record(g, label, spec, r.cfg.gate_tolerance, "pipeline"),
                   _bubble(spec, res, label)]
            for metric, v, what in (("vs_unsplit", "dp-w1", "1 process × 1 thread"),
                                    ("vs_same_budget", "dp-w1-2threads",
                                     "1 process × 2 threads")):
                if base[v]:
                    m = _ratio(metric, ms, base[v], 1.0, ctx.study.seed,
                               f"thr(pipeline, 2 processes × 1 thread) / thr(unsplit, {what})")
                    m.variant = label
                    ms.append(m)
            out += ms
    return out
