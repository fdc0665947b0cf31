from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hulian.crypto.he.base import HeError
from hulian.crypto.he.encoding import FixedPoint
from hulian.crypto.he.paillier import PaillierSecretKey
from hulian.crypto.he.vector import EncryptedVector

settings.register_profile("he", max_examples=25, deadline=None)
settings.load_profile("he")
vals = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=3, max_size=3)


@given(vals, vals, st.floats(-100, 100, allow_nan=False), st.integers(-50, 50))
def test_vector_arithmetic(paillier_sk: PaillierSecretKey, a: list[float], b: list[float],
                           s: float, k: int) -> None:
    enc = FixedPoint(paillier_sk.public.n)
    va = EncryptedVector.encrypt(paillier_sk.public, a, enc)
    vb = EncryptedVector.encrypt(paillier_sk, b, enc)  # the key holder's path
    A, B = np.array(a), np.array(b)
    d = paillier_sk
    np.testing.assert_allclose((va + vb).decrypt(d), A + B, atol=1e-8)
    np.testing.assert_allclose((va - vb).decrypt(d), A - B, atol=1e-8)
    np.testing.assert_allclose((-va).decrypt(d), -A, atol=1e-8)
    np.testing.assert_allclose((va + s).decrypt(d), A + s, atol=1e-8)
    np.testing.assert_allclose((s - va).decrypt(d), s - A, atol=1e-8)
    np.testing.assert_allclose((va * k).decrypt(d), A * k, atol=1e-6)
    # a product of two encodings errs by up to |x|·ulp + |y|·ulp (ulp = 2^-33, half the fixed-point step)
    scaled = va * s
    assert scaled.scale == 2
    ulp = 2.0 ** -33
    assert np.all(np.abs(scaled.decrypt(d) - A * s) <= (np.abs(A) + abs(s) + 1) * ulp + 1e-12 * np.abs(A * s))
    assert np.all(np.abs((scaled + vb).decrypt(d) - (A * s + B))
                  <= (np.abs(A) + abs(s) + 2) * ulp + 1e-12 * np.abs(A * s + B))
    assert np.all(np.abs((va * B).decrypt(d) - A * B) <= (np.abs(A) + np.abs(B) + 1) * ulp + 1e-12 * np.abs(A * B))
    np.testing.assert_allclose(va.sum().decrypt(d), [A.sum()], atol=1e-7)
    r = va.rerandomize()
    assert all(a != b for a, b in zip(r.ciphertexts, va.ciphertexts, strict=True))
    np.testing.assert_allclose(r.decrypt(d), A, atol=1e-9)


def test_overflow_is_refused_where_it_happens(paillier_sk: PaillierSecretKey) -> None:
    enc = FixedPoint(paillier_sk.public.n)
    big = float(2 ** 900)
    v = EncryptedVector.encrypt(paillier_sk.public, [big], enc)
    with pytest.raises(HeError, match="overflow"):
        v * big
    # without a known bound (a received vector), decryption's range check catches it
    blind = EncryptedVector(v.public_key, v.ciphertexts, enc)
    with pytest.raises(HeError, match="outside the encoding's range"):
        (blind * big).decrypt(paillier_sk)


def test_mismatches(paillier_sk: PaillierSecretKey, paillier_sk_other: PaillierSecretKey) -> None:
    enc = FixedPoint(paillier_sk.public.n)
    v = EncryptedVector.encrypt(paillier_sk.public, [1.0, 2.0], enc)
    w = EncryptedVector.encrypt(paillier_sk_other.public, [1.0, 2.0], FixedPoint(paillier_sk_other.public.n))
    with pytest.raises(HeError, match="different public keys"):
        v + w
    with pytest.raises(HeError, match="another public key"):
        v.decrypt(paillier_sk_other)
    with pytest.raises(HeError, match="length mismatch"):
        v + np.array([1.0, 2.0, 3.0])
    with pytest.raises(HeError, match="plaintext modulus"):
        EncryptedVector(paillier_sk.public, v.ciphertexts, FixedPoint(paillier_sk_other.public.n))
    # a wrong-key vector that passes the range check still fails to decode
    foreign = EncryptedVector(paillier_sk.public, [c % paillier_sk.public.nsquare for c in w.ciphertexts], enc)
    with pytest.raises(HeError):
        foreign.decrypt(paillier_sk)


def test_scales_two_apart_align_exactly(paillier_sk: PaillierSecretKey) -> None:
    """a + a·1.5·2.0 sums values at scales 1 and 3: the lower one is lifted by an integer 2^64 (beyond int64, an
    object array), which must keep its scale (it was taken for a float and the result came out ~2^32 too big)."""
    enc = FixedPoint(paillier_sk.public.n)
    a = EncryptedVector.encrypt(paillier_sk.public, [1.0, -2.5], enc)
    assert np.allclose((a + a * 1.5 * 2.0).decrypt(paillier_sk), [4.0, -10.0])
    assert (a * 2**70).scale == a.scale
