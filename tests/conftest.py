"""Shared test helpers: run the real CLI in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env.pop("TWINBENCH_INJECT_FAULT", None)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "twinbench.cli", *args], capture_output=True, text=True,
        env=full_env, timeout=timeout, cwd=cwd or ROOT, check=False,
    )


@pytest.fixture
def cli():
    return run_cli
