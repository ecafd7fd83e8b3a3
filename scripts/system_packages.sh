#!/usr/bin/env bash
# Installs the Debian packages twinbench needs that are missing here — and nothing else.
#
#   chromium  the export-web scenario and the report test drive it through Playwright
#             (never `playwright install`: Playwright runs /usr/bin/chromium);
#   npm       only when no working npm exists: NodeSource's nodejs (this project's usual image)
#             ships its own npm and declares "Conflicts: npm", so asking apt for chromium and npm
#             together fails as a whole and installs neither;
#   nodejs    only when there is no node at all (Debian's nodejs, with its npm).
#
# On failure it prints apt's own error lines and exits 1: the shipped presets (web) need every
# one of these, so a machine without them must not look set up.
#
# TWINBENCH_CHROMIUM: the executable to look for (default /usr/bin/chromium).
# tests/test_setup_script.py runs this with stub commands on PATH: no real apt call in tests.
set -euo pipefail

chromium=${TWINBENCH_CHROMIUM:-/usr/bin/chromium}
want=()
[ -x "$chromium" ] || want+=(chromium)
if ! command -v node >/dev/null 2>&1; then
    want+=(nodejs npm)
elif ! { command -v npm >/dev/null 2>&1 && npm --version >/dev/null 2>&1; }; then
    want+=(npm)
fi
[ ${#want[@]} -eq 0 ] && exit 0

say() { echo "twinbench setup: $*" >&2; }
if ! command -v apt-get >/dev/null 2>&1; then
    say "missing ${want[*]} and there is no apt-get: install them with this system's package manager"
    exit 1
fi
sudo=()
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { say "missing ${want[*]}: run as root or install sudo"; exit 1; }
    sudo=(sudo)
fi
say "installing ${want[*]} (apt-get)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
apt_failed() {  # $1: the step; apt's own error and warning lines, or its last lines
    say "$1 failed; apt said:"
    grep -E '^(E|W|Err):|Conflicts|Depends:|Unable|broken' "$log" >&2 || tail -n 15 "$log" >&2
    exit 1
}
"${sudo[@]}" apt-get update -q >"$log" 2>&1 || apt_failed "apt-get update"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${want[@]}" >"$log" 2>&1 \
    || apt_failed "apt-get install ${want[*]}"
say "installed ${want[*]}"
