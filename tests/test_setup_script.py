"""scripts/system_packages.sh asks apt for exactly what is missing, and fails loudly.

Each case runs the real script with stub commands on PATH (apt-get, node, npm, id, sudo) and
only the few real tools the script needs linked beside them: no real apt call, and the
machine's own node/npm/chromium are invisible.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "system_packages.sh"
REAL_TOOLS = ("bash", "env", "mktemp", "rm", "grep", "tail", "cat")
APT_CONFLICT = """Reading package lists...
Some packages could not be installed. This may mean that you have
The following packages have unmet dependencies:
 nodejs : Conflicts: npm
E: Unable to correct problems, you have held broken packages.
"""


def _stub(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(0o755)


def _run(tmp_path: Path, *, chromium: bool, node: bool = True, npm: str | None = "ok",
         apt_install: str = "ok", uid: int = 0, sudo: bool = False, apt: bool = True,
         ) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run the script; returns the process and the apt-get calls it made (one line each)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in REAL_TOOLS:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    calls = tmp_path / "apt-calls"
    if apt:
        fail = {"ok": "", "conflict": f"cat <<'X'\n{APT_CONFLICT}X\nexit 100"}[apt_install]
        _stub(bin_dir, "apt-get", f'echo "$*" >> {calls}\n'
              f'if [ "$1" = install ] || [ "$3" = install ]; then {fail or ":"}; fi')
    if node:
        _stub(bin_dir, "node", "echo v20.20.2")
    if npm is not None:
        _stub(bin_dir, "npm", "echo 11.19.1" if npm == "ok" else "exit 1")
    _stub(bin_dir, "id", f"echo {uid}")
    if sudo:
        _stub(bin_dir, "sudo", f'echo "sudo $*" >> {calls}.sudo\nexec "$@"')
    exe = tmp_path / "chromium"
    if chromium:
        _stub(tmp_path, "chromium", "exit 0")
    env = {"PATH": str(bin_dir), "TWINBENCH_CHROMIUM": str(exe), "HOME": str(tmp_path)}
    proc = subprocess.run([str(bin_dir / "bash"), str(SCRIPT)], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    made = calls.read_text().splitlines() if calls.exists() else []
    return proc, made


def _installed(calls: list[str]) -> list[str]:
    (line,) = [c for c in calls if " install " in f" {c} "]
    return line.split()[line.split().index("-q") + 1:]


def test_nothing_missing_asks_apt_for_nothing(tmp_path: Path) -> None:
    proc, calls = _run(tmp_path, chromium=True)
    assert proc.returncode == 0, proc.stderr
    assert calls == [] and proc.stderr == ""


def test_missing_chromium_alone_is_installed_alone_after_an_update(tmp_path: Path) -> None:
    proc, calls = _run(tmp_path, chromium=False)
    assert proc.returncode == 0, proc.stderr
    assert calls[0] == "update -q"  # the package lists first: a fresh image has none
    assert _installed(calls) == ["chromium"]  # never npm beside NodeSource's nodejs


@pytest.mark.parametrize(("npm", "chromium", "want"), [
    (None, True, ["npm"]),  # no npm at all
    ("broken", True, ["npm"]),  # an npm that does not run
    (None, False, ["chromium", "npm"]),
])
def test_npm_is_asked_for_only_when_none_works(tmp_path: Path, npm, chromium, want) -> None:
    proc, calls = _run(tmp_path, chromium=chromium, npm=npm)
    assert proc.returncode == 0, proc.stderr
    assert _installed(calls) == want


def test_no_node_at_all_brings_debian_nodejs_and_npm(tmp_path: Path) -> None:
    proc, calls = _run(tmp_path, chromium=True, node=False, npm=None)
    assert proc.returncode == 0, proc.stderr
    assert _installed(calls) == ["nodejs", "npm"]


def test_apt_failure_prints_apts_own_error_and_exits_non_zero(tmp_path: Path) -> None:
    proc, _ = _run(tmp_path, chromium=False, npm=None, apt_install="conflict")
    assert proc.returncode == 1
    assert "apt-get install chromium npm failed; apt said:" in proc.stderr
    assert "nodejs : Conflicts: npm" in proc.stderr
    assert "E: Unable to correct problems" in proc.stderr


def test_no_apt_get_names_what_is_missing(tmp_path: Path) -> None:
    proc, _ = _run(tmp_path, chromium=False, apt=False)
    assert proc.returncode == 1
    assert "missing chromium and there is no apt-get" in proc.stderr


def test_not_root_uses_sudo_or_says_why_it_cannot(tmp_path: Path) -> None:
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
    proc, _ = _run(tmp_path / "a", chromium=False, uid=1000)
    assert proc.returncode == 1 and "run as root or install sudo" in proc.stderr
    proc, calls = _run(tmp_path / "b", chromium=False, uid=1000, sudo=True)
    assert proc.returncode == 0, proc.stderr
    sudo_calls = (tmp_path / "b" / "apt-calls.sudo").read_text().splitlines()
    assert [c.split()[:2] for c in sudo_calls] == [["sudo", "apt-get"], ["sudo", "env"]]
    assert _installed(calls) == ["chromium"]
