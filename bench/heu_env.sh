#!/usr/bin/env bash
# Creates the side venv .bench/heu-venv holding SecretFlow's HEU (sf-heu), the reference for bench/he.py.
# Idempotent: re-running only checks the install. Never touches the project venv (.venv).
# Prints the side venv's interpreter path on the last line of stdout.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.bench/heu-venv"
HEU_VERSION="${HEU_VERSION:-0.5.2b0}"  # the newest this machine's index serves
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    mkdir -p "$ROOT/.bench"
    "$PY" -m venv "$VENV" >&2
fi
if ! "$VENV/bin/python" -c "import heu" 2>/dev/null; then
    "$VENV/bin/python" -m pip install -q --upgrade pip >&2
    "$VENV/bin/python" -m pip install -q "sf-heu==$HEU_VERSION" numpy >&2
fi
"$VENV/bin/python" -m pip show sf-heu | grep -i '^version' >&2
echo "$VENV/bin/python"
