"""`twinbench recommend`: rank frameworks for a user's priorities, from measured evidence.

Each priority is a criterion that scores every framework in [0, 1] with a 95% interval, and every
score is traceable to the lines it came from (DESIGN.md rule 5: numbers carry their uncertainty).

* **Credit per line, from the interval.** A line is one measured quantity (``analysis.rows``).
  A framework ``ratio`` times worse than the line's best (its ``Comparison`` with the best, 95%
  interval ``[lo, hi]``) earns credit ``1/ratio`` with interval ``[1/hi, min(1, 1/lo)]``: no
  cliff at p = 0.05 — a non-significant 1.4× gap earns 0.71, its interval reaching 1. The best
  earns 1; its interval's low end is ``min(1, lo)`` of its closest tested competitor (how far the
  best could really be behind it), so a best that is not significantly ahead is not certain.
* **Only tested lines score.** Only replicated comparisons (``measure.stats.REPLICATED``: >= 3
  worker processes per side) earn credit. Lines whose comparison is within-process, of single
  values, of too few values, or loaded are shown, marked "untested: not scored", and stay out.
  Sizes (unit ``bytes``: a file, a download) are exact, not timings: their ratio is scored with
  a zero-width interval.
* **Geometric means.** A criterion's score is the geometric mean of its scored lines' credits;
  its interval the geometric means of their low ends and of their high ends. One extreme ratio
  does not dominate as it would an arithmetic mean of ratios.
* **No tested evidence is not zero evidence.** A framework with no scored line for a criterion
  scores None there: it counts 0 in the point total, with an interval [0, 1] (it could be
  anything), and the output names the command that would measure it. A criterion no framework
  has tested evidence for is left out of the totals (and said so).
* **deadline** is time to a working model (two thirds) and code brevity (one third, static
  counts: exact, no interval; over the study's own twin families when it has any). Time to a
  working model = one-off seconds (startup import, build and first step: tracing/compilation is
  inside the first step) + the user's job, ``job_minutes`` at the fastest framework's training
  speed, times how many times slower this framework trains (the geometric mean of its train
  throughput ratios, or of accuracy ``train_wall_time`` ratios when the study has no train rows;
  the interval propagates from those ratios' intervals). Credit = the best total / this total.
  One-off costs are seconds against the job, never ratios: a 4.6 s first step is ~0.1% of a
  60-minute job.
* **Totals and the ranking.** Priorities listed first weigh more (n, n-1, ..., 1); a total is
  the weighted mean of criterion scores, its interval the weighted means of their ends. The
  ranking is *resolved* only when the top framework's interval lies clear of every other's (the
  runner-up's included); the sensitivity table says whether the top changes when one
  criterion's weight is halved or raised by half.

Framework ids go through ``frameworks.base.spec`` (an unknown id is a one-line UserError); a
framework's export and zoo evidence is its ``carrier``'s, its brevity its ``code`` style's.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from twinbench.analysis.claims.base import how_to_measure
from twinbench.analysis.comparisons import compare_records
from twinbench.analysis.rows import Row
from twinbench.analysis.rows import rows as make_rows
from twinbench.analysis.text import fmt, fmt_ci, fmt_value, fmt_worse, not_reached
from twinbench.errors import UserError
from twinbench.frameworks.base import spec
from twinbench.measure.stats import REPLICATED, Comparison
from twinbench.results.schema import Record

KINDS = ("speed", "deadline", "memory", "accuracy", "deploy", "model", "device")
DEPLOY = ("web", "mobile", "server")
EXACT_UNITS = ("bytes",)  # sizes are counted, not timed: their ratio needs no test
METRICS: dict[str, list[tuple[str, str | None]]] = {  # (scenario, metric or None for all)
    "speed": [("train", "throughput"), ("infer", "throughput"), ("infer", "latency_p50")],
    "memory": [("memory", "peak_rss")],
    "accuracy": [("accuracy", None)],
    "server": [("server", "max_qps_within_bound"), ("server", "server_latency_p99")],
}
# one-off seconds before a working model: paid once, whatever the job's length
ONE_OFF = ("import_time", "build_time", "first_step_time")  # startup scenario metrics
SENSITIVITY = (0.5, 1.5)  # factors on one criterion's weight, the others fixed
UNKNOWN = (0.0, 1.0)  # the interval of a score without tested evidence

Interval = tuple[float, float]
Credit = tuple[float, float, float]  # point, low, high


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
    intervals: dict[str, Interval | None] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def scored(self) -> bool:
        """Whether any framework has tested evidence here (else it stays out of the totals)."""
        return any(v is not None for v in self.scores.values())

    def interval(self, fw: str) -> Interval:
        """The score's 95% interval; [0, 1] without tested evidence."""
        return self.intervals.get(fw) or UNKNOWN

    def set(self, fw: str, credit: Credit | None) -> None:
        self.scores[fw] = None if credit is None else credit[0]
        self.intervals[fw] = None if credit is None else (credit[1], credit[2])


@dataclass(frozen=True)
class Sensitivity:
    """The ranking's top when one criterion's weight is multiplied by ``factor``."""

    criterion: str
    factor: float
    top: str
    changed: bool  # True: ``top`` differs from the top at the stated weights


@dataclass
class Recommendation:
    frameworks: list[str]
    criteria: list[Criterion]
    device: str
    job_minutes: float = 60.0

    def _weighted(self, factors: Sequence[float] | None) -> list[tuple[Criterion, float]]:
        f = list(factors) if factors is not None else [1.0] * len(self.criteria)
        return [(c, c.weight * k) for c, k in zip(self.criteria, f, strict=True) if c.scored]

    def total(self, fw: str, factors: Sequence[float] | None = None) -> float:
        """Weighted mean of the criterion scores (None counts 0); ``factors`` scale weights."""
        cw = self._weighted(factors)
        w = sum(k for _, k in cw) or 1.0
        return sum(k * (c.scores.get(fw) or 0.0) for c, k in cw) / w

    def interval(self, fw: str, factors: Sequence[float] | None = None) -> Interval:
        """The total's interval: weighted means of the criterion intervals' ends."""
        cw = self._weighted(factors)
        w = sum(k for _, k in cw) or 1.0
        if not cw:
            return UNKNOWN
        return (sum(k * c.interval(fw)[0] for c, k in cw) / w,
                sum(k * c.interval(fw)[1] for c, k in cw) / w)

    def ranking(self, factors: Sequence[float] | None = None) -> list[tuple[str, float]]:
        return sorted(((f, self.total(f, factors)) for f in self.frameworks),
                      key=lambda t: -t[1])

    @property
    def resolved(self) -> bool:
        """True when the top framework's interval lies clear of every other's."""
        rank = self.ranking()
        if not any(c.scored for c in self.criteria) or not rank:
            return False
        low = self.interval(rank[0][0])[0]
        return all(self.interval(fw)[1] < low for fw, _ in rank[1:])

    def sensitivity(self) -> list[Sensitivity]:
        """Per scored criterion and factor in ``SENSITIVITY``: does the top change?"""
        top = self.ranking()[0][0] if self.frameworks else ""
        out = []
        for i, c in enumerate(self.criteria):
            if not c.scored:
                continue
            for k in SENSITIVITY:
                factors = [k if j == i else 1.0 for j in range(len(self.criteria))]
                new = self.ranking(factors)[0][0]
                out.append(Sensitivity(c.priority.label, k, new, new != top))
        return out


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


# --- credit per line ----------------------------------------------------------------------

def _geo(values: Sequence[float]) -> float:
    return 0.0 if min(values) <= 0 else math.exp(sum(math.log(v) for v in values) / len(values))


def _geo_credit(credits: Sequence[Credit]) -> Credit:
    return (_geo([c[0] for c in credits]), _geo([c[1] for c in credits]),
            _geo([c[2] for c in credits]))


def _ci(c: Credit) -> str:
    return f"{c[0]:.2f} [{c[1]:.2f}, {c[2]:.2f}]"


def _untested(c: Comparison) -> str | None:
    """Why a comparison earns no credit; None when it does."""
    if c.basis != REPLICATED:
        return f"untested: not scored ({c.basis})"
    if c.ratio_ci95 is None:
        return "untested: not scored (no interval)"
    return None


def _worse(row: Row, a: str, b: str) -> Comparison | None:
    """How many times worse ``a`` is than ``b`` on this row (ratio > 1: ``a`` worse)."""
    if row.best == b:
        return row.vs_best(a)
    ra, rb = row.cells[a], row.cells[b]
    return compare_records(*((ra, rb) if row.better == "lower" else (rb, ra)))


def _credit(row: Row, fw: str) -> tuple[Credit | None, str]:
    """(credit with its interval, or None; the line's note) of ``fw`` on ``row``."""
    rec = row.cells[fw]
    exact = row.unit in EXACT_UNITS
    if not_reached(rec):
        return None, "within the budget: no value, not scored"
    if rec.value is None:
        return None, "no value: not scored"
    best = row.best
    if best is not None and best != fw:  # behind the best
        c = row.vs_best(fw)
        if c is None:
            return None, "no comparison: not scored"
        if exact:
            k = 1 / c.ratio
            return (k, k, k), f"{c.ratio:.2f}× worse (exact size); credit {k:.2f}"
        why = _untested(c)
        if why:
            return None, f"{c.ratio:.2f}× worse, {why}"
        lo, hi = c.ratio_ci95  # type: ignore[misc]
        cr = (1 / c.ratio, 1 / hi, min(1.0, 1 / lo))
        return cr, f"{fmt_worse(c)}; credit {_ci(cr)}"
    # the best (or tied for best): its closest tested competitor bounds the interval
    others = [o for o in row.cells if o != fw and row.cells[o].value is not None]
    if not others:
        return None, "only framework measured: nothing to compare, not scored"
    label = "best" if best == fw else "tied for best"
    if exact:
        return (1.0, 1.0, 1.0), f"{label} (exact size); credit 1.00"
    comps = [c for c in (_worse(row, o, fw) for o in others) if c is not None]
    tested = [c for c in comps if _untested(c) is None]
    if not tested:
        why = _untested(comps[0]) if comps else "untested: not scored (no comparison)"
        return None, f"{label}, {why}"
    low = min(1.0, min(c.ratio_ci95[0] for c in tested))  # type: ignore[index]
    cr = (1.0, low, 1.0)
    return cr, f"{label}; credit {_ci(cr)}"


def _lines(c: Criterion, rws: list[Row], want: Callable[[Row], bool],
           indent: str = "") -> dict[str, list[Credit]]:
    """Every wanted row as lines, and each framework's credits from its scored ones."""
    got: dict[str, list[Credit]] = defaultdict(list)
    for row in rws:
        if not want(row) or row.better is None:
            continue
        c.lines.append(f"{indent}{row.scenario} {row.metric} ({row.task}/{row.model}, "
                       f"{row.setting}):")
        for fw, rec in sorted(row.cells.items()):
            credit, note = _credit(row, fw)
            if credit is not None:
                got[fw].append(credit)
            value = f"{fmt_value(rec, rec.unit)} {fmt_ci(rec)}".strip()
            c.lines.append(f"{indent}  {fw}: {value} — {note}")
    return got


def _wanted(pairs: list[tuple[str, str | None]]) -> Callable[[Row], bool]:
    """Rows of these (scenario, metric) pairs; the accuracy scenario's metrics only where
    higher is better (its times and steps are deadline's business)."""
    return lambda row: any(row.scenario == s and (m is None or row.metric == m)
                           for s, m in pairs) and not (
        row.scenario == "accuracy" and row.better == "lower" and ("accuracy", None) in pairs)


def _measured(c: Criterion, rws: list[Row], want: Callable[[Row], bool],
              frameworks: list[str], carrier: bool = False,
              outcomes: dict[str, float] | None = None) -> None:
    """Score = geometric mean of the scored lines' credits (a carrier's, for exports);
    ``outcomes``: exact credits of a measured outcome (a route ran: 1, every one failed: 0)."""
    got = _lines(c, rws, want)
    for fw, v in (outcomes or {}).items():
        got[fw].append((v, v, v))
    for fw in frameworks:
        src = spec(fw).carrier if carrier else fw
        c.set(fw, _geo_credit(got[src]) if got.get(src) else None)
        if src != fw and got.get(src):
            c.lines.append(f"  {fw}: uses {src}'s evidence (same twin, exported the same way)")


def _web(c: Criterion, records: list[Record], frameworks: list[str]) -> None:
    """Best browser variant per framework: steady latency p50, and bytes to download; and
    whether any variant ran at all (an exact outcome: 1, or 0 when every one failed)."""
    web = [r for r in records if r.scenario == "export-web" and r.variant is not None]
    pick: list[Record] = []
    ran: dict[str, float] = {}
    for fw in sorted({r.framework for r in web}):
        ok = {r.variant for r in web if r.framework == fw
              and r.metric == "status" and r.status == "ok" and r.value == 1.0}
        lat = [r for r in web if r.framework == fw and r.variant in ok
               and r.metric == "latency_p50" and r.status == "ok"]
        if lat:
            best = min(lat, key=lambda r: r.value or float("inf"))
            variant = best.variant
            size = sum(r.value or 0 for r in web if r.framework == fw
                       and r.variant == variant and r.metric in ("model_bytes", "runtime_bytes"))
            # one row across frameworks: the best variant's figure, whatever its route
            own = {"route": None, "variant": None}
            pick.append(best.model_copy(update={"metric": "best_variant_latency_p50", **own}))
            if size > 0:
                pick.append(best.model_copy(update={
                    "metric": "best_variant_download", "unit": "bytes", "value": size,
                    "samples": [], "ci95": None, "extra": {}, **own}))
            c.lines.append(f"  {fw}: best browser variant {variant} (a variant ran: credit 1)")
            ran[fw] = 1.0
        elif any(r.framework == fw for r in web):
            c.lines.append(f"  {fw}: no browser variant ran (credit 0; see the report's web "
                           "table)")
            ran[fw] = 0.0
    _measured(c, make_rows(pick), _wanted([("export-web", None)]), frameworks, carrier=True,
              outcomes=ran)


def _mobile(row: Row) -> bool:
    """fp32 and int8-full size and latency rows: the variants every framework's first mobile
    route has (a second route of a worker has prefixed variants of its own)."""
    rec = next(iter(row.cells.values()), None)
    return row.scenario == "export-mobile" and rec is not None \
        and rec.variant in ("fp32", "int8-full") and rec.metric in ("latency_p50", "file_size")


def _model(c: Criterion, name: str, frameworks: list[str], zoos: list[Any] | None) -> None:
    """Pretrained weights in the installed zoos score 1, an architecture alone 0.5 (static
    evidence: exact, a zero-width interval).

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
        for fw in frameworks:
            c.set(fw, (0.5, 0.5, 0.5) if twin else None)
        return
    avail = availability(zoos)
    value = {"pretrained": 1.0, "architecture only": 0.5}
    for fw in frameworks:
        eco = PYTORCH if spec(spec(fw).carrier).family == "pytorch" else KERAS
        state = avail[eco]
        score = None if state.startswith("unknown") else value.get(state, 0.0)
        score = max(score or 0.0, 0.5) if twin else score
        c.set(fw, None if score is None else (score, score, score))
    for eco in (PYTORCH, KERAS):
        c.lines.append(f"  {eco}: {avail[eco]}")
    for z in zoos:
        if z.state != "installed":
            c.missing.append(f"model={name}: zoo {z.zoo} {z.state} ({z.note})")


# --- deadline --------------------------------------------------------------------------------

def _brevity(c: Criterion, frameworks: list[str], counts: list[Any] | None,
             models: set[str]) -> dict[str, float]:
    """Code brevity (shortest / this), over the study's own twin families when it has any (a
    user's deadline is about their model), else over every family. Static: exact."""
    if not counts:
        return {}
    mine = [k for k in counts if k.model in models]
    scope = (f"the study's twin families ({', '.join(sorted({k.model for k in mine}))})"
             if mine else "every twin family (the study has none of them)")
    by: dict[str, list[int]] = defaultdict(list)
    for k in mine or counts:
        by[k.style].append(k.core_statements)
    mean = {s: sum(v) / len(v) for s, v in by.items()}
    best = min(mean.values())
    c.lines.append(f"brevity, a third of deadline (static analysis of the twins: exact, no "
                   f"interval; mean statements over {scope}):")
    for s, v in sorted(mean.items()):
        c.lines.append(f"  {s}: {v:.0f} statements, {best / v:.2f} of the shortest")
    return {fw: best / mean[spec(fw).code] for fw in frameworks if spec(fw).code in mean}


def _one_off(rws: list[Row], frameworks: list[str]) -> dict[str, Credit]:
    """Per framework: one-off seconds (point, low, high), summed over ``ONE_OFF`` metrics, each
    the mean over the study's startup rows; only frameworks with every metric some framework
    has (a partial sum would favour the framework measured least)."""
    per: dict[str, dict[str, list[Credit]]] = defaultdict(lambda: defaultdict(list))
    for row in rws:
        if row.scenario != "startup" or row.metric not in ONE_OFF:
            continue
        for fw, r in row.cells.items():
            if r.value is not None:
                lo, hi = r.ci95 or (r.value, r.value)
                per[fw][row.metric].append((r.value, min(lo, r.value), max(hi, r.value)))
    metrics = {m for d in per.values() for m in d}
    out = {}
    for fw in frameworks:
        if per.get(fw) and set(per[fw]) == metrics:
            parts = [[sum(x[i] for x in v) / len(v) for i in range(3)] for v in per[fw].values()]
            out[fw] = (sum(p[0] for p in parts), sum(p[1] for p in parts),
                       sum(p[2] for p in parts))
    return out


def _deadline(c: Criterion, rws: list[Row], frameworks: list[str], job_minutes: float,
              counts: list[Any] | None, models: set[str]) -> None:
    job_s = job_minutes * 60
    train = [r for r in rws if r.scenario == "train" and r.metric == "throughput"]
    pick, what = (("train", "throughput"), "train throughput") if train else \
        (("accuracy", "train_wall_time"), "accuracy training wall time")
    c.lines.append(f"time to a working model (two thirds of deadline) = one-off seconds "
                   f"(startup: {', '.join(ONE_OFF)}) + a {job_minutes:g}-minute job at the "
                   f"fastest framework's training speed × how many times slower this one "
                   f"trains ({what}, geometric mean of tested lines):")
    got = _lines(c, rws, _wanted([pick]), "  ")
    # job multiplier: times slower than the fastest, the reciprocal of the credit
    mult: dict[str, Credit] = {}
    for fw in frameworks:
        if got.get(fw):
            g = _geo_credit(got[fw])
            mult[fw] = (1 / g[0], 1 / g[2], 1 / g[1])
    once = _one_off(rws, frameworks)
    use_once = bool(mult) and all(fw in once for fw in mult)
    if mult and not use_once:
        lacking = [fw for fw in mult if fw not in once]
        c.missing.append(f"deadline: no startup records for {', '.join(lacking)}: one-off "
                         f"seconds left out for every framework; "
                         f"{how_to_measure('startup', lacking[0])} measures them")
    total: dict[str, Credit] = {}
    for fw, (m, mlo, mhi) in mult.items():
        o = once[fw] if use_once else (0.0, 0.0, 0.0)
        total[fw] = (o[0] + job_s * m, o[1] + job_s * mlo, o[2] + job_s * mhi)
    fastest = min(t[0] for t in total.values()) if total else 0.0
    time_credit = {fw: (fastest / t[0], fastest / t[2], min(1.0, fastest / t[1]))
                   for fw, t in total.items()}
    if total:
        c.lines.append(f"  totals ({job_minutes:g} min job = {fmt(job_s, 's')} at the fastest "
                       "training speed):")
    for fw, t in total.items():
        m, mlo, mhi = mult[fw]
        one = once[fw][0] if use_once else None
        head = "one-off not counted" if one is None else \
            f"one-off {fmt(one, 's')} ({one / t[0]:.2%} of its total)"
        c.lines.append(f"  {fw}: {head} + job {fmt(job_s * m, 's')} ({m:.2f}× [{mlo:.2f}, "
                       f"{mhi:.2f}]) = {fmt(t[0], 's')} [{fmt(t[1])}, {fmt(t[2])}]; credit "
                       f"{_ci(time_credit[fw])}")
    for fw in frameworks:
        if fw not in total:
            c.lines.append(f"  {fw}: no tested training speed: time to a working model "
                           "unknown (counts 0, interval [0, 1])")
    brev = _brevity(c, frameworks, counts, models)
    for fw in frameworks:
        tc, b = time_credit.get(fw), brev.get(fw)
        if tc is None and b is None:
            c.set(fw, None)
        elif b is None:
            c.set(fw, tc)
        else:
            lo, hi = (tc[1], tc[2]) if tc else UNKNOWN
            c.set(fw, ((2 * (tc[0] if tc else 0.0) + b) / 3, (2 * lo + b) / 3,
                       (2 * hi + b) / 3))
        if tc is None:
            basis = "scored on code brevity alone, at a third" if b is not None else "counts 0"
            scen = "train" if train else "accuracy"
            c.missing.append(f"deadline: no tested training speed ({what}, >= 3 worker "
                             f"processes) for {fw} ({basis}); {how_to_measure(scen, fw)} "
                             "measures it")


# --- the entry point -----------------------------------------------------------------------

def check_job_minutes(job_minutes: float) -> float:
    """``job_minutes`` if it is a finite number > 0, else a one-line UserError."""
    if not 0 < job_minutes < math.inf:
        raise UserError(f"--job-minutes must be a number > 0 (got {job_minutes:g}): the "
                        "length of the training job a framework is chosen for")
    return job_minutes


SCENARIO = {"speed": "train", "memory": "memory", "accuracy": "accuracy"}


def recommend(records: list[Record], priorities: list[Priority], brevity: list[Any] | None = None,
              zoos: dict[str, list[Any]] | None = None, frameworks: list[str] | None = None,
              job_minutes: float = 60.0, rows: list[Row] | None = None) -> Recommendation:
    """Score every framework for each priority; ``rows``: ``analysis.rows.rows(records)`` when
    the caller has them (computed here when None)."""
    from twinbench.frameworks.base import FRAMEWORKS

    check_job_minutes(job_minutes)
    device = next((p.value for p in priorities if p.kind == "device"), None) or "cpu"
    fws = [spec(f).id for f in (frameworks or list(dict.fromkeys(r.framework for r in records))
                                or list(FRAMEWORKS))]
    all_rows = make_rows(records) if rows is None else rows
    rws = [r for r in all_rows if r.device == device]
    crit = [p for p in priorities if p.kind != "device"]
    out = Recommendation(fws, [], device, job_minutes)
    if records and not any(r.status == "ok" and r.device == device for r in records):
        out.device = f"{device} (no records on this device: none of the measured lines apply)"
    for i, p in enumerate(crit):
        c = Criterion(p, len(crit) - i)
        if p.kind == "model":
            _model(c, p.value or "", fws, (zoos or {}).get(p.value or ""))
        elif p.kind == "deploy" and p.value == "web":
            _web(c, [r for r in records if r.device == device], fws)  # failures count
        elif p.kind == "deploy" and p.value == "mobile":
            _measured(c, rws, _mobile, fws, carrier=True)
        elif p.kind == "deadline":
            _deadline(c, rws, fws, job_minutes, brevity, {r.model for r in records})
        else:
            _measured(c, rws, _wanted(METRICS["server" if p.kind == "deploy" else p.kind]),
                      fws)
        scen = {"deploy": f"export-{p.value}" if p.value != "server" else "server"}.get(
            p.kind, SCENARIO.get(p.kind))
        for fw in fws:
            if c.scores.get(fw) is None and p.kind != "deadline":  # deadline: _deadline
                c.scores[fw], c.intervals[fw] = None, None
                hint = how_to_measure(scen, fw) if scen else "install the zoos (docs/models.md)"
                c.missing.append(f"{p.label}: no tested evidence for {fw} (counts 0, interval "
                                 f"[0, 1]); {hint} measures it")
        if not c.scored:
            c.missing.append(f"{p.label}: no framework has tested evidence: left out of the "
                             "totals")
        out.criteria.append(c)
    return out
