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

import psutil

from conftest import ROOT
from twinbench.runner.local import kill_stale_workers

TINY = ["run", "--preset", "tiny", "--framework", "pytorch", "--threads", "1"]


def _records(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]


WORKER_FAULTS = {  # job -> (injected fault, how its record must start)
    "accuracy#1": ("crash", "worker killed by signal SIGABRT"),
    "accuracy#2": ("hang", "timed out after 40 s"),
    "accuracy#3": ("badresult", "worker wrote unreadable results (JSONDecodeError"),
    "infer#1": ("segv", "worker killed by signal SIGSEGV"),
    "infer#2": ("oom", "out of memory: worker used"),
    "infer#3": ("kill", "worker killed by signal SIGKILL"),
    "memory#1": ("exit", "worker exited with code 7"),
    "memory#2": ("noresult", "worker wrote no results"),
    "memory#3": ("usererror", "worker exited with code 3"),
    "train#1": ("error", "worker exited with code 1"),
}


def test_ten_injected_worker_faults_each_recorded_with_its_cause(cli, tmp_path):
    out = tmp_path / "faults"
    faults = ",".join(f"{kind}:{job}" for job, (kind, _) in WORKER_FAULTS.items())
    r = cli(*TINY, "--scenario", "accuracy,infer,memory,train", "--processes", "3",
            "--timeout", "40", "--memory-limit", "1500", "--out", str(out),
            env={"TWINBENCH_INJECT_FAULT": faults})
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-2000:]
    failed = {x["job_id"].rsplit("/", 1)[1]: x["error"] for x in _records(out)
              if x["status"] == "failed"}
    assert set(failed) == set(WORKER_FAULTS) and len(WORKER_FAULTS) == 10
    for job, (kind, cause) in WORKER_FAULTS.items():
        assert failed[job].startswith(cause), (kind, failed[job][:300])
    assert "over the limit of 1500 MiB" in failed["infer#2"]
    assert "RuntimeError: injected error" in failed["train#1"]  # the stderr tail travels along
    assert "error: injected bad data" in failed["memory#3"]
    ok = {(x["scenario"], x["metric"]) for x in _records(out) if x["status"] == "ok"}
    assert ("train", "throughput") in ok and ("ceiling", "gemm_flops") in ok
    assert "10 job(s) failed" in r.stdout
    assert (out / "report.html").exists()
    with sqlite3.connect(out / "results.sqlite") as c:  # every job stored once, faulty or not
        jobs = dict(c.execute("SELECT job_id, status FROM jobs"))
    assert len(jobs) == 13 and {j.rsplit("/", 1)[1] for j, v in jobs.items() if v == "ok"} == {
        "ceiling", "train#2", "train#3"}


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
    # the orchestrator starts with Ctrl-C's default disposition, as from a terminal: an ignored
    # SIGINT is inherited through exec (a shell's background job, or a parent that ignores it),
    # and Python then installs no KeyboardInterrupt handler
    also = kw.pop("preexec_fn", None)

    def preexec() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if also is not None:
            also()

    return subprocess.Popen([sys.executable, "-m", "twinbench.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=preexec, **kw)


def _wait_for(what: str, ready, timeout: float = 240) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if ready():
                return
        except (sqlite3.OperationalError, OSError, ValueError):
            pass  # the file is being created or written
        time.sleep(0.3)
    raise AssertionError(f"{what} did not happen in {timeout} s")


def _rows(db: Path, sql: str) -> list[tuple]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as c:
        return list(c.execute(sql))


def _dead(pid: int, wait: float = 10) -> bool:
    """Gone, or a zombie waiting for its (new) parent to reap it: either way it runs no more."""
    end = time.monotonic() + wait
    while True:  # looks at least once, also with wait=0
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(0.2)


STEPS = ["--scenario", "startup,memory,accuracy,train"]  # ceiling, startup(+memory), acc, train
HUNG = "image-classification__resnet__pytorch__accuracy"


def _interrupt_during_the_third_job(out: Path, stop) -> tuple[int, int, str]:
    """Start a study whose 3rd job hangs, wait until 2 jobs are stored and that worker runs,
    stop the orchestrator with ``stop``; returns the hung worker's pid, exit code, stderr."""
    db = out / "results.sqlite"
    p = _start([*TINY, *STEPS, "--out", str(out)],
               env={"TWINBENCH_INJECT_FAULT": "hang:pytorch/accuracy"})
    try:
        _wait_for("2 stored jobs", lambda: len(_rows(db, "SELECT * FROM jobs")) >= 2)
        pid_file = out / "jobs" / f"{HUNG}.pid"
        _wait_for("the 3rd worker", pid_file.exists)
        _wait_for("its pid", lambda: int(pid_file.read_text()) > 0)
        pid = int(pid_file.read_text())
        assert not _dead(pid, wait=0)
        stop(p)
        _, stderr = p.communicate(timeout=120)
        return pid, p.returncode, stderr
    except BaseException:  # leave no orchestrator and no hung worker behind
        p.kill()
        kill_stale_workers(out)
        raise


def _resume_and_check(cli, out: Path, kept: list[tuple]) -> None:
    """Resume; the jobs stored before it stay byte-identical, the rest run once each."""
    assert [j for j, _ in kept] and len({j for j, _ in kept}) < 4  # really interrupted
    r = cli("run", "--resume", str(out))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "resuming" in r.stdout
    db = out / "results.sqlite"
    jobs = [row[0] for row in _rows(db, "SELECT job_id FROM jobs")]
    assert len(jobs) == len(set(jobs)) == 4 and len(_rows(db, "SELECT * FROM runs")) == 1
    after = _rows(db, "SELECT job_id, record_json FROM records")
    assert set(kept) <= set(after)  # nothing measured before the interruption was redone
    keys = _rows(db, "SELECT job_id, scenario, metric, framework, count(*) FROM records "
                     "GROUP BY 1, 2, 3, 4 HAVING count(*) > 1")
    assert keys == []  # nothing duplicated
    recs = _records(out)
    assert len(recs) == len(after)
    assert {x["scenario"] for x in recs} == {"ceiling", "startup", "memory", "accuracy", "train"}
    assert all(x["status"] == "ok" for x in recs)


def test_ctrl_c_then_resume_runs_only_the_missing_jobs(cli, tmp_path):
    out = tmp_path / "int"
    pid, rc, stderr = _interrupt_during_the_third_job(
        out, lambda p: p.send_signal(signal.SIGINT))
    assert rc == 130, stderr[-2000:]
    assert stderr.strip().splitlines() == [
        f"twinbench: error: interrupted: finished jobs are saved; continue with "
        f"`twinbench run --resume {out}`"]
    assert _dead(pid)  # the orchestrator killed the running worker on its way out
    kept = _rows(out / "results.sqlite", "SELECT job_id, record_json FROM records")
    assert len(_rows(out / "results.sqlite", "SELECT * FROM jobs")) == 2
    _resume_and_check(cli, out, kept)


def test_kill_9_of_the_orchestrator_then_resume(cli, tmp_path):
    out = tmp_path / "k9"
    pid, rc, _ = _interrupt_during_the_third_job(out, lambda p: p.kill())
    assert rc == -signal.SIGKILL
    try:
        assert not _dead(pid, wait=1)  # orphaned and still hanging: only the resume can stop it
        assert (out / "jobs" / f"{HUNG}.pid").exists()
        kept = _rows(out / "results.sqlite", "SELECT job_id, record_json FROM records")
        assert len(_rows(out / "results.sqlite", "SELECT * FROM jobs")) == 2
        _resume_and_check(cli, out, kept)
        assert _dead(pid)  # kill_stale_workers found it by its pid file and this folder
    finally:
        if not _dead(pid, wait=0):
            os.killpg(pid, signal.SIGKILL)


def test_resume_kills_only_workers_of_its_own_folder(tmp_path):
    """A pid file naming another study's worker (pid reused, folder copied) must not kill it."""
    mine, other = tmp_path / "mine", tmp_path / "other"
    (mine / "jobs").mkdir(parents=True)
    sleep = "import time; time.sleep(120)"
    procs = {d: subprocess.Popen([sys.executable, "-c", sleep, "twinbench.runner.worker",
                                  "job.json", "out.json", str(d)], start_new_session=True)
             for d in (mine, other)}
    try:
        for d, proc in procs.items():
            (mine / "jobs" / f"{d.name}.pid").write_text(str(proc.pid))
        assert kill_stale_workers(mine) == [procs[mine].pid]
        assert procs[mine].wait(timeout=10) == -signal.SIGKILL
        assert procs[other].poll() is None  # the other study's worker still runs
        assert not list((mine / "jobs").glob("*.pid"))
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()


def test_kill_between_study_json_and_the_first_run_row_is_resumable(cli, tmp_path):
    """study.json written (atomically), then killed before the run was stored: resume starts."""
    from twinbench.results.store import Store
    from twinbench.study import load_study

    out = tmp_path / "early"
    out.mkdir()
    study = load_study(preset="tiny", overrides={"frameworks": ["pytorch"], "threads": 1,
                                                 "scenarios": ["startup"], "ceiling": False})
    (out / "study.json").write_text(study.model_dump_json())
    Store(out / "results.sqlite").close()  # what the orchestrator had opened before the kill
    r = cli("run", "--resume", str(out))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert [j for (j,) in _rows(out / "results.sqlite", "SELECT job_id FROM jobs")] == [
        "image-classification/resnet/pytorch/startup"]
    assert not list(out.glob("*.tmp"))


def test_results_disk_full_stops_with_one_line_and_keeps_finished_jobs(cli, tmp_path):
    out = tmp_path / "full"
    db = out / "results.sqlite"

    def small_disk() -> None:  # files may not grow past 52 kB: SQLite sees a full disk
        # (the memory job's records fit in ~48 kB of database, the accuracy job's need ~60 kB)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (52_000, 52_000))

    p = _start([*TINY, "--scenario", "memory,accuracy", "--no-parity", "--out", str(out)],
               preexec_fn=small_disk)
    stdout, stderr = p.communicate(timeout=300)
    assert p.returncode == 1, stdout[-2000:] + stderr[-2000:]
    assert stderr.startswith("twinbench: error: results database error")
    assert f"twinbench run --resume {out}" in stderr and len(stderr.strip().splitlines()) == 1
    assert "Traceback" not in stderr
    memory = "image-classification/resnet/pytorch/memory"
    assert _rows(db, "SELECT job_id, status FROM jobs") == [(memory, "ok")]  # kept whole
    kept = _rows(db, "SELECT job_id, record_json FROM records")
    assert {j for j, _ in kept} == {memory}  # its records (peak, import, increments) whole
    r = cli("run", "--resume", str(out))  # room again: only the lost job runs
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert len(_rows(db, "SELECT * FROM jobs")) == 2
    assert set(kept) <= set(_rows(db, "SELECT job_id, record_json FROM records"))


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


def test_a_report_that_fails_to_render_keeps_the_results_and_says_so_in_one_line(
        tmp_path, monkeypatch):
    """A renderer bug after the last job: results.jsonl is written, exit 1, no traceback."""
    from typer.testing import CliRunner

    import twinbench.report.html as html
    from twinbench.cli import app

    def broken(*_a, **_k):
        raise KeyError("boom")

    monkeypatch.setattr(html, "write_reports", broken)
    out = tmp_path / "s"
    res = CliRunner().invoke(app, ["run", "--preset", "tiny", "--framework", "pytorch",
                                   "--scenario", "startup", "--no-parity", "--threads", "1",
                                   "--out", str(out)])
    assert res.exit_code == 1, res.output
    assert "report could not be written (KeyError: 'boom')" in res.output
    assert f"twinbench report {out}" in " ".join(res.output.split())
    assert "Traceback" not in res.output
    assert any(r["scenario"] == "startup" and r["status"] == "ok" for r in _records(out))
    assert not (out / "report.html").exists()
