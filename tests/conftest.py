"""Shared fixtures: real node processes on loopback (the cluster tier) and service availability."""
from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from hulian.node import cluster
from hulian.node.cluster import ClusterNode

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_service(name: str, host: str, port: int) -> None:
    """Skip when a backing server is absent; under CI=true its absence is a failure instead."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return
    except OSError as e:
        message = f"{name} not reachable on {host}:{port} ({e})"
        if IN_CI:
            pytest.fail(message + "; CI=true requires it (.ci/run starts it)")
        pytest.skip(message)


@pytest.fixture
def make_cluster(tmp_path: Path) -> Callable[..., list[ClusterNode]]:
    """Start real nodes: make_cluster(n, relays=[("node-a", "node-c", "node-b")], extra={...})."""
    dirs: list[Path] = []

    def start(n: int, relays=(), extra: dict | None = None) -> list[ClusterNode]:
        d = tmp_path / f"cluster{len(dirs)}"
        dirs.append(d)
        return cluster.up(d, n, list(relays), extra)

    yield start
    for d in dirs:
        if (d / "cluster.json").exists():
            cluster.down(d)


def container_client(node: ClusterNode, timeout: float = 30.0) -> httpx.Client:
    """A client as a container would use it: TLS to the node, no client certificate."""
    return httpx.Client(base_url=node.url, verify=ssl.create_default_context(cafile=node.ca_file),
                        timeout=timeout, trust_env=False)


def peer_client(node: ClusterNode, as_node: ClusterNode, timeout: float = 30.0) -> httpx.Client:
    """A client holding `as_node`'s certificate: calls node-to-node routes of `node` as that peer."""
    return httpx.Client(base_url=node.url, verify=cluster.ssl_context(as_node), timeout=timeout, trust_env=False)


def ptp_headers(node: ClusterNode, session: str, target: str, **extra: str) -> dict[str, str]:
    return {"x-ptp-session-id": session, "x-ptp-token": node.admin_token, "x-ptp-target-node-id": target, **extra}
