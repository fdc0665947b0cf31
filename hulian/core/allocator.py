"""glibc malloc tuned for a task process that moves many large arrays.

Why: a secret-sharing step allocates and frees arrays of megabytes every round (shares, masks, messages).
glibc hands such blocks back to the kernel as soon as they are freed (munmap, or a trim of the heap's top),
so the next round's arrays fault their pages in and the kernel zeroes them again. Measured with
bench/mpc.py's matmul (1000x100 . 100x1000, three processes on 2 cores): 36,000 page faults and 775 ms of
CPU per run across the processes with glibc's defaults, 3,600 faults and 549 ms once freed memory is kept.

`tune()` sets glibc's trim threshold to HULIAN_MALLOC_KEEP_MB (default 256; 0: glibc's defaults): each
malloc arena keeps up to that much free memory at its top for reuse (memory freed below a block still in
use stays with the process anyway), and blocks up to 32 MiB (glibc's ceiling for this setting) come from
the heap instead of their own mappings. A task with a memory limit (RLIMIT_AS, set by the component wrapper)
keeps at most an eighth of it, so kept memory cannot crowd out its own arrays. Task processes are short-lived
(one task each), so what is kept goes when the task ends. An operator's own MALLOC_TRIM_THRESHOLD_,
MALLOC_MMAP_THRESHOLD_ or malloc tunables in GLIBC_TUNABLES win (glibc read them at the process's start);
elsewhere than 64-bit glibc it does nothing.
"""
from __future__ import annotations

import ctypes
import logging
import os
import resource
from collections.abc import Mapping

KEEP_ENV = "HULIAN_MALLOC_KEEP_MB"
DEFAULT_KEEP_MB = 256
MAX_KEEP_MB = 2047             # mallopt takes an int
MMAP_THRESHOLD = 32 << 20     # the largest M_MMAP_THRESHOLD glibc accepts on 64-bit
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3   # mallopt's parameter numbers (malloc.h)
GLIBC_ENV = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")
GLIBC_TUNABLES = ("glibc.malloc.trim_threshold", "glibc.malloc.mmap_threshold")

log = logging.getLogger(__name__)


def keep_mb(environ: Mapping[str, str] = os.environ) -> int:
    """HULIAN_MALLOC_KEEP_MB, or the default when unset; a value that is not a whole number of MiB in range
    is an error naming the variable (a typo must not silently keep the default)."""
    raw = environ.get(KEEP_ENV, "").strip()
    if not raw:
        return DEFAULT_KEEP_MB
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_KEEP_MB:
        raise ValueError(f"{KEEP_ENV}={raw!r}: give the MiB of freed memory to keep, a whole number from 0 "
                         f"(glibc's defaults) to {MAX_KEEP_MB}")
    return int(raw)


def keep_for_this_process(environ: Mapping[str, str] = os.environ) -> int:
    """keep_mb, at most an eighth of this process's address-space limit where it has one."""
    keep = keep_mb(environ)
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    return keep if limit == resource.RLIM_INFINITY else min(keep, (limit >> 20) // 8)


def operator_set() -> bool:
    """Whether this process started with glibc malloc settings of the operator's own."""
    return (any(name in os.environ for name in GLIBC_ENV)
            or any(name in os.environ.get("GLIBC_TUNABLES", "") for name in GLIBC_TUNABLES))


def tune(environ: Mapping[str, str] = os.environ) -> bool:
    """Apply the settings above to this process's glibc malloc; whether they were applied."""
    keep = keep_for_this_process(environ)
    if keep == 0 or operator_set() or ctypes.sizeof(ctypes.c_void_p) < 8:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt   # the C library this process already runs on
    except AttributeError:
        return False   # not glibc: its own allocator policy stands
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    if mallopt(_M_TRIM_THRESHOLD, keep << 20) != 1 or mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1:
        log.warning("glibc refused a malloc setting (trim threshold %d MiB, then mmap threshold %d MiB); the "
                    "process runs with what it accepted", keep, MMAP_THRESHOLD >> 20)
        return False
    return True
