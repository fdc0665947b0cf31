"""What every benchmark prints first: the machine it ran on."""
from __future__ import annotations

import os
import platform
from pathlib import Path


def describe() -> str:
    """Cores, CPU model, memory and whether the CPU has AVX512-IFMA (what crypto_mb needs)."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
                 platform.processor() or "unknown CPU")
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    ifma = "yes" if "avx512ifma" in cpuinfo else "no"
    return f"{os.cpu_count()} cores, {model}, {mem:.0f} GiB, AVX512-IFMA {ifma}"
