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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from twinbench.frameworks.base import FRAMEWORKS
from twinbench.job import Job
from twinbench.measure.stats import OTHER_LOAD_LIMIT, interval
from twinbench.results.schema import Record, Warn
from twinbench.results.store import Store
from twinbench.scenarios import spec
from twinbench.study import Study

TAIL_CHARS = 1500
OTHER_LOAD_WARN = OTHER_LOAD_LIMIT
WATCH_INTERVAL_S = 0.25


class LoadMeter:
    """CPU taken from the worker by someone else while a job ran.

    Two parts, as fractions of (wall time x cores): ``other``, system-wide busy time minus the
    worker's own CPU time (its rusage, reaped by wait) minus the orchestrator's; and ``steal``,
    time the hypervisor gave to other virtual machines. Either one distorts timings.

    Some of a worker's descendants are never reaped through it, so their CPU time never reaches
    its rusage (Chromium's renderers, under an export-web job). ``sample_tree`` reads the time of
    the worker and every live descendant; the worker's own CPU is the larger of the two counts,
    so that time is not read as another process's load, and nothing is counted twice.

    Each ``sample_tree`` also adds a point to a time series (monotonic clock, system busy and
    steal time, own CPU), so ``fractions_in`` can tell the load during the worker's timed
    windows apart from the load during its import, compilation and warm-up.
    """

    def __init__(self) -> None:
        self.cpu0 = psutil.cpu_times()
        self.child0 = self._cpu(resource.RUSAGE_CHILDREN)
        self.self0 = self._cpu(resource.RUSAGE_SELF)
        self.t0 = time.perf_counter()
        self._seen: dict[int, float] = {}  # pid -> CPU seconds at its last reading
        self.series: list[tuple[float, float, float, float]] = []
        self.point()

    @staticmethod
    def _busy_steal(t: Any) -> tuple[float, float]:
        busy = sum(getattr(t, f) for f in t._fields
                   if f not in ("idle", "iowait", "steal", "guest", "guest_nice"))
        return busy, getattr(t, "steal", 0.0)

    def point(self) -> None:
        busy, steal = self._busy_steal(psutil.cpu_times())
        self.series.append((time.monotonic(), busy, steal, self.own_cpu()))

    def fractions_in(self, windows: list[tuple[float, float]]) -> dict[str, float] | None:
        """``fractions`` over the given (monotonic) windows only: each interval between two
        samples (WATCH_INTERVAL_S apart) counts by its overlap with the windows; None when no
        sampled interval overlaps them."""
        span = other = steal = 0.0
        cores = os.cpu_count() or 1
        for (t0, b0, s0, o0), (t1, b1, s1, o1) in zip(self.series, self.series[1:],
                                                        strict=False):
            if t1 <= t0:
                continue
            w = sum(max(0.0, min(t1, e) - max(t0, s)) for s, e in windows) / (t1 - t0)
            if w > 0:
                span += w * (t1 - t0) * cores
                other += w * max(0.0, (b1 - b0) - (o1 - o0))
                steal += w * (s1 - s0)
        if span <= 0:
            return None
        return {"other": round(other / span, 3), "steal": round(steal / span, 3)}

    def sample_tree(self, pid: int) -> float:
        """Read the CPU time of process ``pid`` (started after this meter) and its descendants;
        returns the tree's resident memory in MiB (the watchdog's memory limit reads it)."""
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0.0
        rss = 0
        for p in procs:
            try:
                t = p.cpu_times()
                rss += p.memory_info().rss
            except psutil.Error:
                continue
            self._seen[p.pid] = t.user + t.system
        self.point()
        return rss / 2**20

    @staticmethod
    def _cpu(who: int) -> float:
        r = resource.getrusage(who)
        return r.ru_utime + r.ru_stime

    def own_cpu(self) -> float:
        """CPU seconds of this process and the worker tree since the meter started: the larger
        of what was reaped and what was seen, so a reaped child is not counted twice."""
        mine = self._cpu(resource.RUSAGE_SELF) - self.self0
        return mine + max(self._cpu(resource.RUSAGE_CHILDREN) - self.child0,
                          sum(self._seen.values()))

    def fractions(self) -> dict[str, float]:
        span = max((time.perf_counter() - self.t0) * (os.cpu_count() or 1), 1e-9)
        now = psutil.cpu_times()
        delta = {f: getattr(now, f) - getattr(self.cpu0, f) for f in now._fields}
        steal = delta.get("steal", 0.0)
        busy = sum(v for f, v in delta.items() if f not in ("idle", "iowait", "steal",
                                                              "guest", "guest_nice"))
        own = self.own_cpu()
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


_PASS_ENV = {"PATH", "HOME", "LANG", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV", "USER", "TZ",
             "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "SSL_CERT_FILE"}


def worker_env(study: Study, job: Job) -> dict[str, str]:
    """A minimal environment: the same thread settings for every framework, its backend
    selection, and only the variables a Python process needs — no credentials, no hub tokens."""
    env = {k: v for k, v in os.environ.items()
           if k in _PASS_ENV or k.startswith(("TWINBENCH_", "LC_"))}
    n = str(study.threads)
    env.update({
        "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n,
        "TF_NUM_INTRAOP_THREADS": n, "TF_NUM_INTEROP_THREADS": n,
        # XLA has no thread-count flag (an unknown token would make it ignore the rest of the
        # flags); the CPU affinity set in _pin_cores bounds JAX like every other framework.
        "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=true",
        "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1",
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
    })
    if study.device == "cpu":
        env.update({"CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"})
    env.pop("KERAS_BACKEND", None)
    env.update(FRAMEWORKS[job.framework].env)
    for sc in job.scenarios:  # a scenario's own variables (profile: XLA's HLO dump flags)
        if hook := spec(sc).worker_env:
            env.update(hook(FRAMEWORKS[job.framework].backend, env,
                            job.job_id.replace("/", "__")))
    return env


def _pin_cores(threads: int) -> Callable[[], None] | None:
    """With fewer threads than cores, pin the worker to that many cores: the one limit every
    framework obeys (JAX's CPU client has no thread-count setting)."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not cores or threads >= len(cores):
        return None
    chosen = set(cores[:threads])
    return lambda: os.sched_setaffinity(0, chosen)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _works_in(proc: psutil.Process, outdir: Path) -> bool:
    """Whether a process is a twinbench worker of THIS results folder (its last argument), so
    a resume never kills the worker of another study whose pid was reused or copied here."""
    cmd = proc.cmdline()
    if "twinbench.runner.worker" not in cmd or len(cmd) < 2:
        return False
    workdir = Path(cmd[-1])
    if not workdir.is_absolute():
        workdir = Path(proc.cwd()) / workdir
    return workdir.resolve() == outdir.resolve()


def kill_stale_workers(outdir: Path) -> list[int]:
    """Kill workers left running by an orchestrator that died (kill -9), found by pid file."""
    killed = []
    for pid_file in (outdir / "jobs").glob("*.pid"):
        try:
            pid = int(pid_file.read_text())
            if _works_in(psutil.Process(pid), outdir):
                os.killpg(pid, signal.SIGKILL)
                killed.append(pid)
        except (ValueError, OSError, psutil.Error):
            pass
        pid_file.unlink(missing_ok=True)
    return killed


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


def _record_fields(m: dict[str, Any], job: Job | None = None) -> dict[str, Any]:
    """A worker's measurement as record fields: its pending interval bootstrapped here, and the
    identity of its scenario when the job records for more than one (plan.Job.identity). Knobs
    a measurement carries (its call path's) replace the job's."""
    m = {k: v for k, v in m.items()
         if v is not None or k not in ("scenario", "knobs", "framework")}
    if job is not None and "scenario" in m:
        m["task"], m["model"] = job.identity(m["scenario"])
    if "framework" in m:  # a per-model job's record for one framework (scenario spec per_model)
        m["backend"] = FRAMEWORKS[m["framework"]].backend
    of = m.pop("ci_of", None)
    if of and m.get("ci95") is None and m.get("samples"):
        m["ci95"] = interval(m["samples"], of)
    if of and of != "median":  # what `value` is, for comparisons (analysis/comparisons.py)
        m["extra"] = {**(m.get("extra") or {}), "statistic": of}
    return m


class LocalRunner:
    def __init__(self, study: Study, outdir: Path, store: Store, run_id: str) -> None:
        self.study, self.outdir, self.store, self.run_id = study, outdir, store, run_id
        (outdir / "jobs").mkdir(parents=True, exist_ok=True)
        (outdir / "logs").mkdir(parents=True, exist_ok=True)

    def _record(self, job: Job, **kw: Any) -> Record:
        spec = FRAMEWORKS[job.framework]
        base: dict[str, Any] = dict(
                    study=self.study.name, run_id=self.run_id, job_id=job.job_id, task=job.task,
                    model=job.model, framework=job.framework, backend=spec.backend,
                    mode=job.mode, scenario=job.scenario, device=self.study.device,
                    threads=self.study.threads, created=now(), process=job.repeat)
        base.update(kw)
        return Record(**base)

    def failed(self, job: Job, error: str, wall_s: float, status: str = "failed") -> JobOutcome:
        recs = []
        for sc in job.scenarios:
            task, model = job.identity(sc)
            recs.append(self._record(job, scenario=sc, task=task, model=model, metric="job",
                                     unit="", value=None, status="failed", error=error))
        return JobOutcome(job, status, wall_s, recs, error)

    def run_one(self, job: Job) -> JobOutcome:
        slug = job.job_id.replace("/", "__")
        job_path = self.outdir / "jobs" / f"{slug}.json"
        out_path = self.outdir / "jobs" / f"{slug}.out.json"
        log_path = self.outdir / "logs" / f"{slug}.log"
        job_path.write_text(json.dumps(job.to_dict()))
        out_path.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "twinbench.runner.worker", str(job_path.resolve()),
               str(out_path.resolve()), str(self.outdir.resolve())]  # see _works_in
        t0 = time.perf_counter()
        meter = LoadMeter()
        with log_path.open("w") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=worker_env(self.study, job),
                                    start_new_session=True,
                                    preexec_fn=_pin_cores(self.study.threads))
            pid_path = self.outdir / "jobs" / f"{slug}.pid"
            pid_path.write_text(str(proc.pid))
            try:
                rc, killed = self._watch(proc, meter)
            except BaseException:  # Ctrl-C or an error here: never leave a worker behind
                _kill_group(proc)
                raise
            finally:
                pid_path.unlink(missing_ok=True)
        wall = time.perf_counter() - t0
        if killed:
            return self.failed(job, f"{killed} (log: {log_path})\n{_tail(log_path)}", wall)
        if rc != 0 or not out_path.exists():
            why = _describe_exit(rc) if rc != 0 else "worker wrote no results"
            return self.failed(job, f"{why} (log: {log_path})\n{_tail(log_path)}", wall)
        try:
            payload = json.loads(out_path.read_text())
            records = [
                self._record(job, env=payload["env"], **{
                    "backend": payload["backend"], "knobs": payload.get("knobs", {}),
                    **_record_fields(m, job)})
                for m in payload["measurements"]
            ]
            windows = [(float(a), float(b)) for a, b in payload.get("timed_windows", [])]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # A worker that exits 0 with a damaged results file fails its job, not the study.
            why = f"worker wrote unreadable results ({type(exc).__name__}: {str(exc)[:200]})"
            return self.failed(job, f"{why} (log: {log_path})\n{_tail(log_path)}", wall)
        meter.point()  # the last point of the series: the worker has exited
        load = meter.fractions()
        timed = meter.fractions_in(windows) if windows else None
        during = "its timed windows" if timed else "this job"
        worst = timed or load
        for r in records:
            r.env["other_cpu_load"], r.env["cpu_steal"] = load["other"], load["steal"]
            if timed:
                r.env["other_cpu_load_timed"] = timed["other"]
                r.env["cpu_steal_timed"] = timed["steal"]
            if worst["other"] > OTHER_LOAD_WARN and r.samples:
                r.warnings.append(Warn("load", f"other load: other processes used "
                                       f"{worst['other']:.0%} of the CPU during {during}"))
            if worst["steal"] > OTHER_LOAD_WARN and r.samples:
                r.warnings.append(Warn("load", f"other load: the hypervisor took "
                                       f"{worst['steal']:.0%} of the CPU (steal) during {during}"))
        return JobOutcome(job, "ok", wall, records)

    def _watch(self, proc: subprocess.Popen[bytes], meter: LoadMeter) -> tuple[int, str | None]:
        """Wait for the worker, killing it past the timeout or the memory limit."""
        limit = self.study.memory_limit_mb
        deadline = time.monotonic() + self.study.timeout_s
        peak = 0.0
        while True:
            try:
                return proc.wait(timeout=WATCH_INTERVAL_S), None
            except subprocess.TimeoutExpired:
                pass
            tree_mb = meter.sample_tree(proc.pid)  # ~1.5 ms of CPU; renderers live seconds
            if time.monotonic() > deadline:
                _kill_group(proc)
                return proc.returncode, f"timed out after {self.study.timeout_s:g} s"
            if limit:
                peak = max(peak, tree_mb)
                if peak > limit:
                    _kill_group(proc)
                    return proc.returncode, (f"out of memory: worker used {peak:.0f} MiB, over "
                                             f"the limit of {limit:g} MiB (memory_limit_mb)")

    def save(self, outcome: JobOutcome) -> None:
        self.store.add_job(self.run_id, outcome.job.job_id, outcome.job.to_dict(),
                           outcome.status, outcome.wall_s, outcome.records)
