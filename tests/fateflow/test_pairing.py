"""The two secure ways to pair a hulian node with a FATE-Flow site (docs/interop/fate-flow.md), with the kit:

- the per-peer plain-HTTP listener: FATE is identified by its configured source addresses, so a caller from
  another address claiming FATE's id, or a caller on FATE's listener claiming another node, is refused;
- a TLS-terminating gateway in front of FATE holding the FATE site's certificate: the node keeps TLS on and
  jobs run in both directions through it.
"""
from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.fateflow import jobs, pairing
from tests.fateflow.conftest import FATE_ID, MARKS

pytestmark = MARKS
OTHER_SOURCE = "127.0.0.2"  # loopback too, but not among FATE's configured sources


def create(client: httpx.Client, job_id: str) -> httpx.Response:
    """East-west job/create as FATE's scheduler sends it (the node is the host)."""
    body = {"job_id": job_id, "flow_id": "flow-pairing", "dag": jobs.DAG, "config": jobs.conf(FATE_ID)}
    return client.post("/v1/interconn/schedule/job/create", content=json.dumps(body))


def test_fate_is_known_by_its_source_address(tmp_path: Path):
    node = pairing.start(pairing.pair(tmp_path, FATE_ID, "http://127.0.0.1:9"))  # FATE itself is not needed
    try:
        elsewhere = httpx.HTTPTransport(local_address=OTHER_SOURCE)
        with node.as_fate(transport=elsewhere) as c:
            refused = create(c, "1001")
        assert refused.status_code == 403 and refused.json()["code"] == 4003, refused.text
        with node.as_fate() as c:
            c.headers["x_node_id"] = node.node.node_id  # from FATE's address, claiming to be the node itself
            impostor = create(c, "1002")
        assert impostor.status_code == 403 and impostor.json()["code"] == 4003, impostor.text
        with node.as_fate() as c:  # the same call from FATE's address, as FATE: accepted
            accepted = create(c, "1003")
        assert accepted.status_code == 200 and accepted.json()["code"] == 0, accepted.text
        with node.admin() as c:
            listed = c.post("/v1/platform/schedule/job/query_job_list", json={"flow_id": "flow-pairing"}).json()
        assert set(listed["data"]["job_list"]) == {"1003"}, listed
        with node.as_fate() as c:  # FATE's way in serves east-west routes only, never the platform's own
            platform = c.get("/v1/platform/dataset/list", headers={"x-ptp-token": node.node.admin_token})
        assert platform.status_code in (403, 404), platform.text
    finally:
        pairing.stop(node)


def test_jobs_both_ways_through_a_tls_gateway(make_site):
    site = make_site(setup="gateway")
    assert site.hulian.url.startswith("https://") and site.fate.url not in site.hulian.fate_route  # via the gateway
    jobs.upload(site)
    jobs.fate_schedules_to_success(site)
    jobs.hulian_schedules_to_success(site)
