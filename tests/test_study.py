"""Study validation: presets, overrides, and one-line errors naming file, field and expectation."""

from __future__ import annotations

import pytest

from twinbench.errors import UserError
from twinbench.plan import plan
from twinbench.study import PRESETS, load_study


def test_quick_preset_is_valid_and_plans_parity_first():
    study = load_study(preset="quick")
    assert study.frameworks == ["pytorch", "keras-tf"]
    assert study.processes == 3  # it feeds verdicts: replicated across worker processes
    jobs = plan(study)
    scenarios = [(j.scenario, j.before) for j in jobs]
    # each framework's machine ceiling runs first in its parity worker (one import fewer)
    assert scenarios[:2] == [("parity", ("ceiling",)), ("parity", ("ceiling",))]
    assert len(jobs) == 2 + 3 * 2 * 4  # memory rides on startup's cold worker
    keras_timed = [j for j in jobs if j.framework == "keras-tf" and j.task != "machine"
                   and j.scenario != "parity"]
    assert all(j.needs == "image-classification/resnet/keras-tf/parity" for j in keras_timed)
    assert all(j.needs is None for j in jobs if j.framework == "pytorch")


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_validates_and_plans(name):
    study = load_study(preset=name)
    assert study.name == name and plan(study)  # models in tasks, scenarios known


def test_overrides_split_commas_and_dedupe():
    s = load_study(preset="quick", overrides={"frameworks": ["pytorch,keras-jax", "pytorch"],
                                              "scenarios": ["train"]})
    assert s.frameworks == ["pytorch", "keras-jax"]
    assert s.scenarios == ["train"]


def test_processes_repeat_timed_jobs_interleaved_across_frameworks():
    s = load_study(preset="quick", overrides={"processes": 3, "scenarios": ["train"]})
    timed = [j for j in plan(s) if j.scenario == "train"]
    assert [j.job_id.rsplit("/", 1)[1] for j in timed] == ["train#1", "train#1", "train#2",
                                                            "train#2", "train#3", "train#3"]
    assert [j.framework for j in timed[:2]] == ["pytorch", "keras-tf"]


def test_memory_rides_on_the_startup_job_only_when_both_are_selected():
    both = plan(load_study(preset="quick", overrides={"scenarios": ["memory", "startup"],
                                                      "processes": 1}))
    cold = [j for j in both if j.framework == "pytorch" and j.scenario != "parity"]
    assert [(j.scenario, j.also) for j in cold] == [("startup", ("memory",))]
    assert cold[0].scenarios == ("startup", "memory")
    alone = plan(load_study(preset="quick", overrides={"scenarios": ["memory"], "processes": 1}))
    assert [(j.scenario, j.also) for j in alone if j.framework == "pytorch"
            and j.scenario != "parity"] == [("memory", ())]


def test_job_round_trips_through_json_with_its_riders():
    import json

    from twinbench.plan import Job

    job = next(j for j in plan(load_study(preset="quick")) if j.also)
    assert Job.from_dict(json.loads(json.dumps(job.to_dict()))) == job


def test_ceiling_is_its_own_job_where_no_parity_worker_can_host_it():
    alone = plan(load_study(preset="quick", overrides={"frameworks": ["pytorch"]}))
    assert [(j.job_id, j.task, j.model) for j in alone if "ceiling" in j.scenarios] == [
        ("machine/gemm/pytorch/ceiling", "machine", "gemm")]
    ref_only = plan(load_study(preset="quick", overrides={"frameworks": ["keras-tf"]}))
    assert [(j.job_id, j.before) for j in ref_only if j.scenario == "parity"] == [
        ("image-classification/resnet/pytorch/parity", ()),  # pytorch is not being timed
        ("image-classification/resnet/keras-tf/parity", ("ceiling",))]
    no_parity = plan(load_study(preset="quick", overrides={"parity": False}))
    assert [j.job_id for j in no_parity if "ceiling" in j.scenarios] == [
        "machine/gemm/pytorch/ceiling", "machine/gemm/keras-tf/ceiling"]
    hosted = plan(load_study(preset="quick"))[0]
    assert hosted.identity("ceiling") == ("machine", "gemm")
    assert hosted.identity("parity") == ("image-classification", "resnet")


def test_no_ceiling_without_a_throughput_scenario():
    s = load_study(preset="quick", overrides={"scenarios": ["accuracy", "startup"]})
    assert all("ceiling" not in j.scenarios for j in plan(s))


def test_no_parity_jobs_without_a_second_framework():
    s = load_study(preset="quick", overrides={"frameworks": ["pytorch"]})
    assert all(j.scenario != "parity" for j in plan(s))


def _write(tmp_path, text):
    p = tmp_path / "study.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('frameworks = ["pytorch", "keras-tff"]', "frameworks: framework unknown 'keras-tff'"),
        ('frameworks = ["pytorch", "keras-tff"]', "did you mean 'keras-tf'?"),
        ('scenarios = ["trian"]', "did you mean 'train'?"),
        ("threads = 0", "threads: Input should be greater than 0 (got 0)"),
        ("[train]\nbatch_size = -3", "train.batch_size: Input should be greater than 0 (got -3)"),
        ("[train]\nbatchsize = 3", "train.batchsize: Extra inputs are not permitted"),
        ('size = "huge"', "size 'huge' is not defined for model 'resnet'"),
        ("threads = 'two'", "threads: Input should be a valid integer"),
        ("frameworks = []", "at least one framework is needed"),
        ("name = ", "not valid TOML"),
    ],
)
def test_bad_study_file_gets_one_line_naming_file_and_field(tmp_path, text, expected):
    p = _write(tmp_path, text)
    with pytest.raises(UserError) as exc:
        load_study(p)
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith(str(p))
    assert expected in msg


def test_missing_study_file_and_unknown_preset(tmp_path):
    with pytest.raises(UserError, match="no such study file"):
        load_study(tmp_path / "nope.toml")
    with pytest.raises(UserError, match="did you mean 'quick'"):
        load_study(preset="quik")


def test_file_overrides_preset_and_flags_override_file(tmp_path):
    p = _write(tmp_path, 'frameworks = ["keras-jax"]\n[train]\nsteps = 7')
    s = load_study(p, preset="quick", overrides={"threads": 1})
    assert s.frameworks == ["keras-jax"]
    assert s.train.steps == 7 and s.train.batch_size == 32  # nested merge keeps the preset
    assert s.threads == 1
