"""The distributed scenario's view: a data-parallel scaling table and a pipeline table.

Its records are per launch (variant ``dp-w1``, ``dp-w2``, ``dp-w2-unpinned``, ``dp-w1-2threads``,
``fit-w2``,
``spmd-1proc``, ``pipe-<schedule>-m<microbatches>``), so they replace the generic per-metric
tables and charts and count for no summary win (C9's rule reads them). One table per model:

* scaling — framework × launch: samples/s [95% CI], scaling efficiency E [CI], same-budget ratio
  [CI], launch time, peak RSS per rank, the gradient-equivalence gate; a failed launch shows
  its first error line and the upstream issue;
* pipeline (PyTorch) — schedule × microbatches: samples/s [CI], against the unsplit baselines
  [CI], measured idle share of a step (bubble) beside the schedule's theoretical one, peak RSS
  per stage, the gate.
"""

from __future__ import annotations

from collections import defaultdict

from rich.console import Console

from twinbench.analysis.text import fmt, fmt_ci
from twinbench.frameworks.base import FRAMEWORKS
from twinbench.report.route_table import RouteTable
from twinbench.report.views import View, print_tables
from twinbench.results.schema import Record

SCENARIO = "distributed"
SCALING = ["framework", "launch", "processes × threads", "path", "samples/s [95% CI]",
           "E [95% CI]", "same budget [95% CI]", "launch s", "peak RSS MiB / rank", "gate"]
PIPELINE = ["schedule", "microbatches", "samples/s [95% CI]", "vs 1×1 [95% CI]",
            "vs 1×2 threads [95% CI]", "bubble measured (theory)", "peak RSS MiB / stage",
            "gate"]
NO_PIPELINE = ("Pipeline parallelism has a first-party API only in PyTorch "
               "(torch.distributed.pipelining); TensorFlow, Keras 3 and JAX ship none (Keras's "
               "distribution API offers data parallelism and layout-based model parallelism, "
               "not pipelining), so the pipeline table has PyTorch rows only.")
NOTES = ["E = thr(W=2) / (2 · thr(W=1)) at the same global batch; same budget = thr(2 processes "
         "× 1 thread) / thr(1 process × 2 threads). Intervals: bootstrap over the timed steps "
         "of one launch per side (they do not cover launch-to-launch variation).",
         "A step's time is its slowest rank's; launch s = process start → the first step's end "
         "(imports, rendezvous, first-step tracing), kept out of samples/s.",
         "gate: one step from identical weights with W=2 against the single-process step "
         "(max |Δ| of any trained weight) within 1e-5, or within 3× the single-process step's "
         "own float32 noise floor (the same step from weights one ulp away) where that is "
         "larger, capped at 1e-3 (shown as relaxed); a launch that fails it has no figures.",
         "dp-w2 pins rank r to CPU r; dp-w2-unpinned is the same launch with no CPU affinity "
         "set (the OS places the ranks; the gate ran on dp-w2)."]
PIPE_NOTES = ["bubble: 1 − a stage's compute time / step time (median over steps, mean over "
              "the 2 stages; waits for sends and receives count as idle); theory = (p − 1) / "
              "(m + p − 1) for p = 2 stages and m microbatches.", NO_PIPELINE]


def _records(records: list[Record]) -> list[Record]:
    return [r for r in records if r.scenario == SCENARIO]


def _by_launch(recs: list[Record]) -> dict[tuple[str, str, str, str], dict[str, Record]]:
    """(model, mode, framework, variant) -> metric -> record (a failed launch: "failed")."""
    out: dict[tuple[str, str, str, str], dict[str, Record]] = defaultdict(dict)
    for r in recs:
        key = (r.model, r.mode, r.framework, r.variant or "")
        out[key]["failed" if r.status == "failed" else r.metric] = r
    return out


def _ci(m: dict[str, Record], metric: str, unit: str = "") -> str:
    r = m.get(metric)
    if r is None or r.value is None:
        return ""
    return f"{fmt(r.value, unit)} {fmt_ci(r)}".strip()


def _gate(m: dict[str, Record]) -> str:
    g = m.get("gate_max_abs_diff")
    if g is None:
        return ""
    passed = bool(g.extra.get("passed"))
    parts = [f"max |Δ| {fmt(g.value)}"]
    tol = g.extra.get("tolerance")
    if tol is not None:
        parts.append(f"tol {fmt(tol)}")
    if g.extra.get("relaxed"):
        parts.append(f"relaxed to {fmt(g.extra.get('floor_factor'))}× the noise floor "
                     f"{fmt(g.extra.get('noise_floor'))}")
    return f"{'passed' if passed else 'FAILED'} ({', '.join(parts)})"


def _rss(m: dict[str, Record], key: str) -> str:
    r = m.get("peak_rss")
    if r is None:
        return ""
    return " / ".join(f"{v:.0f}" for v in r.extra.get(key) or [r.value or 0])


def _failure(m: dict[str, Record]) -> str | None:
    f = m.get("failed")
    if f is not None:
        return "FAILED: " + (f.error or "failed").splitlines()[0][:200]
    s = m.get("samples_per_s")
    if s is not None and s.extra.get("state") == "unavailable":
        return "unavailable: " + str(s.extra.get("reason", ""))
    return None


def _order(fw: str) -> int:
    names = list(FRAMEWORKS)
    return names.index(fw) if fw in names else len(names)


def _scaling_row(fw: str, variant: str, m: dict[str, Record]) -> list[str]:
    # the launch's own record (its knobs: world, threads per process), not a ratio's or the
    # gate's, which carry the study's thread count
    r0 = m.get("samples_per_s") or m.get("failed") or next(iter(m.values()))
    knobs = r0.knobs or {}
    shape = f"{knobs.get('world', r0.extra.get('world', '?'))} × " \
            f"{knobs.get('threads_per_process', r0.extra.get('threads', '?'))}"
    path = str(r0.extra.get("call_path", ""))
    why = _failure(m)
    if why is not None:
        return [fw, variant, shape, path, why, "", "", "", "", _gate(m)]
    return [fw, variant, shape, path, _ci(m, "samples_per_s"), _ci(m, "scaling_efficiency"),
            _ci(m, "same_budget_ratio"), _ci(m, "launch_time"), _rss(m, "per_rank_mib"),
            _gate(m)]


def _pipeline_row(variant: str, m: dict[str, Record]) -> list[str]:
    r0 = next(iter(m.values()))
    knobs = r0.knobs or {}
    sched, mb = str(knobs.get("schedule", variant)), str(knobs.get("microbatches", ""))
    if not knobs.get("schedule"):  # from the label pipe-<schedule>-m<mb>
        _, sched, mbs = variant.split("-", 2)
        mb = mbs.lstrip("m")
    why = _failure(m)
    if why is not None:
        return [sched, mb, why, "", "", "", "", _gate(m)]
    b = m.get("bubble_fraction")
    bubble = ""
    if b is not None:
        bubble = f"{fmt(b.value)} ({fmt(b.extra.get('theoretical'))})"
    return [sched, mb, _ci(m, "samples_per_s"), _ci(m, "vs_unsplit"), _ci(m, "vs_same_budget"),
            bubble, _rss(m, "per_stage_mib"), _gate(m)]


def distributed_tables(records: list[Record]) -> list[RouteTable]:
    launches = _by_launch(_records(records))
    scaling: dict[tuple[str, str], list[tuple[tuple, list[str]]]] = defaultdict(list)
    pipes: dict[tuple[str, str], list[tuple[tuple, list[str]]]] = defaultdict(list)
    for (model, mode, fw, variant), m in launches.items():
        if variant.startswith("pipe-"):
            row = _pipeline_row(variant, m)
            mb = int(row[1]) if row[1].isdigit() else 0
            pipes[(model, mode)].append(((row[0], mb), row))
        else:
            scaling[(model, mode)].append(((_order(fw), fw, variant), _scaling_row(fw, variant,
                                                                                   m)))
    out = []
    for (model, mode), rows in sorted(scaling.items()):
        out.append(RouteTable(f"Data-parallel scaling · {model} · {mode}", SCALING,
                              [c for _, c in sorted(rows)], list(NOTES)))
    for (model, mode), rows in sorted(pipes.items()):
        out.append(RouteTable(f"Pipeline parallelism (PyTorch, 2 stages) · {model} · {mode}",
                              PIPELINE, [c for _, c in sorted(rows)], list(PIPE_NOTES)))
    return out


def print_distributed(records: list[Record], console: Console) -> None:
    print_tables(distributed_tables(records), console, bad=("FAILED", "unavailable"))


VIEW = View("Distributed training", generic_tables=False, generic_charts=False,
            in_summary=False, terminal=print_distributed, tables=distributed_tables)
