"""ECC suite vocabulary of the ECDH-PSI open protocol: the handshake's enums, the suite tuple and the errors.

Enum numbers are the wire values of `interconnection/handshake/protocol_family/ecc.proto`, so a handshake
message can be turned into an `EcSuite` with `EcSuite(CurveType(c), HashType(h), ...)` directly.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum


class CurveType(IntEnum):
    CURVE25519 = 1
    SM2 = 2
    ED25519 = 3


class HashType(IntEnum):
    SM3 = 1
    SHA_224 = 10
    SHA_256 = 11
    SHA_384 = 12
    SHA_512 = 13
    SHA3_224 = 20
    SHA3_256 = 21
    SHA3_384 = 22
    SHA3_512 = 23
    SHAKE_256 = 30


class HashToCurveStrategy(IntEnum):
    TRY_AND_INCREMENT = 1
    TRY_AND_REHASH = 2
    DIRECT_HASH_AS_POINT_X = 3
    SSWU_RO = 10
    SSWU_NU = 11
    ELL2_RO = 12
    ELL2_NU = 13


class PointOctetFormat(IntEnum):
    UNCOMPRESSED = 1
    X962_COMPRESSED = 2
    X962_UNCOMPRESSED = 3
    X962_HYBRID = 4


@dataclass(frozen=True)
class EcSuite:
    """One negotiable ⟨curve, hash, hash-to-curve, point format⟩ combination."""

    curve: CurveType
    hash: HashType
    hash2curve: HashToCurveStrategy
    point_format: PointOctetFormat

    def __str__(self) -> str:
        return f"<{self.curve.name}, {self.hash.name}, {self.hash2curve.name}, {self.point_format.name}>"


class InvalidPoint(ValueError):
    """A received point is not a valid encoding, not on the curve, or of low order."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"invalid point at index {index}: {reason}")
        self.index, self.reason = index, reason

    def __reduce__(self):
        """Rebuilt from its own arguments: it crosses from a worker process to the one that judges the peer."""
        return type(self), (self.index, self.reason)


class UnsupportedSuite(ValueError):
    """The suite is not one `open_cipher` implements; the message lists the ones it does."""

    def __init__(self, suite: EcSuite, why: str = "") -> None:
        listed = "; ".join(str(s) for s in SUPPORTED_SUITES)
        extra = f" ({why})" if why else ""
        super().__init__(f"unsupported EC suite {suite}{extra}; supported: {listed}")
        self.suite = suite


class BackendUnavailable(RuntimeError):
    """A backend was asked for by name (argument or HULIAN_ECC_BACKEND) but cannot run here."""


_HASHLIB_NAMES: dict[HashType, str] = {
    HashType.SM3: "sm3",
    HashType.SHA_224: "sha224",
    HashType.SHA_256: "sha256",
    HashType.SHA_384: "sha384",
    HashType.SHA_512: "sha512",
    HashType.SHA3_224: "sha3_224",
    HashType.SHA3_256: "sha3_256",
    HashType.SHA3_384: "sha3_384",
    HashType.SHA3_512: "sha3_512",
}

HashFn = Callable[[bytes], bytes]


def hash_function(kind: HashType) -> HashFn:
    """Return a one-shot digest function; SM3 comes from OpenSSL 3 via hashlib (checked, not assumed)."""
    name = _HASHLIB_NAMES.get(kind)
    if name is None:
        raise ValueError(f"hash {kind.name} has no fixed output length defined for hash-to-curve")
    try:
        hashlib.new(name, b"")
    except ValueError as exc:  # OpenSSL built without SM3 (or a FIPS provider without it)
        raise ValueError(f"hash {kind.name} is not available in this Python's OpenSSL ({exc})") from exc
    if name == "sm3":
        return lambda data: hashlib.new("sm3", data).digest()
    ctor = getattr(hashlib, name)
    return lambda data: ctor(data).digest()


_C, _S, _F = CurveType, HashToCurveStrategy, PointOctetFormat
_SM2_HASHES = (HashType.SM3, HashType.SHA_256, HashType.SHA_224, HashType.SHA_384, HashType.SHA_512,
               HashType.SHA3_224, HashType.SHA3_256, HashType.SHA3_384, HashType.SHA3_512)

# Preference order: the two suites deployed SecretFlow peers accept and the standard's mandatory pair first,
# then the RFC 9380 suite, then the other well-defined hash variants.
SUPPORTED_SUITES: tuple[EcSuite, ...] = (
    EcSuite(_C.CURVE25519, HashType.SHA_256, _S.DIRECT_HASH_AS_POINT_X, _F.UNCOMPRESSED),
    EcSuite(_C.SM2, HashType.SM3, _S.TRY_AND_INCREMENT, _F.X962_COMPRESSED),
    EcSuite(_C.SM2, HashType.SHA_256, _S.TRY_AND_REHASH, _F.X962_COMPRESSED),
    EcSuite(_C.SM2, HashType.SM3, _S.TRY_AND_REHASH, _F.X962_COMPRESSED),
    EcSuite(_C.CURVE25519, HashType.SHA_512, _S.ELL2_RO, _F.UNCOMPRESSED),
    EcSuite(_C.CURVE25519, HashType.SHA_512, _S.ELL2_NU, _F.UNCOMPRESSED),
    EcSuite(_C.CURVE25519, HashType.SM3, _S.DIRECT_HASH_AS_POINT_X, _F.UNCOMPRESSED),
    EcSuite(_C.CURVE25519, HashType.SHA3_256, _S.DIRECT_HASH_AS_POINT_X, _F.UNCOMPRESSED),
    *(
        EcSuite(_C.SM2, h, s, _F.X962_COMPRESSED)
        for s in (_S.TRY_AND_INCREMENT, _S.TRY_AND_REHASH)
        for h in _SM2_HASHES
        if not (h in (HashType.SM3, HashType.SHA_256) and s is _S.TRY_AND_REHASH)
        and not (h is HashType.SM3 and s is _S.TRY_AND_INCREMENT)
    ),
)
