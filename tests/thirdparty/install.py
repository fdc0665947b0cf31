"""Install component packages for a test the way a user would (`pip install <dir>`, their pyproject's entry
points), but into a temporary target directory put on sys.path and PYTHONPATH, so that the shared environment
is never changed and the node processes (and the components they start, which inherit PYTHONPATH) find them.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest


def install(sources: Sequence[Path], target: Path) -> None:
    """pip-install the packages at `sources` into `target`, without dependencies; offline when setuptools is
    here to build them (else pip fetches it, as for any sdist). Each is built from a copy: a build writes
    build/ and *.egg-info/ into its source tree."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target)]
    if importlib.util.find_spec("setuptools") is not None:
        command += ["--no-build-isolation", "--no-index"]
    copies = []
    for source in sources:
        copy = target.parent / "sources" / source.name
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
        copies.append(str(copy))
    done = subprocess.run([*command, *copies], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"pip install failed:\n{done.stdout}\n{done.stderr}"


@contextmanager
def installed(sources: Sequence[Path], workdir: Path) -> Iterator[Path]:
    """The packages installed under `workdir` and on the path (of this process and of processes it starts)
    for the duration; the target directory."""
    target = workdir / "site"
    install(sources, target)
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(target))
        mp.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(target), os.environ.get("PYTHONPATH")) if p))
        yield target
