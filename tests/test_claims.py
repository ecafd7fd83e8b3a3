"""Claims C1, C5, C6, C8 and C9 decide on evidence that fits them, with real intervals.

Records carry per-process values (``extra.process_values``) drawn around a centre, so the
verdicts come from the real tests of ``measure.stats`` (Welch, TOST), never from hand-written
interval bounds.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from test_report import rec, study_records
from twinbench.analysis.claims import assess
from twinbench.analysis.claims.base import (
    CONFIRMED,
    INCONCLUSIVE,
    NOT_MEASURABLE,
    NOT_MEASURED,
    REFUTED,
    Evidence,
)
from twinbench.analysis.claims.deploy import c5, c6
from twinbench.analysis.claims.serving import c8
from twinbench.analysis.claims.speed import c1
from twinbench.measure.stats import equivalence
from twinbench.results.schema import Record


def procs(center: float, rel: float, n: int = 3, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(center * np.exp(rel * rng.standard_normal(n)))


def speed(fw: str, value: float, rel: float, n: int = 3, seed: int = 0, mode: str = "tuned",
          scenario: str = "train", metric: str = "throughput") -> Record:
    vals = procs(value, rel, n, seed)
    better = "higher" if metric == "throughput" else "lower"
    unit = "samples/s" if metric == "throughput" else "ms"
    return rec(fw, scenario, metric, float(np.median(vals)), unit, better, vals, mode=mode,
               extra={"processes": n, "process_values": vals})


def test_equivalence_matches_two_one_sided_welch_tests():
    a, b = procs(100, 0.05, 5, 1), procs(104, 0.05, 5, 2)
    e = equivalence(a, b, 1.25)
    la, lb = np.log(a), np.log(b)
    m = np.log(1.25)
    lower = stats.ttest_ind(la + m, lb, equal_var=False, alternative="greater").pvalue
    upper = stats.ttest_ind(la - m, lb, equal_var=False, alternative="less").pvalue
    assert e.p_inside == pytest.approx(max(lower, upper), rel=1e-9)
    assert e.ci90[0] > e.ci95[0] and e.ci90[1] < e.ci95[1]
    assert (e.p_inside < 0.05) == (1 / 1.25 < e.ci90[0] and e.ci90[1] < 1.25)


def test_c1_confirms_when_every_interval_lies_inside_the_margin():
    recs = [speed("pytorch", 100, 0.01, 5, 1), speed("keras-tf", 101, 0.01, 5, 2)]
    res = c1(Evidence(recs))
    assert res.verdict == CONFIRMED, res.summary
    assert "1 shown inside" in res.summary and "tuned, train, cpu confirmed" in res.summary


def test_c1_refutes_when_a_ratio_is_shown_outside_even_if_another_is_inside():
    recs = [speed("pytorch", 200, 0.02, 3, 1), speed("keras-tf", 100, 0.02, 3, 2),
            speed("pytorch", 5.0, 0.01, 5, 3, scenario="infer", metric="latency_p50"),
            speed("keras-tf", 5.0, 0.01, 5, 4, scenario="infer", metric="latency_p50")]
    res = c1(Evidence(recs))
    assert res.verdict == REFUTED
    assert "tuned, train, cpu refuted" in res.summary
    assert "tuned, infer, cpu confirmed" in res.summary
    assert any("pytorch 2.0" in e for e in res.evidence)  # every line shown, not the largest


def test_c1_is_inconclusive_when_noise_covers_both_margin_and_one():
    recs = [speed("pytorch", 110, 0.25, 3, 5), speed("keras-tf", 100, 0.25, 3, 6)]
    res = c1(Evidence(recs))
    assert res.verdict == INCONCLUSIVE
    assert "1 inconclusive" in res.summary


def test_c1_does_not_test_single_processes_and_says_what_would():
    one = [rec("pytorch", "train", "throughput", 200, "samples/s", "higher", mode="tuned"),
           rec("keras-tf", "train", "throughput", 100, "samples/s", "higher", mode="tuned")]
    res = c1(Evidence(one))
    assert res.verdict == NOT_MEASURED and "--processes 3" in res.missing
    assert any("not tested" in e for e in res.evidence)


def test_c1_counts_only_keras_on_tensorflow_and_shows_other_backends():
    recs = [speed("pytorch", 100, 0.01, 5, 1), speed("keras-tf", 101, 0.01, 5, 2),
            speed("keras-jax", 200, 0.01, 5, 3)]
    res = c1(Evidence(recs))
    assert res.verdict == CONFIRMED
    assert any("keras-jax" in e and "shown, not counted" in e for e in res.evidence)


def test_c1_holm_adjustment_makes_many_borderline_lines_inconclusive():
    """A line shown inside at p≈0.017 alone is not, Holm-adjusted, among seven such lines."""
    def pair(model: str) -> list[Record]:
        pt = [100.0, 104.0, 96.0, 100.0]
        kt = [1.18 * x for x in (99.0, 103.0, 97.0, 101.0)]
        return [rec(fw, "train", "throughput", float(np.median(v)), "samples/s", "higher", v,
                    model=model, mode="tuned", extra={"processes": 4, "process_values": v})
                for fw, v in (("pytorch", pt), ("keras-tf", kt))]

    assert c1(Evidence(pair("resnet"))).verdict == CONFIRMED
    many = [r for m in ("m1", "m2", "m3", "m4", "m5", "m6", "m7") for r in pair(m)]
    res = c1(Evidence(many))
    assert res.verdict == INCONCLUSIVE and "7 inconclusive" in res.summary


def mobile(fw: str, fp_size: float, q_size: float, drop: float, mem_fp: float, mem_q: float,
           model: str = "resnet") -> list[Record]:
    out = []
    route = {"keras-tf": "keras-litert", "pytorch": "torch-executorch"}[fw]  # route table ids
    for variant, size, mem in (("fp32", fp_size, mem_fp), ("int8-full", q_size, mem_q)):
        at = {"model": model, "route": route, "variant": variant}
        out += [rec(fw, "export-mobile", "file_size", size, "bytes", **at),
                rec(fw, "export-mobile", "latency_p50", 2.0, samples=procs(2.0, 0.05, 20, 7),
                    **at),
                rec(fw, "export-mobile", "runtime_rss_delta", mem, "MiB", **at),
                rec(fw, "export-mobile", "status", 1.0, "", None, extra={"state": "ok"}, **at)]
    out.append(rec(fw, "export-mobile", "accuracy_change", -drop, "fraction", "higher",
                   model=model, route=route, variant="int8-full"))
    return out


def test_c5_needs_size_accuracy_and_memory_together():
    ok = c5(Evidence(mobile("keras-tf", 4e6, 1.1e6, 0.005, 20.0, 8.0)))
    assert ok.verdict == CONFIRMED, ok.summary
    assert "int8 file 28% of fp32" in ok.summary and "runtime memory" in ok.summary
    assert "latency" in ok.summary
    lossy = c5(Evidence(mobile("keras-tf", 4e6, 1.1e6, 0.08, 20.0, 8.0)))
    assert lossy.verdict == REFUTED and "accuracy -0.080" in lossy.summary
    hungry = c5(Evidence(mobile("keras-tf", 4e6, 1.1e6, 0.0, 8.0, 20.0)))
    assert hungry.verdict == REFUTED
    close = c5(Evidence(mobile("keras-tf", 4e6, 1.1e6, 0.0, 8.0, 8.5)))
    assert close.verdict == INCONCLUSIVE  # within the single-value memory slack


def test_c5_a_failed_export_is_a_tool_failure_not_a_refutation():
    recs = [r for r in mobile("keras-tf", 4e6, 1.1e6, 0.0, 20.0, 8.0)
            if r.variant != "int8-full"]
    recs.append(rec("keras-tf", "export-mobile", "status", None, "", None, route="keras-litert",
                    variant="int8-full", status="failed",
                    error="int8-full: export failed: converter crashed"))
    res = c5(Evidence(recs))
    assert res.verdict == NOT_MEASURABLE and "converter crashed" in res.summary
    assert "tool" in res.summary


def test_c6_judges_executorch_without_memory_and_names_missing_records():
    res = c6(Evidence(mobile("pytorch", 4e6, 1.2e6, 0.0, 8.0, 20.0)))
    assert res.verdict == CONFIRMED  # C6 makes no memory claim
    partial = [r for r in mobile("pytorch", 4e6, 1.2e6, 0.0, 8.0, 20.0)
               if "runtime_rss_delta" not in r.metric]
    res = c6(Evidence(partial))
    assert res.verdict == INCONCLUSIVE and "runtime_rss_delta" in res.summary
    assert c6(Evidence([])).verdict == NOT_MEASURED


def test_c5_reads_every_litert_route_of_the_table_and_notes_an_unavailable_one():
    """C5 judges each route whose files LiteRT runs (the table's loader), by the records'
    route and variant fields: PyTorch -> LiteRT's variants are its own ("litert-fp32"), never
    ExecuTorch's; the unavailable litert-torch route is evidence, not a verdict."""
    from twinbench.export.routes import ROUTES
    from twinbench.scenarios.export_mobile import unavailable

    keras = mobile("keras-tf", 4e6, 1.1e6, 0.005, 20.0, 8.0)
    torch = mobile("pytorch", 4e6, 1.2e6, 0.0, 8.0, 20.0)  # ExecuTorch: not LiteRT's evidence
    gone = unavailable(ROUTES["torch-litert"])
    note = rec("pytorch", "export-mobile", "status", None, "", None, route=gone.route,
               extra=gone.extra)
    res = c5(Evidence(keras + torch + [note]))
    assert res.verdict == CONFIRMED and res.summary.startswith("resnet: int8 file 28%")
    assert any(e.startswith("PyTorch → LiteRT (.tflite, litert-torch): not run here: "
                            "torch-litert: unavailable") for e in res.evidence)
    only = c5(Evidence(torch + [note]))  # no Keras -> LiteRT records: the command to run
    assert only.verdict == NOT_MEASURED and "keras-litert (framework keras-tf)" in only.summary
    assert "torch-litert" not in only.summary and only.missing
    ran = [r.model_copy(update={"framework": "pytorch", "route": "torch-litert",
                                "variant": f"litert-{r.variant}"}) for r in keras]
    both = c5(Evidence(keras + ran))  # the day it installs: judged like any LiteRT route
    assert both.verdict == CONFIRMED and "resnet (PyTorch → LiteRT" in both.summary


def test_c8_ignores_in_process_server_figures_and_names_its_preset_c9_too():
    recs = study_records() + [rec("keras-tf", "server", "server_latency_p99", 3.0,
                                  samples=procs(3, 0.1, 10))]
    by = {c.id: c for c in assess(recs)}
    assert by["C8"].verdict == NOT_MEASURED and "--preset serve" in by["C8"].missing
    assert by["C9"].verdict == NOT_MEASURED and "--preset distributed" in by["C9"].missing
    assert c8(Evidence([])).verdict == NOT_MEASURED


def test_outputs_come_from_one_analysis_and_show_prints_its_saved_verdict(tmp_path,
                                                                          monkeypatch):
    """write_outputs: comparisons.jsonl, analysis.json and both reports from one analysis;
    `show` re-prints the claims as analysis.json saved them, opening with the machine."""
    import json

    from typer.testing import CliRunner

    from twinbench.analysis.machine import speaks_for
    from twinbench.cli import app
    from twinbench.outputs import write_outputs
    from twinbench.results.export import write_jsonl

    monkeypatch.setenv("TWINBENCH_NO_ZOO_SEARCH", "1")
    recs = study_records()
    write_jsonl(tmp_path / "results.jsonl", recs)
    a = write_outputs(tmp_path, "s", recs)
    doc = json.loads((tmp_path / "analysis.json").read_text())
    assert [c["verdict"] for c in doc["claims"]] == [c.verdict for c in a.claims]
    assert doc["machine"] == a.machine and doc["recommendation"]["ranking"]
    assert (tmp_path / "comparisons.jsonl").read_text().count("\n") == len(a.pairs)
    md = (tmp_path / "report.md").read_text()
    assert speaks_for(a.machine) in md and "## Recommendation" in md
    doc["claims"][1]["summary"] = "as saved"  # show reads the saved verdict, not a new one
    (tmp_path / "analysis.json").write_text(json.dumps(doc))
    r = CliRunner().invoke(app, ["show", str(tmp_path)], terminal_width=200)
    assert r.exit_code == 0, r.output
    assert "this verdict speaks for one machine" in r.output.lower()
    assert "as saved" in r.output


def test_the_verdict_names_its_machine_or_says_it_cannot():
    assert speaks_for_text("2-core CPU (X), 24 GiB, no GPU").startswith(
        "This verdict speaks for one machine: 2-core CPU (X), 24 GiB, no GPU.")
    assert "several machines (A; B)" in speaks_for_text("mixed machines: A; B")
    assert "does not say which machine" in speaks_for_text("machine not recorded")


def speaks_for_text(summary: str) -> str:
    from twinbench.analysis.machine import speaks_for

    return speaks_for(summary)


def test_claims_awaiting_a_scenario_name_it_then_the_command(monkeypatch):
    """A claim whose scenario twinbench lacks is "not measurable here" with the issue that adds
    it; once the scenario is registered, "not measured" with the command; with its records,
    None: the claim's own rule reads them (never a verdict made of nothing)."""
    import sys
    import types

    from twinbench import scenarios
    from twinbench.analysis.claims.base import awaiting
    from twinbench.scenarios.spec import Scenario

    res = awaiting("C8", "toy-serving", "toy scenario", "issue #0", Evidence([]))
    assert res is not None and res.verdict == NOT_MEASURABLE and "issue #0" in res.missing
    module = types.ModuleType("toy_serving")
    module.SCENARIO = Scenario("toy-serving", "HTTP serving")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "toy_serving", module)
    monkeypatch.setitem(scenarios.SCENARIOS, "toy-serving", "toy_serving")
    scenarios.spec.cache_clear()
    try:
        res = awaiting("C8", "toy-serving", "toy scenario", "issue #0", Evidence([]))
        assert res is not None and res.verdict == NOT_MEASURED and "toy-serving" in res.missing
        recs = [rec("pytorch", "toy-serving", "p99", 0.9, "ms", "lower")]
        assert awaiting("C8", "toy-serving", "toy scenario", "issue #0", Evidence(recs)) is None
    finally:
        scenarios.spec.cache_clear()  # forget the toy scenario's spec
