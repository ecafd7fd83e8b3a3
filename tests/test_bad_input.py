"""Bad input: one line naming the problem and the fix, exit code 2, no traceback.

Every case goes through the real CLI in a subprocess, as a user would meet it; Hypothesis-made
study files go through load_study + preflight + plan and must give a plan or one UserError line.
"""

from __future__ import annotations

import json
import pickle
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from conftest import ROOT
from twinbench.errors import UserError
from twinbench.results.schema import SCHEMA_VERSION
from twinbench.study import load_study


def _one_line_exit_2(r, *needles: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout[-500:], r.stderr[-500:])
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("twinbench: error: ")
    assert "Traceback" not in r.stderr + r.stdout
    for needle in needles:
        assert needle in lines[0], lines[0]


CLI_CASES = [
    (["run", "--task", "image-clasification"], "did you mean 'image-classification'?"),
    (["run", "--model", "resnt"], "did you mean 'resnet'?"),
    (["run", "--framework", "pytorh"], "did you mean 'pytorch'?"),
    (["run", "--framework", "tensorflow"], "framework unknown 'tensorflow'"),
    (["run", "--scenario", "latncy"], "scenario unknown 'latncy'"),
    (["run", "--preset", "quik"], "did you mean 'quick'?"),
    (["run", "--size", "huge"], "size 'huge' is not defined for model 'resnet'"),
    (["run", "--threads", "0"], "threads: Input should be greater than 0"),
    (["run", "--threads", "-3"], "threads: Input should be greater than 0 (got -3)"),
    (["run", "--timeout", "-5"], "timeout_s: Input should be greater than 0"),
    (["run", "--timeout", "inf"], "timeout_s: Input should be a finite number"),
    (["run", "--memory-limit", "nan"], "memory_limit_mb: Input should be a finite number"),
    (["run", "--memory-limit", "0"], "memory_limit_mb: Input should be greater than 0"),
    (["run", "--processes", "0"], "processes: Input should be greater than or equal to 1"),
    (["run", "--processes", "1000"], "processes: Input should be less than or equal to 100"),
    (["run", "--seed", "-1"], "seed: Input should be greater than or equal to 0"),
    (["run", "--device", "cuda"], "device 'cuda' is not supported", 'use device = "cpu"'),
    (["run", "--dataset", "mnist"], "data set unknown 'mnist'"),
    (["run", "--dataset", "cifar10", "--data-path", "/nonexistent/cifar"], "CIFAR-10 not found"),
    (["run", "--task", "object-detection", "--dataset", "coco"], "pass --data-path FOLDER"),
    (["run", "/nonexistent/study.toml"], "no such study file"),
    (["run", "--resume", "/nonexistent/run"], "nothing to resume in /nonexistent/run"),
    (["show", "/nonexistent/run"], "results.jsonl not found"),
    (["report", "/nonexistent/run"], "results.jsonl not found"),
]


@pytest.mark.parametrize("case", CLI_CASES, ids=lambda c: " ".join(c[0])[:40])
def test_cli_bad_input(cli, case):
    args, *needles = case
    _one_line_exit_2(cli(*args), *needles)


STUDY_FILES = [
    ("tasks = 3", "tasks"),
    ("[infer]\nlatency_runs = 1.5", "infer.latency_runs"),
    ("[server]\nlatency_bound_ms = -1", "server.latency_bound_ms"),
    ('models = ["unet"]\ntasks = ["image-classification"]', "belongs to task"),
    ("[accuracy]\nepochs = 0", "accuracy.epochs"),
    ("[train]\nmomentum = 1.0", "train.momentum"),
    ("[train]\nbatch_size = -8", "train.batch_size: Input should be greater than 0"),
    ("[train]\nlr = nan", "train.lr: Input should be a finite number"),
    ("[train]\nlr = inf", "train.lr: Input should be a finite number"),
    ("min_sample_s = -inf", "min_sample_s"),
    ("image_size = 4", "image_size"),
    ('unknown_key = "x"', "unknown_key: Extra inputs are not permitted"),
    ("threads = ", "not valid TOML"),
    ("\x00", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "needle"), STUDY_FILES, ids=lambda v: str(v)[:24])
def test_bad_study_file(cli, tmp_path, text, needle):
    p = tmp_path / "s.toml"
    p.write_text(text)
    _one_line_exit_2(cli("run", str(p)), f"error: {p}: ", needle)


def test_debug_shows_the_traceback(cli):
    r = cli("--debug", "run", "--framework", "pytorh")
    assert r.returncode != 0 and "Traceback" in r.stderr and "did you mean 'pytorch'" in r.stderr


def test_framework_not_installed(tmp_path):
    """jax hidden from find_spec (what preflight asks) stands in for a machine without it."""
    code = ("import importlib.util as u, sys; real = u.find_spec; "
            "u.find_spec = lambda n, *a, **k: None if n == 'jax' else real(n, *a, **k); "
            "sys.argv = ['twinbench', 'run', '--framework', 'pytorch,keras-jax']; "
            "from twinbench.cli import main; main()")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       timeout=120, check=False)
    _one_line_exit_2(r, "framework 'keras-jax' needs the package 'jax', which is not installed",
                     "make setup", "or drop 'keras-jax'")


# ------------------------------------------------------------------ user data files


def test_corrupt_cifar_archive(cli, tmp_path):
    bad = tmp_path / "cifar-10-python.tar.gz"
    bad.write_bytes(b"\x1f\x8b this is not a tar archive")
    _one_line_exit_2(cli("run", "--dataset", "cifar10", "--data-path", str(bad)), str(bad),
                     "re-download")


def _cifar_folder(tmp_path: Path, batch: object) -> Path:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    return folder


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_malicious_pickle_in_cifar_folder_is_refused(cli, tmp_path):
    r = cli("run", "--dataset", "cifar10", "--data-path", str(_cifar_folder(tmp_path, _Evil())))
    assert "pwned" not in r.stdout
    _one_line_exit_2(r, "asks to load __builtin__.print", "refusing it as unsafe")


def test_cifar_with_wrong_shapes(cli, tmp_path):
    batch = {"data": np.zeros((4, 1000), np.uint8), "labels": [0, 1, 2, 3]}
    r = cli("run", "--dataset", "cifar10", "--data-path", str(_cifar_folder(tmp_path, batch)))
    _one_line_exit_2(r, "is not a valid CIFAR-10 batch", "expected uint8 (N, 3072)")


def _coco(root: Path, image: np.ndarray, bbox: list[float] | None = None) -> Path:
    """A one-image COCO-style folder (train.json, test.json, a.npy)."""
    np.save(root / "a.npy", image)
    ann = {"id": 1, "image_id": 1, "category_id": 5}
    if bbox is not None:
        ann["bbox"] = bbox
    doc = {"images": [{"id": 1, "file_name": "a.npy"}], "annotations": [ann],
           "categories": [{"id": 5, "name": "cat"}]}
    for split in ("train", "test"):
        (root / f"{split}.json").write_text(json.dumps(doc))
    return root


COCO_CASES = [
    (np.full((8, 8, 3), np.nan, np.float32), [1, 1, 2, 2], "a.npy: the image contains NaN or inf"),
    (np.full((8, 8, 3), np.inf, np.float32), [1, 1, 2, 2], "NaN or inf values"),
    (np.zeros((8, 8, 3), np.float32), [1, float("nan"), 2, 2], "NaN or inf in its bbox"),
    (np.zeros((8, 8, 2), np.uint8), [1, 1, 2, 2], "an image must be (H, W), (H, W, 1|3|4)"),
    (np.zeros((2, 8, 8, 3), np.uint8), [1, 1, 2, 2], "got (2, 8, 8, 3)"),
    (np.zeros((8, 8, 3), np.uint8), None, "could not be read (KeyError: 'bbox')"),
]


@pytest.mark.parametrize(("image", "bbox", "needle"), COCO_CASES,
                         ids=["nan", "inf", "nan-box", "channels", "shape", "no-bbox"])
def test_bad_coco_data(cli, tmp_path, image, bbox, needle):
    root = _coco(tmp_path, image, bbox)
    r = cli("run", "--task", "object-detection", "--dataset", "coco", "--data-path", str(root))
    _one_line_exit_2(r, needle)


# ------------------------------------------------------------------ results folders


def _resumable(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    out.mkdir()
    (out / "study.json").write_text(load_study(preset="tiny").model_dump_json())
    return out


def _tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as c:
        return {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_newer_results_schema_is_refused_untouched(cli, tmp_path):
    out = _resumable(tmp_path)
    (out / "results.jsonl").write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1}) + "\n")
    _one_line_exit_2(cli("show", str(out)), "newer than this twinbench")
    with sqlite3.connect(out / "results.sqlite") as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION + 1),))
    _one_line_exit_2(cli("run", "--resume", str(out)), "newer than this twinbench", "upgrade")
    assert _tables(out / "results.sqlite") == {"meta"}  # checked before any CREATE TABLE


@pytest.mark.parametrize(("setup", "needle"), [
    ("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
     "INSERT INTO meta VALUES ('schema_version', 'v2-beta');", "damaged schema version 'v2-beta'"),
    ("CREATE TABLE users (name TEXT);", "a SQLite database of another program"),
    (None, "is not a twinbench results database (file is not a database)"),
], ids=["garbage-version", "other-program", "not-sqlite"])
def test_corrupt_results_database_on_resume(cli, tmp_path, setup, needle):
    out = _resumable(tmp_path)
    db = out / "results.sqlite"
    if setup is None:
        db.write_bytes(b"this is not a SQLite file at all" * 8)
    else:
        with sqlite3.connect(db) as c:
            c.executescript(setup)
    _one_line_exit_2(cli("run", "--resume", str(out)), str(db), needle)


def test_damaged_study_json_on_resume(cli, tmp_path):
    out = _resumable(tmp_path)
    (out / "results.sqlite").write_bytes(b"")
    (out / "study.json").write_text('{"threads": "many"')
    _one_line_exit_2(cli("run", "--resume", str(out)), "study.json is damaged", "start a new run")


def test_resume_refuses_flags_it_would_ignore(cli, tmp_path):
    out = _resumable(tmp_path)
    r = cli("run", "--resume", str(out), "--framework", "keras-tf", "--threads", "2")
    _one_line_exit_2(r, "cannot apply --framework, --threads", "drop them")


def _output_case(tmp_path: Path, case: str) -> tuple[list[str], str]:
    """(extra CLI args, the words the one line must hold) for a results folder that can't work."""
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "study.json").write_text(json.dumps({"name": "someone-elses"}))
    (tmp_path / "dbdir").mkdir()
    return {
        "out-is-a-file": (["--out", str(tmp_path / "a-file")], "is a file, not a folder"),
        "out-under-a-file": (["--out", str(tmp_path / "a-file" / "run")],
                             "which is a file, not a folder"),
        "out-not-writable": (["--out", "/proc/self/run"], "cannot write results to /proc/self"),
        "out-holds-another-study": (["--out", str(tmp_path / "other")],
                                    "holds another study (someone-elses)"),
        "db-is-a-folder": (["--out", str(tmp_path / "ok"), "--db", str(tmp_path / "dbdir")],
                           "is a folder; give a file path"),
        "db-not-writable": (["--out", str(tmp_path / "ok"), "--db", "/proc/self/r.sqlite"],
                            "cannot write results to /proc/self"),
    }[case]


@pytest.mark.parametrize("case", ["out-is-a-file", "out-under-a-file", "out-not-writable",
                                  "out-holds-another-study", "db-is-a-folder", "db-not-writable"])
def test_unusable_results_folder_is_refused_before_any_job(cli, tmp_path, case):
    args, needle = _output_case(tmp_path, case)
    r = cli("run", "--preset", "tiny", "--framework", "pytorch", "--scenario", "train", *args)
    _one_line_exit_2(r, needle)
    assert "study tiny" not in r.stdout  # refused before the study started
    assert not (tmp_path / "ok").exists()


def test_a_full_disk_is_refused_before_any_job(tmp_path, monkeypatch):
    from twinbench import preflight as pf

    study = load_study(None, "tiny")
    usage = pf.shutil.disk_usage(tmp_path)
    monkeypatch.setattr(pf.shutil, "disk_usage", lambda p: usage._replace(free=50 * 2**20))
    with pytest.raises(UserError, match=r"only 50 MiB free where results go .* at least 200"):
        pf.check_output(study, tmp_path / "run")
    monkeypatch.setattr(pf.shutil, "disk_usage", lambda p: usage._replace(free=300 * 2**20))
    pf.check_output(study, tmp_path / "run")  # enough room: no error


def test_same_study_may_reuse_its_folder_and_resume_skips_the_name_check(tmp_path):
    from twinbench.preflight import check_output

    out = tmp_path / "run"
    out.mkdir()
    (out / "study.json").write_text(json.dumps({"name": "tiny"}))
    check_output(load_study(None, "tiny"), out)  # `make demo` twice: same study, same folder
    check_output(load_study(None, "quick"), out, resume=True)


@pytest.mark.parametrize("command", ["show", "report"])
def test_garbage_results_file(cli, tmp_path, command):
    out = tmp_path / "run"
    out.mkdir()
    (out / "results.jsonl").write_text("{not json\n")
    _one_line_exit_2(cli(command, str(out)), "results.jsonl:1 is not a twinbench record")


# ------------------------------------------------------------------ fuzzed study files

_scalars = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                     st.text(max_size=12), st.booleans(), st.none(),
                     st.sampled_from(["pytorch", "keras-tf", "lightning", "train", "infer",
                                      "startup", "resnet", "unet", "tiny", "small", "digits",
                                      "synthetic", "cifar10", "image-classification", "cpu"]))
_keys = st.sampled_from(["name", "tasks", "models", "frameworks", "scenarios", "size", "threads",
                         "seed", "timeout_s", "image_size", "processes", "device", "parity",
                         "bogus", "min_sample_s", "memory_limit_mb"])
_sections = st.sampled_from(["train", "infer", "accuracy", "server"])
_section_keys = st.sampled_from(["batch_size", "steps", "samples", "warmup", "lr", "dataset",
                                 "epochs", "latency_runs", "duration_s", "nope"])


def _toml_value(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return {float("inf"): "inf", float("-inf"): "-inf"}.get(v, "nan" if v != v else repr(v))
    if isinstance(v, int):
        return str(v)
    return json.dumps(v)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(top=st.dictionaries(_keys, st.one_of(_scalars, st.lists(_scalars, max_size=3)),
                           max_size=5),
       nested=st.dictionaries(_sections, st.dictionaries(_section_keys, _scalars, max_size=3),
                              max_size=2))
def test_fuzzed_study_files_plan_or_fail_with_one_line(tmp_path, top, nested):
    from twinbench.plan import plan
    from twinbench.preflight import preflight

    lines = []
    for k, v in top.items():
        if isinstance(v, list):
            lines.append(f"{k} = [{', '.join(_toml_value(x) for x in v if x is not None)}]")
        elif (tv := _toml_value(v)) is not None:
            lines.append(f"{k} = {tv}")
    for sec, body in nested.items():
        lines.append(f"[{sec}]")
        lines += [f"{k} = {tv}" for k, v in body.items() if (tv := _toml_value(v)) is not None]
    p = tmp_path / "fuzz.toml"
    p.write_text("\n".join(lines) + "\n")
    try:
        study = load_study(p)
        preflight(study)
        jobs = plan(study)
    except UserError as exc:  # anything else (KeyError, ValidationError ...) fails the test
        msg = str(exc)
        assert msg.strip() and "\n" not in msg and len(msg) < 800, msg
        event("refused with one line")
    else:
        event("planned")
        assert jobs and study.threads > 0
        assert {j.framework for j in jobs} <= set(study.frameworks)
        assert {j.scenario for j in jobs} - {"parity", "ceiling"} <= set(study.scenarios)
