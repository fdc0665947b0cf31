"""Transport benchmark: push on node A for node B, pop on B, over TLS on loopback.

Both sides use the Channel SDK, as components do. For 1 KiB, 1 MiB and 64 MiB messages it prints
throughput (MB/s) and push→pop latency percentiles, and beside
them, in the same run and against the same server stack (uvicorn + httptools + uvloop + TLS with a client
certificate), the ceiling: a raw HTTP upload of the same bytes to a route that reads and discards the body.

Run alone (nothing else on the cores):  .venv/bin/python bench/transport.py [--quick]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import machine  # bench/machine.py, beside this script

from hulian.node import cluster
from hulian.transport.channel import Channel
from hulian.transport.http11 import KeepAliveClient

SIZES = [("1 KiB", 1 << 10), ("1 MiB", 1 << 20), ("64 MiB", 64 << 20)]

CEILING_APP = '''
import ssl, sys, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})
cert, key, ca, port = sys.argv[1:5]
uvicorn.run(app, host="127.0.0.1", port=int(port), ssl_certfile=cert, ssl_keyfile=key, ssl_ca_certs=ca,
            ssl_cert_reqs=ssl.CERT_OPTIONAL, http="httptools", loop="uvloop", log_level="warning")
'''


def channel(node, parties) -> Channel:
    """What a component uses: the Channel SDK on its local node (TLS, session token)."""
    return Channel(node.url, "session_bench", node.admin_token, node.node_id, parties, ca_file=node.ca_file,
                   timeout=120)


def latencies(a, b, data: bytes, n: int) -> list[float]:
    """Seconds from the start of a push on A to the end of the pop on B, for `n` messages sent one at a
    time, each with B's pop already waiting (as a component's would), on long-lived connections."""
    parties = {"guest.0": a.node_id, "host.0": b.node_id}
    topic = f"lat{len(data)}"
    out = []
    with channel(a, parties) as ca, channel(b, parties) as cb:
        for _ in range(n):
            box: list[float] = []

            def popper(box: list[float] = box) -> None:
                got = cb.recv("guest.0", topic, 30)
                box.append(time.perf_counter())
                assert len(got) == len(data)

            t = threading.Thread(target=popper)
            t.start()
            time.sleep(0.005)
            t0 = time.perf_counter()
            ca.send("host.0", topic, data)
            t.join()
            out.append(box[0] - t0)
    return out


def pipelined(a, b, data: bytes, count: int) -> float:
    """MB/s with a sender pushing `count` messages back to back while a receiver pops them."""
    parties = {"guest.0": a.node_id, "host.0": b.node_id}
    topic = f"pipe{len(data)}"

    def receiver():
        with channel(b, parties) as cb:
            for _ in range(count):
                assert len(cb.recv("guest.0", topic, 120)) == len(data)

    t = threading.Thread(target=receiver)
    t.start()
    t0 = time.perf_counter()
    with channel(a, parties) as ca:
        for _ in range(count):
            ca.send("host.0", topic, data)
    t.join()
    return len(data) * count / (time.perf_counter() - t0) / 1e6


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_split(a, b, data: bytes, count: int) -> str:
    """Where the CPU goes while `count` messages are pipelined: node A, node B, and the SDKs (this process)."""
    pids = (a.pid, b.pid, os.getpid())
    before = [cpu_seconds(p) for p in pids]
    t0 = time.perf_counter()
    pipelined(a, b, data, count)
    wall = time.perf_counter() - t0
    used = [cpu_seconds(p) - s for p, s in zip(pids, before, strict=True)]
    return (f"CPU seconds for {count} x {len(data) >> 20} MiB pipelined in {wall:.2f} s: node A {used[0]:.2f}, "
            f"node B {used[1]:.2f}, SDKs {used[2]:.2f} (cores busy {sum(used) / wall:.2f})")


def ceiling(node, data: bytes, repeat: int) -> float:
    """MB/s of a raw upload of `data` to the same server stack over the same TLS setup, sent with the
    same client the Channel SDK pushes with."""
    port = cluster.free_port()
    proc = subprocess.Popen([sys.executable, "-c", CEILING_APP, node.client_cert, node.client_key, node.ca_file,
                             str(port)])
    try:
        client = KeepAliveClient(f"https://127.0.0.1:{port}", node.ca_file)
        for _ in range(100):
            try:
                client.post("/", {}, b"")
                break
            except OSError:
                time.sleep(0.1)
        client.post("/", {"content-type": "application/octet-stream"}, data, 120)  # warm-up, not timed
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            assert client.post("/", {"content-type": "application/octet-stream"}, data, 120).status == 200
            times.append(time.perf_counter() - t0)
        client.close()
        return len(data) / statistics.median(times) / 1e6
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run, not for the record)")
    ap.add_argument("--sizes", default=",".join(n for n, _ in SIZES), help="subset, e.g. '1 KiB,64 MiB'")
    ap.add_argument("--fsync", choices=["on", "off"], default="on", help="transport.fsync of both nodes")
    ap.add_argument("--cpu", action="store_true", help="also print where the CPU goes for 64 MiB messages")
    args = ap.parse_args()
    reps = {"1 KiB": 200, "1 MiB": 30, "64 MiB": 5}
    # Pipelined runs are long enough that filling and draining the pipeline (about one message's latency) is a
    # small part of the time: steady-state throughput, as the ceiling's single uploads are.
    stream = {"1 KiB": 200, "1 MiB": 100, "64 MiB": 16}
    if args.quick:
        reps = {k: max(2, v // 10) for k, v in reps.items()}
        stream = {k: max(3, v // 4) for k, v in stream.items()}
    wanted = {x.strip() for x in args.sizes.split(",")}
    with tempfile.TemporaryDirectory() as d:
        a, b = cluster.up(Path(d), 2, extra={"transport": {"fsync": args.fsync == "on"}})
        try:
            print(f"machine: {machine.describe()}; transport.fsync {args.fsync}")
            print(f"{'size':>7} | {'push→pop p50':>12} | {'p99':>9} | {'1 msg MB/s':>10} | "
                  f"{'pipelined MB/s':>14} | {'ceiling MB/s':>12} | {'ratio':>6}")
            for name, size in [(n, s) for n, s in SIZES if n in wanted]:
                data = os.urandom(size)
                lat = latencies(a, b, data, reps[name])
                single = size / statistics.median(lat) / 1e6
                pipe = pipelined(a, b, data, stream[name])
                ceil = ceiling(a, data, max(5, reps[name] // 2))
                best = max(single, pipe)
                print(f"{name:>7} | {statistics.median(lat) * 1e3:9.2f} ms | "
                      f"{sorted(lat)[int(len(lat) * 0.99) - 1] * 1e3:6.2f} ms | {single:10.1f} | {pipe:14.1f} | "
                      f"{ceil:12.1f} | {best / ceil:6.0%}")
            if args.cpu:
                print(cpu_split(a, b, os.urandom(64 << 20), 8))
        finally:
            cluster.down(Path(d))



if __name__ == "__main__":
    main()
