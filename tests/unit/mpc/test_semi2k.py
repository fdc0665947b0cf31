"""semi2k against numpy: every operation within its documented fixed-point bound, truncation in both modes,
chunked inputs, and what a party or the dealer receives (masked words only)."""
from __future__ import annotations

import threading
from typing import ClassVar

import msgpack
import numpy as np
import pytest

from hulian.crypto.ss import ring
from hulian.federation import FederationTimeout, MemoryFederation, MemoryHub, Party, Scope, Traffic
from hulian.mpc import MpcError, channel, semi2k
from hulian.mpc.dealer import DealerTriples
from hulian.mpc.session import deal, open_session
from hulian.wire.interconnection.runtime.data_exchange_pb2 import DataExchangeProtocol
from hulian.wire.interconnection.service import beaver_pb2 as pb
from tests.unit.mpc.conftest import ARBITER, GUEST, HOST, SCOPE, run_pair, run_with

ULP = 2.0 ** -18
rng = np.random.default_rng(7)


def _inputs(n: int, scale: float = 1000.0) -> tuple[np.ndarray, np.ndarray]:
    return rng.normal(size=n) * scale, rng.normal(size=n) * scale


def _bound(*values: np.ndarray) -> np.ndarray:
    """Encoding error of each input (half an ulp) carried through a product, plus a truncation ulp."""
    return sum(np.abs(v) for v in values) * ULP + 2 * ULP


def test_share_reveal_add_and_public_operands(source: str) -> None:
    x, y = _inputs(50)

    def body(m: semi2k.Semi2k):
        a = m.share(x if m.rank == 0 else None, owner=0)
        b = m.share(y if m.rank == 1 else None, owner=1)
        return (m.reveal(a + b), m.reveal(a - b), m.reveal(-a + 2.5), m.reveal(a * 3),
                m.reveal(a * np.full(50, 0.25)), m.reveal(a, to=1))
    r0, r1 = run_with(source, body)
    assert np.allclose(r0[0], x + y, rtol=0, atol=2 * ULP) and np.allclose(r1[1], x - y, rtol=0, atol=2 * ULP)
    assert np.allclose(r0[2], 2.5 - x, rtol=0, atol=2 * ULP) and np.allclose(r0[3], 3 * x, rtol=0, atol=4 * ULP)
    assert np.allclose(r0[4], x / 4, rtol=0, atol=2 * ULP)
    assert r0[5] is None and np.allclose(r1[5], x, rtol=0, atol=ULP)


@pytest.mark.parametrize("trunc", [semi2k.PRECISE, semi2k.PROBABILISTIC])
def test_products_within_the_fixed_point_bound(source: str, trunc: str) -> None:
    # the local truncation is wrong with probability ~|x| / 2^63: keep its products small (2^36 in the ring)
    big = 2.0 ** 13 if trunc == semi2k.PRECISE else 1.0
    x, y = _inputs(300, 100.0 if trunc == semi2k.PRECISE else 1.0)
    x[:3] = [0.0, -ULP, big]   # zero, the smallest step, a large magnitude (products to 2^26 when precise)
    y[:3] = [-5.0, ULP, -big]
    mx = rng.normal(size=(6, 4)) * 10

    def body(m: semi2k.Semi2k):
        a = m.share(x if m.rank == 0 else None, owner=0)
        b = m.share(y if m.rank == 1 else None, owner=1)
        mat = m.share(mx if m.rank == 1 else None, owner=1)
        return (m.reveal(m.mul(a, b)), m.reveal(m.square(a)), m.reveal(m.dot(a, b)),
                m.reveal(mat @ a[:4]), m.reveal(m.matmul(mat, mat.T)))
    r0, _ = run_with(source, body, trunc=trunc)
    assert (np.abs(r0[0] - x * y) <= _bound(x, y)).all()
    assert (np.abs(r0[1] - x * x) <= _bound(x, x)).all()
    assert abs(r0[2] - np.dot(x, y)) <= _bound(x, y).sum()
    assert np.allclose(r0[3], mx @ x[:4], rtol=0, atol=float(_bound(x[:4], mx[0]).sum()) * 4)
    assert np.allclose(r0[4], mx @ mx.T, rtol=0, atol=float(_bound(mx[0], mx[0]).sum()) * 6)


def test_precise_truncation_is_exact_to_an_ulp_at_the_edge_of_its_range(source: str) -> None:
    """|x| just below 2^62 in the ring at 36 fraction bits (2^26 in value): within one ulp, unbiased. Both
    methods: the dealer's TruncPr and, with HE triples, the wrap bit."""
    big = np.array([2.0 ** 26 - 1, -(2.0 ** 26) + 1, 1e7, -1e7, 0.5, -0.5] * 50)

    def body(m: semi2k.Semi2k):
        a = m.share(big if m.rank == 0 else None, owner=0, fxp=36)
        return m.reveal(m.trunc(a, 18))
    r0, _ = run_with(source, body)
    assert (np.abs(r0 - big) <= ULP).all()
    fine = np.full(2000, 1.0 + 2.0 ** -20)   # a quarter ulp above 1: rounds up a quarter of the time

    def unbiased(m: semi2k.Semi2k):
        return m.reveal(m.trunc(m.share(fine if m.rank == 0 else None, owner=0, fxp=36), 18))
    ups = (run_with(source, unbiased)[0] > 1.0).mean()
    assert 0.2 < ups < 0.3


def test_square_distance_is_right_up_to_the_edge_of_its_range(source: str) -> None:
    """sum((x - y)^2) truncated once: right just below 2^(62 - 36) = 6.7e7 (beyond it the result is not
    guaranteed); one truncation per square reaches further."""
    n = 64
    x = rng.normal(size=n)
    y = x + np.sqrt((2.0 ** 26 * 0.98) / n) * rng.choice([-1.0, 1.0], size=n)   # sum of squares 0.98 * 2^26
    far = x + np.sqrt((2.0 ** 26 * 1.5) / n)                                    # 1.5 * 2^26: beyond the range

    def body(m: semi2k.Semi2k):
        a = m.share(x if m.rank == 0 else None, owner=0)
        b = m.share(y if m.rank == 1 else None, owner=1)
        c = m.share(far if m.rank == 1 else None, owner=1)
        return m.reveal(m.square_distance(a, b)), m.reveal(m.square(a - c).sum())
    (near, per_element), _ = run_with(source, body)
    want = np.sum((x - y) ** 2)
    assert want < 2.0 ** 26 and abs(near - want) <= np.sum(2 * np.abs(x - y)) * ULP + ULP   # encoding of x - y
    assert abs(per_element - np.sum((x - far) ** 2)) <= np.sum(2 * np.abs(x - far)) * ULP + n * ULP   # no wrap


def test_probabilistic_truncation_fails_where_precise_does_not() -> None:
    """The local truncation's documented weakness, shown: at |x| ~ 2^61 a visible share of elements is wrong."""
    big = np.full(2000, 2.0 ** 25)   # 2^61 at 36 fraction bits

    def body(m: semi2k.Semi2k):
        a = m.share(big if m.rank == 0 else None, owner=0, fxp=36)
        return m.reveal(m.trunc(a, 18, mode=semi2k.PROBABILISTIC)), m.reveal(m.trunc(a, 18))
    (prob, precise), _ = run_pair(body)
    assert (np.abs(precise - big) <= ULP).all()
    assert (np.abs(prob - big) > 1.0).sum() > 100


def test_chunked_inputs_match_unchunked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channel, "CHUNK_WORDS", 64)
    x, y = _inputs(1000, 10.0)

    def body(m: semi2k.Semi2k):
        a = m.share(x if m.rank == 0 else None, owner=0)
        b = m.share(y if m.rank == 1 else None, owner=1)
        product = m.mul(a, b)
        last = m.last
        return m.reveal(product), last
    (prod, _), (_, last) = run_pair(body)   # rank 1: no dealer calls in its count
    assert (np.abs(prod - x * y) <= _bound(x, y)).all()
    assert last.rounds_sent == 2 * -(-1000 // 64)    # a product and its truncation per piece of 64


def test_counters_per_call() -> None:
    x, y = _inputs(1000)

    def body(m: semi2k.Semi2k):
        a = m.share(x if m.rank == 0 else None, owner=0)
        b = m.share(y if m.rank == 1 else None, owner=1)
        m.mul(a, b)
        return m.last
    adjuster, other = run_pair(body)
    # one Beaver product (e, f: 2 x 1000 words) and the precise truncation's opening (1000 words)
    assert other == Traffic(rounds_sent=2, rounds_received=2, messages_sent=2, messages_received=2,
                            bytes_sent=24000, bytes_received=24000)
    # rank 0 also asked the dealer twice: its requests out, the adjustments in (1000 words for the product,
    # 2 x 1000 for TruncPr)
    assert adjuster.rounds_sent == adjuster.rounds_received == 4
    assert 24000 + 3 * 8000 < adjuster.bytes_received < 24000 + 3 * 8000 + 100


def test_input_outside_the_range_is_refused_with_the_fix() -> None:
    with pytest.raises(ring.RingError, match="scale the input down"):
        run_pair(lambda m: m.share(np.array([1e14]) if m.rank == 0 else None, owner=0), timeout=1)


def test_shape_mismatch_is_an_error_not_a_broadcast(source: str) -> None:
    def body(m: semi2k.Semi2k):
        a = m.share(np.ones(3) if m.rank == 0 else None, owner=0)
        return m.mul(a, m.share(np.ones(4) if m.rank == 1 else None, owner=1))
    with pytest.raises(MpcError, match="shapes"):
        run_with(source, body, timeout=5)


class Spy(MemoryFederation):
    """Records every message this party receives: (sender, topic, bytes)."""

    log: ClassVar[dict[str, list[tuple[str, str, bytes]]]] = {}

    def recv(self, src: Party, scope: Scope, topic: str, timeout: float) -> bytes:
        data = super().recv(src, scope, topic, timeout)
        Spy.log.setdefault(self.local.party_id, []).append((src.party_id, topic, data))
        return data


def test_privacy_each_party_receives_only_masked_words_ciphertexts_and_the_dealer_only_seeds_and_sizes(
        source: str) -> None:
    Spy.log = {}
    x, y = rng.normal(size=512) * 3, rng.normal(size=512) * 3   # small values: unmasked words would show it
    mx = rng.normal(size=(16, 32))

    def body(m: semi2k.Semi2k):
        a = m.share(x if m.rank == 0 else None, owner=0)
        b = m.share(y if m.rank == 1 else None, owner=1)
        p = m.mul(a, b)
        mat = m.share(mx if m.rank == 1 else None, owner=1)
        q = mat @ a[:32]
        return m.reveal(m.dot(p, b), to=0), m.reveal(q, to=0)
    r0, _ = run_with(source, body, federation=Spy)
    secrets_of = {"guest.0": ring.encode(x, 18), "host.0": np.concatenate([ring.encode(y, 18),
                                                                           ring.encode(mx, 18).ravel()])}
    for receiver, sender in (("guest.0", "host.0"), ("host.0", "guest.0")):
        got = [(t, d) for s, t, d in Spy.log[receiver] if s == sender and len(d) >= 8 * 32]
        words = [np.frombuffer(d, dtype="<u8") for t, d in got if not t.startswith(("share", "he-"))]
        assert words, f"{receiver} received no data from {sender}"
        # masked words are uniform: below 2^56 in magnitude with probability 2^-7, unmasked ones always.
        # Per message the bound is loose (a 32-word message may hold two by chance); over all of them tight.
        small = [np.abs(ring.signed(w).astype(np.float64)) < 2.0 ** 56 for w in words]
        for w, s in zip(words, small, strict=True):
            assert not set(secrets_of[sender].tolist()) & set(w.tolist())
            assert s.mean() < 0.5, f"{receiver} got words from {sender} that look unmasked"
        assert np.concatenate(small).mean() < 0.03, f"{receiver} got words from {sender} that look unmasked"
        for topic, data in got:   # HE triples: interconnection ciphertext containers, no share word inside
            if topic.startswith("he-") and not topic.startswith("he-public-key"):
                container = DataExchangeProtocol.FromString(data)
                assert container.scalar_type_name == "paillier_ciphertext" or "ou" in container.scalar_type_name
                assert not any(int(v).to_bytes(8, "little") in data for v in secrets_of[sender][:64])
        assert (source == "he") == any(t.startswith("he-") for t, _ in got)
    assert r0[0] is not None
    if source == "he":
        assert "arbiter.0" not in Spy.log
        return
    dealer_got = Spy.log["arbiter.0"]
    assert {s for s, _, _ in dealer_got} == {"guest.0", "host.0"}
    for sender, _, data in dealer_got:
        method, body_bytes = msgpack.unpackb(data)
        assert method in {"CreateSession", "AdjustMul", "AdjustDot", "AdjustTruncPr", "DeleteSession"}
        if method == "CreateSession":
            assert len(pb.CreateSessionRequest.FromString(body_bytes).prg_seed) == 16
        elif method.startswith("Adjust"):
            request = {"AdjustMul": pb.AdjustMulRequest, "AdjustDot": pb.AdjusDotRequest,
                       "AdjustTruncPr": pb.AdjustTruncPrRequest}[method].FromString(body_bytes)
            assert len(body_bytes) < 100 and all(meta.size > 0 for meta in request.prg_inputs)
            assert sender == "guest.0"   # only the adjust rank asks


def test_the_dealer_refuses_a_session_it_does_not_serve() -> None:
    hub = MemoryHub()
    everyone = [GUEST, HOST, ARBITER]
    dealer = MemoryFederation(hub, ARBITER, everyone)
    # a party asks for a different session id: the dealer answers SessionError and stops with an error
    guest_fed = MemoryFederation(hub, GUEST, everyone)
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            deal(dealer, SCOPE, [GUEST, HOST], timeout=5)
        except MpcError as e:
            errors.append(e)
    t = threading.Thread(target=serve)
    t.start()
    with pytest.raises(MpcError, match="refused CreateSession: SessionError"):
        DealerTriples(guest_fed, SCOPE, ARBITER, 0, 2, "another-session", 5, Traffic())
    t.join(10)
    assert errors and "does not match" in str(errors[0])


def test_a_silent_peer_times_out() -> None:
    hub = MemoryHub()
    fed = MemoryFederation(hub, GUEST, [GUEST, HOST, ARBITER])
    with pytest.raises(FederationTimeout):   # no peer answers the handshake
        open_session(fed, SCOPE, [GUEST, HOST], dealer_party=ARBITER, timeout=0.5)
    with pytest.raises(FederationTimeout):   # no dealer answers CreateSession
        DealerTriples(fed, SCOPE, ARBITER, 0, 2, "task:semi2k", 0.5, Traffic())


def test_numpy_operands_on_the_left_and_ranks_checked(source: str) -> None:
    x = np.arange(6, dtype=np.float64) - 2.5

    def body(m: semi2k.Semi2k):
        a = m.share(x if m.rank == 0 else None, owner=0)
        left = np.ones(6) * 2 + a            # numpy on the left: our operators, not an object array
        assert isinstance(left, semi2k.AShare)
        with pytest.raises(ValueError, match="rank 0 or 1"):
            m.reveal(a, to=2)
        with pytest.raises(ValueError, match="rank 0 or 1"):
            m.share(x, owner=GUEST)
        return m.reveal(left), m.reveal(m.mul(a, 0.5))
    (left, half), _ = run_with(source, body)
    assert np.allclose(left, x + 2, rtol=0, atol=ULP) and np.allclose(half, x / 2, rtol=0, atol=ULP)


def test_truncation_after_a_public_product_is_unbiased(source: str) -> None:
    """x * 0.5 on exact values: x / 2 exactly, or an ulp off at random (half the time when x/2 ends in half an
    ulp), never biased one way (the shares are re-randomised before the wrap bit)."""
    x = np.full(400, 3 * ULP)   # x / 2 = 1.5 ulp: rounds to 1 or 2 ulp, each about half the time

    def body(m: semi2k.Semi2k):
        return m.reveal(m.mul(m.share(x if m.rank == 0 else None, owner=0), 0.5))
    got, _ = run_with(source, body)
    ups = (got > 1.5 * ULP).mean()
    assert set(np.round(got / ULP).tolist()) <= {1.0, 2.0} and 0.35 < ups < 0.65
