"""Checks run before any job starts, so bad input costs one line and exit 2, not a failed study.

What a study names must exist here: each framework's packages (found without importing them),
and each data set the user chose (loaded once, so a missing, corrupt or malformed file — NaN, wrong
shapes — is reported before hours of jobs). Where the results go must be usable: a folder (not a
file), writable, with room, and not holding another study.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

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
    from twinbench.study import SECTIONS

    # every section that names a data set ([train], [accuracy], [mobile] ...)
    chosen = {ds for name in SECTIONS if (ds := getattr(getattr(study, name), "dataset", None))}
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


# A study's own files are small (a quick study writes about 1 MiB), but traces, exported models
# and browser bundles of the export and profile scenarios take tens of MiB.
MIN_FREE_MB = 200


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing ancestor; UserError when a component is a file."""
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                what = "is a file" if p == path else f"lies under {p}, which is a file"
                raise UserError(f"results folder {path} {what}, not a folder; choose another "
                                "--out")
            return p
    return Path.cwd()


def _writable(folder: Path, target: Path) -> None:
    """A real write where the folder exists; access(2) (which knows read-only mounts) above it."""
    try:
        if folder == target:
            tempfile.TemporaryFile(dir=folder).close()
        elif not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as exc:
        raise UserError(f"cannot write results to {target} ({exc.strerror or exc}); choose "
                        "another --out") from None


def check_output(study: Study, outdir: Path, db: Path | None = None, resume: bool = False) -> None:
    """The results folder (and --db) can take this study's results; else one line, exit 2."""
    for target in (outdir, *([db.parent] if db is not None else [])):
        _writable(_existing(target), target)
    if db is not None and db.is_dir():
        raise UserError(f"--db {db} is a folder; give a file path for the SQLite database")
    free_mb = shutil.disk_usage(_existing(outdir)).free / 2**20
    if free_mb < MIN_FREE_MB:
        raise UserError(f"only {free_mb:.0f} MiB free where results go ({outdir}); a study "
                        f"needs at least {MIN_FREE_MB} MiB: free some space or choose another "
                        "--out")
    saved = outdir / "study.json"
    if resume or not saved.is_file():
        return
    try:
        other = json.loads(saved.read_text()).get("name")
    except (OSError, ValueError, AttributeError):
        other = None
    if other != study.name:
        raise UserError(f"{outdir} holds another study ({other or 'unreadable study.json'}); "
                        f"choose another --out for {study.name!r}, or continue that one with "
                        f"`twinbench run --resume {outdir}`")


def preflight(study: Study, outdir: Path | None = None, db: Path | None = None,
              resume: bool = False) -> None:
    check_frameworks(study)
    check_datasets(study)
    if outdir is not None:
        check_output(study, outdir, db, resume)
