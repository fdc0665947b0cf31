"""What a Beaver dealer computes: from every party's PRG seed and a buffer's metadata it replays the shares
all parties drew, reconstructs the random values and returns the adjustment that makes them a correct
triple (interconnection `service/beaver.proto`). It never sees an input, a mask opened by the parties or
an output: only seeds and sizes.
"""
from __future__ import annotations

import secrets
from collections.abc import Sequence

import numpy as np

from hulian.crypto.ss import ring
from hulian.crypto.ss.prg import PrgBuffer, stream

FIELD_64 = 2   # spu FieldType FM64: the only ring this dealer serves


class BeaverError(ValueError):
    """A request the dealer cannot serve (unknown field, wrong buffer count, inconsistent sizes)."""


def _check(field: int, buffers: Sequence[PrgBuffer], count: int, method: str) -> None:
    if field != FIELD_64:
        raise BeaverError(f"{method}: field {field} is not served; this dealer serves FM64 (field = {FIELD_64})")
    if len(buffers) != count:
        raise BeaverError(f"{method}: {count} prg_inputs expected, {len(buffers)} given")
    for b in buffers:
        if b.size < 0 or b.prg_count < 0:
            raise BeaverError(f"{method}: negative prg_count or size in {b}")


def _check_seeds(seeds: Sequence[bytes]) -> None:
    if not seeds:
        raise BeaverError("no party's PRG seed: the session has no parties to deal for")


def arith(seeds: Sequence[bytes], buffer: PrgBuffer) -> np.ndarray:
    """The value all parties' arithmetic shares of `buffer` add up to."""
    _check_seeds(seeds)
    total = stream(seeds[0], buffer.prg_count, buffer.size)
    for seed in seeds[1:]:
        total += stream(seed, buffer.prg_count, buffer.size)
    return total


def boolean(seeds: Sequence[bytes], buffer: PrgBuffer) -> np.ndarray:
    """The value all parties' boolean (XOR) shares of `buffer` add up to."""
    _check_seeds(seeds)
    total = stream(seeds[0], buffer.prg_count, buffer.size)
    for seed in seeds[1:]:
        total ^= stream(seed, buffer.prg_count, buffer.size)
    return total


def adjust_mul(seeds: Sequence[bytes], buffers: Sequence[PrgBuffer], field: int) -> list[np.ndarray]:
    _check(field, buffers, 3, "AdjustMul")
    if len({b.size for b in buffers}) != 1:
        raise BeaverError(f"AdjustMul: ra, rb and rc must have one size, not {[b.size for b in buffers]}")
    a = arith(seeds, buffers[0])
    b = a if buffers[1] == buffers[0] else arith(seeds, buffers[1])   # a square pair asks for ra twice
    return [a * b - arith(seeds, buffers[2])]


def adjust_dot(seeds: Sequence[bytes], buffers: Sequence[PrgBuffer], field: int,
               m: int, n: int, k: int) -> list[np.ndarray]:
    _check(field, buffers, 3, "AdjustDot")
    if [b.size for b in buffers] != [m * k, k * n, m * n]:
        raise BeaverError(f"AdjustDot: sizes {[b.size for b in buffers]} do not match M={m}, N={n}, K={k}")
    a = arith(seeds, buffers[0]).reshape(m, k)
    b = arith(seeds, buffers[1]).reshape(k, n)
    return [(ring.matmul(a, b) - arith(seeds, buffers[2]).reshape(m, n)).ravel()]


def adjust_and(seeds: Sequence[bytes], buffers: Sequence[PrgBuffer], field: int) -> list[np.ndarray]:
    _check(field, buffers, 3, "AdjustAnd")
    if len({b.size for b in buffers}) != 1:
        raise BeaverError(f"AdjustAnd: ra, rb and rc must have one size, not {[b.size for b in buffers]}")
    return [(boolean(seeds, buffers[0]) & boolean(seeds, buffers[1])) ^ boolean(seeds, buffers[2])]


def adjust_trunc(seeds: Sequence[bytes], buffers: Sequence[PrgBuffer], field: int, bits: int) -> list[np.ndarray]:
    _check(field, buffers, 2, "AdjustTrunc")
    _check_bits(bits, "AdjustTrunc")
    return [ring.arshift(arith(seeds, buffers[0]), bits) - arith(seeds, buffers[1])]


def adjust_trunc_pr(seeds: Sequence[bytes], buffers: Sequence[PrgBuffer], field: int,
                    bits: int) -> list[np.ndarray]:
    _check(field, buffers, 3, "AdjustTruncPr")
    _check_bits(bits, "AdjustTruncPr")
    r = arith(seeds, buffers[0])
    low = np.right_shift(np.left_shift(r, ring.ONE), ring.U64(bits + 1))
    return [low - arith(seeds, buffers[1]), ring.msb(r) - arith(seeds, buffers[2])]


def adjust_rand_bit(seeds: Sequence[bytes], buffers: Sequence[PrgBuffer], field: int) -> list[np.ndarray]:
    _check(field, buffers, 1, "AdjustRandBit")
    size = buffers[0].size
    bits = np.unpackbits(np.frombuffer(secrets.token_bytes(-(-size // 8)), dtype=np.uint8))[:size]
    return [bits.astype(ring.U64) - arith(seeds, buffers[0])]


def _check_bits(bits: int, method: str) -> None:
    if not 0 < bits < ring.RING_BITS - 1:
        raise BeaverError(f"{method}: bits must be in 1..{ring.RING_BITS - 2}, not {bits}")
