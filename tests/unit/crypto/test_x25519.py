"""X25519 masking: RFC 7748 vectors on every backend, cross-checks against `cryptography`, low-order rejection."""
from __future__ import annotations

import hashlib
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from hulian.crypto.ecc import (
    CurveType,
    EcSuite,
    HashToCurveStrategy,
    HashType,
    InvalidPoint,
    PointOctetFormat,
    open_cipher,
)

DIRECT = EcSuite(CurveType.CURVE25519, HashType.SHA_256, HashToCurveStrategy.DIRECT_HASH_AS_POINT_X,
                 PointOctetFormat.UNCOMPRESSED)

# RFC 7748 §5.2 (two single-multiplication vectors and the first iteration of the iterated test) and §6.1.
RFC7748_52 = [
    ("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
     "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
     "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"),
    ("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
     "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",  # bit 255 set: must be ignored
     "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"),
    ("0900000000000000000000000000000000000000000000000000000000000000",
     "0900000000000000000000000000000000000000000000000000000000000000",
     "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079"),
]
ALICE_SK = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
ALICE_PK = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
BOB_SK = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"
BOB_PK = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
SHARED = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
BASE = bytes([9]) + bytes(31)


def test_rfc7748_52(x25519_backend: str) -> None:
    c = open_cipher(DIRECT, x25519_backend)
    for k, u, out in RFC7748_52:
        assert c.mask(bytes.fromhex(k), bytes.fromhex(u)).hex() == out
    # the same vectors as one batch (exercises the 8-lane packing with a short tail)
    keyed = c.mask(bytes.fromhex(RFC7748_52[0][0]), bytes.fromhex(RFC7748_52[0][1]) * 11)
    assert keyed == bytes.fromhex(RFC7748_52[0][2]) * 11


def test_rfc7748_61_dh(x25519_backend: str) -> None:
    c = open_cipher(DIRECT, x25519_backend)
    a, b = bytes.fromhex(ALICE_SK), bytes.fromhex(BOB_SK)
    assert c.mask(a, BASE).hex() == ALICE_PK
    assert c.mask(b, BASE).hex() == BOB_PK
    assert c.mask(a, bytes.fromhex(BOB_PK)).hex() == SHARED
    assert c.mask(b, bytes.fromhex(ALICE_PK)).hex() == SHARED


def test_matches_openssl_on_random_inputs(x25519_backend: str) -> None:
    c = open_cipher(DIRECT, x25519_backend)
    key = c.new_key()
    pts = os.urandom(32 * 37)  # arbitrary u, high bit and non-canonical values included
    ours = c.mask(key, pts)
    sk = X25519PrivateKey.from_private_bytes(key)
    ref = b"".join(sk.exchange(X25519PublicKey.from_public_bytes(pts[i:i + 32])) for i in range(0, len(pts), 32))
    assert ours == ref


def test_direct_hash_is_sha256() -> None:
    c = open_cipher(DIRECT)
    assert c.hash_to_points([b"a", b"bc"]) == hashlib.sha256(b"a").digest() + hashlib.sha256(b"bc").digest()
    assert c.point_size == 32


def test_low_order_point_rejected_with_index(x25519_backend: str) -> None:
    c = open_cipher(DIRECT, x25519_backend)
    good = c.hash_to_points([b"x", b"y", b"z"])
    for low in (bytes(32), (1).to_bytes(32, "little")):  # u = 0 and u = 1 have small order
        with pytest.raises(InvalidPoint) as err:
            c.mask(c.new_key(), good[:64] + low + good[64:])
        assert err.value.index == 2
        assert "index 2" in str(err.value)


def test_wrong_length_rejected() -> None:
    c = open_cipher(DIRECT)
    with pytest.raises(ValueError, match="multiple"):
        c.mask(c.new_key(), bytes(33))
    with pytest.raises(ValueError, match="32 bytes"):
        c.mask(bytes(31), bytes(32))
    assert c.mask(c.new_key(), b"") == b""
