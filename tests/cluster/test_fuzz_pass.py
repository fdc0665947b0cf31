"""A short schemathesis pass (bench/fuzz.py) against real nodes: no 5xx, no late reply, no reply outside the
OpenAPI document, no route open without credentials, no file written outside the nodes' directories."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("schemathesis", reason="schemathesis (dev extra) is needed for the fuzz pass")
pytestmark = [pytest.mark.slow, pytest.mark.cluster]

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(900)
def test_short_fuzz_pass_finds_nothing(tmp_path):
    out = tmp_path / "fuzz.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "fuzz.py"), "--cases", "600", "--json", str(out)],
                         env=env, capture_output=True, text=True, timeout=840)
    assert out.exists(), run.stderr[-3000:]
    rep = json.loads(out.read_text())
    assert rep["cases"] >= 600
    assert set(rep["classes"]) == {"tls-admin", "tls-peer", "tls-anon", "plain-admin", "plain-peer", "plain-anon"}
    findings = {k: rep[k] for k in ("server_errors", "late", "violations", "open_routes", "files_outside")}
    assert not any(findings.values()), f"{run.stdout}\nevery finding with its input: {out}"
