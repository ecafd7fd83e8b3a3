"""AdamW twins: PyTorch, Lightning and Keras-on-TensorFlow take the same AdamW steps.

Every adapter builds its own library's AdamW (``compile_train(..., "adamw", weight_decay)``)
with betas, epsilon and decay passed explicitly. What "the same" means, measured here:

* Lightning vs PyTorch: the same ``torch.optim.AdamW`` object, so identical losses and weights.
* Keras vs PyTorch: losses within 1e-4 relative (the study's parity check wants 1e-3), but
  weights differ by up to ~1e-3 after 3 steps, by design of the libraries: Keras adds epsilon
  to sqrt(v) *before* v's bias correction (``m * alpha / (sqrt(v) + eps)``), torch after it
  (``m_hat / (sqrt(v_hat) + eps)``). Keras therefore acts like torch with
  ``eps / sqrt(1 - beta2**t)`` (31.6x eps at step 1, 1.26x at step 1000), which moves only the
  elements whose gradient is ~1e-6 or smaller. The test proves that this is the *only*
  difference: a reference AdamW written in plain torch (tests/twin_worker.py, job ``adamw``)
  with Keras' epsilon placement (and the same decoupled decay of every parameter, BatchNorm
  included) matches Keras to ~1e-5, and the same reference with torch's placement reproduces
  ``torch.optim.AdamW`` exactly.

One framework per process: each side runs tests/twin_worker.py in its own subprocess, through
its adapter, and they exchange ``.npz`` files; this pytest process only uses numpy. The weight
decay is large (1.0, so 0.1% of every weight per step at lr 1e-3) so that a side that skipped
decay on some variables (biases, BatchNorm scales) would miss the tolerance by orders of
magnitude.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from twin_harness import REF, info, load, run_out, run_workers, trained, write_case
from twinbench.zoo import MODELS

LR, WD, STEPS = 1e-3, 1.0, 3
CONFIG = {
    "model": "resnet", "size": MODELS["resnet"].sizes["tiny"], "input_shape": [16, 16, 3],
    "num_classes": 10, "seed": 0, "batch": 8,
    "train": {"lr": LR, "momentum": 0.9, "optimizer": "adamw", "weight_decay": WD},
    "protocol": {"*": {"steps": STEPS}},
    # non-zero biases and BN scales: decay on them must show
    "init": {"canonical": 0, "perturb": {
        "seed": 1, "running_mean": None, "running_var": None, "gamma": ["uniform", 0.5, 1.5],
        "beta": ["uniform", 0.5, 1.5], "every_norm": True, "sort": True}},
}
# the pytorch side also runs the reference AdamWs (adamw:<origin>: torch/, keras/ and
# keras_nodecay/ weights)
PLAN = {REF: ["init", f"run:{REF}", f"adamw:{REF}"], "lightning": [f"run:{REF}"],
        "keras-tf": [f"run:{REF}"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Run the three sides in parallel, one process each; return their outputs."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 16, 16, 3)).astype(np.float32)  # NHWC
    y = rng.integers(0, 10, 8).astype(np.int64)
    d = write_case(tmp_path_factory.mktemp("adamw"), CONFIG, x=x, y=y)
    run_workers(d, PLAN)
    out = {fw: run_out(d, fw, REF) for fw in PLAN}
    ref = load(d, f"adamw_{REF}_from_{REF}.npz", REF, f"adamw:{REF}")
    out[REF] |= {f"ref_{k}": v for k, v in ref.items()}  # ref_torch/..., ref_keras/...
    return out


def _weights(run: dict[str, Any], prefix: str) -> dict[str, np.ndarray]:
    # running statistics are not optimizer state (and torch/Keras differ on running_var)
    got = trained(run) if prefix == "w/" else \
        {k[len(prefix):]: v for k, v in run.items() if k.startswith(prefix)}
    return {k: v for k, v in got.items() if "running_" not in k and "num_batches" not in k}


def _max_diff(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> tuple[float, str]:
    assert sorted(a) == sorted(b)
    d = {k: float(np.max(np.abs(a[k] - b[k]))) for k in a}
    worst = max(d, key=d.__getitem__)
    return d[worst], worst


def test_lightning_takes_pytorchs_adamw_steps(runs: dict[str, dict[str, np.ndarray]]) -> None:
    t, lit = runs["pytorch"], runs["lightning"]
    assert np.allclose(lit["losses"], t["losses"], rtol=1e-6, atol=0)
    diff, worst = _max_diff(_weights(t, "w/"), _weights(lit, "w/"))
    assert diff <= 1e-6, f"{worst} differs by {diff:.2e}"
    knobs = info(lit)["knobs"]
    assert "AdamW" in knobs and "'eps': 1e-08" in knobs


def test_keras_adamw_losses_match_pytorch(runs: dict[str, dict[str, np.ndarray]]) -> None:
    t, k = runs["pytorch"], runs["keras-tf"]
    assert t["losses"][-1] < t["losses"][0] - 0.05, "AdamW steps did not train"
    rel = np.abs(k["losses"] - t["losses"]) / np.abs(t["losses"])
    assert np.all(rel < 1e-4), f"loss rel diffs {rel}"
    knobs = info(k)["knobs"]  # read back from Keras: explicit values, not Keras' defaults
    assert "'epsilon': 1e-08" in knobs and f"'weight_decay': {WD}" in knobs, knobs


def test_reference_adamw_is_torchs(runs: dict[str, dict[str, np.ndarray]]) -> None:
    """The hand-written reference with torch's epsilon placement is torch.optim.AdamW."""
    t = runs["pytorch"]
    diff, worst = _max_diff(_weights(t, "w/"), _weights(t, "ref_torch/"))
    assert diff <= 1e-6, f"{worst} differs by {diff:.2e}"


def test_keras_adamw_differs_from_torch_only_by_epsilon_placement(
        runs: dict[str, dict[str, np.ndarray]]) -> None:
    t, k = runs["pytorch"], runs["keras-tf"]
    keras_w = _weights(k, "w/")
    diff, worst = _max_diff(keras_w, _weights(t, "ref_keras/"))
    assert diff <= 5e-5, f"Keras vs reference-with-Keras'-epsilon: {worst} differs by {diff:.2e}"
    # ... and the placement matters: against torch's own AdamW the gap is far larger (docs say
    # so; if this fails, Keras changed its convention and docs/study.md must change too)
    gap, _ = _max_diff(keras_w, _weights(t, "w/"))
    assert gap > 10 * diff and gap > 1e-4, f"gap {gap:.2e} vs {diff:.2e}"
    # Keras decayed every variable, biases and BatchNorm included: leaving the decay out moves
    # each tensor by more than the tolerance above
    ref, nodecay = _weights(t, "ref_keras/"), _weights(t, "ref_keras_nodecay/")
    effect = {key: float(np.max(np.abs(ref[key] - nodecay[key]))) for key in ref}
    assert min(effect.values()) > 2e-4, min(effect, key=effect.__getitem__)
