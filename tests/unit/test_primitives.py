"""Unit tests of the pure pieces: codecs, tokens, signatures, routing, spooling, config."""
from __future__ import annotations

import asyncio
import base64
import errno
import hashlib
import json
import os
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given
from hypothesis import strategies as st

from hulian.core.config import NodeConfig
from hulian.core.errors import BodyTooLarge, CodecError, IllegalRequest, NodeNotNetworked, ServiceUnreachable
from hulian.crypto import signing, tokens
from hulian.transport.blobs import BlobStore
from hulian.transport.routing import Router
from hulian.transport.spool import Spooler, run_blocking, spool_bytes
from hulian.wire import headers as H
from hulian.wire import ptp_pb2
from hulian.wire.codec import Format, decode_inbound, decode_push, decode_topic_timeout, encode_reply, format_of


@given(st.binary(max_size=2000), st.text(max_size=20), st.dictionaries(st.text(max_size=5), st.text(max_size=5)))
def test_push_round_trips_in_json_and_protobuf(payload, topic, meta):
    js = json.dumps({"topic": topic, "payload": base64.b64encode(payload).decode(), "metadata": meta}).encode()
    assert decode_push(Format.JSON, js) == (topic, payload, meta)
    pb = ptp_pb2.PushInbound(topic=topic, payload=payload, metadata=meta).SerializeToString()
    assert decode_push(Format.PROTO, pb) == (topic, payload, meta)


def test_json_accepts_urlsafe_base64_and_content_alias():
    assert decode_push(Format.JSON, b'{"content": "-_8"}')[1] == base64.urlsafe_b64decode("-_8=")


@pytest.mark.parametrize("body,err", [(b"{", CodecError), (b'"x"', CodecError), (b'{"payload": 5}', CodecError),
                                      (b"{}", IllegalRequest), (b'{"payload": "", "metadata": 3}', IllegalRequest)])
def test_bad_push_bodies(body, err):
    with pytest.raises(err):
        decode_push(Format.JSON, body)


def test_encapsulated_inbound_and_bare_payload():
    push = ptp_pb2.PushInbound(topic="t", payload=b"p", metadata={"k": "v"}).SerializeToString()
    assert decode_inbound(Format.PROTO, ptp_pb2.Inbound(payload=push).SerializeToString()) == ("t", b"p", {"k": "v"})
    bare = ptp_pb2.Inbound(metadata={"x-ptp-topic": "t2"}, payload=b"\xff\x00raw").SerializeToString()
    assert decode_inbound(Format.PROTO, bare) == ("t2", b"\xff\x00raw", {})


def test_pop_bodies_and_formats():
    assert decode_topic_timeout(Format.JSON, b'{"topic": "a", "timeout": 3}', ptp_pb2.PopInbound) == ("a", 3.0)
    assert decode_topic_timeout(Format.PROTO, ptp_pb2.PopInbound(topic="b").SerializeToString(),
                                ptp_pb2.PopInbound) == ("b", None)
    with pytest.raises(IllegalRequest):
        decode_topic_timeout(Format.JSON, b'{"timeout": -1}', ptp_pb2.PopInbound)
    assert format_of("application/json; charset=utf-8") == Format.JSON
    assert format_of("application/x-protobuf") == Format.PROTO and format_of(None) == Format.RAW
    body, ctype = encode_reply(Format.RAW, "E0000000000", "ok", b"x")
    assert ctype == "application/x-protobuf" and ptp_pb2.TransportOutbound.FromString(body).payload == b"x"


def test_header_aliases():
    assert H.get({"x-ptp-from-node-id": "fate"}, H.SOURCE_NODE) == "fate"
    assert H.get({"x_ptp_session_id": "s"}, H.SESSION_ID) == "s"
    assert H.get({"x-ptp-tecn-provider-code": "SF"}, H.TECH_PROVIDER) == "SF"
    assert H.is_push_uri("https://ptp.cn/org.ppc.ptp.PrivateTransferTransport/push")
    assert not H.is_push_uri("/v1/interconn/chan/pop")


def test_tokens_bound_to_session_and_expiry():
    secret = tokens.new_secret()
    tok = tokens.issue(secret, "s1", 60)
    assert tokens.check(secret, "s1", tok) is None
    assert "not issued" in tokens.check(secret, "s2", tok)
    assert "not issued" in tokens.check(tokens.new_secret(), "s1", tok)
    assert "expired" in tokens.check(secret, "s1", tokens.issue(secret, "s1", -1))
    assert "not a hulian" in tokens.check(secret, "s1", "garbage")


@pytest.mark.parametrize("key,kind", [(ec.generate_private_key(ec.SECP256R1()), "SHA256_ECDSA"),
                                      (rsa.generate_private_key(public_exponent=65537, key_size=2048), "SHA256_RSA")])
def test_signatures(key, kind):
    data = signing.canonical("post", "/p", signing.EMPTY_SHA256, "1", "n", "a")
    sig = signing.sign(key, data)
    assert signing.auth_type_of(key) == kind
    assert signing.verify(key.public_key(), kind, data, sig)
    assert not signing.verify(key.public_key(), kind, data + b"x", sig)
    other = "SHA256_RSA" if kind == "SHA256_ECDSA" else "SHA256_ECDSA"
    assert not signing.verify(key.public_key(), other, data, sig)
    assert not signing.verify(key.public_key(), kind, data, "%%%")


def test_router_direct_relay_unknown_and_loop():
    cfg = NodeConfig(node_id="a", peers=[{"node_id": "b", "url": "https://b"}, {"node_id": "c", "via": "b"},
                                         {"node_id": "x", "via": "y"}, {"node_id": "y", "via": "x"}])
    r = Router(cfg)
    assert r.next_hop("b").peer.node_id == "b"
    hop = r.next_hop("c")
    assert (hop.target, hop.peer.node_id, hop.url) == ("c", "b", "https://b")
    with pytest.raises(NodeNotNetworked):
        r.next_hop("z")
    with pytest.raises(ServiceUnreachable):
        r.next_hop("x")


def test_config_env_overrides_yaml(tmp_path, monkeypatch):
    from hulian.core.config import load_config

    p = tmp_path / "node.yaml"
    p.write_text("node_id: n\nlisten: {port: 1}\ndata_dir: d\n")
    monkeypatch.setenv("HULIAN_LISTEN__PORT", "7400")
    cfg = load_config(p)
    assert cfg.listen.port == 7400 and cfg.data_dir == tmp_path / "d"
    with pytest.raises(ValueError):
        NodeConfig(node_id="n", peers=[{"node_id": "b"}])


@pytest.mark.parametrize("size,chunk", [(0, 1 << 20), (10, 1 << 20), (70_000, 1 << 20), (3 * (1 << 20) + 5, 1 << 20),
                                        (11 * (1 << 20) + 5, 5 * (1 << 20) + 3)])  # parts larger than a stage
@pytest.mark.parametrize("fsync", [False, True])  # with fsync: O_DIRECT part files where the file system allows
def test_spooler_cuts_into_chunks(tmp_path, size, chunk, fsync):
    blobs = BlobStore(tmp_path, fsync=fsync, hot_bytes=64 << 20)
    data = os.urandom(size)

    async def go():
        sp = Spooler(blobs, "m" * 32, "out", chunk, 65536, 20 << 20, run_blocking, digest=True)
        for i in range(0, len(data), 4096 + 7):  # pieces that straddle the part boundaries
            await sp.feed(data[i:i + 4096 + 7])
        return await sp.close(), sp

    payload, sp = asyncio.run(go())
    assert payload.size == size
    got = payload.data if payload.data is not None else b"".join(Path(p).read_bytes() for p in payload.parts)
    assert got == data
    assert all(Path(p).stat().st_size <= chunk for p in payload.parts)
    assert blobs.direct_io == (fsync and _has_direct_io(tmp_path))
    for p in payload.parts:  # each part is hot: the same bytes as its file, hashed by the writer
        on_disk, hot = Path(p).read_bytes(), blobs.hot(p)
        assert b"".join(hot.pieces) == on_disk and hot.size == len(on_disk)
        assert hot.sha256 == hashlib.sha256(on_disk).hexdigest()
    if len(payload.parts) <= 1:
        assert sp.hexdigest() == hashlib.sha256(data).hexdigest()


def _has_direct_io(directory: Path) -> bool:
    try:
        os.close(os.open(directory / "probe", os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o600))
    except OSError:
        return False
    return True


def test_part_files_without_direct_io_fall_back_to_the_page_cache(tmp_path, monkeypatch, caplog):
    """A file system that refuses O_DIRECT (EINVAL at open, as tmpfs did before Linux 6.6): the store says so
    once and writes through the page cache. The refusal is injected at the OS call."""
    real_open = os.open

    def refusing_open(path, flags, mode=0o777):
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument", str(path))
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", refusing_open)
    blobs = BlobStore(tmp_path, fsync=True)
    data = os.urandom(5 * 4096 + 17)
    for i in range(2):
        path = blobs.path_for("ef" * 16, i, "in")
        f = blobs.open_writer(path)
        f.write(data)
        blobs.finish(f)
        assert Path(path).read_bytes() == data
    assert not blobs.direct_io
    warnings = [r.message for r in caplog.records if "refuses O_DIRECT" in r.message]
    assert len(warnings) == 1


def test_hot_copies_stay_within_budget(tmp_path):
    blobs = BlobStore(tmp_path, fsync=False, hot_bytes=100)
    paths = [blobs.path_for("cd" * 16, i, "in") for i in range(6)]
    for i, p in enumerate(paths):
        blobs.write(p, bytes([i]) * 20)
        blobs.keep(p, [bytes([i]) * 20], 20)
    assert [blobs.hot(p) is not None for p in paths] == [False, True, True, True, True, True]  # oldest first
    assert b"".join(blobs.content(paths[0]).pieces) == b"\x00" * 20  # from disk once it is no longer hot
    big = blobs.path_for("cd" * 16, 9, "in")
    blobs.keep(big, [b"x" * 26], 26)
    assert blobs.hot(big) is None  # more than a quarter of the budget: not kept
    blobs.delete(paths[1:])
    assert blobs.hot(paths[1]) is None and not Path(paths[1]).exists()
    blobs.keep(paths[0], [b"y" * 25], 25)  # the freed budget is there again
    assert blobs.hot(paths[0]) is not None


def test_spooler_limit(tmp_path):
    blobs = BlobStore(tmp_path, fsync=False)
    sp = Spooler(blobs, "m" * 32, "out", 1 << 20, 10, 100, run_blocking)
    with pytest.raises(BodyTooLarge):
        asyncio.run(spool_bytes(b"x" * 101, sp))
    assert not list(tmp_path.glob("*/*"))  # nothing left behind


def test_blob_sweep_removes_orphans_only(tmp_path):
    blobs = BlobStore(tmp_path, fsync=False)
    keep, orphan = blobs.path_for("ab" * 16, 0, "in"), blobs.path_for("ab" * 16, 1, "in")
    for p in (keep, orphan):
        blobs.write(p, b"x")
        os.utime(p, (time.time() - 1000, time.time() - 1000))
    assert blobs.sweep({keep}) == 1 and Path(keep).exists() and not Path(orphan).exists()
