"""TLS client cost: the standard library's TLS socket against hulian's record-batching TLSClientSocket.

A client sends 64 MiB to a TLS server thread on loopback (which reads it into a reused buffer), then receives
64 MiB from it into a reused buffer. Printed: the client thread's CPU time and the wall time of each, medians
of eight after one warm-up, for each client. Both use OpenSSL through the `ssl` module with the same
certificates and ciphers; only the way records meet the socket differs.

Run alone (nothing else on the cores):  .venv/bin/python bench/tls_client.py
"""
from __future__ import annotations

import resource
import socket
import ssl
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import machine  # bench/machine.py, beside this script

from hulian.crypto import pki
from hulian.transport.tlsbio import TLSClientSocket

SIZE = 64 << 20
ROUNDS = 8


def thread_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_THREAD)
    return r.ru_utime + r.ru_stime


def serve(listener: socket.socket, context: ssl.SSLContext, data: bytes) -> None:
    """One connection: b"s" asks it to read SIZE bytes (answering b"k"), b"r" to send SIZE bytes."""
    conn = context.wrap_socket(listener.accept()[0], server_side=True)
    sink = memoryview(bytearray(1 << 20))
    with conn:
        while command := conn.recv(1):
            if command == b"s":
                got = 0
                while got < SIZE:
                    got += conn.recv_into(sink)
                conn.sendall(b"k")
            else:
                conn.sendall(data)


def measure(make_client: Callable[[socket.socket], object], server_ctx: ssl.SSLContext, data: bytes) -> dict:
    listener = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=serve, args=(listener, server_ctx, data), daemon=True).start()
    client = make_client(socket.create_connection(listener.getsockname()))
    buffer = memoryview(bytearray(SIZE))

    def send() -> None:
        client.sendall(b"s")
        client.sendall(data)
        assert client.recv_into(buffer[:1]) == 1

    def receive() -> None:
        client.sendall(b"r")
        got = 0
        while got < SIZE:
            got += client.recv_into(buffer[got:])

    out = {}
    for name, fn in (("send", send), ("receive", receive)):
        fn()  # warm-up
        cpu, wall = [], []
        for _ in range(ROUNDS):
            c0, t0 = thread_cpu(), time.perf_counter()
            fn()
            cpu.append(thread_cpu() - c0)
            wall.append(time.perf_counter() - t0)
        out[name] = (statistics.median(cpu) * 1e3, statistics.median(wall) * 1e3)
    client.close()
    listener.close()
    return out


class _Batched:
    """TLSClientSocket with the two calls this bench needs beyond http.client's."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext):
        self.tls = TLSClientSocket(sock, context, "127.0.0.1")

    def sendall(self, data: bytes) -> None:
        self.tls.sendall(data)

    def recv_into(self, buffer: memoryview) -> int:
        return self.tls.readinto(buffer)

    def close(self) -> None:
        self.tls.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        ca = pki.create_ca(Path(d))
        issued = pki.issue_node_cert(ca, Path(d), "bench")
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(issued.cert_file, issued.key_file)
        client_ctx = ssl.create_default_context(cafile=str(ca.cert_file))
        data = bytes(range(256)) * (SIZE // 256)
        clients = {"ssl.SSLSocket": lambda s: client_ctx.wrap_socket(s, server_hostname="127.0.0.1"),
                   "TLSClientSocket": lambda s: _Batched(s, client_ctx)}
        print(f"machine: {machine.describe()}; 64 MiB each way, client thread CPU and wall, medians of {ROUNDS}")
        print(f"{'client':>16} | {'send CPU-ms':>11} | {'send wall ms':>12} | {'recv CPU-ms':>11} | "
              f"{'recv wall ms':>12}")
        for name, make in clients.items():
            r = measure(make, server_ctx, data)
            print(f"{name:>16} | {r['send'][0]:11.1f} | {r['send'][1]:12.1f} | {r['receive'][0]:11.1f} | "
                  f"{r['receive'][1]:12.1f}")


if __name__ == "__main__":
    main()
