"""HeTriples: both parties in two threads over the in-memory federation; the relations hold on the sums of
their shares (XOR for and_), the values a key holder decrypts are masked, and a peer's garbage is an error."""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from hulian.crypto.he import parallel, serialize
from hulian.crypto.he.base import HeError
from hulian.crypto.he.ou import generate_ou
from hulian.federation import FederationError, MemoryFederation, MemoryHub, Party, Scope, Traffic
from hulian.mpc import hetriples
from hulian.mpc.channel import MpcError, PeerChannel
from hulian.mpc.hetriples import HeTriples

PARTIES = [Party("guest.0", "node-a"), Party("host.0", "node-b")]
TIMEOUT = 30.0


def channels(timeout: float = TIMEOUT) -> list[PeerChannel]:
    hub = MemoryHub()
    return [PeerChannel(MemoryFederation(hub, PARTIES[r], PARTIES), Scope("task-x"), PARTIES[1 - r], timeout,
                        Traffic()) for r in (0, 1)]


def both(fns: list[Callable[[], Any]]) -> list[Any]:
    """fns[0]() and fns[1]() in two threads; the first exception (by rank) is raised after both stop."""
    results: list[Any] = [None, None]
    errors: list[BaseException | None] = [None, None]

    def run(rank: int) -> None:
        try:
            results[rank] = fns[rank]()
        except BaseException as e:
            errors[rank] = e

    threads = [threading.Thread(target=run, args=(r,), name=f"rank-{r}") for r in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(4 * TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a party hung"
    for e in errors:
        if e is not None:
            raise e
    return results


class Pair:
    """The two parties' sources, built in two threads (the key exchange is a round)."""

    def __init__(self, scheme: str, bits: int) -> None:
        self.channels = channels()
        self.sources = both([lambda r=r: HeTriples(self.channels[r], r, scheme, bits, allow_insecure_keys=True)
                             for r in (0, 1)])

    def run(self, op: Callable[[HeTriples], Any]) -> list[Any]:
        return both([lambda r=r: op(self.sources[r]) for r in (0, 1)])

    def close(self) -> None:
        for s in self.sources:
            s.close()


@pytest.fixture(scope="module")
def ou() -> Iterator[Pair]:
    pair = Pair("ou", 1024)
    yield pair
    pair.close()


@pytest.fixture(scope="module")
def paillier() -> Iterator[Pair]:
    pair = Pair("paillier", 1024)
    yield pair
    pair.close()


def check_mul(pair: Pair, size: int) -> None:
    (a0, b0, c0), (a1, b1, c1) = pair.run(lambda t: t.mul(size))
    assert a0.shape == b0.shape == c0.shape == (size,) and a0.dtype == np.uint64
    assert ((a0 + a1) * (b0 + b1) == c0 + c1).all()


def check_dot(pair: Pair, m: int, k: int, n: int) -> None:
    (a0, b0, c0), (a1, b1, c1) = pair.run(lambda t: t.dot(m, k, n))
    assert (a0.shape, b0.shape, c0.shape) == ((m, k), (k, n), (m, n)) and c0.dtype == np.uint64
    assert (np.matmul(a0 + a1, b0 + b1) == c0 + c1).all()


@pytest.mark.parametrize("size", [0, 1, 2, 7, 50])
def test_mul(ou: Pair, size: int) -> None:
    check_mul(ou, size)


@pytest.mark.parametrize("size", [1, 6, 31])
def test_square(ou: Pair, size: int) -> None:
    (a0, c0), (a1, c1) = ou.run(lambda t: t.square(size))
    assert ((a0 + a1) * (a0 + a1) == c0 + c1).all()


@pytest.mark.parametrize("m, k, n", [(1, 1, 1), (4, 3, 5), (5, 3, 4), (9, 1, 2), (2, 7, 9)])
def test_dot(ou: Pair, m: int, k: int, n: int) -> None:
    check_dot(ou, m, k, n)


@pytest.mark.parametrize("size", [0, 1, 3, 10])
def test_and(ou: Pair, size: int) -> None:
    (a0, b0, c0), (a1, b1, c1) = ou.run(lambda t: t.and_(size))
    assert a0.shape == c0.shape == (size,) and c0.dtype == np.uint64
    assert ((a0 ^ a1) & (b0 ^ b1) == c0 ^ c1).all()


def test_paillier_packs_several_rows_and_bits_per_plaintext(paillier: Pair) -> None:
    """Paillier-1024 holds 5 dot slots (m = 7, 3 not multiples of it, either orientation) and 23 and_ slots."""
    check_mul(paillier, 5)
    check_dot(paillier, 7, 6, 3)
    check_dot(paillier, 3, 6, 7)
    (a0, b0, c0), (a1, b1, c1) = paillier.run(lambda t: t.and_(2))
    assert ((a0 ^ a1) & (b0 ^ b1) == c0 ^ c1).all()


def test_ou_2048() -> None:
    pair = Pair("ou", 2048)
    try:
        check_mul(pair, 3)
        check_dot(pair, 4, 5, 2)   # 3 slots of 172 bits in OU-2048's 680: a block of 3 rows and one of 1
        (a0, c0), (a1, c1) = pair.run(lambda t: t.square(2))
        assert ((a0 + a1) * (a0 + a1) == c0 + c1).all()
    finally:
        pair.close()


def test_batches_and_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """With messages of ~14 ciphertexts, mul and dot run several batches and and_ sends its bits in pieces."""
    monkeypatch.setattr(hetriples, "PIECE_BYTES", 2000)
    pair = Pair("ou", 1024)
    try:
        assert pair.sources[0]._per_message == 14
        check_mul(pair, 40)
        check_dot(pair, 5, 20, 3)
        (a0, b0, c0), (a1, b1, c1) = pair.run(lambda t: t.and_(3))
        assert ((a0 ^ a1) & (b0 ^ b1) == c0 ^ c1).all()
        (a0, c0), (a1, c1) = pair.run(lambda t: t.square(33))
        assert ((a0 + a1) * (a0 + a1) == c0 + c1).all()
    finally:
        pair.close()


def test_large_batches_go_to_worker_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches from PARALLEL_MIN items (lowered here so that small batches take that path) go to the process's
    shared HE pool: every map of a batch is recorded on the pool the source handed over."""
    monkeypatch.setattr(parallel, "PARALLEL_MIN", 8)
    used: list[object] = []
    original = parallel._map

    def recording(pool: object, *args: Any) -> list[Any]:
        used.append(pool)
        return original(pool, *args)

    monkeypatch.setattr(parallel, "_map", recording)
    pair = Pair("ou", 1024)
    try:
        check_mul(pair, 40)
        (a0, b0, c0), (a1, b1, c1) = pair.run(lambda t: t.and_(1))
        assert ((a0 ^ a1) & (b0 ^ b1) == c0 ^ c1).all()
        assert used and {id(p) for p in used} == {id(parallel.shared_pool())}
    finally:
        pair.close()


def test_traffic_is_counted_on_the_channel(ou: Pair) -> None:
    before = [c.stats.copy() for c in ou.channels]
    check_mul(ou, 10)
    sent, received = (ou.channels[0].stats - before[0]), (ou.channels[1].stats - before[1])
    assert sent.rounds_sent == 2 and sent.bytes_sent == received.bytes_received > 10 * 128


def test_key_holder_decrypts_masked_values_only(ou: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    """What party 0 decrypts for its half of mul is a0*b1 + b0*a1 + rho: ~170 bits, not the cross term."""
    seen: dict[str, list[int]] = {}
    decrypt = parallel.decrypt_many

    def recording(*args: Any, **kwargs: Any) -> list[int]:
        out = decrypt(*args, **kwargs)
        seen[threading.current_thread().name] = out
        return out

    monkeypatch.setattr(parallel, "decrypt_many", recording)
    (a0, b0, _), (a1, b1, _) = ou.run(lambda t: t.mul(8))
    decrypted = seen["rank-0"]
    assert len(decrypted) == 4   # party 0 holds the key for the first half
    for i, v in enumerate(decrypted):
        cross = int(a0[i]) * int(b1[i]) + int(b0[i]) * int(a1[i])
        assert v != cross and v.bit_length() > 129 and (v - cross) % 2**64 != 0   # cross < 2^129


def test_plaintext_space_too_small_is_refused_before_anything_is_sent() -> None:
    pair = Pair("paillier", 160)   # 159-bit plaintexts: a masked mul needs 170
    with pytest.raises(HeError, match="mul triples need plaintexts of 170 bits"):
        pair.run(lambda t: t.mul(1))
    assert pair.channels[0].stats.rounds_sent == 1   # the public key only


def test_constructor_errors() -> None:
    ch = channels()[0]
    with pytest.raises(MpcError, match="rank must be 0 or 1"):
        HeTriples(ch, 2)
    with pytest.raises(HeError, match="unknown HE scheme 'rsa'"):
        HeTriples(ch, 0, "rsa")
    with pytest.raises(MpcError, match="non-negative"):
        Pair("ou", 1024).run(lambda t: t.mul(-1))


# ---- a peer sending garbage: party 1 speaks the wire by hand ---------------------------------------------
def garbage_run(peer: Callable[[PeerChannel, Any, Any], None], op: Callable[[HeTriples], Any], bits: int = 1024,
                timeout: float = TIMEOUT) -> None:
    """Party 0 runs `op` on a real source; party 1 sends an OU public key of its own, then does
    `peer(channel, its public key, party 0's public key)`."""
    chs = channels(timeout)
    sk = generate_ou(bits, allow_insecure_keys=True)

    def fake() -> None:
        topic = chs[1].topic("he-public-key")
        chs[1].send_bytes(topic, serialize.public_key_to_bytes(sk.public))
        theirs = serialize.public_key_from_bytes(chs[1].recv_bytes(topic), "ou", allow_insecure_keys=True)
        peer(chs[1], sk.public, theirs)

    def real() -> Any:
        return op(HeTriples(chs[0], 0, "ou", 1024, allow_insecure_keys=True))

    both([real, fake])


def test_wrong_count_of_ciphertexts() -> None:
    def peer(ch: PeerChannel, mine: Any, _: Any) -> None:   # mul(2): party 0 expects Enc(a1), Enc(b1) of element 1
        ch.send_bytes(ch.topic("he-mul"), serialize.ciphertexts_to_bytes(mine, mine.encrypt_many([1] * 3), (3,)))

    with pytest.raises(MpcError, match=r"shape \(3,\) .* where \(2,\) were expected"):
        garbage_run(peer, lambda t: t.mul(2))


ZERO_CIPHERTEXT = serialize.ciphertexts_to_bytes(generate_ou(1024, allow_insecure_keys=True).public, [0], (1,))


@pytest.mark.parametrize("data", [b"\x00\xff garbage", b"", ZERO_CIPHERTEXT])
def test_malformed_message(data: bytes) -> None:
    def peer(ch: PeerChannel, *_: Any) -> None:
        ch.send_bytes(ch.topic("he-and"), data)

    with pytest.raises(MpcError, match="unusable message on 'he-and-2'"):
        garbage_run(peer, lambda t: t.and_(1))


def test_reply_that_decrypts_out_of_range() -> None:
    """A peer that answers with encryptions of numbers above the masked range is caught at decryption."""
    def peer(ch: PeerChannel, mine: Any, theirs: Any) -> None:
        ch.recv_bytes(ch.topic("he-mul"))   # party 0's Enc(a0), Enc(b0) for element 0
        ch.send_bytes("he-mul-2", serialize.ciphertexts_to_bytes(mine, mine.encrypt_many([1] * 2), (2,)))
        ch.recv_bytes(reply := ch.topic("he-mul-reply"))
        ch.send_bytes(reply, serialize.ciphertexts_to_bytes(theirs, theirs.encrypt_many([2**200]), (1,)))

    with pytest.raises(MpcError, match="more than 170 bits"):
        garbage_run(peer, lambda t: t.mul(2))


def test_key_of_another_size_is_refused() -> None:
    chs = channels()

    def fake() -> None:
        topic = chs[1].topic("he-public-key")
        chs[1].send_bytes(topic, serialize.public_key_to_bytes(generate_ou(1536, allow_insecure_keys=True).public))

    with pytest.raises(MpcError, match="1536-bit ou key where both parties agreed on 1024 bits"):
        both([lambda: HeTriples(chs[0], 0, "ou", 1024, allow_insecure_keys=True), fake])


def test_silent_peer_times_out() -> None:
    with pytest.raises(FederationError, match=r"within 0\.5 s"):
        garbage_run(lambda *_: None, lambda t: t.square(3), timeout=0.5)
