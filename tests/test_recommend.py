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
    for model in ("resnet", "detr"):
        twin = recommend([], parse_priorities(f"model={model}"), frameworks=["pytorch", "keras-tf"])
        assert set(twin.criteria[0].scores.values()) == {1.0}


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
