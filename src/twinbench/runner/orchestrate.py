"""Run a planned study: parity first, then timed jobs, each result stored as it arrives.

results.jsonl is regenerated from the SQLite store at the end, so what the file says is exactly
what the database holds. The reports are the CLI's to render afterwards (twinbench.outputs):
the runner only measures and stores.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from twinbench.analysis.ceiling import attach_ceiling
from twinbench.analysis.merge import merge_processes
from twinbench.analysis.paths import select_paths
from twinbench.atomic import write_atomic
from twinbench.errors import UserError
from twinbench.plan import Job, plan
from twinbench.results.export import write_jsonl
from twinbench.results.schema import Record
from twinbench.results.store import Store
from twinbench.runner.local import JobOutcome, LocalRunner, kill_stale_workers, now
from twinbench.study import Study


@dataclass
class StudyResult:
    run_id: str
    outdir: Path
    outcomes: list[JobOutcome]
    records: list[Record]
    wall_s: float

    @property
    def failed(self) -> list[JobOutcome]:
        return [o for o in self.outcomes if o.status != "ok"]


def parity_verdict(outcome: JobOutcome) -> str | None:
    """None when the parity job passed, else the reason the twin is not comparable."""
    bad = [r for r in outcome.records if r.extra.get("passed") is False]
    if bad:
        return "twin parity failed: " + "; ".join(
            r.extra.get("why") or f"{r.metric}={r.value:.3g} > {r.extra['tolerance']:.3g}"
            for r in bad)
    if outcome.status != "ok":
        return f"parity check did not complete: {(outcome.error or '').splitlines()[0]}"
    return None


def load_resumable(outdir: Path) -> Study:
    """The study a folder was started with, for `run --resume`."""
    path = outdir / "study.json"
    if not path.exists() or not (outdir / "results.sqlite").exists():
        raise UserError(f"nothing to resume in {outdir}: no study.json and results.sqlite there")
    try:
        return Study.model_validate_json(path.read_text())
    except (OSError, ValueError) as exc:  # unreadable, not JSON, or not a valid study
        raise UserError(f"{path} is damaged ({str(exc).splitlines()[0]}); start a new run") \
            from exc


def _stored_outcomes(store: Store, run_id: str, jobs: list[Job]) -> dict[str, JobOutcome]:
    by_job: dict[str, list[Record]] = {}
    for r in store.records(run_id):
        by_job.setdefault(r.job_id, []).append(r)
    finished = store.jobs(run_id)
    return {j.job_id: JobOutcome(j, finished[j.job_id][0], finished[j.job_id][1],
                                 by_job.get(j.job_id, []),
                                 next((r.error for r in by_job.get(j.job_id, []) if r.error), None))
            for j in jobs if j.job_id in finished}


def run_study(
    study: Study, outdir: Path, db_path: Path | None = None,
    on_start: Callable[[Job, int, int], None] | None = None,
    on_done: Callable[[JobOutcome], None] | None = None,
    resume: bool = False,
) -> StudyResult:
    """Run every planned job (with ``resume``: only those without a stored result)."""
    outdir.mkdir(parents=True, exist_ok=True)
    jobs = plan(study)
    t0 = time.perf_counter()
    outcomes: list[JobOutcome] = []
    with Store(db_path or outdir / "results.sqlite") as store:
        previous = store.last_run() if resume else None
        if previous:
            run_id = previous
            kill_stale_workers(outdir)
            stored = _stored_outcomes(store, run_id, jobs)
        else:  # a new run, or a resume killed before its run was stored: nothing ran yet
            run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)
            write_atomic(outdir / "study.json",
                          json.dumps(study.model_dump(mode="json"), indent=2))
            store.start_run(run_id, study.name, study.model_dump_json(), now())
            stored = {}
        runner = LocalRunner(study, outdir, store, run_id)
        parity: dict[str, str | None] = {}
        for i, job in enumerate(jobs):
            if job.job_id in stored:  # finished before the interruption: keep, do not redo
                outcome = stored[job.job_id]
                if job.scenario == "parity":
                    parity[job.job_id] = parity_verdict(outcome)
                outcomes.append(outcome)
                if on_done:
                    on_done(outcome)
                continue
            if on_start:
                on_start(job, i, len(jobs))
            blocked = parity.get(job.needs) if job.needs else None
            if blocked:
                outcome = runner.failed(job, f"skipped: {blocked}", 0.0, status="skipped")
            else:
                outcome = runner.run_one(job)
            if job.scenario == "parity":
                parity[job.job_id] = parity_verdict(outcome)
                if parity[job.job_id] and outcome.status == "ok":
                    outcome.status = "failed"
                    outcome.error = parity[job.job_id]
            runner.save(outcome)
            outcomes.append(outcome)
            if on_done:
                on_done(outcome)
        store.finish_run(run_id, now())
        raw = store.records(run_id)
    records = select_paths(attach_ceiling(merge_processes(raw)))
    write_jsonl(outdir / "results.jsonl", records)
    return StudyResult(run_id, outdir, outcomes, records, time.perf_counter() - t0)
