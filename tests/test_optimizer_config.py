"""Optimizer settings in a study: `optimizer` / `weight_decay` in [train] and [accuracy].

In-process (no framework is imported: the study and ``frameworks.base`` only need pydantic and
numpy). The adapters' own checks are ``frameworks.base.check_optimizer``, tested here too; the
AdamW numerics are ``test_adamw_parity.py``.
"""

from __future__ import annotations

import pytest

from twinbench.errors import UserError
from twinbench.frameworks.base import OPTIMIZERS, check_optimizer
from twinbench.plan import plan
from twinbench.study import PRESETS, load_study


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ('[train]\noptimizer = "adam"', ("train.optimizer", "unknown 'adam'", "sgd, adamw",
                                          "did you mean 'adamw'")),
        ('[accuracy]\noptimizer = "lamb"', ("accuracy.optimizer", "unknown 'lamb'")),
        ('[accuracy]\noptimizer = 3', ("accuracy.optimizer", "'sgd' or 'adamw'")),
        ('[train]\noptimizer = "adamw"\nweight_decay = -0.1',
         ("train.weight_decay", "greater than or equal to 0")),
        ('[train]\nweight_decay = 0.01', ("train.weight_decay", 'needs optimizer = "adamw"')),
        ('[accuracy]\noptimizer = "sgd"\nweight_decay = 1e-4', ("accuracy.weight_decay",)),
    ],
)
def test_bad_optimizer_settings_give_one_line(tmp_path, text, needles):
    p = tmp_path / "s.toml"
    p.write_text(text)
    with pytest.raises(UserError) as exc:
        load_study(p)
    msg = str(exc.value)
    assert msg.startswith(str(p)) and "\n" not in msg
    for needle in needles:
        assert needle in msg, msg


def test_defaults_stay_sgd_and_adamw_is_accepted(tmp_path):
    s = load_study()
    assert (s.train.optimizer, s.train.weight_decay) == ("sgd", 0.0)
    assert (s.accuracy.optimizer, s.accuracy.weight_decay) == ("sgd", 0.0)
    p = tmp_path / "s.toml"
    p.write_text('[train]\noptimizer = "adamw"\nweight_decay = 0.05\nlr = 1e-3\n'
                 '[accuracy]\noptimizer = "adamw"\n')
    s = load_study(p)
    assert (s.train.optimizer, s.train.weight_decay, s.train.lr) == ("adamw", 0.05, 1e-3)
    assert (s.accuracy.optimizer, s.accuracy.weight_decay) == ("adamw", 0.0)


def test_detection_preset_trains_detr_with_adamw_everywhere():
    s = load_study(preset="detection")
    assert s.tasks == ["object-detection"] and s.selected_models() == ["detr"]
    assert s.frameworks == ["pytorch", "lightning", "keras-tf"]
    # parity checks the optimizer the study uses: [train] is the one it reads
    assert s.train.optimizer == s.accuracy.optimizer == "adamw"
    assert (s.train.lr, s.train.weight_decay) == (s.accuracy.lr, s.accuracy.weight_decay)
    scenarios = [j.scenario for j in plan(s)]
    assert scenarios.count("parity") == 3 and {"train", "infer", "accuracy"} <= set(scenarios)
    assert "detection" in PRESETS


@pytest.mark.parametrize(
    ("optimizer", "wd", "needle"),
    [("adam", 0.0, "unknown optimizer 'adam' (valid: sgd, adamw)"),
     ("sgd", 0.1, "weight_decay needs optimizer 'adamw'"),
     ("adamw", -1.0, "weight_decay must be >= 0")],
)
def test_adapters_reject_what_they_cannot_twin(optimizer, wd, needle):
    with pytest.raises(ValueError) as exc:
        check_optimizer(optimizer, wd)
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_supported_optimizers_pass_the_adapter_check():
    for name in OPTIMIZERS:
        check_optimizer(name, 0.0)
    check_optimizer("adamw", 0.05)
