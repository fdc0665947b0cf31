"""An unexpected exception in a route is answered with the plane's error reply, logged once, and the keep-alive
connection stays usable (left to Starlette, the exception reached the server after the reply: it was logged
twice and the connection was closed, so the peer's next request on it failed)."""
from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI
from starlette.requests import Request

from hulian.control import paths as P
from hulian.core.config import NodeConfig
from hulian.node.app import create_app
from hulian.node.cluster import free_port


def test_a_500_keeps_the_connection_and_is_logged_once(tmp_path, caplog):
    app = create_app(NodeConfig(node_id="n1", data_dir=tmp_path, transport={"fsync": False}))

    @app.post("/v1/interconn/chan/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    with serving(app) as port, caplog.at_level(logging.ERROR), \
            socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        request = (b"POST /v1/interconn/chan/boom HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                   b"content-length: 0\r\n\r\n")
        replies = []
        for _ in range(2):  # the same connection twice
            s.sendall(request)
            replies.append(_read_reply(s))
    for head, body in replies:
        assert head.startswith(b"HTTP/1.1 500") and b"E0000000500" in body and b"RuntimeError" in body, head
        assert b"connection: close" not in head.lower()
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(logged) == 2 and all("unexpected failure" in r.getMessage() for r in logged), logged


def test_a_stalled_body_is_no_unexpected_failure(tmp_path, caplog):
    """A stall is BodyIdleTimeout's to answer (E0000000601; on the control plane 4000), not an error for the node
    log: CatchAll sits outside it, and no route takes it for a failure of its own."""
    app = create_app(NodeConfig(node_id="n1", data_dir=tmp_path, transport={"fsync": False},
                                limits={"body_idle_timeout_seconds": 0.3}))

    @app.post("/v1/interconn/chan/slow")
    async def slow(request: Request) -> dict:
        return {"size": len(await request.body())}

    with serving(app) as port, caplog.at_level(logging.ERROR):
        for path, code in (("/v1/interconn/chan/slow", b"E0000000601"), (P.STATUS_ALL, b'"code":4000')):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n12345".encode())
                head, body = _read_reply(s)
            assert head.startswith(b"HTTP/1.1 400") and code in body and b"body_idle_timeout" in body, (head, body)
            assert not [r for r in caplog.records if r.levelno >= logging.ERROR], (path, caplog.records)


@contextmanager
def serving(app: FastAPI) -> Iterator[int]:
    """`app` served by uvicorn on a free loopback port (yielded) for the block."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def _read_reply(s: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, "connection closed by the server"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = int(next(line.split(b":")[1] for line in lines if line.startswith(b"content-length")))
    while len(body) < length:
        chunk = s.recv(65536)
        assert chunk, "connection closed by the server"
        body += chunk
    return head, body
