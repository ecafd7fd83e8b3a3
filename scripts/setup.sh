#!/usr/bin/env bash
# Sets up everything the shipped presets need, and exits non-zero (with the reason) when it can't:
#   1. .venv with the pinned set in requirements.lock, the model registries pinned in
#      requirements-nodeps.lock (without their dependencies: docs/models.md), and twinbench;
#   2. Debian packages that are missing (chromium; npm/node only where none works):
#      scripts/system_packages.sh;
#   3. the browser runtimes pinned in web/ (npm ci; no CDN at run time) and the TF.js converter,
#      alone in .venv/tfjs-converter: its declared dependencies would downgrade TensorFlow
#      (src/twinbench/export/tfjs_converter.py says how it runs without them).
# Idempotent: when nothing changed since the last run it returns in about a second.
# `twinbench doctor --strict` afterwards proves each component works (.ci/run runs it).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
say() { echo "twinbench setup: $*" >&2; }

if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.twinbench-installed
want=$(cat requirements.lock requirements-nodeps.lock pyproject.toml | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    say "installing pinned dependencies into .venv (a few minutes on a fresh machine)"
    pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
    "${pip[@]}" -r requirements.lock || { say "pip could not install requirements.lock"; exit 1; }
    "${pip[@]}" --no-deps -r requirements-nodeps.lock || {
        say "pip could not install requirements-nodeps.lock"; exit 1; }
    "${pip[@]}" --no-deps -e . || { say "pip could not install twinbench itself"; exit 1; }
    echo "$want" > "$stamp"
fi

bash scripts/system_packages.sh

web_want=$(cat web/package-lock.json web/converter-requirements.txt | sha256sum | cut -c1-16)
web_stamp=web/node_modules/.twinbench-installed
if [ "$(cat "$web_stamp" 2>/dev/null || true)" != "$web_want" ]; then
    say "installing browser runtimes (web/) and the TF.js converter"
    (cd web && npm ci --no-audit --no-fund --loglevel=error) || {
        say "npm ci in web/ failed (its error is above)"; exit 1; }
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --upgrade \
        --target .venv/tfjs-converter -r web/converter-requirements.txt || {
        say "the TF.js converter did not install into .venv/tfjs-converter"; exit 1; }
    .venv/bin/python scripts/web_releases.py || say "release dates not updated (offline?)"
    echo "$web_want" > "$web_stamp"
fi
