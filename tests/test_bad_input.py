"""Bad input: one line naming the problem and the fix, exit code 2, no traceback.

Hand-picked cases through the real CLI, plus Hypothesis-generated study files that must either
validate or fail with exactly one UserError line naming the file — never any other exception.
"""

from __future__ import annotations

import json
import pickle
import sqlite3
import tomllib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twinbench.errors import UserError
from twinbench.results.schema import SCHEMA_VERSION
from twinbench.study import load_study


def _one_line_exit_2(r, needle: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout[-500:], r.stderr[-500:])
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert needle in lines[0], lines[0]


CLI_CASES = [
    (["run", "--task", "image-clasification"], "did you mean 'image-classification'?"),
    (["run", "--model", "resnt"], "did you mean 'resnet'?"),
    (["run", "--framework", "tensorflow"], "framework unknown 'tensorflow'"),
    (["run", "--scenario", "latncy"], "scenario unknown 'latncy'"),
    (["run", "--size", "huge"], "size 'huge' is not defined for model 'resnet'"),
    (["run", "--threads", "0"], "threads: Input should be greater than 0"),
    (["run", "--timeout", "-5"], "timeout_s: Input should be greater than 0"),
    (["run", "--processes", "0"], "processes: Input should be greater than or equal to 1"),
    (["run", "--device", "cuda"], "device 'cuda' is not supported"),
    (["run", "--dataset", "mnist"], "data set unknown 'mnist'"),
    (["run", "--dataset", "cifar10", "--data-path", "/nonexistent/cifar"], "cifar"),
    (["run", "--memory-limit", "0"], "memory_limit_mb: Input should be greater than 0"),
    (["run", "--resume", "/nonexistent/run"], "nothing to resume in /nonexistent/run"),
    (["show", "/nonexistent/run"], "results.jsonl not found"),
]


@pytest.mark.parametrize(("args", "needle"), CLI_CASES)
def test_cli_bad_input(cli, args, needle):
    _one_line_exit_2(cli(*args), needle)


def test_corrupt_cifar_archive(cli, tmp_path):
    bad = tmp_path / "cifar-10-python.tar.gz"
    bad.write_bytes(b"\x1f\x8b this is not a tar archive")
    _one_line_exit_2(cli("run", "--dataset", "cifar10", "--data-path", str(bad)), str(bad))


def test_malicious_pickle_in_cifar_folder_is_refused(cli, tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                 "data_batch_5", "test_batch", "batches.meta"]:
        (folder / name).write_bytes(pickle.dumps(Evil()))
    r = cli("run", "--dataset", "cifar10", "--data-path", str(folder))
    assert "pwned" not in r.stdout
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_newer_results_schema_is_refused(cli, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    rec = {"schema_version": SCHEMA_VERSION + 1}
    (out / "results.jsonl").write_text(json.dumps(rec) + "\n")
    _one_line_exit_2(cli("show", str(out)), "newer than this twinbench")
    (out / "study.json").write_text("{}")
    with sqlite3.connect(out / "results.sqlite") as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION + 1),))
    _one_line_exit_2(cli("run", "--resume", str(out)), "newer than this twinbench")


def test_garbage_results_file(cli, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "results.jsonl").write_text("{not json\n")
    _one_line_exit_2(cli("show", str(out)), "results.jsonl:1 is not a twinbench record")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("tasks = 3", "tasks"),
        ('[infer]\nlatency_runs = 1.5', "infer.latency_runs"),
        ('[server]\nlatency_bound_ms = -1', "server.latency_bound_ms"),
        ('models = ["unet"]\ntasks = ["image-classification"]', "belongs to task"),
        ('[accuracy]\nepochs = 0', "accuracy.epochs"),
        ('[train]\nmomentum = 1.0', "train.momentum"),
        ("image_size = 4", "image_size"),
        ('unknown_key = "x"', "unknown_key: Extra inputs are not permitted"),
        ("\x00", "not valid TOML"),
    ],
)
def test_bad_study_file_cases(tmp_path, text, needle):
    p = tmp_path / "s.toml"
    p.write_text(text)
    with pytest.raises(UserError) as exc:
        load_study(p)
    assert str(exc.value).startswith(str(p)) and needle in str(exc.value)
    assert "\n" not in str(exc.value)


_scalars = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                     st.text(max_size=12), st.booleans(), st.none())
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
def test_fuzzed_study_files_never_crash(tmp_path, top, nested):
    lines = []
    for k, v in top.items():
        if isinstance(v, list):
            items = [_toml_value(x) for x in v if x is not None]
            lines.append(f"{k} = [{', '.join(items)}]")
        elif (tv := _toml_value(v)) is not None:
            lines.append(f"{k} = {tv}")
    for sec, body in nested.items():
        lines.append(f"[{sec}]")
        lines += [f"{k} = {tv}" for k, v in body.items() if (tv := _toml_value(v)) is not None]
    p = tmp_path / "fuzz.toml"
    p.write_text("\n".join(lines) + "\n")
    try:
        tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError:
        pass
    try:
        study = load_study(p)
    except UserError as exc:
        msg = str(exc)
        assert msg.startswith(str(p)) and "\n" not in msg and len(msg) < 600
    else:
        assert study.threads > 0 and study.frameworks
