"""XOR (boolean) sharing beside semi2k's additive one: bits that comparisons produce, the secure AND of XOR-shared
words, and the conversion of a shared bit back to an additive share.

A bit b is held as b0 ^ b1. XOR and NOT are local; an AND of XOR-shared 64-bit words takes one round with an AND
triple (a, b, c = a & b): the parties open d = x ^ a and e = y ^ b (uniform to whoever sees them) and set
z = c ^ (d & b) ^ (e & a) (^ d & e at rank 0). Protocols that AND many bits pack 64 of them in a word first.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from hulian.crypto.ss import ring
from hulian.mpc.channel import MpcError, pieces
from hulian.mpc.semi2k import AShare, Semi2k, Shares, counted
from hulian.mpc.triples import resolve


@dataclass(eq=False)
class BShare(Shares):
    """This party's XOR share of bits: one bit per element, in the low bit of a uint64 (the other bits are 0)."""

    def __repr__(self) -> str:
        return f"BShare(shape={self.shape})"   # the share's bits are not shown

    def __invert__(self) -> BShare:
        """NOT, local: rank 0 flips its share."""
        return BShare(self.session, self.data ^ ring.ONE if self.session.rank == 0 else self.data)

    def __xor__(self, other: BShare) -> BShare:
        return BShare(self.session, self.data ^ other.data)

    def __and__(self, other: BShare) -> BShare:
        return and_bits(self.session, self, other)

    def __getitem__(self, index: Any) -> BShare:
        return BShare(self.session, self.data[index])

    def reshape(self, *shape: int) -> BShare:
        return BShare(self.session, self.data.reshape(*shape))


@counted
def and_words(session: Semi2k, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """This party's XOR share of x & y for XOR-shared uint64 words (64 independent ANDs per word): one round per
    piece of CHUNK_WORDS words, one AND triple per word."""
    if x.shape != y.shape:
        raise MpcError(f"AND of word arrays of shapes {x.shape} and {y.shape}")
    xs, ys = x.reshape(-1), y.reshape(-1)
    out = np.empty_like(xs)
    for piece in pieces(xs.size):
        n = piece.stop - piece.start
        a, b, c = session.triples.and_(n)
        xp, yp = xs[piece], ys[piece]
        opened = session.channel.exchange("and", np.concatenate([xp ^ a, yp ^ b]))
        d = xp ^ a ^ opened[:n]
        e = yp ^ b ^ opened[n:]
        z = resolve(c) ^ (d & b) ^ (e & a)
        if session.rank == 0:
            z ^= d & e
        out[piece] = z
    return out.reshape(x.shape)


@counted
def and_bits(session: Semi2k, x: BShare, y: BShare) -> BShare:
    """x AND y elementwise: the bits go 64 to a word, so n ANDs cost n/4 bytes each way (one round)."""
    if x.shape != y.shape:
        raise MpcError(f"AND of bit shares of shapes {x.shape} and {y.shape}")
    z = and_words(session, ring.pack_bits(x.data), ring.pack_bits(y.data))
    return BShare(session, ring.unpack_bits(z, x.size).astype(np.uint64).reshape(x.shape))


@counted
def reveal_bits(session: Semi2k, b: BShare, to: int | None = None) -> np.ndarray | None:
    """The bits of `b` (numpy bool) at both parties (to=None) or at rank `to` only (the other gets None); the bits
    travel 64 to a word."""
    topic = session.channel.topic("reveal-bits")
    mine = ring.pack_bits(b.data)
    if to is None or to != session.rank:
        session.channel.send(topic, mine)
    if to is not None and to != session.rank:
        return None
    theirs = session.channel.recv(topic, mine.shape)
    return ring.unpack_bits(mine ^ theirs, b.size).astype(bool).reshape(b.shape)


@counted
def b2a(session: Semi2k, b: BShare) -> AShare:
    """The bits of `b` as an additive share of integers 0/1 (fxp=0): b0 ^ b1 = b0 + b1 - 2 b0 b1, the product of
    the two parties' own bits by one Beaver product (one round, 16 bytes per bit each way)."""
    mine = b.data & ring.ONE
    zero = np.zeros_like(mine)
    left = AShare(session, mine if session.rank == 0 else zero, 0)
    right = AShare(session, zero if session.rank == 0 else mine, 0)
    both = session.mul(left, right)   # fxp 0 on both sides: no truncation
    return AShare(session, mine - ring.U64(2) * both.data, 0)


@counted
def select(session: Semi2k, cond: BShare, x: AShare | ArrayLike, y: AShare | ArrayLike) -> AShare:
    """x where cond is 1, y where it is 0 (y + cond * (x - y)): b2a and one product, two rounds. At least one of x
    and y is a share; a public one is encoded at the other's scale."""
    if not isinstance(x, AShare) and not isinstance(y, AShare):
        raise MpcError("select needs x or y as a share; for two public arrays reveal cond instead")
    diff = x - y if isinstance(x, AShare) else session.add(session.neg(y), x)
    if diff.shape != cond.shape:
        raise MpcError(f"select: cond has shape {cond.shape}, the values {diff.shape}; broadcast them first")
    picked = session.mul(b2a(session, cond), diff)   # fxp 0 times diff's scale: no truncation
    return session.add(picked, y)
