"""mbfixed (fixed base on crypto_mb's 8-lane almost-Montgomery multiplication) against gmpy2.powmod, and the
FixedBase wiring: IFMA where it runs, the gmpy2 table below MB_MIN_BATCH, without IFMA and when turned off."""
from __future__ import annotations

import pickle
import secrets

import gmpy2
import numpy as np
import pytest
from gmpy2 import mpz

from hulian.crypto.ecc import crypto_mb
from hulian.crypto.he import fixedbase, mbfixed
from hulian.crypto.he.fixedbase import FixedBase
from hulian.crypto.he.mbx import BACKEND_ENV

needs_ifma = pytest.mark.skipif(not mbfixed.supports(2**2047 + 1),
                                reason=f"crypto_mb: {crypto_mb.unavailable_reason() or 'turned off'}")


def _odd_modulus(bits: int) -> mpz:
    return mpz(secrets.randbits(bits)).bit_set(bits - 1).bit_set(0)


def _exponents(exp_bits: int, count: int) -> list[int]:
    """Edge exponents first (0, 1, 2^k - 1, 2^(k-1), one short), then random ones of random lengths."""
    edges = [e for e in (0, 1, (1 << exp_bits) - 1, 1 << (exp_bits - 1), 3) if e < 1 << exp_bits]
    rest = [secrets.randbits(secrets.choice([exp_bits, exp_bits, 1 + secrets.randbelow(exp_bits)]))
            for _ in range(max(0, count - len(edges)))]
    return (edges + rest)[:count]


@pytest.mark.parametrize("digits", [20, 40, 79])
def test_digit_conversion_round_trips(digits: int) -> None:
    values = [0, 1, (1 << (52 * digits)) - 1, *(secrets.randbits(52 * digits) for _ in range(9))]
    rows = mbfixed.to_digits(values, digits)
    assert rows.shape == (len(values), digits) and int(rows.max()) < 1 << 52
    assert rows[3, 1] == (values[3] >> 52) & ((1 << 52) - 1)
    assert mbfixed.from_digits(rows) == values


def test_window_digits() -> None:
    exps = [mpz(0), mpz(0b1101_0000000011), mpz((1 << 30) - 1)]
    assert mbfixed.window_digits(exps, 3, 10).tolist() == [[0, 0, 0], [3, 13, 0], [1023, 1023, 1023]]


@pytest.mark.parametrize("bits", [1023, 1024, 1025, 2047, 2048, 2049, 3072, 4096, 4097])
def test_kernel_choice(bits: int) -> None:
    expected = {1023: 20, 1024: 20, 1025: 30, 2047: 40, 2048: 40, 2049: 60, 3072: 60, 4096: 79, 4097: None}
    assert mbfixed.digits_for(bits) == expected[bits]


@needs_ifma
@pytest.mark.parametrize(("mod_bits", "exp_bits", "window"), [
    (4096, 1024, 8),   # DJN Paillier-2048: hs^r mod n^2
    (4095, 1024, 8),   # n^2 one bit short
    (2048, 224, 10),   # OU-2048: h^r mod n
    (2048, 1024, 8),   # Paillier-2048 secret key: hs^r mod p^2
    (1024, 300, 5), (1536, 200, 7), (3072, 300, 6), (4096, 61, 3), (1000, 1, 1)])
def test_matches_powmod(mod_bits: int, exp_bits: int, window: int) -> None:
    m = _odd_modulus(mod_bits)
    base = mpz(secrets.randbits(mod_bits + 5))  # not reduced: the table reduces it
    table = mbfixed.MbFixedBase(base, m, exp_bits, window)
    exps = _exponents(exp_bits, 17)
    assert table.pow_many(exps) == [gmpy2.powmod(base, e, m) for e in exps]


@needs_ifma
@pytest.mark.parametrize("count", [1, 2, 3, 7, 8, 9, 15, 16, 17])
@pytest.mark.parametrize(("mod_bits", "exp_bits"), [(4096, 1024), (2048, 224)])
def test_batch_sizes_keep_order(count: int, mod_bits: int, exp_bits: int) -> None:
    m = _odd_modulus(mod_bits)
    base = mpz(secrets.randbelow(int(m)))
    exps = _exponents(exp_bits, count)
    secrets.SystemRandom().shuffle(exps)
    assert mbfixed.MbFixedBase(base, m, exp_bits, 8).pow_many(exps) == [gmpy2.powmod(base, e, m) for e in exps]


@needs_ifma
@pytest.mark.parametrize("threads", ["1", "2", "3"])
def test_many_groups_over_threads_and_mixed_lengths(threads: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lane groups split over native threads (uneven splits too), lengths from 0 to full, results in the
    callers' order."""
    monkeypatch.setenv("HULIAN_THREADS", threads)
    m = _odd_modulus(2048)
    base = mpz(secrets.randbelow(int(m)))
    table = mbfixed.MbFixedBase(base, m, 1024, 8)
    exps = [secrets.randbits(secrets.choice([0, 1, 8, 9, 500, 1024])) for _ in range(8 * 37 + 5)]
    assert table.pow_many(exps) == [gmpy2.powmod(base, e, m) for e in exps]


@needs_ifma
def test_special_bases() -> None:
    m = _odd_modulus(2048)
    for base in (0, 1, m - 1, m, m + 2):
        exps = [0, 1, 2, 5, (1 << 64) - 1]
        assert mbfixed.MbFixedBase(base, m, 64, 4).pow_many(exps) == [gmpy2.powmod(base, e, m) for e in exps]


@needs_ifma
@pytest.mark.parametrize("m", [3, 101, 2**61 - 1, 2**1024 - 1])
def test_small_and_special_moduli(m: int) -> None:
    exps = _exponents(70, 12)
    assert mbfixed.MbFixedBase(2, m, 70, 6).pow_many(exps) == [gmpy2.powmod(2, e, m) for e in exps]


@needs_ifma
def test_exponents_outside_the_table_and_bad_moduli_are_refused() -> None:
    m = _odd_modulus(2048)
    table = mbfixed.MbFixedBase(3, m, 100, 8)
    with pytest.raises(ValueError, match="outside"):
        table.pow_many([1, 1 << 100])
    with pytest.raises(ValueError, match="outside"):
        table.pow_many([-1])
    assert table.pow_many([]) == []
    for bad in (m + 1, _odd_modulus(4097)):
        assert not mbfixed.supports(bad)
        with pytest.raises(ValueError, match="no IFMA kernel"):
            mbfixed.MbFixedBase(3, bad, 100, 8)


@needs_ifma
def test_table_memory() -> None:
    """4096-bit modulus, 1024-bit exponents, window 8: 128 rows x 256 entries x 79 digits x 8 bytes."""
    table = mbfixed.MbFixedBase(3, _odd_modulus(4096), 1024, 8)
    assert table.nbytes == 128 * 256 * 79 * 8 == 20_709_376
    assert table._table.dtype == np.uint64 and int(table._table.max()) < 1 << 52


@needs_ifma
def test_fixedbase_batches_go_to_ifma_and_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    m = _odd_modulus(4096)
    base = mpz(secrets.randbelow(int(m)))
    fb = FixedBase(base, m, 1024, 8)
    exps = _exponents(1024, 11)
    expected = [gmpy2.powmod(base, e, m) for e in exps]
    assert fb.pow_many(iter(exps)) == expected  # an iterator, as the schemes pass
    assert fb._mb is not None and fb._table is None  # only the IFMA table was built
    assert fb.nbytes == fb._mb.nbytes
    assert fb.pow_many(exps[:fixedbase.MB_MIN_BATCH - 1]) == expected[:fixedbase.MB_MIN_BATCH - 1]
    assert fb._table is not None  # a small batch used (and built) the gmpy2 table
    monkeypatch.setenv(BACKEND_ENV, "gmpy2")
    assert not mbfixed.supports(m)
    monkeypatch.setattr(mbfixed.MbFixedBase, "pow_many", _must_not_run)
    assert fb.pow_many(exps) == expected
    restored = pickle.loads(pickle.dumps(fb))
    assert restored.pow_many(exps) == expected and restored._mb is None


def _must_not_run(*_: object) -> None:
    raise AssertionError("the IFMA path ran although it is turned off")


@pytest.mark.parametrize("mod_bits", [2048, 4096])
def test_fixedbase_without_ifma(monkeypatch: pytest.MonkeyPatch, mod_bits: int) -> None:
    monkeypatch.setattr(crypto_mb, "load", lambda: None)
    m = _odd_modulus(mod_bits)
    base = mpz(secrets.randbelow(int(m)))
    fb = FixedBase(base, m, 224, 8)
    exps = _exponents(224, 9)
    assert not mbfixed.supports(m)
    assert fb.pow_many(exps) == [gmpy2.powmod(base, e, m) for e in exps]
    assert fb._mb is None


@needs_ifma
def test_even_and_oversized_moduli_stay_on_gmpy2() -> None:
    for m in (_odd_modulus(2048) + 1, _odd_modulus(4200)):
        fb = FixedBase(7, m, 128, 8)
        exps = _exponents(128, 9)
        assert fb.pow_many(exps) == [gmpy2.powmod(7, e, m) for e in exps]
        assert fb._mb is None
