from __future__ import annotations

import pickle
import secrets

import gmpy2
import phe
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hulian.crypto.he import parallel
from hulian.crypto.he.base import HeError
from hulian.crypto.he.keys import random_prime
from hulian.crypto.he.paillier import PaillierPublicKey, PaillierSecretKey, generate_paillier
from hulian.engine.pool import worker_pool

settings.register_profile("he", max_examples=40, deadline=None)
settings.load_profile("he")


def test_round_trip_public_and_key_holder_encryption(paillier_sk: PaillierSecretKey) -> None:
    pk = paillier_sk.public
    ms = [0, 1, 2, int(pk.n) - 1, *(secrets.randbelow(int(pk.n)) for _ in range(10))]
    assert paillier_sk.decrypt_many(pk.encrypt_many(ms)) == ms
    assert paillier_sk.decrypt_many(paillier_sk.encrypt_many(ms)) == ms and paillier_sk.encrypts_faster()
    a, b = pk.encrypt_many([5, 5])
    assert a != b, "encryption is randomised"


@given(st.data())
def test_homomorphic_operations(paillier_sk: PaillierSecretKey, data: st.DataObject) -> None:
    pk, n = paillier_sk.public, int(paillier_sk.public.n)
    x, y = data.draw(st.integers(0, n - 1)), data.draw(st.integers(0, n - 1))
    k = data.draw(st.one_of(st.integers(-(1 << 40), 1 << 40), st.integers(-n, 2 * n)))
    cx, cy = pk.encrypt_many([x, y])
    dec = paillier_sk.decrypt
    assert dec(pk.add(cx, cy)) == (x + y) % n
    assert dec(pk.add_plain(cx, y)) == (x + y) % n
    assert dec(pk.mul_plain(cx, k)) == (x * k) % n
    assert dec(pk.neg(cx)) == (-x) % n
    (rx,) = pk.rerandomize_many([cx])
    assert rx != cx and dec(rx) == x


def test_generated_key_has_the_documented_form() -> None:
    sk = generate_paillier(2048)
    p, q = sk._p, sk._q
    assert sk.public.n.bit_length() == 2048
    assert p % 4 == 3 and q % 4 == 3 and gmpy2.gcd(p - 1, q - 1) == 2
    assert (p - q).bit_length() >= 1022
    m = secrets.randbits(2000)
    assert sk.decrypt(sk.public.encrypt(m)) == m


def test_key_size_policy() -> None:
    with pytest.raises(HeError, match="below 2048 bits"):
        generate_paillier(1024)
    small = generate_paillier(512, allow_insecure_keys=True)
    with pytest.raises(HeError, match="insecure"):
        PaillierPublicKey(small.public.n, small.public.hs)


def test_received_public_key_validation(paillier_sk: PaillierSecretKey) -> None:
    n, hs, p = paillier_sk.public.n, paillier_sk.public.hs, paillier_sk._p
    ok = {"allow_insecure_keys": True}
    cases = {
        "even": (n + 1, hs),
        "prime": (gmpy2.next_prime(n), hs),
        "perfect power": (p * p, 5),
        "factor below 1000": (n * 3, hs),
        r"\(1, n\^2 - 1\)": (n, 1),
        "range": (n, n * n),
        "invertible": (n, p),
    }
    for message, (bad_n, bad_hs) in cases.items():
        with pytest.raises(HeError, match=message if message != "range" else r"\(1, n\^2 - 1\)"):
            PaillierPublicKey(bad_n, bad_hs, **ok)


def test_malformed_and_wrong_key_ciphertexts(paillier_sk: PaillierSecretKey,
                                             paillier_sk_other: PaillierSecretKey) -> None:
    pk = paillier_sk.public
    for bad in (0, pk.nsquare, pk.nsquare + 5, paillier_sk._p * 7, -3):
        with pytest.raises(HeError, match="not a ciphertext"):
            paillier_sk.decrypt(gmpy2.mpz(bad))
    other = paillier_sk_other.public.encrypt(42)
    if other >= pk.nsquare:
        with pytest.raises(HeError, match="outside"):
            paillier_sk.decrypt(other)
    else:  # Paillier has no integrity: the residue is garbage, which FixedPoint's range check catches
        assert paillier_sk.decrypt(other) != 42
    with pytest.raises(HeError, match=r"outside \[0, n\)"):
        pk.encrypt_many([int(pk.n)])
    with pytest.raises(HeError, match=r"outside \[0, n\)"):
        pk.encrypt_many([-1])


def test_secret_key_repr_and_pickle(paillier_sk: PaillierSecretKey) -> None:
    text = repr(paillier_sk)
    for secret in (paillier_sk._p, paillier_sk._q):
        assert str(secret) not in text and secret.digits(16)[:12] not in text
    clone = pickle.loads(pickle.dumps(paillier_sk))
    c = paillier_sk.public.encrypt(7)
    assert clone.decrypt(c) == 7 and clone.public == paillier_sk.public
    with pytest.raises(HeError, match="not the public modulus"):
        PaillierSecretKey(paillier_sk._p, paillier_sk._p, paillier_sk.public)


def test_python_paillier_ciphertexts_both_ways() -> None:
    """DJN is Paillier with g = n + 1: phe and we decrypt each other's ciphertexts for the same p, q."""
    p, q = random_prime(512, 3), random_prime(512, 3)
    ours = PaillierSecretKey.from_primes(p, q, allow_insecure_keys=True)
    phe_pub = phe.PaillierPublicKey(int(p * q))
    phe_priv = phe.PaillierPrivateKey(phe_pub, int(p), int(q))
    ms = [0, 1, 123456789, int(p * q) - 1, secrets.randbelow(int(p * q))]
    theirs = [phe_pub.raw_encrypt(m) for m in ms]
    assert ours.decrypt_many([gmpy2.mpz(c) for c in theirs]) == ms
    assert [phe_priv.raw_decrypt(int(c)) for c in ours.public.encrypt_many(ms)] == ms
    assert [phe_priv.raw_decrypt(int(c)) for c in ours.encrypt_many(ms)] == ms
    # a sum mixing both origins
    mixed = ours.public.add(gmpy2.mpz(theirs[2]), ours.public.encrypt(1))
    assert phe_priv.raw_decrypt(int(mixed)) == 123456790


def test_parallel_matches_serial(paillier_sk: PaillierSecretKey) -> None:
    pk = paillier_sk.public
    ms = [secrets.randbits(64) for _ in range(40)]
    with worker_pool(2) as pool:
        cts = parallel.encrypt_many(pk, ms, pool)
        assert parallel.decrypt_many(paillier_sk, cts, pool) == ms
        again = parallel.rerandomize_many(pk, cts, pool)
        assert parallel.decrypt_many(paillier_sk, again, pool) == ms
        assert parallel.decrypt_many(paillier_sk, parallel.encrypt_many(paillier_sk, ms, pool), pool) == ms
    assert parallel.decrypt_many(paillier_sk, cts) == ms  # small batch: serial, no pool
