"""C9: "PyTorch improved distributed training, including pipeline parallelism."

What of it one machine can show (the ``distributed`` scenario's records):

1. PyTorch's own data parallelism (DDP under ``torchrun``) passes the gradient-equivalence gate
   and scales from 1 to 2 processes with efficiency E [interval];
2. its pipeline parallelism (``torch.distributed.pipelining``) runs, passes the gate, and shows
   its bubble — and which frameworks offer pipeline parallelism at all (only PyTorch: nothing
   first-party in TensorFlow, Keras 3 or JAX);
3. against TensorFlow/Keras: each Keras-side framework's E beside PyTorch's, and whether Keras's
   documented out-of-box path (``fit`` under ``MultiWorkerMirroredStrategy``) works.

Verdict: **refuted** when PyTorch's own distributed training fails here (its data-parallel
launch or gate, or every pipeline run); **confirmed** when it works, pipelining runs and
PyTorch's E is not shown below any Keras-side framework's (non-overlapping intervals, pinned
launches compared with pinned ones, unpinned with unpinned);
**inconclusive** when some Keras-side framework scales shown better, or a part is missing.
"Improved" is about history, which one study cannot see: the verdict reads "as good as or
better than the Keras side today, plus pipelining that only PyTorch offers". The intervals are
bootstraps over one launch's steps (``scenarios.distributed``), stated in every line.
"""

from __future__ import annotations

from collections import defaultdict

from twinbench.analysis.claims.base import (
    CLAIM_TEXT,
    CONFIRMED,
    INCONCLUSIVE,
    REFUTED,
    ClaimResult,
    Evidence,
    awaiting,
)
from twinbench.analysis.text import fmt
from twinbench.frameworks.base import FRAMEWORKS
from twinbench.results.schema import Record

DISTRIBUTED = "distributed"
TORCH_SIDE = ("pytorch", "lightning")
# who ships a first-party pipeline-parallel API (checked against each project's docs)
PIPELINE_API = {
    "pytorch": "torch.distributed.pipelining (PipelineStage, ScheduleGPipe, Schedule1F1B)",
    "lightning": None,  # Lightning's DeepSpeed/FSDP strategies; no pipeline schedule of its own
    "keras-tf": None,
    "keras-jax": None,
    "keras-torch": None,
}
# W=2 launches with the same code and data as the gated dp-w2, told apart by one setting
UNGATED_TWINS = ("dp-w2-unpinned",)
NO_PIPELINE = ("TensorFlow (tf.distribute), Keras 3 (keras.distribution: DataParallel, "
               "ModelParallel layouts) and JAX ship no pipeline-parallel schedule")


def _launches(recs: list[Record]) -> dict[tuple[str, str, str], dict[str, Record]]:
    """(framework, model, variant) -> metric (or "failed") -> record."""
    out: dict[tuple[str, str, str], dict[str, Record]] = defaultdict(dict)
    for r in recs:
        if r.scenario == DISTRIBUTED:
            out[(r.framework, r.model, r.variant or "")][
                "failed" if r.status == "failed" else r.metric] = r
    return out


def _ci(r: Record | None) -> str:
    if r is None or r.value is None:
        return "—"
    ci = f" [{fmt(r.ci95[0])}, {fmt(r.ci95[1])}]" if r.ci95 else ""
    return f"{fmt(r.value)}{ci}"


def _why(m: dict[str, Record]) -> str:
    f = m["failed"]
    up = f.extra.get("upstream")
    return (f.error or "failed").splitlines()[0][:160] + (f" ({up})" if up and up not in (
        f.error or "") else "")


def _unavailable(m: dict[str, Record]) -> str | None:
    """Why a launch was not run (a combination its framework rules out), or None."""
    s = m.get("samples_per_s")
    if s is not None and s.extra.get("state") == "unavailable":
        return str(s.extra.get("reason", "unavailable"))
    return None


def _gate_ok(m: dict[str, Record]) -> bool:
    g = m.get("gate_max_abs_diff")
    return "failed" not in m and g is not None and bool(g.extra.get("passed"))


def c9(ev: Evidence) -> ClaimResult:
    res = awaiting("C9", DISTRIBUTED, "distributed-training scenario", "issue #20", ev)
    if res is not None:
        return res
    launches = _launches(ev.records)
    models = sorted({k[1] for k in launches})
    evidence: list[str] = []
    torch_fails: list[str] = []
    keras_better: list[str] = []
    missing: list[str] = []
    pipe_ok: list[str] = []
    for model in models:
        effs: dict[str, Record] = {}
        for fw in [f for f in FRAMEWORKS if any(k[:2] == (f, model) for k in launches)]:
            w2 = launches.get((fw, model, "dp-w2"), {})
            fit = launches.get((fw, model, "fit-w2"))
            if fit:
                evidence.append(f"{fw} ({model}) Keras fit under MultiWorkerMirroredStrategy "
                                "(the out-of-box path): " + (
                                    f"FAILED — {_why(fit)}" if "failed" in fit else "ran"))
            if not w2:
                continue
            if _unavailable(w2):
                evidence.append(f"{fw} ({model}): no data-parallel launcher — "
                                f"{_unavailable(w2)}")
                continue
            if "failed" in w2 or not _gate_ok(w2):
                why = _why(w2) if "failed" in w2 else "no gate record"
                evidence.append(f"{fw} ({model}) W=2: FAILED — {why}")
                (torch_fails if fw == "pytorch" else missing).append(f"{fw}/{model}")
                continue
            e = w2.get("scaling_efficiency")
            if e is not None and e.value is not None:
                effs[fw] = e
            g = w2["gate_max_abs_diff"]
            relaxed = (f", relaxed to {fmt(g.extra.get('floor_factor'))}× the step's float32 "
                       f"noise floor {fmt(g.extra.get('noise_floor'))}"
                       if g.extra.get("relaxed") else "")
            evidence.append(f"{fw} ({model}) W=2 via {g.extra.get('call_path')}: gate passed "
                            f"(max |Δ| {fmt(g.value)}, tol {fmt(g.extra.get('tolerance'))}"
                            f"{relaxed}), "
                            f"E {_ci(e)}, same-budget ratio {_ci(w2.get('same_budget_ratio'))}")
        for variant in UNGATED_TWINS:  # like with like: unpinned launches beside each other
            for fw in [f for f in FRAMEWORKS if (f, model, variant) in launches]:
                e = launches[(fw, model, variant)].get("scaling_efficiency")
                if e is not None and e.value is not None:
                    effs[f"{fw}|{variant}"] = e
                    evidence.append(f"{fw} ({model}) {variant}: E {_ci(e)}")
        for key, e in effs.items():
            fw, _, variant = key.partition("|")
            torch_e = effs.get(f"pytorch|{variant}" if variant else "pytorch")
            if FRAMEWORKS[fw].family != "keras" or torch_e is None or not (
                    torch_e.ci95 and e.ci95):
                continue
            if e.ci95[0] > torch_e.ci95[1]:
                v = variant or "dp-w2"
                thr = {f: _ci(launches[(f, model, v)].get("samples_per_s"))
                       for f in (fw, "pytorch")}
                keras_better.append(f"{fw} E {_ci(e)} > pytorch E {_ci(torch_e)} ({model}, {v};"
                                    f" E is against each framework's own W=1 — samples/s at "
                                    f"W=2: {fw} {thr[fw]}, pytorch {thr['pytorch']})")
        pipes = {k[2]: m for k, m in launches.items() if k[0] == "pytorch" and k[1] == model
                 and k[2].startswith("pipe-")}
        runnable = [v for v, m in pipes.items() if not _unavailable(m)]
        ok = sorted(v for v, m in pipes.items() if _gate_ok(m))
        for v in sorted(pipes):
            m = pipes[v]
            if v in ok:
                b = m.get("bubble_fraction")
                theory = fmt(b.extra.get("theoretical")) if b else "—"
                evidence.append(f"pytorch ({model}) {v}: gate passed, samples/s "
                                f"{_ci(m.get('samples_per_s'))}, vs unsplit "
                                f"{_ci(m.get('vs_unsplit'))}, bubble {_ci(b)} (theory {theory})")
            elif _unavailable(m):
                evidence.append(f"pytorch ({model}) {v}: not applicable — {_unavailable(m)}")
            else:
                evidence.append(f"pytorch ({model}) {v}: FAILED — "
                                + (_why(m) if "failed" in m else "gate not passed"))
        if runnable and not ok:
            torch_fails.append(f"pipeline/{model}")
        pipe_ok += [f"{model} {v}" for v in ok]
    offers = [fw for fw, api in PIPELINE_API.items() if api]
    evidence.append(f"pipeline parallelism offered first-party by: {', '.join(offers)} "
                    f"({PIPELINE_API['pytorch']}); {NO_PIPELINE}")
    evidence.append("intervals: bootstrap over the timed steps of one launch per side")
    if torch_fails:
        verdict = REFUTED
        summary = ("PyTorch's own distributed training did not work here: "
                   + ", ".join(torch_fails))
    elif not pipe_ok:
        verdict = INCONCLUSIVE
        summary = "no pipeline-parallel run in this study: the 'including pipeline "\
                  "parallelism' half is untested"
    elif keras_better:
        verdict = INCONCLUSIVE
        summary = ("PyTorch offers working pipeline parallelism (the others have none), but "
                   "a Keras-side framework scales better from 1 to 2 processes: "
                   + "; ".join(keras_better))
    else:
        verdict = CONFIRMED
        summary = (f"PyTorch's DDP passes the gate and scales no worse than the Keras side "
                   f"(no Keras-side E shown above PyTorch's); its pipeline parallelism runs "
                   f"and passes the gate ({len(pipe_ok)} runs) where TensorFlow, Keras and "
                   f"JAX offer none. 'Improved' (over time) is not measurable in one study")
    if missing:
        summary += "; Keras-side launches that failed: " + ", ".join(missing)
    return ClaimResult("C9", CLAIM_TEXT["C9"], verdict, summary, evidence)
