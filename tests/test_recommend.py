"""`twinbench recommend`: scores follow the priorities, and missing evidence is explained."""

from __future__ import annotations

import pytest

from test_report import rec, spread, study_records
from twinbench.brevity import Count
from twinbench.errors import UserError
from twinbench.recommend import Priority, parse_priorities, recommend
from twinbench.zoos import Hit, ZooResult


def _top(records, text, **kw) -> str:
    return recommend(records, parse_priorities(text), **kw).ranking()[0][0]


def test_priorities_move_the_ranking_the_right_way():
    recs = study_records()  # pytorch trains 2x faster, keras-tf starts and finishes sooner
    assert _top(recs, "speed") == "pytorch"
    assert _top(recs, "deadline") == "keras-tf"
    speed_first = recommend(recs, parse_priorities("speed,deadline"))
    deadline_first = recommend(recs, parse_priorities("deadline,speed"))
    # putting speed first must help the faster framework, and hurt the other one
    assert speed_first.total("pytorch") > deadline_first.total("pytorch")
    assert speed_first.total("keras-tf") < deadline_first.total("keras-tf")


def test_speed_score_is_one_when_the_gap_is_not_significant():
    recs = [rec("pytorch", "infer", "latency_p50", 5.0, samples=spread(5.0, rel=0.05)),
            rec("keras-tf", "infer", "latency_p50", 5.02, samples=spread(5.02, rel=0.05,
                                                                          seed=3))]
    r = recommend(recs, [Priority("speed")])
    assert r.criteria[0].scores == {"pytorch": 1.0, "keras-tf": 1.0}
    assert any("not significant" in ln for ln in r.criteria[0].lines)


def test_brevity_pulls_deadline_scores_toward_the_shorter_code():
    recs = [rec("pytorch", "startup", "import_time", 1.0, "s"),
            rec("keras-tf", "startup", "import_time", 1.0, "s")]
    short, long_ = Count("resnet", "keras"), Count("resnet", "pytorch")
    short.statements["model definition"], long_.statements["model definition"] = 50, 100
    r = recommend(recs, [Priority("deadline")], brevity=[short, long_])
    assert r.criteria[0].scores["keras-tf"] > r.criteria[0].scores["pytorch"]


def test_missing_evidence_is_explained_with_the_study_that_supplies_it():
    recs = [r for r in study_records() if r.scenario not in ("export-mobile", "export-web")]
    r = recommend(recs, parse_priorities("deploy=mobile,memory"))
    missing = [m for c in r.criteria for m in c.missing]
    assert any("deploy=mobile: no evidence for pytorch" in m and "--preset mobile" in m
               for m in missing)
    assert any(m.startswith("memory: no evidence for keras-tf") for m in missing)
    assert all(c.scores[f] is None for c in r.criteria for f in r.frameworks)


def test_mobile_evidence_is_shared_by_frameworks_exporting_the_same_twin():
    recs = study_records()
    r = recommend(recs, parse_priorities("deploy=mobile"),
                  frameworks=["pytorch", "keras-tf", "keras-jax"])
    c = r.criteria[0]
    assert c.scores["keras-jax"] == c.scores["keras-tf"] is not None
    assert any("keras-jax: uses keras-tf's evidence" in ln for ln in c.lines)


def test_model_priority_uses_the_zoo_search_and_unknown_zoos_are_not_zero():
    # a model twinbench has no twin of (DETR has one now, so it would score 1.0 on both sides)
    zoos = {"yolos": [ZooResult("transformers", "transformers", "installed", "5",
                                [Hit("transformers", "PyTorch", "YolosModel", True)]),
                      ZooResult("keras_hub", "keras-hub", "not installed")]}
    r = recommend([], parse_priorities("model=yolos"), zoos=zoos,
                  frameworks=["pytorch", "keras-tf"])
    c = r.criteria[0]
    assert c.scores["pytorch"] == 1.0
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


def test_deadline_without_timing_records_says_what_is_missing():
    short, long_ = Count("resnet", "keras"), Count("resnet", "pytorch")
    short.statements["model definition"], long_.statements["model definition"] = 50, 100
    r = recommend([], [Priority("deadline")], brevity=[short, long_],
                  frameworks=["pytorch", "keras-tf"])
    c = r.criteria[0]
    assert c.scores["keras-tf"] > c.scores["pytorch"] > 0  # brevity alone, a third of the score
    for fw in ("pytorch", "keras-tf"):
        (line,) = [m for m in c.missing if f"records for {fw}" in m]
        assert "startup" in line and "time-to-target" in line and "brevity alone" in line
        assert f"twinbench run --preset quick --framework {fw}" in line
    # startup measured, accuracy not: only the time-to-target gap is named
    recs = [rec(fw, "startup", "import_time", 1.0, "s") for fw in ("pytorch", "keras-tf")]
    c = recommend(recs, [Priority("deadline")]).criteria[0]
    assert len(c.missing) == 2 and all("startup" not in m and "time-to-target" in m
                                       for m in c.missing)


def test_time_to_target_not_reached_earns_no_deadline_credit():
    recs = [rec("pytorch", "accuracy", "time_to_target", 30.0, "s"),
            rec("keras-tf", "accuracy", "time_to_target", None, "s", extra={"reached": False})]
    c = recommend(recs, [Priority("deadline")]).criteria[0]
    assert c.scores == {"pytorch": 1.0, "keras-tf": 0.0}
    assert any("not reached" in ln for ln in c.lines)


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
