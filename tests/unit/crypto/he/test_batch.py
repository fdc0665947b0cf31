"""The native batch product (`_batch.mulmod_many`) and what stands on it: add_many and sum_many."""
from __future__ import annotations

import secrets

import gmpy2
import pytest

from hulian.crypto.he import _batch
from hulian.crypto.he.base import HeError
from hulian.crypto.he.ou import generate_ou
from hulian.crypto.he.paillier import PaillierSecretKey

MOD = gmpy2.mpz(secrets.randbits(2048) | 1 | (1 << 2047))


def _residues(count: int) -> list[gmpy2.mpz]:
    return [gmpy2.mpz(secrets.randbelow(int(MOD))) for _ in range(count)]


@pytest.mark.parametrize("count", [0, 1, 31, 64, 1000])   # one thread, the edge of splitting, split
@pytest.mark.parametrize("threads", [1, 2, 7])
def test_mulmod_many_equals_gmpy2_for_every_split(count: int, threads: int) -> None:
    a, b = _residues(count), _residues(count)
    a[:1] = [gmpy2.mpz(0)] * min(count, 1)    # zero and the modulus minus one are residues too
    b[-1:] = [MOD - 1] * min(count, 1)
    got = _batch.mulmod_many(a, b, MOD, threads)
    assert got == [x * y % MOD for x, y in zip(a, b, strict=True)]
    assert all(type(r) is gmpy2.mpz for r in got)
    assert len({id(r) for r in got}) == count  # fresh objects, never a shared cached one
    assert _batch.mulmod_many([int(x) for x in a], tuple(b), MOD, threads) == got  # ints and tuples are taken


def test_mulmod_many_leaves_its_inputs_alone_and_results_outlive_them() -> None:
    a, b = _residues(100), _residues(100)
    before = list(map(int, a)), list(map(int, b))
    got = _batch.mulmod_many(a, b, MOD, 2)
    assert (list(map(int, a)), list(map(int, b))) == before
    expected = [x * y % MOD for x, y in zip(a, b, strict=True)]
    del a, b
    assert got == expected


def test_mulmod_many_refuses_what_is_not_a_residue_with_a_message() -> None:
    a = _residues(3)
    with pytest.raises(TypeError, match=r"a\[1\] is float, not an integer"):
        _batch.mulmod_many([a[0], 5.0, a[2]], a, MOD, 2)
    with pytest.raises(ValueError, match=r"b\[2\] is negative"):
        _batch.mulmod_many(a, [a[0], a[1], gmpy2.mpz(-1)], MOD, 2)
    with pytest.raises(ValueError, match="a has 3 items but b has 2"):
        _batch.mulmod_many(a, a[:2], MOD, 2)
    with pytest.raises(ValueError, match="modulus must be a positive"):
        _batch.mulmod_many(a, a, gmpy2.mpz(0), 2)


def test_add_many_and_sum_many_decrypt_to_sums(paillier_sk: PaillierSecretKey) -> None:
    for sk in (paillier_sk, generate_ou(1024, allow_insecure_keys=True)):
        pk = sk.public
        xs = [secrets.randbelow(1 << 32) for _ in range(101)]   # odd: a level with a left-over item
        ys = [secrets.randbelow(1 << 32) for _ in range(101)]
        cx, cy = pk.encrypt_many(xs), pk.encrypt_many(ys)
        assert sk.decrypt_many(pk.add_many(cx, cy)) == [x + y for x, y in zip(xs, ys, strict=True)]
        assert sk.decrypt(pk.sum_many(cx)) == sum(xs)
        assert sk.decrypt(pk.sum_many(cx[:1])) == xs[0]
        with pytest.raises(HeError, match="2 ciphertexts added to 1"):
            pk.add_many(cx[:2], cy[:1])
        with pytest.raises(HeError, match="sum of no ciphertexts"):
            pk.sum_many([])
