"""The task process's malloc settings: the variable's parsing, and the page faults they save (measured in
fresh interpreters, each starting from glibc's defaults)."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from hulian.core import allocator

FAULTS = """
import json, resource, sys
import numpy as np
from hulian.core import allocator
applied = allocator.tune()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(40):                      # a round's worth of 8 MiB arrays, made and freed
    a = np.ones(1 << 20, dtype=np.uint64)
    b = a + a
    del a, b
print(json.dumps({"applied": applied, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


def _faults(**env: str) -> dict:
    environ = {k: v for k, v in os.environ.items()
               if k not in (allocator.KEEP_ENV, "GLIBC_TUNABLES") and not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", FAULTS], env={**environ, **env}, capture_output=True, text=True,
                         timeout=60, check=True)
    return json.loads(out.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the settings are glibc's")
def test_kept_memory_is_reused_without_page_faults() -> None:
    tuned, default = _faults(), _faults(**{allocator.KEEP_ENV: "0"})
    assert tuned["applied"] and not default["applied"]
    # glibc's defaults fault many of the 80 arrays' 2,048 pages each back in; kept memory is reused
    assert default["faults"] > 20_000, default
    assert tuned["faults"] < default["faults"] / 10, (tuned, default)


@pytest.mark.parametrize(("name", "value"), [("MALLOC_TRIM_THRESHOLD_", "0"), ("MALLOC_MMAP_THRESHOLD_", "65536"),
                                             ("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=0")])
def test_an_operators_glibc_settings_win(name: str, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, value)
    assert allocator.operator_set() and not allocator.tune()


def test_other_glibc_tunables_do_not_stop_the_tuning(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in allocator.GLIBC_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.pthread.rseq=0")
    assert not allocator.operator_set()


@pytest.mark.parametrize(("raw", "mb"), [("", 256), ("0", 0), (" 64 ", 64), ("2047", 2047)])
def test_keep_mb(raw: str, mb: int) -> None:
    assert allocator.keep_mb({allocator.KEEP_ENV: raw}) == mb


@pytest.mark.parametrize("raw", ["-1", "1.5", "lots", "2048", "\u0661\u0662"])
def test_keep_mb_refuses_what_is_not_a_size(raw: str) -> None:
    with pytest.raises(ValueError, match=f"{allocator.KEEP_ENV}=.*a whole number from 0"):
        allocator.keep_mb({allocator.KEEP_ENV: raw})


@pytest.mark.parametrize(("limit_mb", "keep"), [(None, 256), (4096, 256), (1024, 128), (300, 37)])
def test_a_memory_limited_task_keeps_at_most_an_eighth_of_its_limit(limit_mb: int | None, keep: int) -> None:
    """Under the component wrapper's RLIMIT_AS (the task's memory limit), set in a fresh interpreter."""
    code = ("import resource, sys\n"
            "limit = int(sys.argv[1])\n"
            "if limit: resource.setrlimit(resource.RLIMIT_AS, (limit << 20, resource.RLIM_INFINITY))\n"
            "from hulian.core import allocator\n"
            "print(allocator.keep_for_this_process({}))")
    out = subprocess.run([sys.executable, "-c", code, str(limit_mb or 0)], capture_output=True, text=True,
                         timeout=60, check=True)
    assert int(out.stdout) == keep
