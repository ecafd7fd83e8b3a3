#!/usr/bin/env bash
# Creates .venv and installs twinbench with its pinned dependency set. Idempotent: when the lock
# file and pyproject are unchanged since the last install it returns in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.twinbench-installed
want=$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    echo "twinbench setup: installing pinned dependencies into .venv (a few minutes on a fresh machine)"
    .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.lock
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
    echo "$want" > "$stamp"
fi
# Browser deployment (export-web): Debian's chromium, the npm runtimes pinned in web/ (no CDN at
# run time), and the TF.js converter alone in .venv/tfjs-converter: its declared dependencies
# would downgrade TensorFlow (src/twinbench/export/tfjs_converter.py says how it runs without
# them). Never `playwright install`: Playwright drives /usr/bin/chromium. Failures here only
# warn; export-web then records failed runs saying what is missing.
SUDO=$([ "$(id -u)" = 0 ] || ! command -v sudo >/dev/null || echo sudo)
if { [ ! -x /usr/bin/chromium ] || ! command -v npm >/dev/null; } && command -v apt-get >/dev/null; then
    echo "twinbench setup: installing chromium and npm (apt)"
    $SUDO apt-get update -q >/dev/null && $SUDO env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q chromium npm >/dev/null || echo "twinbench setup: apt failed (web)"
fi
web_want=$(cat web/package-lock.json web/converter-requirements.txt | sha256sum | cut -c1-16)
web_stamp=web/node_modules/.twinbench-installed
if [ "$(cat "$web_stamp" 2>/dev/null || true)" != "$web_want" ]; then
    echo "twinbench setup: installing browser runtimes (web/) and the TF.js converter"
    if (cd web && npm ci --no-audit --no-fund --loglevel=error) && \
        .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --upgrade \
            --target .venv/tfjs-converter -r web/converter-requirements.txt; then
        .venv/bin/python scripts/web_releases.py || echo "twinbench setup: release dates not updated"
        echo "$web_want" > "$web_stamp"
    else
        echo "twinbench setup: web runtimes not installed; export-web will record why"
    fi
fi
