"""SM3 and SM2: GB/T vectors, curve parameters, backend cross-checks, hash-to-curve and point validation."""
from __future__ import annotations

import hashlib
import os

import gmpy2
import pytest
from gmpy2 import mpz

from hulian.crypto.ecc import (
    CurveType,
    EcSuite,
    HashToCurveStrategy,
    HashType,
    InvalidPoint,
    PointOctetFormat,
    UnsupportedSuite,
    open_cipher,
)
from hulian.crypto.ecc import sm2_math as m
from hulian.crypto.ecc.suite import hash_function

SM2_SM3_INC = EcSuite(CurveType.SM2, HashType.SM3, HashToCurveStrategy.TRY_AND_INCREMENT,
                      PointOctetFormat.X962_COMPRESSED)
SM2_SHA256_REHASH = EcSuite(CurveType.SM2, HashType.SHA_256, HashToCurveStrategy.TRY_AND_REHASH,
                            PointOctetFormat.X962_COMPRESSED)
SM2_SM3_REHASH = EcSuite(CurveType.SM2, HashType.SM3, HashToCurveStrategy.TRY_AND_REHASH,
                         PointOctetFormat.X962_COMPRESSED)

# GB/T 32918.5-2017 / GM/T 0003.5-2012 recommended curve parameters.
SM2_PARAMS = {
    "p": "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF",
    "a": "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC",
    "b": "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93",
    "n": "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123",
    "gx": "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7",
    "gy": "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0",
}
# GB/T 32918.2-2016 Annex A example on the recommended curve: private key dA → public key PA,
# and the signing nonce k → k·G = (x1, y1).
KEY_VECTORS = [
    ("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8",
     "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020",
     "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"),
    ("59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21",
     "04EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73",
     "E858F9D81E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0"),
]
G_COMPRESSED = bytes([2 + (int(SM2_PARAMS["gy"], 16) & 1)]) + bytes.fromhex(SM2_PARAMS["gx"])


def test_sm3_vectors() -> None:
    """GB/T 32905-2016 Annex A examples 1 and 2."""
    sm3 = hash_function(HashType.SM3)
    assert sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert sm3(b"abcd" * 16).hex() == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"


def test_curve_parameters() -> None:
    assert tuple(int(SM2_PARAMS[k], 16) for k in ("p", "a", "b", "n", "gx", "gy")) == (m.P, m.A, m.B, m.N, m.GX, m.GY)
    assert m.rhs(m.GX) == m.GY * m.GY % m.P
    assert m.P % 4 == 3
    assert gmpy2.is_prime(m.P) and gmpy2.is_prime(m.N)
    assert m.scalar_mult(m.N, (m.GX, m.GY)) is None


@pytest.mark.parametrize(("d", "x", "y"), KEY_VECTORS)
def test_gbt32918_public_key(sm2_backend: str, d: str, x: str, y: str) -> None:
    assert m.scalar_mult(mpz(int(d, 16)), (m.GX, m.GY)) == (int(x, 16), int(y, 16))
    c = open_cipher(SM2_SM3_INC, sm2_backend)
    key = int(d, 16).to_bytes(32, "little")  # keys are read little-endian
    assert c.mask(key, G_COMPRESSED) == b"\x02" + bytes.fromhex(x)


def test_gmssl_independent_scalar_mult() -> None:
    sm2 = pytest.importorskip("gmssl.sm2")
    ref = sm2.CryptSM2(private_key="00" * 32, public_key="00" * 64)
    c = open_cipher(SM2_SHA256_REHASH)
    pts = c.hash_to_points([os.urandom(8) for _ in range(3)])
    key = c.new_key()
    masked = c.mask(key, pts)
    k = int.from_bytes(key, "little") % m.N
    for i in range(3):
        x = int.from_bytes(pts[33 * i + 1:33 * i + 33], "big")
        y = m.sqrt(m.rhs(mpz(x)))
        assert y is not None
        y = y if not y.is_odd() else m.P - y
        expected = ref._kg(int(k), f"{x:064x}{int(y):064x}")[:64]
        assert masked[33 * i + 1:33 * i + 33].hex() == expected


def test_backends_agree_on_random_points() -> None:
    from tests.unit.crypto.conftest import SM2_BACKENDS

    cs = [open_cipher(SM2_SM3_REHASH, b) for b in SM2_BACKENDS]
    pts = cs[0].hash_to_points([os.urandom(12) for _ in range(11)])
    # include odd-y encodings as well as the even ones hash_to_points emits
    pts = bytes([3]) + pts[1:33] + pts[33:]
    key = cs[0].new_key()
    outs = {c.backend: c.mask(key, pts) for c in cs}
    assert len(set(outs.values())) == 1, outs.keys()


def _reference_rehash(item: bytes, h: str) -> bytes:
    d = hashlib.new(h, item).digest()
    for _ in range(100):
        x = int.from_bytes(d, "big") % int(m.P)
        if gmpy2.legendre(m.rhs(mpz(x)), m.P) >= 0:
            return b"\x02" + x.to_bytes(32, "big")
        d = hashlib.new(h, d).digest()
    raise AssertionError


def test_try_and_rehash_reading() -> None:
    items = [b"", b"alice", b"bob", b"13800000000", b"x" * 100]
    assert open_cipher(SM2_SHA256_REHASH).hash_to_points(items) == b"".join(
        _reference_rehash(i, "sha256") for i in items)
    assert open_cipher(SM2_SM3_REHASH).hash_to_points(items) == b"".join(_reference_rehash(i, "sm3") for i in items)


def test_try_and_increment_reading() -> None:
    items = [os.urandom(5) for _ in range(40)]
    pts = open_cipher(SM2_SM3_INC).hash_to_points(items)
    incremented = 0
    for i, item in enumerate(items):
        x0 = int.from_bytes(hashlib.new("sm3", item).digest(), "big") % int(m.P)
        x = int.from_bytes(pts[33 * i + 1:33 * i + 33], "big")
        assert pts[33 * i] == 2
        assert 0 <= x - x0 < 100 and m.sqrt(m.rhs(mpz(x))) is not None
        assert all(m.sqrt(m.rhs(mpz(v))) is None for v in range(x0, x))
        incremented += x != x0
    assert incremented > 0  # about half the items need at least one increment


def test_invalid_points_named_by_index(sm2_backend: str) -> None:
    c = open_cipher(SM2_SM3_INC, sm2_backend)
    good = c.hash_to_points([b"a", b"b", b"c"])
    key = c.new_key()
    x_not_on_curve = next(x for x in range(2, 100) if m.sqrt(m.rhs(mpz(x))) is None)
    bad_cases = [
        b"\x04" + good[1:33],  # uncompressed prefix
        b"\x00" + bytes(32),  # infinity encoding
        b"\x02" + int(m.P).to_bytes(32, "big"),  # x = p, not reduced
        b"\x02" + x_not_on_curve.to_bytes(32, "big"),
    ]
    for bad in bad_cases:
        with pytest.raises(InvalidPoint) as err:
            c.mask(key, good[:33] + bad + good[33:])
        assert err.value.index == 1


def test_wrong_length_and_key() -> None:
    c = open_cipher(SM2_SM3_INC)
    with pytest.raises(ValueError, match="multiple"):
        c.mask(c.new_key(), bytes(32))
    with pytest.raises(ValueError):
        c.mask(bytes(16), G_COMPRESSED)
    with pytest.raises(ValueError, match="0 mod n"):
        c.mask(int(m.N).to_bytes(32, "little"), G_COMPRESSED)
    assert c.point_size == 33 and c.mask(c.new_key(), b"") == b""


def test_sswu_unsupported() -> None:
    for s in (HashToCurveStrategy.SSWU_RO, HashToCurveStrategy.SSWU_NU):
        with pytest.raises(UnsupportedSuite, match="SSWU") as err:
            open_cipher(EcSuite(CurveType.SM2, HashType.SM3, s, PointOctetFormat.X962_COMPRESSED))
        assert "supported:" in str(err.value)


def test_invalid_point_crosses_process_boundaries():
    """Curve work runs in worker processes: the peer's bad point must reach the exchange as itself (an
    unpicklable exception breaks the whole pool instead)."""
    import pickle

    err = pickle.loads(pickle.dumps(InvalidPoint(7, "not on the curve")))
    assert isinstance(err, InvalidPoint) and err.index == 7 and str(err) == "invalid point at index 7: not on the curve"
