"""`twinbench doctor --strict`: the check CI runs right after setup."""

from __future__ import annotations

from twinbench.doctor import preset_needs
from twinbench.export.routes import ROUTES


def test_strict_fails_naming_each_missing_component_and_the_presets_that_need_it(cli, tmp_path):
    r = cli("doctor", "--strict", env={"TWINBENCH_CHROMIUM": str(tmp_path / "no-chromium"),
                                       "TWINBENCH_WEB_DIR": str(tmp_path / "no-web"),
                                       "COLUMNS": "300"})
    assert r.returncode == 1, r.stdout + r.stderr
    lines = {ln.split()[1]: ln for ln in r.stdout.splitlines() if ln[:1] in "✓✗"}
    assert lines["chromium"].startswith("✗") and "no Chromium at" in lines["chromium"]
    assert set(ROUTES) <= set(lines)  # one line per route of the table
    web = [r.id for r in ROUTES.values() if r.kind == "web"]
    for route in web:  # their npm packages live in the missing web/ folder
        assert lines[route].startswith("✗") and "missing in" in lines[route], lines[route]
    for ok in ("pytorch", "lightning", "keras-tf", "keras-jax", "keras-torch", "keras-litert",
               "torch-executorch"):
        assert lines[ok].startswith("✓"), lines[ok]
    # listed with its reason, but not a component that fails --strict
    assert lines["torch-litert"].startswith("✗") and "unavailable (upstream: " \
        "google-ai-edge/LiteRT#8894): litert-torch" in lines["torch-litert"]
    summary = r.stdout.strip().splitlines()[-1]
    assert f"{1 + len(web)} component(s)" in summary and "chromium (needed by web)" in summary
    assert "torch-litert" not in summary


def test_needs_come_from_the_presets():
    by_fw, by_scenario = preset_needs()
    assert "quick" in by_fw["pytorch"] and "web" in by_scenario["export-web"]
    assert "mobile" in by_scenario["export-mobile"] and "backends" in by_fw["keras-jax"]
