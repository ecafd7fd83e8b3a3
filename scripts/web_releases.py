"""Record when each installed browser runtime (and the TF.js converter) was released.

    .venv/bin/python scripts/web_releases.py

Why a file: ``node_modules`` holds versions but no dates (npm normalises file times), and the
scenarios never go online. ``scripts/setup.sh`` runs it after ``npm ci``; it does nothing while
``web/package-lock.json`` and ``web/converter-requirements.txt`` match what the file records, else
it asks the registries once (``npm view <pkg> time``, PyPI's JSON simple index for the
converter) and writes ``web/releases.json``, which is committed. A failed lookup keeps the
previous entry, so an offline setup still works.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

WEB = Path(__file__).resolve().parents[1] / "web"
NPM = ("@tensorflow/tfjs", "@tensorflow/tfjs-backend-wasm", "@litertjs/core",
       "@litertjs/wasm-utils", "onnxruntime-web")


def _npm(package: str, version: str) -> str | None:
    proc = subprocess.run(["npm", "view", package, "time", "--json"], capture_output=True,
                          text=True, timeout=60, check=False)
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout).get(version)


def _pypi(package: str, version: str) -> str | None:
    req = urllib.request.Request(f"https://pypi.org/simple/{package}/",
                                 headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        files = json.load(resp)["files"]
    times = [f["upload-time"] for f in files if f"-{version}-" in f["filename"]
             or f["filename"].endswith(f"-{version}.tar.gz")]
    return min(times) if times else None


def main() -> int:
    lock = (WEB / "package-lock.json").read_bytes()
    packages = json.loads(lock)["packages"]
    path = WEB / "releases.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    pins = (WEB / "converter-requirements.txt").read_bytes()
    digest = hashlib.sha256(lock + pins).hexdigest()
    if old.get("pins_sha256") == digest and "unknown" not in json.dumps(old):
        print("web/releases.json is up to date with web/package-lock.json")
        return 0
    out = {"about": "publish time of each installed version, from the registries "
                    "(npm view <pkg> time; PyPI simple JSON upload-time); written by "
                    "scripts/web_releases.py",
           "pins_sha256": digest,
           "recorded": datetime.now(UTC).date().isoformat(), "npm": {}, "pypi": {}}
    wanted = [("npm", p, packages[f"node_modules/{p}"]["version"]) for p in NPM]
    converter = pins.decode().strip().split("==")  # one pin: name==version
    wanted.append(("pypi", converter[0].strip(), converter[1].strip()))
    for registry, name, version in wanted:
        try:
            released = (_npm if registry == "npm" else _pypi)(name, version)
        except (OSError, ValueError, subprocess.SubprocessError):
            released = None
        prev = old.get(registry, {}).get(name, {})
        if released is None and prev.get("version") == version:
            released = prev.get("released")
        out[registry][name] = {"version": version, "released": released or "unknown"}
        print(f"  {name} {version}: released {released or 'unknown'}")
    path.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
