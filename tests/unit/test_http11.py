"""The SDK's keep-alive client: reuses one connection and reopens one the server closed while idle, over plain
HTTP and over TLS (where its own record-batching socket carries http.client)."""
from __future__ import annotations

import os
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hulian.crypto import pki
from hulian.transport.http11 import KeepAliveClient


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections = 0  # one handler instance serves one connection
    served = 0

    def setup(self) -> None:
        Handler.connections += 1
        super().setup()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        Handler.served += 1
        reply = body[::-1]
        self.send_response(200)
        self.send_header("content-type", "application/octet-stream")
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)
        # the second request's connection is closed by the server after replying, as an idle timeout would
        self.close_connection = Handler.served == 2

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def pki_files(tmp_path_factory) -> tuple[Path, pki.Issued]:
    d = tmp_path_factory.mktemp("pki")
    ca = pki.create_ca(d)
    return ca.cert_file, pki.issue_node_cert(ca, d, "server")


@pytest.fixture(params=["http", "https"])
def server(request, pki_files):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ca_file = None
    if request.param == "https":
        ca_file, issued = pki_files
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(issued.cert_file, issued.key_file)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    Handler.connections, Handler.served = 0, 0
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"{request.param}://127.0.0.1:{srv.server_address[1]}", ca_file
    srv.shutdown()


def test_reuses_the_connection_and_reopens_a_closed_one(server):
    client = KeepAliveClient(*server)
    assert client.post("/", {}, b"abc").body == b"cba"
    assert client.post("/", {}, memoryview(b"xyz")).body == b"zyx"
    assert Handler.connections == 1
    assert client.post("/", {}, b"123").body == b"321"  # server closed it: a new connection, no error
    assert Handler.connections == 2
    big = bytes(range(256)) * 40000
    assert client.post("/", {}, big).body == big[::-1]
    client.close()


def test_large_bodies_both_ways_and_into_a_buffer(server):
    """Several MiB, not a multiple of any batch or record size, in pieces; the reply read into a buffer."""
    client = KeepAliveClient(*server)
    data = os.urandom(3 * (1 << 20) + 12345)
    pieces = [data[:100], memoryview(data)[100:(1 << 20) + 7], data[(1 << 20) + 7:]]
    assert client.post("/", {}, pieces).body == data[::-1]
    buffer = bytearray(len(data) + 10)
    got = client.post("/", {}, data, into=lambda n: memoryview(buffer)[:n]).body
    assert isinstance(got, memoryview) and got.obj is buffer and got == data[::-1]
    assert client.post("/", {}, b"", into=lambda n: memoryview(buffer)[:n]).body == b""
    assert client.post("/", {}, b"ab").body == b"ba"  # an empty body read into a buffer ends its response
    client.close()


@pytest.mark.timeout(20)  # a regression to a hang fails here, not at the suite's global timeout
def test_tls_handshake_with_a_server_that_hangs_up(pki_files):
    """A server that closes the connection during the handshake is an error, not a hang."""
    listener = socket.create_server(("127.0.0.1", 0))

    def hang_up() -> None:
        conn, _ = listener.accept()
        conn.recv(1024)
        conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    client = KeepAliveClient(f"https://127.0.0.1:{listener.getsockname()[1]}", str(pki_files[0]))
    with pytest.raises((ssl.SSLError, OSError)):
        client.post("/", {}, b"x", timeout=5)
    listener.close()


@pytest.mark.parametrize("server", ["https"], indirect=True)
def test_tls_refuses_a_server_the_ca_did_not_sign(server, tmp_path):
    url, _ = server
    other = pki.create_ca(tmp_path)
    with pytest.raises(ssl.SSLCertVerificationError):
        KeepAliveClient(url, str(other.cert_file)).post("/", {}, b"x", timeout=5)


def test_rejects_non_http_addresses():
    with pytest.raises(ValueError):
        KeepAliveClient("ftp://host:1")
