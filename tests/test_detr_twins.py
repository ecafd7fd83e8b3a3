"""Twin tests for DETR: weight transfer (packed self- and cross-attention), the Hungarian-matched
set loss against the shared numpy reference, and PyTorch <-> Lightning <-> Keras parity on every
Keras backend, through the product adapters (tests/twin_worker.py), so their own-loss hooks are
tested too.

Project rule: one framework per process. This pytest process only uses numpy; the workers
exchange weights, inputs and outputs through ``.npz`` files (tests/twin_harness.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from twin_harness import (
    KERAS,
    REF,
    check_parity,
    init_weights,
    run_out,
    run_workers,
    twin_result,
    write_case,
)
from twinbench.frameworks.base import FRAMEWORKS
from twinbench.tasks.detection_data import load_detection_dataset
from twinbench.tasks.detection_match import set_loss
from twinbench.zoo import MODELS
from twinbench.zoo.init import canonical_init, shapes_of

SIZE = MODELS["detr"].sizes["tiny"]
HW, BATCH, NCLS = 16, 4, 3
CONFIG = {
    "model": "detr", "size": SIZE, "input_shape": [HW, HW, 3], "num_classes": NCLS, "seed": 0,
    "batch": BATCH,
    "train": {"lr": 0.05, "momentum": 0.9},
    # from the reference's weights the parity scenario's 3 train_steps (batches 0, 1, 0); from a
    # twin's own, 2 fit calls over both batches, as the train scenario trains: 4 SGD steps
    "protocol": {REF: {"steps": 3}, "*": {"epochs": 2}},
    # random BN statistics, norm scales and biases: a wrong relayout cannot hide behind zeros
    # and ones, and eval mode is not trivial
    "init": {"perturb": {"seed": 1, "every_norm": True, "sort": True}},
    "roundtrip": {"bad": [
        {"key": "decoder.0.cross_attn.in_proj_weight", "op": "rows", "n": 2 * SIZE["dim"]},
        {"key": "class_head.weight", "op": "transpose"},
        {"key": "backbone.layer2.0.downsample.1.running_var", "op": "drop"},
        {"key": "encoder.7.norm1.weight", "op": "copy", "from": "decoder_norm.weight",
         "expect": "encoder.7.norm1"},
    ]},
    # the twin's own loss on fixed outputs, and with each image's objects in reverse order
    "run": {"set_loss": True},
}
PLAN = {
    REF: ["init", f"run:{REF}", "roundtrip", "run:keras-tf"],
    "lightning": ["roundtrip", f"run:{REF}"],
    "keras-tf": ["init", "run:keras-tf", f"run:{REF}", "roundtrip"],
    **{k: [f"run:{REF}", "roundtrip"] for k in KERAS[1:]},
}


def _fixed_outputs(rng: np.random.Generator, n: int, q: int) -> np.ndarray:
    """Arbitrary but valid DETR outputs: logits, then boxes inside the image."""
    logits = rng.normal(0.0, 2.0, (n, q, NCLS + 1))
    centre = rng.uniform(0.2, 0.8, (n, q, 2))
    wh = rng.uniform(0.05, 0.5, (n, q, 2))
    return np.concatenate([logits, centre, wh], axis=-1).astype(np.float32)


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every framework's worker once, all at once, and the folder with all the results."""
    ds = load_detection_dataset("shapes", image_size=HW, n_train=2 * BATCH, n_test=1, seed=0)
    fixed = _fixed_outputs(np.random.default_rng(0), 2 * BATCH, SIZE["queries"])
    d = write_case(tmp_path_factory.mktemp("detr_twins"), CONFIG, x=ds.train.x, y=ds.train.y,
                   fixed=fixed)
    run_workers(d, PLAN)
    return d


def _compare(d: Path, origin: str, other: str) -> None:
    """``origin`` ran its own weights, ``other`` ran the same weights: outputs must agree."""
    a, b = run_out(d, origin, origin), run_out(d, other, origin)
    assert np.std(a["out"][..., : NCLS + 1]) > 1e-2, "degenerate logits"
    assert np.std(a["out"][..., NCLS + 1 :]) > 1e-3, "degenerate boxes"
    check_parity(a, b, f"{origin} -> {other}", (2 * BATCH, SIZE["queries"], NCLS + 5))


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_roundtrip_and_errors(fw: str, twins: Path) -> None:
    twin_result(twins, f"ok_{fw}_roundtrip", fw, "roundtrip")


def test_twin_shapes(twins: Path) -> None:
    t, k = shapes_of(init_weights(twins, REF)), shapes_of(init_weights(twins, "keras-tf"))
    assert t == k
    dim = SIZE["dim"]
    assert t["decoder.0.cross_attn.in_proj_weight"] == (3 * dim, dim)
    assert t["encoder.0.self_attn.out_proj.weight"] == (dim, dim)
    assert t["query_embed.weight"] == (SIZE["queries"], dim)
    assert t["class_head.weight"] == (NCLS + 1, dim) and t["box_head.layers.2.weight"] == (4, dim)
    assert t["input_proj.weight"] == (dim, SIZE["widths"][-1], 1, 1)
    assert t["backbone.layer2.0.downsample.0.weight"] == (16, 8, 1, 1)
    assert shapes_of(canonical_init(t, seed=0)) == t  # every tensor has an init rule


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_loss_matches_the_numpy_reference(fw: str, twins: Path) -> None:
    """Each framework's differentiable loss, on fixed outputs, equals ``set_loss`` (float64),
    and permuting the objects of an image does not change it (a set loss)."""
    inp = np.load(twins / "inputs.npz")
    ref = set_loss(inp["fixed"], inp["y"], NCLS)["loss"]
    got = run_out(twins, fw, REF)
    print(f"\n{fw}: loss {float(got['fixed']):.6f}, reference {ref:.6f}")
    assert float(got["fixed"]) == pytest.approx(ref, rel=1e-5)
    assert float(got["permuted"]) == pytest.approx(ref, rel=1e-5)


@pytest.mark.parametrize("fw", ["lightning", *KERAS])
def test_parity_pytorch_to_twin(fw: str, twins: Path) -> None:
    _compare(twins, REF, fw)


def test_parity_keras_to_pytorch(twins: Path) -> None:
    _compare(twins, "keras-tf", REF)
