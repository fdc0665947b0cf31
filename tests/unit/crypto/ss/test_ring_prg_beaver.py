"""The pure share arithmetic: fixed point, the PRG a dealer replays, and the dealer's adjustments."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hulian.crypto.ss import _ring, beaver, ring
from hulian.crypto.ss.prg import Prg, PrgBuffer, blocks, stream

U64 = np.uint64


@given(st.floats(min_value=-2.0 ** 44, max_value=2.0 ** 44, allow_nan=False))
def test_encode_decode_within_half_an_ulp(x: float) -> None:
    assert abs(ring.decode(ring.encode([x], 18), 18)[0] - x) <= 2.0 ** -19


def test_encode_refuses_what_would_wrap() -> None:
    with pytest.raises(ring.RingError, match="2\\^45"):
        ring.encode([2.0 ** 45], 18)
    with pytest.raises(ring.RingError):
        ring.encode([float("nan")], 18)
    assert ring.decode(ring.encode([-(2.0 ** 45) + 1], 18), 18)[0] == -(2.0 ** 45) + 1


def test_integers_at_fxp_zero_are_two_complement() -> None:
    enc = ring.encode(np.array([-1, 5]), 0)
    assert enc.tolist() == [2 ** 64 - 1, 5]
    assert ring.signed(enc).tolist() == [-1, 5]


def test_matmul_wraps_mod_2_64() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 2 ** 64, size=(7, 5), dtype=U64)
    b = rng.integers(0, 2 ** 64, size=(5, 3), dtype=U64)
    want = [[sum(int(a[i, k]) * int(b[k, j]) for k in range(5)) % 2 ** 64 for j in range(3)] for i in range(7)]
    assert ring.matmul(a, b).tolist() == want
    with pytest.raises(ValueError, match="do not chain"):
        ring.matmul(a, a)


def test_prg_buffers_replay_from_their_metadata() -> None:
    prg = Prg()
    first, m1 = prg.next(5)
    second, m2 = prg.next(3)
    assert m1 == PrgBuffer(0, 5) and m2 == PrgBuffer(blocks(5), 3) and blocks(5) == 3
    assert (stream(prg.seed, m1.prg_count, m1.size) == first).all()
    assert (stream(prg.seed, m2.prg_count, m2.size) == second).all()
    assert not np.array_equal(first[:3], second)
    assert "seed" not in repr(prg)


def test_prg_is_aes_ctr_keyed_by_the_seed() -> None:
    # known answer: AES-128 of the all-zero block under the all-zero key (FIPS-197 / NIST vectors)
    words = stream(bytes(16), 0, 2)
    assert words.tobytes().hex() == "66e94bd4ef8a2c3b884cfa59ca342b2e"


def _shares(prgs: list[Prg], size: int) -> tuple[list[np.ndarray], PrgBuffer]:
    drawn = [p.next(size) for p in prgs]
    return [d[0] for d in drawn], drawn[0][1]


def test_adjustments_make_correct_triples() -> None:
    prgs = [Prg(), Prg()]
    seeds = [p.seed for p in prgs]
    (a, ma), (b, mb), (c, mc) = (_shares(prgs, 6) for _ in range(3))
    [adj] = beaver.adjust_mul(seeds, [ma, mb, mc], beaver.FIELD_64)
    assert ((a[0] + a[1]) * (b[0] + b[1]) == c[0] + c[1] + adj).all()
    [adj] = beaver.adjust_and(seeds, [ma, mb, mc], beaver.FIELD_64)
    assert ((a[0] ^ a[1]) & (b[0] ^ b[1]) == c[0] ^ c[1] ^ adj).all()
    [adj] = beaver.adjust_mul(seeds, [ma, ma, mc], beaver.FIELD_64)   # a square pair
    assert ((a[0] + a[1]) ** 2 == c[0] + c[1] + adj).all()


def test_dot_adjustment() -> None:
    prgs = [Prg(), Prg()]
    (a, ma), (b, mb), (c, mc) = (_shares(prgs, n) for n in (6, 12, 8))
    [adj] = beaver.adjust_dot([p.seed for p in prgs], [ma, mb, mc], beaver.FIELD_64, 2, 4, 3)
    lhs = ring.matmul((a[0] + a[1]).reshape(2, 3), (b[0] + b[1]).reshape(3, 4))
    assert (lhs == (c[0] + c[1] + adj).reshape(2, 4)).all()
    with pytest.raises(beaver.BeaverError, match="do not match"):
        beaver.adjust_dot([p.seed for p in prgs], [ma, mb, mc], beaver.FIELD_64, 4, 2, 3)


def test_trunc_pr_and_rand_bit_adjustments() -> None:
    prgs = [Prg(), Prg()]
    seeds = [p.seed for p in prgs]
    (r, mr), (rb, mb), (rc, mc) = (_shares(prgs, 9) for _ in range(3))
    adj1, adj2 = beaver.adjust_trunc_pr(seeds, [mr, mb, mc], beaver.FIELD_64, 18)
    total = r[0] + r[1]
    assert (adj1 + rb[0] + rb[1] == (total << U64(1)) >> U64(19)).all()
    assert (adj2 + rc[0] + rc[1] == total >> U64(63)).all()
    [bits] = beaver.adjust_rand_bit(seeds, [mr], beaver.FIELD_64)
    assert set((bits + r[0] + r[1]).tolist()) <= {0, 1}
    [t] = beaver.adjust_trunc(seeds, [mr, mb], beaver.FIELD_64, 18)
    assert (t + rb[0] + rb[1] == ring.arshift(total, 18)).all()


@settings(max_examples=20)
@given(st.integers(min_value=0, max_value=5))
def test_dealer_refuses_other_fields_and_shapes(field: int) -> None:
    metas = [PrgBuffer(0, 4)] * 3
    if field == beaver.FIELD_64:
        beaver.adjust_mul([bytes(16)], metas, field)
        with pytest.raises(beaver.BeaverError, match="prg_inputs"):
            beaver.adjust_mul([bytes(16)], metas[:2], field)
    else:
        with pytest.raises(beaver.BeaverError, match="FM64"):
            beaver.adjust_mul([bytes(16)], metas, field)


KERNELS = ["scalar"] + (["avx2"] if _ring.KERNEL == "avx2" else [])


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("shape", [(40, 300, 40), (64, 600, 64), (33, 129, 70), (3, 5, 7), (1, 1000, 1),
                                   (200, 40, 1), (2, 8, 1100), (3, 300, 1030), (0, 4, 4), (4, 0, 4), (4, 4, 0)])
def test_native_matmul_is_exact(kernel: str, shape: tuple[int, int, int]) -> None:
    """Each native kernel against numpy's wrapping integer matmul, on random words and on the largest word
    everywhere: shapes with tails in every dimension (odd rows, columns not a multiple of the kernel's 4 or
    8), inner dimensions past one block of 256 (the later blocks add to the first), more columns than one
    block of 512 (and both at once), and empty ones (an empty inner dimension gives zeros)."""
    m, k, n = shape
    rng = np.random.default_rng(m * k + n)
    for a, b in ((rng.integers(0, 2 ** 64, size=(m, k), dtype=U64), rng.integers(0, 2 ** 64, size=(k, n), dtype=U64)),
                 (np.full((m, k), 2 ** 64 - 1, dtype=U64), np.full((k, n), 2 ** 64 - 1, dtype=U64))):
        out = np.full((m, n), 7, dtype=U64)
        _ring.matmul(a, b, out, m, k, n, kernel)
        assert (out == np.matmul(a, b)).all()


def test_matmul_takes_vectors_views_and_refuses_wrong_buffers() -> None:
    """ring.matmul: a vector b gives a vector; transposed (non-contiguous), misaligned and int64 inputs are
    read right; scalars are refused. The kernel refuses buffers that do not match their shape (also shapes
    whose byte size would wrap) and kernels this CPU lacks, so it never reads or writes past a buffer."""
    rng = np.random.default_rng(5)
    a, b = rng.integers(0, 2 ** 64, size=(6, 9), dtype=U64), rng.integers(0, 2 ** 64, size=(9, 6), dtype=U64)
    assert ring.matmul(a, b[:, 0]).shape == (6,) and (ring.matmul(a, b[:, 0]) == np.matmul(a, b[:, 0])).all()
    assert (ring.matmul(b.T, a.T) == np.matmul(b.T, a.T)).all()
    assert (ring.matmul(a.view(np.int64), b) == np.matmul(a, b)).all()
    misaligned = np.frombuffer(b"\0" + a.tobytes(), dtype=U64, offset=1).reshape(6, 9)
    assert misaligned.ctypes.data % 8 and (ring.matmul(misaligned, b) == np.matmul(a, b)).all()
    for x, y in ((a[:, :1], np.uint64(3)), (np.uint64(3), b)):
        with pytest.raises(ValueError, match="a matrix times a matrix or vector"):
            ring.matmul(x, y)
    out = np.empty((6, 6), dtype=U64)
    with pytest.raises(ValueError, match="b holds 384 bytes, not the 432"):
        _ring.matmul(a, b[:-1], out, 6, 9, 6, _ring.KERNEL)
    with pytest.raises(ValueError, match="not available"):
        _ring.matmul(a, b, out, 6, 9, 6, "neon")
    with pytest.raises(ValueError, match="negative"):
        _ring.matmul(a, b, out, -6, 9, 6, _ring.KERNEL)
    with pytest.raises(ValueError, match="more than memory can hold"):    # 2^61 x 8 bytes would wrap to 0
        _ring.matmul(np.empty(0, dtype=U64), np.zeros(1, dtype=U64), np.empty(0, dtype=U64), 2 ** 61, 1, 1, "scalar")
    with pytest.raises(ValueError, match="not C-contiguous"):
        _ring.matmul(a, b, np.empty((6, 6), dtype=U64)[:, ::-1].T, 6, 9, 6, _ring.KERNEL)


@settings(max_examples=30)
@given(st.lists(st.integers(min_value=0, max_value=2 ** 64 - 1), max_size=200))
def test_bits_pack_64_to_a_word_first_bit_lowest(values: list[int]) -> None:
    """pack_bits keeps each element's low bit only, bit i of the input at bit i % 64 of word i // 64 (the
    last word zero-padded); unpack_bits gives the first `count` back."""
    elements = np.array(values, dtype=U64)
    words = ring.pack_bits(elements)
    assert words.dtype == U64 and words.size == -(-len(values) // 64)
    want = sum((v & 1) << i for i, v in enumerate(values))
    assert sum(int(w) << (64 * j) for j, w in enumerate(words)) == want
    assert ring.unpack_bits(words, len(values)).tolist() == [v & 1 for v in values]
