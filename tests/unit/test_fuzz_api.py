"""Property-based fuzzing of the transport routes in process: whatever a caller sends, the node answers
with a spec code (never a 500, never a hang)."""
from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hulian.core.config import NodeConfig
from hulian.node.app import create_app
from hulian.wire import ptp_pb2

ROUTES = ["push", "pop", "peek", "release", "invoke", "transport"]
CONTENT_TYPES = ["application/json", "application/x-protobuf", "application/octet-stream", "text/plain", ""]
HEADER_NAMES = ["x-ptp-session-id", "x-ptp-token", "x-ptp-target-node-id", "x-ptp-topic", "x-ptp-timeout",
                "x-ptp-source-node-id", "x-hulian-metadata", "x-hulian-chunk", "x-ptp-version", "x-ptp-uri"]
KNOWN = {"E0000000000", "E0000000400", "E0000000403", "E0000000404", "E0000000413", "E0000000603",
         "E0000000608", "E0000000616", "E0000000618", "E0000000619", "E0000000700"}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    cfg = NodeConfig(node_id="n1", data_dir=tmp_path_factory.mktemp("fuzz"),
                     security={"admin_token": "admin"}, limits={"max_body_bytes": 4096, "pop_timeout_seconds": 0.05,
                                                               "max_pop_timeout_seconds": 0.2},
                     peers=[{"node_id": "n2", "url": "http://127.0.0.1:9"}], transport={"fsync": False})
    with TestClient(create_app(cfg)) as c:
        yield c


def _code(resp) -> str:
    ctype = resp.headers.get("content-type", "")
    if "json" in ctype:
        return json.loads(resp.content)["code"]
    if "octet-stream" in ctype:
        return resp.headers["x-ptp-code"]
    return ptp_pb2.TransportOutbound.FromString(resp.content).code


header_values = st.one_of(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
                          st.sampled_from(["admin", "n1", "n2", "0/1", "5/2", "{}", "[]", "-1", "1", "9999999"]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), ctype=st.sampled_from(CONTENT_TYPES),
       body=st.one_of(st.binary(max_size=300), st.sampled_from([b"{}", b'{"payload": "aGk="}', b"x" * 5000,
                                                              b'{"timeout": "x"}', b'{"topic": 5}'])),
       headers=st.dictionaries(st.sampled_from(HEADER_NAMES), header_values, max_size=6),
       query=st.sampled_from(["", "?timeout=abc", "?timeout=0.01", "?timeout=-3"]))
def test_no_input_gets_a_500(client, route, ctype, body, headers, query):
    sent = {k: v for k, v in headers.items()}
    if ctype:
        sent["content-type"] = ctype
    resp = client.post(f"/v1/interconn/chan/{route}{query}", content=body, headers=sent)
    assert resp.status_code < 500, resp.content[:300]
    assert _code(resp) in KNOWN
