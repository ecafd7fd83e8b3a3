"""The study's parity gate (scenarios.parity) catches wrong twins, and says when it relaxed.

Deliberately wrong Keras twins (tests/gate_worker.py) go through the real gate against the real
PyTorch reference: each must fail it, on the check that can see its mistake; the right twin
passes every check. The verdict functions are checked on numbers where they decide alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from twin_harness import SRC
from twinbench.scenarios.parity import (
    AFTER_RTOL,
    LOSS_RTOL,
    MAX_RELAXED,
    after_verdict,
    forward_verdict,
    loss_verdict,
)

WORKER = Path(__file__).with_name("gate_worker.py")
WRONG = {  # variant -> the check that must fail
    "bn-eps": "forward_max_abs_diff",
    "bn-momentum": "after_training_max_abs_diff",
    "same-pad": "forward_max_abs_diff",
    "no-residual": "forward_max_abs_diff",
    "dropout-on": "forward_max_abs_diff",
}


def _run(fw: str, d: Path, variants: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH",
                                                                                  "")]),
           "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "",
           "JAX_PLATFORMS": "cpu"}
    p = subprocess.run([sys.executable, str(WORKER), fw, str(d), *variants], env=env,
                       capture_output=True, text=True, timeout=600, check=False)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("gate")
    _run("pytorch", d, ["correct"])  # the reference, written as a study's reference job does
    return _run("keras-tf", d, ["correct", *WRONG])


def test_the_right_twin_passes_every_check(gate) -> None:
    checks = gate["correct"]
    assert set(checks) == {"forward_max_abs_diff", "loss_max_rel_diff",
                           "after_training_max_abs_diff"}
    assert all(c["passed"] for c in checks.values()), checks


@pytest.mark.parametrize("variant", list(WRONG))
def test_a_wrong_twin_fails_the_gate_where_its_mistake_shows(gate, variant) -> None:
    checks = gate[variant]
    assert checks[WRONG[variant]]["passed"] is False, (variant, checks)


def test_an_inverted_momentum_is_invisible_before_training(gate) -> None:
    """Why the gate compares eval outputs again after the steps: the running statistics."""
    checks = gate["bn-momentum"]
    assert checks["forward_max_abs_diff"]["passed"] and checks["loss_max_rel_diff"]["passed"]


def test_loss_tolerance_widens_by_the_noise_floor_but_never_past_the_cap() -> None:
    assert loss_verdict(np.array([0.0, 5e-4, 9e-4]), floor=1e-6) == (True, LOSS_RTOL)
    assert loss_verdict(np.array([0.0, 5e-4, 2e-3]), floor=1e-6) == (False, LOSS_RTOL)
    assert loss_verdict(np.array([1e-7, 2e-3, 3e-3]), floor=1e-3) == (True, pytest.approx(3e-3))
    # chaotic training: 3 x a 1% floor would be 3%; capped at MAX_RELAXED
    assert loss_verdict(np.array([1e-7, 0.009, 0.015]), floor=0.01) == (False, MAX_RELAXED)
    assert loss_verdict(np.array([2e-3, 0.0, 0.0]), floor=0.01) == (False, LOSS_RTOL)  # step 1


def test_forward_check_is_relative_and_refuses_degenerate_outputs() -> None:
    ref = np.array([[10.0, -5.0], [3.0, 0.5]])
    ok, tol, _ = forward_verdict(ref + 5e-4, ref)
    assert ok and tol == pytest.approx(1e-3)  # 1e-4 of the largest output
    assert not forward_verdict(ref + 2e-3, ref)[0]
    flat = np.full((2, 2), 7.0)
    ok, _, why = forward_verdict(flat, flat)
    assert not ok and "degenerate reference outputs" in why


def test_after_training_tolerance_is_relative_and_capped() -> None:
    ref = np.array([1.0, -2.0, 4.0])
    ok, tol, relaxed = after_verdict(ref + 0.03, ref, floor=0.0)
    assert ok and tol == pytest.approx(AFTER_RTOL * 4) and not relaxed
    ok, tol, relaxed = after_verdict(ref + 0.1, ref, floor=0.05)  # floor widens: 0.15
    assert ok and relaxed and tol == pytest.approx(0.15)
    assert after_verdict(ref + 0.5, ref, floor=1.0)[1] == pytest.approx(0.2)  # capped at 5%
