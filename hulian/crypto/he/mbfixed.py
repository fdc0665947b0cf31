"""Fixed-base exponentiation for many exponents at once on AVX512-IFMA: the table of `fixedbase.py` in
Montgomery form, multiplied 8 lanes a call by crypto_mb's almost-Montgomery multiplication.

crypto_mb's RSA kernels are built on `ifma_amm52x{L}_mb8(out, a, b, m, k0)` (exported by libcrypto_mb;
Intel's `sources/ippcp/crypto_mb/include/internal/rsa/ifma_rsa_arith.h`): 8 independent products
a·b·2^(-52L) mod m, one per lane. Numbers are L digits of 52 bits, stored digit-major with the 8 lanes
interleaved ("mb" layout: digit j of lane k at [j][k], an (L, 8) uint64 block); inputs are fully normalised
digits (< 2^52) whose values are below 2m, the output is normalised and below 2m ("almost" reduced, which
holds while 4m <= 2^(52L)); k0 = -m^-1 mod 2^52 in each lane. Loads and stores are unaligned (`loadu64`,
EVEX memory operands), so no alignment is required. Intel's own exponentiation (`EXP52x79_mb8`) uses
exactly this contract: table entries and accumulators < 2m, `amm(y, 1)` to leave the Montgomery domain.

Per key: table[i][d] = base^(d·2^(w·i)) · 2^(52L) mod m, as an (rows, 2^w, L) uint64 array. Per batch:
exponents sorted by length, 8 to a lane group; for each w-bit digit position the 8 lanes' table entries
are gathered into the mb layout and multiplied into the group's accumulator by one call, and at the end
amm(acc, 1) and one conditional subtraction give base^e mod m. The gather-and-multiply loop runs in C
(`_batch.mb_fixed_pow`), groups split over threads outside the GIL: through ctypes a call cost ~1 us more
than its ~3.6 us of arithmetic, and the loop held one core.

Kernels used: the moduli Intel sizes them for (x20: up to 1024 bits, x30: 1536, x40: 2048, x60: 3072,
x79: 4096), where the almost-Montgomery bound has at least 12 bits of room; other sizes and even moduli
are refused by `supports` and stay on gmpy2 (fixedbase.py decides).

Measured on this machine (1 core, shared with other work, so +-30%): one 8-lane call costs ~3.6-3.9 us at
2048 bits (eight gmpy2 `x * y % m`: ~12 us) and ~18-21 us at 4096 bits (~38 us; the 79-digit kernel spills
registers, once 10.7 us was seen). Batches: 4096-bit modulus, 1024-bit exponents (DJN-2048 hs^r), window 8:
2.7-4.0k/s against 1.0-1.6k/s, window 10: 3.6-5.5k/s; 2048-bit modulus, 224-bit exponents (OU-2048 h^r),
window 10: 50-59k/s against 22-23k/s (those through ctypes, before `_batch`). With the loop in C on 2
threads (Intel Xeon, 2026-12-06): OU-2048 h^r, window 8, 108-126k/s in one process, against 55k/s before.

Memory: rows · 2^w · L · 8 bytes, e.g. 4096-bit modulus, 1024-bit exponents, window 8: 128 · 256 · 79 · 8
= 20.7 MB (window 10: 66 MB); 2048-bit modulus, 224-bit exponents, window 10: 23 · 1024 · 40 · 8 = 7.5 MB.
"""
from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Sequence

import gmpy2
import numpy as np
from gmpy2 import mpz

from hulian.crypto.ecc import crypto_mb
from hulian.crypto.he import _batch
from hulian.crypto.he.mbx import BACKEND_ENV
from hulian.engine.pool import native_threads

DIGIT_BITS = 52
_MASK = np.uint64((1 << DIGIT_BITS) - 1)
_KERNELS = ((20, 1024), (30, 1536), (40, 2048), (60, 3072), (79, 4096))  # digits, largest modulus served
_BIND_LOCK = threading.Lock()
_AMM: dict[int, ctypes._CFuncPtr] = {}


def digits_for(mod_bits: int) -> int | None:
    """The kernel's digit count for a modulus of `mod_bits` bits, None when no kernel is sized for it."""
    return next((digits for digits, top in _KERNELS if mod_bits <= top), None)


def supports(modulus: int) -> bool:
    """True when this machine runs the IFMA path and a kernel serves this (odd) modulus."""
    m = mpz(modulus)
    digits = digits_for(m.bit_length())
    return m > 1 and m.is_odd() and digits is not None and _amm(digits) is not None


def _amm(digits: int) -> ctypes._CFuncPtr | None:
    """ifma_amm52x{digits}_mb8, bound once; None when crypto_mb is off (HULIAN_HE_BACKEND=gmpy2) or absent."""
    if os.environ.get(BACKEND_ENV, "").lower() == "gmpy2":
        return None
    lib = crypto_mb.load()
    if lib is None:
        return None
    fn = _AMM.get(digits)
    if fn is None:
        with _BIND_LOCK:
            fn = getattr(lib, f"ifma_amm52x{digits}_mb8", None)
            if fn is None:
                return None
            fn.argtypes = [ctypes.c_void_p] * 5
            fn.restype = None
            _AMM[digits] = fn
    return fn


def to_digits(values: Sequence[int], digits: int) -> np.ndarray:
    """len(values) x digits uint64 array of 52-bit digits, little-endian (values in [0, 2^(52·digits)))."""
    pairs = (digits + 1) // 2  # two digits are 13 bytes
    raw = b"".join(mpz(v).to_bytes(13 * pairs, "little") for v in values)
    wide = np.zeros((len(values), pairs, 16), dtype=np.uint8)
    wide[:, :, :13] = np.frombuffer(raw, dtype=np.uint8).reshape(len(values), pairs, 13)
    words = wide.view(np.uint64)  # (n, pairs, 2): bytes 0-7 and 8-15 of each 13-byte pair
    out = np.empty((len(values), pairs, 2), dtype=np.uint64)
    out[:, :, 0] = words[:, :, 0] & _MASK
    out[:, :, 1] = ((words[:, :, 0] >> np.uint64(52)) | (words[:, :, 1] << np.uint64(12))) & _MASK
    return out.reshape(len(values), 2 * pairs)[:, :digits]


def from_digits(rows: np.ndarray) -> list[mpz]:
    """The integers of an n x digits array of normalised 52-bit digits (inverse of `to_digits`)."""
    n, digits = rows.shape
    pairs = (digits + 1) // 2
    padded = np.zeros((n, 2 * pairs), dtype=np.uint64)
    padded[:, :digits] = rows
    lo, hi = padded[:, 0::2], padded[:, 1::2]
    words = np.empty((n, pairs, 2), dtype=np.uint64)
    words[:, :, 0] = lo | (hi << np.uint64(52))
    words[:, :, 1] = hi >> np.uint64(12)
    raw = np.ascontiguousarray(words.view(np.uint8)[:, :, :13]).tobytes()
    width = 13 * pairs
    return [mpz.from_bytes(raw[i:i + width], "little") for i in range(0, len(raw), width)]


def window_digits(exps: Sequence[mpz], rows: int, window: int) -> np.ndarray:
    """n x rows array of the exponents' w-bit digits, least significant first."""
    nbytes = (rows * window + 7) // 8
    raw = b"".join(e.to_bytes(nbytes, "little") for e in exps)
    as_bytes = np.frombuffer(raw, dtype=np.uint8).reshape(len(exps), nbytes)
    if window == 8:  # the digits are the bytes
        return as_bytes[:, :rows].astype(np.int64)
    bits = np.unpackbits(as_bytes, axis=1, bitorder="little")
    bits = bits[:, :rows * window].reshape(len(exps), rows, window).astype(np.int64)
    return bits @ (np.int64(1) << np.arange(window, dtype=np.int64))


class MbFixedBase:
    """base^e mod modulus for batches of e in [0, 2^exp_bits), 8 lanes per IFMA call (see the module doc)."""

    __slots__ = ("_amm_address", "_k0", "_mod_mb", "_one_mb", "_rows", "_table", "digits", "exp_bits", "modulus",
                 "window")

    def __init__(self, base: int, modulus: int, exp_bits: int, window: int) -> None:
        m = mpz(modulus)
        digits = digits_for(m.bit_length())
        fn = _amm(digits) if digits is not None else None
        if fn is None or not m.is_odd() or m < 3:
            raise ValueError(f"no IFMA kernel here for a {m.bit_length()}-bit{'' if m.is_odd() else ' even'} "
                             f"modulus (supports() says which moduli are served)")
        if not 1 <= window <= 16 or exp_bits < 1:
            raise ValueError(f"MbFixedBase needs 1 <= window <= 16 and exp_bits >= 1 (got {window}, {exp_bits})")
        self.modulus, self.digits, self.exp_bits, self.window = m, digits, exp_bits, window
        self._amm_address = ctypes.cast(fn, ctypes.c_void_p).value
        self._rows = -(-exp_bits // window)
        k0 = (-gmpy2.invert(m, mpz(1) << DIGIT_BITS)) % (mpz(1) << DIGIT_BITS)
        self._k0 = np.full(8, int(k0), dtype=np.uint64)
        self._mod_mb = np.ascontiguousarray(np.repeat(to_digits([m], digits).T, 8, axis=1))
        self._one_mb = np.zeros((digits, 8), dtype=np.uint64)
        self._one_mb[0] = 1
        self._table = self._build(gmpy2.f_mod(mpz(base), m))

    def _build(self, base: mpz) -> np.ndarray:
        """Row i: g_i^d · R mod m for d < 2^w, g_i = base^(2^(w·i)), R = 2^(52·digits) (Montgomery form)."""
        m, size = self.modulus, 1 << self.window
        r_mod = (mpz(1) << (DIGIT_BITS * self.digits)) % m
        table = np.empty((self._rows, size, self.digits), dtype=np.uint64)
        g = base
        for i in range(self._rows):
            acc = r_mod
            row = [acc]
            for _ in range(size - 1):
                acc = acc * g % m
                row.append(acc)
            table[i] = to_digits(row, self.digits)
            g = gmpy2.powmod(g, size, m)
        return table

    @property
    def nbytes(self) -> int:
        return int(self._table.nbytes)

    def pow_many(self, exps: Sequence[int]) -> list[mpz]:
        """[base^e mod modulus for e in exps]; ValueError for an e outside [0, 2^exp_bits)."""
        es = [mpz(e) for e in exps]
        for e in es:
            if e < 0 or e.bit_length() > self.exp_bits:
                raise ValueError(f"exponent of {e.bit_length()} bits outside [0, 2^{self.exp_bits}) for this table")
        if not es:
            return []
        n, w = len(es), self.window
        order = sorted(range(n), key=lambda i: es[i].bit_length())
        groups = -(-n // 8)
        padded = [es[i] for i in order] + [mpz(0)] * (8 * groups - n)  # tail lanes raise to 0, discarded
        # digits only as far as the longest exponent reaches (short plaintexts use a few rows of a long table)
        used = max(1, -(-padded[-1 - (8 * groups - n)].bit_length() // w))
        digit_rows = np.ascontiguousarray(window_digits(padded, used, w).reshape(groups, 8, used))
        # rows a group needs: its longest exponent (the last, as they are sorted) in w-bit digits, at least 1
        needed = [max(1, -(-padded[min(8 * g + 7, n - 1)].bit_length() // w)) for g in range(groups)]
        acc = np.empty((groups, self.digits, 8), dtype=np.uint64)
        _batch.mb_fixed_pow(self._amm_address, self._table, digit_rows, np.asarray(needed, dtype=np.int64),
                            self._mod_mb, self._k0, self._one_mb, acc, self._rows, 1 << w, self.digits,
                            native_threads())
        values = from_digits(acc.transpose(0, 2, 1).reshape(8 * groups, self.digits)[:n])
        m = self.modulus
        out: list[mpz] = [mpz(0)] * n
        for position, i in enumerate(order):
            v = values[position]
            out[i] = v - m if v >= m else v
        return out
