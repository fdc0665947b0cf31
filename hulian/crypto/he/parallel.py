"""encrypt_many / decrypt_many / rerandomize_many spread over worker processes when the batch is large.

Any scheme fits: a task carries a pickle-able key (a public key pickles as its numbers, a secret key as its
primes, both rebuilt in the worker) and a slice of the batch; each worker keeps the keys it has seen, so a
fixed-base table is built once per worker and key, not once per slice. Below PARALLEL_MIN items the work runs
here, since starting "spawn" workers (~0.5 s each) and building their tables (~0.2 s) would cost more than it
saves. A caller with several batches passes its own pool (`hulian.engine.pool.worker_pool`) to pay that once.

Integers cross the process boundary packed: one bytes object of fixed-width little-endian numbers per slice,
not a pickled list of mpz (pickling a 2048-bit mpz costs several microseconds, more than an OU encryption's
share of a worker).
"""
from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from gmpy2 import mpz

from hulian.crypto.he.base import Ciphertext
from hulian.engine.pool import default_workers, ordered_map, worker_pool

PARALLEL_MIN = 4000
_SLICES_PER_WORKER = 4  # enough slices to even out a slow worker, few enough to keep pickling cheap
_KEYS: dict[tuple[type, Any], Any] = {}  # in a worker: the keys seen (by their whole public key), with tables


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
    if pool is None:
        with worker_pool(None) as own:
            return _map(own, op, key, items)
    return _map(pool, op, key, items)


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
    key = _KEYS.setdefault((type(key), public), key)  # the whole key: two keys sharing n keep their own tables
    results = getattr(key, op)(_unpack(*packed))
    return _pack(results, _width(key, results))
