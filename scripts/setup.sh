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
