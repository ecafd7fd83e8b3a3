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


IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(component: str, missing: str | None) -> None:
    """The one policy for tests that need an installed component (``missing``: why it is not
    usable, or None when it is). In CI (``CI=true``, set by .ci/run) a missing component fails
    the test — setup must have installed it; elsewhere the test skips with that one line, which
    ``pytest -ra`` prints. tests/test_skip_policy.py checks that no test skips any other way.
    """
    if missing is None:
        return
    reason = f"{component} not usable here: {missing} (`make setup` installs it)"
    if IN_CI:
        pytest.fail(f"CI: {reason}", pytrace=False)
    pytest.skip(reason)


def chromium_or_skip() -> str:
    """Debian's Chromium and Python Playwright, as export-web uses them (policy: require)."""
    from twinbench.web.browser import BrowserUnavailable, check_chromium

    try:
        return str(check_chromium())
    except BrowserUnavailable as exc:
        require("chromium", str(exc))
        raise  # unreachable: require() failed or skipped


def web_runtimes_or_skip() -> None:
    from twinbench.web import runtimes as web

    missing = web.missing_packages()
    require("web runtimes", f"{', '.join(missing)} missing in {web.web_dir() / 'node_modules'}"
            if missing else None)


def tfjs_converter_or_skip() -> None:
    from twinbench.export.tfjs_converter import converter_dir

    folder = converter_dir()
    require("TF.js converter", None if (folder / "tensorflowjs").is_dir()
            else f"no tensorflowjs in {folder}")
