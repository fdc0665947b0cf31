"""Batched modular exponentiation with Intel crypto_mb's `mbx_exp_mb8` (AVX512-IFMA, 8 lanes a call).

One call raises 8 bases to 8 exponents modulo an odd modulus. The library has kernels for 1024, 2048, 3072
and 4096 bits and accepts moduli a little shorter or longer (`mbx_exp_BufferSize` > 0 for 989-1038,
2029-2078, ... bits), but measured here the 2048-bit kernel returns wrong results for 2049-2078-bit moduli,
so only moduli from its lower bound up to the nominal size are sent to it. Numbers travel as little-endian 64-bit limbs, one
row per item, and the per-call pointer arrays are rows of numpy address arithmetic (as in
`hulian.crypto.ecc.crypto_mb`). Whatever the library cannot take (even modulus, negative or too long
exponent) and machines without crypto_mb go to `gmpy2.powmod`, so callers never branch on the hardware.
"""
from __future__ import annotations

import ctypes
import threading
from collections.abc import Sequence

import gmpy2
import numpy as np

from hulian.crypto.ecc import crypto_mb

_KERNEL_SIZES_UP_TO = frozenset(b for top in (1024, 2048, 3072, 4096) for b in range(top - 64, top + 1))
_BIND_LOCK = threading.Lock()
_BOUND = False


def available() -> bool:
    """True when the IFMA path runs here (the library loads and the CPU has AVX512-IFMA)."""
    return _library() is not None


def supports(mod_bits: int) -> bool:
    """True when crypto_mb runs here and has a kernel for a modulus of `mod_bits` bits."""
    lib = _library()
    return lib is not None and mod_bits in _KERNEL_SIZES_UP_TO and lib.mbx_exp_BufferSize(mod_bits) > 0


def _library() -> ctypes.CDLL | None:
    global _BOUND
    lib = crypto_mb.load()
    if lib is None or _BOUND:
        return lib
    with _BIND_LOCK:
        vp = ctypes.c_void_p
        lib.mbx_exp_BufferSize.argtypes = [ctypes.c_int]
        lib.mbx_exp_BufferSize.restype = ctypes.c_int
        lib.mbx_exp_mb8.argtypes = [vp, vp, vp, ctypes.c_int, vp, ctypes.c_int, vp, ctypes.c_int]
        lib.mbx_exp_mb8.restype = ctypes.c_uint32
        _BOUND = True
    return lib


def _limbs(values: Sequence[int], limbs: int) -> np.ndarray:
    """n x limbs uint64 little-endian rows (values already non-negative and short enough)."""
    width = 8 * limbs
    raw = b"".join(gmpy2.mpz(v).to_bytes(width, "little") for v in values)
    return np.frombuffer(raw, dtype=np.uint64).reshape(len(values), limbs).copy()


def _from_limbs(rows: np.ndarray) -> list[gmpy2.mpz]:
    raw = rows.tobytes()
    width = 8 * rows.shape[1]
    return [gmpy2.mpz.from_bytes(raw[i:i + width], "little") for i in range(0, len(raw), width)]


def powmod_many(bases: Sequence[int], exps: Sequence[int], modulus: int) -> list[gmpy2.mpz]:
    """[b^e mod modulus for b, e in zip(bases, exps)], 8 at a time on crypto_mb when it can take them.

    Time is set by the longest exponent of the batch (crypto_mb runs all lanes to `exp_bits`), so batch
    exponents of similar length together.
    """
    if len(bases) != len(exps):
        raise ValueError(f"{len(bases)} bases but {len(exps)} exponents")
    m = gmpy2.mpz(modulus)
    lib = _library()
    exp_bits = max((gmpy2.mpz(e).bit_length() for e in exps), default=0)
    mod_bits = m.bit_length()
    usable = (lib is not None and len(bases) > 0 and m.is_odd() and supports(mod_bits)
              and 0 < exp_bits <= mod_bits and all(e >= 0 for e in exps))
    if not usable:
        return [gmpy2.powmod(b, e, m) for b, e in zip(bases, exps, strict=True)]
    return _mb8(lib, [gmpy2.f_mod(b, m) for b in bases], exps, m, exp_bits)


def _mb8(lib: ctypes.CDLL, bases: list[gmpy2.mpz], exps: Sequence[int], m: gmpy2.mpz,
         exp_bits: int) -> list[gmpy2.mpz]:
    n, mod_bits = len(bases), m.bit_length()
    limbs, exp_limbs = (mod_bits + 63) // 64, (exp_bits + 63) // 64
    base_rows, exp_rows, mod_row = _limbs(bases, limbs), _limbs(exps, exp_limbs), _limbs([m], limbs)
    out = np.empty((n, limbs), dtype=np.uint64)
    scratch = np.empty((8, limbs), dtype=np.uint64)
    buf_len = lib.mbx_exp_BufferSize(mod_bits)
    work = np.empty(buf_len, dtype=np.uint8)
    mod_ptrs = np.full(8, mod_row.ctypes.data, dtype=np.uint64)
    b_ptrs = crypto_mb.lane_pointers(base_rows.ctypes.data, 8 * limbs, n, base_rows.ctypes.data)
    e_ptrs = crypto_mb.lane_pointers(exp_rows.ctypes.data, 8 * exp_limbs, n, exp_rows.ctypes.data)
    o_ptrs = crypto_mb.lane_pointers(out.ctypes.data, 8 * limbs, n, scratch.ctypes.data)
    bp, ep, op = b_ptrs.ctypes.data, e_ptrs.ctypes.data, o_ptrs.ctypes.data
    mp, wp = mod_ptrs.ctypes.data, work.ctypes.data
    for g in range(o_ptrs.shape[0]):
        status = lib.mbx_exp_mb8(op + 64 * g, bp + 64 * g, ep + 64 * g, exp_bits, mp, mod_bits, wp, buf_len)
        if status:
            lanes = [8 * g + lane for lane in crypto_mb.failed_lanes(status) if 8 * g + lane < n]
            if lanes:
                raise ArithmeticError(f"mbx_exp_mb8 failed (status {status:#x}) on items {lanes}")
    return _from_limbs(out)
