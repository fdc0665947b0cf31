#!/usr/bin/env bash
# Creates (or checks) a side venv .bench/<name>-venv for a peer's library that must never enter the project
# venv (.venv), the reference side of a benchmark or an interoperability test.
#   bash bench/side_venv.sh NAME CHECK PIP_SPEC...
# CHECK is Python code that exits 0 when the venv already holds the right version; otherwise PIP_SPEC... are
# installed. Idempotent. Prints the side venv's interpreter path on the last line of stdout.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NAME="$1"; CHECK="$2"; shift 2
VENV="$ROOT/.bench/$NAME-venv"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    mkdir -p "$ROOT/.bench"
    "$PY" -m venv "$VENV" >&2
fi
if ! "$VENV/bin/python" -c "$CHECK" 2>/dev/null; then
    "$VENV/bin/python" -m pip install -q --upgrade pip >&2
    "$VENV/bin/python" -m pip install -q "$@" >&2
fi
"$VENV/bin/python" -c "$CHECK" >&2
echo "$VENV/bin/python"
