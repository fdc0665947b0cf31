"""Local clusters: N nodes on loopback with generated configs, a CA, certificates and tokens.

Used by `hulian cluster up/down`, `make demo` and the cluster test tier.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import ssl
import string
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import yaml

from hulian.crypto import tokens
from hulian.crypto.pki import create_ca, issue_node_cert

HEALTH_PATH = "/v1/interconn/node/health"


@dataclass
class ClusterNode:
    node_id: str
    inst_id: str
    url: str
    admin_token: str
    ca_file: str
    client_cert: str
    client_key: str
    config: str
    pid: int = 0


def free_ports(n: int) -> list[int]:
    """`n` distinct free ports (all held open while chosen: a port let go may be handed out again at once)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


def free_port() -> int:
    return free_ports(1)[0]


def node_name(i: int) -> str:
    return f"node-{string.ascii_lowercase[i]}" if i < 26 else f"node-{i}"


def generate(directory: Path, n: int, relays: list[tuple[str, str, str]] = (), extra: dict | None = None,
             per_node: dict[str, dict] | None = None) -> list[ClusterNode]:
    """Write configs for `n` nodes; `relays` are (source, target, via): source reaches target through via, and
    target reaches source the same way.
    `extra` is merged into every node's config, `per_node[name]` into that node's only."""
    directory = directory.resolve()
    pki = directory / "pki"
    ca = create_ca(pki)
    names = [node_name(i) for i in range(n)]
    ports = dict(zip(names, free_ports(n), strict=True))
    nodes = []
    for name in names:
        cert = issue_node_cert(ca, pki, name)
        node_dir = directory / name
        node_dir.mkdir(parents=True, exist_ok=True)
        admin = secrets.token_urlsafe(24)
        # routes are symmetric: the target reaches the source through the same relay, which is also what lets
        # the relay vouch for the source's messages (transport.envelope.vouched_source)
        via = {t: v for s, t, v in relays if s == name} | {s: v for s, t, v in relays if t == name}
        peers = []
        for other in names:
            if other == name:
                continue
            entry = {"node_id": other, "inst_id": other.replace("node", "inst")}
            if other in via:
                entry["via"] = via[other]
            else:
                entry["url"] = f"https://127.0.0.1:{ports[other]}"
            peers.append(entry)
        cfg = {
            "node_id": name, "inst_id": name.replace("node", "inst"),
            "listen": {"host": "127.0.0.1", "port": ports[name]},
            "data_dir": str(node_dir / "data"),
            "tls": {"enabled": True, "cert_file": str(cert.cert_file), "key_file": str(cert.key_file),
                    "ca_file": str(ca.cert_file)},
            "security": {"admin_token": admin, "token_secret": tokens.new_secret()},
            "peers": peers,
            "log": {"level": "INFO", "file": str(node_dir / "node.log")},
            **(extra or {}),
            **(per_node or {}).get(name, {}),
        }
        path = node_dir / "node.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        path.chmod(0o600)
        nodes.append(ClusterNode(name, cfg["inst_id"], f"https://127.0.0.1:{ports[name]}", admin,
                                 str(ca.cert_file), str(cert.cert_file), str(cert.key_file), str(path)))
    return nodes


def start_node(config_path: str | Path) -> int:
    """Start a node process detached from ours (own session); its stdout/stderr go beside its config."""
    with open(Path(config_path).parent / "stdout.log", "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hulian.cli.main", "node", "start", "--config", str(config_path)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    return proc.pid


def ssl_context(node: ClusterNode) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=node.ca_file)
    ctx.load_cert_chain(node.client_cert, node.client_key)
    return ctx


def wait_healthy(node: ClusterNode, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            r = httpx.get(node.url + HEALTH_PATH, verify=ssl_context(node), timeout=2.0, trust_env=False)
            answering = (r.json().get("data") or {}).get("node_id") if r.status_code == 200 else None
            if answering == node.node_id:
                return
            if answering:  # its port was taken by another node: this one could not listen
                raise RuntimeError(f"{node.url} answers as node {answering}, not {node.node_id}: its port is in use")
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as e:
            last = str(e)
        if node.pid and not _alive(node.pid):
            raise RuntimeError(f"node {node.node_id} exited during start-up; see {Path(node.config).parent}/stdout.log")
        time.sleep(0.1)
    raise TimeoutError(f"node {node.node_id} not healthy within {timeout}s ({last})")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # reap it if it is our child and has exited
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def up(directory: Path, n: int, relays: list[tuple[str, str, str]] = (), extra: dict | None = None,
       per_node: dict[str, dict] | None = None) -> list[ClusterNode]:
    nodes = generate(directory, n, relays, extra, per_node)
    try:
        for node in nodes:
            node.pid = start_node(node.config)
        for node in nodes:
            wait_healthy(node)
    finally:
        write_manifest(directory, nodes)
    return nodes


def write_manifest(directory: Path, nodes: list[ClusterNode]) -> None:
    path = directory / "cluster.json"
    path.write_text(json.dumps({"nodes": [asdict(n) for n in nodes]}, indent=2))
    path.chmod(0o600)


def read_manifest(directory: Path) -> list[ClusterNode]:
    return [ClusterNode(**n) for n in json.loads((directory / "cluster.json").read_text())["nodes"]]


def stop_pid(pid: int, timeout: float = 10.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


def down(directory: Path) -> list[str]:
    nodes = read_manifest(directory)
    for node in nodes:
        if node.pid:
            stop_pid(node.pid)
    return [n.node_id for n in nodes]
