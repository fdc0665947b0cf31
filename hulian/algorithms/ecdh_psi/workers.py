"""What ECDH-PSI's worker processes run: items → points, and masking of point batches.

Each worker opens its own cipher once (`init`); a task carries only bytes (items or concatenated points and
the 32-byte key), so nothing but buffers crosses the process boundary.
"""
from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager

from hulian.crypto.ecc import EcdhCipher, EcSuite, open_cipher
from hulian.engine.pool import worker_pool

_cipher: EcdhCipher | None = None


def init(suite: EcSuite, backend: str, dst: bytes | None) -> None:
    global _cipher
    _cipher = open_cipher(suite, backend, dst=dst)


def hash_items(items: list[bytes]) -> bytes:
    assert _cipher is not None
    return _cipher.hash_to_points(items)


def mask(key: bytes, points: bytes) -> bytes:
    assert _cipher is not None
    return _cipher.mask(key, points)


def curve_pool(suite: EcSuite, backend: str, dst: bytes | None,
               workers: int | None) -> AbstractContextManager[ProcessPoolExecutor]:
    return worker_pool(workers, init, (suite, backend, dst))
