"""The node's OpenAPI document declares every route completely, and is served to the admin only by default."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hulian.core import errors as control_errors
from hulian.core import errors as transport_errors
from hulian.core.config import NodeConfig
from hulian.node import openapi
from hulian.node.app import create_app

ADMIN = "admin-secret"
TAKES_NOTHING = {openapi.HEALTH, "/v1/platform/dataset/list"}


def _app(tmp_path, **cfg) -> FastAPI:
    return create_app(NodeConfig(node_id="n1", data_dir=tmp_path / "n1", transport={"fsync": False},
                                 security={"admin_token": ADMIN}, **cfg))


@pytest.fixture
def client(tmp_path) -> Iterator[TestClient]:
    with TestClient(_app(tmp_path)) as c:
        yield c


def _document(client: TestClient) -> dict:
    r = client.get("/openapi.json", headers={"x-ptp-token": ADMIN})
    assert r.status_code == 200, r.text
    return r.json()


def test_every_served_route_is_declared_with_parameters_bodies_and_errors(client):
    doc = _document(client)
    served = openapi.served_operations(client.app)
    declared = {(m, p) for p, item in doc["paths"].items() for m in item}
    assert served == declared and len(served) >= 36
    for path, item in doc["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            assert op["summary"] and op["operationId"], where
            if path not in TAKES_NOTHING:
                assert op["parameters"] or "requestBody" in op, f"{where} declares no input"
            statuses = set(op["responses"])
            assert "200" in statuses and {"400", "403", "500"} <= statuses, f"{where}: {statuses}"
            for status, reply in op["responses"].items():
                assert reply["content"], f"{where} {status} has no content declared"
    health = doc["paths"][openapi.HEALTH]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert doc["components"]["schemas"][health["$ref"].rsplit("/", 1)[1]]["properties"]["data"]
    refs = set(re.findall(r'"#/components/schemas/(\w+)"', json.dumps(doc)))
    assert refs and refs <= set(doc["components"]["schemas"])
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_transport_routes_declare_json_protobuf_and_raw(client):
    doc = _document(client)
    push = doc["paths"]["/v1/interconn/chan/push"]["post"]
    assert set(push["requestBody"]["content"]) == {"application/json", "application/x-protobuf",
                                                   "application/octet-stream"}
    headers = {p["name"]: p for p in push["parameters"] if p["in"] == "header"}
    assert headers["x-ptp-session-id"]["required"] and headers["x-ptp-token"]["required"]
    pop = doc["paths"]["/v1/interconn/chan/pop"]["post"]
    assert {"x-ptp-timeout", "timeout"} <= {p["name"] for p in pop["parameters"]}
    assert "application/octet-stream" in pop["responses"]["200"]["content"]
    assert pop["responses"]["410"]["content"]["application/x-protobuf"]["schema"]["x-protobuf-message"] \
        == "org.ppc.ptp.TransportOutbound"
    assert doc["components"]["schemas"]["TransportReply"]["required"] == ["code", "message"]


def test_error_responses_come_from_the_error_classes(client):
    doc = _document(client)
    status_all = doc["paths"]["/v1/platform/schedule/job/status_all"]["post"]["responses"]
    for cls in control_errors.CONTROL_ERRORS:
        assert str(cls.code) in status_all[str(cls.http_status)]["description"], cls.__name__
    invoke = doc["paths"]["/v1/interconn/chan/invoke"]["post"]["responses"]
    assert transport_errors.BufferFull.code in invoke["507"]["description"]
    assert status_all["404"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/ControlReply"


def test_a_route_added_without_a_declaration_fails_the_document(tmp_path):
    app = _app(tmp_path)

    @app.post("/v1/platform/undeclared")
    async def undeclared() -> dict:
        return {}

    with pytest.raises(LookupError, match="/v1/platform/undeclared"):
        openapi.openapi_document(app)
    with TestClient(app) as c:  # a serving node still documents it, bare, and logs the omission
        doc = _document(c)
    assert doc["paths"]["/v1/platform/undeclared"]["post"]["summary"].startswith("undeclared")


@pytest.mark.parametrize("path", ["/openapi.json", "/docs"])
def test_docs_are_served_to_the_admin_only(client, path):
    for headers in ({}, {"x-ptp-token": "wrong"}, {"authorization": "Bearer wrong"}):
        r = client.get(path, headers=headers)
        assert r.status_code == 403 and r.json()["code"] == control_errors.Forbidden.code, headers
        assert "publish_docs" in r.json()["msg"]
    assert client.get(path, headers={"x-ptp-token": ADMIN}).status_code == 200
    assert client.get(path, headers={"authorization": f"Bearer {ADMIN}"}).status_code == 200
    assert client.get("/redoc").status_code == 404


def test_docs_inline_the_document_for_the_browser(client):
    html = client.get("/docs", headers={"x-ptp-token": ADMIN}).text
    assert "/v1/interconn/chan/push" in html


def test_published_docs_need_no_credential(tmp_path):
    with TestClient(_app(tmp_path, api={"publish_docs": True})) as c:
        assert c.get("/openapi.json").json()["paths"]
        assert c.get("/docs").status_code == 200


def test_the_document_is_valid_openapi_3_1(client):
    validator = pytest.importorskip("openapi_spec_validator", reason="openapi-spec-validator comes with moto[server]")
    validator.validate(_document(client))
