"""The import contracts of pyproject.toml (docs/architecture.md's layers) hold on this tree, and the check
fails when a module imports upward, makes a cycle or imports another package's private module."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT), "--no-cache", str(tree / "pyproject.toml")], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the package and its contracts, imported instead of the checkout's."""
    shutil.copytree(ROOT / "hulian", tmp_path / "hulian", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_contracts_hold_on_this_tree() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("module", "line", "broken"), [
    ("hulian/core/errors.py", "import hulian.control.api", "Layers"),                 # upward
    ("hulian/algorithms/statistics/stats.py", "import hulian.transport.channel", "Algorithms reach"),
    ("hulian/transport/http11.py", "import hulian.transport.channel", "No import cycles"),  # channel imports it
    ("hulian/node/app.py", "import hulian.transport.iclink._hidden", "private module"),
    ("hulian/control/jobs.py", "import hulian.component.service", "component runtime only through"),
])
def test_a_broken_contract_fails_the_check(tree: Path, module: str, line: str, broken: str) -> None:
    if "_hidden" in line:
        (tree / "hulian/transport/iclink/_hidden.py").write_text('"""A private module."""\n')
    path = tree / module
    path.write_text(path.read_text() + f"\n{line}  # added by the test\n")
    result = _lint(tree)
    assert result.returncode != 0
    assert broken in result.stdout.split("Broken contracts")[-1], result.stdout
