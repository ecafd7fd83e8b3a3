"""The distributed scenario end to end from the CLI (tiny preset): Keras-TF through
MultiWorkerMirroredStrategy — the gated W=2 custom loop, the same-budget launch, and Keras
``fit`` recorded as it fails (keras-team/keras#20585) — and Keras-on-torch recorded as having no
launcher. Speed is not asserted: 0 < E ≤ 1.2 only."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("dist-cli")
    # --no-parity: twin parity is not this test's subject (the scenario's own gate is)
    p = run_cli("run", "--preset", "tiny", "--framework", "keras-tf,keras-torch", "--model",
                "resnet", "--scenario", "distributed", "--no-parity", "--out", str(out),
                timeout=580)
    recs = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return {"proc": p, "out": out,
            "recs": [r for r in recs if r["scenario"] == "distributed"]}


def _one(recs: list[dict], fw: str, variant: str, metric: str | None = None,
         status: str = "ok") -> dict:
    found = [r for r in recs if r["framework"] == fw and r["variant"] == variant
             and r["status"] == status and (metric is None or r["metric"] == metric)]
    assert len(found) == 1, (fw, variant, metric, status, [
        (r["framework"], r["variant"], r["metric"], r["status"]) for r in recs])
    return found[0]


def test_keras_tf_is_gated_and_measured_through_its_strategy(run):
    recs = run["recs"]
    g = _one(recs, "keras-tf", "dp-w2", "gate_max_abs_diff")
    assert g["extra"]["passed"] and g["extra"]["shards_ok"] and g["value"] <= 1e-5
    e = _one(recs, "keras-tf", "dp-w2", "scaling_efficiency")
    assert 0 < e["value"] <= 1.2 and e["ci95"][0] <= e["value"] <= e["ci95"][1]
    thr = _one(recs, "keras-tf", "dp-w2", "samples_per_s")
    assert thr["knobs"]["world"] == 2 and thr["knobs"]["variant"] == "custom-loop"
    assert thr["extra"]["info"]["strategy"] == "CollectiveAllReduceStrategy"
    assert _one(recs, "keras-tf", "dp-w2", "launch_time")["value"] > 0
    rss = _one(recs, "keras-tf", "dp-w2", "peak_rss")
    assert len(rss["extra"]["per_rank_mib"]) == 2
    assert _one(recs, "keras-tf", "dp-w1", "samples_per_s")["knobs"]["world"] == 1
    assert _one(recs, "keras-tf", "dp-w1-2threads", "samples_per_s")["knobs"][
        "threads_per_process"] == 2
    assert _one(recs, "keras-tf", "dp-w2", "same_budget_ratio")["value"] > 0


def test_keras_fit_under_mwms_is_recorded_as_it_fails(run):
    f = _one(run["recs"], "keras-tf", "fit-w2", status="failed")
    assert "PerReplica" in f["error"] and f["extra"]["upstream"] == "keras-team/keras#20585"
    assert f["knobs"]["variant"] == "fit" and f["extra"]["log_tail"]


def test_keras_on_torch_says_it_has_no_launcher_and_the_report_shows_both(run):
    m = _one(run["recs"], "keras-torch", "dp-w2", "samples_per_s")
    assert m["value"] is None and "JAX backend only" in m["extra"]["reason"]
    md = (run["out"] / "report.md").read_text()
    assert "Data-parallel scaling" in md and "keras-team/keras#20585" in md
    # each launch's row names its own shape, not the study's thread count
    assert "| keras-tf | dp-w2 | 2 × 1 | custom-loop |" in md
    assert "| keras-tf | dp-w1-2threads | 1 × 2 | custom-loop |" in md
    assert "C9" in md
