"""The SDK's keep-alive client: reuses one connection and reopens one the server closed while idle."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

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


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Handler.connections, Handler.served = 0, 0
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_reuses_the_connection_and_reopens_a_closed_one(server):
    client = KeepAliveClient(server)
    assert client.post("/", {}, b"abc").body == b"cba"
    assert client.post("/", {}, memoryview(b"xyz")).body == b"zyx"
    assert Handler.connections == 1
    assert client.post("/", {}, b"123").body == b"321"  # server closed it: a new connection, no error
    assert Handler.connections == 2
    big = bytes(range(256)) * 40000
    assert client.post("/", {}, big).body == big[::-1]
    client.close()


def test_rejects_non_http_addresses():
    with pytest.raises(ValueError):
        KeepAliveClient("ftp://host:1")
