"""Run a planned study: parity first, then timed jobs, each result stored as it arrives.

The outputs of a study folder are regenerated from the SQLite store at the end (results.jsonl,
report.html), so what the files say is exactly what the database holds.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from twinbench.plan import Job, plan
from twinbench.results.export import write_jsonl
from twinbench.results.schema import Record
from twinbench.results.store import Store
from twinbench.runner.local import JobOutcome, LocalRunner, now
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
    if outcome.status != "ok":
        return f"parity check did not complete: {(outcome.error or '').splitlines()[0]}"
    bad = [r for r in outcome.records if r.extra.get("passed") is False]
    if bad:
        return "twin parity failed: " + "; ".join(
            f"{r.metric}={r.value:.3g} > {r.extra['tolerance']:g}" for r in bad)
    return None


def run_study(
    study: Study, outdir: Path, db_path: Path | None = None,
    on_start: Callable[[Job, int, int], None] | None = None,
    on_done: Callable[[JobOutcome], None] | None = None,
) -> StudyResult:
    outdir.mkdir(parents=True, exist_ok=True)
    jobs = plan(study)
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)
    (outdir / "study.json").write_text(json.dumps(study.model_dump(mode="json"), indent=2))
    t0 = time.perf_counter()
    outcomes: list[JobOutcome] = []
    with Store(db_path or outdir / "results.sqlite") as store:
        store.start_run(run_id, study.name, study.model_dump_json(), now())
        runner = LocalRunner(study, outdir, store, run_id)
        parity: dict[str, str | None] = {}
        for i, job in enumerate(jobs):
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
        records = store.records(run_id)
    write_jsonl(outdir / "results.jsonl", records)
    result = StudyResult(run_id, outdir, outcomes, records, time.perf_counter() - t0)
    from twinbench.report.html import write_html

    write_html(outdir / "report.html", study.name, records)
    return result
