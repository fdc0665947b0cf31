"""PtpLink (yacl's black-box link) between two real hulian nodes: session tokens, both directions, a
chunked message, a spawned channel, FIN at close; and the node's replies in the layout yacl reads."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import yaml

from hulian.crypto import tokens
from hulian.federation import Scope
from hulian.node.cluster import ClusterNode
from hulian.sdk.env import ComponentEnv
from hulian.transport.iclink import LinkError, LinkOptions
from hulian.transport.iclink.ptp_link import PtpLink, decode_outbound
from hulian.transport.party import Party
from hulian.wire.interconnection.link import blackbox_pb2
from tests.conftest import container_client

pytestmark = pytest.mark.cluster

SESSION = "session-iclink"
MiB = 1 << 20


def session_token(node: ClusterNode) -> str:
    secret = yaml.safe_load(Path(node.config).read_text())["security"]["token_secret"]
    return tokens.issue(secret, SESSION, 600)


def env_of(node: ClusterNode, role: str, nodes: list[ClusterNode]) -> dict[str, str]:
    return {"system.transport": node.url, "config.transport_ca": node.ca_file, "config.session_id": SESSION,
            "config.token": session_token(node), "config.trace_id": "trace-1", "config.self_role": role,
            "config.node_id.guest.0": nodes[0].node_id, "config.node_id.host.0": nodes[1].node_id,
            "config.inst_id.guest.0": nodes[0].inst_id, "config.inst_id.host.0": nodes[1].inst_id}


def link_from_env(environ: dict[str, str], options: LinkOptions) -> PtpLink:
    """The link a component gets, read from its environment as the SDK reads it."""
    env = ComponentEnv.read(environ)
    ranks = [p.party_id for p in env.parties]
    return PtpLink.connect(env.transport, env.parties, ranks.index(env.self_role), env.session_id, env.token,
                           env.trace_id, env.transport_ca or None, options,
                           topic=Scope(link_scope=env.topic_scope).link_topic)


def test_ptp_link_both_directions_chunked_and_spawned(make_cluster):
    a, b = make_cluster(2)
    big = os.urandom(3 * MiB + 123)
    opts = LinkOptions(recv_timeout=20, max_payload=512 * 1024)  # yacl's black-box default chunk size
    results: dict[str, object] = {}

    def guest() -> None:
        with link_from_env(env_of(a, "guest.0", [a, b]), opts) as link:
            assert (link.rank, link.world_size) == (0, 2)
            link.send(1, b"hello host")
            link.send(1, big)
            sub = link.spawn()
            assert sub.id == "root-0"
            sub.send(1, b"on root-0")
            results["guest"] = (link.recv(1), sub.recv(1))

    def host() -> None:
        with link_from_env(env_of(b, "host.0", [a, b]), opts) as link:
            assert link.rank == 1
            first, second = link.recv(0), link.recv(0)
            sub = link.spawn()
            results["host"] = (first, second, sub.recv(0))
            sub.send(0, b"sub reply")
            link.send(0, b"hello guest")

    threads = [threading.Thread(target=f) for f in (guest, host)]
    errors: list[BaseException] = []
    for t in threads:
        t.run = _capture(t.run, errors)
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert results["host"] == (b"hello host", big, b"on root-0")
    assert results["guest"] == (b"hello guest", b"sub reply")


def _capture(run, errors: list[BaseException]):
    def wrapped() -> None:
        try:
            run()
        except BaseException as e:
            errors.append(e)
    return wrapped


def test_node_answers_yacl_callers_in_their_layout(make_cluster):
    """A push and pop with yacl's headers: replies are {payload=1, code=2, message=3}; the pop takes the
    messages of the node named in x-ptp-target-node-id, though x-ptp-source-node-id names the caller."""
    a, b = make_cluster(2)
    token_a, token_b = session_token(a), session_token(b)
    common = {"x-ptp-tecn-provider-code": "SecretFlow", "x-ptp-session-id": SESSION, "x-ptp-trace-id": "t"}
    with container_client(a) as ca, container_client(b) as cb:
        r = ca.post("/v1/interconn/chan/push", content=b"raw push request bytes", headers={
            **common, "x-ptp-token": token_a, "x-ptp-source-node-id": a.node_id, "x-ptp-target-node-id": b.node_id,
            "x-ptp-topic": "guest.0-host.0"})
        out = blackbox_pb2.TransportOutbound.FromString(r.content)
        assert r.status_code == 200 and out.code == "E0000000000", r.content
        r = cb.post("/v1/interconn/chan/pop?timeout=10", headers={
            **common, "x-ptp-token": token_b, "x-ptp-source-node-id": b.node_id, "x-ptp-target-node-id": a.node_id,
            "x-ptp-topic": "guest.0-host.0"})
        out = blackbox_pb2.TransportOutbound.FromString(r.content)
        assert (out.code, out.payload) == ("E0000000000", b"raw push request bytes")
        assert decode_outbound(r.content) == ("E0000000000", out.message, b"raw push request bytes")


def test_ptp_link_reports_an_unreachable_transport():
    parties = [Party("guest.0", "node-a"), Party("host.0", "node-b")]
    opts = LinkOptions(connect_retries=2, connect_interval=0.1)
    with pytest.raises(LinkError, match=r"could not reach rank 1 \(party host.0 on node node-b"):
        PtpLink.connect("http://127.0.0.1:9", parties, 0, SESSION, options=opts)
