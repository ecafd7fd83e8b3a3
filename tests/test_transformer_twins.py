"""Twin tests for the Transformer text classifier: weight transfer (packed attention included),
padding masks, and PyTorch <-> Lightning <-> Keras parity on every Keras backend, through the
product adapters (tests/twin_worker.py).

Project rule: one framework per process. This pytest process only uses numpy; the workers
exchange weights, inputs and outputs through ``.npz`` files (tests/twin_harness.py).

The batches hold sequences of different lengths (1 to 12 tokens, padded with 0), so the masks
matter: each twin must give a padded row the same logits as that row alone without padding,
which fails if either the attention mask or the masked mean pool is ignored or inverted.
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
from twinbench.zoo.init import canonical_init, shapes_of

VOCAB, NCLS, SEQ, DIM, DEPTH = 50, 3, 12, 16, 2
LENGTHS = (12, 9, 5, 3, 1, 7)  # one full row, one single-token row, the rest padded
BATCH = 3  # 2 batches
CONFIG = {
    "model": "transformer", "size": {"dim": DIM, "depth": DEPTH, "heads": 2, "vocab_size": VOCAB},
    "input_shape": [SEQ], "num_classes": NCLS, "seed": 0, "batch": BATCH,
    "train": {"lr": 0.05, "momentum": 0.9},
    # from the reference's weights the parity scenario's 3 train_steps (batches 0, 1, 0); from a
    # twin's own, 2 fit calls over both batches, as the train scenario trains: 4 SGD steps
    "protocol": {REF: {"steps": 3}, "*": {"epochs": 2}},
    # zero biases and unit LayerNorm scales would hide a wrong bias or scale relayout
    "init": {"perturb": {"seed": 1, "running_mean": None, "running_var": None,
                         "gamma": ["normal", 1.0, 0.2], "every_norm": True, "sort": True}},
    "roundtrip": {"bad": [
        {"key": "blocks.1.attn.in_proj_weight", "op": "rows", "n": 2 * DIM},
        {"key": "head.weight", "op": "transpose"},
        {"key": "blocks.0.attn.in_proj_bias", "op": "drop"},
        {"key": "blocks.0.attn.q_proj.weight", "op": "copy", "from": "head.weight",
         "expect": "q_proj"},
    ]},
    "run": {"alone": True},  # each row alone, without padding, too
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
    x = np.zeros((len(LENGTHS), SEQ), dtype=np.int32)  # 0 = padding
    for i, n in enumerate(LENGTHS):
        x[i, :n] = rng.integers(1, VOCAB, n)  # ids >= 1; 1 is "unknown"
    y = np.arange(len(LENGTHS)) % NCLS
    d = write_case(tmp_path_factory.mktemp("text_twins"), CONFIG, x=x, y=y,
                   lengths=np.array(LENGTHS))
    run_workers(d, PLAN)
    return d


def _compare(d: Path, origin: str, other: str) -> None:
    """``origin`` ran its own weights, ``other`` ran the same weights: outputs must agree."""
    check_parity(run_out(d, origin, origin), run_out(d, other, origin), f"{origin} -> {other}",
                 (len(LENGTHS), NCLS))


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_roundtrip_and_errors(fw: str, twins: Path) -> None:
    twin_result(twins, f"ok_{fw}_roundtrip", fw, "roundtrip")


@pytest.mark.parametrize("fw", ["lightning", *KERAS])
def test_twin_shapes(fw: str, twins: Path) -> None:
    t, k = shapes_of(init_weights(twins, REF)), shapes_of(init_weights(twins, fw))
    assert t == k
    assert len(t) == 4 + 12 * DEPTH + 2  # embeddings, 12 tensors per block, final norm, head
    assert t["tok_embed.weight"] == (VOCAB, DIM)
    assert t["pos_embed.weight"] == (SEQ, DIM)
    assert t["blocks.0.attn.in_proj_weight"] == t["blocks.1.attn.in_proj_weight"] == (3 * DIM, DIM)
    assert shapes_of(canonical_init(t, seed=0)) == t  # every tensor has an init rule


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_padding_is_masked(fw: str, twins: Path) -> None:
    """A padded row gives the logits of the same tokens alone: pads are neither attended nor
    pooled. With the mask ignored (or inverted) this differs by far more than rounding."""
    out = run_out(twins, fw, REF)
    diff = np.abs(out["out"] - out["alone"]).max(axis=1)
    print(f"\n{fw}: padded vs alone per row {np.array2string(diff, precision=1)}")
    assert diff.max() < 1e-5


@pytest.mark.parametrize("fw", ["lightning", *KERAS])
def test_parity_pytorch_to_twin(fw: str, twins: Path) -> None:
    _compare(twins, REF, fw)


@pytest.mark.parametrize("keras", KERAS)
def test_parity_keras_to_pytorch(keras: str, twins: Path) -> None:
    _compare(twins, keras, REF)
