"""Results contract: records round-trip through SQLite and results.jsonl unchanged."""

from __future__ import annotations

import json
import sqlite3

import pytest

from twinbench.errors import UserError
from twinbench.results.export import read_jsonl, write_jsonl
from twinbench.results.schema import SCHEMA_VERSION, Record, SchemaError
from twinbench.results.store import Store

CONTRACT = ["schema_version", "study", "task", "model", "framework", "backend", "mode",
            "scenario", "metric", "unit", "value", "samples", "ci95", "better", "device",
            "threads", "env"]


def _rec(**kw) -> Record:
    base = dict(study="s", run_id="r1", job_id="image-classification/resnet/pytorch/train",
                task="image-classification", model="resnet", framework="pytorch",
                backend="torch", scenario="train", metric="throughput", unit="samples/s",
                value=123.5, samples=[120.0, 123.5, 130.25], warmups=[50.0], ci95=(120.0, 130.25),
                better="higher", threads=2, env={"cpu": "x", "versions": {"torch": "2.13.0"}},
                knobs={"jit_compile": False}, extra={"steps_per_sample": 3})
    base.update(kw)
    return Record(**base)


def test_round_trip_sqlite_and_jsonl(tmp_path):
    recs = [_rec(), _rec(framework="keras-tf", backend="tensorflow", value=99.0),
            _rec(metric="job", unit="", value=None, status="failed", error="boom <b>",
                 samples=[], ci95=None, better=None)]
    with Store(tmp_path / "r.sqlite") as st:
        st.start_run("r1", "s", "{}", "2026-01-01")
        st.add_job("r1", "j1", {"a": 1}, "ok", 1.5, recs)
        back = st.records("r1")
        assert st.done_jobs("r1") == {"j1"}
    assert back == recs
    write_jsonl(tmp_path / "results.jsonl", back)
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 3
    for line in lines:
        assert set(CONTRACT) <= set(json.loads(line))
    assert read_jsonl(tmp_path / "results.jsonl") == recs


def test_rewriting_a_job_replaces_its_records(tmp_path):
    with Store(tmp_path / "r.sqlite") as st:
        st.add_job("r1", "j1", {}, "failed", 1.0, [_rec(value=1.0)])
        st.add_job("r1", "j1", {}, "ok", 1.0, [_rec(value=2.0), _rec(metric="step_time")])
        assert [r.value for r in st.records("r1")] == [2.0, 123.5]


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "r.sqlite"
    Store(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (SCHEMA_VERSION + 1,))
    with pytest.raises(SchemaError, match="newer than this twinbench"):
        Store(path)
    jl = tmp_path / "results.jsonl"
    jl.write_text(json.dumps(_rec().model_dump() | {"schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(UserError, match="newer than this twinbench"):
        read_jsonl(jl)


def test_not_a_database(tmp_path):
    path = tmp_path / "r.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(SchemaError, match="not a twinbench results database"):
        Store(path)
