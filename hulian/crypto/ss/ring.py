"""The ring Z_2^64 as numpy uint64 (wrap-around is the reduction) and its fixed-point encoding.

A real x is held as round(x * 2^fxp) in two's complement; `fxp` is 18 by default (SPU's FM64 choice and the
open SS-LR handshake's `fxp_fraction_bits`). Encodable range: |x| < 2^(63 - fxp) (about 3.5e13 at 18 bits);
an encode outside it is an error, never a wrapped number.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from hulian.crypto.ss import _ring

RING_BITS = 64
DEFAULT_FXP = 18
U64 = np.uint64
ONE = U64(1)


class RingError(ValueError):
    """A value cannot be represented in the ring at the given fixed-point scale."""


def limit(fxp: int) -> float:
    """The largest magnitude a fixed-point value may have at `fxp` fraction bits (exclusive)."""
    return float(2 ** (RING_BITS - 1 - fxp))


def encode(x: ArrayLike, fxp: int) -> np.ndarray:
    """round(x * 2^fxp) as uint64 (two's complement); RingError if any |x| >= 2^(63-fxp) or is not finite."""
    arr = np.asarray(x)
    if arr.dtype.kind in "iub" and fxp == 0:
        return arr.astype(np.int64).view(U64)
    arr = arr.astype(np.float64, copy=False)
    bound = limit(fxp)
    if arr.size and not (np.isfinite(arr).all() and np.abs(arr).max() < bound):
        raise RingError(f"values must be finite with |x| < 2^{RING_BITS - 1 - fxp} = {bound:.4g} at {fxp} "
                        f"fraction bits; scale the input down or use fewer fraction bits")
    # |x| < 2^(63-fxp) makes |x * 2^fxp| < 2^63, and floats that large are integers already: rint cannot
    # round up to 2^63, so the conversion to int64 is exact
    return np.rint(np.ldexp(arr, fxp)).astype(np.int64).view(U64)


def decode(x: np.ndarray, fxp: int) -> np.ndarray:
    """The reals (float64) that ring elements stand for at `fxp` fraction bits."""
    return np.ldexp(np.asarray(x, dtype=U64).view(np.int64).astype(np.float64), -fxp)


def signed(x: np.ndarray) -> np.ndarray:
    """The ring elements as int64 (their two's-complement reading)."""
    return np.asarray(x, dtype=U64).view(np.int64)


def msb(x: np.ndarray) -> np.ndarray:
    """The top bit of each element (1 for negatives), as uint64 0/1."""
    return np.right_shift(x, U64(RING_BITS - 1))


def arshift(x: np.ndarray, bits: int) -> np.ndarray:
    """Arithmetic right shift (floor division by 2^bits of the signed reading)."""
    return np.right_shift(signed(x), np.int64(bits)).view(U64)


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """The low bit of each element of `bits` (flat), 64 to a uint64 word, first bit lowest (the last word
    zero-padded): 64 XOR-shared bits travel and combine as one word."""
    packed = np.packbits((np.asarray(bits).reshape(-1) & 1).astype(np.uint8), bitorder="little")
    return np.pad(packed, (0, -packed.size % 8)).view("<u8").astype(U64, copy=False)


def unpack_bits(words: np.ndarray, count: int) -> np.ndarray:
    """The first `count` bits of `words` (as `pack_bits` laid them out), uint8 0/1."""
    return np.unpackbits(np.ascontiguousarray(words, dtype="<u8").view(np.uint8), count=count, bitorder="little")


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b mod 2^64 for a uint64 matrix a and a uint64 matrix or vector b (the native kernel of _ring.c:
    AVX2 where the CPU has it; 3x numpy's integer matmul at 1000x100 . 100x1000)."""
    a, b = np.asarray(a, dtype=U64), np.asarray(b, dtype=U64)
    if a.ndim != 2 or b.ndim not in (1, 2) or a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not chain (a matrix times a matrix or vector)")
    a, b = (np.require(x, requirements=("C", "A")) for x in (a, b))   # the kernel reads aligned rows of words
    (m, k), n = a.shape, (b.shape[1] if b.ndim == 2 else 1)
    out = np.empty((m, n) if b.ndim == 2 else m, dtype=U64)
    _ring.matmul(a, b, out, m, k, n, _ring.KERNEL)
    return out
