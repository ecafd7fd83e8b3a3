"""Fault injection: every broken job is contained, recorded with its cause, and the study ends.

Faults are injected into real worker processes through TWINBENCH_INJECT_FAULT (see
runner/worker.py); interrupts, kill -9 and a full disk are done to the real orchestrator.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT

TINY = ["run", "--preset", "tiny", "--framework", "pytorch", "--threads", "1"]


def _records(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]


def test_ten_worker_faults_each_recorded_with_its_cause(cli, tmp_path):
    out = tmp_path / "faults"
    faults = ("crash:accuracy#1,hang:accuracy#2,segv:infer#1,oom:infer#2,exit:memory#1,"
              "noresult:memory#2,error:train#1")
    r = cli(*TINY, "--scenario", "accuracy,infer,memory,train", "--processes", "2",
            "--timeout", "40", "--memory-limit", "1500", "--out", str(out),
            env={"TWINBENCH_INJECT_FAULT": faults})
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-2000:]
    failed = {x["job_id"].rsplit("/", 1)[1]: x["error"] for x in _records(out)
              if x["status"] == "failed"}
    assert set(failed) == {"accuracy#1", "accuracy#2", "infer#1", "infer#2", "memory#1",
                           "memory#2", "train#1"}
    assert failed["accuracy#1"].startswith("worker killed by signal SIGABRT")
    assert failed["accuracy#2"].startswith("timed out after 40 s")
    assert failed["infer#1"].startswith("worker killed by signal SIGSEGV")
    assert failed["infer#2"].startswith("out of memory: worker used")
    assert "over the limit of 1500 MiB" in failed["infer#2"]
    assert failed["memory#1"].startswith("worker exited with code 7")
    assert failed["memory#2"].startswith("worker wrote no results")
    assert failed["train#1"].startswith("worker exited with code 1")
    assert "RuntimeError: injected error" in failed["train#1"]  # the stderr tail travels along
    ok = {(x["scenario"], x["metric"]) for x in _records(out) if x["status"] == "ok"}
    assert ("train", "throughput") in ok and ("ceiling", "gemm_flops") in ok
    assert "7 job(s) failed" in r.stdout
    assert (out / "report.html").exists()
    assert not list((out / "jobs").glob("*.pid"))  # no worker left behind


def test_failed_parity_reference_skips_every_dependent_twin(cli, tmp_path):
    out = tmp_path / "ref"
    r = cli("run", "--preset", "tiny", "--scenario", "startup", "--threads", "1",
            "--out", str(out), env={"TWINBENCH_INJECT_FAULT": "crash:pytorch/parity"})
    assert r.returncode == 1
    recs = {x["job_id"]: x for x in _records(out)}
    keras_parity = recs["image-classification/resnet/keras-tf/parity"]
    assert keras_parity["error"].startswith(
        "skipped: parity check did not complete: worker killed by signal SIGABRT")
    keras_startup = recs["image-classification/resnet/keras-tf/startup"]
    assert keras_startup["error"].startswith("skipped: parity check did not complete")
    assert recs["image-classification/resnet/pytorch/startup"]["status"] == "ok"


def _start(args: list[str], **kw) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("TWINBENCH_INJECT_FAULT", None)
    env.update(kw.pop("env", {}))
    return subprocess.Popen([sys.executable, "-m", "twinbench.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _wait_for_jobs(db: Path, n: int, timeout: float = 240) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if db.exists():
            try:
                with sqlite3.connect(db) as c:
                    if c.execute("SELECT count(*) FROM jobs").fetchone()[0] >= n:
                        return
            except sqlite3.OperationalError:
                pass
        time.sleep(0.3)
    raise AssertionError(f"fewer than {n} jobs finished in {timeout} s")


def _job_ids(db: Path) -> list[str]:
    with sqlite3.connect(db) as c:
        return [r[0] for r in c.execute("SELECT job_id FROM records WHERE status='ok'")]


def _resume_and_check(cli, out: Path, before: int) -> None:
    r = cli("run", "--resume", str(out))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "resuming" in r.stdout
    with sqlite3.connect(out / "results.sqlite") as c:
        jobs = [row[0] for row in c.execute("SELECT job_id FROM jobs")]
        runs = c.execute("SELECT count(*) FROM runs").fetchone()[0]
    # 1 ceiling + startup (memory rides on it) + accuracy + train, once each
    assert len(jobs) == len(set(jobs)) == 4 and runs == 1
    recs = _records(out)
    keys = [(x["job_id"], x["metric"]) for x in recs]
    assert len(keys) == len(set(keys))  # nothing duplicated
    assert {x["scenario"] for x in recs} == {"ceiling", "startup", "memory", "accuracy", "train"}
    assert before >= 1


def test_ctrl_c_then_resume_runs_only_the_missing_jobs(cli, tmp_path):
    out = tmp_path / "int"
    args = [*TINY, "--scenario", "startup,memory,accuracy,train", "--out", str(out)]
    p = _start(args)
    _wait_for_jobs(out / "results.sqlite", 2)
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == 130, stdout[-2000:] + stderr[-2000:]
    assert f"twinbench run --resume {out}" in stderr
    assert len(stderr.strip().splitlines()) == 1
    with sqlite3.connect(out / "results.sqlite") as c:
        before = c.execute("SELECT count(*) FROM jobs").fetchone()[0]
    assert 2 <= before < 4
    assert not list((out / "jobs").glob("*.pid"))  # the running worker was killed
    _resume_and_check(cli, out, before)


def test_kill_9_of_the_orchestrator_then_resume(cli, tmp_path):
    out = tmp_path / "k9"
    args = [*TINY, "--scenario", "startup,memory,accuracy,train", "--out", str(out)]
    p = _start(args)
    _wait_for_jobs(out / "results.sqlite", 2)
    p.kill()
    p.communicate(timeout=60)
    with sqlite3.connect(out / "results.sqlite") as c:
        before = c.execute("SELECT count(*) FROM jobs").fetchone()[0]
    _resume_and_check(cli, out, before)


def test_results_disk_full_stops_with_one_line_and_keeps_finished_jobs(tmp_path):
    out = tmp_path / "full"

    def small_disk() -> None:  # files may not grow past 45 kB: SQLite sees a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (45_000, 45_000))

    p = _start([*TINY, "--scenario", "memory,accuracy", "--no-parity", "--out", str(out)],
               preexec_fn=small_disk)
    stdout, stderr = p.communicate(timeout=300)
    assert p.returncode == 1, stdout[-2000:] + stderr[-2000:]
    assert stderr.startswith("twinbench: error: results database error")
    assert f"twinbench run --resume {out}" in stderr
    assert "Traceback" not in stderr


def test_workers_get_a_minimal_environment(monkeypatch):
    from twinbench.plan import Job
    from twinbench.runner.local import worker_env
    from twinbench.study import load_study

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter2")
    monkeypatch.setenv("HF_TOKEN", "secret")
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    study = load_study(preset="tiny", overrides={"threads": 3})
    env = worker_env(study, Job("t/m/keras-tf/train", "t", "m", "keras-tf", "train", "tiny"))
    assert "AWS_SECRET_ACCESS_KEY" not in env and "HF_TOKEN" not in env
    assert env["KERAS_BACKEND"] == "tensorflow" and env["HF_HUB_OFFLINE"] == "1"
    assert env["OMP_NUM_THREADS"] == env["TF_NUM_INTRAOP_THREADS"] == "3"
    assert env["CUDA_VISIBLE_DEVICES"] == "" and "PATH" in env


def test_a_failing_prelude_is_its_own_failed_record_and_the_host_still_runs():
    from types import SimpleNamespace

    from twinbench.plan import plan
    from twinbench.runner.local import _record_fields
    from twinbench.runner.worker import _prelude
    from twinbench.study import load_study

    ctx = SimpleNamespace(adapter=None, progress=lambda msg: None)  # no adapter: gemm() fails
    (m,) = _prelude("ceiling", ctx)
    assert m.scenario == "ceiling" and m.status == "failed" and m.value is None
    assert m.error.startswith("ceiling failed: AttributeError")
    job = next(j for j in plan(load_study(preset="quick")) if j.before)
    rec = _record_fields(m.to_dict(), job)
    assert (rec["task"], rec["model"], rec["scenario"]) == ("machine", "gemm", "ceiling")
