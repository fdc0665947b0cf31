from __future__ import annotations

import pickle
import secrets

import gmpy2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hulian.crypto.he.fixedbase import FixedBase

MOD = gmpy2.next_prime(gmpy2.mpz(secrets.randbits(512)) | (1 << 511)) * 3
BASE = gmpy2.mpz(secrets.randbelow(int(MOD)))


@pytest.mark.parametrize("window", [1, 3, 8, 11])
def test_pow_matches_powmod(window: int) -> None:
    fb = FixedBase(BASE, MOD, 200, window)
    for e in [0, 1, 2, (1 << 200) - 1, 1 << 199, *(secrets.randbits(200) for _ in range(20))]:
        assert fb.pow(e) == gmpy2.powmod(BASE, e, MOD)


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=(1 << 130) - 1))
def test_pow_many_matches_powmod(e: int) -> None:
    fb = _TABLE
    assert fb.pow_many([e, e + 1 if e + 1 < 1 << 130 else 0]) == [
        gmpy2.powmod(BASE, e, MOD), gmpy2.powmod(BASE, e + 1 if e + 1 < 1 << 130 else 0, MOD)]


_TABLE = FixedBase(BASE, MOD, 130, 7)


def test_exponent_outside_the_table_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        _TABLE.pow(1 << 130)
    with pytest.raises(ValueError, match="outside"):
        _TABLE.pow(-1)


def test_pickles_as_parameters_and_rebuilds() -> None:
    _TABLE.pow(1)  # tables are built on first use
    data = pickle.dumps(_TABLE)
    assert len(data) < 1000 < _TABLE.nbytes
    assert pickle.loads(data).pow(12345) == gmpy2.powmod(BASE, 12345, MOD)


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        FixedBase(2, 2, 10)
    with pytest.raises(ValueError):
        FixedBase(2, 101, 10, 0)
