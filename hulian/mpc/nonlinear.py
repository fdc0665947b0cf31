"""Nonlinear functions of semi2k shares: sigmoid (MINIMAX_1 and a piecewise polynomial), reciprocal and square
root. Errors are stated against the exact function of the encoded input, at the input's scale (`fxp` fraction
bits, ulp = 2^-fxp).

Common machinery: comparisons of x with public thresholds in one batched msb (7 rounds) and one b2a (1 round)
give bits beta_i = [x >= t_i] as additive 0/1 shares, so a value chosen per segment (a polynomial's centre and
coefficients, a power of 4) is a local linear combination of them; a polynomial is evaluated on powers computed
in ceil(log2 degree) layers of one product and one precise truncation each. Internal scales are as high as the
ring allows (30 fraction bits), so the final truncation to fxp dominates the error.

Polynomials are Chebyshev interpolants computed when the module loads; the tests check the stated bounds.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np
from numpy.polynomial import Chebyshev, Polynomial

from hulian.crypto.ss import ring
from hulian.mpc.boolean import b2a
from hulian.mpc.channel import CHUNK_WORDS
from hulian.mpc.compare import msb
from hulian.mpc.semi2k import AShare, Semi2k, counted

INNER = 30       # fraction bits of powers, coefficients and normalised values inside a function
SIGMOID_KNOTS = (0.0, 2.5, 6.25, 14.0)   # segments of x >= 0 (mirrored for x < 0); beyond the last, 0 or 1
SIGMOID_DEGREE = 7
RECIPROCAL_DEGREE = 16   # 1/m on m in [1, 4): Chebyshev interpolant, relative error 1.6e-8
SQRT_DEGREE = 12         # sqrt(m) on m in [1, 4): relative error 2.1e-8


def _interpolant(f: Callable[[np.ndarray], np.ndarray], lo: float, hi: float, degree: int) -> np.ndarray:
    """Monomial coefficients of the Chebyshev interpolant of f on [lo, hi] (in the variable itself)."""
    return Chebyshev.interpolate(f, degree, domain=[lo, hi]).convert(kind=Polynomial).coef


def _sigmoid_table() -> tuple[list[float], np.ndarray, np.ndarray]:
    """Thresholds, and per segment (one more than thresholds) the centre and the coefficients in w = (x - c)/4."""
    def sigmoid(x: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-x))

    centres, coefs = [], []
    scale = 4.0 ** np.arange(SIGMOID_DEGREE + 1)
    for a, b in itertools.pairwise(SIGMOID_KNOTS):
        c = (a + b) / 2
        q = _interpolant(lambda v, c=c: sigmoid(c + v), a - c, b - c, SIGMOID_DEGREE) * scale
        centres.append(c)
        coefs.append(q)
    below, above = np.zeros(SIGMOID_DEGREE + 1), np.eye(1, SIGMOID_DEGREE + 1)[0]   # 0 and 1 beyond the knots
    mirror = -(-1.0) ** np.arange(SIGMOID_DEGREE + 1)       # sigma(-c + v) = 1 - p(-v)
    negative = [(-c, np.concatenate([[1 - q[0]], (mirror * q)[1:]])) for c, q in zip(centres, coefs, strict=True)]
    rows = [(0.0, below), *reversed(negative), *zip(centres, coefs, strict=True), (0.0, above)]
    thresholds = [-t for t in reversed(SIGMOID_KNOTS[1:])] + list(SIGMOID_KNOTS)
    return thresholds, np.array([r[0] for r in rows]), np.array([r[1] for r in rows])


_SIGMOID = _sigmoid_table()
_RECIPROCAL = _interpolant(lambda u: 1 / (2.5 + 2 * u), -0.75, 0.75, RECIPROCAL_DEGREE)
_SQRT = _interpolant(lambda u: np.sqrt(2.5 + 2 * u), -0.75, 0.75, SQRT_DEGREE)


# ---- building blocks ---------------------------------------------------------------------------------------
def _by_pieces(session: Semi2k, x: AShare, width: int, fn: Callable[[AShare], AShare]) -> AShare:
    """fn over pieces of (flat) x of at most CHUNK_WORDS // width elements, where fn stacks up to `width`
    arrays of its input's size: memory stays bounded for any input size (rounds grow with the pieces)."""
    flat = x.reshape(-1)
    step = max(1, CHUNK_WORDS // width)
    parts = [fn(flat[i:i + step]) for i in range(0, max(flat.size, 1), step)]
    return AShare(session, np.concatenate([p.data for p in parts]).reshape(x.shape), parts[0].fxp)


def _public(session: Semi2k, values: np.ndarray, fxp: int) -> np.ndarray:
    """A public array as this party's share words (rank 0 holds it)."""
    enc = ring.encode(values, fxp)
    return enc if session.rank == 0 else np.zeros_like(enc)


def _at_least(session: Semi2k, x: AShare, thresholds: Sequence[float]) -> AShare:
    """[x >= t] for each public t, as 0/1 additive shares of shape (len(thresholds), x.size): one msb of the
    stacked differences (7 rounds) and one b2a (1 round)."""
    flat = x.data.reshape(1, -1)
    diffs = flat - _public(session, np.asarray(thresholds, dtype=np.float64), x.fxp)[:, None]
    return b2a(session, ~msb(session, AShare(session, diffs, x.fxp)))


def _choose(session: Semi2k, bits: AShare, table: np.ndarray, fxp: int) -> AShare:
    """Per element, row s of `table` (one row per segment) where s is the number of bits set (the bits are
    monotone thresholds): the encoded row 0 plus the steps between encoded rows whose thresholds hold, so a row
    of exact zeros comes out exactly zero. Local; shape (values, elements), or (elements,) for a 1-D table."""
    enc = ring.encode(table.reshape(table.shape[0], -1), fxp)
    base = enc[0] if session.rank == 0 else np.zeros_like(enc[0])
    chosen = ring.matmul(np.diff(enc, axis=0).T, bits.data) + base[:, None]
    return AShare(session, chosen if table.ndim > 1 else chosen[0], fxp)


def _products(session: Semi2k, pairs: Sequence[tuple[AShare, AShare]]) -> list[AShare]:
    """x * y for each pair, untruncated (scale x.fxp + y.fxp), all in one Beaver round."""
    left = np.concatenate([x.data.reshape(-1) for x, _ in pairs])
    right = np.concatenate([y.data.reshape(-1) for _, y in pairs])
    raw = session.mul(AShare(session, left, 0), AShare(session, right, 0)).data
    out, at = [], 0
    for x, y in pairs:
        out.append(AShare(session, raw[at:at + x.size].reshape(x.shape), x.fxp + y.fxp))
        at += x.size
    return out


def _rescale(session: Semi2k, x: AShare, fxp: int) -> AShare:
    """x at `fxp` fraction bits: a local shift up, or a precise truncation (one round) down."""
    if fxp >= x.fxp:
        return AShare(session, x.data << ring.U64(fxp - x.fxp), fxp)
    return session.trunc(x, x.fxp - fxp)


def _powers(session: Semi2k, u: AShare, degree: int) -> list[AShare]:
    """[u, u^2, ..., u^degree] (degree >= 2) at u's scale in ceil(log2 degree) layers of two rounds: a square,
    then u^(2^j) times u .. u^(2^j) as one batched product and one truncation."""
    powers = [u, session.square(u)]
    while len(powers) < degree:
        top = len(powers)
        more = min(top, degree - top)
        raw = _products(session, [(powers[top - 1], powers[i]) for i in range(more)])
        stacked = session.trunc(AShare(session, np.concatenate([r.data for r in raw]), 2 * u.fxp), u.fxp)
        powers += [AShare(session, part, u.fxp) for part in np.split(stacked.data, more)]
    return powers


def _polynomial(session: Semi2k, powers: list[AShare], coefs: np.ndarray, fxp: int) -> AShare:
    """sum_k coefs[k] u^k with public coefficients (at INNER bits, local), truncated once to `fxp`."""
    scale = powers[0].fxp + INNER
    acc = _public(session, coefs[:1], scale)
    for p, c in zip(powers, coefs[1:], strict=True):
        acc = acc + p.data * ring.encode(c, INNER)
    return session.trunc(AShare(session, acc, scale), scale - fxp)


def _buckets(session: Semi2k, x: AShare, exponents: range, table: np.ndarray, scales: tuple[int, ...]) \
        -> list[AShare]:
    """Compare x with 4^i for each exponent; per column j of `table` (rows: below the first power, then one per
    exponent) the chosen value at scales[j], one per element of x."""
    bits = _at_least(session, x, [4.0 ** i for i in exponents])
    return [_choose(session, bits, table[:, j], s) for j, s in enumerate(scales)]


def _unit(session: Semi2k, m: AShare) -> AShare:
    """u = (m - 2.5) / 2 at INNER bits: m in [1, 4) maps to [-0.75, 0.75)."""
    return _rescale(session, AShare(session, m.data - _public(session, np.full(m.shape, 2.5), m.fxp), m.fxp + 1),
                    INNER)


# ---- sigmoid ----------------------------------------------------------------------------------------------
@counted
def sigmoid_mm1(session: Semi2k, x: AShare, mode: str | None = None) -> AShare:
    """MINIMAX_1 of the open SS-LR protocol (op/sigmoid.proto): 0.5 + 0.125 x, not clipped to [0, 1]. x/8 is
    x's words read at 3 more fraction bits, truncated back by 3 in the session's mode (or `mode`): precise, one
    round and within one ulp; probabilistic, local (no message), failing with odds |x| 2^(fxp - 63) per element."""
    eighth = session.trunc(AShare(session, x.data, x.fxp + 3), 3, mode)
    return session.add(eighth, np.full(x.shape, 0.5))


@counted
def sigmoid(session: Semi2k, x: AShare) -> AShare:
    """1 / (1 + e^-x) for every encodable x: a degree-7 polynomial on each of the segments [0, 2.5), [2.5, 6.25),
    [6.25, 14) and their mirror images, 0 below -14 and 1 from 14. Max error 9e-7 + one ulp (4.7e-6 at
    fxp=18). 16 rounds, ~0.8 KB per element each way (7 comparisons)."""
    return _by_pieces(session, x, 2 * len(_SIGMOID[0]) + 2, lambda piece: _sigmoid(session, piece))


def _sigmoid(session: Semi2k, x: AShare) -> AShare:
    thresholds, centres, coefs = _SIGMOID
    bits = _at_least(session, x, thresholds)
    centre = _choose(session, bits, centres, x.fxp)
    chosen = _choose(session, bits, coefs, INNER)
    w = _rescale(session, AShare(session, x.data - centre.data, x.fxp + 2), INNER)   # (x - centre) / 4
    powers = _powers(session, w, SIGMOID_DEGREE)
    terms = _products(session, [(AShare(session, chosen.data[k], INNER), powers[k - 1])
                                for k in range(1, SIGMOID_DEGREE + 1)])
    acc = chosen.data[0] << ring.U64(INNER)
    for t in terms:
        acc = acc + t.data
    return session.trunc(AShare(session, acc, 2 * INNER), 2 * INNER - x.fxp)


# ---- reciprocal and square root ----------------------------------------------------------------------------
@counted
def reciprocal(session: Semi2k, x: AShare) -> AShare:
    """1 / x for 2^-2h <= |x| < 2^2h, h = min(ceil(fxp / 2), 9): every nonzero encodable |x| < 2^18 at
    fxp <= 18. |x| is normalised to m in [1, 4) by comparisons with the powers of 4, 1/m is a degree-16
    polynomial. Error at most 1e-7 |1/x| + one ulp. |x| >= 2^2h gives 0 (within 2^-2h of 1/x); x = 0, and
    0 < |x| < 2^-18 at fxp > 18, give 0. 30 rounds, ~1.9 KB per element each way at fxp=18 (20 comparisons).

    Scales: the output factor 4^-i (i in [-h, h)) is exact at 2h - 2 bits and the result is at most 4^h, so
    1/m keeps 63 - 4h bits (27 at h = 9) for the product to stay below 2^61."""
    h = min(math.ceil(x.fxp / 2), 9)
    return _by_pieces(session, x, 2 * (2 * h + 1) + 2, lambda piece: _reciprocal(session, piece, h))


def _reciprocal(session: Semi2k, x: AShare, h: int) -> AShare:
    one = ring.ONE if session.rank == 0 else ring.U64(0)
    sign = AShare(session, one - ring.U64(2) * b2a(session, msb(session, x)).data, 0)   # 1 - 2 msb(x)
    magnitude = session.mul(sign, x)
    exponents = range(-h, h + 1)
    table = np.array([[0.0, 0.0], *([4.0 ** -i, 4.0 ** -i] for i in exponents[:-1]), [4.0 ** -h, 0.0]])
    to_unit, factor = _buckets(session, magnitude, exponents, table, (2 * h, 2 * h - 2))
    m, signed_factor = _products(session, [(magnitude, to_unit), (sign, factor)])
    inverse_m = _polynomial(session, _powers(session, _unit(session, m), RECIPROCAL_DEGREE), _RECIPROCAL,
                            63 - 4 * h)
    out = _products(session, [(inverse_m, signed_factor)])[0]
    return session.trunc(out, out.fxp - x.fxp)


@counted
def sqrt(session: Semi2k, x: AShare) -> AShare:
    """sqrt(x) for 0 <= x < 2^2H, H = floor((62 - fxp) / 2) (2^44 at fxp 18: half the encodable range): x is
    normalised to m in [1, 4) by comparisons with the powers of 4 from 4^-ceil(fxp/2), sqrt(m) is a degree-12
    polynomial. Error at most 1e-7 sqrt(x) + one ulp; sqrt(0) = 0; negative x gives 0. 21 rounds, ~2.6 KB per
    element each way at fxp=18 (31 comparisons)."""
    lo, hi = -math.ceil(x.fxp / 2), (62 - x.fxp) // 2
    return _by_pieces(session, x, 2 * (hi - lo) + 2, lambda piece: _sqrt(session, piece, range(lo, hi)))


def _sqrt(session: Semi2k, x: AShare, exponents: range) -> AShare:
    lo, hi = exponents.start, exponents.stop
    table = np.array([[0.0, 0.0], *([4.0 ** -i, 2.0 ** i] for i in exponents)])
    to_unit, factor = _buckets(session, x, exponents, table, (2 * (hi - 1), -lo))
    m = _products(session, [(x, to_unit)])[0]
    root_m = _polynomial(session, _powers(session, _unit(session, m), SQRT_DEGREE), _SQRT, min(INNER, 61 - hi + lo))
    out = _products(session, [(root_m, factor)])[0]
    return session.trunc(out, out.fxp - x.fxp)
