"""C8's rule and the serve view, on synthetic records of the serve scenario (the servers and
the load client themselves are tested in test_serve_load.py and test_serve_cli.py)."""

from __future__ import annotations

from rich.console import Console

from test_report import rec
from twinbench.analysis.claims.base import (
    CONFIRMED,
    INCONCLUSIVE,
    NOT_MEASURED,
    REFUTED,
    Evidence,
)
from twinbench.analysis.claims.serving import c8
from twinbench.report.serve_view import print_serve, serve_tables
from twinbench.results.schema import Record

RATES = {"0.5x": 40.0, "0.8x": 64.0}


def s(fw: str, variant: str, metric: str, value: float | None,
      ci: tuple[float, float] | None = None, **extra) -> Record:
    r = rec(fw, "serve", metric, value, variant=variant, extra=dict(extra))
    return r.model_copy(update={"ci95": ci})


def pair(fw: str, variant: str, p99: float, half: float, maxq: float) -> list[Record]:
    out = [s(fw, variant, "http_max_abs_diff", 1e-7, passed=True),
           s(fw, variant, "cold_start", 2.0), s(fw, variant, "server_memory", 300.0),
           s(fw, variant, "latency_single_stream", 1.0, (0.9, 1.1), capacity_qps=80.0),
           s(fw, variant, "max_qps_within_bound", maxq, latency_bound_ms=50.0)]
    for tag, q in RATES.items():
        out += [s(fw, variant, f"latency_p50_at_{tag}", p99 / 2, offered_qps=q),
                s(fw, variant, f"latency_p99_at_{tag}", p99, (p99 - half, p99 + half),
                  offered_qps=q)]
    return out


def test_c8_refuted_when_pytorch_serves_with_a_lower_p99():
    recs = pair("keras-tf", "savedmodel@aiohttp", 9.0, 0.5, 300) + \
        pair("pytorch", "aoti@aiohttp", 5.0, 0.5, 500) + \
        pair("pytorch", "torch-eager@aiohttp", 7.0, 0.5, 400)
    res = c8(Evidence(recs))
    assert res.verdict == REFUTED, res.summary
    assert "aoti@aiohttp 5.00 ms" in res.summary and "serving only" in res.summary


def test_c8_confirmed_when_the_savedmodel_is_lower_everywhere():
    recs = pair("keras-tf", "savedmodel@aiohttp", 3.0, 0.2, 600) + \
        pair("pytorch", "torch-eager@aiohttp", 7.0, 0.5, 400)
    assert c8(Evidence(recs)).verdict == CONFIRMED


def test_c8_inconclusive_when_intervals_overlap_or_rates_disagree():
    overlap = pair("keras-tf", "savedmodel@aiohttp", 5.5, 1.0, 400) + \
        pair("pytorch", "torch-eager@aiohttp", 5.0, 1.0, 400)
    assert c8(Evidence(overlap)).verdict == INCONCLUSIVE
    # lower p99 at the common rates, but a lower max rate within the bound: not "stronger"
    mixed = pair("keras-tf", "savedmodel@aiohttp", 3.0, 0.2, 200) + \
        pair("pytorch", "torch-eager@aiohttp", 7.0, 0.5, 400)
    assert c8(Evidence(mixed)).verdict == INCONCLUSIVE


def test_c8_refuted_when_the_savedmodel_does_not_serve():
    failed = s("keras-tf", "savedmodel", "export_time", None)
    failed = failed.model_copy(update={"status": "failed", "error": "savedmodel: boom"})
    recs = [failed] + pair("pytorch", "torch-eager@aiohttp", 7.0, 0.5, 400)
    res = c8(Evidence(recs))
    assert res.verdict == REFUTED and any("boom" in e for e in res.evidence)


def test_c8_not_measured_without_serve_records():
    res = c8(Evidence([rec("pytorch", "train", "samples_per_s", 1.0)]))
    assert res.verdict == NOT_MEASURED and "--preset serve" in res.missing


def test_view_shows_each_pair_at_the_common_rates_and_failures():
    crash = s("pytorch", "onnx-torch@aiohttp", "max_qps_within_bound", None)
    crash = crash.model_copy(update={"status": "failed", "error": "onnx-torch@aiohttp: died"})
    recs = pair("keras-tf", "savedmodel@aiohttp", 9.0, 0.5, 300) + \
        pair("pytorch", "torch-eager@litserve", 5.0, 0.5, 500) + [crash] + \
        [s("pytorch", "aoti", "export_time", 20.0), s("pytorch", "aoti", "artifact_size", 1.7)]
    [t] = serve_tables(recs)
    assert "p99 ms [CI] @ 40/s (0.5x)" in t.columns and "p50 ms @ 64/s (0.8x)" in t.columns
    rows = {(r[1], r[2]): r for r in t.rows}
    assert rows[("savedmodel", "aiohttp")][t.columns.index("p99 ms [CI] @ 40/s (0.5x)")] \
        == "9.00 [8.50, 9.50]"
    assert any(c.startswith("FAILED: onnx-torch@aiohttp: died")
               for c in rows[("onnx-torch", "aiohttp")])
    assert list(rows)[-1] == ("torch-eager", "litserve")  # server tier after the runtime tier
    console = Console(record=True, width=250)
    print_serve(recs, console)
    assert "Serving over HTTP" in console.export_text()


def test_serve_is_planned_once_per_model_without_a_parity_dependency():
    from twinbench.plan import plan
    from twinbench.study import load_study

    # keras-tf first: its parity job exists, and the serve job (hosted by it) must not wait
    # on it (each server's answers are checked against its own framework's model)
    study = load_study(None, "serve", {"parity": True, "models": ["resnet", "mobilenet"],
                                       "frameworks": ["keras-tf", "pytorch"]})
    serve = [j for j in plan(study) if j.scenario == "serve"]
    assert sorted(j.model for j in serve) == ["mobilenet", "resnet"]
    assert {j.framework for j in serve} == {"keras-tf"}
    assert any(j.scenario == "parity" and j.framework == "keras-tf" for j in plan(study))
    assert all(j.needs is None for j in serve)
