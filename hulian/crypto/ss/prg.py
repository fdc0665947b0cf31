"""The parties' pseudo-random generator: AES-128 in counter mode, keyed by a 16-byte seed.

A buffer is named by (seed, prg_count, size) exactly as the interconnection BeaverService's `PrgBufferMeta`
names it: the keystream starts at the 128-bit big-endian counter block `prg_count`, and each buffer moves
the counter on by the blocks it used, so a dealer that holds a party's seed replays that party's buffers
from their metadata alone. (SPU's yacl counts blocks the same way; byte-exactness with its FillPRand has not
been checked, so a hulian party's dealer is a hulian node.)
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SEED_BYTES = 16
BLOCK = 16
WORD = 8


def stream(seed: bytes, prg_count: int, size: int) -> np.ndarray:
    """`size` uint64 words of the keystream of `seed` from block `prg_count`."""
    if len(seed) != SEED_BYTES:
        raise ValueError(f"a PRG seed has {SEED_BYTES} bytes, not {len(seed)}")
    nonce = (prg_count % (1 << 128)).to_bytes(BLOCK, "big")
    enc = Cipher(algorithms.AES(seed), modes.CTR(nonce)).encryptor()
    # straight into a writable array (update_into wants block - 1 bytes of room): no copy, 2-3x update()
    out = np.empty(size * WORD + BLOCK - 1, dtype=np.uint8)
    enc.update_into(np.zeros(size * WORD, dtype=np.uint8), out)
    return out[:size * WORD].view(np.uint64)


def blocks(size: int) -> int:
    """Counter blocks a buffer of `size` words uses."""
    return -(-size * WORD // BLOCK)


@dataclass(frozen=True)
class PrgBuffer:
    """`PrgBufferMeta{prg_count, size}`: where a buffer starts in its seed's keystream and how many words."""

    prg_count: int
    size: int


class Prg:
    """A seed and its counter: each `next(size)` is a fresh buffer and its metadata."""

    def __init__(self, seed: bytes | None = None, counter: int = 0):
        self.seed = seed if seed is not None else secrets.token_bytes(SEED_BYTES)
        self.counter = counter

    def next(self, size: int) -> tuple[np.ndarray, PrgBuffer]:
        meta = PrgBuffer(self.counter, size)
        self.counter += blocks(size)
        return stream(self.seed, meta.prg_count, size), meta

    def words(self, size: int) -> np.ndarray:
        return self.next(size)[0]

    def __repr__(self) -> str:   # the seed is key material: never shown
        return f"Prg(counter={self.counter})"
