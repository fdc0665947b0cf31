"""Transport benchmark: push on node A for node B, pop on B, over TLS on loopback.

Both sides use the Channel SDK, as components do; the receiver reads into its channel's reused buffer
(`recv_view`, the SDK's way to receive many large messages) unless `--recv bytes` asks for a new bytes object per
message (`recv`), which adds the page faults of a fresh buffer: about 35 CPU-ms per 64 MiB here.
For 1 KiB, 1 MiB and 64 MiB messages it prints throughput (MB/s) and push→pop latency percentiles, and beside
them, in the same run and against the same server stack (uvicorn + httptools + uvloop + TLS with a client
certificate), the ceiling: a raw HTTP upload of the same bytes to a route that reads and discards the body.

Run alone (nothing else on the cores):  .venv/bin/python bench/transport.py [--quick]
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import machine  # bench/machine.py, beside this script

from hulian.node import cluster
from hulian.transport.blobs import BlobStore
from hulian.transport.channel import Channel
from hulian.transport.http11 import KeepAliveClient

SIZES = [("1 KiB", 1 << 10), ("1 MiB", 1 << 20), ("64 MiB", 64 << 20)]
RECV = {"view": Channel.recv_view, "bytes": Channel.recv}
recv = RECV["view"]  # set by --recv

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
                got = recv(cb, "guest.0", topic, 30)
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
                assert len(recv(cb, "guest.0", topic, 120)) == len(data)

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


def cpu_split(a, b, data: bytes, count: int, runs: int) -> str:
    """Where the CPU goes while `count` messages are pipelined: node A, node B, and the SDKs (this process),
    in CPU-ms per message; medians of `runs` runs (the run-to-run spread on a shared machine is ±10 %)."""
    pids = (a.pid, b.pid, os.getpid())
    rates, per_message, busy = [], [], []
    for _ in range(runs):
        before = [cpu_seconds(p) for p in pids]
        t0 = time.perf_counter()
        pipelined(a, b, data, count)
        wall = time.perf_counter() - t0
        used = [cpu_seconds(p) - s for p, s in zip(pids, before, strict=True)]
        rates.append(len(data) * count / wall / 1e6)
        per_message.append([u / count * 1e3 for u in used])
        busy.append(sum(used) / wall)
    a_ms, b_ms, sdk_ms = (statistics.median(m[i] for m in per_message) for i in range(3))
    return (f"{count} x {len(data) >> 20} MiB pipelined, median of {runs} runs: {statistics.median(rates):.0f} MB/s "
            f"(runs {min(rates):.0f}-{max(rates):.0f}); CPU-ms per message: node A {a_ms:.0f}, node B {b_ms:.0f}, "
            f"SDKs {sdk_ms:.0f}, total {a_ms + b_ms + sdk_ms:.0f} (cores busy {statistics.median(busy):.2f})")


def _best_ms(fn, repeat: int = 5) -> float:
    """Fastest of `repeat` runs of fn(), in ms."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times) * 1e3


def floor(node, data: bytes, directory: Path) -> str:
    """The work a 64 MiB message cannot avoid on its way SDK -> node A -> node B -> SDK, from its primitives
    alone (no HTTP, no Python loop per byte): three TLS hops, each one encryption and one decryption of every
    byte (the standard library's TLS with the nodes' certificates, in memory); two SHA-256 passes (the signed
    body digest, taken by the sender and checked by the receiver); two durable file writes (node A's outbox,
    node B's inbox, written as the nodes write them); three loopback TCP transfers (sent and received). Spread
    perfectly over every core, that CPU time bounds the throughput from above."""
    piece = 1 << 20

    def tls() -> None:
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ctx.load_cert_chain(node.client_cert, node.client_key)
        client_ctx = ssl.create_default_context(cafile=node.ca_file)
        client_ctx.check_hostname = False
        bios = [ssl.MemoryBIO() for _ in range(4)]  # client in/out, server in/out
        client = client_ctx.wrap_bio(bios[0], bios[1])
        server = server_ctx.wrap_bio(bios[2], bios[3], server_side=True)
        for _ in range(10):  # handshake: shuttle records until both sides are done
            for side in (client, server):
                with contextlib.suppress(ssl.SSLWantReadError):
                    side.do_handshake()
            bios[2].write(bios[1].read())
            bios[0].write(bios[3].read())
        view = memoryview(data)
        for i in range(0, len(view), piece):
            client.write(view[i:i + piece])
            bios[2].write(bios[1].read())
            while True:
                try:
                    server.read(piece)
                except ssl.SSLWantReadError:
                    break

    blobs = BlobStore(directory / "floor", fsync=True)

    def write() -> None:
        """As the nodes write a part file: O_DIRECT where the file system allows it, then fdatasync."""
        path = blobs.path_for("f" * 32, 0, "floor")
        f = blobs.open_writer(path)
        f.write(data)
        blobs.finish(f)
        os.unlink(path)

    def tcp() -> float:
        """CPU-ms of sending `data` over a loopback TCP connection and receiving it into a buffer."""
        server = socket.create_server(("127.0.0.1", 0))
        sink = bytearray(piece)

        def receive() -> None:
            conn, _ = server.accept()
            with conn:
                while conn.recv_into(sink):
                    pass

        t = threading.Thread(target=receive)
        t.start()
        cpu0 = time.process_time()
        with socket.create_connection(server.getsockname()) as s:
            s.sendall(data)
        t.join()
        server.close()
        return (time.process_time() - cpu0) * 1e3

    tls_ms = _best_ms(tls, 3)
    tcp_ms = min(tcp() for _ in range(3))
    sha_ms = _best_ms(lambda: hashlib.sha256(data).digest())
    write()  # the first write of a fresh file system area costs several times the next ones
    cpu0 = time.process_time()
    write_wall = _best_ms(write, 3)
    write_ms = (time.process_time() - cpu0) * 1e3 / 3
    total = 3 * tls_ms + 2 * sha_ms + 2 * write_ms + 3 * tcp_ms
    best = len(data) / (total / 1e3 / (os.cpu_count() or 1)) / 1e6
    return (f"floor for {len(data) >> 20} MiB: TLS encrypt+decrypt {tls_ms:.1f} ms x 3, SHA-256 {sha_ms:.1f} ms x 2, "
            f"durable write {write_ms:.1f} CPU-ms x 2 ({write_wall:.0f} ms wall), loopback TCP {tcp_ms:.1f} CPU-ms "
            f"x 3 = {total:.0f} CPU-ms; "
            f"on {os.cpu_count()} cores at best {best:.0f} MB/s")


def ceiling(node, data: bytes, repeat: int) -> tuple[float, float]:
    """MB/s (median, best) of raw uploads of `data` to the same server stack over the same TLS setup, sent
    with the same client the Channel SDK pushes with. A fresh server process is slow for its first large
    uploads and its speed then varies with the state of its allocator (seen: 280 to 700 MB/s for 64 MiB in
    one run), so it is warmed up and the median of many uploads is the ceiling; the best is shown beside it."""
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
        for _ in range(3):  # warm-up, not timed
            client.post("/", {"content-type": "application/octet-stream"}, data, 120)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            assert client.post("/", {"content-type": "application/octet-stream"}, data, 120).status == 200
            times.append(time.perf_counter() - t0)
        client.close()
        return len(data) / statistics.median(times) / 1e6, len(data) / min(times) / 1e6
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run, not for the record)")
    ap.add_argument("--sizes", default=",".join(n for n, _ in SIZES), help="subset, e.g. '1 KiB,64 MiB'")
    ap.add_argument("--fsync", choices=["on", "off"], default="on", help="transport.fsync of both nodes")
    ap.add_argument("--recv", choices=sorted(RECV), default="view",
                    help="receive with recv_view (the channel's reused buffer) or recv (a new bytes per message)")
    ap.add_argument("--runs", type=int, default=1, help="runs of the --cpu measurement (medians are printed)")
    ap.add_argument("--cpu", action="store_true", help="also print where the CPU goes for 64 MiB messages, and the "
                    "floor: the CPU its unavoidable cryptography and writes take")
    args = ap.parse_args()
    global recv
    recv = RECV[args.recv]
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
            print(f"machine: {machine.describe()}; transport.fsync {args.fsync}; receiver: {recv.__name__}")
            print(f"{'size':>7} | {'push→pop p50':>12} | {'p99':>9} | {'1 msg MB/s':>10} | "
                  f"{'pipelined MB/s':>14} | {'ceiling MB/s':>12} | {'ratio':>6} | {'best ceiling':>12}")
            for name, size in [(n, s) for n, s in SIZES if n in wanted]:
                data = os.urandom(size)
                lat = latencies(a, b, data, reps[name])
                single = size / statistics.median(lat) / 1e6
                pipe = pipelined(a, b, data, stream[name])
                ceil, best_ceil = ceiling(a, data, max(10, reps[name] // 2))
                best = max(single, pipe)
                print(f"{name:>7} | {statistics.median(lat) * 1e3:9.2f} ms | "
                      f"{sorted(lat)[int(len(lat) * 0.99) - 1] * 1e3:6.2f} ms | {single:10.1f} | {pipe:14.1f} | "
                      f"{ceil:12.1f} | {best / ceil:6.0%} | {best_ceil:12.1f}")
            if args.cpu:
                big = os.urandom(64 << 20)
                print(cpu_split(a, b, big, 8, args.runs))
                print(floor(a, big, Path(d)))
        finally:
            cluster.down(Path(d))



if __name__ == "__main__":
    main()
