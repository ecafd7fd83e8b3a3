"""Results schema v2: sub-structure is typed (route, variant, phase, category, process, warning
kinds), and v1 files are still read — upgraded, with one line saying so."""

from __future__ import annotations

import json
import sqlite3

from twinbench.analysis.merge import merge_processes
from twinbench.results.export import read_jsonl, write_jsonl
from twinbench.results.schema import SCHEMA_VERSION, Record, Warn
from twinbench.results.store import Store

BASE = {"study": "s", "run_id": "r", "task": "image-classification", "model": "resnet",
        "backend": "torch", "unit": "ms", "threads": 2}


def v1(job_id: str, framework: str, scenario: str, metric: str, warnings: list[str]) -> dict:
    return {**BASE, "schema_version": 1, "job_id": job_id, "framework": framework,
            "scenario": scenario, "metric": metric, "value": 1.0, "warnings": warnings}


V1 = [
    v1("image-classification/resnet/keras-tf/export-mobile", "keras-tf", "export-mobile",
       "int8-full:accuracy_change", ["other load: other processes used 40% of the CPU"]),
    v1("image-classification/resnet/pytorch/profile", "pytorch", "profile", "train/convolution",
       ["trace window 3.1 ms/step vs wall clock 3.9"]),
    v1("image-classification/resnet/pytorch/profile", "pytorch", "profile", "infer/step_time",
       []),
    v1("image-classification/resnet/pytorch/infer#2", "pytorch", "infer", "latency_p99",
       ["p99 from only 30 samples: the tail is poorly resolved",
        "unstable: coefficient of variation 12% > 10%", "something new"]),
]


def _check_upgraded(recs: list[Record]) -> None:
    mobile, conv, step, p99 = recs
    assert all(r.schema_version == SCHEMA_VERSION for r in recs)
    assert (mobile.variant, mobile.metric, mobile.route) == ("int8-full", "accuracy_change", None)
    assert mobile.name == "int8-full:accuracy_change"  # the v1 string, for display and identity
    assert [w.kind for w in mobile.warnings] == ["load"]
    assert (conv.phase, conv.category, conv.metric, conv.name) == (
        "train", "convolution", "op_time", "train/convolution")
    assert [w.kind for w in conv.warnings] == ["profiler"]
    assert (step.phase, step.category, step.metric, step.name) == (
        "infer", None, "step_time", "infer/step_time")
    assert p99.process == 2 and p99.variant is None and p99.name == "latency_p99"
    assert [w.kind for w in p99.warnings] == ["tail", "unstable", "other"]


def test_a_v1_results_jsonl_is_read_upgraded_with_one_note(tmp_path, capsys) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in V1))
    _check_upgraded(read_jsonl(path))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "written by results schema v1: read as v2" in err[0]
    assert str(path) in err[0]


def test_a_v1_store_is_read_upgraded_and_v2_records_beside_them_stay_as_written(
        tmp_path, capsys) -> None:
    db = tmp_path / "results.sqlite"
    with Store(db) as store:
        store.start_run("r", "s", "{}", "now")
    con = sqlite3.connect(db)
    with con:
        con.executemany("INSERT INTO records (run_id, job_id, framework, scenario, metric, "
                        "status, record_json) VALUES ('r', ?, ?, ?, ?, 'ok', ?)",
                        [(d["job_id"], d["framework"], d["scenario"], d["metric"],
                          json.dumps(d)) for d in V1])
    con.close()
    new = Record(**{**BASE, "job_id": "j", "framework": "pytorch", "scenario": "profile",
                    "metric": "op_time", "phase": "train", "category": "matmul", "value": 2.0,
                    "warnings": [Warn("profiler", "note")]})
    with Store(db) as store:
        store.add_job("r", "j", {}, "ok", 1.0, [new])
        recs = store.records("r")
    _check_upgraded(recs[:4])
    assert recs[4] == new
    assert capsys.readouterr().err.count("schema v1") == 1


def test_v2_fields_round_trip_and_merging_reads_the_process_field(tmp_path) -> None:
    recs = [Record(**{**BASE, "job_id": f"t/m/pytorch/train#{p}", "framework": "pytorch",
                      "scenario": "train", "metric": "throughput", "value": v,
                      "samples": [v, v], "process": p,
                      "warnings": [Warn("few-samples", "only 2 sample(s): no 95% interval"),
                                   Warn("load", "other load: 40%")]})
            for p, v in ((1, 10.0), (2, 12.0))]
    path = tmp_path / "results.jsonl"
    write_jsonl(path, recs)
    assert read_jsonl(path) == recs
    (merged,) = merge_processes(recs)
    assert merged.job_id == "t/m/pytorch/train" and merged.process is None
    assert merged.extra["processes"] == 2
    # a process's sample count says nothing of the pooled one's: dropped, recounted (4 samples)
    assert [w.kind for w in merged.warnings] == ["load"]
    # a "#" in a job id without a process field is not a replicate: nothing pools
    lone = [r.model_copy(update={"process": None}) for r in recs]
    assert len(merge_processes(lone)) == 2


def test_only_replicated_jobs_carry_a_process_index() -> None:
    """Records get ``process`` from their job: the timed jobs of a study with several
    processes (ids ending in #n), never its parity and ceiling jobs, which run once."""
    from twinbench.plan import plan
    from twinbench.study import load_study

    jobs = plan(load_study(preset="quick"))
    once = [j for j in jobs if j.scenario in ("parity", "ceiling")]
    timed = [j for j in jobs if j not in once]
    assert once and all(j.repeat is None for j in once)
    assert {j.repeat for j in timed} == {1, 2, 3}
    assert all(j.job_id.endswith(f"#{j.repeat}") for j in timed)
    single = plan(load_study(preset="quick", overrides={"processes": 1}))
    assert all(j.repeat is None for j in single)
