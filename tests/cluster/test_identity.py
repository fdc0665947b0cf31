"""Who a caller is, on real node processes: a plain-HTTP peer (FATE-Flow's way: http://, no certificate, no
signature) on a listener of its own beside a TLS node, known by its source address; a TLS-off node that takes a
declared node id only from the addresses that peer is allowed from, never takes an anonymous call for itself, and
says loudly that TLS is off. Clients bind to distinct loopback addresses (127.0.0.x) to show a wrong source is
refused."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from hulian.control import paths as P
from hulian.node import cluster
from hulian.node.cluster import ClusterNode, free_ports

pytestmark = pytest.mark.cluster
FATE = "fate-9999"  # a FATE-Flow site: plain HTTP, underscore headers, signs nothing


def plain_client(source: str = "127.0.0.1") -> httpx.Client:
    """A plain-HTTP client whose connections come from `source` (FATE-Flow's requests, as seen by the node)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=10, trust_env=False)


def fate_headers(node_id: str = FATE) -> dict[str, str]:
    return {"x_node_id": node_id, "x_auth_sign": "", "x_nonce": "n", "x_trace_id": "", "x_timestamp": "0"}


def call(client: httpx.Client, url: str, path: str, headers: dict[str, str], **body) -> dict:
    return client.post(url + path, json=body, headers=headers).json()


@pytest.fixture
def tls_node(tmp_path: Path):
    port = free_ports(1)[0]
    fate = {"node_id": FATE, "url": "http://127.0.0.1:9", "auth_type": "CERT",
            "plain_http": {"sources": ["127.0.0.1"], "host": "127.0.0.1", "port": port}}
    nodes = cluster.generate(tmp_path, 2)
    a = nodes[0]
    cfg = yaml.safe_load(Path(a.config).read_text())
    cfg["peers"].append(fate)
    Path(a.config).write_text(yaml.safe_dump(cfg))
    a.pid = cluster.start_node(a.config)
    try:
        cluster.wait_healthy(a)
        yield a, f"http://127.0.0.1:{port}"
    finally:
        cluster.stop_pid(a.pid)


def test_a_plain_http_peer_is_known_by_its_listener_and_source_address(tls_node):
    a, listener = tls_node
    with plain_client() as c:
        assert c.get(listener + "/v1/interconn/node/health").json()["data"]["node_id"] == a.node_id
        out = call(c, listener, P.STATUS_ALL, fate_headers(), job_id="no-such-job")
        assert out["code"] != 4003, out  # known as the FATE peer: the job is what is missing
        # it may not speak for another node on its listener
        out = call(c, listener, P.STATUS_ALL, fate_headers("node-b"), job_id="no-such-job")
        assert out["code"] == 4003 and "serves node" in out["msg"], out
        # the listener carries node-to-node routes only, even with the admin token
        out = c.get(listener + P.NS_JOB_LIST, headers={"x-ptp-token": a.admin_token}).json()
        assert out["code"] == 4006, out
        # the node's own port stays TLS-only
        with pytest.raises(httpx.HTTPError):
            c.get(a.url.replace("https://", "http://") + "/v1/interconn/node/health").raise_for_status()
    with plain_client("127.0.0.2") as c:  # the right listener, the wrong source address
        out = call(c, listener, P.STATUS_ALL, fate_headers(), job_id="no-such-job")
        assert out["code"] == 4003 and "127.0.0.2" in out["msg"] and "plain_http.sources" in out["msg"], out
        out = c.post(listener + "/v1/interconn/chan/invoke", json={}, headers=fate_headers()).json()
        assert out["code"] == "E0000000618", out
    log = (Path(a.config).parent / "node.log").read_text()
    assert "TLS IS OFF" not in log and f"plain-HTTP listener for peer {FATE}" in log


@pytest.fixture
def tls_off_node(tmp_path: Path):
    nodes = cluster.generate(tmp_path, 2)
    a = nodes[0]
    cfg = yaml.safe_load(Path(a.config).read_text())
    cfg["tls"] = {"enabled": False}
    cfg["peers"].append({"node_id": FATE, "url": "http://127.0.0.1:9", "auth_type": "CERT",
                         "plain_http": {"sources": ["127.0.0.1/32"]}})
    Path(a.config).write_text(yaml.safe_dump(cfg))
    a = ClusterNode(**{**a.__dict__, "url": a.url.replace("https://", "http://")})
    a.pid = cluster.start_node(a.config)
    try:
        cluster.wait_healthy(a)
        yield a
    finally:
        cluster.stop_pid(a.pid)


def test_tls_off_takes_no_claim_on_trust_and_says_so(tls_off_node):
    a = tls_off_node
    with plain_client() as c:
        # anonymous: never this node itself
        out = call(c, a.url, P.STOP_ALL, {}, job_id="any")
        assert out["code"] == 4003 and "names no node" in out["msg"], out
        assert call(c, a.url, P.STOP_ALL, fate_headers(a.node_id), job_id="any")["code"] == 4003
        # a node not in the route table; a peer that must present a certificate
        assert call(c, a.url, P.STATUS_ALL, fate_headers("mallory"), job_id="any")["code"] == 4003
        out = call(c, a.url, P.STATUS_ALL, fate_headers("node-b"), job_id="any")
        assert out["code"] == 4003 and "certificate" in out["msg"], out
        # the plain-HTTP peer from its address
        assert call(c, a.url, P.STATUS_ALL, fate_headers(), job_id="any")["code"] != 4003
        # north-south needs the admin token in every mode (task/get_log gave a log with no credentials)
        out = c.get(a.url + P.NS_LOG, params={"task_id": "t"}).json()
        assert out["code"] == 4003 and "admin token" in out["msg"], out
        assert c.get(a.url + P.NS_LOG, params={"task_id": "t"},
                     headers={"x-ptp-token": a.admin_token}).json()["code"] != 4003
        health = c.get(a.url + "/v1/interconn/node/health").json()["data"]
        assert health["tls"] is False and "TLS IS OFF" in health["warning"]
    with plain_client("127.0.0.3") as c:
        out = call(c, a.url, P.STATUS_ALL, fate_headers(), job_id="any")
        assert out["code"] == 4003 and "127.0.0.3" in out["msg"], out
    assert "TLS IS OFF" in (Path(a.config).parent / "node.log").read_text()
    status = subprocess.run([sys.executable, "-m", "hulian.cli.main", "node", "status", "--node", a.url,
                             "--token", a.admin_token], capture_output=True, text=True, timeout=60)
    assert status.returncode == 0 and "tls OFF" in status.stdout and "WARNING: TLS IS OFF" in status.stderr, status
