"""The Channel SDK against two real nodes: bytes, objects, a 200 MiB message, streams, timeouts, the
component environment, and task-scoped release."""
from __future__ import annotations

import hashlib
import os
import time

import pytest

from hulian.federation import Scope
from hulian.node.cluster import ClusterNode
from hulian.sdk.env import ComponentEnv
from hulian.sdk.runner import context_for
from hulian.transport.channel import Channel, ChannelTimeout
from tests.conftest import container_client, ptp_headers

pytestmark = pytest.mark.cluster

SESSION = "session_job1"
PARTIES = {"guest.0": "node-a", "host.0": "node-b"}
MiB = 1 << 20


def channel(node: ClusterNode, task_id: str = "task1") -> Channel:
    return Channel(node.url, SESSION, node.admin_token, node.node_id, PARTIES, topic=Scope(task_id).wire_topic,
                   ca_file=node.ca_file)


@pytest.fixture
def pair(make_cluster) -> list[ClusterNode]:
    """node-a (guest.0) and node-b (host.0)."""
    return make_cluster(2)


@pytest.fixture
def chans(pair):
    a, b = pair
    with channel(a) as ca, channel(b) as cb:
        yield ca, cb


def test_bytes_round_trip_both_directions(chans):
    ca, cb = chans
    ca.send("host.0", "ping", b"hello \x00\xff")
    assert cb.recv("node-a", "ping", timeout=10) == b"hello \x00\xff"
    cb.send("node-a", "pong", b"")
    assert ca.recv("host.0", "pong", timeout=10) == b""


def test_recv_view_reuses_one_buffer(chans):
    """recv_view reads each message into the channel's buffer: grown for a larger message, reused after."""
    ca, cb = chans
    big, small = os.urandom(3 * MiB + 5), os.urandom(1000)
    for data in (small, big, small, b""):
        ca.send("host.0", "views", data)
    first = cb.recv_view("guest.0", "views", timeout=10)
    assert first == small
    second = cb.recv_view("guest.0", "views", timeout=10)
    assert second == big and second.obj is not first.obj  # grown; the first view still reads its message
    assert first == small
    third = cb.recv_view("guest.0", "views", timeout=10)
    assert third == small and third.obj is second.obj  # reused
    assert cb.recv_view("guest.0", "views", timeout=10) == b""
    with pytest.raises(ChannelTimeout):
        cb.recv_view("guest.0", "views", timeout=0.2)


def test_objects_round_trip(chans):
    ca, cb = chans
    obj = {"w": [1.5, -2, 3], "name": "lr", "blob": b"\x00\x01", "ok": True, "none": None, 7: "int key"}
    ca.send_obj("host.0", "model", obj)
    assert cb.recv_obj("guest.0", "model", timeout=10) == obj


def test_200_mib_message_arrives_intact_through_a_relay(make_cluster):
    """The acceptance case: node-a reaches node-c only through node-b."""
    a, _, c = make_cluster(3, relays=[("node-a", "node-c", "node-b")])
    parties = {"guest.0": a.node_id, "host.0": c.node_id}
    ca = Channel(a.url, SESSION, a.admin_token, a.node_id, parties, topic=Scope("task1").wire_topic,
                 ca_file=a.ca_file)
    cb = Channel(c.url, SESSION, c.admin_token, c.node_id, parties, topic=Scope("task1").wire_topic,
                 ca_file=c.ca_file)
    data, digest = bytearray(), hashlib.sha256()
    for _ in range(200 // 8):
        piece = os.urandom(8 * MiB)
        digest.update(piece)
        data += piece
    start = time.monotonic()
    ca.send("host.0", "big", data)
    del data
    got = cb.recv("guest.0", "big", timeout=120)
    elapsed = time.monotonic() - start
    assert len(got) == 200 * MiB and hashlib.sha256(got).hexdigest() == digest.hexdigest()
    print(f"200 MiB send+recv through a relay: {elapsed:.1f} s")
    ca.close()
    cb.close()


def test_stream_arrives_in_order(chans):
    ca, cb = chans
    pieces = [bytes([i]) * (8 * MiB) for i in range(20)]
    assert ca.send_stream("host.0", "stream", iter(pieces)) == 20
    got = list(cb.recv_stream("guest.0", "stream", timeout=60))
    assert got == pieces
    assert ca.send_stream("host.0", "empty", []) == 0
    assert list(cb.recv_stream("guest.0", "empty", timeout=10)) == []


def test_recv_timeout_on_empty_topic(chans):
    _, cb = chans
    start = time.monotonic()
    with pytest.raises(ChannelTimeout, match=r"nothing from 'node-a' on topic 'task1\.nothing'"):
        cb.recv("guest.0", "nothing", timeout=1)
    assert 0.9 <= time.monotonic() - start < 3


def test_recv_only_takes_the_named_peers_messages(pair, chans):
    b = pair[1]
    _, cb = chans
    with container_client(b) as c:  # node-b writes to itself on the topic: not from node-a
        headers = ptp_headers(b, SESSION, b.node_id, **{"content-type": "application/octet-stream",
                                                        "x-ptp-topic": "task1.mixed"})
        r = c.post("/v1/interconn/chan/push", content=b"self", headers=headers)
        assert r.status_code == 200
    with pytest.raises(ChannelTimeout):
        cb.recv("guest.0", "mixed", timeout=0.5)
    assert cb.recv("host.0", "mixed", timeout=5) == b"self"


def test_from_env(pair):
    a, b = pair
    env = {"system.transport": a.url.removeprefix("https://"), "config.transport_ca": a.ca_file,
           "config.session_id": SESSION, "config.token": a.admin_token, "config.self_role": "guest.0",
           "config.node_id.guest.0": "node-a", "config.node_id.host.0": "node-b",
           "config.inst_id.guest.0": "inst-a", "config.inst_id.host.0": "inst-b",
           "config.task_id": "task-env"}
    ctx = context_for(ComponentEnv.read({**env, "system.storage": "file:///nonexistent"}))
    with channel(b, "task-env") as cb:
        ca = ctx.federation.channel
        assert ca.self_node_id == "node-a" and ca.parties == PARTIES
        ctx.send_bytes(ctx.party("host.0"), "env", b"from env")
        assert cb.recv("guest.0", "env", timeout=10) == b"from env"
    ctx.close()


def wait_queued(node: ClusterNode, topic: str) -> None:
    """Poll node's queue until a message on `topic` is there (peek does not consume it)."""
    deadline = time.monotonic() + 20
    with container_client(node) as c:
        while time.monotonic() < deadline:
            r = c.post("/v1/interconn/chan/peek", headers=ptp_headers(
                node, SESSION, node.node_id, **{"content-type": "application/octet-stream",
                                                "accept": "application/octet-stream", "x-ptp-topic": topic}))
            if r.headers.get("x-hulian-message-id"):
                return
            time.sleep(0.05)
    raise AssertionError(f"nothing arrived on {topic} at {node.node_id}")


def test_release_is_scoped_by_task(pair):
    a, b = pair
    with channel(a, "t1") as a1, channel(a, "t2") as a2, channel(b, "t1") as b1, channel(b, "t2") as b2:
        a1.send("host.0", "data", b"t1 data")
        a2.send("host.0", "data", b"t2 data")
        a2.send("host.0", "more", b"t2 more")
        for topic in ("t1.data", "t2.data", "t2.more"):
            wait_queued(b, topic)
        b1.release("data")
        with pytest.raises(ChannelTimeout):
            b1.recv("guest.0", "data", timeout=0.5)
        assert b2.recv("guest.0", "data", timeout=5) == b"t2 data"
        b1.release()  # every topic t1 used; the session stays open for t2
        assert b2.recv("guest.0", "more", timeout=5) == b"t2 more"
