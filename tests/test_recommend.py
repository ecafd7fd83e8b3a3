"""`twinbench recommend`: credit from intervals, geometric means, one-off costs against the job,
the sensitivity of the ranking, and missing evidence explained.

Intervals come from the real statistics: records carry three worker processes' values
(``extra.process_values``), so ``analysis.comparisons.compare_records`` runs Welch's test.
"""

from __future__ import annotations

import math
import re

import pytest
import scipy.stats  # noqa: F401  (the Welch test's import, paid once at collection)

from test_report import rec, spread, study_records
from twinbench.analysis.claims.base import (
    CONFIRMED,
    INCONCLUSIVE,
    NOT_MEASURED,
    REFUTED,
    Evidence,
)
from twinbench.analysis.claims.ecosystem import c12
from twinbench.analysis.recommend import Priority, parse_priorities, recommend
from twinbench.analysis.rows import rows
from twinbench.brevity import Count
from twinbench.errors import UserError
from twinbench.measure.stats import REPLICATED
from twinbench.zoos import Hit, ZooResult

TIGHT = (0.99, 1.0, 1.01)  # three processes' values around a centre: a narrow interval
NOISY = (0.8, 1.0, 1.25)  # wide enough that a 1.4x gap is not significant


def measured(fw: str, scenario: str, metric: str, center: float, unit: str = "ms",
             better: str = "lower", noise: tuple[float, ...] = TIGHT, model: str = "resnet"):
    """A record measured in three worker processes (testable across processes)."""
    per = [center * k for k in noise]
    return rec(fw, scenario, metric, center, unit, better, per, model=model,
               extra={"processes": len(per), "process_values": per})


def brevity(keras: int = 50, pytorch: int = 100) -> list[Count]:
    short, long_ = Count("resnet", "keras"), Count("resnet", "pytorch")
    short.statements["model definition"], long_.statements["model definition"] = keras, pytorch
    return [short, long_]


def _top(records, text, **kw) -> str:
    return recommend(records, parse_priorities(text), **kw).ranking()[0][0]


def test_no_cliff_a_non_significant_gap_earns_its_ratio_with_an_interval_reaching_one():
    recs = [measured("pytorch", "infer", "latency_p50", 5.0, noise=NOISY),
            measured("keras-tf", "infer", "latency_p50", 7.0, noise=NOISY)]
    r = recommend(recs, [Priority("speed")])
    (row,) = rows(recs)
    c = row.vs_best("keras-tf")
    assert c.basis == REPLICATED and c.significant is False  # the real Welch test: n.s.
    assert c.ratio == pytest.approx(1.4)
    crit = r.criteria[0]
    assert crit.scores["keras-tf"] == pytest.approx(1 / 1.4, abs=1e-9)  # ~0.71, not 1.0
    lo, hi = crit.intervals["keras-tf"]
    assert lo == pytest.approx(1 / c.ratio_ci95[1]) and hi == 1.0
    # the best is 1, its interval reaching down to its closest competitor's low ratio
    assert crit.scores["pytorch"] == 1.0
    assert crit.intervals["pytorch"] == (pytest.approx(c.ratio_ci95[0]), 1.0)
    assert not r.resolved  # the intervals overlap: said, not hidden
    (line,) = [ln for ln in crit.lines if ln.strip().startswith("keras-tf")]
    assert "1.40× worse" in line and "n.s." in line and "credit 0.71 [" in line


def test_geometric_mean_keeps_one_extreme_ratio_from_dominating():
    # keras-tf is 10x worse on one model and best on two; pytorch 4x worse on two
    spec = {"resnet": (1.0, 10.0), "mobilenet": (4.0, 1.0), "unet": (4.0, 1.0)}
    recs = [measured(fw, "infer", "latency_p50", v, model=m)
            for m, (pt, kt) in spec.items() for fw, v in (("pytorch", pt), ("keras-tf", kt))]
    r = recommend(recs, [Priority("speed")])
    crit = r.criteria[0]
    credits = {fw: [1 / row.vs_best(fw).ratio if row.vs_best(fw) else 1.0 for row in rows(recs)]
               for fw in ("pytorch", "keras-tf")}
    for fw, cs in credits.items():  # the score is the geometric mean of the lines' credits
        assert crit.scores[fw] == pytest.approx(math.prod(cs) ** (1 / 3), rel=1e-9)
    assert crit.scores["keras-tf"] == pytest.approx(0.1 ** (1 / 3), rel=1e-9)
    assert crit.scores["pytorch"] == pytest.approx(0.0625 ** (1 / 3), rel=1e-9)
    # an arithmetic mean of ratios would let the one 10x line decide: (10+1+1)/3 > (1+4+4)/3
    mean_ratio = {fw: sum(1 / x for x in cs) / 3 for fw, cs in credits.items()}
    assert mean_ratio["keras-tf"] > mean_ratio["pytorch"]
    assert r.ranking()[0][0] == "keras-tf"
    lo, hi = crit.intervals["keras-tf"]
    assert lo < crit.scores["keras-tf"] <= hi


def test_untested_lines_are_shown_but_not_scored():
    single = [rec("pytorch", "infer", "latency_p50", 5.0), rec("keras-tf", "infer",
                                                               "latency_p50", 10.0)]
    within = [rec(fw, "infer", "throughput", v, "samples/s", "higher", spread(v, seed=i),
                  extra={}) for i, (fw, v) in enumerate((("pytorch", 100), ("keras-tf", 50)))]
    r = recommend(single + within, [Priority("speed")])
    crit = r.criteria[0]
    assert crit.scores == {"pytorch": None, "keras-tf": None}
    assert not crit.scored and r.ranking() and not r.resolved
    text = "\n".join(crit.lines)
    assert "2.00× worse, untested: not scored (single values)" in text
    assert "untested: not scored (within-process only)" in text
    assert any("no tested evidence for keras-tf" in m and
               "twinbench run --preset quick --framework keras-tf" in m for m in crit.missing)
    # one tested line: only it is scored, the untested one is still shown
    tested = [measured("pytorch", "train", "throughput", 100, "samples/s", "higher"),
              measured("keras-tf", "train", "throughput", 80, "samples/s", "higher")]
    crit = recommend(single + tested, [Priority("speed")]).criteria[0]
    assert crit.scores["keras-tf"] == pytest.approx(0.8)
    assert any("single values" in ln for ln in crit.lines)


def _deadline_records(first_step_pytorch: float) -> list:
    return [measured("pytorch", "train", "throughput", 100.0, "samples/s", "higher"),
            measured("keras-tf", "train", "throughput", 100.5, "samples/s", "higher"),
            rec("pytorch", "startup", "import_time", 1.0, "s"),
            rec("keras-tf", "startup", "import_time", 1.0, "s"),
            rec("pytorch", "startup", "first_step_time", first_step_pytorch, "s"),
            rec("keras-tf", "startup", "first_step_time", 0.17, "s")]


def test_one_off_seconds_count_against_the_job_not_as_ratios():
    recs = _deadline_records(4.6)  # a 4.6 s first step, 27x keras-tf's
    hour = recommend(recs, [Priority("deadline")]).criteria[0]
    assert hour.scores["pytorch"] > 0.99  # barely moves against a 60-minute job
    (line,) = [ln for ln in hour.lines if ln.strip().startswith("pytorch: one-off")]
    assert re.search(r"one-off 5\.60 s \(0\.1\d% of its total\)", line) and "credit" in line
    short = recommend(recs, [Priority("deadline")], job_minutes=0.1).criteria[0]
    assert short.scores["pytorch"] < 0.75  # a 6-second job: the first step matters
    assert short.scores["keras-tf"] == 1.0
    lo, hi = short.intervals["pytorch"]
    assert lo <= short.scores["pytorch"] <= hi
    # the job's part follows training speed: half the speed, about twice the time
    slow = recs[:1] + [measured("keras-tf", "train", "throughput", 50, "samples/s", "higher")]
    c = recommend(slow + recs[2:], [Priority("deadline")]).criteria[0]
    assert c.scores["keras-tf"] == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("bad", [0, -5, float("nan"), float("inf")])
def test_job_minutes_must_be_positive(bad):
    with pytest.raises(UserError, match="--job-minutes must be a number > 0"):
        recommend([], [Priority("deadline")], job_minutes=bad)


def _speed_memory() -> list:
    # pytorch 1.25x faster, keras-tf half the memory: the weights decide
    return [measured("pytorch", "train", "throughput", 125, "samples/s", "higher"),
            measured("keras-tf", "train", "throughput", 100, "samples/s", "higher"),
            measured("pytorch", "memory", "peak_rss", 2000, "MiB"),
            measured("keras-tf", "memory", "peak_rss", 1000, "MiB")]


def test_sensitivity_table_says_when_a_weight_change_flips_the_top():
    r = recommend(_speed_memory(), parse_priorities("speed,memory"))
    # weights 2, 1: pytorch (2 + 0.5) / 3 = 0.83 < keras-tf (2 * 0.8 + 1) / 3 = 0.87
    assert r.ranking()[0][0] == "keras-tf" and r.resolved
    table = {(s.criterion, s.factor): (s.top, s.changed) for s in r.sensitivity()}
    assert table == {("speed", 0.5): ("keras-tf", False), ("speed", 1.5): ("pytorch", True),
                     ("memory", 0.5): ("pytorch", True), ("memory", 1.5): ("keras-tf", False)}
    # a criterion's interval is the geometric mean of its lines' interval ends
    lo, hi = r.criteria[0].intervals["keras-tf"]
    assert lo < 0.8 < hi < 1.0


def test_ranking_is_not_resolved_when_intervals_overlap():
    recs = [measured("pytorch", "train", "throughput", 104, "samples/s", "higher", NOISY),
            measured("keras-tf", "train", "throughput", 100, "samples/s", "higher", NOISY)]
    r = recommend(recs, [Priority("speed")])
    assert r.ranking()[0][0] == "pytorch" and not r.resolved
    lo_top, _ = r.interval("pytorch")
    assert r.interval("keras-tf")[1] >= lo_top


def test_unknown_framework_ids_are_one_line_user_errors():
    with pytest.raises(UserError, match="unknown framework 'tensorflow'"):
        recommend([], [Priority("speed")], frameworks=["tensorflow"])
    with pytest.raises(UserError, match="unknown framework 'mxnet'"):
        recommend([rec("mxnet", "infer", "latency_p50", 5.0)], [Priority("speed")])


def test_precomputed_rows_are_used_as_given(monkeypatch):
    import twinbench.analysis.recommend as mod

    recs = _speed_memory()
    given = rows(recs)
    monkeypatch.setattr(mod, "make_rows", lambda _: pytest.fail("rows computed twice"))
    r = recommend(recs, parse_priorities("speed,memory"), rows=given)
    assert r.ranking()[0][0] == "keras-tf"


def test_priorities_move_the_ranking_the_right_way():
    # pytorch infers twice as fast; keras-tf starts sooner and trains as fast (n.s.)
    recs = _deadline_records(30.0) + [
        measured("pytorch", "infer", "latency_p50", 5.0),
        measured("keras-tf", "infer", "latency_p50", 10.0)]
    assert _top(recs, "speed") == "pytorch"
    assert _top(recs, "deadline", job_minutes=1) == "keras-tf"
    speed_first = recommend(recs, parse_priorities("speed,deadline"), job_minutes=1)
    deadline_first = recommend(recs, parse_priorities("deadline,speed"), job_minutes=1)
    assert speed_first.total("pytorch") > deadline_first.total("pytorch")
    assert speed_first.total("keras-tf") < deadline_first.total("keras-tf")


def test_brevity_pulls_deadline_scores_toward_the_shorter_code():
    recs = _deadline_records(0.17)
    c = recommend(recs, [Priority("deadline")], brevity=brevity()).criteria[0]
    assert c.scores["keras-tf"] > c.scores["pytorch"]
    # brevity is exact: a third of the score, adding no width to the interval
    lo, hi = c.intervals["pytorch"]
    t = recommend(recs, [Priority("deadline")]).criteria[0].intervals["pytorch"]
    assert hi - lo == pytest.approx(2 / 3 * (t[1] - t[0]))


def test_deadline_without_tested_training_speed_says_what_is_missing():
    r = recommend([], [Priority("deadline")], brevity=brevity(),
                  frameworks=["pytorch", "keras-tf"])
    c = r.criteria[0]
    assert c.scores["keras-tf"] == pytest.approx(1 / 3)  # brevity alone, a third
    assert c.intervals["keras-tf"] == (pytest.approx(1 / 3), pytest.approx(1.0))  # time unknown
    for fw in ("pytorch", "keras-tf"):
        (line,) = [m for m in c.missing if f"for {fw} " in m]
        assert "no tested training speed" in line and "brevity alone" in line
        assert f"twinbench run --preset quick --framework {fw}" in line


def test_deadline_brevity_uses_the_study_models_only():
    counts = []
    for model, keras_n, torch_n in (("resnet", 50, 100), ("detr", 300, 100)):
        for style, n in (("keras", keras_n), ("pytorch", torch_n)):
            k = Count(model, style)
            k.statements["model definition"] = n
            counts.append(k)

    def deadline(model):
        recs = [rec(fw, "startup", "import_time", 1.0, "s", model=model)
                for fw in ("pytorch", "keras-tf")]
        return recommend(recs, [Priority("deadline")], brevity=counts).criteria[0]

    resnet, detr = deadline("resnet"), deadline("detr")
    assert resnet.scores["keras-tf"] > resnet.scores["pytorch"]
    assert detr.scores["pytorch"] > detr.scores["keras-tf"]  # all families: keras would win
    assert any("study's twin families (detr)" in ln for ln in detr.lines)
    other = deadline("no-twin")  # no count for the study's model: every family, said so
    assert any("every twin family" in ln for ln in other.lines)


def test_missing_evidence_is_explained_with_the_study_that_supplies_it():
    recs = [r for r in study_records() if r.scenario not in ("export-mobile", "export-web")]
    r = recommend(recs, parse_priorities("deploy=mobile,memory"))
    missing = [m for c in r.criteria for m in c.missing]
    assert any("deploy=mobile: no tested evidence for pytorch" in m and "--preset mobile" in m
               for m in missing)
    assert any(m.startswith("memory: no tested evidence for keras-tf") for m in missing)
    assert all(c.scores[f] is None for c in r.criteria for f in r.frameworks)


def test_mobile_evidence_is_shared_by_frameworks_exporting_the_same_twin():
    r = recommend(study_records(), parse_priorities("deploy=mobile"),
                  frameworks=["pytorch", "keras-tf", "keras-jax"])
    c = r.criteria[0]
    assert c.scores["keras-jax"] == c.scores["keras-tf"] is not None
    assert any("keras-jax: uses keras-tf's evidence" in ln for ln in c.lines)
    # file sizes are exact: scored although single values; pytorch's are 1.1x keras-tf's
    assert any("1.10× worse (exact size); credit 0.91" in ln for ln in c.lines)
    assert c.scores["pytorch"] < c.scores["keras-tf"]


def test_web_failure_is_a_measured_outcome():
    c = recommend(study_records(), parse_priorities("deploy=web")).criteria[0]
    assert c.scores == {"pytorch": 0.0, "keras-tf": 1.0}
    assert any("no browser variant ran" in ln for ln in c.lines)


def test_web_best_variants_of_two_frameworks_meet_in_one_row():
    """Each framework's best browser variant (its route and variant fields) is compared in one
    row, whatever the variant is called."""
    recs = []
    for fw, route, variant, lat in (("keras-tf", "keras-tfjs", "tfjs-wasm-1t", 3.0),
                                    ("pytorch", "torch-ort-web", "ort-wasm-1t", 1.5)):
        at = {"route": route, "variant": variant}
        recs += [rec(fw, "export-web", "status", 1.0, "", None, extra={"state": "ok"}, **at),
                 rec(fw, "export-web", "latency_p50", lat, samples=spread(lat, seed=3), **at),
                 rec(fw, "export-web", "model_bytes", 1e6, "bytes", **at)]
    c = recommend(recs, parse_priorities("deploy=web")).criteria[0]
    assert sum("export-web best_variant_latency_p50 " in ln for ln in c.lines) == 1
    assert any("pytorch: best browser variant ort-wasm-1t" in ln for ln in c.lines)
    assert c.scores["pytorch"] > c.scores["keras-tf"]


def test_mobile_rows_are_the_first_routes_fp32_and_int8_variants():
    """A second route of a worker (PyTorch -> LiteRT's "litert-fp32") is not scored against
    the other framework's fp32: only variants every framework's first route has."""
    from twinbench.analysis.recommend import _mobile
    from twinbench.analysis.rows import rows

    recs = [rec("pytorch", "export-mobile", "file_size", 1e6, "bytes", route=r, variant=v)
            for r, v in (("torch-executorch", "fp32"), ("torch-litert", "litert-fp32"))]
    picked = [row.variant for row in rows(recs) if _mobile(row)]
    assert picked == ["fp32"]


def test_model_priority_uses_the_zoo_search_and_unknown_zoos_are_not_zero():
    # a model twinbench has no twin of (DETR has one now, so it would score 1.0 on both sides)
    zoos = {"yolos": [ZooResult("transformers", "transformers", "installed", "5",
                                [Hit("transformers", "PyTorch", "YolosModel", True)]),
                      ZooResult("keras_hub", "keras-hub", "not installed")]}
    r = recommend([], parse_priorities("model=yolos"), zoos=zoos,
                  frameworks=["pytorch", "keras-tf"])
    c = r.criteria[0]
    assert c.scores["pytorch"] == 1.0 and c.intervals["pytorch"] == (1.0, 1.0)  # static
    assert c.scores["keras-tf"] is None  # keras_hub not searched: unknown, not "absent"
    assert any("keras_hub not installed" in m for m in c.missing)


def _zoo(torch_pretrained: bool, keras_pretrained: bool) -> list[ZooResult]:
    return [ZooResult("transformers", "transformers", "installed", "5",
                      [Hit("transformers", "PyTorch", "DetrModel", True)] if torch_pretrained
                      else []),
            ZooResult("keras_hub", "keras-hub", "installed", "0.3",
                      [Hit("keras_hub", "Keras 3", "detr_preset", True)] if keras_pretrained
                      else []),
            ZooResult("keras.applications", "keras", "installed", "3", [])]


def test_a_twinbench_twin_still_scores_pretrained_weights_from_the_zoos():
    fws = ["pytorch", "keras-tf"]

    def scores(zoo):
        r = recommend([], parse_priorities("model=detr"), zoos={"detr": zoo} if zoo else None,
                      frameworks=fws)
        return r.criteria[0]

    torch_only, keras_only, unknown = scores(_zoo(True, False)), scores(_zoo(False, True)), \
        scores(None)
    # pretrained 1.0; the twin's architecture alone 0.5, never 0: twinbench ships it
    assert torch_only.scores == {"pytorch": 1.0, "keras-tf": 0.5}
    assert keras_only.scores == {"pytorch": 0.5, "keras-tf": 1.0}
    assert any("twinbench twin" in ln for ln in torch_only.lines)
    assert any(ln.strip().startswith("PyTorch: pretrained") for ln in torch_only.lines)
    assert unknown.scores == {"pytorch": 0.5, "keras-tf": 0.5}
    assert any("no zoo search" in m for m in unknown.missing)


@pytest.mark.parametrize(("text", "needle"), [
    ("fast", "unknown priority 'fast'"), ("deploy=moon", "deploy target must be one of"),
    ("model", "needs a value"), ("device=cpu", "besides device")])
def test_bad_priorities_are_one_line_user_errors(text, needle):
    with pytest.raises(UserError, match=needle):
        parse_priorities(text)


def test_device_without_records_says_so():
    r = recommend(study_records(), parse_priorities("speed,device=cuda"))
    assert "no records on this device" in r.device
    assert all(v is None for v in r.criteria[0].scores.values())


def _train(pytorch: float, keras: float, noise=TIGHT) -> list:
    return [measured("pytorch", "train", "throughput", pytorch, "samples/s", "higher", noise),
            measured("keras-tf", "train", "throughput", keras, "samples/s", "higher", noise)]


@pytest.mark.parametrize(("records", "verdict"), [
    (_train(100, 200), CONFIRMED),  # keras-tf trains twice as fast, shorter code
    (_train(200, 100), REFUTED),  # pytorch trains twice as fast: brevity cannot make it up
    (_train(104, 100, NOISY), INCONCLUSIVE),  # a gap the test cannot separate
    ([measured(fw, "infer", "latency_p50", 5.0) for fw in ("pytorch", "keras-tf")],
     NOT_MEASURED),
    ([], NOT_MEASURED),
])
def test_c12_follows_the_deadline_ranking_and_its_resolution(records, verdict):
    res = c12(Evidence(records, brevity=brevity()))
    assert res.verdict == verdict, res.summary
    if verdict in (CONFIRMED, REFUTED):
        assert "ranks first" in res.summary and "interval clear" in res.summary
        assert any("deadline score" in e and "[" in e for e in res.evidence)
    if verdict == INCONCLUSIVE:
        assert "not resolved" in res.summary
    if verdict == NOT_MEASURED:
        assert res.missing.startswith("twinbench run")
