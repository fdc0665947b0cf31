"""`make demo` is one of the two commands a fresh clone must run: the demo itself, end to end, as a test."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.cluster
ROOT = Path(__file__).resolve().parents[2]


def test_demo_finishes(tmp_path: Path) -> None:
    env = {**os.environ, "HULIAN_DEMO_DIR": str(tmp_path / "demo")}
    run = subprocess.run([sys.executable, "-m", "examples.demo"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "demo finished: job FINISHED, every task SUCCESS on both parties" in run.stdout
