"""The Lightning framework: same module, same weights, same batches -> the same training as PyTorch.

One framework per process: the raw-PyTorch and the Lightning side each run tests/twin_worker.py
in their own subprocess through their adapters (the code the benchmark times) and exchange .npz
files; this pytest process only uses numpy. Then one end-to-end study through the CLI, where the
planner checks Lightning's parity against the PyTorch reference.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from twin_harness import (
    REF,
    info,
    init_weights,
    run_out,
    run_workers,
    trained,
    twin_result,
    write_case,
)
from twinbench.zoo import MODELS

B, BATCHES = 8, 4  # batch size; batches in the data
LIGHTNING_CHATTER = ("GPU available", "TPU available", "Tip:", "LeafSpec",
                     "does not have many workers", "Trainer.fit` stopped",
                     "module(s) in eval mode")
CONFIG = {
    "model": "resnet", "size": MODELS["resnet"].sizes["tiny"], "input_shape": [16, 16, 3],
    "num_classes": 10, "seed": 0, "batch": B,
    "train": {"lr": 0.05, "momentum": 0.9},
    # An eval-mode predict first, as the parity check does: training must not inherit eval mode.
    # 4 single steps on 4 different batches: one Trainer.fit each on the Lightning side. Then 3
    # passes ("epochs") of fit over the same 4 batches, with a predict after each, as a user
    # evaluates: momentum must live across calls.
    "protocol": {REF: {"steps": BATCHES, "epochs": 3}},
    "init": {"canonical": 0},
    "roundtrip": {"bad": [{"key": "fc.weight", "op": "transpose"}]},
}
PLAN = {REF: ["init", f"run:{REF}"], "lightning": ["init", f"run:{REF}", "roundtrip", "lightning"]}


@pytest.fixture(scope="module")
def sides(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Run both workers in parallel; return the folder and each worker's console output."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCHES * B, 16, 16, 3)).astype(np.float32)  # NHWC, 4 batches
    d = write_case(tmp_path_factory.mktemp("lightning"), CONFIG, x=x,
                   y=rng.integers(0, 10, BATCHES * B))
    return d, run_workers(d, PLAN, env={"PYTHONWARNINGS": "default"})


def test_lightning_trains_like_raw_pytorch(sides: tuple[Path, dict[str, str]]) -> None:
    d, _ = sides
    t, lt = run_out(d, REF, REF), run_out(d, "lightning", REF)
    steps: dict[str, Any] = {"pytorch": t["losses"][:BATCHES], "lightning": lt["losses"][:BATCHES]}
    fits: dict[str, Any] = {"pytorch": t["losses"][BATCHES:], "lightning": lt["losses"][BATCHES:]}
    print(f"\nsteps: {steps}\nfits: {fits}")
    assert len(np.unique(np.round(steps["pytorch"], 4))) == 4, "training steps changed nothing"
    np.testing.assert_allclose(steps["lightning"], steps["pytorch"], rtol=1e-5)
    np.testing.assert_allclose(fits["lightning"], fits["pytorch"], rtol=1e-5)
    np.testing.assert_allclose(lt["out"], t["out"], rtol=1e-5, atol=1e-6)  # before training
    np.testing.assert_allclose(lt["evals"], t["evals"], rtol=1e-5, atol=1e-6)  # after each fit
    tw, lw = trained(t), trained(lt)
    assert sorted(tw) == sorted(lw)
    worst = max(float(np.max(np.abs(tw[k] - lw[k]))) for k in tw)
    assert worst < 1e-5, f"weights after 3 fits differ by {worst:.2e}"


def test_lightning_goes_through_the_trainer_and_keeps_pytorch_names(
    sides: tuple[Path, dict[str, str]],
) -> None:
    d, logs = sides
    c = json.loads(twin_result(d, "lightning.json", "lightning", "lightning").read_text())
    assert c["is_lightning_module"]
    i = info(run_out(d, "lightning", REF))
    assert i["global_step_after_first_step"] == 1 and "fit" in i["trainer_fn"].lower()
    assert i["threads"] == {"intra_op": 1, "inter_op": 1}  # after fit
    keys = sorted(init_weights(d, "lightning"))
    assert keys == sorted(init_weights(d, REF)), "canonical names must be PyTorch's"
    assert not any(k.startswith("net.") for k in keys)
    # set_weights round trip; fc.weight transposed: a one-line ValueError naming it, and the
    # rejected load leaves the weights untouched
    twin_result(d, "ok_lightning_roundtrip", "lightning", "roundtrip")
    assert "no `net` nn.Module" in c["no_net_error"]
    noise = [w for w in LIGHTNING_CHATTER if w in logs["lightning"]]
    assert not noise, f"Lightning is chatty: {noise}\n{logs['lightning'][-2000:]}"


def test_end_to_end_pytorch_vs_lightning(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = cli("run", "--preset", "tiny", "--framework", "pytorch,lightning", "--scenario",
            "train,accuracy", "--out", str(out), "--threads", "1")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    recs = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    got = {(x["framework"], x["scenario"], x["metric"]) for x in recs}
    for fw in ("pytorch", "lightning"):
        for sc, metric in [("train", "throughput"), ("accuracy", "accuracy")]:
            assert (fw, sc, metric) in got, (fw, sc, metric)
    parity = [x for x in recs if x["framework"] == "lightning" and x["scenario"] == "parity"]
    assert {x["metric"] for x in parity} >= {"forward_max_abs_diff", "loss_max_rel_diff"}
    assert all(x["extra"]["passed"] for x in parity), parity
    lit = [x for x in recs if x["framework"] == "lightning" and x["scenario"] != "parity"]
    assert all(x["status"] == "ok" and x["backend"] == "torch" for x in lit)
    assert all("lightning" in x["env"]["versions"] for x in lit)
    assert all(not x["env"]["foreign_frameworks_imported"] for x in lit)
    acc = {x["framework"]: x["value"] for x in recs if x["metric"] == "accuracy"}
    assert abs(acc["pytorch"] - acc["lightning"]) < 0.02, acc  # same batches, same weights
