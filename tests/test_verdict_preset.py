"""The verdict composite preset, `run --resume` of a composite, `report DIR DIR --out`, and the
machine line a report opens with (issue #18, part 5). Nothing here runs a real job: run_study is
replaced by a fake that writes what a finished part leaves behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from twinbench.analysis.machine import NOT_RECORDED, describe, machine_summary
from twinbench.errors import UserError
from twinbench.plan import plan
from twinbench.results.export import write_jsonl
from twinbench.results.schema import Record
from twinbench.runner import composite
from twinbench.runner.composite import combine, load_resumable_composite, quantity, run_composite
from twinbench.runner.orchestrate import StudyResult
from twinbench.study import COMPOSITES, PRESETS, load_composite

ENV = {"cpu": "AMD EPYC 7B13", "cores": 2, "affinity": 2, "simd": "AVX2", "memory_gib": 23.5,
       "gpus": []}


def _rec(study: str = "s", framework: str = "pytorch", scenario: str = "train",
         metric: str = "throughput", env: dict | None = None, **kw) -> Record:
    base = dict(study=study, run_id="r1", job_id=f"image-classification/resnet/{framework}/"
                f"{scenario}", task="image-classification", model="resnet",
                framework=framework, backend="torch" if framework == "pytorch" else "tensorflow",
                scenario=scenario, metric=metric, unit="samples/s", value=100.0, better="higher",
                threads=2, env=ENV if env is None else env)
    return Record(**{**base, **kw})


def _folder(path: Path, records: list[Record]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    write_jsonl(path / "results.jsonl", records)
    return path


# ---- the composite's parts ----

def test_verdict_parts_plan_without_overlap():
    parts = load_composite("verdict")
    names = [p for p, _ in parts]
    assert names == ["speed", "tuned", "tasks", "mobile", "web", "profile"]
    jobs = {p: plan(s) for p, s in parts}
    assert {p: len(j) for p, j in jobs.items()} == {
        "speed": 20, "tuned": 12, "tasks": 28, "mobile": 2, "web": 2, "profile": 2}
    studies = dict(parts)
    assert studies["speed"].mode == ["out-of-box"] and studies["tuned"].mode == ["tuned"]
    assert all(s.processes >= 3 for p, s in parts if p in ("speed", "tuned", "tasks"))
    assert set(studies["tasks"].selected_models()) == {"unet", "transformer"}
    assert {sc for _, s in parts for sc in s.scenarios} >= {
        "train", "infer", "startup", "memory", "export-mobile", "export-web",
        "profile"}
    # no quantity comes from two parts: (task, model, framework, scenario, mode) of every
    # job's records, the parity checks and the machine ceiling included
    owner: dict[tuple, str] = {}
    for part, js in jobs.items():
        mine = {(*j.identity(sc), j.framework, sc, j.mode) for j in js for sc in j.scenarios}
        assert not mine & set(owner), (part, sorted(mine & set(owner)))
        owner.update(dict.fromkeys(mine, part))
    assert sum(1 for k in owner if k[3] == "parity") == 2 + 4  # resnet; unet and transformer
    assert sum(1 for k in owner if k[3] == "ceiling") == 2


def test_composites_do_not_shadow_presets_and_list_shows_them():
    from twinbench.cli import app

    assert not set(COMPOSITES) & set(PRESETS)
    r = CliRunner().invoke(app, ["list"])
    assert r.exit_code == 0 and "verdict" in r.output and "composite" in r.output


def test_composite_overrides_apply_to_every_part_or_are_refused():
    parts = load_composite("verdict", {"threads": 1, "seed": 7, "timeout_s": None})
    assert all(s.threads == 1 and s.seed == 7 for _, s in parts)
    with pytest.raises(UserError, match="cannot apply frameworks"):
        load_composite("verdict", {"frameworks": ["pytorch"]})
    with pytest.raises(UserError, match="did you mean 'verdict'"):
        load_composite("verdic")


@pytest.mark.parametrize("flags", [["--framework", "pytorch"], ["--processes", "1"],
                                   ["study.toml"], ["--mode", "tuned"]])
def test_run_verdict_refuses_what_flags_in_one_line(flags, tmp_path):
    from twinbench.cli import app

    args = ["run", "--preset", "verdict", "--out", str(tmp_path / "v")]
    args = (["run", *flags, "--preset", "verdict"] if flags == ["study.toml"] else args + flags)
    r = CliRunner().invoke(app, args)
    assert isinstance(r.exception, UserError), r.output
    assert "runs fixed parts and cannot apply" in str(r.exception)
    assert not (tmp_path / "v").exists()


# ---- running and resuming (run_study faked) ----

class FakeRun:
    """run_study as a composite calls it: writes results.jsonl, records what it was asked."""

    def __init__(self, fail_part: str | None = None, interrupt_part: str | None = None):
        self.calls: list[tuple[str, bool]] = []
        self.fail_part, self.interrupt_part = fail_part, interrupt_part

    def __call__(self, study, outdir, db=None, on_start=None, on_done=None, resume=False):
        part = outdir.name
        self.calls.append((part, resume))
        if part == self.interrupt_part:
            self.interrupt_part = None  # the next invocation gets through
            raise KeyboardInterrupt
        recs = [_rec(study.name, scenario=f"sc-{part}")]
        if part == self.fail_part:
            recs.append(_rec(study.name, scenario=f"sc-{part}", metric="job", value=None,
                             status="failed", error="boom"))
        _folder(outdir, recs)
        (outdir / "study.json").write_text(study.model_dump_json())

        class Outcome:
            status = "failed" if part == self.fail_part else "ok"

        return StudyResult("r1", outdir, [Outcome()], recs, 1.0)


@pytest.fixture
def fake(monkeypatch):
    run = FakeRun()
    monkeypatch.setattr(composite, "run_study", run)
    written = []
    monkeypatch.setattr("twinbench.report.html.write_reports",
                        lambda outdir, study, records, analysis=None:
                        written.append((study, len(records)))
                        or (outdir / "report.html", outdir / "report.md"))
    run.written = written
    return run


def _parts(n: int = 3):
    return [(f"p{i}", s) for i, (_, s) in enumerate(load_composite("verdict")[:n])]


def test_composite_runs_every_part_and_merges(fake, tmp_path):
    out = tmp_path / "v"
    seen = []
    res = run_composite("verdict", _parts(), out,
                        on_part=lambda i, n, p, s, skipped: seen.append((i, n, p, skipped)))
    assert seen == [(0, 3, "p0", False), (1, 3, "p1", False), (2, 3, "p2", False)]
    assert fake.calls == [("p0", False), ("p1", False), ("p2", False)]
    assert res.merge_error is None and res.failed == 0 and len(res.records) == 3
    assert fake.written == []  # the runner renders no report: the CLI does, after the run
    assert len((out / "results.jsonl").read_text().splitlines()) == 3
    state = json.loads((out / "composite.json").read_text())
    assert set(state["finished"]) == {"p0", "p1", "p2"}


def test_failed_jobs_do_not_stop_the_other_parts(monkeypatch, fake, tmp_path):
    fake.fail_part = "p1"
    res = run_composite("verdict", _parts(), tmp_path / "v")
    assert [p for p, _ in fake.calls] == ["p0", "p1", "p2"]
    assert res.failed == 1 and [p.failed for p in res.parts] == [0, 1, 0]


def test_resume_skips_finished_parts_and_continues_the_interrupted_one(fake, tmp_path):
    out = tmp_path / "v"
    fake.interrupt_part = "p1"
    with pytest.raises(KeyboardInterrupt):
        run_composite("verdict", _parts(), out)
    assert fake.calls == [("p0", False), ("p1", False)]
    name, parts = load_resumable_composite(out)
    assert name == "verdict" and [p for p, _ in parts] == ["p0", "p1", "p2"]
    fake.calls.clear()
    seen = []
    res = run_composite(name, parts, out, resume=True,
                        on_part=lambda i, n, p, s, skipped: seen.append((p, skipped)))
    # p0 kept, p1 continued (its stored jobs count), p2 started afresh
    assert fake.calls == [("p1", True), ("p2", False)]
    assert seen == [("p0", True), ("p1", False), ("p2", False)]
    assert [p.skipped for p in res.parts] == [True, False, False]
    assert len(res.records) == 3 and res.merge_error is None


def test_a_new_composite_over_an_old_folder_starts_every_part_afresh(fake, tmp_path):
    out = tmp_path / "v"
    run_composite("verdict", _parts(2), out)
    fake.calls.clear()
    run_composite("verdict", _parts(2), out)  # not --resume: the old runs are not continued
    assert fake.calls == [("p0", False), ("p1", False)]


def test_check_composite_refuses_another_study_folder(tmp_path):
    from twinbench.runner.composite import check_composite

    (tmp_path / "study.json").write_text("{}")
    with pytest.raises(UserError, match="holds a single study"):
        check_composite("verdict", _parts(1), tmp_path)
    other = tmp_path / "o"
    other.mkdir()
    (other / "composite.json").write_text(json.dumps({"composite": "x", "parts": []}))
    with pytest.raises(UserError, match="holds another composite"):
        check_composite("verdict", _parts(1), other)


# ---- merging folders ----

def test_combine_refuses_a_quantity_from_two_sources():
    a, b = [_rec("a")], [_rec("b"), _rec("b", framework="keras-tf")]
    with pytest.raises(UserError) as e:
        combine([("runs/a", a), ("runs/b", b)])
    msg = str(e.value)
    assert "runs/a and runs/b" in msg and "framework pytorch" in msg and "metric throughput" \
        in msg and "\n" not in msg
    # the same quantity twice inside one folder (call paths, processes) is not a conflict
    assert len(combine([("a", [_rec("a"), _rec("a")]), ("b", [_rec("b", mode="tuned")])])) == 3
    assert quantity(_rec(mode="tuned")) != quantity(_rec())


@pytest.mark.parametrize("case", ["missing", "no-jsonl", "several-without-out", "twice",
                                  "out-is-input", "out-holds-a-study", "duplicate"])
def test_report_bad_input_is_a_user_error(case, tmp_path):
    from twinbench.cli import app

    a = _folder(tmp_path / "a", [_rec("a")])
    b = _folder(tmp_path / "b", [_rec("b", framework="keras-tf")])
    study = _folder(tmp_path / "study", [_rec("x", scenario="infer")])
    args = {"missing": [str(tmp_path / "nope")],
            "no-jsonl": [str(a), str(tmp_path), "--out", str(tmp_path / "o")],
            "several-without-out": [str(a), str(b)],
            "twice": [str(a), str(tmp_path / "a" / ".." / "a"), "--out", str(tmp_path / "o")],
            "out-is-input": [str(a), str(b), "--out", str(b)],
            "out-holds-a-study": [str(a), str(b), "--out", str(study)],
            "duplicate": [str(a), str(_folder(tmp_path / "c", [_rec("c")])), "--out",
                          str(tmp_path / "o")]}[case]
    r = CliRunner().invoke(app, ["report", *args])
    assert isinstance(r.exception, UserError), (r.output, r.exception)
    assert "\n" not in str(r.exception)
    assert not (tmp_path / "o" / "report.html").exists()


def test_report_bad_dir_exits_2_with_one_line(monkeypatch, capsys, tmp_path):
    from twinbench.cli import main  # the entry point: a UserError is one line and exit 2

    monkeypatch.setattr("sys.argv", ["twinbench", "report", str(tmp_path / "a"),
                                     str(tmp_path / "b"), "--out", str(tmp_path / "o")])
    with pytest.raises(SystemExit) as e:
        main()
    err = capsys.readouterr().err
    assert e.value.code == 2 and "Traceback" not in err
    assert "results.jsonl not found" in err
    assert len([ln for ln in err.splitlines() if ln.strip()]) == 1


def test_report_merges_two_folders_end_to_end(cli, tmp_path):
    a = _folder(tmp_path / "a", [_rec("quick"), _rec("quick", framework="keras-tf", value=80.0)])
    b = _folder(tmp_path / "b", [_rec("web", scenario="infer", metric="latency_p50", unit="ms",
                                      value=3.0, better="lower"),
                                 _rec("web", framework="keras-tf", scenario="infer",
                                      metric="latency_p50", unit="ms", value=4.0,
                                      better="lower")])
    out = tmp_path / "merged"
    r = cli("report", str(a), str(b), "--out", str(out),
            env={"TWINBENCH_NO_ZOO_SEARCH": "1"})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert (out / "report.html").is_file() and (out / "report.md").is_file()
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == 4
    assert json.loads((out / "merged.json").read_text())["study"] == "quick + web"
    assert "quick + web" in (out / "report.md").read_text()
    # a merge's folder can be merged into again (merged.json says it is one)
    r = cli("report", str(a), str(b), "--out", str(out), env={"TWINBENCH_NO_ZOO_SEARCH": "1"})
    assert r.returncode == 0, r.stderr


# ---- the machine line ----

@pytest.mark.parametrize(("env", "want"), [
    (ENV, "2-core CPU (AMD EPYC 7B13, AVX2), 23.5 GiB, no GPU"),
    ({**ENV, "gpus": ["NVIDIA H200"]}, "2-core CPU (AMD EPYC 7B13, AVX2), 23.5 GiB, "
     "1 GPU (NVIDIA H200)"),
    ({**ENV, "gpus": ["NVIDIA H200", "NVIDIA H200"]}, "2 GPUs (2× NVIDIA H200)"),
    ({"cpu": "unknown", "cores": 16, "cpus_available": 2, "gpus": []},
     "2-core (of 16) CPU, no GPU"),
    # a worker's affinity is the study's threads, not the machine
    ({**ENV, "affinity": 1}, "2-core CPU (AMD EPYC 7B13, AVX2), 23.5 GiB, no GPU"),
    ({"cpu": "Xeon", "cores": 4}, "4-core CPU (Xeon), GPU not recorded"),
])
def test_describe_a_machine(env, want):
    assert describe(env).endswith(want) if want.startswith("2 GPUs") else describe(env) == want


def test_machine_summary_one_mixed_or_none():
    one = [_rec(), _rec(framework="keras-tf"), _rec(env={}, status="failed", value=None)]
    assert machine_summary(one) == "2-core CPU (AMD EPYC 7B13, AVX2), 23.5 GiB, no GPU"
    mixed = one + [_rec(env={**ENV, "cores": 8, "gpus": ["NVIDIA H200"]})]
    got = machine_summary(mixed)
    assert got.startswith("mixed machines: 2-core CPU") and "8-core CPU" in got
    assert machine_summary([_rec(env={})]) == NOT_RECORDED


def test_fingerprint_says_which_gpus_were_visible():
    from twinbench.measure.env import fingerprint

    env = fingerprint()
    assert isinstance(env["gpus"], list) and "memory_gib" in env and "simd" in env
    assert env["cpus_available"] is None or 1 <= env["cpus_available"] <= env["cores"]
