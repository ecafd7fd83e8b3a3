"""Worker process entry point: ONE framework, ONE job, then exit (fairness rule 1).

    python -m twinbench.runner.worker JOB.json OUT.json WORKDIR

Imports only the adapter of the job's framework, runs the scenario, and writes its measurements
plus the environment fingerprint to OUT.json (atomically). Any exception exits non-zero with the
traceback on stderr; the orchestrator turns that into a failed record.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from twinbench.atomic import write_atomic

if TYPE_CHECKING:
    from twinbench.scenarios.base import Context, Measurement


def _inject_fault(job_id: str, out_path: str) -> None:
    """Test hook: TWINBENCH_INJECT_FAULT="KIND:PATTERN,..." breaks the jobs whose id contains
    PATTERN, so tests can prove a broken job is contained. KIND: crash (SIGABRT), segv (SIGSEGV),
    hang, error (exception), oom (allocates until killed), exit (exit code 7), noresult
    (exit 0 without writing results), badresult (exit 0 after writing a damaged results file),
    kill (SIGKILL, as the kernel's OOM killer sends), usererror (bad data: exit 3, one line).
    ``slow=F`` is not a fault but a known effect (benchmarks/false_positives.py): see _slowed.
    """
    for spec in filter(None, os.environ.get("TWINBENCH_INJECT_FAULT", "").split(",")):
        kind, _, pattern = spec.partition(":")
        if not pattern or pattern not in job_id or kind.startswith("slow="):
            continue
        if kind == "crash":
            os.abort()  # SIGABRT, like a native crash inside a framework
        if kind == "segv":
            os.kill(os.getpid(), signal.SIGSEGV)
        if kind == "oom":
            hog = []
            while True:
                hog.append(bytearray(64 * 2**20))
                time.sleep(0.05)
        if kind == "exit":
            os._exit(7)
        if kind == "noresult":
            os._exit(0)
        if kind == "badresult":
            Path(out_path).write_text('{"measurements": [{"metric": ')
            os._exit(0)
        if kind == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if kind == "usererror":
            from twinbench.errors import UserError

            raise UserError(f"injected bad data in {job_id}")
        if kind == "hang":
            time.sleep(10_000)
        if kind == "error":
            raise RuntimeError(f"injected error in {job_id}")


_STARTED = time.perf_counter()


def _scenario(name: str) -> ModuleType:
    from twinbench.scenarios import INTERNAL, SCENARIOS

    return importlib.import_module(SCENARIOS.get(name) or INTERNAL[name])


def _prelude(name: str, ctx: Context) -> list[Measurement]:
    """A scenario run first in this worker (plan.Job.before); its failure is its own record,
    never the host job's (a failed ceiling must not block a parity check)."""
    from twinbench.scenarios.base import Failed

    try:
        out: list[Measurement] = _scenario(name).run(ctx)
    except Exception as exc:  # noqa: BLE001 - recorded, then the host scenario runs
        out = [Failed("job", "", None, error=f"{name} failed: {type(exc).__name__}: {exc}")]
    for m in out:
        m.scenario = name
    return out




def _slowed(adapter: Any, job_id: str) -> None:
    """TWINBENCH_INJECT_FAULT="slow=F:PATTERN": every training step of the jobs whose id holds
    PATTERN takes F (e.g. 0.10) longer — a sleep of F x the step's own duration before the step
    reports itself done — so a benchmark can check that a known difference is detected."""
    fracs = [float(kind.removeprefix("slow=")) for kind, _, pattern in
             (spec.partition(":") for spec in os.environ.get("TWINBENCH_INJECT_FAULT", "")
              .split(",")) if kind.startswith("slow=") and pattern and pattern in job_id]
    if not fracs:
        return
    frac, fit = fracs[0], adapter.fit

    def slow_fit(net: Any, x: Any, y: Any, bs: int, on_step: Any = None) -> float:
        last = [time.perf_counter()]

        def hook(steps: int) -> None:
            time.sleep(frac * (time.perf_counter() - last[0]))
            last[0] = time.perf_counter()
            if on_step is not None:
                on_step(steps)
        return float(fit(net, x, y, bs, on_step=hook))

    adapter.fit = slow_fit


def _log(job_id: str, msg: str) -> None:
    """A progress line for the job's log, with the seconds since the worker started."""
    print(f"[{job_id} +{time.perf_counter() - _STARTED:.1f}s] {msg}", flush=True)


def main(argv: list[str]) -> int:
    job_path, out_path, workdir = argv
    from twinbench.frameworks.base import FRAMEWORK_PACKAGES, FRAMEWORKS
    from twinbench.job import Job
    from twinbench.measure.env import fingerprint
    from twinbench.scenarios import spec as scenario_spec
    from twinbench.study import Study

    job = Job.from_dict(json.loads(Path(job_path).read_text()))
    study = Study.model_validate(job.settings)
    if scenario_spec(job.scenario).seed_per_process and job.process:
        study = study.model_copy(update={"seed": study.seed + job.process})
    _inject_fault(job.job_id, out_path)
    # torch.compile's on-disk caches start empty in every worker (inductor shares one folder in
    # /tmp otherwise): a compile time is a first compile, not one warmed by an earlier job.
    cache = tempfile.mkdtemp(prefix="twinbench-inductor-")
    atexit.register(shutil.rmtree, cache, True)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
    spec = FRAMEWORKS[job.framework]
    module_name, cls_name = spec.adapter.split(":")
    t0 = time.perf_counter()
    adapter_cls = getattr(importlib.import_module(module_name), cls_name)
    import_s = time.perf_counter() - t0
    adapter = adapter_cls(threads=study.threads, seed=study.seed, device=study.device)
    _slowed(adapter, job.job_id)

    from twinbench.scenarios.base import Context

    ctx = Context(job, study, adapter, Path(workdir), import_s,
                  progress=lambda msg: _log(job.job_id, msg))
    ctx.progress(f"{job.framework} imported in {import_s:.1f} s; running {job.scenario}")
    measurements = [m for sc in job.before for m in _prelude(sc, ctx)]
    measurements += _scenario(job.scenario).run(ctx)
    ctx.progress("done")

    own = {spec.backend}
    foreign = [p for p in FRAMEWORK_PACKAGES if p in sys.modules and p not in own]
    env = fingerprint()
    env["versions"] = adapter.versions()
    env["threads"] = adapter.thread_settings()
    env["foreign_frameworks_imported"] = foreign
    knobs = adapter.knobs(ctx.last_net) if hasattr(adapter, "knobs") and ctx.last_net else {}
    from twinbench.measure.timer import TIMED_WINDOWS

    payload = {"measurements": [m.to_dict() for m in measurements], "env": env,
               "backend": adapter.backend, "knobs": knobs, "timed_windows": TIMED_WINDOWS}
    write_atomic(Path(out_path), json.dumps(payload))
    return 0


if __name__ == "__main__":
    from twinbench.errors import UserError

    try:
        sys.exit(main(sys.argv[1:]))
    except UserError as exc:  # bad user data: one line, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(3)
