"""mbx.powmod_many against gmpy2.powmod: the crypto_mb path where it runs, the fallback everywhere."""
from __future__ import annotations

import secrets

import gmpy2
import pytest

from hulian.crypto.ecc import crypto_mb
from hulian.crypto.he import mbx

needs_ifma = pytest.mark.skipif(not mbx.available(), reason=f"crypto_mb: {crypto_mb.unavailable_reason()}")


def _odd_modulus(bits: int) -> gmpy2.mpz:
    return gmpy2.mpz(secrets.randbits(bits)).bit_set(bits - 1).bit_set(0)


def _expected(bases: list, exps: list, m: int) -> list:
    return [gmpy2.powmod(b, e, m) for b, e in zip(bases, exps, strict=True)]


def test_available_follows_the_loader() -> None:
    assert mbx.available() == (crypto_mb.load() is not None)


@needs_ifma
@pytest.mark.parametrize("bits", [989, 1024, 2029, 2048, 3072, 4096])
def test_kernel_sizes_are_supported(bits: int) -> None:
    assert mbx.supports(bits)


@pytest.mark.parametrize("bits", [64, 988, 1025, 1368, 2049, 2053, 2078, 4097])
def test_sizes_without_a_trusted_kernel_are_not(bits: int) -> None:
    """2049-2078 bits are accepted by the library but give wrong results here, so they stay on gmpy2."""
    assert not mbx.supports(bits)


@pytest.mark.parametrize("mod_bits", [1024, 2040, 2048, 3072, 4096])
@pytest.mark.parametrize("exp_bits", [1, 63, 64, 65, 256, None])
def test_random_inputs_match_gmpy2(mod_bits: int, exp_bits: int | None) -> None:
    m = _odd_modulus(mod_bits)
    e_bits = exp_bits or mod_bits
    bases = [gmpy2.mpz(secrets.randbits(mod_bits)) % m for _ in range(11)]
    exps = [gmpy2.mpz(secrets.randbits(e_bits)) for _ in range(11)]
    assert mbx.powmod_many(bases, exps, m) == _expected(bases, exps, m)


@pytest.mark.parametrize("count", [1, 2, 7, 8, 9, 17])
def test_partial_lanes(count: int) -> None:
    m = _odd_modulus(2048)
    bases = [secrets.randbits(2048) for _ in range(count)]
    exps = [secrets.randbits(256) for _ in range(count)]
    assert mbx.powmod_many(bases, exps, m) == _expected(bases, exps, m)


def test_edge_values() -> None:
    m = _odd_modulus(2048)
    big = secrets.randbits(2048)
    bases = [0, 1, 0, 1, m - 1, m, m + 5, -7, big, big, 2, 3]
    exps = [0, 0, 5, 12345, 2, 3, 4, 3, 0, 1, (1 << 2048) - 1, 1 << 2047]
    assert mbx.powmod_many(bases, exps, m) == _expected(bases, exps, m)


@needs_ifma   # the gmpy2 fallback has no threads to split over
@pytest.mark.parametrize("threads", ["1", "2", "3"])
def test_mixed_exponent_lengths_keep_their_order_over_threads(threads: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Groups of 8 split over native threads (uneven splits too), each call its own exponent length."""
    monkeypatch.setenv("HULIAN_THREADS", threads)
    m = _odd_modulus(2048)
    lengths = [secrets.choice([0, 1, 32, 224, 700, 2048]) for _ in range(61)]
    exps = [secrets.randbits(b) if b else 0 for b in lengths]
    bases = [secrets.randbits(2048) for _ in exps]
    assert mbx.powmod_many(bases, exps, m) == _expected(bases, exps, m)


@pytest.mark.parametrize("m", [gmpy2.mpz(2) ** 2048 - 2, 10**300 + 7, 3, 1])
def test_moduli_crypto_mb_cannot_take_fall_back(m: gmpy2.mpz) -> None:
    bases = [secrets.randbits(2048) for _ in range(9)]
    exps = [secrets.randbits(100) for _ in range(9)]
    assert mbx.powmod_many(bases, exps, m) == _expected(bases, exps, m)


def test_negative_and_overlong_exponents_fall_back() -> None:
    m = _odd_modulus(2048)
    bases = [secrets.randbits(2000) | 1 for _ in range(3)]
    while any(gmpy2.gcd(b, m) != 1 for b in bases):
        bases = [secrets.randbits(2000) | 1 for _ in range(3)]
    exps = [-5, 1 << 3000, 7]
    assert mbx.powmod_many(bases, exps, m) == _expected(bases, exps, m)


def test_without_crypto_mb_the_result_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    m = _odd_modulus(2048)
    bases = [secrets.randbits(2048) for _ in range(10)]
    exps = [secrets.randbits(224) for _ in range(10)]
    fast = mbx.powmod_many(bases, exps, m)
    monkeypatch.setattr(mbx, "_library", lambda: None)
    assert not mbx.available()
    assert mbx.powmod_many(bases, exps, m) == fast == _expected(bases, exps, m)


def test_empty_batch_and_mismatched_lengths() -> None:
    assert mbx.powmod_many([], [], _odd_modulus(2048)) == []
    with pytest.raises(ValueError, match="2 bases but 1 exponents"):
        mbx.powmod_many([1, 2], [3], _odd_modulus(2048))
