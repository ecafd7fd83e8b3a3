"""`twinbench recommend`: rank frameworks for a user's priorities, from measured evidence.

Each priority is a criterion that scores every framework in [0, 1] from the study's records (the
best framework 1; a framework whose gap to the best is not statistically significant also 1;
otherwise best/value, so 0.5 means "half as good"); static evidence (code brevity, model zoos)
joins where a criterion needs it (brevity is a third of ``deadline``; ``model`` scores
pretrained weights in the installed zoos, for twinbench's own twins too). Priorities listed first
weigh more (n, n-1, ..., 1). A framework without evidence for a criterion scores 0 there and the
output says so, with the study that would supply it; so does a deadline score that rests on
code brevity without startup or time-to-target records. Nothing is recommended on evidence that
was not measured.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from twinbench.errors import UserError
from twinbench.report.claims import how_to_measure
from twinbench.report.compare import fmt_ci, fmt_value, not_reached, rows
from twinbench.results.schema import Record

KINDS = ("speed", "deadline", "memory", "accuracy", "deploy", "model", "device")
DEPLOY = ("web", "mobile", "server")
# which framework's export a framework reuses: the Keras twin is one model whatever the backend,
# and the Lightning twin is the PyTorch nn.Module
CARRIER = {"keras-tf": "keras-tf", "keras-jax": "keras-tf", "keras-torch": "keras-tf",
           "pytorch": "pytorch", "lightning": "pytorch"}
STYLE = {"pytorch": "pytorch", "lightning": "lightning", "keras-tf": "keras",
         "keras-jax": "keras", "keras-torch": "keras"}
METRICS: dict[str, list[tuple[str, str | None]]] = {  # (scenario, metric or None for all)
    "speed": [("train", "throughput"), ("infer", "throughput"), ("infer", "latency_p50")],
    "deadline": [("startup", "import_time"), ("startup", "first_step_time"),
                 ("accuracy", "train_wall_time"), ("accuracy", "time_to_target")],
    "memory": [("memory", "peak_rss")],
    "accuracy": [("accuracy", None)],
    "server": [("server", "max_qps_within_bound"), ("server", "server_latency_p99")],
}


@dataclass(frozen=True)
class Priority:
    kind: str
    value: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind}={self.value}" if self.value else self.kind


@dataclass
class Criterion:
    priority: Priority
    weight: int
    scores: dict[str, float | None] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


@dataclass
class Recommendation:
    frameworks: list[str]
    criteria: list[Criterion]
    device: str

    def total(self, fw: str) -> float:
        w = sum(c.weight for c in self.criteria) or 1
        return sum(c.weight * (c.scores.get(fw) or 0.0) for c in self.criteria) / w

    def ranking(self) -> list[tuple[str, float]]:
        return sorted(((f, self.total(f)) for f in self.frameworks), key=lambda t: -t[1])


def parse_priorities(text: str | list[str]) -> list[Priority]:
    """``"speed,deadline,deploy=web,model=detr,device=cpu"`` -> priorities, checked."""
    items = text if isinstance(text, list) else [text]
    out: list[Priority] = []
    for item in (p.strip() for t in items for p in t.split(",")):
        if not item:
            continue
        kind, _, value = item.partition("=")
        if kind not in KINDS:
            raise UserError(f"unknown priority {kind!r} (valid: {', '.join(KINDS)}; "
                            "e.g. speed,deadline,deploy=web,model=detr,device=cpu)")
        if kind == "deploy" and value not in DEPLOY:
            raise UserError(f"deploy={value or '?'}: deploy target must be one of "
                            f"{', '.join(DEPLOY)}")
        if kind in ("model", "device") and not value:
            raise UserError(f"priority {kind} needs a value, e.g. {kind}="
                            + ("detr" if kind == "model" else "cpu"))
        out.append(Priority(kind, value or None))
    if not [p for p in out if p.kind != "device"]:
        raise UserError("give at least one priority besides device, e.g. --priority speed")
    return out


def _measured(c: Criterion, records: list[Record], wanted: list[tuple[str, str | None]],
              frameworks: list[str], carrier: dict[str, str] | None = None) -> None:
    """Score from records: mean over rows of 1 (best or n.s.) or best/value."""
    got: dict[str, list[float]] = defaultdict(list)
    for row in rows(records):
        if not any(row.scenario == s and (m is None or row.metric == m) for s, m in wanted):
            continue
        if row.better is None or row.scenario == "accuracy" and row.better == "lower" \
                and ("accuracy", None) in wanted:
            continue
        c.lines.append(f"{row.scenario} {row.metric} ({row.task}/{row.model}, {row.setting}):")
        for fw, rec in sorted(row.cells.items()):
            vs = row.vs_best(fw)
            if not_reached(rec):  # a measured failure to reach the target: no credit
                score, note = 0.0, "within the epoch budget"
            elif vs is None:
                score, note = 1.0, "best" if row.best == fw else ""
            elif vs.significant is False:
                score, note = 1.0, f"{vs.ratio:.2f}× worse, not significant"
            else:
                score = 1 / vs.ratio if vs.ratio else 0.0
                tested = "significant" if vs.significant else "single values, untested"
                note = f"{vs.ratio:.2f}× worse ({tested})"
            got[fw].append(score)
            c.lines.append(f"  {fw}: {fmt_value(rec, rec.unit)} {fmt_ci(rec)} {note}".rstrip())
    for fw in frameworks:
        src = (carrier or {}).get(fw, fw)
        c.scores[fw] = sum(got[src]) / len(got[src]) if got.get(src) else None
        if src != fw and got.get(src):
            c.lines.append(f"  {fw}: uses {src}'s evidence (same twin, exported the same way)")


def _web(c: Criterion, records: list[Record], frameworks: list[str]) -> None:
    """Best browser variant per route family: steady latency p50, and bytes to download."""
    web = [r for r in records if r.scenario == "export-web" and ":" in r.metric]
    pick: list[Record] = []
    for fw in sorted({r.framework for r in web}):
        ok = {r.metric.split(":")[0] for r in web if r.framework == fw
              and r.metric.endswith(":status") and r.status == "ok" and r.value == 1.0}
        lat = [r for r in web if r.framework == fw and r.metric.split(":")[0] in ok
               and r.metric.endswith(":latency_p50")]
        if lat:
            best = min(lat, key=lambda r: r.value or float("inf"))
            variant = best.metric.split(":")[0]
            size = sum(r.value or 0 for r in web if r.framework == fw
                       and r.metric in (f"{variant}:model_bytes", f"{variant}:runtime_bytes"))
            pick += [best.model_copy(update={"metric": "best_variant_latency_p50"}),
                     best.model_copy(update={"metric": "best_variant_download", "unit": "bytes",
                                             "value": size, "samples": [], "ci95": None})]
            c.lines.append(f"  {fw}: best browser variant {variant}")
        elif any(r.framework == fw for r in web):
            c.lines.append(f"  {fw}: no browser variant ran (see the report's web table)")
    _measured(c, pick, [("export-web", None)], frameworks, CARRIER)


def _mobile(c: Criterion, records: list[Record], frameworks: list[str]) -> None:
    mob = [r.model_copy(update={"metric": r.metric.replace(":", " ")}) for r in records
           if r.scenario == "export-mobile" and r.metric.split(":")[-1] in
           ("latency_p50", "file_size") and r.metric.split(":")[0] in ("fp32", "int8-full")]
    _measured(c, mob, [("export-mobile", None)], frameworks, CARRIER)


def _model(c: Criterion, name: str, frameworks: list[str], zoos: list[Any] | None) -> None:
    """Pretrained weights in the installed zoos score 1, an architecture alone 0.5.

    A twinbench twin exists in every framework, so its architecture is never missing (at least
    0.5), but a user asking for it usually wants pretrained weights: those still come from the
    zoo search, as for any other model.
    """
    from twinbench.zoo import MODELS
    from twinbench.zoos import KERAS, PYTORCH, availability

    twin = name in MODELS
    if twin:
        c.lines.append(f"  {name} is a twinbench twin: its architecture exists in every "
                       "framework (0.5); pretrained weights come from the zoo search")
    if zoos is None:
        c.missing.append(f"model={name}: no zoo search was run (pretrained weights unknown)")
        if twin:
            c.scores.update(dict.fromkeys(frameworks, 0.5))
        return
    avail = availability(zoos)
    value = {"pretrained": 1.0, "architecture only": 0.5}
    for fw in frameworks:
        eco = PYTORCH if CARRIER[fw] == "pytorch" else KERAS
        state = avail[eco]
        score = None if state.startswith("unknown") else value.get(state, 0.0)
        c.scores[fw] = max(score or 0.0, 0.5) if twin else score
    for eco in (PYTORCH, KERAS):
        c.lines.append(f"  {eco}: {avail[eco]}")
    for z in zoos:
        if z.state != "installed":
            c.missing.append(f"model={name}: zoo {z.zoo} {z.state} ({z.note})")


def _brevity(c: Criterion, frameworks: list[str], counts: list[Any] | None,
             models: set[str]) -> None:
    """Code brevity as a third of the deadline score: over the study's own twin families when
    it has any (a user's deadline is about their model), else over every family."""
    if not counts:
        return
    mine = [k for k in counts if k.model in models]
    scope = (f"the study's twin families ({', '.join(sorted({k.model for k in mine}))})"
             if mine else "every twin family (the study has none of them)")
    by: dict[str, list[int]] = defaultdict(list)
    for k in mine or counts:
        by[k.style].append(k.core_statements)
    mean = {s: sum(v) / len(v) for s, v in by.items()}
    best = min(mean.values())
    c.lines.append(f"brevity (static analysis of the twins, mean statements over {scope}):")
    for s, v in sorted(mean.items()):
        c.lines.append(f"  {s}: {v:.0f} statements, {best / v:.2f} of the shortest")
    for fw in frameworks:
        if STYLE[fw] in mean and c.scores.get(fw) is not None:
            c.scores[fw] = (2 * c.scores[fw] + best / mean[STYLE[fw]]) / 3  # type: ignore[operator]
        elif STYLE[fw] in mean:
            c.scores[fw] = best / mean[STYLE[fw]] / 3


def _deadline_gaps(c: Criterion, records: list[Record], frameworks: list[str]) -> None:
    """Name the timing evidence (startup; training wall time and time-to-target) each framework
    lacks, even when code brevity alone gave it a score."""
    for fw in frameworks:
        have = {r.scenario for r in records if r.framework == fw and r.scenario in
                ("startup", "accuracy")}
        gaps = [s for s in ("startup", "accuracy") if s not in have]
        if not gaps:
            continue
        what = " or ".join({"startup": "startup (import, first step)",
                            "accuracy": "accuracy (training wall time, time-to-target)"}[g]
                           for g in gaps)
        basis = ("counts 0" if c.scores.get(fw) is None else "scored on the rest"
                 if len(gaps) < 2 else "scored on code brevity alone, at a third")
        c.missing.append(f"deadline: no {what} records for {fw} ({basis}); "
                         f"{how_to_measure(gaps[0], fw)} measures them")


def recommend(records: list[Record], priorities: list[Priority], brevity: list[Any] | None = None,
              zoos: dict[str, list[Any]] | None = None,
              frameworks: list[str] | None = None) -> Recommendation:
    from twinbench.frameworks.base import FRAMEWORKS

    device = next((p.value for p in priorities if p.kind == "device"), None) or "cpu"
    recs = [r for r in records if r.status == "ok" and r.device == device]
    fws = frameworks or list(dict.fromkeys(r.framework for r in records)) or list(FRAMEWORKS)
    crit = [p for p in priorities if p.kind != "device"]
    out = Recommendation(fws, [], device)
    if records and not recs:
        out.device = f"{device} (no records on this device: none of the measured lines apply)"
    for i, p in enumerate(crit):
        c = Criterion(p, len(crit) - i)
        if p.kind == "model":
            _model(c, p.value or "", fws, (zoos or {}).get(p.value or ""))
        elif p.kind == "deploy" and p.value == "web":
            _web(c, recs, fws)
        elif p.kind == "deploy" and p.value == "mobile":
            _mobile(c, recs, fws)
        else:
            key = "server" if p.kind == "deploy" else p.kind
            _measured(c, recs, METRICS[key], fws)
        if p.kind == "deadline":
            _brevity(c, fws, brevity, {r.model for r in records})
            _deadline_gaps(c, recs, fws)
        scen = {"deploy": f"export-{p.value}" if p.value != "server" else "server",
                "speed": "train", "deadline": "startup", "memory": "memory",
                "accuracy": "accuracy"}.get(p.kind)
        for fw in fws:
            if c.scores.get(fw) is None and p.kind != "deadline":  # deadline: _deadline_gaps
                c.scores[fw] = None
                hint = how_to_measure(scen, fw) if scen else "install the zoos (docs/models.md)"
                c.missing.append(f"{p.label}: no evidence for {fw} (counts 0); {hint}")
        out.criteria.append(c)
    return out
