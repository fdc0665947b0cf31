"""A minimal keep-alive HTTP/1.1 client on the standard library, for the data path: the Channel SDK and the
forwarder's calls to peers.

http.client sends each buffer of a body with one sendall (a body may be a list of pieces, sent without
joining them) and reads a response body of known length straight into one new buffer in C: about half the
CPU of a general-purpose client per byte, and less per request.

Why a second client beside httpx (the node's client everywhere else): bench/http_client.py, push + pop round
trips through one TLS node on loopback, this client vs httpx.Client (keep-alive), run alone on 2 cores
(docs/benchmarks.md): median round trip 3.53 vs 4.08 ms (100 B), 3.97 vs 4.68 (64 KiB), 7.72 vs 9.00 (1 MiB);
client CPU per round trip 0.43 vs 1.31, 0.52 vs 1.47, 1.73 vs 3.90 ms — CPU a component and the forwarder's
senders keep for their own work.
"""
from __future__ import annotations

import http.client
import ssl
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hulian.transport.tlsbio import TLSClientSocket

IDLE_RECONNECT_SECONDS = 30.0  # well below a node's keep-alive (75 s): never reuse a connection it may close
Buffer = bytes | bytearray | memoryview
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes | memoryview

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


class _TLSConnection(http.client.HTTPConnection):
    """HTTPS with records batched per socket call (hulian.transport.tlsbio); verification as `context` says."""

    def __init__(self, host: str, port: int | None, timeout: float, context: ssl.SSLContext):
        super().__init__(host, port, timeout=timeout)
        self._context = context

    def connect(self) -> None:
        super().connect()  # TCP, with TCP_NODELAY
        self.sock = TLSClientSocket(self.sock, self._context, self.host)


class KeepAliveClient:
    """One persistent connection to one node; not thread-safe (one per Channel, or per sending thread)."""

    def __init__(self, base_url: str, ca_file: str | None = None, context: ssl.SSLContext | None = None):
        """`context` (e.g. with a client certificate) wins over `ca_file`."""
        url = urllib.parse.urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"transport address {base_url!r} is not http(s)://host:port")
        self.base_url = base_url.rstrip("/")
        self._host, self._port, self._https = url.hostname, url.port, url.scheme == "https"
        self._context = context or (ssl.create_default_context(cafile=ca_file) if self._https else None)
        self._conn: http.client.HTTPConnection | None = None
        self._last_used = 0.0

    def _connection(self, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        """The open connection (reused=True) or a new one."""
        if self._conn is not None and time.monotonic() - self._last_used > IDLE_RECONNECT_SECONDS:
            self.close()
        if self._conn is None:
            if self._https:
                self._conn = _TLSConnection(self._host, self._port, timeout, self._context)
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
            return self._conn, False
        if self._conn.sock is not None:
            self._conn.sock.settimeout(timeout)
        self._conn.timeout = timeout
        return self._conn, True

    def post(self, path: str, headers: dict[str, str], body: Buffer | Sequence[Buffer] = b"",
             timeout: float = 60.0, into: Callable[[int], memoryview] | None = None) -> Reply:
        """POST `body` (one buffer, or pieces sent one after the other) and read the whole reply; a connection
        the node closed while idle is reopened once. With `into`, a 200 reply's body of known length is read
        into the buffer `into(length)` gives, and that view is the reply's body."""
        if not isinstance(body, Buffer):
            headers = {**headers, "content-length": str(sum(len(p) for p in body))}
        for attempt in (0, 1):
            conn, reused = self._connection(timeout)
            try:
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                reply_headers = {k.lower(): v for k, v in resp.getheaders()}
                if into is not None and resp.status == 200 and resp.length is not None:
                    reply = Reply(resp.status, reply_headers, _read_into(resp, into(resp.length)))
                else:
                    reply = Reply(resp.status, reply_headers, resp.read())
                self._last_used = time.monotonic()
                if resp.will_close:
                    self.close()
                return reply
            except _STALE:
                self.close()
                if not reused or attempt:
                    raise
            except BaseException:
                self.close()
                raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _read_into(resp: http.client.HTTPResponse, view: memoryview) -> memoryview:
    filled = 0
    while filled < len(view):
        n = resp.readinto(view[filled:])
        if not n:
            raise http.client.IncompleteRead(bytes(view[:filled]), len(view) - filled)
        filled += n
    resp.read()  # nothing is left (b""), but this ends an empty body's response so the connection can go on
    return view
