"""Comparisons, equality and the boolean sharing under them: exact against numpy on the encoded values, with ties,
one-ulp differences, large magnitudes and chunked inputs; their traffic; and what each party receives."""
from __future__ import annotations

import numpy as np
import pytest

from hulian.crypto.ss import ring
from hulian.federation import MemoryFederation
from hulian.mpc import boolean, channel, compare
from hulian.mpc.boolean import BShare
from hulian.mpc.channel import MpcError
from tests.unit.mpc.conftest import run_pair, run_with

FXP = 18
ULP = 2.0 ** -FXP
OPS = {"less": np.less, "greater": np.greater, "less_equal": np.less_equal, "greater_equal": np.greater_equal,
       "equal": np.equal}


def encoded(x: np.ndarray) -> np.ndarray:
    return ring.decode(ring.encode(x, FXP), FXP)


def pairs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """x and y with ties, one-ulp differences both ways, large magnitudes, mixed signs and zeros."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1e9, 1e9, n)
    x[: n // 4] = rng.uniform(-3, 3, n // 4)
    step = rng.choice([-1.0, 0.0, 1.0], n) * ULP
    y = x + step
    y[n // 2:] = rng.uniform(-1e9, 1e9, n - n // 2)
    edges = [(0.0, 0.0), (0.0, ULP), (-ULP, 0.0), (1.7e13, -1.7e13), (-1.7e13, 1.7e13), (1.7e13, 1.7e13 - ULP * 64)]
    for i, (a, b) in enumerate(edges[: n]):
        x[i], y[i] = a, b
    return encoded(x), encoded(y)


def shared(session, x: np.ndarray, y: np.ndarray):
    return session.share(x if session.rank == 0 else None, 0), session.share(y if session.rank == 1 else None, 1)


def test_comparisons_are_exact(source: str) -> None:
    x, y = pairs(64, 1)

    def body(s):
        a, b = shared(s, x, y)
        out = {name: boolean.reveal_bits(s, getattr(compare, name)(s, a, b)) for name in OPS}
        out["public_y"] = boolean.reveal_bits(s, compare.less(s, a, y))
        out["public_x"] = boolean.reveal_bits(s, compare.greater_equal(s, x, b))
        out["public_eq"] = boolean.reveal_bits(s, compare.equal(s, x, b))
        return out

    for got in run_with(source, body):
        for name, op in OPS.items():
            assert np.array_equal(got[name], op(x, y)), name
        assert np.array_equal(got["public_y"], x < y)
        assert np.array_equal(got["public_x"], x >= y)
        assert np.array_equal(got["public_eq"], x == y)


def test_relu_maximum_minimum_absolute(source: str) -> None:
    x, y = pairs(48, 2)
    x = x.reshape(6, 8)
    y = y.reshape(6, 8)

    def body(s):
        a, b = shared(s, x, y)
        return [s.reveal(compare.relu(s, a)), s.reveal(compare.maximum(s, a, b)), s.reveal(compare.minimum(s, a, b)),
                s.reveal(compare.absolute(s, a)), s.reveal(compare.maximum(s, a, 0.5)),
                s.reveal(compare.minimum(s, -2.0, b))]

    relu, hi, lo, ab, hi_public, lo_public = run_with(source, body)[0]
    assert np.array_equal(relu, np.maximum(x, 0))
    assert np.array_equal(hi, np.maximum(x, y))
    assert np.array_equal(lo, np.minimum(x, y))
    assert np.array_equal(ab, np.abs(x))
    assert np.array_equal(hi_public, np.maximum(x, 0.5))
    assert np.array_equal(lo_public, np.minimum(-2.0, y))


def test_boolean_gates_b2a_and_select(source: str) -> None:
    rng = np.random.default_rng(3)
    p, q = rng.integers(0, 2, 40).astype(np.uint64), rng.integers(0, 2, 40).astype(np.uint64)
    x, y = encoded(rng.uniform(-100, 100, 40)), encoded(rng.uniform(-100, 100, 40))

    def body(s):
        zero = np.zeros(40, dtype=np.uint64)
        bp = BShare(s, p if s.rank == 0 else zero)        # p held by rank 0, q by rank 1: trivial XOR sharings
        bq = BShare(s, q if s.rank == 1 else zero)
        a, b = shared(s, x, y)
        return [boolean.reveal_bits(s, bp & bq), boolean.reveal_bits(s, bp ^ bq), boolean.reveal_bits(s, ~bp),
                s.reveal(boolean.b2a(s, bp ^ bq)), s.reveal(boolean.select(s, bp, a, b)),
                s.reveal(boolean.select(s, bq, a, 7.25)), s.reveal(boolean.select(s, bq, -1.5, b)),
                boolean.reveal_bits(s, bp, to=1)]

    r0, r1 = run_with(source, body)
    both, either, neither, arith, sel, sel_y, sel_x, _ = r0
    assert np.array_equal(both, (p & q).astype(bool))
    assert np.array_equal(either, (p ^ q).astype(bool))
    assert np.array_equal(neither, p == 0)
    assert arith.dtype == np.int64 and np.array_equal(arith, p ^ q)
    assert np.array_equal(sel, np.where(p == 1, x, y))
    assert np.array_equal(sel_y, np.where(q == 1, x, 7.25))
    assert np.array_equal(sel_x, np.where(q == 1, -1.5, y))
    assert r0[-1] is None and np.array_equal(r1[-1], p.astype(bool))


@pytest.mark.parametrize("n", [1, 3, 300])
def test_chunked_inputs(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    for module in (channel, compare):
        monkeypatch.setattr(module, "CHUNK_WORDS", 128)
    x, y = pairs(max(n, 8), 4)
    x, y = x[:n], y[:n]
    rng = np.random.default_rng(5)
    p, q = (rng.integers(0, 2, 64 * 300).astype(np.uint64) for _ in range(2))   # 300 words: three AND pieces

    def body(s):
        a, b = shared(s, x, y)
        g = compare.greater(s, a, b)
        greater_rounds = s.last.rounds_sent
        e = compare.equal(s, a, b)
        rounds = s.last.rounds_sent
        first = BShare(s, p if s.rank == 0 else np.zeros_like(p))     # p held by rank 0, q by rank 1
        second = BShare(s, q if s.rank == 1 else np.zeros_like(q))
        anded = first & second
        and_rounds = s.last.rounds_sent
        return (boolean.reveal_bits(s, g), boolean.reveal_bits(s, e), greater_rounds, rounds,
                boolean.reveal_bits(s, anded), and_rounds)

    greater, equal, greater_rounds, rounds, anded, and_rounds = run_pair(body)[1]
    assert np.array_equal(greater, x > y) and np.array_equal(equal, x == y)
    assert greater_rounds == 7 * -(-n // 128)                # greater: seven rounds per piece of 128 elements
    assert rounds == 6 * -(-n // 128)                        # equal: six rounds per piece of 128 elements
    assert np.array_equal(anded, (p & q).astype(bool))       # an AND of bits held by different parties
    assert and_rounds == 3                                   # 300 packed words in pieces of 128


def test_traffic_per_element() -> None:
    n = 256
    x, y = pairs(n, 6)

    def body(s):
        a, b = shared(s, x, y)
        compare.greater(s, a, b)
        greater = s.last
        compare.equal(s, a, b)
        return greater, s.last

    greater, equal = run_pair(body)[1]                       # rank 1 talks to its peer only
    assert greater.rounds_sent == greater.rounds_received == 7
    assert greater.bytes_sent == 8 * (2 * n + 2 * n + n + n // 2 + n // 4 + n // 8 + n // 32)   # 47.25 n
    assert equal.rounds_sent == 6
    assert equal.bytes_sent == 16 * (n // 2 + n // 4 + n // 8 + n // 16 + n // 32 + n // 64)   # 15.75 n


def test_errors() -> None:
    def body(s):
        a = s.share(np.ones(3) if s.rank == 0 else None, 0)
        with pytest.raises(MpcError, match="at least one share"):
            compare.less(s, np.ones(3), np.zeros(3))
        with pytest.raises(MpcError, match="fraction bits"):
            compare.less(s, a, s.share(np.ones(3) if s.rank == 1 else None, 1, fxp=10))
        with pytest.raises(MpcError, match="shapes"):
            boolean.and_bits(s, BShare(s, np.zeros(3, np.uint64)), BShare(s, np.zeros(4, np.uint64)))
        with pytest.raises(MpcError, match="x or y as a share"):
            boolean.select(s, BShare(s, np.zeros(3, np.uint64)), np.ones(3), np.zeros(3))
        return repr(BShare(s, np.zeros(3, np.uint64)))

    assert run_pair(body)[0] == "BShare(shape=(3,))"


def recording(log: list[tuple[str, str, bytes]]) -> type[MemoryFederation]:
    """A federation class whose parties append every payload they receive, and from whom, to `log`."""
    class Recording(MemoryFederation):
        def recv(self, src, scope, topic, timeout):
            data = super().recv(src, scope, topic, timeout)
            if not topic.startswith("handshake"):   # the session's handshake: protobufs, checked elsewhere
                log.append((self.local.party_id, src.party_id, bytes(data)))
            return data

    return Recording


def test_a_comparison_sends_only_masked_words() -> None:
    """Every payload between the compute parties is uniformly masked (balanced bits, none of the inputs or their
    difference among its words); the dealer receives seeds and sizes, no input word."""
    log: list[tuple[str, str, bytes]] = []
    n = 4096
    rng = np.random.default_rng(7)
    x, y = encoded(rng.uniform(-1e6, 1e6, n)), encoded(rng.uniform(-1e6, 1e6, n))

    def body(s):
        a, b = shared(s, x, y)
        return compare.greater(s, a, b).data

    b0, b1 = run_pair(body, federation=recording(log))
    assert np.array_equal((b0 ^ b1).astype(bool), x > y)
    wx, wy = ring.encode(x, FXP), ring.encode(y, FXP)
    secret = {int(w) for w in np.concatenate([wx, wy, wx - wy, wy - wx])}
    between = [data for dst, src, data in log if {dst, src} == {"guest.0", "host.0"}]
    masked = [data for data in between if len(data) >= 64]
    assert len(masked) == 14                                 # the seven rounds, each way
    for data in masked:
        assert not secret & {int(w) for w in np.frombuffer(data, dtype="<u8")}
        ones = np.unpackbits(np.frombuffer(data, np.uint8)).mean()
        assert abs(ones - 0.5) < 6 * 0.5 / np.sqrt(8 * len(data)), (len(data), ones)
    to_dealer = [data for dst, _, data in log if dst == "arbiter.0"]
    assert len(to_dealer) >= 8                               # two sessions, seven AND adjustments, two deletes
    words = [w.to_bytes(8, "little") for w in secret]
    assert not any(data.find(w) >= 0 for data in to_dealer for w in words)
