"""SQLite store: the embedded default home of every record.

One file holds runs, jobs and records. A job's records are written in one transaction, so a study
interrupted at any point keeps every finished job whole and none half-written.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from twinbench.results.schema import (
    SCHEMA_VERSION,
    Record,
    SchemaError,
    check_version,
    note_upgraded,
    read_record,
)

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, study TEXT NOT NULL, study_json TEXT NOT NULL,
    started TEXT NOT NULL, finished TEXT
);
CREATE TABLE IF NOT EXISTS jobs (
    run_id TEXT NOT NULL, job_id TEXT NOT NULL, spec_json TEXT NOT NULL,
    status TEXT NOT NULL, wall_s REAL, PRIMARY KEY (run_id, job_id)
);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, job_id TEXT NOT NULL,
    framework TEXT NOT NULL, scenario TEXT NOT NULL, metric TEXT NOT NULL,
    status TEXT NOT NULL, record_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_run ON records (run_id, job_id);
"""


class Store:
    """A results database file; safe to reopen, refuses a newer schema."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        try:
            self._open()
        except BaseException:
            self._db.close()
            raise

    def _open(self) -> None:
        """Check the file's schema version BEFORE writing anything, so a database from a newer
        twinbench (or another program) is refused untouched rather than altered."""
        try:
            tables = {r[0] for r in self._db.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")}
            row = None
            if "meta" in tables:
                row = self._db.execute(
                    "SELECT value FROM meta WHERE key='schema_version'").fetchone()
            elif tables - {"sqlite_sequence"}:
                raise SchemaError(f"{self.path} is a SQLite database of another program (no "
                                  "twinbench meta table); pass another --db or --out")
            if row is not None:
                check_version(_version(row[0], str(self.path)), str(self.path))
            self._db.executescript(_DDL)
        except sqlite3.DatabaseError as exc:
            raise SchemaError(f"{self.path} is not a twinbench results database ({exc}); "
                              "pass another --db or --out") from exc
        if row is None:
            with self._db:
                self._db.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start_run(self, run_id: str, study: str, study_json: str, started: str) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO runs VALUES (?, ?, ?, ?, NULL)",
                (run_id, study, study_json, started),
            )

    def finish_run(self, run_id: str, finished: str) -> None:
        with self._db:
            self._db.execute("UPDATE runs SET finished=? WHERE run_id=?", (finished, run_id))

    def add_job(
        self, run_id: str, job_id: str, spec: dict[str, Any], status: str, wall_s: float,
        records: Iterable[Record],
    ) -> None:
        """Write a finished job and all its records atomically (all or nothing)."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?)",
                (run_id, job_id, json.dumps(spec, sort_keys=True), status, wall_s),
            )
            self._db.execute(
                "DELETE FROM records WHERE run_id=? AND job_id=?", (run_id, job_id)
            )
            self._db.executemany(
                "INSERT INTO records (run_id, job_id, framework, scenario, metric, status, "
                "record_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (run_id, job_id, r.framework, r.scenario, r.name, r.status,
                     r.model_dump_json())
                    for r in records
                ],
            )

    def done_jobs(self, run_id: str) -> set[str]:
        rows = self._db.execute("SELECT job_id FROM jobs WHERE run_id=?", (run_id,))
        return {r[0] for r in rows}

    def jobs(self, run_id: str) -> dict[str, tuple[str, float]]:
        """job_id -> (status, wall seconds) of every finished job of a run."""
        rows = self._db.execute("SELECT job_id, status, wall_s FROM jobs WHERE run_id=?",
                                (run_id,))
        return {job_id: (status, wall or 0.0) for job_id, status, wall in rows}

    def last_run(self) -> str | None:
        row = self._db.execute(
            "SELECT run_id FROM runs ORDER BY started DESC, rowid DESC").fetchone()
        return row[0] if row else None

    def runs(self) -> list[tuple[str, str, str, str | None]]:
        rows = self._db.execute(
            "SELECT run_id, study, started, finished FROM runs ORDER BY started")
        return list(rows)

    def records(self, run_id: str | None = None) -> list[Record]:
        if run_id is None:
            rows = self._db.execute("SELECT record_json FROM records ORDER BY id")
        else:
            rows = self._db.execute(
                "SELECT record_json FROM records WHERE run_id=? ORDER BY id", (run_id,)
            )
        out = []
        upgraded: set[str] = set()
        for (text,) in rows:
            try:
                data = json.loads(text)
                data["schema_version"] = _version(data.get("schema_version", 0), str(self.path))
                out.append(read_record(data, str(self.path), upgraded))
            except (ValueError, AttributeError) as exc:  # JSON or pydantic: a damaged row
                raise SchemaError(f"{self.path} holds a damaged record ({type(exc).__name__}); "
                                  "it was not written by this twinbench") from None
        note_upgraded(upgraded)
        return out


def _version(value: object, where: str) -> int:
    """A stored schema version as an int, or one line saying the file is damaged."""
    try:
        return int(str(value))
    except (TypeError, ValueError):
        raise SchemaError(f"{where} has a damaged schema version {str(value)[:40]!r}; it is not "
                          "a results database this twinbench wrote") from None


__all__ = ["Store", "SchemaError"]
