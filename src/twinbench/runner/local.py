"""Local runner: each job in a fresh worker process, one at a time, with a timeout.

Jobs run one after another, never side by side, so no two frameworks share the CPU while timed.
A crash, a non-zero exit or a timeout becomes a failed record carrying the cause and the tail of
the worker's stderr; the study goes on. Every finished job is written to the store at once.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil

from twinbench.frameworks.base import FRAMEWORKS
from twinbench.plan import Job
from twinbench.results.schema import Record
from twinbench.results.store import Store
from twinbench.study import Study

TAIL_CHARS = 1500
OTHER_LOAD_WARN = 0.10


class LoadMeter:
    """CPU taken from the worker by someone else while a job ran.

    Two parts, as fractions of (wall time x cores): ``other``, system-wide busy time minus the
    worker's own CPU time (its rusage, reaped by wait) minus the orchestrator's; and ``steal``,
    time the hypervisor gave to other virtual machines. Either one distorts timings.
    """

    def __init__(self) -> None:
        self.cpu0 = psutil.cpu_times()
        self.child0 = self._cpu(resource.RUSAGE_CHILDREN)
        self.self0 = self._cpu(resource.RUSAGE_SELF)
        self.t0 = time.perf_counter()

    @staticmethod
    def _cpu(who: int) -> float:
        r = resource.getrusage(who)
        return r.ru_utime + r.ru_stime

    def fractions(self) -> dict[str, float]:
        span = max((time.perf_counter() - self.t0) * (os.cpu_count() or 1), 1e-9)
        now = psutil.cpu_times()
        delta = {f: getattr(now, f) - getattr(self.cpu0, f) for f in now._fields}
        steal = delta.get("steal", 0.0)
        busy = sum(v for f, v in delta.items() if f not in ("idle", "iowait", "steal",
                                                              "guest", "guest_nice"))
        own = (self._cpu(resource.RUSAGE_CHILDREN) - self.child0) + (
            self._cpu(resource.RUSAGE_SELF) - self.self0)
        return {"other": round(max(0.0, busy - own) / span, 3), "steal": round(steal / span, 3)}


@dataclass
class JobOutcome:
    job: Job
    status: str  # "ok" | "failed" | "skipped"
    wall_s: float
    records: list[Record] = field(default_factory=list)
    error: str | None = None


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def worker_env(study: Study, job: Job) -> dict[str, str]:
    """The same thread settings for every framework, plus its backend selection."""
    env = dict(os.environ)
    n = str(study.threads)
    env.update({
        "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n,
        "TF_NUM_INTRAOP_THREADS": n, "TF_NUM_INTEROP_THREADS": n,
        "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={n}",
        "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1",
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
    })
    if study.device == "cpu":
        env.update({"CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"})
    env.pop("KERAS_BACKEND", None)
    env.update(FRAMEWORKS[job.framework].env)
    return env


def _tail(path: Path) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return "\n".join(lines[-12:])[-TAIL_CHARS:]


def _describe_exit(rc: int) -> str:
    if rc < 0:
        try:
            return f"worker killed by signal {signal.Signals(-rc).name}"
        except ValueError:
            return f"worker killed by signal {-rc}"
    return f"worker exited with code {rc}"


class LocalRunner:
    def __init__(self, study: Study, outdir: Path, store: Store, run_id: str) -> None:
        self.study, self.outdir, self.store, self.run_id = study, outdir, store, run_id
        (outdir / "jobs").mkdir(parents=True, exist_ok=True)
        (outdir / "logs").mkdir(parents=True, exist_ok=True)

    def _record(self, job: Job, **kw) -> Record:
        spec = FRAMEWORKS[job.framework]
        base = dict(study=self.study.name, run_id=self.run_id, job_id=job.job_id, task=job.task,
                    model=job.model, framework=job.framework, backend=spec.backend,
                    mode=self.study.mode, scenario=job.scenario, device=self.study.device,
                    threads=self.study.threads, created=now())
        base.update(kw)
        return Record(**base)

    def failed(self, job: Job, error: str, wall_s: float, status: str = "failed") -> JobOutcome:
        rec = self._record(job, metric="job", unit="", value=None, status="failed", error=error)
        return JobOutcome(job, status, wall_s, [rec], error)

    def run_one(self, job: Job) -> JobOutcome:
        slug = job.job_id.replace("/", "__")
        job_path = self.outdir / "jobs" / f"{slug}.json"
        out_path = self.outdir / "jobs" / f"{slug}.out.json"
        log_path = self.outdir / "logs" / f"{slug}.log"
        job_path.write_text(json.dumps(job.to_dict()))
        out_path.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "twinbench.runner.worker", str(job_path), str(out_path),
               str(self.outdir)]
        t0 = time.perf_counter()
        meter = LoadMeter()
        with log_path.open("w") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=worker_env(self.study, job),
                                    start_new_session=True)
            try:
                rc = proc.wait(timeout=self.study.timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                wall = time.perf_counter() - t0
                return self.failed(job, f"timed out after {self.study.timeout_s:g} s "
                                   f"(log: {log_path})\n{_tail(log_path)}", wall)
        wall = time.perf_counter() - t0
        if rc != 0 or not out_path.exists():
            why = _describe_exit(rc) if rc != 0 else "worker wrote no results"
            return self.failed(job, f"{why} (log: {log_path})\n{_tail(log_path)}", wall)
        payload = json.loads(out_path.read_text())
        records = [
            self._record(job, backend=payload["backend"], env=payload["env"],
                         knobs=payload.get("knobs", {}), **m)
            for m in payload["measurements"]
        ]
        load = meter.fractions()
        for r in records:
            r.env["other_cpu_load"], r.env["cpu_steal"] = load["other"], load["steal"]
            if load["other"] > OTHER_LOAD_WARN and r.samples:
                r.warnings.append(f"other load: other processes used {load['other']:.0%} of "
                                  "the CPU during this job")
            if load["steal"] > OTHER_LOAD_WARN and r.samples:
                r.warnings.append(f"other load: the hypervisor took {load['steal']:.0%} of the "
                                  "CPU (steal) during this job")
        return JobOutcome(job, "ok", wall, records)

    def save(self, outcome: JobOutcome) -> None:
        self.store.add_job(self.run_id, outcome.job.job_id, outcome.job.to_dict(),
                           outcome.status, outcome.wall_s, outcome.records)
