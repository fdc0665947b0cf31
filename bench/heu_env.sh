#!/usr/bin/env bash
# The side venv .bench/heu-venv holding SecretFlow's HEU (sf-heu), the reference for bench/he.py and
# tests/interop; prints its interpreter.
set -euo pipefail
HEU_VERSION="${HEU_VERSION:-0.5.2b0}"  # the newest this machine's index serves
exec bash "$(dirname "${BASH_SOURCE[0]}")/side_venv.sh" heu \
    "import heu, numpy, importlib.metadata as m, sys; v = m.version('sf-heu'); print('sf-heu', v); sys.exit(v != '$HEU_VERSION')" \
    "sf-heu==$HEU_VERSION" numpy
