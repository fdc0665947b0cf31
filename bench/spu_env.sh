#!/usr/bin/env bash
# Creates the side venv .bench/spu-venv holding SecretFlow's spu (the reference ECDH-PSI).
# Idempotent: re-running only checks the install. Never touches the project venv (.venv).
# Prints the side venv's interpreter path on the last line of stdout.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.bench/spu-venv"
SPU_VERSION="${SPU_VERSION:-0.9.5}"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    mkdir -p "$ROOT/.bench"
    "$PY" -m venv "$VENV" >&2
fi
if ! "$VENV/bin/python" -c "import spu, sys; sys.exit(0 if spu.__version__.startswith('$SPU_VERSION') else 1)" 2>/dev/null; then
    "$VENV/bin/python" -m pip install -q --upgrade pip >&2
    # grpcio + protobuf: used by bench/wirecap.py (the logging proxy) when run in this venv.
    "$VENV/bin/python" -m pip install -q "spu==$SPU_VERSION" grpcio >&2
fi
"$VENV/bin/python" -c "import spu, spu.psi; print('spu', spu.__version__)" >&2
echo "$VENV/bin/python"
