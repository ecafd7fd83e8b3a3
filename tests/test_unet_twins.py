"""Twin tests for the U-Net segmenter: weight transfer, shapes, and PyTorch <-> Lightning <->
Keras parity on every Keras backend, through the product adapters (tests/twin_worker.py).

Project rule: one framework per process. This pytest process only uses numpy; the workers
exchange weights, inputs and outputs through ``.npz`` files (tests/twin_harness.py). Loss on
every side: mean per-pixel softmax cross-entropy (torch ``nn.CrossEntropyLoss`` on (N, C, H, W)
logits, Keras ``SparseCategoricalCrossentropy(from_logits=True)`` on (N, H, W, C)); the PyTorch
adapter's predict hands NHWC outputs back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
from twinbench.errors import UserError
from twinbench.frameworks.base import FRAMEWORKS
from twinbench.zoo import MODELS
from twinbench.zoo.geometry import check_unet_input
from twinbench.zoo.init import canonical_init, shapes_of

HW, NCLS, BATCH = 16, 4, 4
CONFIG = {
    "model": "unet", "size": {"widths": [4, 8, 16]}, "input_shape": [HW, HW, 3],
    "num_classes": NCLS, "seed": 0, "batch": BATCH,
    "train": {"lr": 0.05, "momentum": 0.9},
    # from the reference's weights the parity scenario's 3 train_steps (batches 0, 1, 0); from a
    # twin's own, 2 fit calls over both batches, as the train scenario trains: 4 SGD steps
    "protocol": {REF: {"steps": 3}, "*": {"epochs": 2}},
    # framework default inits (kaiming-uniform a=sqrt(5), glorot) shrink the signal at every
    # conv, and a deep U-Net in eval mode then outputs ~constant logits; the study's own
    # canonical init keeps the outputs informative. One seed per twin: distinct weights.
    "init": {"canonical": {fw: i + 1 for i, fw in enumerate(FRAMEWORKS)},
             "perturb": {"seed": 1}},  # non-trivial BatchNorm state
    "roundtrip": {
        "bad": [
            {"key": "dec1.conv1.weight", "op": "copy", "from": "dec1.conv2.weight"},
            {"key": "dec1.up_bn.running_var", "op": "drop"},
            {"key": "enc9.conv1.weight", "op": "copy", "from": "enc1.conv1.weight"},
        ],
        # 2 pools need a multiple of 4
        "bad_input": {"shape": [HW + 2, HW + 2, 3], "match": "divisible by 4"},
    },
}
PLAN = {
    REF: ["init", f"run:{REF}", "roundtrip", *(f"run:{k}" for k in KERAS)],
    "lightning": ["init", "roundtrip", f"run:{REF}"],
    **{k: ["init", f"run:{k}", f"run:{REF}", "roundtrip"] for k in KERAS},
}


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every framework's worker once, all at once, and the folder with all the results."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2 * BATCH, HW, HW, 3)).astype(np.float32)  # NHWC, 2 batches
    y = rng.integers(0, NCLS, (2 * BATCH, HW, HW)).astype(np.int64)  # (N, H, W) masks
    d = write_case(tmp_path_factory.mktemp("unet_twins"), CONFIG, x=x, y=y)
    run_workers(d, PLAN)
    return d


def _compare(d: Path, origin: str, other: str) -> None:
    """``origin`` ran its own weights, ``other`` ran the same weights: outputs must agree."""
    a, b = run_out(d, origin, origin), run_out(d, other, origin)
    # the logits must vary over space, or a layout mix-up (NCHW read as NHWC) could hide
    assert np.std(a["out"], axis=(1, 2)).mean() > 1e-2
    check_parity(a, b, f"{origin} -> {other}", (2 * BATCH, HW, HW, NCLS))


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_roundtrip_and_errors(fw: str, twins: Path) -> None:
    twin_result(twins, f"ok_{fw}_roundtrip", fw, "roundtrip")


@pytest.mark.parametrize("fw", ["lightning", *KERAS])
def test_twin_shapes(fw: str, twins: Path) -> None:
    t, k = shapes_of(init_weights(twins, REF)), shapes_of(init_weights(twins, fw))
    assert t == k
    # 3 double convs (enc1, enc2, bottleneck) x 10 + 2 up blocks x 15 + head weight and bias
    assert len(t) == 62
    assert t["dec2.up_conv.weight"] == (8, 16, 3, 3)  # bottleneck width -> level-2 width
    assert t["dec1.conv1.weight"] == (4, 8, 3, 3)  # reads skip + upsampled, concatenated
    assert t["head.weight"] == (NCLS, 4, 1, 1) and t["head.bias"] == (4,)
    assert shapes_of(canonical_init(t, seed=0)) == t  # every U-Net tensor has an init rule


@pytest.mark.parametrize("fw", ["lightning", *KERAS])
def test_parity_pytorch_to_twin(fw: str, twins: Path) -> None:
    _compare(twins, REF, fw)


@pytest.mark.parametrize("keras", KERAS)
def test_parity_keras_to_pytorch(keras: str, twins: Path) -> None:
    _compare(twins, keras, REF)


def test_registered_sizes_fit_the_tiny_preset() -> None:
    spec = MODELS["unet"]
    assert spec.task == "semantic-segmentation" and {"tiny", "small"} <= set(spec.sizes)
    for size in spec.sizes.values():
        check_unet_input(16, 16, len(size["widths"]))  # the tiny preset's image_size
        check_unet_input(32, 32, len(size["widths"]))  # the default image_size


def test_input_size_check_names_the_fix() -> None:
    with pytest.raises(UserError, match=r"divisible by 4, got 18x16; use an image_size") as e:
        check_unet_input(18, 16, 3)
    assert "\n" not in str(e.value)
    check_unet_input(20, 20, 3)
    with pytest.raises(UserError, match="divisible by 8"):
        check_unet_input(20, 20, 4)


def test_cli_segmentation_study_passes_parity_and_scores_miou(cli: Any, tmp_path: Path) -> None:
    """The whole path a user takes: scenes -> adapters (NHWC <-> NCHW, masks as labels) ->
    parity through the harness -> accuracy scored by the shared numpy mIoU."""
    out = tmp_path / "seg"
    r = cli("run", "--preset", "tiny", "--task", "semantic-segmentation", "--scenario",
            "accuracy", "--threads", "1", "--out", str(out))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    recs = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert all(x["status"] == "ok" and x["model"] == "unet" for x in recs)
    parity = {x["metric"]: x for x in recs if x["scenario"] == "parity"
              and x["framework"] == "keras-tf"}
    assert parity["forward_max_abs_diff"]["extra"]["passed"] is True
    assert parity["loss_max_rel_diff"]["extra"]["passed"] is True
    acc = {(x["framework"], x["metric"]): x for x in recs if x["scenario"] == "accuracy"}
    for fw in ("pytorch", "keras-tf"):
        for metric in ("mean_iou", "pixel_accuracy"):
            rec = acc[(fw, metric)]
            assert 0.0 < rec["value"] <= 1.0 and rec["dataset"] == "shapes"
            assert rec["extra"]["n_test"] == 256 and rec["extra"]["n_train"] == 256
    assert "accuracy · semantic-segmentation · unet" in r.stdout
