"""The recipes of docs/architecture.md stay true: the scenario recipe, followed literally in a
temporary copy of the package (its code blocks, taken from the page), gives a scenario that
`twinbench list` shows, a study section that validates, and a run whose records and report carry
it — with nothing else edited. A registry line naming the wrong module is caught.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"


def recipe_blocks(title: str) -> list[str]:
    """The ```python blocks of one recipe section of docs/architecture.md, in order."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split(f"### {title}\n", 1)[1].split("\n### ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def follow_scenario_recipe(dest: Path) -> list[str]:
    """Copy the package to ``dest`` and apply the recipe; returns the files it touched."""
    shutil.copytree(ROOT / "src" / "twinbench", dest / "twinbench",
                    ignore=shutil.ignore_patterns("__pycache__"))
    module, registry_line = recipe_blocks("Add a scenario")[:2]
    name = re.search(r'Scenario\("([a-z-]+)"', module).group(1)  # type: ignore[union-attr]
    scenarios = dest / "twinbench" / "scenarios"
    (scenarios / f"{name}.py").write_text(module, encoding="utf-8")
    init = scenarios / "__init__.py"
    opening = "SCENARIOS: dict[str, str] = {\n"
    text = init.read_text(encoding="utf-8")
    assert opening in text, "the registry moved: update the recipe and this test"
    init.write_text(text.replace(opening, opening + registry_line), encoding="utf-8")
    return [f"scenarios/{name}.py", "scenarios/__init__.py"]


def _cli(src: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    code = ("import sys, twinbench; assert twinbench.__file__.startswith(sys.argv[1]), "
            "twinbench.__file__; sys.argv = ['twinbench', *sys.argv[2:]]; "
            "from twinbench.cli import main; main()")
    return subprocess.run([sys.executable, "-c", code, str(src), *args], env=env, text=True,
                          capture_output=True, timeout=timeout, check=False)


def test_the_scenario_recipe_adds_a_working_scenario_with_two_files(tmp_path: Path) -> None:
    src = tmp_path / "src"
    touched = follow_scenario_recipe(src)
    assert touched == ["scenarios/forward.py", "scenarios/__init__.py"]

    listed = _cli(src, "list")
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "forward" in listed.stdout and "toy scenario" in listed.stdout

    study = tmp_path / "forward.toml"
    study.write_text('scenarios = ["forward"]\n\n[forward]\nruns = 4\n', encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text('scenarios = ["forward"]\n\n[forward]\nruns = 0\n', encoding="utf-8")
    refused = _cli(src, "run", str(bad), "--preset", "tiny", "--out", str(tmp_path / "no"))
    assert refused.returncode == 2 and "forward.runs" in refused.stdout + refused.stderr

    out = tmp_path / "out"
    ran = _cli(src, "run", str(study), "--preset", "tiny", "--framework", "pytorch",
               "--no-parity", "--threads", "1", "--out", str(out))
    assert ran.returncode == 0, (ran.stdout + ran.stderr)[-3000:]
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    mine = [r for r in records if r["scenario"] == "forward"]
    assert [(r["metric"], r["status"], r["unit"]) for r in mine] == [
        ("forward_latency", "ok", "ms")]
    assert len(mine[0]["samples"]) == 4 and mine[0]["value"] > 0
    assert "forward_latency" in (out / "report.md").read_text()  # the generic tables


def test_a_registry_line_naming_another_scenarios_module_is_refused(monkeypatch) -> None:
    from twinbench import scenarios

    monkeypatch.setitem(scenarios.SCENARIOS, "forward", "twinbench.scenarios.train")
    scenarios.spec.cache_clear()
    try:
        with pytest.raises(TypeError, match="does not declare scenario 'forward'"):
            scenarios.spec("forward")
    finally:
        scenarios.spec.cache_clear()


def test_no_module_outside_the_profile_scenario_special_cases_it() -> None:
    """The plug-in proof of issue #19: the profile scenario's environment hook, section and
    view are declared by its module; other modules name it only as data (presets, the
    registry line) or to read v1 files."""
    own = {"scenarios/profile.py", "report/profile_view.py", "analysis/claims/profile.py"}
    allowed = {"study.py", "scenarios/__init__.py", "results/schema.py"}
    pkg = ROOT / "src" / "twinbench"
    named = sorted(
        str(p.relative_to(pkg)) for p in pkg.rglob("*.py")
        if re.search(r"""["']profile["']""", p.read_text(encoding="utf-8"))
        and not str(p.relative_to(pkg)).startswith("profiling/"))
    assert set(named) - own - allowed == set(), named
