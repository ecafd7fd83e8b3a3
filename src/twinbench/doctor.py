"""`twinbench doctor`: which frameworks and runtimes work on this machine, and why not.

Each framework is imported in its own subprocess (as a worker would), so a broken install is
reported with its error instead of crashing the doctor.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time

from twinbench.frameworks.base import FRAMEWORKS
from twinbench.measure.env import cpu_model

_PROBE = (
    "import importlib, os; lib = os.environ['TB_LIB']; m = importlib.import_module(lib); "
    "extra = ''\n"
    "if lib == 'keras':\n"
    "    import keras; extra = ' on ' + keras.backend.backend() + ' ' + "
    "importlib.import_module({'tensorflow':'tensorflow','jax':'jax','torch':'torch'}"
    "[keras.backend.backend()]).__version__\n"
    "print(m.__version__ + extra)"
)

# Runtimes later scenarios use; reported so a user knows what a study can reach here.
OPTIONAL = {
    "onnxruntime": "onnxruntime",
    "litert": "ai_edge_litert",
    "executorch": "executorch.version",  # a namespace package: the version lives here
}


def _probe(lib: str, env_extra: dict[str, str]) -> tuple[bool, str]:
    import os

    env = dict(os.environ, TB_LIB=lib, TF_CPP_MIN_LOG_LEVEL="3", **env_extra)
    t0 = time.perf_counter()
    try:
        out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                             env=env, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        return False, "import timed out after 120 s"
    dt = time.perf_counter() - t0
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return False, f"not usable: {last}"
    return True, f"{out.stdout.strip()} (import {dt:.1f} s)"


def checks() -> list[tuple[str, bool, str]]:
    rows: list[tuple[str, bool, str]] = [
        ("machine", True, f"{cpu_model()}, python {sys.version.split()[0]}"),
        ("sqlite", True, f"SQLite {sqlite3.sqlite_version} (embedded results store)"),
    ]
    for spec in FRAMEWORKS.values():
        ok, detail = _probe(spec.library, spec.env)
        rows.append((spec.id, ok, detail))
    for name, module in OPTIONAL.items():
        ok, detail = _probe(module, {})
        rows.append((name, ok, detail if ok else f"{detail} (only export scenarios need it)"))
    chromium = shutil.which("chromium")
    rows.append(("chromium", chromium is not None,
                 chromium or "not installed (export-web records failed runs; scripts/setup.sh)"))
    rows += _web_rows()
    return rows


def _web_rows() -> list[tuple[str, bool, str]]:
    """export-web's npm runtimes and its private TF.js converter."""
    from twinbench.export.tfjs_converter import converter_dir
    from twinbench.web import runtimes as web

    pkgs = [web.package_info(r.package) for r in web.RUNTIMES.values()]
    missing = web.missing_packages()
    conv = converter_dir()
    return [("web runtimes", not missing, ", ".join(f"{p['package']} {p['version']} "
                                                     f"({p['released']})" for p in pkgs)),
            ("tfjs converter", (conv / "tensorflowjs").is_dir(),
             str(conv) if (conv / "tensorflowjs").is_dir() else f"not in {conv} (setup.sh)")]
