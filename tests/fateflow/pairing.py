"""A hulian node paired with a FATE-Flow site, in the two setups docs/interop/fate-flow.md describes:

- `direct`: FATE-Flow calls the node in plain HTTP (its client hard-codes http://) on a listener for FATE only
  (`peers[].plain_http`), where it is known by its source address; the node keeps TLS on for everyone else.
- `gateway`: a TLS-terminating gateway in front of FATE-Flow holds the FATE site's certificate (gateway.py):
  the node keeps TLS on and sees FATE as a certificate-holding peer with auth_type CERT.
"""
from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from hulian.crypto.pki import Issued, issue_node_cert
from hulian.node import cluster
from hulian.node.cluster import ClusterNode

FATE_SOURCES = ["127.0.0.1"]  # FATE-Flow's client connects from loopback in these tests


@dataclass
class Paired:
    """The hulian side of a pairing: the node, how FATE reaches it, and how the tests call it."""

    node: ClusterNode
    fate_id: str
    fate_route: str  # host:port FATE-Flow's route table names for this node

    @property
    def url(self) -> str:
        return self.node.url

    def admin(self, timeout: float = 15.0) -> httpx.Client:
        """North-south, as this platform's user (the admin token)."""
        return httpx.Client(base_url=self.url, verify=ssl.create_default_context(cafile=self.node.ca_file),
                            timeout=timeout, trust_env=False, headers={"x-ptp-token": self.node.admin_token})

    def as_fate(self, timeout: float = 15.0, transport: httpx.HTTPTransport | None = None) -> httpx.Client:
        """East-west, the way the FATE site calls this node: plain HTTP to its route, underscore headers."""
        return httpx.Client(base_url=f"http://{self.fate_route}", timeout=timeout, trust_env=False,
                            transport=transport, headers=fate_headers(self.fate_id))


def fate_headers(node_id: str) -> dict[str, str]:
    """What FATE-Flow 2.2.0 sends on every call (observed): underscores, an empty signature."""
    return {"x_node_id": node_id, "x_auth_sign": "", "x_nonce": "n", "x_trace_id": "", "content-type":
            "application/json"}


def _peer_entry(fate_id: str, fate_url: str, listener: tuple[str, int] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"node_id": fate_id, "url": fate_url, "auth_type": "CERT"}
    if listener is not None:
        entry["plain_http"] = {"sources": FATE_SOURCES, "host": listener[0], "port": listener[1]}
    return entry


def pair(directory: Path, fate_id: str, fate_url: str, setup: str = "direct") -> Paired:
    """Write (not start) a node `node-a` whose route table has the FATE site `fate_id` at `fate_url`."""
    (node,) = cluster.generate(directory, 1)
    cfg = yaml.safe_load(Path(node.config).read_text())
    cfg["control"] = {"poll_interval_seconds": 0.5}
    listener = ("127.0.0.1", cluster.free_port()) if setup == "direct" else None
    cfg["peers"] = [_peer_entry(fate_id, fate_url, listener)]
    Path(node.config).write_text(yaml.safe_dump(cfg, sort_keys=False))
    route = f"{listener[0]}:{listener[1]}" if listener else ""  # gateway: its egress, set by the caller
    return Paired(node, fate_id, route)


def peer_certificate(directory: Path, node_id: str) -> tuple[str, str, str]:
    """(cert, key, ca) for `node_id` from the CA of the node written under `directory` (the network's CA)."""
    pki = directory / "pki"
    ca = Issued(pki / "ca.crt", pki / "ca.key")  # written by cluster.generate
    cert = issue_node_cert(ca, pki, node_id)
    return str(cert.cert_file), str(cert.key_file), str(ca.cert_file)


def start(paired: Paired, timeout: float = 30.0) -> Paired:
    paired.node.pid = cluster.start_node(paired.node.config)
    cluster.wait_healthy(paired.node, timeout)
    return paired


def stop(paired: Paired) -> None:
    if paired.node.pid:
        cluster.stop_pid(paired.node.pid)
        paired.node.pid = 0
