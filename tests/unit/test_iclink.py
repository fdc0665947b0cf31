"""The link's protocol logic without a network: keys, chunk reassembly, seq ids across channels, ACK
throttling, FIN at close, repeated connects (two sessions joined by an in-memory carrier)."""
from __future__ import annotations

import os
import random
import threading
import time

import pytest

from hulian.transport.iclink import IcLink, LinkError, LinkOptions, LinkTimeout
from hulian.transport.iclink.errors import CarrierError
from hulian.transport.iclink.keys import ChunkAssembler, split_seq, with_seq
from hulian.transport.iclink.session import Carrier, Session
from hulian.wire.interconnection.link import transport_pb2 as pb


class MemCarrier(Carrier):
    """Delivers a push straight into the other session, recording every request."""

    def __init__(self) -> None:
        self.other: Session | None = None
        self.log: list[pb.PushRequest] = []
        self.down = False

    def describe(self, peer: int) -> str:
        return "memory"

    def push(self, peer: int, request: pb.PushRequest, timeout: float) -> None:
        if self.down:
            raise CarrierError("peer is down")
        self.log.append(request)
        header = self.other.on_request(pb.PushRequest.FromString(request.SerializeToString()))
        if header.error_code:
            raise CarrierError(header.error_msg, retryable=False)

    def reachable(self, peer: int, timeout: float) -> bool:
        return not self.down


def pair(**options) -> tuple[IcLink, IcLink, MemCarrier, MemCarrier]:
    opts = LinkOptions(**{"recv_timeout": 5.0, "retry_interval": 0.01, **options})
    c0, c1 = MemCarrier(), MemCarrier()
    s0, s1 = Session(0, 2, c0, opts), Session(1, 2, c1, opts)
    c0.other, c1.other = s1, s0
    return IcLink(s0), IcLink(s1), c0, c1


def test_keys():
    assert with_seq("root:P2P-1:0->1", 7) == "root:P2P-1:0->1\x01\x027"
    assert split_seq("root-2:P2P-1:1->0\x01\x029") == ("root-2:P2P-1:1->0", 9)
    assert split_seq("legacy-key") == ("legacy-key", 0)


def test_reassembly_out_of_order_and_duplicated():
    data = os.urandom(10_000)
    pieces = [(o, data[o:o + 1000]) for o in range(0, len(data), 1000)]
    order = pieces + pieces[:3]  # three duplicates
    random.Random(1).shuffle(order)
    asm, results = ChunkAssembler(), []
    for offset, piece in order:
        whole = asm.add("k", offset, len(data), piece)
        if whole is not None:
            results.append(whole)
    assert results == [data] and asm.pending() == 0
    with pytest.raises(ValueError, match="overruns"):
        asm.add("k2", 9_500, 10_000, b"x" * 600)
    asm.add("k3", 0, 10, b"x")
    with pytest.raises(ValueError, match="an earlier one said 10"):
        asm.add("k3", 1, 11, b"y")


def test_messages_keys_seq_ids_across_channels_and_chunks():
    l0, l1, c0, _ = pair(max_payload=1000)
    big = os.urandom(4500)
    l0.send(1, b"a")
    sub = l0.spawn()
    sub.send(1, big)
    l0.send(1, b"b")
    assert l1.recv(0) == b"a" and l1.recv(0) == b"b" and l1.spawn().recv(0) == big
    keys = [(r.key, r.trans_type) for r in c0.log if not r.key.startswith("ACK")]
    assert keys[0] == ("root:P2P-1:0->1\x01\x021", pb.MONO)
    assert {k for k, t in keys if t == pb.CHUNKED} == {"root-0:P2P-1:0->1\x01\x022"}  # seq shared by channels
    assert ("root:P2P-2:0->1\x01\x023", pb.MONO) in keys
    assert sorted(r.chunk_info.chunk_offset for r in c0.log if r.trans_type == pb.CHUNKED) == [0, 1000, 2000,
                                                                                              3000, 4000]


def test_a_chunk_refused_for_good_stops_the_message():
    """The second chunk is refused (not retryable): no chunk after it is sent and the next send says why."""
    opts = LinkOptions(recv_timeout=5.0, retry_interval=0.01, max_payload=1000, chunk_parallel=1)
    c0, c1 = MemCarrier(), MemCarrier()
    s0, s1 = Session(0, 2, c0, opts), Session(1, 2, c1, opts)
    c0.other, c1.other = s1, s0
    original = c0.push

    def refuse_second_chunk(peer: int, request: pb.PushRequest, timeout: float) -> None:
        if request.trans_type == pb.CHUNKED and request.chunk_info.chunk_offset == 1000:
            raise CarrierError("chunk refused", retryable=False)
        original(peer, request, timeout)

    c0.push = refuse_second_chunk  # type: ignore[method-assign]
    s0.send(1, "k", os.urandom(10_000), throttled=False)
    deadline = time.monotonic() + 5
    while s0.peers[1].error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [r.chunk_info.chunk_offset for r in c0.log if r.trans_type == pb.CHUNKED] == [0]
    with pytest.raises(LinkError, match="chunk refused"):
        IcLink(s0).send(1, b"next")


def test_throttle_window_blocks_until_acks():
    l0, l1, _, c1 = pair(throttle_window=3, recv_timeout=0.5)
    for i in range(2):
        l0.send(1, b"%d" % i)
    with pytest.raises(LinkTimeout, match=r"acknowledged only 0 of 3 messages within 0\.5 s \(window 3\)"):
        l0.send(1, b"2")  # the third un-ACKed message waits for the window, in vain
    assert [l1.recv(0) for _ in range(3)] == [b"0", b"1", b"2"]
    time.sleep(0.1)
    assert sorted(int(r.value) for r in c1.log if r.key == "ACK\x01\x02") == [1, 2, 3]
    l0.send(1, b"3")  # the window is open again


def test_fin_waits_for_the_peer_and_unread_messages_are_acked():
    l0, l1, c0, _ = pair()
    l0.send(1, b"x")
    l1.send(0, b"never read")
    closed = threading.Event()
    t = threading.Thread(target=lambda: (l0.close(timeout=5), closed.set()))
    t.start()
    time.sleep(0.2)
    assert not closed.is_set()  # rank 0 waits for rank 1's FIN
    assert l1.recv(0) == b"x"
    l1.close(timeout=5)
    t.join(5)
    assert closed.is_set()
    assert [r.value for r in c0.log if r.key == "FIN\x01\x02"] == [b"1"]
    assert [r.value for r in c0.log if r.key == "ACK\x01\x02"] == [b"1"]  # rank 0 acked the unread message


def test_a_peer_that_closed_wakes_a_waiting_receive():
    """A peer that stopped early (it closed its link after a failure of its own) fails the receive at
    once with that reason, not after the whole receive timeout."""
    l0, l1, _, _ = pair()
    t = threading.Thread(target=lambda: l1.close(timeout=5))
    t.start()
    started = time.monotonic()
    with pytest.raises(LinkError, match=r"rank 1 .* closed its link after sending 0 messages"):
        l0.recv(1)
    assert time.monotonic() - started < 3  # the receive timeout is 5 s
    l0.close(timeout=5)
    t.join(5)


def test_close_times_out_when_the_peer_never_closes():
    l0, _, _, _ = pair()
    with pytest.raises(LinkTimeout, match=r"rank 1 .* sent no FIN"):
        l0.close(timeout=0.3)


def test_repeated_connect_is_answered_and_duplicates_dropped():
    l0, l1, c0, c1 = pair()
    threads = [threading.Thread(target=link._session.connect_to_mesh) for link in (l0, l1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    connects = [r for r in c0.log if r.key == "connect_0\x01\x020"]
    assert len(connects) == 1
    l0._session.peers[1].on_message("connect_1\x01\x020", b"")  # rank 1 runs ConnectToMesh again
    time.sleep(0.1)
    answers = [r for r in c0.log if r.key == "connect_0\x01\x020"][1:]
    assert [r.value for r in answers] == [b"again"]  # answered once; rank 1 does not answer the answer
    assert len([r for r in c1.log if r.key.startswith("connect_1")]) == 1
    l1._session.peers[0].on_message(with_seq("root:P2P-1:0->1", 1), b"one")
    l1._session.peers[0].on_message(with_seq("root:P2P-1:0->1", 1), b"retried")  # same seq: dropped
    assert l1.recv(0) == b"one"


def connected(**options) -> tuple[IcLink, IcLink, MemCarrier, MemCarrier]:
    """A pair after the connect handshake (which starts the watch of each peer)."""
    l0, l1, c0, c1 = pair(**options)
    threads = [threading.Thread(target=link._session.connect_to_mesh) for link in (l0, l1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    return l0, l1, c0, c1


def test_an_unreachable_peer_fails_the_link_with_nothing_waiting():
    """A party busy with local work (no receive pending) learns within recv_timeout that its peer is gone."""
    l0, l1, c0, _ = connected(recv_timeout=1.0)
    time.sleep(1.5)
    l0.check()  # reachable: the watch does not fail a quiet peer
    c0.down = True
    started = time.monotonic()
    while time.monotonic() - started < 5:
        try:
            l0.check()
        except LinkError as e:
            assert "rank 1 (memory) has been unreachable for 1 s" in str(e)
            break
        time.sleep(0.05)
    else:
        pytest.fail("the link did not fail within 5 s of its peer becoming unreachable")
    assert 0.5 <= time.monotonic() - started < 2.5
    with pytest.raises(LinkError, match="unreachable"):
        l0.recv(1, timeout=5)  # fails at once
    l0.abort()
    l1.abort()


def test_a_peer_that_sent_its_fin_may_go_away():
    l0, l1, c0, _ = connected(recv_timeout=0.5)
    t = threading.Thread(target=lambda: l1.close(timeout=5))
    t.start()
    deadline = time.monotonic() + 5
    while not l0._session.peers[1].closed_by_peer and time.monotonic() < deadline:
        time.sleep(0.01)
    c0.down = True  # rank 1 is done: its going away is no failure
    time.sleep(1.5)
    l0.check()
    c0.down = False
    l0.close(timeout=5)
    t.join(5)
