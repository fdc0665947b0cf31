#!/usr/bin/env bash
# The side venv .bench/spu-venv holding SecretFlow's spu (the reference ECDH-PSI); prints its interpreter.
# grpcio: used by bench/wirecap.py (the logging proxy) when run in this venv.
set -euo pipefail
SPU_VERSION="${SPU_VERSION:-0.9.5}"
exec bash "$(dirname "${BASH_SOURCE[0]}")/side_venv.sh" spu \
    "import spu, spu.psi, sys; print('spu', spu.__version__); sys.exit(0 if spu.__version__.startswith('$SPU_VERSION') else 1)" \
    "spu==$SPU_VERSION" grpcio
