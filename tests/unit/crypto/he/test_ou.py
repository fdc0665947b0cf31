"""Okamoto-Uchiyama: homomorphic properties over the signed range, limits, overflow, malformed input."""
from __future__ import annotations

import pickle
import secrets

import gmpy2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hulian.crypto.he import mbx
from hulian.crypto.he.base import HeError
from hulian.crypto.he.ou import OuPublicKey, OuSecretKey, generate_ou

SK = generate_ou(2048)
PK = SK.public
M = int(PK.plaintext_modulus)
HALF = M // 2
signed = st.integers(min_value=-HALF, max_value=HALF - 1)
quarter = st.integers(min_value=-(HALF // 2), max_value=HALF // 2 - 1)
small = st.integers(min_value=-(2**40), max_value=2**40)
fast = settings(max_examples=40, deadline=None)


def enc(x: int) -> gmpy2.mpz:
    return PK.encrypt(x % M)


def dec(c: gmpy2.mpz, sk: OuSecretKey = SK) -> int:
    v = sk.decrypt(c)
    return v - M if v >= HALF else v


def test_key_shape_matches_heu_parameters() -> None:
    p, q, t = SK._p, SK._q, SK._t
    assert PK.n == p * p * q and PK.n.bit_length() == 2048
    assert t.bit_length() == 224 and (p - 1) % t == 0 and gmpy2.is_prime(t)
    assert p.bit_length() >= q.bit_length()
    assert gmpy2.powmod(PK.h, t, p * p) == 1          # H^t = 1 mod p^2: H = g'^(n*u)
    assert gmpy2.powmod(PK.g, t, p * p) != 1          # G^t has order p mod p^2
    assert M == 2**681 and p >= M
    assert PK.random_bits == 224


@fast
@given(signed)
def test_roundtrip(x: int) -> None:
    assert dec(enc(x)) == x


@fast
@given(quarter, quarter)
def test_add(a: int, b: int) -> None:
    assert dec(PK.add(enc(a), enc(b))) == a + b


@fast
@given(quarter, quarter)
def test_add_plain(a: int, b: int) -> None:
    assert dec(PK.add_plain(enc(a), b % M)) == a + b


@fast
@given(small, small)
def test_mul_plain_signed(a: int, k: int) -> None:
    assert dec(PK.mul_plain(enc(a), k)) == a * k
    assert dec(PK.mul_plain(enc(a), k % M)) == a * k


@fast
@given(signed)
def test_neg(a: int) -> None:
    if a == -HALF:
        with pytest.raises(HeError, match="overflow"):
            dec(PK.neg(enc(a)))
    else:
        assert dec(PK.neg(enc(a))) == -a


def test_batches_and_rerandomize() -> None:
    xs = [secrets.randbits(32) for _ in range(50)] + [0, 1, M - 1, HALF, HALF - 1]
    cts = PK.encrypt_many(xs)
    assert SK.decrypt_many(cts) == xs
    assert SK.decrypt_many(SK.encrypt_many(xs)) == xs and not SK.encrypts_faster()   # the holder: the public path
    fresh = PK.rerandomize_many(cts)
    assert all(a != b for a, b in zip(fresh, cts, strict=True))
    assert SK.decrypt_many(fresh) == xs
    ks = [secrets.randbits(64) - 2**63 for _ in xs]
    products = PK.mul_plain_many(cts, ks)
    assert products == [PK.mul_plain(c, k) for c, k in zip(cts, ks, strict=True)]
    want = [((x - M if x >= HALF else x) * k) for x, k in zip(xs, ks, strict=True)]
    got = [dec(c) if abs(w) < HALF else None for c, w in zip(products, want, strict=True)]
    assert got == [w if abs(w) < HALF else None for w in want]


def test_encryption_is_randomised() -> None:
    assert PK.encrypt(5) != PK.encrypt(5)


def test_limits() -> None:
    assert dec(enc(HALF - 1)) == HALF - 1
    assert dec(enc(-HALF)) == -HALF
    with pytest.raises(HeError, match="overflow"):
        dec(PK.add_plain(enc(HALF - 1), 1))
    with pytest.raises(HeError, match="overflow"):
        dec(PK.add(enc(-HALF), enc(-1)))
    with pytest.raises(HeError, match="overflow"):
        dec(PK.mul_plain(enc(2**400), 2**281))  # 2^681: past M/2, short of p/2


@pytest.mark.parametrize("m", [-1, M, M + 1, 2**4000])
def test_plaintext_outside_the_space(m: int) -> None:
    with pytest.raises(HeError, match="outside"):
        PK.encrypt(m)
    with pytest.raises(HeError, match="outside"):
        PK.add_plain(enc(1), m)


def test_malformed_ciphertexts() -> None:
    for bad in (0, PK.n, PK.n + 1, -enc(3), SK._p * 12345):
        with pytest.raises(HeError, match="not a ciphertext"):
            SK.decrypt(gmpy2.mpz(bad))
        with pytest.raises(HeError, match="not a ciphertext"):
            PK.check(gmpy2.mpz(bad))
    with pytest.raises(HeError, match="integer"):
        PK.check("12")  # type: ignore[arg-type]
    for _ in range(5):
        junk = gmpy2.mpz(secrets.randbelow(int(PK.n)))
        PK.check(junk)  # a unit modulo n: only the key holder can tell it is no ciphertext
        with pytest.raises(HeError, match="not a ciphertext"):
            SK.decrypt(junk)
    with pytest.raises(HeError, match="invertible"):
        PK.neg(SK._q * 3)


def test_wrong_key() -> None:
    other = generate_ou(2048)
    cts = PK.encrypt_many([1, 2, 3, 4])
    with pytest.raises(HeError, match="not a ciphertext"):
        other.decrypt_many([c for c in cts if c < other.public.n] or [gmpy2.mpz(2)])
    with pytest.raises(HeError, match="does not match"):
        OuSecretKey(PK, other._p, other._q, other._t)


def test_public_key_validation() -> None:
    n, g, h = PK.n, PK.g, PK.h
    assert OuPublicKey(n, g, h) == PK
    for args in [(n + 1, g, h), (n, 0, h), (n, 1, h), (n, n, h), (n, g, SK._p), (n, g, g),
                 (gmpy2.next_prime(n), g, h), (SK._p ** 2, g, h)]:
        with pytest.raises(HeError):
            OuPublicKey(*args)


def test_key_size_policy() -> None:
    with pytest.raises(HeError, match="below 2048 bits are insecure"):
        generate_ou(1024)
    small_sk = generate_ou(1024, allow_insecure_keys=True)
    with pytest.raises(HeError, match="below 2048 bits are insecure"):
        OuPublicKey(small_sk.public.n, small_sk.public.g, small_sk.public.h)
    with pytest.raises(HeError, match="at least"):
        generate_ou(512, allow_insecure_keys=True)


@pytest.mark.parametrize("bits", [1024, 1500, 3072])
def test_other_sizes_and_the_gmpy2_path(bits: int) -> None:
    """1500 bits has no crypto_mb kernel: decryption runs on gmpy2 modulo p^2."""
    sk = generate_ou(bits, allow_insecure_keys=True)
    assert sk.public.n.bit_length() == bits
    assert mbx.supports(bits) == (bits != 1500 and mbx.available())
    modulus = int(sk.public.plaintext_modulus)
    xs = [0, 1, modulus - 1, modulus // 2 - 1, secrets.randbelow(modulus)]
    assert sk.decrypt_many(sk.public.encrypt_many(xs)) == xs


def test_secrets_stay_in_the_secret_key() -> None:
    assert repr(SK) == "OuSecretKey(2048 bits)"
    for secret in (SK._p, SK._q, SK._t):
        assert str(secret) not in repr(SK) + repr(PK)



def test_secret_key_pickles_for_workers() -> None:
    """parallel.py hands the key to local worker processes."""
    clone = pickle.loads(pickle.dumps(SK))
    xs = [0, 1, 5, HALF - 1, HALF, M - 1]
    assert clone.decrypt_many(PK.encrypt_many(xs)) == xs
