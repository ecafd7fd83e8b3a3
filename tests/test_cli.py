"""The CLI as a user meets it: exit codes, one-line errors, end-to-end runs, contained faults."""

from __future__ import annotations

import json
import sqlite3

import pytest

from twinbench.runner.local import JobOutcome
from twinbench.runner.orchestrate import parity_verdict


def _records(outdir):
    return [json.loads(line) for line in (outdir / "results.jsonl").read_text().splitlines()]


def test_list_shows_zoo_frameworks_scenarios_presets(cli):
    r = cli("list")
    assert r.returncode == 0, r.stderr
    for word in ("resnet", "keras-jax", "startup", "quick", "digits", "image-classification"):
        assert word in r.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "--framework", "pytorch,keras-tff"], "did you mean 'keras-tf'?"),
        (["run", "--preset", "nope"], "unknown 'nope'"),
        (["run", "--threads", "-1"], "threads: Input should be greater than 0"),
        (["run", "missing.toml"], "missing.toml: no such study file"),
        (["show", "/nonexistent/dir"], "results.jsonl not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, args, needle):
    r = cli(*args)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr + r.stdout
    assert needle in r.stderr
    assert len([ln for ln in r.stderr.splitlines() if ln.strip()]) == 1


def test_debug_shows_the_traceback(cli):
    r = cli("--debug", "run", "--preset", "nope")
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_end_to_end_tiny_study(cli, tmp_path):
    out = tmp_path / "run"
    r = cli("run", "--preset", "tiny", "--out", str(out), "--threads", "1")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    recs = _records(out)
    got = {(x["framework"], x["scenario"], x["metric"]) for x in recs}
    for fw in ("pytorch", "keras-tf"):
        for sc, metric in [("train", "throughput"), ("infer", "latency_p99"),
                           ("accuracy", "accuracy"), ("memory", "peak_rss"),
                           ("startup", "import_time")]:
            assert (fw, sc, metric) in got
    assert ("keras-tf", "parity", "forward_max_abs_diff") in got
    assert ("keras-tf", "ceiling", "gemm_flops") in got
    thr = [x for x in recs if x["metric"] == "throughput"]
    assert all(x["flops_per_sample"] and 0 < x["fraction_of_peak"] < 1 for x in thr)
    train = {x["framework"]: x for x in thr if x["scenario"] == "train"}
    assert train["pytorch"]["extra"]["forward_flops"] == train["keras-tf"]["extra"]["forward_flops"]
    comps = [json.loads(line) for line in (out / "comparisons.jsonl").read_text().splitlines()]
    assert {"ratio", "ratio_ci95", "p_value", "significant", "verdict"} <= set(comps[0])
    assert any(c["metric"] == "throughput" and c["scenario"] == "train" for c in comps)
    for x in recs:
        assert x["status"] == "ok" and x["threads"] == 1
        assert x["env"]["versions"] and x["env"]["cpu"]
        if x["samples"]:
            assert x["ci95"] is not None and x["ci95"][0] <= x["value"] <= x["ci95"][1]
    acc = [x for x in recs if x["metric"] == "accuracy"]
    assert all(0.0 <= x["value"] <= 1.0 for x in acc)
    # time-to-target: 1 epoch of 256 digits (8 steps) leaves the tiny ResNet far below 0.9
    for fw in ("pytorch", "keras-tf"):
        ttt = {x["metric"]: x for x in recs if x["framework"] == fw
               and x["metric"] in ("time_to_target", "steps_to_target")}
        assert set(ttt) == {"time_to_target", "steps_to_target"}
        t = ttt["time_to_target"]
        assert t["value"] is None and t["extra"]["reached"] is False
        assert t["extra"]["target"] == 0.9 and t["extra"]["budget_steps"] == 8
        assert [p["steps"] for p in t["extra"]["curve"]] == [8]
        assert 0 < t["extra"]["curve"][0]["train_s"] and t["extra"]["best_metric"] < 0.9
    assert "not reached" in r.stdout
    with sqlite3.connect(out / "results.sqlite") as db:
        assert db.execute("SELECT count(*) FROM records").fetchone()[0] == len(recs)
    assert "throughput" in (out / "report.html").read_text()
    assert "train · image-classification · resnet" in r.stdout
    shown = cli("show", str(out))
    assert shown.returncode == 0 and "latency_p50" in shown.stdout
    for fw in ("pytorch", "keras-tf"):
        mem = {x["metric"]: x["value"] for x in recs if x["framework"] == fw
               and x["scenario"] == "memory"}
        # the worker's own memory, phase by phase: import, then inference, then training
        assert 0 < mem["rss_after_import"] <= mem["peak_rss"]
        assert mem["train_rss_increment"] > 0 and mem["infer_rss_increment"] > 0
        timed = [x for x in recs if x["framework"] == fw and x["scenario"] == "train"]
        assert all("other_cpu_load_timed" in x["env"] for x in timed)  # judged while timed
    assert all(x["extra"]["call_path"] for x in recs if x["scenario"] in ("train", "infer"))


def test_crash_and_hang_are_recorded_and_the_study_completes(cli, tmp_path):
    out = tmp_path / "faults"
    r = cli("run", "--preset", "tiny", "--framework", "pytorch", "--scenario",
            "startup,infer,memory", "--timeout", "30", "--out", str(out),
            env={"TWINBENCH_INJECT_FAULT": "crash:infer,hang:startup"})
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
    recs = {x["scenario"]: x for x in _records(out) if x["status"] == "failed"}
    # memory rides on the startup worker (one cold start), so the hang fails both
    assert set(recs) == {"infer", "startup", "memory"}
    assert "SIGABRT" in recs["infer"]["error"]
    assert "timed out after 30 s" in recs["memory"]["error"]
    assert recs["memory"]["job_id"].endswith("/startup")
    ok = [x for x in _records(out) if x["status"] == "ok"]
    assert {x["scenario"] for x in ok} == {"ceiling"}
    assert "2 job(s) failed" in r.stdout


def test_failed_parity_keeps_a_twin_out_of_the_comparison(cli, tmp_path):
    out = tmp_path / "parity"
    r = cli("run", "--preset", "tiny", "--scenario", "startup", "--out", str(out),
            env={"TWINBENCH_INJECT_FAULT": "error:keras-tf/parity"})
    assert r.returncode == 1
    recs = _records(out)
    keras = [x for x in recs if x["framework"] == "keras-tf"]
    assert {x["scenario"] for x in keras} == {"parity", "startup"}
    assert all(x["status"] == "failed" for x in keras)
    startup = next(x for x in keras if x["scenario"] == "startup")
    assert startup["error"].startswith("skipped: parity check did not complete")
    assert any(x["framework"] == "pytorch" and x["status"] == "ok" for x in recs)


def test_parity_verdict_reports_values_over_tolerance():
    from twinbench.plan import Job
    from twinbench.results.schema import Record

    job = Job("t/m/keras-tf/parity", "t", "m", "keras-tf", "parity", "tiny")
    rec = Record(study="s", run_id="r", job_id=job.job_id, task="t", model="m",
                 framework="keras-tf", backend="tensorflow", scenario="parity",
                 metric="forward_max_abs_diff", unit="abs", value=0.5, threads=1,
                 extra={"passed": False, "tolerance": 1e-4})
    assert parity_verdict(JobOutcome(job, "ok", 1.0, [rec])) == (
        "twin parity failed: forward_max_abs_diff=0.5 > 0.0001")
    rec.extra["passed"] = True
    assert parity_verdict(JobOutcome(job, "ok", 1.0, [rec])) is None
