"""The verdict: report.html (in a real headless Chromium), report.md, claims, escaping.

Records are made synthetically (Record objects), so these tests need no framework; one small
end-to-end study checks that `run` writes both reports and `report` regenerates them.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from conftest import chromium_or_skip
from twinbench.analysis.claims import assess
from twinbench.analysis.claims.base import CONFIRMED, NOT_MEASURABLE, NOT_MEASURED, REFUTED
from twinbench.analysis.study import analyze
from twinbench.brevity import family_table
from twinbench.report.content import collect
from twinbench.report.html import render, render_html
from twinbench.report.markdown import render_markdown
from twinbench.results.export import write_jsonl
from twinbench.results.schema import Record
from twinbench.zoos import Hit, ZooResult

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("TWINBENCH_ARTIFACTS", ROOT / "runs" / "test-artifacts"))
EVIL = '<script>alert("x")</script>&<b>'
BACKEND = {"pytorch": "torch", "lightning": "torch", "keras-tf": "tensorflow",
           "keras-jax": "jax", "keras-torch": "torch"}


def rec(fw: str, scenario: str, metric: str, value: float | None, unit: str = "ms",
        better: str | None = "lower", samples: list[float] | None = None, model: str = "resnet",
        **kw) -> Record:
    """A synthetic record; ``samples`` around ``value`` give it an interval, and three worker
    processes' values around it (2% apart) make it testable (measure.stats)."""
    ci = (min(samples), max(samples)) if samples else None
    if samples and value is not None and "extra" not in kw:
        kw["extra"] = {"processes": 3, "process_values": spread(value, n=3, seed=len(samples))}
    return Record(study="synthetic", run_id="r1", job_id=f"image-classification/{model}/{fw}/"
                  f"{scenario}", task="image-classification", model=model, framework=fw,
                  backend=BACKEND.get(fw, "torch"), scenario=scenario, metric=metric, unit=unit,
                  value=value, samples=samples or [], ci95=ci, better=better, threads=2,
                  env={"cpu": "test cpu", "cores": 2, "python": "3.11",
                       "versions": {BACKEND.get(fw, "torch"): "1.0"},
                       "threads": {"intra_op": 2}}, **kw)


def spread(center: float, n: int = 8, rel: float = 0.02, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(center * (1 + rel * rng.standard_normal(n)))


def study_records(model: str = "resnet") -> list[Record]:
    """PyTorch trains faster; Keras-TF starts faster; mobile and web routes for both."""
    out = [
        rec("pytorch", "train", "throughput", 200, "samples/s", "higher", spread(200),
            model=model),
        rec("keras-tf", "train", "throughput", 100, "samples/s", "higher", spread(100, seed=1),
            model=model),
        rec("pytorch", "infer", "latency_p50", 5, samples=spread(5, seed=2), model=model),
        rec("keras-tf", "infer", "latency_p50", 5.05, samples=spread(5.05, seed=3), model=model),
        rec("pytorch", "startup", "import_time", 4.0, "s", model=model),
        rec("keras-tf", "startup", "import_time", 1.0, "s", model=model),
        rec("pytorch", "startup", "first_step_time", 2.0, "s", model=model),
        rec("keras-tf", "startup", "first_step_time", 0.5, "s", model=model),
        rec("pytorch", "accuracy", "train_wall_time", 40.0, "s", model=model),
        rec("keras-tf", "accuracy", "train_wall_time", 10.0, "s", model=model),
    ]
    for fw, size in (("keras-tf", 1.0e6), ("pytorch", 1.1e6)):
        out += [mob(fw, "fp32", "file_size", size, "bytes", model=model),
                mob(fw, "int8-full", "file_size", size * 0.27, "bytes", model=model),
                mob(fw, "fp32", "latency_p50", 2.0, samples=spread(2.0, seed=4), model=model),
                mob(fw, "int8-full", "latency_p50", 1.5, samples=spread(1.5, seed=5),
                    model=model),
                mob(fw, "int8-full", "accuracy_change", -0.01, "fraction", "higher",
                    model=model),
                mob(fw, "fp32", "runtime_rss_delta", 12.0, "MiB", model=model),
                mob(fw, "int8-full", "runtime_rss_delta", 5.0, "MiB", model=model),
                mob(fw, "int8-full", "status", 1.0, "", None,
                    extra={"state": "ok", "runtime": "LiteRT"}, model=model)]
    tfjs = {"route": "keras-tfjs", "variant": "tfjs-wasm-1t", "model": model}
    out += [rec("keras-tf", "export-web", "status", 1.0, "", None, **tfjs,
                extra={"state": "ok", "package": "@tensorflow/tfjs", "version": "4.22.0",
                       "released": "2024-10-21"}),
            rec("keras-tf", "export-web", "latency_p50", 3.0, samples=spread(3.0, seed=6),
                **tfjs),
            rec("keras-tf", "export-web", "output_max_abs_diff", 1e-6, "abs", **tfjs,
                extra={"passed": True, "tolerance": 1e-3}),
            rec("pytorch", "export-web", "status", None, "", None, model=model,
                route="torch-ort-web", variant="ort-wasm-1t", status="failed",
                error="ort-wasm-1t: page failed: " + EVIL)]
    return out


MOBILE_ROUTE = {"keras-tf": "keras-litert", "pytorch": "torch-executorch"}


def mob(fw: str, variant: str, metric: str, *args: Any, **kw: Any) -> Record:
    """An export-mobile record of ``fw``'s first mobile route (route table)."""
    return rec(fw, "export-mobile", metric, *args, route=MOBILE_ROUTE[fw], variant=variant, **kw)


def fake_zoos() -> dict[str, list[ZooResult]]:
    return {"detr": [
        ZooResult("transformers", "transformers", "installed", "5.0", [
            Hit("transformers", "PyTorch", "DetrForObjectDetection", True, "ckpt")]),
        ZooResult("keras_hub", "keras-hub", "installed", "0.3", []),
        ZooResult("keras.applications", "keras", "installed", "3.15", []),
        ZooResult("timm", "timm", "not installed", note="not searched")]}


def test_every_claim_has_a_verdict_and_missing_evidence_is_named():
    claims = assess(study_records(), family_table(["resnet"]), fake_zoos())
    assert [c.id for c in claims] == [f"C{i}" for i in range(1, 13)]
    by = {c.id: c for c in claims}
    assert by["C1"].verdict == REFUTED  # 2x train throughput, significant
    assert by["C5"].verdict == CONFIRMED and "int8 file 27% of fp32" in by["C5"].summary
    assert by["C6"].verdict == CONFIRMED
    assert by["C7"].verdict == CONFIRMED and any("2024-10-21" in e for e in by["C7"].evidence)
    assert by["C11"].verdict == CONFIRMED and "detr" in by["C11"].summary
    # keras-tf starts faster, but PyTorch trains 2x faster (tested): over a 60-minute job the
    # training speed outweighs seconds of startup
    assert by["C12"].verdict == REFUTED
    assert by["C10"].verdict == NOT_MEASURED and by["C10"].missing
    assert by["C8"].verdict == NOT_MEASURED and "serve" in by["C8"].missing  # not run here
    assert by["C9"].verdict == NOT_MEASURED and by["C9"].missing  # the study ran no distributed
    empty = {c.id: c for c in assess([], None, None)}
    assert all(c.verdict in (NOT_MEASURED, NOT_MEASURABLE) and c.missing
               for c in empty.values())


def test_c1_close_speeds_confirm_and_a_failed_int8_export_is_not_a_refutation():
    recs = [rec("pytorch", "train", "throughput", 100, "samples/s", "higher", spread(100)),
            rec("keras-tf", "train", "throughput", 101, "samples/s", "higher", spread(101, seed=1)),
            mob("keras-tf", "fp32", "file_size", 1e6, "bytes"),
            mob("keras-tf", "int8-full", "status", None, "", None,
                status="failed", error="int8-full: export failed: boom")]
    by = {c.id: c for c in assess(recs)}
    assert by["C1"].verdict == CONFIRMED
    assert by["C5"].verdict == NOT_MEASURABLE and "boom" in by["C5"].summary


def test_names_with_html_are_escaped_in_html_and_markdown():
    recs = study_records(model=EVIL) + [
        rec("keras-tf", "train", "throughput", None, status="failed", error=EVIL, model=EVIL)]
    html = render_html(EVIL, recs)
    assert EVIL not in html and '<script>alert("x")' not in html
    assert "&lt;script&gt;alert(" in html  # jinja2 autoescape
    assert "\\u003cscript\\u003ealert(" in html  # figure JSON inside <script> elements
    md = render_markdown(collect(analyze(EVIL, recs)))
    assert "<script>" not in md and "&lt;script&gt;" in md


def test_report_has_mobile_web_claims_environment_and_brevity_sections():
    data = collect(analyze("s", study_records(), family_table(["resnet"]), fake_zoos()))
    tables = [t for _, ts in data.view_tables for t in ts]  # the scenarios' own views
    titles = [t.title.split(":")[0] for t in tables]
    assert titles == ["Browser deployment", "Phone deployment"]  # the registry's order
    web, mobile = tables
    assert len(mobile.rows) == 2 and all(len(r) == len(mobile.columns) for r in mobile.rows)
    assert any(r[2] == "pytorch" and r[3].startswith("FAILED: page failed") for r in web.rows)
    assert data.wins["pytorch"][0].row.metric == "throughput"
    assert [r.metric for r in data.ties] == ["latency_p50"]
    md = render_markdown(data)
    for needle in ("## Claims", "| C12 |", "## Phone deployment: export-mobile", "## Code brevity",
                   "## Environment", "test cpu"):
        assert needle in md


def test_report_opens_in_headless_chromium_without_console_errors(tmp_path):
    chromium = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    data = collect(analyze("chromium check", study_records(), family_table(["resnet"]),
                           fake_zoos()))
    page_path = tmp_path / "report.html"
    page_path.write_text(render(data), encoding="utf-8")
    problems: list[str] = []
    remote: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("console", lambda m: problems.append(m.text) if m.type in (
                "error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("request", lambda r: remote.append(r.url)
                    if not r.url.startswith(("file:", "data:", "blob:")) else None)
            page.goto(page_path.as_uri())
            page.wait_for_function("document.body.dataset.charts !== undefined",
                                   timeout=120_000)
            charts = int(page.evaluate("document.body.dataset.charts"))
            svgs = page.locator("div.chart .main-svg").count()
            bars = page.locator("div.chart g.point").count()
            claim_rows = page.locator("#claims-table tr").count() - 1
            env_rows = page.locator("#env-table tr").count()
            mobile = page.locator("table.route").count()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert remote == []  # self-contained: nothing fetched
    assert charts == 4 and svgs >= charts and bars >= 8  # train, infer, startup, accuracy
    assert claim_rows == 12 and env_rows >= 3 and mobile == 2
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000


def test_run_writes_both_reports_and_report_regenerates_them(cli, tmp_path):
    out = tmp_path / "study"
    r = cli("run", "--preset", "tiny", "--scenario", "startup", "--threads", "1",
            "--no-parity", "--out", str(out), env={"OMP_NUM_THREADS": "1",
                                                   "TF_CPP_MIN_LOG_LEVEL": "2",
                                                   "CUDA_VISIBLE_DEVICES": "",
                                                   "JAX_PLATFORMS": "cpu"})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    md = (out / "report.md").read_text()
    assert "| C1 |" in md and "startup" in md
    html_before = (out / "report.html").read_text()
    assert "Plotly.newPlot" in html_before and 'data-fig="chart-1"' in html_before
    (out / "report.html").unlink()
    (out / "report.md").unlink()
    r = cli("report", str(out))
    assert r.returncode == 0, r.stderr
    assert (out / "report.html").is_file() and (out / "report.md").is_file()
    r = cli("recommend", str(out), "--priority", "deadline,deploy=mobile",
            env={"COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    assert "pytorch" in r.stdout and "twinbench run --preset mobile" in r.stdout


def test_report_of_a_missing_folder_is_one_line_exit_2(cli, tmp_path):
    r = cli("report", str(tmp_path / "nope"))
    assert r.returncode == 2 and "results.jsonl not found" in r.stderr
    assert "Traceback" not in r.stderr


def test_compare_two_studies_flags_a_regression(cli, tmp_path):
    a = [rec("pytorch", "train", "throughput", 100, "samples/s", "higher", spread(100)),
         rec("pytorch", "infer", "latency_p50", 5, samples=spread(5, seed=2))]
    b = [rec("pytorch", "train", "throughput", 80, "samples/s", "higher", spread(80, seed=7)),
         rec("pytorch", "infer", "latency_p50", 5, samples=spread(5, seed=3))]
    for name, recs in (("a", a), ("b", b)):
        (tmp_path / name).mkdir()
        write_jsonl(tmp_path / name / "results.jsonl", recs)
    r = cli("compare", str(tmp_path / "a"), str(tmp_path / "b"), "--fail-on-regression",
            env={"COLUMNS": "200"})
    assert r.returncode == 1, r.stderr
    assert "regressed" in r.stdout and "no significant difference" in r.stdout
    r = cli("compare", str(tmp_path / "a"), str(tmp_path / "a"), "--fail-on-regression")
    assert r.returncode == 0 and "regressed" not in r.stdout


def test_report_json_figures_parse_after_unescaping():
    from twinbench.report.charts import scenario_figures

    figs = scenario_figures(study_records(model=EVIL))
    assert figs
    for _title, text in figs:
        assert "<" not in text and ">" not in text
        fig = json.loads(text)  # \\u003c escapes are valid JSON
        assert fig["data"] and all(t["type"] == "bar" for t in fig["data"])
    assert re.search(r"error_y", figs[0][1])


def test_c2_and_c3_compare_statement_counts_against_pytorch():
    from twinbench.brevity import CATEGORIES, Count

    def count(model: str, style: str, n: int) -> Count:
        c = Count(model, style)
        c.statements = {**dict.fromkeys(CATEGORIES, 0), "model": n, "export": 99}
        return c

    counts = [count("resnet", "pytorch", 100), count("resnet", "keras", 85),
              count("unet", "pytorch", 100), count("unet", "keras", 95),
              count("resnet", "lightning", 90)]
    by = {c.id: c for c in assess([], counts)}
    assert by["C2"].verdict == CONFIRMED  # 180 of 200 statements: exactly the 90% limit
    assert "over 2 twin families" in by["C2"].summary and "(180 vs 200)" in by["C2"].summary
    assert by["C3"].verdict == REFUTED and "(90 vs 100)" in by["C3"].summary  # > 80%
    only_pt = {c.id: c for c in assess([], [count("resnet", "pytorch", 100)])}
    assert only_pt["C2"].verdict == NOT_MEASURED and "no twin family" in only_pt["C2"].summary
    assert "no Lightning twin" in only_pt["C3"].summary


def test_a_crashing_claim_check_is_check_failed_not_missing_evidence(monkeypatch):
    from twinbench.analysis import claims as claims_mod
    from twinbench.report.html import verdict_class

    def c4(ev):  # same name as the real check, so it takes C4's place
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(claims_mod, "CHECKS", tuple(c4 if f.__name__ == "c4" else f
                                                    for f in claims_mod.CHECKS))
    by = {c.id: c for c in assess(study_records(), family_table(["resnet"]))}
    assert by["C4"].verdict == "check failed: RuntimeError: boom second line"
    assert by["C4"].claim == claims_mod.CLAIM_TEXT["C4"] and by["C4"].claim
    assert verdict_class(by["C4"].verdict) == "fail"
    assert by["C1"].verdict == REFUTED  # the other checks went on
    html = render(collect(analyze("s", study_records(), family_table(["resnet"]))))
    assert "check failed: RuntimeError: boom" in html


def test_claim_statements_match_the_claim_table():
    from twinbench.analysis.claims.base import CLAIM_TEXT

    for c in assess(study_records(), family_table(["resnet"]), fake_zoos()):
        assert c.claim == CLAIM_TEXT[c.id], c.id


def test_c4_splits_pytorch_extra_code_into_low_level_and_model_code():
    from twinbench.brevity import CATEGORIES, Count

    def count(style: str, **cats: int) -> Count:
        c = Count("resnet", style)
        c.statements = {**dict.fromkeys(CATEGORIES, 0),
                        **{k.replace("_", " "): v for k, v in cats.items()}}
        return c

    keras = count("keras", model_definition=40, training_loop=8)
    loop_heavy = count("pytorch", model_definition=42, training_loop=19, device_handling=4)
    c4 = {c.id: c for c in assess([], [loop_heavy, keras])}["C4"]
    assert c4.verdict == CONFIRMED and "17 statements longer; 15 of them (88%)" in c4.summary
    assert "PyTorch minus Keras, training loop: +11 statements" in c4.evidence
    model_heavy = count("pytorch", model_definition=60, training_loop=9)
    assert {c.id: c for c in assess([], [model_heavy, keras])}["C4"].verdict == REFUTED
    shorter = count("pytorch", model_definition=30, training_loop=8)
    c4 = {c.id: c for c in assess([], [shorter, keras])}["C4"]
    assert c4.verdict == REFUTED and "not longer" in c4.summary


def test_rows_tables_and_charts_keep_modes_apart():
    from twinbench.analysis.rows import rows
    from twinbench.report.charts import scenario_figures

    recs = [rec(fw, "train", "throughput", v, "samples/s", "higher", spread(v, seed=i),
                mode=mode)
            for i, (fw, v, mode) in enumerate([("pytorch", 100, "out-of-box"),
                                               ("keras-tf", 90, "out-of-box"),
                                               ("pytorch", 150, "tuned"),
                                               ("keras-tf", 200, "tuned")])]
    got = {r.mode: r for r in rows(recs)}
    assert set(got) == {"out-of-box", "tuned"}
    assert got["out-of-box"].best == "pytorch" and got["tuned"].best == "keras-tf"
    titles = [t for t, _ in collect(analyze("s", recs)).tables]
    assert titles == ["train · image-classification · resnet · out-of-box, cpu",
                      "train · image-classification · resnet · tuned, cpu"]
    assert [t for t, _ in scenario_figures(recs)] == titles


def test_markdown_carries_claim_evidence_and_model_availability():
    md = render_markdown(collect(analyze("s", study_records(), family_table(["resnet"]),
                                         fake_zoos())))
    assert "<details><summary>C1:" in md
    assert "train throughput (image-classification/resnet, out-of-box, cpu): pytorch vs " \
        "keras-tf: pytorch 2.0" in md
    assert "## Model availability" in md
    assert "| detr | pretrained |" in md and "timm (not installed)" in md
    no_search = render_markdown(collect(analyze("s", study_records(),
                                                zoo_note="zoo search disabled")))
    assert "zoo search disabled" in no_search


def test_report_into_an_unwritable_folder_is_one_line_exit_2(cli, tmp_path):
    write_jsonl(tmp_path / "results.jsonl", study_records())
    (tmp_path / "report.html.tmp").mkdir()  # any OSError will do; chmod does not stop root
    r = cli("report", str(tmp_path), env={"TWINBENCH_NO_ZOO_SEARCH": "1"})
    assert r.returncode == 2, r.stderr
    assert "cannot write the reports in" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_c7_names_a_tfjs_variant_that_ran_with_unequal_outputs_as_a_parity_failure():
    """A parity-failed variant ran: C7 must say so (and refute), not call it 'not run'."""
    model = "resnet"
    tfjs = {"route": "keras-tfjs", "variant": "tfjs-wasm-1t", "model": model}
    recs = [rec("keras-tf", "export-web", "status", 0.0, "", None, **tfjs,
                extra={"state": "parity-failed", "max_abs_diff": 0.5, "package": "@tensorflow/tfjs",
                       "version": "4.22.0", "released": "2024-10-21"}),
            rec("keras-tf", "export-web", "latency_p50", 3.0, samples=spread(3.0, seed=6),
                **tfjs),
            rec("keras-tf", "export-web", "output_max_abs_diff", 0.5, "abs", **tfjs,
                extra={"passed": False, "tolerance": 1e-3})]
    c7 = {c.id: c for c in assess(recs, None, None)}["C7"]
    assert c7.verdict == REFUTED
    assert any("parity FAILED" in e for e in c7.evidence)
    assert not any("not run" in e for e in c7.evidence)


def test_a_tie_names_no_best_and_no_framework_worse():
    """Equal values (e.g. steps to target, 88 vs 88) are a tie, not "pytorch best, 1.00x worse"."""
    from twinbench.analysis.rows import rows

    recs = [rec(fw, "accuracy", "steps_to_target", 88.0, "steps") for fw in ("pytorch",
                                                                               "keras-tf")]
    (row,) = rows(recs)
    assert row.best is None
    assert row.vs_best("keras-tf") is None and row.vs_best("pytorch") is None
    recs[1] = rec("keras-tf", "accuracy", "steps_to_target", 96.0, "steps")
    (row,) = rows(recs)
    assert row.best == "pytorch" and row.times_worse("keras-tf") is not None
