from __future__ import annotations

import numpy as np
import pytest
from gmpy2 import mpz
from hypothesis import given, settings
from hypothesis import strategies as st

from hulian.crypto.he.base import HeError
from hulian.crypto.he.encoding import GUARD_BITS, FixedPoint, Packer

M = (1 << 1023) + 1155  # any odd modulus; the encoding never needs it prime
FP = FixedPoint(M)
LIMIT = FP.max_encoded  # M >> 64
finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False)

settings.register_profile("he", max_examples=60, deadline=None)
settings.load_profile("he")


@given(st.lists(finite, min_size=1, max_size=20))
def test_float_round_trip_within_half_an_ulp_of_the_fixed_point(xs: list[float]) -> None:
    back = FP.decode_many(FP.encode_many(xs))
    assert np.all(np.abs(back - np.array(xs)) <= 2.0 ** -(FP.frac_bits + 1) + 1e-12 * np.abs(xs))


@given(st.lists(st.integers(-(1 << 60), 1 << 60), min_size=1, max_size=20))
def test_integers_are_exact(xs: list[int]) -> None:
    enc = FP.encode_many(np.array(xs, dtype=np.int64))
    assert all(0 <= e < M for e in enc)
    assert FP.decode_signed_many(enc) == [x << FP.frac_bits for x in xs]
    assert FixedPoint(M, 0).decode_many(FixedPoint(M, 0).encode_many(xs)).tolist() == xs


@given(finite, finite, st.integers(-1000, 1000))
def test_sums_and_products_of_residues_decode(x: float, y: float, k: int) -> None:
    ex, ey = FP.encode_many([x, y])
    assert FP.decode_many([(ex + ey) % M])[0] == pytest.approx(x + y, abs=1e-9)
    assert FP.decode_many([ex * (k % M) % M])[0] == pytest.approx(x * k, abs=1e-6)
    (ek,) = FP.encode_many([k / 7])
    assert FP.decode_many([ex * ek % M], scale=2)[0] == pytest.approx(x * k / 7, rel=1e-9, abs=1e-6)


def test_limits_exactly() -> None:
    assert FP.decode_signed_many([LIMIT, M - LIMIT]) == [LIMIT, -LIMIT]
    for bad in (LIMIT + 1, M - LIMIT - 1, M // 2):
        with pytest.raises(HeError, match="outside the encoding's range"):
            FP.decode_signed_many([bad])
    top = LIMIT >> FP.frac_bits
    assert FP.decode_signed_many(FP.encode_many([top, -top])) == [top << 32, -(top << 32)]
    with pytest.raises(HeError, match="too large"):
        FP.encode_many([top + 1])
    with pytest.raises(HeError, match="too large"):
        FixedPoint(1 << 200).encode_many([1e300])
    with pytest.raises(HeError, match="NaN"):
        FP.encode_many([float("nan")])
    with pytest.raises(HeError, match="does not fit"):
        FixedPoint(1 << (GUARD_BITS + 40), 32)


def test_overflowed_sum_is_an_error_not_a_wrong_number() -> None:
    top = LIMIT >> FP.frac_bits
    (e,) = FP.encode_many([top])
    with pytest.raises(HeError):
        FP.decode_many([(e * 3) % M])
    with pytest.raises(HeError):
        FP.decode_many([M // 3])  # a residue as a wrong key would give


def test_packer() -> None:
    pk = Packer(M, bits=40, headroom=8)
    assert pk.slots == 1022 // 40
    values = np.arange(100) * 12345
    packed = pk.pack(values)
    assert len(packed) == -(-100 // pk.slots)
    assert pk.unpack(packed, 100).tolist() == values.tolist()
    doubled = [2 * p for p in packed]  # a ciphertext sum of two packed plaintexts
    assert pk.unpack(doubled, 100).tolist() == (2 * values).tolist()
    with pytest.raises(HeError, match="must lie in"):
        pk.pack([1 << 32])
    with pytest.raises(HeError, match="must lie in"):
        pk.pack([-1])
    with pytest.raises(HeError, match="at most"):
        Packer(M, bits=40, slots=30)


def test_a_scale_no_value_can_have_is_refused() -> None:
    """A peer's array header names its scale; one beyond the range must be refused before anything is built
    from it (2^(32·(2^31-1)) would take 8 GiB)."""
    enc = FixedPoint(mpz(1) << 2048)
    enc.check_scale(1)
    enc.check_scale(62)   # 62 x 32 bits fit the 1985-bit range, 63 do not
    for bad in (0, 63, 2**31 - 1):
        with pytest.raises(HeError, match="scale"):
            enc.check_scale(bad)
