#!/usr/bin/env bash
# The main job: install luxx_nb with its offline model, stream one answer in the terminal, then
# open the quickstart notebook in JupyterLab. With no API key set, a tiny local model answers.
# Usage: ./run.sh ["your prompt"]      (LUXX_NO_LAB=1 skips JupyterLab)
set -euo pipefail
cd "$(dirname "$0")"
VENV="${LUXX_VENV:-.venv}"
scripts/install.sh "$VENV" "${LUXX_PYTHON:-python3}"
"$VENV/bin/python" -m pip install --quiet jupyterlab 2>&1 | { grep -v "is ignored" || true; }
"$VENV/bin/python" -m luxx_nb "${1:-In two sentences, what is a Jupyter notebook?}"
if [ -z "${LUXX_NO_LAB:-}" ]; then
    echo
    echo "Opening notebooks/quickstart.ipynb in JupyterLab (Ctrl-C to stop)..."
    exec "$VENV/bin/jupyter" lab notebooks/quickstart.ipynb
fi
