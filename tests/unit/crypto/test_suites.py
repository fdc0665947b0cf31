"""Suite list, backend selection, and the properties every suite must have (commutation, backend agreement)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hulian.crypto.ecc import (
    SUPPORTED_SUITES,
    BackendUnavailable,
    CurveType,
    EcSuite,
    HashToCurveStrategy,
    HashType,
    PointOctetFormat,
    UnsupportedSuite,
    available_backends,
    open_cipher,
)

MAIN_SUITES = SUPPORTED_SUITES[:5]


def test_required_suites_listed() -> None:
    assert SUPPORTED_SUITES[0] == EcSuite(CurveType.CURVE25519, HashType.SHA_256,
                                          HashToCurveStrategy.DIRECT_HASH_AS_POINT_X, PointOctetFormat.UNCOMPRESSED)
    for s in SUPPORTED_SUITES:
        c = open_cipher(s)
        assert c.suite == s
        assert len(c.hash_to_points([b"a", b"b"])) == 2 * c.point_size
    assert len(set(SUPPORTED_SUITES)) == len(SUPPORTED_SUITES)


@pytest.mark.parametrize("suite", [
    EcSuite(CurveType.ED25519, HashType.SHA_512, HashToCurveStrategy.ELL2_RO, PointOctetFormat.UNCOMPRESSED),
    EcSuite(CurveType.CURVE25519, HashType.SHA_512, HashToCurveStrategy.DIRECT_HASH_AS_POINT_X,
            PointOctetFormat.UNCOMPRESSED),
    EcSuite(CurveType.SM2, HashType.SHAKE_256, HashToCurveStrategy.TRY_AND_REHASH, PointOctetFormat.X962_COMPRESSED),
    EcSuite(CurveType.SM2, HashType.SM3, HashToCurveStrategy.TRY_AND_REHASH, PointOctetFormat.X962_UNCOMPRESSED),
])
def test_unsupported_suite_message(suite: EcSuite) -> None:
    with pytest.raises(UnsupportedSuite) as err:
        open_cipher(suite)
    assert str(suite) in str(err.value) and str(SUPPORTED_SUITES[1]) in str(err.value)


def test_auto_picks_crypto_mb_when_present() -> None:
    expected = "crypto_mb" if available_backends()["crypto_mb"] else None
    for s in MAIN_SUITES:
        c = open_cipher(s)
        if expected:
            assert c.backend == expected
        assert open_cipher(s, "fallback").backend != "crypto_mb"


def test_env_forces_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HULIAN_ECC_BACKEND", "fallback")
    assert open_cipher(SUPPORTED_SUITES[0]).backend == "libsodium"
    assert open_cipher(SUPPORTED_SUITES[1]).backend in ("openssl", "gmpy2")
    # an explicit argument wins over the variable
    if available_backends()["crypto_mb"]:
        assert open_cipher(SUPPORTED_SUITES[0], "crypto_mb").backend == "crypto_mb"
    monkeypatch.setenv("HULIAN_ECC_BACKEND", "nonsense")
    with pytest.raises(BackendUnavailable, match="HULIAN_ECC_BACKEND"):
        open_cipher(SUPPORTED_SUITES[0])


def test_unknown_backend_for_curve() -> None:
    with pytest.raises(BackendUnavailable):
        open_cipher(SUPPORTED_SUITES[0], "gmpy2")


@pytest.mark.parametrize("suite", MAIN_SUITES, ids=str)
def test_forced_fallback_gives_same_bytes(suite: EcSuite) -> None:
    auto, fb = open_cipher(suite), open_cipher(suite, "fallback")
    items = [b"item-%d" % i for i in range(19)]
    pts = auto.hash_to_points(items)
    assert pts == fb.hash_to_points(items)
    key = auto.new_key()
    assert auto.mask(key, pts) == fb.mask(key, pts)


def _x(cipher_suite: EcSuite, buf: bytes) -> bytes:
    """The x/u bytes of a serialized point: what the protocol compares."""
    return buf[1:] if cipher_suite.curve is CurveType.SM2 else buf


@pytest.mark.parametrize("suite", MAIN_SUITES, ids=str)
@settings(max_examples=8, deadline=None)
@given(item=st.binary(max_size=64))
def test_mask_commutes(suite: EcSuite, item: bytes) -> None:
    c = open_cipher(suite)
    a, b = c.new_key(), c.new_key()
    h = c.hash_to_points([item])
    ab, ba = c.mask(b, c.mask(a, h)), c.mask(a, c.mask(b, h))
    assert _x(suite, ab) == _x(suite, ba)
    assert ab == ba  # we always re-encode with the even y, so the full bytes agree too


@settings(max_examples=20, deadline=None)
@given(data=st.binary(min_size=32, max_size=32))
def test_mask_accepts_any_u(data: bytes) -> None:
    """RFC 7748 accepts any 32-byte u; both backends must agree on it (or both reject it)."""
    s = SUPPORTED_SUITES[0]
    outs = set()
    for b in ("crypto_mb", "libsodium"):
        if not available_backends()[b]:
            continue
        try:
            outs.add(open_cipher(s, b).mask(bytes(range(32)), data))
        except ValueError as exc:
            outs.add(type(exc).__name__)
    assert len(outs) == 1
