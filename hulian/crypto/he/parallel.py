"""encrypt_many / decrypt_many / rerandomize_many spread over worker processes when the batch is large.

Any scheme fits: a task carries a pickle-able key (its numbers, without its tables, which a worker builds on
first use) and a slice of the batch; each worker keeps the keys it has used recently, so a fixed-base table is
built once per worker and key, not once per slice. Below PARALLEL_MIN items the work runs
here, since starting "spawn" workers (~0.5 s each) and building their tables (~0.2 s) would cost more than it
saves. A caller may pass its own pool (`hulian.engine.pool.worker_pool`); without one, large batches share
this process's pool (`shared_pool`), started on first need and kept until exit, so that the start and the
tables are paid once per process and key rather than once per batch. A worker keeps the tables of its
KEPT_KEYS most recent keys (a Paillier-2048 table is ~64 MiB).

Integers cross the process boundary packed: one bytes object of fixed-width little-endian numbers per slice,
not a pickled list of mpz (pickling a 2048-bit mpz costs several microseconds, more than an OU encryption's
share of a worker).
"""
from __future__ import annotations

import atexit
import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from gmpy2 import mpz

from hulian.crypto.he.base import Ciphertext
from hulian.engine.pool import default_workers, ordered_map, worker_pool

log = logging.getLogger(__name__)

PARALLEL_MIN = 4000
KEPT_KEYS = 4
_SLICES_PER_WORKER = 4  # enough slices to even out a slow worker, few enough to keep pickling cheap
_KEYS: OrderedDict[tuple[type, Any], Any] = OrderedDict()  # in a worker: recent keys (by whole public key)
_SHARED_LOCK = threading.Lock()
_shared: tuple[ProcessPoolExecutor, contextlib.ExitStack] | None = None


def shared_pool() -> ProcessPoolExecutor:
    """This process's HE worker pool: started by the first large batch that brings none, kept until exit."""
    global _shared
    with _SHARED_LOCK:
        if _shared is None:
            stack = contextlib.ExitStack()
            _shared = stack.enter_context(worker_pool(None)), stack
        return _shared[0]


def _drop_shared(pool: ProcessPoolExecutor | None = None) -> None:
    """Stop the shared pool (only if it is still `pool`, when given: a broken one whose worker died), so that
    the next large batch starts a new one. Also what runs at exit."""
    global _shared
    with _SHARED_LOCK:
        if _shared is not None and (pool is None or _shared[0] is pool):
            _shared[1].close()
            _shared = None


atexit.register(_drop_shared)


def encrypt_many(key: Any, plaintexts: Sequence[int], pool: ProcessPoolExecutor | None = None) -> list[Ciphertext]:
    """key.encrypt_many(plaintexts) (key: a public key, or a secret key with a faster encryption)."""
    return _spread("encrypt_many", key, list(plaintexts), pool)


def decrypt_many(secret_key: Any, cts: Sequence[Ciphertext], pool: ProcessPoolExecutor | None = None) -> list[int]:
    return [int(m) for m in _spread("decrypt_many", secret_key, list(cts), pool)]


def rerandomize_many(public_key: Any, cts: Sequence[Ciphertext],
                     pool: ProcessPoolExecutor | None = None) -> list[Ciphertext]:
    return _spread("rerandomize_many", public_key, list(cts), pool)


def _spread(op: str, key: Any, items: list[Any], pool: ProcessPoolExecutor | None) -> list[Any]:
    if pool is None and len(items) < PARALLEL_MIN:
        return getattr(key, op)(items)
    if pool is not None:
        return _map(pool, op, key, items)
    shared = shared_pool()
    try:
        return _map(shared, op, key, items)
    except BrokenProcessPool:
        log.warning("a worker of the shared HE pool died; %s of %d items runs again on a new pool", op, len(items))
        _drop_shared(shared)
        return _map(shared_pool(), op, key, items)


def _map(pool: ProcessPoolExecutor, op: str, key: Any, items: list[Any]) -> list[Any]:
    workers = default_workers()
    size = max(1, -(-len(items) // (workers * _SLICES_PER_WORKER)))
    width = _width(key, items)
    slices = ((op, key, _pack(items[i:i + size], width)) for i in range(0, len(items), size))
    out: list[Any] = []
    for part in ordered_map(pool, _run, slices, window=2 * workers):
        out.extend(_unpack(*part))
    return out


def _width(key: Any, values: Sequence[int]) -> int:
    """Bytes per packed number: enough for every ciphertext of the key and for every value given."""
    public = getattr(key, "public", key)
    longest = max((v.bit_length() for v in values), default=0)
    return (max(int(public.ciphertext_modulus).bit_length(), longest) + 7) // 8


def _pack(values: Sequence[int], width: int) -> tuple[bytes, int]:
    return b"".join(v.to_bytes(width, "little") for v in values), width


def _unpack(blob: bytes, width: int) -> list[mpz]:
    return [mpz.from_bytes(blob[i:i + width], "little") for i in range(0, len(blob), width)]


def _run(op: str, key: Any, packed: tuple[bytes, int]) -> tuple[bytes, int]:
    """In a worker: the op with this worker's copy of the key (its tables built on first use)."""
    public = getattr(key, "public", key)
    held = (type(key), public)  # the whole key: two keys sharing n keep their own tables
    key = _KEYS.setdefault(held, key)
    _KEYS.move_to_end(held)
    while len(_KEYS) > KEPT_KEYS:
        _KEYS.popitem(last=False)
    results = getattr(key, op)(_unpack(*packed))
    return _pack(results, _width(key, results))
