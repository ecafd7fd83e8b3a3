"""Demo: a study interrupted (Ctrl-C, then kill -9) and resumed loses and duplicates nothing.

    .venv/bin/python benchmarks/resume_demo.py [--out DIR] [--after 2]

Runs `twinbench run --preset tiny --framework pytorch` (ceiling, startup + memory, accuracy,
train: 4 jobs), stops it with SIGINT once --after jobs are stored in its SQLite file, resumes it,
then does the same with kill -9 of the orchestrator. Every count below is read from the real
results.sqlite. It is a demo of correctness, not a timing.
"""

from __future__ import annotations

import argparse
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STUDY = ["--preset", "tiny", "--framework", "pytorch", "--threads", "1",
         "--scenario", "startup,memory,accuracy,train"]


def counts(db: Path) -> dict[str, int]:
    """Jobs, records and duplicated (job, scenario, metric, framework) rows in the database."""
    if not db.exists():
        return {"jobs": 0, "records": 0, "duplicated": 0, "runs": 0}
    with sqlite3.connect(db) as c:
        one = lambda sql: c.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "jobs": one("SELECT count(*) FROM jobs"),
            "records": one("SELECT count(*) FROM records"),
            "duplicated": one("SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM "
                              "records GROUP BY run_id, job_id, scenario, metric, framework)"),
            "runs": one("SELECT count(*) FROM runs"),
        }


def stored_rows(db: Path) -> set[tuple[str, str]]:
    with sqlite3.connect(db) as c:
        return set(c.execute("SELECT job_id, record_json FROM records"))


def interrupt(out: Path, after: int, how: signal.Signals) -> tuple[int, float, str]:
    """Start the study, send ``how`` to the orchestrator once ``after`` jobs are stored."""
    db = out / "results.sqlite"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "twinbench.cli", "run", *STUDY,
                             "--out", str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    while proc.poll() is None:
        try:
            if counts(db)["jobs"] >= after:
                proc.send_signal(how)
                break
        except sqlite3.OperationalError:
            pass  # the orchestrator is creating the file
        time.sleep(0.2)
    _, err = proc.communicate(timeout=300)
    return proc.returncode, time.perf_counter() - t0, err.strip()


def demo(out: Path, after: int, how: signal.Signals) -> bool:
    db = out / "results.sqlite"
    rc, wall, said = interrupt(out, after, how)
    before = counts(db)
    kept = stored_rows(db)
    print(f"{how.name}: orchestrator exit {rc} after {wall:.1f} s; stored before resume: "
          f"{before['jobs']} of 4 jobs, {before['records']} records")
    if said:
        print(f"  orchestrator said: {said.splitlines()[-1]}")
    resumed = subprocess.run([sys.executable, "-m", "twinbench.cli", "run", "--resume",
                              str(out)], capture_output=True, text=True, check=False)
    after_ = counts(db)
    intact = kept <= stored_rows(db)
    print(f"  resume exit {resumed.returncode}; after: {after_['jobs']} jobs, "
          f"{after_['records']} records, {after_['runs']} run id, duplicated rows "
          f"{after_['duplicated']}, records stored before the stop unchanged: {intact}")
    ok = (before["jobs"] < 4 and after_["jobs"] == 4 and after_["duplicated"] == 0
          and after_["runs"] == 1 and intact and resumed.returncode == 0)
    if resumed.returncode != 0:
        print(resumed.stderr[-1500:])
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--after", type=int, default=2, help="jobs stored before the interrupt")
    args = ap.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="tb-resume-"))
    results = [demo(root / name, args.after, how)
               for name, how in (("sigint", signal.SIGINT), ("kill9", signal.SIGKILL))]
    print("nothing lost, nothing duplicated" if all(results) else "RESUME CHECK FAILED")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
