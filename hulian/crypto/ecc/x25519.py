"""Curve25519 ECDH-PSI cipher: items to u-coordinates, masked by X25519 on crypto_mb or libsodium.

DIRECT_HASH_AS_POINT_X (SecretFlow's `sodium_curve25519_cryptor.cc`): u = H(item), the 32-byte digest used
as is; X25519 ignores bit 255 and reduces u mod p (RFC 7748 §5), so no point validation is needed.
ELL2_RO / ELL2_NU: RFC 9380 curve25519_XMD:SHA-512 (see `elligator2`); the point is u of the result.

Key: 32 random bytes, clamped by X25519 itself at every use (RFC 7748 decodeScalar25519).
Mask: X25519(key, u). An all-zero output means the input had small order (RFC 7748 §6.1) → InvalidPoint.
Both backends implement the RFC 7748 function and give identical bytes on every input (tests check).
"""
from __future__ import annotations

import secrets
from collections.abc import Sequence

from nacl.bindings import crypto_scalarmult

from hulian.crypto.ecc import crypto_mb, elligator2
from hulian.crypto.ecc.cipher import BytesLike, EcdhCipher
from hulian.crypto.ecc.suite import EcSuite, HashToCurveStrategy, InvalidPoint, hash_function

POINT_SIZE = 32
_SMALL_ORDER = "small-order u: X25519 result is all zero"

# The IC spec names no DST for the Elligator2 strategies, so ours is fixed here (RFC 9380 §3.1 format:
# application, version, ciphersuite). SecretFlow's is SECRETFLOW_ELL2_DST; pass it as `dst` to interoperate.
IC_ELL2_DST = b"HULIAN-ECDH-PSI-V01-CS02-with-curve25519_XMD:SHA-512_ELL2_RO_"
IC_ELL2_NU_DST = b"HULIAN-ECDH-PSI-V01-CS02-with-curve25519_XMD:SHA-512_ELL2_NU_"
SECRETFLOW_ELL2_DST = b"SECRETFLOW-V01-CS02-with-curve25519_XMD:SHA-512_ELL2_RO_"


class X25519Cipher(EcdhCipher):
    """Curve25519 cipher; `backend` is "crypto_mb" or "libsodium"."""

    def __init__(self, suite: EcSuite, backend: str, dst: bytes | None = None) -> None:
        super().__init__(suite, backend, POINT_SIZE)
        self._strategy = suite.hash2curve
        if self._strategy is HashToCurveStrategy.DIRECT_HASH_AS_POINT_X:
            self._hash = hash_function(suite.hash)
        elif dst is None:
            dst = IC_ELL2_DST if self._strategy is HashToCurveStrategy.ELL2_RO else IC_ELL2_NU_DST
        self.dst = dst

    def new_key(self) -> bytes:
        return secrets.token_bytes(32)

    def hash_to_points(self, items: Sequence[bytes]) -> bytes:
        if self._strategy is HashToCurveStrategy.DIRECT_HASH_AS_POINT_X:
            return b"".join(self._hash(bytes(item)) for item in items)
        assert self.dst is not None
        to_curve = (elligator2.hash_to_curve if self._strategy is HashToCurveStrategy.ELL2_RO
                    else elligator2.encode_to_curve)
        return b"".join(elligator2.u_bytes(to_curve(bytes(item), self.dst)) for item in items)

    def mask(self, key: bytes, points: BytesLike) -> bytes:
        key = self._check_key(key)
        rows = self._matrix(points)
        if rows.shape[0] == 0:
            return b""
        # Both backends refuse an all-zero result themselves (crypto_mb as a lane error), so no scan after.
        if self.backend == "crypto_mb":
            out, bad = crypto_mb.x25519_batch(key, rows)
            if bad:
                raise InvalidPoint(bad[0], _SMALL_ORDER)
            return out.tobytes()
        return _sodium_batch(key, rows.tobytes())


def _sodium_batch(key: bytes, raw: bytes) -> bytes:
    """libsodium's crypto_scalarmult per point; it refuses an all-zero result, which we report by index."""
    parts = []
    for i in range(0, len(raw), 32):
        try:
            parts.append(crypto_scalarmult(key, raw[i:i + 32]))
        except RuntimeError:
            raise InvalidPoint(i // 32, _SMALL_ORDER) from None
    return b"".join(parts)
