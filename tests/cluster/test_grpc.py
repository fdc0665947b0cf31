"""The gRPC services of real nodes: container push/pop over gRPC and across HTTP, and peers' invoke/transport
with certificates and signatures (one TLS port serving both)."""
from __future__ import annotations

import hashlib
import os
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import yaml

from hulian.crypto import signing
from hulian.node import cluster
from hulian.node.cluster import ClusterNode
from hulian.wire import ptp_pb2, ptp_pb2_grpc
from tests.conftest import container_client, ptp_headers

pytestmark = pytest.mark.cluster

OK = "E0000000000"
INVOKE = "/org.ppc.ptp.PrivateTransferProtocol/invoke"
TRANSPORT = "/org.ppc.ptp.PrivateTransferProtocol/transport"


@dataclass
class GrpcNode:
    node: ClusterNode
    port: int

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"


def _read(path: str) -> bytes:
    return Path(path).read_bytes()


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[GrpcNode]]:
    """Two nodes, each with gRPC on its own port (make_cluster's `extra` would give both the same port)."""
    directory = tmp_path_factory.mktemp("grpc")
    started = cluster.generate(directory, 2)
    result = []
    try:
        for n in started:
            port = cluster.free_port()
            path = Path(n.config)
            cfg = yaml.safe_load(path.read_text())
            cfg["grpc"] = {"enabled": True, "port": port}
            path.write_text(yaml.safe_dump(cfg, sort_keys=False))
            n.pid = cluster.start_node(path)
            result.append(GrpcNode(n, port))
        for g in result:
            cluster.wait_healthy(g.node)
        yield result
    finally:
        for n in started:
            if n.pid:
                cluster.stop_pid(n.pid)


def channel(g: GrpcNode, as_node: ClusterNode | None = None) -> grpc.Channel:
    """TLS to the node's gRPC port; with `as_node`, presenting that node's client certificate."""
    if as_node is None:
        creds = grpc.ssl_channel_credentials(root_certificates=_read(g.node.ca_file))
    else:
        creds = grpc.ssl_channel_credentials(_read(as_node.ca_file), _read(as_node.client_key),
                                             _read(as_node.client_cert))
    return grpc.secure_channel(g.target, creds)


def container_md(node: ClusterNode, session: str, **extra: str) -> list[tuple[str, str]]:
    return [("x-ptp-session-id", session), ("x-ptp-token", node.admin_token), *extra.items()]


def signed(signer: ClusterNode, path: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
    """Headers signed as PeerClient.signed does, with `signer`'s key."""
    digest = hashlib.sha256(body).hexdigest()
    ts, nonce = str(int(time.time() * 1000)), secrets.token_hex(16)
    data = signing.canonical("POST", path, digest, ts, nonce, headers.get("x-ptp-source-node-id", ""))
    key = signing.load_private_key(signer.client_key)
    return {**headers, "x-timestamp": ts, "x-nonce": nonce, "x-content-sha256": digest,
            "x-auth-sign": signing.sign(key, data)}


def peer_inbound(sender: ClusterNode, target: ClusterNode, session: str, topic: str, data: bytes,
                 path: str = INVOKE) -> ptp_pb2.Inbound:
    body = ptp_pb2.PushInbound(topic=topic, payload=data, metadata={"k": "v"}).SerializeToString()
    headers = {"x-ptp-session-id": session, "x-ptp-target-node-id": target.node_id,
               "x-ptp-source-node-id": sender.node_id, "x-hulian-message-id": uuid.uuid4().hex}
    return ptp_pb2.Inbound(metadata=signed(sender, path, body, headers), payload=body)


def grpc_pop(g: GrpcNode, session: str, topic: str, timeout: int = 20, **md: str) -> ptp_pb2.TransportOutbound:
    with channel(g) as ch:
        return ptp_pb2_grpc.PrivateTransferTransportStub(ch).pop(
            ptp_pb2.PopInbound(topic=topic, timeout=timeout), metadata=container_md(g.node, session, **md),
            timeout=timeout + 10)


@pytest.mark.parametrize("size", [1000, 3 * 1024 * 1024])  # inline, and in blob files
def test_push_and_pop_over_grpc(nodes: list[GrpcNode], size: int) -> None:
    a, b = nodes
    session, data = uuid.uuid4().hex, os.urandom(size)
    with channel(a) as ch:
        out = ptp_pb2_grpc.PrivateTransferTransportStub(ch).push(
            ptp_pb2.PushInbound(topic="t", payload=data, metadata={"k": "v"}),
            metadata=container_md(a.node, session, **{"x-ptp-target-node-id": b.node.node_id}), timeout=30)
    assert out.code == OK, out.message
    got = grpc_pop(b, session, "t")
    assert got.code == OK, got.message
    assert got.payload == data
    assert got.metadata["x-ptp-source-node-id"] == a.node.node_id
    assert got.metadata["k"] == "v"


def test_push_over_http_pop_over_grpc(nodes: list[GrpcNode]) -> None:
    a, b = nodes
    session, data = uuid.uuid4().hex, os.urandom(5000)
    with container_client(a.node) as http:
        r = http.post("/v1/interconn/chan/push", content=data,
                      headers=ptp_headers(a.node, session, b.node.node_id, **{"x-ptp-topic": "h"}))
    assert r.status_code == 200, r.text
    got = grpc_pop(b, session, "h")
    assert got.code == OK, got.message
    assert got.payload == data


def test_grpc_pop_takes_the_sender_kuscia_names(nodes: list[GrpcNode]) -> None:
    """As over HTTP: a pop naming another node in x-ptp-target-node-id takes only that node's messages."""
    a, b = nodes
    session = uuid.uuid4().hex
    with container_client(a.node) as http:
        r = http.post("/v1/interconn/chan/push", content=b"from a",
                      headers=ptp_headers(a.node, session, b.node.node_id, **{"x-ptp-topic": "k"}))
    assert r.status_code == 200, r.text
    assert grpc_pop(b, session, "k", timeout=1, **{"x-ptp-target-node-id": "node-z"}).payload == b""
    assert grpc_pop(b, session, "k", **{"x-ptp-target-node-id": a.node.node_id}).payload == b"from a"


def test_container_errors_are_codes_not_statuses(nodes: list[GrpcNode]) -> None:
    a, _ = nodes
    with channel(a) as ch:
        stub = ptp_pb2_grpc.PrivateTransferTransportStub(ch)
        bad_token = stub.pop(ptp_pb2.PopInbound(topic="t", timeout=1),
                             metadata=[("x-ptp-session-id", "s"), ("x-ptp-token", "nope")], timeout=10)
        no_target = stub.push(ptp_pb2.PushInbound(topic="t", payload=b"x"),
                              metadata=container_md(a.node, "s"), timeout=10)
        empty = stub.pop(ptp_pb2.PopInbound(topic="t", timeout=1), metadata=container_md(a.node, "s"), timeout=10)
    assert bad_token.code == "E0000000403"
    assert no_target.code == "E0000000400"
    assert (empty.code, empty.payload) == (OK, b"")


def test_peer_invoke_with_certificate_and_signature(nodes: list[GrpcNode]) -> None:
    a, b = nodes
    session, data = uuid.uuid4().hex, os.urandom(2000)
    with channel(b, as_node=a.node) as ch:
        out = ptp_pb2_grpc.PrivateTransferProtocolStub(ch).invoke(
            peer_inbound(a.node, b.node, session, "p", data), timeout=30)
    assert out.code == OK, out.message
    got = grpc_pop(b, session, "p")
    assert (got.code, got.payload) == (OK, data)
    assert got.metadata["x-ptp-source-node-id"] == a.node.node_id


def test_peer_invoke_without_certificate_is_refused(nodes: list[GrpcNode]) -> None:
    a, b = nodes
    with channel(b) as ch:
        out = ptp_pb2_grpc.PrivateTransferProtocolStub(ch).invoke(
            peer_inbound(a.node, b.node, uuid.uuid4().hex, "p", b"x"), timeout=30)
    assert out.code == "E0000000603"


def test_peer_invoke_with_altered_payload_is_refused(nodes: list[GrpcNode]) -> None:
    a, b = nodes
    session = uuid.uuid4().hex
    inbound = peer_inbound(a.node, b.node, session, "p", b"signed bytes")
    inbound.payload = ptp_pb2.PushInbound(topic="p", payload=b"other bytes").SerializeToString()
    with channel(b, as_node=a.node) as ch:
        out = ptp_pb2_grpc.PrivateTransferProtocolStub(ch).invoke(inbound, timeout=30)
    assert out.code == "E0000000615"
    assert grpc_pop(b, session, "p", timeout=1).payload == b""


def test_peer_transport_stream_answers_each_inbound(nodes: list[GrpcNode]) -> None:
    a, b = nodes
    session = uuid.uuid4().hex
    good = [peer_inbound(a.node, b.node, session, "s", bytes([i]) * 100, TRANSPORT) for i in range(2)]
    unsigned = ptp_pb2.Inbound(metadata={"x-ptp-session-id": session, "x-ptp-target-node-id": b.node.node_id},
                               payload=b"x")
    with channel(b, as_node=a.node) as ch:
        outs = list(ptp_pb2_grpc.PrivateTransferProtocolStub(ch).transport(iter([good[0], unsigned, good[1]]),
                                                                           timeout=30))
    assert [o.code for o in outs] == [OK, "E0000000615", OK]
    assert {grpc_pop(b, session, "s").payload for _ in range(2)} == {bytes([0]) * 100, bytes([1]) * 100}
