"""No test skips silently: a test that needs an installed component goes through
``conftest.require`` (a failure in CI, a skip with its one-line reason elsewhere), and no test
skips any other way — a skip nobody reads is how a broken setup once stayed green."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import require

TESTS = Path(__file__).resolve().parent
THIS = Path(__file__).name
SKIPS = re.compile(r"pytest\.skip\(|importorskip|mark\.skip|skipif|xfail")


def test_no_test_skips_except_through_require() -> None:
    offenders = [f"{p.name}:{i}: {line.strip()}"
                 for p in sorted(TESTS.glob("*.py")) if p.name not in ("conftest.py", THIS)
                 for i, line in enumerate(p.read_text().splitlines(), 1) if SKIPS.search(line)]
    assert offenders == []


def test_require_fails_in_ci_and_skips_elsewhere_with_the_reason(monkeypatch) -> None:
    import conftest

    require("chromium", None)  # present: nothing happens
    monkeypatch.setattr(conftest, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="CI: chromium not usable here: gone"):
        require("chromium", "gone")
    monkeypatch.setattr(conftest, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match="chromium not usable here: gone"):
        require("chromium", "gone")

