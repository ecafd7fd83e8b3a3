"""C9's rule and the distributed view, on synthetic records of the distributed scenario (the
launches themselves are tested in test_distributed.py)."""

from __future__ import annotations

from rich.console import Console

from test_report import rec
from twinbench.analysis.claims import assess
from twinbench.analysis.claims.base import CONFIRMED, INCONCLUSIVE, REFUTED, Evidence
from twinbench.analysis.claims.distributed import c9
from twinbench.report.distributed_view import distributed_tables, print_distributed
from twinbench.results.schema import Record


def d(fw: str, variant: str, metric: str, value: float | None,
      ci: tuple[float, float] | None = None, **extra) -> Record:
    r = rec(fw, "distributed", metric, value, "ratio", "higher", variant=variant,
            extra=dict(extra), knobs={"world": 2, "threads_per_process": 1})
    return r.model_copy(update={"ci95": ci})


def gate(fw: str, variant: str, passed: bool = True) -> Record:
    return d(fw, variant, "gate_max_abs_diff", 3e-8 if passed else 0.2, passed=passed,
             call_path="data-parallel")


def failed(fw: str, variant: str, error: str, upstream: str | None = None) -> Record:
    r = d(fw, variant, "samples_per_s", None, upstream=upstream)
    return r.model_copy(update={"status": "failed", "error": error})


def scaling(fw: str, e: tuple[float, float, float]) -> list[Record]:
    return [gate(fw, "dp-w2"), d(fw, "dp-w2", "samples_per_s", 100.0, (95, 105)),
            d(fw, "dp-w2", "scaling_efficiency", e[0], (e[1], e[2]))]


def pipeline(ok: bool = True) -> list[Record]:
    out = [gate("pytorch", "pipe-1f1b-m4", ok),
           d("pytorch", "pipe-1f1b-m4", "samples_per_s", 80.0, (78, 82)),
           d("pytorch", "pipe-1f1b-m4", "bubble_fraction", 0.3, None, theoretical=0.2,
             per_stage_idle=[0.25, 0.35])]
    return out


FIT = failed("keras-tf", "fit-w2", "fit-w2: ValueError: an error keras 20585 gives",
             "keras-team/keras#20585")


def test_c9_confirmed_when_pytorch_scales_no_worse_and_pipelines():
    recs = [*scaling("pytorch", (0.9, 0.85, 0.95)), *scaling("keras-jax", (0.88, 0.8, 0.93)),
            *pipeline(), FIT]
    res = c9(Evidence(recs))
    assert res.verdict == CONFIRMED, res.summary
    text = "\n".join(res.evidence)
    assert "keras-team/keras#20585" in text and "pipe-1f1b-m4: gate passed" in text
    assert "offered first-party by: pytorch" in text


def test_c9_inconclusive_when_a_keras_side_framework_scales_shown_better():
    recs = [*scaling("pytorch", (0.6, 0.55, 0.65)), *scaling("keras-jax", (0.9, 0.85, 0.95)),
            *pipeline()]
    res = c9(Evidence(recs))
    assert res.verdict == INCONCLUSIVE and "keras-jax E 0.900" in res.summary


def test_c9_refuted_when_pytorch_fails_its_own_gate_or_every_pipeline_run():
    wrong = [gate("pytorch", "dp-w2", passed=False),
             failed("pytorch", "dp-w2", "gradient-equivalence gate failed: max |Δ| 0.2"),
             *scaling("keras-jax", (0.9, 0.85, 0.95)), *pipeline()]
    assert c9(Evidence(wrong)).verdict == REFUTED
    no_pipe = [*scaling("pytorch", (0.9, 0.85, 0.95)), *pipeline(ok=False)]
    res = c9(Evidence(no_pipe))
    assert res.verdict == REFUTED and "pipeline/resnet" in res.summary
    by = {c.id: c for c in assess(no_pipe)}  # through the report's path too
    assert by["C9"].verdict == REFUTED


def test_the_view_tables_scaling_and_pipeline_rows_and_failures():
    unavailable = d("keras-torch", "dp-w2", "samples_per_s", None, state="unavailable",
                    reason="Keras 3's distribution API is JAX-only")
    recs = [*scaling("pytorch", (0.9, 0.85, 0.95)), *pipeline(), FIT, unavailable]
    tables = {t.title.split(" ·")[0]: t for t in distributed_tables(recs)}
    dp = tables["Data-parallel scaling"]
    rows = {(r[0], r[1]): r for r in dp.rows}
    assert rows[("pytorch", "dp-w2")][5].startswith("0.900 [0.850, 0.950]")
    assert rows[("pytorch", "dp-w2")][-1].startswith("passed")
    assert rows[("keras-tf", "fit-w2")][4].startswith("FAILED: fit-w2: ValueError")
    assert rows[("keras-torch", "dp-w2")][4].startswith("unavailable: Keras 3's")
    pipe = tables["Pipeline parallelism (PyTorch, 2 stages)"]
    assert pipe.rows[0][:2] == ["1f1b", "4"] and pipe.rows[0][5] == "0.300 (0.200)"
    assert any("only in PyTorch" in n for n in pipe.notes)
    console = Console(record=True, width=250)
    print_distributed(recs, console)
    assert "Pipeline parallelism" in console.export_text()
