"""Two-party semi-honest additive secret sharing over Z_2^64 (semi2k), fixed point at `fxp` fraction bits.

x is held as x0 + x1 mod 2^64, one share per party. Linear operations are local; a product takes one round
with a Beaver triple (a, b, c = ab) from the session's `Triples`: the parties open e = x - a and f = y - b
(uniformly random to whoever sees them) and set z = c + e*b + f*a (+ e*f at rank 0).

A product of two fixed-point values carries 2*fxp fraction bits and is truncated back:
- PRECISE (the default): exact for |x| < 2^62 in the ring, result within one unit in the last place (unbiased
  stochastic rounding). With a dealer: its TruncPr correlation (interconnection AdjustTruncPr), one opened
  word per element. Without (HE triples): x' = x + 2^62 has top bit 0, so with m_i the top bit of party i's
  share the shares wrap past 2^64 exactly when m0 OR m1 (= m0 + m1 - m0 m1: one Beaver product), and
  (x0' >> f) + (x1' >> f) - wrap * 2^(64-f) is x' >> f up to a carry of one.
- PROBABILISTIC: the local SecureML truncation (no round), wrong by a huge amount with probability about
  |x| / 2^63 per element: only for values known to be small.

Elementwise operations run in pieces of CHUNK_WORDS elements, so memory stays bounded for any input size
(the shares themselves aside) and each piece is one message per round.
"""
from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike

from hulian.crypto.ss import ring
from hulian.crypto.ss.prg import SEED_BYTES, Prg
from hulian.federation import Traffic
from hulian.mpc.channel import MpcError, PeerChannel, pieces
from hulian.mpc.triples import Triples, resolve

PRECISE, PROBABILISTIC = "precise", "probabilistic"
MAX_SHARE = 1 << 31   # elements of one shared array (16 GiB of shares): a header beyond it is refused
_TWO62 = ring.U64(1 << 62)
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(eq=False)
class Shares:
    """This party's share words of an array in a session (what AShare and BShare have in common)."""

    session: Semi2k
    data: np.ndarray
    __array_ufunc__ = None   # `array + share` comes to our __radd__, not numpy's elementwise loop over us

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def size(self) -> int:
        return self.data.size


@dataclass(eq=False)
class AShare(Shares):
    """This party's additive share of an array, and the fixed-point scale (fraction bits) it is encoded at."""

    fxp: int

    def __repr__(self) -> str:
        return f"AShare(shape={self.shape}, fxp={self.fxp})"   # the share's words are not shown

    def __add__(self, other: AShare | ArrayLike) -> AShare:
        return self.session.add(self, other)

    __radd__ = __add__

    def __sub__(self, other: AShare | ArrayLike) -> AShare:
        return self.session.add(self, self.session.neg(other) if isinstance(other, AShare) else np.negative(other))

    def __rsub__(self, other: ArrayLike) -> AShare:
        return self.session.add(self.session.neg(self), other)

    def __neg__(self) -> AShare:
        return self.session.neg(self)

    def __mul__(self, other: AShare | ArrayLike) -> AShare:
        return self.session.mul(self, other)

    __rmul__ = __mul__

    def __matmul__(self, other: AShare) -> AShare:
        return self.session.matmul(self, other)

    def __getitem__(self, index: Any) -> AShare:
        return AShare(self.session, self.data[index], self.fxp)

    def reshape(self, *shape: int) -> AShare:
        return AShare(self.session, self.data.reshape(*shape), self.fxp)

    def sum(self, axis: int | None = None) -> AShare:
        return AShare(self.session, np.sum(self.data, axis=axis, dtype=ring.U64), self.fxp)

    @property
    def T(self) -> AShare:
        return AShare(self.session, self.data.T, self.fxp)


def _check_rank(rank: object, what: str) -> None:
    if rank not in (0, 1):
        raise ValueError(f"{what} must be rank 0 or 1 (the compute parties by party id order), not {rank!r}")


def counted(method: F) -> F:
    """Record the traffic of one public call in `session.last` (nested calls count in the outer one)."""
    @wraps(method)
    def wrapper(self: Semi2k, *args: Any, **kwargs: Any) -> Any:
        if self._depth:
            return method(self, *args, **kwargs)
        before = self.stats.copy()
        self._depth += 1
        try:
            return method(self, *args, **kwargs)
        finally:
            self._depth -= 1
            self.last = self.stats - before
    return wrapper  # type: ignore[return-value]


class Semi2k:
    """One party's side of a semi2k session with one peer. Not thread-safe: one session per thread."""

    def __init__(self, channel: PeerChannel, rank: int, triples: Triples, fxp: int = ring.DEFAULT_FXP,
                 trunc: str = PRECISE):
        if rank not in (0, 1):
            raise ValueError(f"semi2k has ranks 0 and 1, not {rank}")
        if not 0 < fxp < 31:
            raise ValueError(f"fxp (fraction bits) must be in 1..30, not {fxp}: products carry 2*fxp bits")
        if trunc not in (PRECISE, PROBABILISTIC):
            raise ValueError(f"trunc must be {PRECISE!r} or {PROBABILISTIC!r}, not {trunc!r}")
        self.channel, self.rank, self.triples, self.fxp, self.trunc_mode = channel, rank, triples, fxp, trunc
        self.stats: Traffic = channel.stats
        self.last = Traffic()
        self._depth = 0
        self._closed = False
        self._pair = self._pair_prg()

    def _pair_prg(self) -> Prg:
        """A PRG both parties seed alike (each contributes half the entropy): a shared random mask costs no
        message, so sharing an input is one small header."""
        mine = secrets.token_bytes(SEED_BYTES)
        topic = self.channel.topic("pair-seed")
        self.channel.send_bytes(topic, mine)
        theirs = self.channel.recv_bytes(topic)
        if len(theirs) != SEED_BYTES:
            raise MpcError(f"the peer's seed contribution has {len(theirs)} bytes, not {SEED_BYTES}")
        first, second = (mine, theirs) if self.rank == 0 else (theirs, mine)
        return Prg(hashlib.sha256(first + second).digest()[:SEED_BYTES])

    def _share(self, data: np.ndarray, fxp: int) -> AShare:
        return AShare(self, data, fxp)

    def _coerce(self, x: AShare | ArrayLike, fxp: int) -> AShare:
        """A public value as a share at `fxp` (rank 0 holds it, rank 1 holds zero)."""
        if isinstance(x, AShare):
            return x
        enc = ring.encode(x, fxp)
        return self._share(enc if self.rank == 0 else np.zeros_like(enc), fxp)

    # ---- in and out ----------------------------------------------------------------------------------
    @counted
    def share(self, x: ArrayLike | None, owner: int, fxp: int | None = None) -> AShare:
        """Secret-share `x`, given at rank `owner` (the other passes None). Floats are encoded at `fxp`
        (the session's by default); integers may be shared at fxp=0. One small message (shape and scale)."""
        _check_rank(owner, "owner")
        topic = self.channel.topic("share")
        if self.rank == owner:
            if x is None:
                raise ValueError("the owner of a shared input must give it")
            arr = np.asarray(x)
            scale = self.fxp if fxp is None else fxp
            enc = ring.encode(arr, scale)
            self.channel.send_bytes(topic, np.asarray([scale, arr.ndim, *arr.shape], dtype="<i8").tobytes())
            mask = self._pair.words(enc.size).reshape(enc.shape)
            return self._share(enc - mask, scale)
        raw = self.channel.recv_bytes(topic)
        header = np.frombuffer(raw, dtype="<i8") if len(raw) % 8 == 0 else np.zeros(0, dtype="<i8")
        if header.size < 2 or header[1] != header.size - 2 or (header[2:] < 0).any() or \
                not 0 <= header[0] < ring.RING_BITS - 1:
            raise MpcError(f"the peer's share header ({len(raw)} bytes: {header.tolist()}) is no [fxp, ndim, *shape]")
        shape = tuple(int(d) for d in header[2:])
        if math.prod(shape) > MAX_SHARE:
            raise MpcError(f"the peer shares {math.prod(shape)} elements; at most {MAX_SHARE} in one share")
        return self._share(self._pair.words(int(np.prod(shape, dtype=np.int64))).reshape(shape), int(header[0]))

    @counted
    def reveal(self, x: AShare, to: int | None = None) -> np.ndarray | None:
        """The value of `x` at both parties (to=None) or at rank `to` only (the other gets None): float64 for
        a fixed-point share, int64 for fxp=0."""
        if to is not None:
            _check_rank(to, "to")
        topic = self.channel.topic("reveal")
        if to is None or to != self.rank:
            self.channel.send(topic, x.data)
        if to is not None and to != self.rank:
            return None
        total = x.data + self.channel.recv(topic, x.shape)
        return ring.decode(total, x.fxp) if x.fxp else ring.signed(total)

    # ---- local -----------------------------------------------------------------------------------------
    def add(self, x: AShare, y: AShare | ArrayLike) -> AShare:
        y = self._coerce(y, x.fxp)
        if y.fxp != x.fxp:
            raise MpcError(f"adding shares at {x.fxp} and {y.fxp} fraction bits; truncate one first")
        return self._share(x.data + y.data, x.fxp)

    def neg(self, x: AShare) -> AShare:
        return self._share(np.negative(x.data), x.fxp)

    # ---- products --------------------------------------------------------------------------------------
    @counted
    def mul(self, x: AShare, y: AShare | ArrayLike, truncate: bool = True) -> AShare:
        """x * y elementwise (numpy broadcasting of a public y). A public y: integer arrays multiply the
        shares locally; floats are encoded at fxp and the product truncated. Two shares: a Beaver product
        (one round), then truncation back to x's scale when both carry fraction bits."""
        if not isinstance(y, AShare):
            arr = np.asarray(y)
            if arr.dtype.kind in "iub":
                return self._share(x.data * arr.astype(np.int64).view(ring.U64), x.fxp)
            z = self._share(x.data * ring.encode(arr, self.fxp), x.fxp + self.fxp)
            return self.trunc(z, self.fxp) if truncate else z
        if x.shape != y.shape:
            raise MpcError(f"multiplying shares of shapes {x.shape} and {y.shape}; broadcast them first")
        xs, ys = x.data.reshape(-1), y.data.reshape(-1)
        out = np.empty_like(xs)
        for piece in pieces(xs.size):
            out[piece] = self._beaver(xs[piece], ys[piece])
        z = self._share(out.reshape(x.shape), x.fxp + y.fxp)
        return self.trunc(z, y.fxp) if truncate and x.fxp and y.fxp else z

    def _open(self, step: str, x: np.ndarray, a: np.ndarray, y: np.ndarray, b: np.ndarray) -> tuple[np.ndarray,
                                                                                                 np.ndarray]:
        """e = x - a and f = y - b, opened in one round (the triple's random a and b make both uniform)."""
        n = x.size
        mine = np.empty(n + y.size, dtype=ring.U64)
        np.subtract(x.reshape(-1), a.reshape(-1), out=mine[:n])
        np.subtract(y.reshape(-1), b.reshape(-1), out=mine[n:])
        opened = self.channel.exchange(step, mine)
        opened += mine
        return opened[:n].reshape(x.shape), opened[n:].reshape(y.shape)

    def _beaver(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        a, b, c = self.triples.mul(x.size)
        e, f = self._open("mul", x, a, y, b)
        z = e * b
        z += f * a
        z += resolve(c)
        if self.rank == 0:
            z += e * f
        return z

    @counted
    def square(self, x: AShare, truncate: bool = True) -> AShare:
        """x * x with a square pair (a, a^2): one opened array instead of two."""
        xs = x.data.reshape(-1)
        out = np.empty_like(xs)
        for piece in pieces(xs.size):
            a, c = self.triples.square(piece.stop - piece.start)
            e = xs[piece] - a
            e = e + self.channel.exchange("square", e)
            z = resolve(c) + ring.U64(2) * e * a
            if self.rank == 0:
                z += e * e
            out[piece] = z
        z = self._share(out.reshape(x.shape), 2 * x.fxp)
        return self.trunc(z, x.fxp) if truncate and x.fxp else z

    @counted
    def matmul(self, x: AShare, y: AShare, truncate: bool = True) -> AShare:
        """x @ y for a matrix x and a matrix or vector y: one dot triple, one round."""
        if x.data.ndim != 2 or y.data.ndim not in (1, 2) or x.shape[1] != y.shape[0]:
            raise MpcError(f"matmul of shapes {x.shape} and {y.shape}: a matrix times a matrix or vector")
        vector = y.data.ndim == 1
        yd = y.data.reshape(y.shape[0], -1)
        z = self._beaver_matmul("matmul", x.data, yd)
        z = self._share(z.reshape(x.shape[0]) if vector else z, x.fxp + y.fxp)
        return self.trunc(z, y.fxp) if truncate and x.fxp and y.fxp else z

    # ---- truncation ------------------------------------------------------------------------------------
    @counted
    def trunc(self, x: AShare, bits: int | None = None, mode: str | None = None) -> AShare:
        """x / 2^bits (bits = x's surplus over the session's fxp by default) in the session's mode."""
        bits = x.fxp - self.fxp if bits is None else bits
        if bits <= 0:
            return x
        if (mode or self.trunc_mode) == PROBABILISTIC:
            if self.rank == 0:
                data = ring.arshift(x.data, bits)
            else:
                data = np.negative(ring.arshift(np.negative(x.data), bits))
            return self._share(data, x.fxp - bits)
        xs = x.data.reshape(-1)
        out = np.empty_like(xs)
        exact = self._trunc_pr if self.triples.has_trunc_pr else self._trunc_precise
        for piece in pieces(xs.size):
            out[piece] = exact(xs[piece], bits)
        return self._share(out.reshape(x.shape), x.fxp - bits)

    def _trunc_pr(self, x: np.ndarray, bits: int) -> np.ndarray:
        """The precise truncation with the dealer's TruncPr correlation (r, (r mod 2^63) >> bits, msb r): one
        opened word per element. With x' = x + 2^62 < 2^63 and c = x' + r opened, x' = (c mod 2^63) -
        (r mod 2^63) + b 2^63 where b = msb c XOR msb r, so x' >> bits is (c mod 2^63) >> bits - r_low + b
        2^(63-bits) up to a borrow of one, taken with probability the dropped fraction: unbiased rounding."""
        r, r_low, r_msb = self.triples.trunc_pr(x.size, bits)
        masked = (x + _TWO62 if self.rank == 0 else x) + r
        c = masked + self.channel.exchange("trunc", masked)
        c_msb, c_low = ring.msb(c), np.right_shift(np.left_shift(c, ring.ONE), ring.U64(bits + 1))
        r_msb = resolve(r_msb)
        b = r_msb - ring.U64(2) * c_msb * r_msb          # shares of msb c XOR msb r (msb c is public)
        out = np.left_shift(b, ring.U64(63 - bits)) - resolve(r_low)
        if self.rank == 0:
            out += np.left_shift(c_msb, ring.U64(63 - bits)) + c_low - ring.U64(1 << (62 - bits))
        return out

    def _trunc_precise(self, x: np.ndarray, bits: int) -> np.ndarray:
        # re-randomise the shares (a mask both parties draw alike, added by one and taken by the other): the
        # rounding is unbiased only if share 0's low bits are uniform, which a public product may have spoiled
        mask = self._pair.words(x.size)
        x = x + mask if self.rank == 0 else x - mask
        shifted = x + _TWO62 if self.rank == 0 else x
        top = ring.msb(shifted)
        mine, zero = top, np.zeros_like(top)
        both = self._beaver(mine if self.rank == 0 else zero, zero if self.rank == 0 else mine)   # m0 * m1
        wrap = top - both                  # shares of m0 + m1 - m0 m1 (each party adds its own bit)
        out = np.right_shift(shifted, ring.U64(bits)) - np.left_shift(wrap, ring.U64(ring.RING_BITS - bits))
        if self.rank == 0:                 # remove the 2^62 offset; +1 makes the rounding unbiased
            out += ring.U64((1 - (1 << (62 - bits))) % (1 << ring.RING_BITS))
        return out

    # ---- sums of products ------------------------------------------------------------------------------
    @counted
    def dot(self, x: AShare, y: AShare) -> AShare:
        """sum(x * y) truncated once: the raw sum must stay below 2^62 in the ring, i.e. |result| <
        2^(62 - 2 fxp) (6.7e7 at 18 bits); beyond it use (x * y).sum() (one truncation per element).
        Each piece is a (1 x p) @ (p x 1) product with a dot triple, so its c (and a dealer's adjustment) is
        one word, not p."""
        if x.shape != y.shape:
            raise MpcError(f"dot of shares of shapes {x.shape} and {y.shape}")
        xs, ys = x.data.reshape(-1), y.data.reshape(-1)
        total = np.zeros(1, dtype=ring.U64)
        for piece in pieces(xs.size):
            total += self._beaver_matmul("dot", xs[piece].reshape(1, -1), ys[piece].reshape(-1, 1)).reshape(1)
        z = self._share(total, x.fxp + y.fxp)
        return self.trunc(z, y.fxp if x.fxp and y.fxp else 0).reshape(())

    @counted
    def square_distance(self, x: AShare, y: AShare) -> AShare:
        """sum((x - y)^2), truncated once: exact (within the fixed-point bound) while the result is below
        2^(62 - 2 fxp) (6.7e7 at 18 bits), the range of `dot`; for larger distances truncate each square:
        `self.square(x - y).sum()` reaches 2^(63 - fxp) at one more round over all elements."""
        squares = self.square(x - y, truncate=False).sum()
        return self.trunc(squares.reshape(1)).reshape(())

    def _beaver_matmul(self, step: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """This party's share of x @ y (m x k and k x n share words) with a dot triple: one round."""
        a, b, c = self.triples.dot(x.shape[0], x.shape[1], y.shape[1])
        e, f = self._open(step, x, a, y, b)
        # c + e b + a f (+ e f at rank 0), as two products: rank 0 folds e f into (a + e) f. c comes last: a
        # dealer's adjustment is still on its way while the products are computed
        z = ring.matmul(e, b)
        z += ring.matmul(a + e if self.rank == 0 else a, f)
        z += resolve(c).reshape(z.shape)
        return z

    def close(self) -> None:
        """End the triple source's session (the dealer stops serving once both parties closed); once."""
        if not self._closed:
            self._closed = True
            self.triples.close()

    def __enter__(self) -> Semi2k:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        else:   # the peer or the dealer may be gone: wait for no one (nothing local needs freeing)
            self._closed = True
