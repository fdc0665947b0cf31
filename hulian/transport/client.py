"""Calls to peer nodes: keep-alive connections per sending thread and peer, TLS client certificate, x-auth-sign."""
from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from hulian.core.config import NodeConfig
from hulian.crypto import signing
from hulian.transport.blobs import Pieces
from hulian.transport.http11 import KeepAliveClient
from hulian.wire import headers as H
from hulian.wire.codec import decode_reply

INVOKE_PATH = "/v1/interconn/chan/invoke"
SENDERS = 16  # concurrent sends to all peers


def client_ssl_context(config: NodeConfig) -> ssl.SSLContext | None:
    if not config.tls.enabled:
        return None
    ctx = ssl.create_default_context(cafile=str(config.tls.ca_file))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(config.tls.cert_file), str(config.tls.key_file))
    return ctx


class PeerClient:
    """Sends on worker threads with blocking connections: the standard library's TLS socket releases the GIL
    while it encrypts and sends, so large bodies go out in parallel with the event loop's work, and reading,
    hashing, signing and sending a body costs one thread hop."""

    def __init__(self, config: NodeConfig):
        self.config = config
        self._key = signing.load_private_key(str(config.tls.key_file)) if config.tls.enabled else None
        self._context = client_ssl_context(config)
        self._senders = ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="send")
        self._local = threading.local()  # each sending thread keeps its own connection to each peer
        self._all: list[KeepAliveClient] = []

    def _connection(self, base_url: str) -> KeepAliveClient:
        conns = self._local.__dict__.setdefault("conns", {})
        if base_url not in conns:
            conns[base_url] = KeepAliveClient(base_url, context=self._context)
            self._all.append(conns[base_url])
        return conns[base_url]

    def signed(self, path: str, body_sha256: str, headers: dict[str, str], method: str = "POST") -> dict[str, str]:
        """Add x-auth-sign, x-timestamp, x-nonce and x-content-sha256 (only when we hold a key)."""
        if self._key is None:
            return headers
        ts, nonce = str(int(time.time() * 1000)), secrets.token_hex(16)
        data = signing.canonical(method, path, body_sha256, ts, nonce, H.source_of(headers))
        headers.update({H.TIMESTAMP: ts, H.NONCE: nonce, H.CONTENT_SHA256: body_sha256,
                        H.AUTH_SIGN: signing.sign(self._key, data)})
        return headers

    async def invoke(self, base_url: str, headers: dict[str, str],
                     load_body: Callable[[], tuple[Pieces, str | None]]) -> tuple[str, str]:
        """POST one message (or chunk) to a peer's invoke; `load_body`, run on the sending thread, gives its
        pieces and their SHA-256 when already known."""

        def send() -> tuple[str, str]:
            body, sha256 = load_body()
            if sha256 is None and self._key is not None:
                digest = hashlib.sha256()
                for piece in body:
                    digest.update(piece)
                sha256 = digest.hexdigest()
            signed = self.signed(INVOKE_PATH, sha256 or "", dict(headers))
            reply = self._connection(base_url).post(INVOKE_PATH, signed, body,
                                                    self.config.transport.request_timeout_seconds)
            return decode_reply(reply.status, reply.content_type, reply.body)

        return await asyncio.get_running_loop().run_in_executor(self._senders, send)

    async def close(self) -> None:
        self._senders.shutdown(wait=False, cancel_futures=True)
        for conn in self._all:
            conn.close()


def metadata_header(meta: dict[str, str]) -> dict[str, str]:
    return {H.METADATA: json.dumps(meta, separators=(",", ":"))} if meta else {}
