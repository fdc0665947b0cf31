"""SM2 ECDH-PSI cipher: hash-to-curve by try-and-rehash / try-and-increment, masking on crypto_mb or a fallback.

Point encoding: ANSI X9.62 compressed, 33 bytes (0x02 | 0x03, then x big-endian).

TRY_AND_REHASH (SecretFlow's deployed SM2 mapping, yacl `openssl_group.cc` before 6e4fb48):
    h = H(item); up to 100 times: x = int(h, big-endian) mod p; if x³+ax+b is a square (or 0) the point is
    (x, even y), encoded 0x02 ‖ x; otherwise h = H(h) — the previous digest is re-hashed.

TRY_AND_INCREMENT (the standard's mandatory ⟨SM2, SM3, Try-and-Increment⟩; our reading, no public vectors):
    The PPCA ECDH-PSI text and ecc.proto cite Brier et al., eprint 2009/226, whose try-and-increment
    increments the candidate x itself, and ecc.proto describes TRY_AND_REHASH as "just like TryAndIncrement;
    but use re-hash instead of increment". So:
        h = H(item); x0 = int(h, big-endian) mod p;
        for i = 0, 1, …, 99: x = (x0 + i) mod p; if x³+ax+b is a square (or 0) return (x, even y) = 0x02 ‖ x.
    No counter is hashed (nothing is appended to the item); the increment is on the field element; the digest
    is read big-endian as in TRY_AND_REHASH and X9.62; y is the even root, as SecretFlow chooses; 100 tries
    (failure probability 2⁻¹⁰⁰) then an error. yacl's mcl backend (`tryAndIncMapTo`) increments x the same
    way but reads the digest little-endian and keeps whichever root mcl returns, so its points may differ.

The hash is any fixed-length digest (SM3, SHA-2, SHA3); a digest longer than 256 bits is reduced mod p.

SSWU_RO / SSWU_NU are refused (UnsupportedSuite): RFC 9380 defines SSWU suites for P-256/384/521, secp256k1
and BLS12-381 but none for SM2; yacl's hash_to_curve (p256/p384/p521/curve25519/ristretto255) has no SM2
map; ecc.proto lists ⟨SM2, SM3, IRTF_SSWU_RO⟩ as a combination but fixes no Z constant, DST, or expand
function. Without a published suite id and DST two vendors would not interoperate, so we implement none.

Masking: received points are decompressed (y = (x³+ax+b)^((p+1)/4), gmpy2, batched with powmod_base_list),
which also proves they lie on the curve (cofactor 1, so every finite curve point has order n). crypto_mb's
`mbx_sm2_ecdh_mb8` takes affine x, y and returns only x(k·P); the result is re-encoded 0x02 ‖ x, i.e. we
always send the even-y point of ±k·P. That is a valid encoding of a curve point whose x equals x(k·P); as
x(k·(-P)) = x(k·P), masking still commutes on x, which is all the protocol compares (the last 12 bytes of
the compressed point are x's low 96 bits). The fallbacks emit the same even-y encoding so every backend
produces identical bytes.

Fallback order: OpenSSL's SM2 group through ctypes (vetted Montgomery ladder; ~3k ops/s here, 1.8x gmpy2)
when the system libcrypto has it, else gmpy2 Jacobian arithmetic (`sm2_math.scalar_mult`, ~1.6k ops/s).
"""
from __future__ import annotations

import secrets
from collections.abc import Sequence

import gmpy2
import numpy as np
from gmpy2 import mpz

from hulian.crypto.ecc import crypto_mb, openssl_ec, sm2_math
from hulian.crypto.ecc.cipher import BytesLike, EcdhCipher
from hulian.crypto.ecc.suite import EcSuite, HashToCurveStrategy, InvalidPoint, hash_function

MAX_TRIES = 100
POINT_SIZE = 33
_P = sm2_math.P
_P_INT = int(sm2_math.P)


class HashToCurveFailed(ValueError):
    """No curve point found within MAX_TRIES (probability 2⁻¹⁰⁰)."""


class Sm2Cipher(EcdhCipher):
    """SM2 cipher; `backend` is "crypto_mb", "openssl" or "gmpy2"."""

    def __init__(self, suite: EcSuite, backend: str) -> None:
        super().__init__(suite, backend, POINT_SIZE)
        self._hash = hash_function(suite.hash)
        self._increment = suite.hash2curve is HashToCurveStrategy.TRY_AND_INCREMENT

    def new_key(self) -> bytes:
        while True:
            key = secrets.token_bytes(32)
            if int.from_bytes(key, "little") % int(sm2_math.N):
                return key

    def hash_to_points(self, items: Sequence[bytes]) -> bytes:
        xs = [self._map(bytes(item)) for item in items]
        return b"".join(b"\x02" + x.to_bytes(32, "big") for x in xs)

    def _map(self, item: bytes) -> int:
        h = self._hash(item)
        x = int.from_bytes(h, "big") % _P_INT
        for _ in range(MAX_TRIES):
            if sm2_math.is_square(sm2_math.rhs(mpz(x))):
                return x
            if self._increment:
                x = (x + 1) % _P_INT
            else:
                h = self._hash(h)
                x = int.from_bytes(h, "big") % _P_INT
        raise HashToCurveFailed(f"no SM2 point for an item within {MAX_TRIES} tries")

    def mask(self, key: bytes, points: BytesLike) -> bytes:
        k = sm2_math.scalar_from_key(self._check_key(key))
        rows = self._matrix(points)
        n = rows.shape[0]
        if n == 0:
            return b""
        xs, ys = _decompress(rows)
        if self.backend == "crypto_mb":
            x_le = np.ascontiguousarray(rows[:, 1:][:, ::-1])
            y_le = np.frombuffer(b"".join(int(y).to_bytes(32, "little") for y in ys), dtype=np.uint8)
            out_x, bad = crypto_mb.sm2_ecdh_batch(int(k).to_bytes(32, "little"), x_le, y_le.reshape(n, 32))
            if bad:
                raise InvalidPoint(bad[0], "rejected by crypto_mb (not on SM2)")
            out = np.empty((n, POINT_SIZE), dtype=np.uint8)
            out[:, 0] = 2
            out[:, 1:] = out_x
            return out.tobytes()
        if self.backend == "openssl":
            return openssl_ec.sm2_mask(int(k), xs, ys)
        parts = []
        for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
            r = sm2_math.scalar_mult(k, (x, y))
            if r is None:  # unreachable for k in [1, n-1] and a point of order n
                raise InvalidPoint(i, "k·P is the point at infinity")
            parts.append(b"\x02" + int(r[0]).to_bytes(32, "big"))
        return b"".join(parts)


def _decompress(rows: np.ndarray) -> tuple[list[mpz], list[mpz]]:
    """Affine (x, y) of each compressed row, raising InvalidPoint for bad prefixes, x ≥ p, or x off the curve."""
    prefix = rows[:, 0]
    wrong = np.flatnonzero((prefix != 2) & (prefix != 3))
    if wrong.size:
        i = int(wrong[0])
        raise InvalidPoint(i, f"prefix {int(prefix[i]):#04x} is not an X9.62 compressed point (0x02/0x03)")
    raw = rows[:, 1:].tobytes()
    xs = [mpz(int.from_bytes(raw[32 * i:32 * i + 32], "big")) for i in range(rows.shape[0])]
    cs = []
    for i, x in enumerate(xs):
        if x >= _P:
            raise InvalidPoint(i, "x is not reduced mod p")
        cs.append(sm2_math.rhs(x))
    ys = gmpy2.powmod_base_list(cs, sm2_math.SQRT_EXP, _P)
    odd = (prefix & 1).tolist()
    out_y = []
    for i, (y, c) in enumerate(zip(ys, cs, strict=True)):
        if y * y % _P != c:
            raise InvalidPoint(i, "x is not the x-coordinate of an SM2 point")
        if y.is_odd() != bool(odd[i]):
            if y == 0:
                raise InvalidPoint(i, "prefix 0x03 with y = 0")
            y = _P - y
        out_y.append(y)
    return xs, out_y
