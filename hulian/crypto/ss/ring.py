"""The ring Z_2^64 as numpy uint64 (wrap-around is the reduction) and its fixed-point encoding.

A real x is held as round(x * 2^fxp) in two's complement; `fxp` is 18 by default (SPU's FM64 choice and the
open SS-LR handshake's `fxp_fraction_bits`). Encodable range: |x| < 2^(63 - fxp) (about 3.5e13 at 18 bits);
an encode outside it is an error, never a wrapped number.
"""
from __future__ import annotations

import functools

import numpy as np
from numpy.typing import ArrayLike
from threadpoolctl import ThreadpoolController

from hulian.engine.pool import threads_from_env

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


# a @ b mod 2^64 on float64 BLAS: each operand is split into limbs of 22, 21 and 21 bits (weights 2^0, 2^22,
# 2^43). A limb pair whose weight reaches 2^64 vanishes mod 2^64; the others fall into three weights, each one
# float matmul of the stacked limbs (the (1, 1) pair weighs 2^44 = 2 * 2^43). Every partial sum stays below
# 2^53, where float64 is exact, for an inner dimension of at most _BLOCK (3 * 2^43 * 128 < 2^53): longer ones
# are summed block by block. about 2x numpy's integer matmul at 1000x100x1000 on this 2-core machine.
#
# BLAS threads: HULIAN_BLAS_THREADS (default 1) while these products run. OpenBLAS's threads spin while they
# wait, and a party shares its cores with its own link threads and, on one machine, with its peer and the
# dealer: measured on 2 cores with the three processes of bench/mpc.py, matmul 1000x100x1000 took 0.438 s
# with OpenBLAS's default 2 threads per process and 0.313 s with 1 (0.315 and 0.180 s without its
# truncation). A party alone on many cores may raise it.
BLAS_THREADS_ENV = "HULIAN_BLAS_THREADS"
_OFFSETS = (0, 22, 43)
_WIDTHS = (22, 21, 21)
_BLOCK = 128
_INTENSITY = 32   # multiply-adds per element moved below which numpy's integer matmul is faster (measured)


def _limbs(x: np.ndarray) -> list[np.ndarray]:
    return [(np.right_shift(x, U64(off)) & U64((1 << width) - 1)).astype(np.float64)
            for off, width in zip(_OFFSETS, _WIDTHS, strict=True)]


def _matmul_block(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    al, bl = _limbs(a), _limbs(b)
    out = (al[0] @ bl[0]).astype(U64)
    out += np.left_shift((np.hstack([al[0], al[1]]) @ np.vstack([bl[1], bl[0]])).astype(U64), U64(22))
    out += np.left_shift((np.hstack([al[0], al[2], al[1] * 2]) @ np.vstack([bl[2], bl[0], bl[1]])).astype(U64),
                         U64(43))
    return out


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b mod 2^64 for a uint64 matrix a and a uint64 matrix or vector b."""
    a, b = np.asarray(a, dtype=U64), np.asarray(b, dtype=U64)
    if a.ndim != 2 or b.ndim not in (1, 2) or a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not chain (a matrix times a matrix or vector)")
    (m, k), n = a.shape, b.shape[-1]
    if b.ndim == 1 or m * k * n < _INTENSITY * (m * k + k * n + m * n):   # memory-bound: limbs cost more
        return np.matmul(a, b)
    out = np.zeros((m, n), dtype=U64)
    with _blas().limit(limits=threads_from_env(BLAS_THREADS_ENV, 1), user_api="blas"):
        for start in range(0, k, _BLOCK):
            out += _matmul_block(a[:, start:start + _BLOCK], b[start:start + _BLOCK])
    return out


@functools.cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()   # finds the loaded BLAS once (~1 ms); a limit then costs ~7 us

