"""Comparisons of semi2k shares by bit decomposition: the sign bit (MSB) of x = x0 + x1 mod 2^64 as an XOR-shared
bit, and equality, each from AND gates on the two parties' own share words.

MSB. Let w_i = x_i << 1 (the low 63 bits, moved up so that bit 0 is a zero and the word has 64 positions). Then
msb(x) = msb(x0) ^ msb(x1) ^ carry, where carry is the carry out of w0 + w1: the group generate of a 64-position
adder with generate g = w0 & w1 (one AND, each operand known to one party) and propagate p = w0 ^ w1 (local: each
party's XOR share of p is its own w). The carry is reduced by a binary tree: groups (2i, 2i+1) combine as
G = G_hi ^ (P_hi & G_lo), P = P_hi & P_lo, six levels of one round each (P of the last level is not needed).

Layout. Each party reverses the bit order of its word once, so that at every level the two halves of a lane are
the low and the high groups of each pair: a level is a few shifts and masks and one AND of whole words, and its
k-bit results go to k-bit lanes of half as many words (the second half of the words is shifted into the free high
halves of the first). What a level sends shrinks with the groups: per element 16 + 16 + 8 + 4 + 2 + 1 + 0.25
bytes each way (~47 bytes) in 7 rounds, with 2.95 AND-triple words per element.

Equality: z = x - y is 0 iff u = z0 equals v = -z1 (each known to one party), i.e. iff every bit of ~(u ^ v) is
1; its XOR shares are ~u (rank 0) and v (rank 1), and their 64 bits are AND-reduced in 6 rounds of halving lanes
(~16 bytes per element each way).

Both are exact for any x (equality) and any x whose value is in (-2^63, 2^63) as a ring element: a comparison of
two shares at one scale is exact when their difference is, i.e. for all |x|, |y| < 2^62 in the ring.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from hulian.crypto.ss import ring
from hulian.mpc.boolean import BShare, and_words, b2a, select
from hulian.mpc.channel import CHUNK_WORDS, MpcError
from hulian.mpc.semi2k import AShare, Semi2k, counted

LANE_BITS = 64


def _low_halves(k: int) -> np.uint64:
    """The mask of the low k bits of every 2k-bit lane of a word."""
    lane = (1 << k) - 1
    return ring.U64(sum(lane << s for s in range(0, LANE_BITS, 2 * k)))


_LOW = {k: _low_halves(k) for k in (1, 2, 4, 8, 16, 32)}


def _index_swap(a: int, b: int) -> tuple[np.uint64, np.uint64]:
    """The delta swap (shift, mask) that exchanges bits a and b of every bit position's 6-bit index (a < b)."""
    mask = sum(1 << p for p in range(LANE_BITS) if p >> a & 1 and not p >> b & 1)
    return ring.U64((1 << b) - (1 << a)), ring.U64(mask)


_SWAPS = [_index_swap(0, 5), _index_swap(1, 4), _index_swap(2, 3)]


def _reverse(words: np.ndarray) -> np.ndarray:
    """Bit p of each word moved to position rev(p), its 6-bit index reversed (three delta swaps)."""
    for shift, mask in _SWAPS:
        t = ((words >> shift) ^ words) & mask
        words = words ^ t ^ (t << shift)
    return words


def _halve(words: np.ndarray, k: int) -> np.ndarray:
    """Words whose 2k-bit lanes hold k-bit values in their low halves -> half as many words of k-bit lanes: the
    second half of the array moves into the high halves of the first."""
    half = words.size // 2
    return words[:half] | (words[half:] << ring.U64(k))


def _lanes_to_bits(words: np.ndarray, size: int) -> np.ndarray:
    """The 1-bit lanes after six halvings, in element order: element i + W*l is bit l of word i (W words)."""
    shifts = np.arange(LANE_BITS, dtype=np.uint64)[:, None]
    return ((words[None, :] >> shifts) & ring.ONE).reshape(-1)[:size]


def _padded(words: np.ndarray) -> np.ndarray:
    """Zero-pad to a multiple of 64 words, so the six halvings are exact."""
    return np.pad(words, (0, -words.size % LANE_BITS))


def _carry(session: Semi2k, w: np.ndarray) -> np.ndarray:
    """XOR shares of the carry out of w0 + w1 (64-bit words, one per element; a multiple of 64 of them), in the
    element order of _lanes_to_bits. Seven rounds."""
    w = _reverse(w)
    zero = np.zeros_like(w)
    gen = and_words(session, w, zero) if session.rank == 0 else and_words(session, zero, w)
    prop = w
    for k in (32, 16, 8, 4, 2):
        low, kk = _LOW[k], ring.U64(k)
        high_p = prop & ~low
        left = high_p | (high_p >> kk)                     # P_hi in both halves of each lane
        right = (gen & low) | ((prop & low) << kk)         # G_lo in the low half, P_lo in the high half
        both = and_words(session, left, right)             # [P_hi & G_lo | P_hi & P_lo]
        gen = _halve(((gen & ~low) >> kk) ^ (both & low), k)
        prop = _halve((both & ~low) >> kk, k)
    low, one = _LOW[1], ring.ONE                           # last level: only G = G_hi ^ (P_hi & G_lo)
    return _halve((gen & ~low) >> one, 1) ^ and_words(session, _halve((prop & ~low) >> one, 1),
                                                      _halve(gen & low, 1))


@counted
def msb(session: Semi2k, x: AShare) -> BShare:
    """The top bit of x's ring element (1 for negative values) as an XOR-shared bit: 7 rounds per piece of
    CHUNK_WORDS elements, ~47 bytes per element each way."""
    flat = x.data.reshape(-1)
    out = np.empty(flat.size, dtype=np.uint64)
    for start in range(0, flat.size, CHUNK_WORDS):
        part = flat[start:start + CHUNK_WORDS]
        carry = _lanes_to_bits(_carry(session, _padded(part << ring.ONE)), part.size)
        out[start:start + part.size] = ring.msb(part) ^ carry
    return BShare(session, out.reshape(x.shape))


def _difference(session: Semi2k, x: AShare | ArrayLike, y: AShare | ArrayLike) -> AShare:
    """x - y for shares at one scale, or a share and a public array (encoded at the share's scale)."""
    if isinstance(x, AShare):
        return x - y
    if isinstance(y, AShare):
        return session.add(session.neg(y), x)
    raise MpcError("a comparison needs at least one share; compare public arrays with numpy")


@counted
def less(session: Semi2k, x: AShare | ArrayLike, y: AShare | ArrayLike) -> BShare:
    """x < y: msb(x - y). Exact when x - y is in (-2^63, 2^63) as a ring element (all |x|, |y| < 2^62)."""
    return msb(session, _difference(session, x, y))


@counted
def greater(session: Semi2k, x: AShare | ArrayLike, y: AShare | ArrayLike) -> BShare:
    """x > y: msb(y - x)."""
    return msb(session, _difference(session, y, x))


@counted
def less_equal(session: Semi2k, x: AShare | ArrayLike, y: AShare | ArrayLike) -> BShare:
    """x <= y: NOT (x > y)."""
    return ~greater(session, x, y)


@counted
def greater_equal(session: Semi2k, x: AShare | ArrayLike, y: AShare | ArrayLike) -> BShare:
    """x >= y: NOT (x < y)."""
    return ~less(session, x, y)


@counted
def equal(session: Semi2k, x: AShare | ArrayLike, y: AShare | ArrayLike) -> BShare:
    """x == y as ring elements (exact for any shares at one scale): 6 rounds per piece, ~16 bytes per element
    each way."""
    z = _difference(session, x, y)
    flat = z.data.reshape(-1)
    out = np.empty(flat.size, dtype=np.uint64)
    for start in range(0, flat.size, CHUNK_WORDS):
        part = flat[start:start + CHUNK_WORDS]
        t = _padded(~part if session.rank == 0 else np.negative(part))   # ~u at rank 0, v = -z1 at rank 1
        for k in (32, 16, 8, 4, 2, 1):
            low = _LOW[k]
            t = and_words(session, _halve(t & low, k), _halve((t >> ring.U64(k)) & low, k))
        out[start:start + part.size] = _lanes_to_bits(t, part.size)
    return BShare(session, out.reshape(z.shape))


@counted
def relu(session: Semi2k, x: AShare) -> AShare:
    """max(x, 0) = x * NOT msb(x): msb, b2a and one product (9 rounds); exact."""
    return session.mul(b2a(session, ~msb(session, x)), x)


@counted
def maximum(session: Semi2k, x: AShare | ArrayLike, y: AShare | ArrayLike) -> AShare:
    """The elementwise maximum: x where x > y, else y (exact as `greater`)."""
    return select(session, greater(session, x, y), x, y)


@counted
def minimum(session: Semi2k, x: AShare | ArrayLike, y: AShare | ArrayLike) -> AShare:
    """The elementwise minimum: x where x < y, else y."""
    return select(session, less(session, x, y), x, y)


@counted
def absolute(session: Semi2k, x: AShare) -> AShare:
    """|x| = x * (1 - 2 msb(x)): msb, b2a and one product (9 rounds); exact."""
    sign = b2a(session, msb(session, x))
    return session.mul(AShare(session, (ring.ONE if session.rank == 0 else ring.U64(0)) - ring.U64(2) * sign.data,
                              0), x)
