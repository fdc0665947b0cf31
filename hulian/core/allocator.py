"""glibc malloc tuned for a task process that moves many large arrays.

Why: a secret-sharing step allocates and frees arrays of megabytes every round (shares, masks, messages).
glibc hands such blocks back to the kernel as soon as they are freed (munmap, or a trim of the heap's top),
so the next round's arrays fault their pages in and the kernel zeroes them again. Measured with
bench/mpc.py's matmul (1000x100 . 100x1000, three processes on 2 cores): 36,000 page faults and 775 ms of
CPU per run across the processes with glibc's defaults, 3,600 faults and 549 ms once freed memory is kept.

`tune()` keeps up to HULIAN_MALLOC_KEEP_MB (default 256; 0: glibc's defaults) of freed memory for reuse and
serves blocks up to 32 MiB (glibc's ceiling for this setting) from the heap. Task processes are short-lived
(one task each), so the memory kept is returned when the task ends. An operator's own MALLOC_* variables
win; elsewhere than glibc (musl) it does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from collections.abc import Mapping

KEEP_ENV = "HULIAN_MALLOC_KEEP_MB"
DEFAULT_KEEP_MB = 256
MAX_KEEP_MB = 2047             # mallopt takes an int
MMAP_THRESHOLD = 32 << 20     # the largest M_MMAP_THRESHOLD glibc accepts on 64-bit
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3   # mallopt's parameter numbers (malloc.h)
_GLIBC_ENV = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")

log = logging.getLogger(__name__)


def keep_mb(environ: Mapping[str, str] = os.environ) -> int:
    """HULIAN_MALLOC_KEEP_MB, or the default when unset; a value that is not a whole number >= 0 is an
    error naming the variable (a typo must not silently keep the default)."""
    raw = environ.get(KEEP_ENV, "").strip()
    if not raw:
        return DEFAULT_KEEP_MB
    if not raw.isdigit() or int(raw) > MAX_KEEP_MB:
        raise ValueError(f"{KEEP_ENV}={raw!r}: give the MiB of freed memory to keep, a whole number from 0 "
                         f"(glibc's defaults) to {MAX_KEEP_MB}")
    return int(raw)


def tune(environ: Mapping[str, str] = os.environ) -> bool:
    """Apply the settings above to this process's glibc malloc; whether they were applied."""
    keep = keep_mb(environ)
    if keep == 0 or any(name in environ for name in _GLIBC_ENV):
        return False
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError, TypeError):
        return False   # not glibc: its own allocator policy stands
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    applied = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(_M_TRIM_THRESHOLD, keep << 20) == 1
    if not applied:
        log.warning("glibc refused the malloc settings (mmap threshold %d, trim threshold %d MiB); keeping "
                    "its defaults", MMAP_THRESHOLD, keep)
    return applied
