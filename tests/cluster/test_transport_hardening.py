"""Issue 12, transport plane, tried as an attacker holding a partner's valid certificate would, against real
TLS nodes: peer-supplied ids never become paths, inputs that gave a 500, a claimed source node, headers taken on
trust, a stalled body, too many long polls, and the code of a push without a session."""
from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import httpx
import pytest

from hulian.control import paths as P
from hulian.node import cluster
from hulian.node.cluster import ClusterNode
from hulian.transport.channel import Channel
from hulian.wire import ptp_pb2, ptp_pb2_grpc
from hulian.wire.interconnection.link import blackbox_pb2
from tests.cluster.test_grpc import signed
from tests.cluster.test_transport import INVOKE, PEEK, POP, PUSH, _code, _signed_invoke_headers
from tests.conftest import container_client, peer_client, ptp_headers

pytestmark = pytest.mark.cluster

OK, ILLEGAL, UNAUTHORIZED = "E0000000000", "E0000000400", "E0000000403"
BIG = 200_000  # over limits.inline_bytes: the payload goes to a file named after the message id
IDLE = 2.0  # limits.body_idle_timeout_seconds of these nodes
POPS = 2  # limits.max_pops_per_session of these nodes
GRPC_INVOKE = "/org.ppc.ptp.PrivateTransferProtocol/invoke"


@pytest.fixture(scope="module")
def trio(tmp_path_factory):
    """node-a and node-c reach each other only through node-b; node-b also serves gRPC."""
    d = tmp_path_factory.mktemp("hardening")
    grpc_port = cluster.free_port()
    nodes = cluster.up(d, 3, [("node-a", "node-c", "node-b")], extra={
        "limits": {"body_idle_timeout_seconds": IDLE, "max_pops_per_session": POPS}},
        per_node={"node-b": {"grpc": {"enabled": True, "port": grpc_port}}})
    nodes[1].grpc_port = grpc_port  # type: ignore[attr-defined]
    yield nodes
    cluster.down(d)


def _outside(root: Path, name: str) -> list[Path]:
    """Files named `name`* anywhere under the test run's temporary root."""
    return [p for p in root.rglob(f"{name}*") if p.is_file()]


def _raw_pop(node: ClusterNode, session: str, topic: str, timeout: float = 10, **extra: str) -> httpx.Response:
    with container_client(node, timeout=timeout + 10) as cl:
        return cl.post(f"{POP}?timeout={timeout:g}", headers=ptp_headers(node, session, node.node_id, **{
            "x-ptp-topic": topic, "accept": "application/octet-stream", **extra}))


# ---- 7: no peer-supplied identifier is ever used as a path -------------------------------------------------

def test_http_invoke_message_id_never_names_a_path(trio):
    a, b, _ = trio
    root = Path(b.config).parents[2]  # the temporary root above every node's directory
    probe, nodir = f"PROBE-{uuid.uuid4().hex[:8]}", f"NODIR-{uuid.uuid4().hex[:8]}"
    body = os.urandom(BIG)
    with peer_client(b, as_node=a) as cl:
        for msg_id, topic in ((f"../../../{probe}", "t-probe"), (f"../../../{nodir}/X", "t-nodir")):
            r = cl.post(INVOKE, content=body, headers=_signed_invoke_headers(a, b, body, **{
                "x-hulian-message-id": msg_id, "x-ptp-session-id": "s-path", "x-ptp-topic": topic}))
            assert r.status_code == 200 and _code(r) == OK, r.text
    assert not _outside(root, probe) and not _outside(root, nodir)
    r = _raw_pop(b, "s-path", "t-probe")
    assert r.content == body and r.headers["x-hulian-message-id"] == f"../../../{probe}"  # ids stay free-form


def test_message_id_too_long_or_not_utf8_is_refused(trio):
    a, b, _ = trio
    with peer_client(b, as_node=a) as cl:
        for msg_id in ("x" * 257, b"\xff\xfe-id"):
            r = cl.post(INVOKE, content=b"x", headers=_signed_invoke_headers(a, b, b"x", **{
                "x-hulian-message-id": msg_id}))
            assert r.status_code == 400 and _code(r) == ILLEGAL, r.text


def test_relayed_message_id_never_names_a_path(trio):
    """node-a hands node-b a message for node-c: the relay's outbox and node-c's inbox both name files."""
    a, b, c = trio
    root = Path(b.config).parents[2]
    probe, nodir = f"RELAY-{uuid.uuid4().hex[:8]}", f"RNODIR-{uuid.uuid4().hex[:8]}"
    body = os.urandom(BIG)
    with peer_client(b, as_node=a) as cl:
        for msg_id in (f"../../../{probe}", f"../../../{nodir}/X"):
            r = cl.post(INVOKE, content=body, headers=_signed_invoke_headers(a, c, body, **{
                "x-hulian-message-id": msg_id, "x-ptp-session-id": "s-relay-path", "x-ptp-topic": "t"}))
            assert r.status_code == 200 and _code(r) == OK, r.text
    deadline = time.monotonic() + 20
    with container_client(c) as cl:  # arrived on node-c (peek: its file is still there)
        while time.monotonic() < deadline:
            peek = cl.post(PEEK, headers=ptp_headers(c, "s-relay-path", c.node_id), json={"topic": "t"}).json()
            if peek["content"]:
                break
            time.sleep(0.2)
    assert not _outside(root, probe) and not _outside(root, nodir)
    r = _raw_pop(c, "s-relay-path", "t", timeout=20, **{"x-ptp-source-node-id": a.node_id})
    assert r.content == body  # delivered through the relay, its source vouched for by node-b


def _grpc_invoke(b: ClusterNode, sender: ClusterNode, headers: dict[str, str], body: bytes) -> ptp_pb2.Outbound:
    creds = grpc.ssl_channel_credentials(*(Path(p).read_bytes() for p in (sender.ca_file, sender.client_key,
                                                                           sender.client_cert)))
    with grpc.secure_channel(f"127.0.0.1:{b.grpc_port}", creds) as ch:
        inbound = ptp_pb2.Inbound(metadata=signed(sender, GRPC_INVOKE, body, headers), payload=body)
        return ptp_pb2_grpc.PrivateTransferProtocolStub(ch).invoke(inbound, timeout=30)


def test_grpc_invoke_message_id_never_names_a_path(trio):
    a, b, _ = trio
    root = Path(b.config).parents[2]
    probe = f"GRPC-{uuid.uuid4().hex[:8]}"
    body = ptp_pb2.PushInbound(topic="t", payload=os.urandom(BIG)).SerializeToString()
    out = _grpc_invoke(b, a, {"x-ptp-session-id": "s-grpc-path", "x-ptp-target-node-id": b.node_id,
                              "x-ptp-source-node-id": a.node_id, "x-hulian-message-id": f"../../../{probe}"}, body)
    assert out.code == OK, out.message
    assert not _outside(root, probe)


# ---- 9: the source of a message is the authenticated peer, or what its relay may vouch for ----------------

def test_peer_cannot_claim_another_source(trio):
    a, b, _ = trio
    headers = {**_signed_invoke_headers(b, a, b"forged"), "x-ptp-source-node-id": a.node_id,
               "x-ptp-session-id": "s-forge"}
    with peer_client(a, as_node=b) as cl:  # signed over the claimed source, as the attacker can
        r = cl.post(INVOKE, content=b"forged", headers=signed(b, INVOKE, b"forged", headers))
    assert r.status_code == 403 and _code(r) == UNAUTHORIZED, r.text
    r = _raw_pop(a, "s-forge", "t", timeout=1, **{"x-ptp-source-node-id": a.node_id})
    assert r.content == b"" and "x-hulian-message-id" not in r.headers


def test_grpc_peer_cannot_claim_another_source(trio):
    a, b, c = trio  # node-b reaches node-c directly: node-a may not vouch for it
    for claimed in (b.node_id, c.node_id):
        out = _grpc_invoke(b, a, {"x-ptp-session-id": "s-forge", "x-ptp-target-node-id": b.node_id,
                                  "x-ptp-source-node-id": claimed}, b"forged")
        assert out.code == UNAUTHORIZED, out.message


# ---- 8 and 10: inputs that gave a 500, headers taken on trust ----------------------------------------------

@pytest.mark.parametrize("where", ["header", "query", "json-string", "json-literal"])
def test_pop_timeout_nan_is_refused(trio, where):
    a = trio[0]
    headers = ptp_headers(a, "s-nan", a.node_id)
    with container_client(a) as cl:
        if where == "header":
            r = cl.post(POP, headers={**headers, "x-ptp-timeout": "nan"})
        elif where == "query":
            r = cl.post(f"{POP}?timeout=nan", headers=headers)
        elif where == "json-string":
            r = cl.post(POP, headers=headers, json={"topic": "t", "timeout": "nan"})
        else:
            r = cl.post(POP, headers={**headers, "content-type": "application/json"},
                        content=b'{"topic": "t", "timeout": NaN}')
        assert r.status_code == 400 and _code(r) == ILLEGAL, r.text
        assert cl.get("/v1/interconn/node/health").json()["msg"] == "ok"  # the same connection serves on


def test_deep_json_and_lone_surrogates_are_refused(trio):
    a, b, _ = trio
    deep = b"[" * 100_000 + b"]" * 100_000
    with container_client(a) as cl:
        for body in (deep, b'{"payload": "", "metadata": ' + deep + b"}", b'{"topic": "\\ud800", "payload": ""}'):
            r = cl.post(PUSH, content=body, headers=ptp_headers(a, "s-json", a.node_id, **{
                "content-type": "application/json"}))
            assert r.status_code < 500 and _code(r) in (ILLEGAL, "E0000000616"), r.text
    with peer_client(b, as_node=a) as cl:
        r = cl.post(INVOKE, content=deep, headers=_signed_invoke_headers(a, b, deep, **{
            "content-type": "application/json"}))
        assert r.status_code < 500 and _code(r) in (ILLEGAL, "E0000000616"), r.text


@pytest.mark.parametrize("name,value", [
    ("x-hulian-hops", "-100"), ("x-hulian-hops", "1.5"), ("x-hulian-total-size", "-5"),
    ("x-hulian-total-size", str(10 ** 26)), ("x-hulian-metadata", '{"a": {"b": "c"}}'),
    ("x-hulian-metadata", '{"a": 1e400}'), ("x-hulian-metadata", "[1]"),
])
def test_invoke_headers_out_of_range_are_refused(trio, name, value):
    a, b, _ = trio
    with peer_client(b, as_node=a) as cl:
        r = cl.post(INVOKE, content=b"x", headers=_signed_invoke_headers(a, b, b"x", **{name: value}))
    assert r.status_code == 400 and _code(r) == ILLEGAL, r.text


def test_hops_at_the_limit_is_a_routing_loop(trio):
    a, b, _ = trio
    with peer_client(b, as_node=a) as cl:
        r = cl.post(INVOKE, content=b"x", headers=_signed_invoke_headers(a, b, b"x", **{"x-hulian-hops": "8"}))
    assert _code(r) == "E0000000619" and "loop" in r.content.decode("utf-8", "replace")


def test_push_metadata_must_be_strings_and_is_carried_unchanged(trio):
    a = trio[0]
    with container_client(a) as cl:
        for meta in (b'{"a": {"b": [1, 2]}, "c": 1e400}', b'{"a": {"b": [1, 2]}}', b'{"c": 1}'):
            r = cl.post(PUSH, content=b'{"payload": "", "topic": "m", "metadata": ' + meta + b"}",
                        headers=ptp_headers(a, "s-meta", a.node_id, **{"content-type": "application/json"}))
            assert r.status_code == 400 and _code(r) == ILLEGAL, r.text
        r = cl.post(PUSH, headers=ptp_headers(a, "s-meta", a.node_id), json={
            "payload": "aGk=", "topic": "m", "metadata": {"k": "{\"a\": 1}", "话": "题"}})
        assert _code(r) == OK
        got = cl.post(POP, headers=ptp_headers(a, "s-meta", a.node_id), json={"topic": "m", "timeout": 5}).json()
    assert got["metadata"]["k"] == "{\"a\": 1}" and got["metadata"]["话"] == "题"


@pytest.mark.parametrize("relayed", [False, True])
def test_utf8_topic_header_pops_back_unchanged(trio, relayed):
    a, _, c = trio
    target = c if relayed else a
    topic = "话题"
    with container_client(a) as cl:
        r = cl.post(PUSH, content=b"utf8", headers=ptp_headers(a, "s-utf8", target.node_id, **{
            "x-ptp-topic": topic.encode(), "content-type": "application/octet-stream"}))
        assert _code(r) == OK, r.content
    with container_client(target) as cl:
        got = cl.post(POP, headers=ptp_headers(target, "s-utf8", target.node_id),
                      json={"topic": topic, "timeout": 20}).json()
    assert base64.b64decode(got["content"]) == b"utf8" and got["metadata"]["x-ptp-topic"] == topic
    session = f"s-utf8-raw-{relayed}"  # its own channel: a raw pop is acknowledged after the client has it
    with container_client(a) as cl:
        r = cl.post(PUSH, content=b"again", headers=ptp_headers(a, session, a.node_id, **{
            "x-ptp-topic": topic.encode(), "content-type": "application/octet-stream"}))
        assert _code(r) == OK, r.content
    r = _raw_pop(a, session, topic.encode())  # type: ignore[arg-type]
    assert r.content == b"again" and dict(r.headers.raw)[b"x-ptp-topic"].decode() == topic, r.headers


def test_raw_pops_in_a_row_each_get_the_next_message(trio):
    """A raw pop is acknowledged after its client has the payload; a client that hangs up at once must not leave
    the message (or a claim on its reused row id) to hide the next one."""
    a = trio[0]
    for i in range(6):
        with container_client(a) as cl:
            r = cl.post(PUSH, content=f"m{i}".encode(), headers=ptp_headers(a, "s-row", a.node_id, **{
                "x-ptp-topic": "t", "content-type": "application/octet-stream"}))
            assert _code(r) == OK
        assert _raw_pop(a, "s-row", "t", timeout=3).content == f"m{i}".encode(), i


def test_channel_sdk_sends_a_utf8_topic_across_a_relay(trio):
    a, _, c = trio
    parties = {"guest.0": a.node_id, "host.0": c.node_id}
    with Channel(a.url, "s-sdk-utf8", a.admin_token, a.node_id, parties, ca_file=a.ca_file) as ca, \
            Channel(c.url, "s-sdk-utf8", c.admin_token, c.node_id, parties, ca_file=c.ca_file) as cc:
        ca.send("host.0", "话题", b"\x00utf8")
        assert cc.recv("guest.0", "话题", timeout=20) == b"\x00utf8"


# ---- 12: resource holding -----------------------------------------------------------------------------------

def _stalled_request(node: ClusterNode, path: str, headers: dict[str, str]) -> tuple[bytes, float]:
    """Send headers announcing 1000 bytes, then 5 of them, and wait: (the reply's head, seconds it took)."""
    url = urlsplit(node.url)
    head = (f"POST {path} HTTP/1.1\r\nhost: {url.hostname}\r\ncontent-length: 1000\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
    ctx = ssl.create_default_context(cafile=node.ca_file)
    with socket.create_connection((url.hostname, url.port)) as raw, \
            ctx.wrap_socket(raw, server_hostname=url.hostname) as tls:
        tls.settimeout(IDLE + 10)
        t0 = time.monotonic()
        tls.sendall(head + b"12345")
        reply = b""
        try:
            while b"\r\n\r\n" not in reply or len(reply.partition(b"\r\n\r\n")[2]) < 20:
                if not (piece := tls.recv(4096)):
                    break
                reply += piece
        except TimeoutError:
            pass
        return reply, time.monotonic() - t0


def test_a_stalled_body_is_answered_on_every_plane(trio):
    a = trio[0]
    routes = [(PUSH, {**ptp_headers(a, "s-slow", a.node_id), "content-type": "application/octet-stream"}),
              (P.NS_STATUS_ALL, {"x-ptp-token": a.admin_token, "content-type": "application/json"})]
    for path, headers in routes:
        reply, took = _stalled_request(a, path, headers)
        assert reply.startswith(b"HTTP/1.1 400"), (path, reply)
        assert b"body_idle_timeout_seconds" in reply, reply
        assert path != PUSH or b"E0000000601" in reply, reply  # the control plane answers its own code
        assert took < IDLE + 5


def test_concurrent_pops_per_session_are_capped(trio):
    a = trio[0]
    codes: list[str] = []

    def wait() -> None:
        with container_client(a) as cl:
            codes.append(cl.post(POP, headers=ptp_headers(a, "s-cap", a.node_id), json={"timeout": 4}).json()["code"])

    waiting = [threading.Thread(target=wait) for _ in range(POPS)]
    for t in waiting:
        t.start()
    time.sleep(1.5)  # both pops are waiting on the node
    with container_client(a) as cl:
        r = cl.post(POP, headers=ptp_headers(a, "s-cap", a.node_id), json={"timeout": 1})
        assert r.status_code == 429 and r.json()["code"] == "E0000000700", r.text
        assert "max_pops_per_session" in r.json()["message"]
        other = cl.post(POP, headers=ptp_headers(a, "s-other", a.node_id), json={"timeout": 1})
        assert other.json()["code"] == OK  # the cap is per session
    for t in waiting:
        t.join()
    assert codes == [OK] * POPS
    with container_client(a) as cl:  # a returned pop frees its place
        assert cl.post(POP, headers=ptp_headers(a, "s-cap", a.node_id), json={"timeout": 1}).json()["code"] == OK


# ---- 13: a push without x-ptp-session-id is a malformed request ---------------------------------------------

def test_push_without_session_is_illegal_request(trio):
    a = trio[0]
    with container_client(a) as cl:
        r = cl.post(PUSH, json={"payload": "aGk="}, headers={"x-ptp-token": a.admin_token,
                                                            "x-ptp-target-node-id": a.node_id})
    assert r.status_code == 400 and r.json()["code"] == ILLEGAL and "x-ptp-session-id" in r.json()["message"]


def test_metadata_header_round_trip_stays_json(trio):
    """A raw push's x-hulian-metadata pops back as the same JSON object of strings."""
    a = trio[0]
    meta = {"k": "v", "n": "1"}
    with container_client(a) as cl:
        r = cl.post(PUSH, content=b"m", headers=ptp_headers(a, "s-mh", a.node_id, **{
            "x-ptp-topic": "t", "x-hulian-metadata": json.dumps(meta), "content-type": "application/octet-stream"}))
        assert _code(r) == OK
    r = _raw_pop(a, "s-mh", "t")
    assert json.loads(r.headers["x-hulian-metadata"]) == meta


def test_invoke_answers_a_blackbox_caller_in_its_numbering_on_success_too(trio):
    """A raw invoke with the black-box link's header spelling (a Kuscia gateway carries a container's push on as
    an invoke) gets the reply it reads, {payload=1, code=2, message=3}, as its errors already did; the success
    reply came in the spec's numbering, where that caller reads an empty code (found by bench/fuzz.py)."""
    a, b, _ = trio
    body = b"blackbox"
    with peer_client(b, as_node=a) as cl:
        r = cl.post(INVOKE, content=body, headers=_signed_invoke_headers(a, b, body, **{
            "x-ptp-session-id": "s-bb", "x-ptp-topic": "t-bb", "x-ptp-tecn-provider-code": "SecretFlow"}))
    out = blackbox_pb2.TransportOutbound.FromString(r.content)
    assert r.status_code == 200 and out.code == OK and out.message == "success", r.content
