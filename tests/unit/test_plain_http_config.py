"""peers[].plain_http (issue 12, defect 2): a plain-HTTP peer is known by its source address only, so an address
that is no IP (a server that reports none) admits no one, and a TLS node refuses at load a plain-HTTP peer
without a listener of its own or on a port another listener of the node holds."""
from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hulian.core.config import NodeConfig, PlainHttp


def test_sources_admit_their_addresses_only():
    plain = PlainHttp(sources=["10.0.0.0/30", "127.0.0.1"])
    assert plain.admits("10.0.0.3") and plain.admits("127.0.0.1")
    for address in ("10.0.0.4", "127.0.0.2", "", "?", "localhost", "10.0.0.1/8"):
        assert not plain.admits(address), address


def test_a_listener_on_both_stacks_sees_an_ipv4_source_as_itself():
    """Bound to "::", a listener reports an IPv4 client as ::ffff:a.b.c.d: the same peer, the same sources."""
    plain = PlainHttp(sources=["10.0.0.0/30", "::1"])
    assert plain.admits("::ffff:10.0.0.2") and plain.admits("::1")
    assert not plain.admits("::ffff:10.0.0.4") and not plain.admits("::2")


def _config(tmp_path: Path, plain: dict, **grpc) -> NodeConfig:
    files = {name: tmp_path / name for name in ("cert_file", "key_file", "ca_file")}
    return NodeConfig(node_id="a", data_dir=tmp_path, listen={"port": 7300}, grpc=grpc or {"enabled": False},
                      tls={"enabled": True, **files},
                      peers=[{"node_id": "fate", "url": "http://127.0.0.1:9", "plain_http": plain}])


def test_a_tls_node_gives_each_plain_http_peer_a_free_listener(tmp_path: Path):
    assert _config(tmp_path, {"sources": ["127.0.0.1"], "host": "127.0.0.1", "port": 7301}).peer_listeners
    with pytest.raises(ValidationError, match="listener of its own"):
        _config(tmp_path, {"sources": ["127.0.0.1"]})
    with pytest.raises(ValidationError, match="already taken"):
        _config(tmp_path, {"sources": ["127.0.0.1"], "host": "127.0.0.1", "port": 7300})
    with pytest.raises(ValidationError, match="already taken"):
        _config(tmp_path, {"sources": ["127.0.0.1"], "host": "127.0.0.1", "port": 7305}, enabled=True, port=7305)
