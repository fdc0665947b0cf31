"""Elliptic-curve layer of ECDH-PSI: suites, hash-to-curve and batch point masking.

    cipher = open_cipher(EcSuite(CurveType.SM2, HashType.SM3, HashToCurveStrategy.TRY_AND_INCREMENT,
                                 PointOctetFormat.X962_COMPRESSED))
    key = cipher.new_key()
    masked = cipher.mask(key, cipher.hash_to_points(items))   # flat buffers, point_size bytes per item

Backends (`available_backends()` reports which load here):
- "crypto_mb": Intel crypto_mb (PyPI `ipp-crypto`), 8-way AVX512-IFMA X25519 and SM2 ECDH. Used only when
  `mbx_is_crypto_mb_applicable(0)` says the CPU has the features.
- "libsodium": PyNaCl's bundled libsodium, X25519 fallback.
- "openssl": the system libcrypto's SM2 group through ctypes, SM2 fallback.
- "gmpy2": pure gmpy2 SM2 arithmetic, last-resort SM2 fallback (slow, not constant-time).

Selection: `open_cipher(suite, backend)` with backend "auto" (fastest available), "fallback" (the best
non-crypto_mb one for the curve), or a backend name. When the argument is "auto", the environment variable
HULIAN_ECC_BACKEND=auto|fallback|crypto_mb (or another backend name) decides instead; an explicit argument
wins over the variable. Asking by name for a backend that cannot run raises BackendUnavailable.
All backends produce byte-identical output for the same suite, key and input.
"""
from __future__ import annotations

import os

from hulian.crypto.ecc import crypto_mb, openssl_ec
from hulian.crypto.ecc.cipher import EcdhCipher
from hulian.crypto.ecc.sm2 import Sm2Cipher
from hulian.crypto.ecc.suite import (
    SUPPORTED_SUITES,
    BackendUnavailable,
    CurveType,
    EcSuite,
    HashToCurveStrategy,
    HashType,
    InvalidPoint,
    PointOctetFormat,
    UnsupportedSuite,
)
from hulian.crypto.ecc.x25519 import IC_ELL2_DST, IC_ELL2_NU_DST, SECRETFLOW_ELL2_DST, X25519Cipher

__all__ = [
    "IC_ELL2_DST",
    "IC_ELL2_NU_DST",
    "SECRETFLOW_ELL2_DST",
    "SUPPORTED_SUITES",
    "BackendUnavailable",
    "CurveType",
    "EcSuite",
    "EcdhCipher",
    "HashToCurveStrategy",
    "HashType",
    "InvalidPoint",
    "PointOctetFormat",
    "UnsupportedSuite",
    "available_backends",
    "open_cipher",
]

ENV_BACKEND = "HULIAN_ECC_BACKEND"
_SUPPORTED = frozenset(SUPPORTED_SUITES)
_SSWU = (HashToCurveStrategy.SSWU_RO, HashToCurveStrategy.SSWU_NU)


def available_backends() -> dict[str, bool]:
    """Which backends can run in this process (for logs and the benchmark header)."""
    return {
        "crypto_mb": crypto_mb.load() is not None,
        "libsodium": True,  # PyNaCl is a hard dependency
        "openssl": openssl_ec.available(),
        "gmpy2": True,
    }


def _candidates(curve: CurveType) -> list[str]:
    """Backends for a curve, fastest first; the first is crypto_mb, the rest are fallbacks."""
    if curve is CurveType.CURVE25519:
        return ["crypto_mb", "libsodium"]
    return ["crypto_mb", "openssl", "gmpy2"]


def _choose(curve: CurveType, backend: str) -> str:
    choice = backend.strip().lower()
    if choice == "auto":
        choice = os.environ.get(ENV_BACKEND, "auto").strip().lower() or "auto"
    names = _candidates(curve)
    ok = available_backends()
    if choice in ("auto", "fallback"):
        pool = names if choice == "auto" else names[1:]
        for name in pool:
            if ok[name]:
                return name
        raise BackendUnavailable(f"no {choice} backend for {curve.name} can run here")
    if choice not in names:
        raise BackendUnavailable(
            f"backend {backend!r} (or {ENV_BACKEND}) is not one of auto, fallback, {', '.join(names)} "
            f"for {curve.name}"
        )
    if not ok[choice]:
        why = f": {crypto_mb.unavailable_reason()}" if choice == "crypto_mb" else ""
        raise BackendUnavailable(f"backend {choice!r} cannot run here{why}")
    return choice


def open_cipher(suite: EcSuite, backend: str = "auto", *, dst: bytes | None = None) -> EcdhCipher:
    """A cipher for `suite`; cheap enough to call once per worker process.

    `dst` only matters for the Elligator2 strategies: None means IC_ELL2_DST (or IC_ELL2_NU_DST); pass
    SECRETFLOW_ELL2_DST to match a SecretFlow peer.
    """
    if suite not in _SUPPORTED:
        if suite.hash2curve in _SSWU:
            raise UnsupportedSuite(suite, "no published SM2/curve25519 SSWU suite with a DST exists")
        raise UnsupportedSuite(suite)
    name = _choose(suite.curve, backend)
    if suite.curve is CurveType.CURVE25519:
        return X25519Cipher(suite, name, dst=dst)
    return Sm2Cipher(suite, name)
