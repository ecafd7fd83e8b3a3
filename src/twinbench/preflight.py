"""Checks run before any job starts, so bad input costs one line and exit 2, not a failed study.

What a study names must exist here: each framework's packages (found without importing them),
and each data set the user chose (loaded once, so a missing, corrupt or malformed file — NaN, wrong
shapes — is reported before hours of jobs).
"""

from __future__ import annotations

import importlib.util

from twinbench.errors import UserError
from twinbench.frameworks.base import FRAMEWORKS
from twinbench.study import Study
from twinbench.tasks import task_module

_PROBE_SIZE = 8  # Study.image_size's minimum
_INSTALL_HINT = "run `make setup` (or scripts/setup.sh) to install the pinned set"


def check_frameworks(study: Study) -> None:
    for fw in study.frameworks:
        spec = FRAMEWORKS[fw]
        for package in dict.fromkeys((spec.library, spec.backend)):
            if importlib.util.find_spec(package) is None:
                raise UserError(f"framework {fw!r} needs the package {package!r}, which is not "
                                f"installed here; {_INSTALL_HINT}, or drop {fw!r}")


def check_datasets(study: Study) -> None:
    chosen = {c.dataset for c in (study.train, study.accuracy, getattr(study, "mobile", None))
              if c is not None and getattr(c, "dataset", None)}
    # Every file is read and checked, but resized to the smallest legal image size: the check
    # must not cost what the jobs will (CIFAR-10 at image_size 224 is 36 GB of float32).
    probe = study.model_copy(update={"image_size": _PROBE_SIZE})
    for task in study.tasks:
        module = task_module(task)
        for name in sorted(chosen):
            try:
                module.load(name, probe, n_train=None, n_test=None)
            except UserError:
                raise
            except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
                # a malformed user file (a missing key, a wrong type): one line, not a traceback
                raise UserError(f"data set {name!r} could not be read ({type(exc).__name__}: "
                                f"{str(exc)[:200]}); check the files under --data-path") from exc


def preflight(study: Study) -> None:
    check_frameworks(study)
    check_datasets(study)
