"""`hulian component new` scaffolds a package whose own test passes and which, once installed, the registry
lists; `hulian component list` and `show` print built-in and installed components as tables."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.thirdparty.install import installed

WIDE = {**os.environ, "COLUMNS": "250"}  # rich wraps to the terminal; tests have none


def hulian(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "hulian.cli.main", "component", *args], capture_output=True,
                         text=True, timeout=120, env={**WIDE, "PYTHONPATH": os.environ.get("PYTHONPATH", "")})
    assert (out.returncode == 0) == ok, out.stdout + out.stderr
    return out


def row(output: str, first: str) -> list[str]:
    """The cells of the table row whose first cell is `first`."""
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in\n{output}")


def test_new_scaffolds_a_package_that_tests_installs_and_lists(tmp_path: Path):
    out = hulian("new", "demo_count", "--dir", str(tmp_path), "--provider", "acme").stdout
    project = tmp_path / "demo_count"
    assert f"made {project}" in out
    assert sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file()) == [
        "README.md", "demo_count/__init__.py", "demo_count/component.py", "pyproject.toml",
        "tests/test_demo_count.py"]
    tested = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project,
                            capture_output=True, text=True, timeout=300)
    assert tested.returncode == 0 and "2 passed" in tested.stdout, tested.stdout + tested.stderr
    with installed([project], tmp_path / "install"):
        listed = hulian("list").stdout
        assert row(listed, "demo_count")[:7] == ["demo_count", "0.1.0", "acme", "guest, host", "column, min_rows",
                                                 "data", "report"]
        shown = hulian("show", "demo_count").stdout
        assert row(shown, "min_rows")[:5] == ["min_rows", "int", "0", "", "≥ 0"]
        assert row(shown, "output")[:4] == ["output", "report", "report", "json"]


def test_new_refuses_a_bad_name_or_an_existing_folder(tmp_path: Path):
    assert "Python identifier" in hulian("new", "Bad-Name", "--dir", str(tmp_path), ok=False).stderr
    (tmp_path / "taken").mkdir()
    assert "exists" in hulian("new", "taken", "--dir", str(tmp_path), ok=False).stderr


def test_list_and_show_the_builtins():
    listed = hulian("list").stdout
    assert row(listed, "ecdh_psi")[:4] == ["ecdh_psi", "1.0.0", "hulian", "guest, host"]
    assert row(listed, "statistics")[4:7] == ["columns, quantiles", "data", "report"]
    shown = hulian("show", "statistics").stdout
    assert row(shown, "quantiles")[:5] == ["quantiles", "object", "[0.25, 0.5, 0.75]", "", "[0, 1]"]
    assert row(shown, "input")[:4] == ["input", "data", "dataset", "csv, parquet"]
    psi = hulian("show", "ecdh_psi").stdout
    assert row(psi, "curve_type")[:5] == ["curve_type", "string", "curve25519", "yes", "curve25519 | sm2"]
    missing = hulian("show", "nope", ok=False).stderr
    assert "no component 'nope' is installed" in missing and "ecdh_psi" in missing
