"""HTTP client benchmark: push + pop round trips through one real node (TLS on loopback), with the data
path's stdlib keep-alive client (hulian.transport.http11.KeepAliveClient) against httpx.Client (keep-alive),
for 100 B, 64 KiB and 1 MiB messages. The node delivers to itself (target = its own id), so each round trip is
one push and one pop of the same bytes, as a component's Channel does them, on one connection per client.

Prints, per client and size: the median and p90 round-trip time (ms) and this process's CPU time per round
trip (ms; the client's own cost, the node's is the same for both). Clients alternate per size, each measured
after a warm-up, so a slow moment of the machine does not fall on one client only.

Run alone (nothing else on the cores):  .venv/bin/python bench/http_client.py [--quick]
"""
from __future__ import annotations

import argparse
import ssl
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from hulian.node import cluster
from hulian.transport.http11 import KeepAliveClient
from hulian.wire import headers as H

PREFIX = "/v1/interconn/chan"
OCTET = "application/octet-stream"
SIZES = [("100 B", 100, 400), ("64 KiB", 64 << 10, 200), ("1 MiB", 1 << 20, 60)]  # name, bytes, round trips

RoundTrip = Callable[[bytes], None]


def _headers(node: cluster.ClusterNode, topic: str) -> dict[str, str]:
    return {H.SESSION_ID: "session_bench", H.TOKEN: node.admin_token, "content-type": OCTET, H.TOPIC: topic}


def stdlib_client(node: cluster.ClusterNode) -> tuple[RoundTrip, Callable[[], None]]:
    client = KeepAliveClient(node.url, node.ca_file)
    push = {**_headers(node, "t-stdlib"), H.TARGET_NODE: node.node_id}
    pop = {**_headers(node, "t-stdlib"), "accept": OCTET, H.SOURCE_NODE: node.node_id, H.TIMEOUT_MS: "5000"}

    def trip(data: bytes) -> None:
        assert client.post(f"{PREFIX}/push", push, data, 30).status == 200
        reply = client.post(f"{PREFIX}/pop", pop, b"", 30)
        assert reply.status == 200 and len(reply.body) == len(data), (reply.status, len(reply.body))

    return trip, client.close


def httpx_client(node: cluster.ClusterNode) -> tuple[RoundTrip, Callable[[], None]]:
    client = httpx.Client(base_url=node.url, verify=ssl.create_default_context(cafile=node.ca_file),
                          timeout=30, trust_env=False)
    push = {**_headers(node, "t-httpx"), H.TARGET_NODE: node.node_id}
    pop = {**_headers(node, "t-httpx"), "accept": OCTET, H.SOURCE_NODE: node.node_id, H.TIMEOUT_MS: "5000"}

    def trip(data: bytes) -> None:
        assert client.post(f"{PREFIX}/push", headers=push, content=data).status_code == 200
        reply = client.post(f"{PREFIX}/pop", headers=pop, content=b"")
        assert reply.status_code == 200 and len(reply.content) == len(data), (reply.status_code, len(reply.content))

    return trip, client.close


CLIENTS = {"http11.KeepAliveClient": stdlib_client, "httpx.Client": httpx_client}


def measure(trip: RoundTrip, data: bytes, n: int) -> tuple[float, float, float]:
    """(median ms, p90 ms, CPU ms of this process) per round trip."""
    for _ in range(max(3, n // 20)):
        trip(data)
    times = []
    cpu0 = time.process_time()
    for _ in range(n):
        t0 = time.perf_counter()
        trip(data)
        times.append((time.perf_counter() - t0) * 1000)
    cpu = (time.process_time() - cpu0) * 1000 / n
    return statistics.median(times), statistics.quantiles(times, n=10)[-1], cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the round trips")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        (node,) = cluster.up(Path(d), 1)
        try:
            made = {name: make(node) for name, make in CLIENTS.items()}
            for size_name, size, n in SIZES:
                data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
                n = max(10, n // 4) if args.quick else n
                for name, (trip, _) in made.items():
                    rows.append((size_name, name, n, *measure(trip, data, n)))
            for _, close in made.values():
                close()
        finally:
            cluster.down(Path(d))
    print(f"{'size':>7}  {'client':<24} {'trips':>5}  {'median ms':>9}  {'p90 ms':>7}  {'client CPU ms':>13}")
    for size_name, name, n, median, p90, cpu in rows:
        print(f"{size_name:>7}  {name:<24} {n:>5}  {median:>9.2f}  {p90:>7.2f}  {cpu:>13.2f}")


if __name__ == "__main__":
    main()
