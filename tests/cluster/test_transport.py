"""Transport acceptance with real node processes on loopback: relay routing, formats, timeouts, release,
crash recovery, and the spec's error codes for bad callers."""
from __future__ import annotations

import base64
import hashlib
import os
import signal
import socket
import ssl
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from hulian.core.config import load_config
from hulian.crypto import signing
from hulian.crypto.pki import Issued, create_ca, issue_node_cert
from hulian.node import cluster
from hulian.store.db import chunks
from hulian.transport.auth import Authenticator
from hulian.wire import ptp_pb2
from hulian.wire.interconnection.link import blackbox_pb2
from tests.conftest import container_client, peer_client, ptp_headers, require_service

pytestmark = pytest.mark.cluster

PUSH, POP, PEEK, RELEASE, INVOKE = (f"/v1/interconn/chan/{x}" for x in ("push", "pop", "peek", "release", "invoke"))


@pytest.fixture(scope="module", params=["sql", pytest.param("redis", marks=pytest.mark.service)])
def trio(request, tmp_path_factory):
    """node-a reaches node-c only through node-b (router mode); every test runs on both queue backends."""
    transport = {"backend": request.param}
    if request.param == "redis":
        require_service("Redis", "127.0.0.1", 6379)
        transport["redis_namespace"] = f"test-{uuid.uuid4().hex[:8]}-"
    d = tmp_path_factory.mktemp("trio")
    nodes = cluster.up(d, 3, [("node-a", "node-c", "node-b")], extra={
        "limits": {"max_body_bytes": 8 << 20, "chunk_bytes": 1 << 20}, "transport": transport})
    yield nodes
    cluster.down(d)


def pop_json(node, session, topic, timeout=10.0, **headers) -> dict:
    with container_client(node, timeout=timeout + 10) as c:
        r = c.post(POP, headers=ptp_headers(node, session, node.node_id, **headers),
                   json={"topic": topic, "timeout": timeout})
    assert r.status_code == 200, r.text
    return r.json()


def test_relay_json_push_is_popped_with_identical_bytes(trio):
    a, _, c = trio
    data = os.urandom(3000)
    with container_client(a) as cl:
        r = cl.post(PUSH, headers=ptp_headers(a, "s-json", c.node_id),
                    json={"topic": "t", "payload": base64.b64encode(data).decode(), "metadata": {"k": "v"}})
    assert r.json() == {"code": "E0000000000", "message": "success"}
    got = pop_json(c, "s-json", "t")
    assert got["code"] == "E0000000000"
    assert base64.b64decode(got["content"]) == data
    assert got["metadata"]["x-ptp-source-node-id"] == a.node_id and got["metadata"]["k"] == "v"


def test_relay_chunked_raw_and_protobuf(trio):
    """5 MiB with 1 MiB chunks: chunked on A, relayed chunk by chunk by B, reassembled on C."""
    a, _, c = trio
    big = os.urandom(5 << 20)
    with container_client(a) as cl:
        r = cl.post(PUSH, content=big, headers=ptp_headers(a, "s-raw", c.node_id, **{
            "x-ptp-topic": "big", "content-type": "application/octet-stream"}))
        assert ptp_pb2.TransportOutbound.FromString(r.content).code == "E0000000000"
        body = ptp_pb2.PushInbound(topic="pb", payload=b"proto-bytes").SerializeToString()
        r = cl.post(PUSH, content=body, headers=ptp_headers(a, "s-raw", c.node_id,
                                                            **{"content-type": "application/x-protobuf"}))
        assert ptp_pb2.TransportOutbound.FromString(r.content).code == "E0000000000"
    with container_client(c) as cl:
        r = cl.post(POP + "?timeout=20", headers=ptp_headers(c, "s-raw", c.node_id, **{
            "x-ptp-topic": "big", "accept": "application/octet-stream"}))
        assert r.headers["x-ptp-code"] == "E0000000000"
        assert hashlib.sha256(r.content).digest() == hashlib.sha256(big).digest()
        r = cl.post(POP, content=ptp_pb2.PopInbound(topic="pb", timeout=20).SerializeToString(),
                    headers=ptp_headers(c, "s-raw", c.node_id, **{"content-type": "application/x-protobuf"}))
        out = ptp_pb2.TransportOutbound.FromString(r.content)
        assert (out.code, out.payload) == ("E0000000000", b"proto-bytes")


def test_fifo_order_and_source_filter(trio):
    a, b, c = trio
    with container_client(a) as ca, container_client(b) as cb:
        for i in range(20):
            ca.post(PUSH, content=f"a{i}".encode(), headers=ptp_headers(a, "s-fifo", c.node_id, **{"x-ptp-topic": "q"}))
        cb.post(PUSH, content=b"from-b", headers=ptp_headers(b, "s-fifo", c.node_id, **{"x-ptp-topic": "q"}))
    got = pop_json(c, "s-fifo", "q", **{"x-ptp-source-node-id": b.node_id})
    assert base64.b64decode(got["content"]) == b"from-b"
    for i in range(20):
        assert base64.b64decode(pop_json(c, "s-fifo", "q")["content"]) == f"a{i}".encode()


def test_pop_timeout_returns_empty_after_about_the_timeout(trio):
    c = trio[2]
    t0 = time.monotonic()
    got = pop_json(c, "s-empty", "nothing", timeout=1)
    elapsed = time.monotonic() - t0
    assert got["code"] == "E0000000000" and got["content"] == ""
    assert 0.9 <= elapsed < 2.0
    with container_client(c) as cl:  # x-ptp-timeout in milliseconds
        t0 = time.monotonic()
        cl.post(POP, headers=ptp_headers(c, "s-empty", c.node_id, **{"x-ptp-timeout": "500"}))
        assert 0.4 <= time.monotonic() - t0 < 1.5


def test_peek_then_release_topic_then_session(trio):
    a, b, _ = trio
    with container_client(a) as ca, container_client(b) as cb:
        for topic in ("t1", "t2"):
            ca.post(PUSH, content=topic.encode(), headers=ptp_headers(a, "s-rel", b.node_id, **{"x-ptp-topic": topic}))
        deadline = time.monotonic() + 10
        peeked = {}
        while time.monotonic() < deadline and not peeked.get("content"):
            peeked = cb.post(PEEK, headers=ptp_headers(b, "s-rel", b.node_id), json={"topic": "t1"}).json()
        assert base64.b64decode(peeked["content"]) == b"t1"
        assert cb.post(RELEASE, headers=ptp_headers(b, "s-rel", b.node_id), json={"topic": "t1"}).json()["code"] \
            == "E0000000000"
        assert pop_json(b, "s-rel", "t1", timeout=0.3)["content"] == ""
        assert base64.b64decode(pop_json(b, "s-rel", "t2")["content"]) == b"t2"
        assert cb.post(RELEASE, headers=ptp_headers(b, "s-rel", b.node_id), json={}).json()["code"] == "E0000000000"
        r = cb.post(POP, headers=ptp_headers(b, "s-rel", b.node_id), json={"topic": "t2", "timeout": 1})
        assert r.json()["code"] == "E0000000608"


def test_kill_receiver_between_ack_and_pop(make_cluster):
    a, b = make_cluster(2)
    data = os.urandom(200_000)
    os.kill(b.pid, signal.SIGKILL)  # the receiver is down: the push is held durably in a's outbox
    with container_client(a) as cl:
        r = cl.post(PUSH, content=data, headers=ptp_headers(a, "s-crash", b.node_id, **{"x-ptp-topic": "t"}))
    assert ptp_pb2.TransportOutbound.FromString(r.content).code == "E0000000000"
    os.kill(a.pid, signal.SIGKILL)  # and the sender crashes too, after acknowledging
    a.pid, b.pid = cluster.start_node(a.config), cluster.start_node(b.config)
    cluster.wait_healthy(a)
    cluster.wait_healthy(b)
    got = pop_json(b, "s-crash", "t", timeout=20)
    assert base64.b64decode(got["content"]) == data
    os.kill(b.pid, signal.SIGKILL)  # delivered but not popped: a restart of the receiver keeps it
    with container_client(a) as cl:
        cl.post(PUSH, content=b"second", headers=ptp_headers(a, "s-crash", b.node_id, **{"x-ptp-topic": "t"}))
    b.pid = cluster.start_node(b.config)
    cluster.wait_healthy(b)
    assert base64.b64decode(pop_json(b, "s-crash", "t", timeout=20)["content"]) == b"second"
    cluster.write_manifest(Path(a.config).parent.parent, [a, b])


# ---- bad callers ---------------------------------------------------------------------------------------

def _signed_invoke_headers(sender, target, body: bytes, **over) -> dict[str, str]:
    key = signing.load_private_key(sender.client_key)
    digest = hashlib.sha256(body).hexdigest()
    ts, nonce = str(int(time.time() * 1000)), os.urandom(8).hex()
    h = {"x-ptp-version": "1", "x-ptp-session-id": "s-sec", "x-ptp-source-node-id": sender.node_id,
         "x-ptp-target-node-id": target.node_id, "x-ptp-uri": PUSH, "x-ptp-topic": "t",
         "x-timestamp": ts, "x-nonce": nonce, "x-content-sha256": digest,
         "content-type": "application/octet-stream"}
    h["x-auth-sign"] = signing.sign(key, signing.canonical("POST", INVOKE, digest, ts, nonce, sender.node_id))
    h.update(over)
    return h


def _code(r: httpx.Response) -> str:
    if "json" in r.headers.get("content-type", ""):
        return r.json()["code"]
    return ptp_pb2.TransportOutbound.FromString(r.content).code


def test_signed_invoke_accepted_and_replay_refused(trio):
    a, b, _ = trio
    headers = _signed_invoke_headers(a, b, b"signed")
    with peer_client(b, as_node=a) as cl:
        assert _code(cl.post(INVOKE, content=b"signed", headers=headers)) == "E0000000000"
        replay = cl.post(INVOKE, content=b"signed", headers=headers)
        assert replay.status_code == 403 and _code(replay) == "E0000000403"
        assert "nonce" in ptp_pb2.TransportOutbound.FromString(replay.content).message
        stale = _signed_invoke_headers(a, b, b"x", **{"x-timestamp": str(int(time.time() * 1000) - 3_600_000)})
        assert _code(cl.post(INVOKE, content=b"x", headers=stale)) in ("E0000000615", "E0000000403")


def test_bad_signature_and_altered_body(trio):
    a, b, _ = trio
    with peer_client(b, as_node=a) as cl:
        bad = _signed_invoke_headers(a, b, b"body", **{"x-auth-sign": base64.b64encode(b"x" * 64).decode()})
        r = cl.post(INVOKE, content=b"body", headers=bad)
        assert _code(r) == "E0000000615"
        assert "does not verify" in ptp_pb2.TransportOutbound.FromString(r.content).message
        altered = cl.post(INVOKE, content=b"BODY", headers=_signed_invoke_headers(a, b, b"body"))
        assert _code(altered) == "E0000000615"
        unsigned = cl.post(INVOKE, content=b"body",
                           headers={"x-ptp-session-id": "s", "x-ptp-target-node-id": b.node_id})
        assert _code(unsigned) == "E0000000615"


def test_a_signature_binds_the_declared_source(trio):
    """Control calls declare their caller in x-source-node-id, transport calls in x-ptp-source-node-id; either
    is covered by the signature, so a request whose declared source was changed after signing is refused (and a
    control call whose body was)."""
    a, b, _ = trio
    key = signing.load_private_key(a.client_key)
    body = b'{"job_id":"job-unknown"}'
    path = "/v1/interconn/schedule/job/status_all"

    def control_headers(**over: str) -> dict[str, str]:
        digest, ts, nonce = hashlib.sha256(body).hexdigest(), str(int(time.time() * 1000)), os.urandom(8).hex()
        h = {"content-type": "application/json", "x-source-node-id": a.node_id, "x-timestamp": ts,
             "x-nonce": nonce, "x-content-sha256": digest}
        h["x-auth-sign"] = signing.sign(key, signing.canonical("POST", path, digest, ts, nonce, a.node_id))
        return h | over

    with peer_client(b, as_node=a) as cl:
        honest = cl.post(path, content=body, headers=control_headers())
        # signed as the caller: past the signature check, to the route's own answer (no such job)
        assert honest.status_code == 404 and honest.json()["code"] == 4004, honest.text
        forged = cl.post(path, content=body, headers=control_headers(**{"x-source-node-id": "node-c"}))
        assert forged.status_code == 403 and "E0000000615" in forged.json()["msg"]
        # the body changed after signing: the signature covers its digest, which no longer matches
        altered = cl.post(path, content=b'{"job_id":"job-other"}', headers=control_headers())
        assert altered.status_code == 403 and "does not match the body" in altered.json()["msg"], altered.text
        moved = _signed_invoke_headers(a, b, b"body", **{"x-ptp-source-node-id": "node-c"})
        assert _code(cl.post(INVOKE, content=b"body", headers=moved)) == "E0000000615"


def test_no_client_certificate_on_invoke(trio):
    b = trio[1]
    with container_client(b) as cl:
        r = cl.post(INVOKE, content=b"x", headers={"x-ptp-session-id": "s", "x-ptp-target-node-id": b.node_id})
    assert _code(r) == "E0000000603"


def test_unknown_node_with_valid_certificate(trio, tmp_path):
    b = trio[1]
    pki = Path(b.ca_file).parent
    stranger = issue_node_cert(Issued(pki / "ca.crt", pki / "ca.key"), tmp_path, "node-z")
    other = cluster.ClusterNode("node-z", "inst-z", "", "", b.ca_file, str(stranger.cert_file),
                                str(stranger.key_file), "")
    with peer_client(b, as_node=other) as cl:
        r = cl.post(INVOKE, content=b"x", headers=_signed_invoke_headers(other, b, b"x"))
    assert _code(r) == "E0000000618"
    assert "node-z" in ptp_pb2.TransportOutbound.FromString(r.content).message


def test_untrusted_certificate_fails_the_handshake(trio, tmp_path):
    b = trio[1]
    rogue_ca = create_ca(tmp_path / "rogue")
    rogue = issue_node_cert(rogue_ca, tmp_path / "rogue", "node-a")
    other = cluster.ClusterNode("node-a", "", "", "", b.ca_file, str(rogue.cert_file), str(rogue.key_file), "")
    with pytest.raises(httpx.HTTPError), peer_client(b, as_node=other) as cl:
        cl.post(INVOKE, content=b"x", headers={"x-ptp-session-id": "s"})


@pytest.mark.parametrize("token", ["", "wrong", "hl1.9999999999.AAAA"])
def test_wrong_token(trio, token):
    a = trio[0]
    with container_client(a) as cl:
        r = cl.post(PUSH, json={"payload": ""}, headers={**ptp_headers(a, "s", a.node_id), "x-ptp-token": token})
    assert r.status_code == 403 and r.json()["code"] == "E0000000403"
    assert "x-ptp-token" in r.json()["message"]


def test_blackbox_caller_gets_its_errors_in_its_own_layout(trio):
    """yacl's black-box link reads the code only from a 200 reply, in Kuscia's field numbering."""
    a = trio[0]
    headers = {**ptp_headers(a, "s", a.node_id), "x-ptp-token": "wrong", "x-ptp-tecn-provider-code": "SF",
               "x-ptp-topic": "t", "content-type": "application/octet-stream"}
    with container_client(a) as cl:
        r = cl.post(PUSH, content=b"payload", headers=headers)
    assert r.status_code == 200
    out = blackbox_pb2.TransportOutbound.FromString(r.content)
    assert out.code == "E0000000403" and "x-ptp-token" in out.message


def test_issued_session_token_is_bound_to_its_session(trio):
    a = trio[0]
    tok = Authenticator(load_config(a.config)).issue_token("s-tok")
    with container_client(a) as cl:
        ok = cl.post(PUSH, json={"payload": "aGk="}, headers={**ptp_headers(a, "s-tok", a.node_id), "x-ptp-token": tok})
        other = cl.post(PUSH, json={"payload": "aGk="},
                        headers={**ptp_headers(a, "s-x", a.node_id), "x-ptp-token": tok})
    assert ok.json()["code"] == "E0000000000"
    assert other.json()["code"] == "E0000000403"


@pytest.mark.parametrize("body,ctype,code", [
    (b"{not json", "application/json", "E0000000616"),
    (b"[1,2]", "application/json", "E0000000616"),
    (b'{"payload": "%%%"}', "application/json", "E0000000616"),
    (b'{"topic": "t"}', "application/json", "E0000000400"),
    (b"\xff\xff\xff", "application/x-protobuf", "E0000000616"),
])
def test_malformed_bodies(trio, body, ctype, code):
    a = trio[0]
    with container_client(a) as cl:
        r = cl.post(PUSH, content=body, headers=ptp_headers(a, "s", a.node_id, **{"content-type": ctype}))
    assert _code(r) == code and r.status_code < 500


def test_oversized_body_and_unknown_target_and_missing_headers(trio):
    a = trio[0]
    with container_client(a) as cl:
        r = cl.post(PUSH, content=b"x" * (9 << 20), headers=ptp_headers(a, "s", a.node_id))
        assert _code(r) == "E0000000413"
        r = cl.post(PUSH, content=b"x", headers=ptp_headers(a, "s", "node-nowhere"))
        assert _code(r) == "E0000000618" and "node-nowhere" in ptp_pb2.TransportOutbound.FromString(r.content).message
        r = cl.post(PUSH, content=b"x", headers={"x-ptp-session-id": "s", "x-ptp-token": a.admin_token})
        assert _code(r) == "E0000000400"
        r = cl.post(POP, json={"timeout": "soon"}, headers=ptp_headers(a, "s", a.node_id))
        assert r.json()["code"] == "E0000000400"
        assert cl.get("/v1/interconn/node/health").json()["msg"] == "ok"  # still serving


def test_push_abandoned_midway_is_not_delivered_and_does_not_block_its_channel(trio):
    """Cut-through: the first chunks of a push travel before its body is complete. If the sender gives up
    midway, nothing of it is delivered, and later messages on the same channel still flow."""
    a, _, c = trio
    url = urlsplit(a.url)
    ctx = ssl.create_default_context(cafile=a.ca_file)
    head = (f"POST {PUSH} HTTP/1.1\r\nhost: {url.hostname}\r\ncontent-type: application/octet-stream\r\n"
            f"content-length: {3 << 20}\r\nx-ptp-session-id: s-cut\r\nx-ptp-token: {a.admin_token}\r\n"
            f"x-ptp-target-node-id: {c.node_id}\r\nx-ptp-topic: t\r\n\r\n").encode()
    with socket.create_connection((url.hostname, url.port)) as raw, \
            ctx.wrap_socket(raw, server_hostname=url.hostname) as tls:
        tls.sendall(head + b"p" * ((5 << 20) // 2))  # 2.5 of 3 MiB: two chunks complete, then gone
        time.sleep(0.5)
    with container_client(a) as cl:
        r = cl.post(PUSH, content=b"after", headers=ptp_headers(a, "s-cut", c.node_id, **{"x-ptp-topic": "t"}))
        assert ptp_pb2.TransportOutbound.FromString(r.content).code == "E0000000000"
    with container_client(c) as cl:
        r = cl.post(POP + "?timeout=15", headers=ptp_headers(c, "s-cut", c.node_id, **{
            "x-ptp-topic": "t", "accept": "application/octet-stream"}))
        assert r.content == b"after"
        r = cl.post(POP + "?timeout=1", headers=ptp_headers(c, "s-cut", c.node_id, **{
            "x-ptp-topic": "t", "accept": "application/octet-stream"}))
        assert r.content == b"" and "x-hulian-message-id" not in r.headers
    # the two complete chunks had travelled ahead of the body; they wait on node-c, undelivered, until pruned
    engine = create_engine(load_config(c.config).db_url)
    with engine.connect() as conn:
        early = conn.execute(select(func.count()).where(chunks.c.session_id == "s-cut")).scalar_one()
    engine.dispose()
    assert early == 2
