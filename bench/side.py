"""The interpreter of a peer's side venv (bench/side_venv.sh through bench/<name>_env.sh), made on first use."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def side_python(env_script: str, what: str) -> Path | None:
    """The side venv's python, or None (with the reason on stderr) when it cannot be installed here."""
    made = subprocess.run(["bash", str(BENCH / env_script)], capture_output=True, text=True)
    if made.returncode != 0:
        print(f"  no {what} reference: it could not be installed ({made.stderr[-300:]})", file=sys.stderr)
        return None
    return Path(made.stdout.strip().splitlines()[-1])
