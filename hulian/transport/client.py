"""Calls to peer nodes: one pooled HTTP connection set per peer, TLS client certificate, x-auth-sign."""
from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from hulian.core.config import NodeConfig
from hulian.crypto import signing
from hulian.wire import headers as H
from hulian.wire.codec import decode_reply

INVOKE_PATH = "/v1/interconn/chan/invoke"
SENDERS = 16  # concurrent sends to all peers


def client_ssl_context(config: NodeConfig) -> ssl.SSLContext | bool:
    if not config.tls.enabled:
        return False
    ctx = ssl.create_default_context(cafile=str(config.tls.ca_file))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(config.tls.cert_file), str(config.tls.key_file))
    return ctx


class PeerClient:
    """Sends on worker threads with a synchronous client: the standard library's TLS socket releases the GIL
    while it encrypts and sends, so large bodies go out in parallel with the event loop's work, and reading,
    hashing, signing and sending a body costs one thread hop."""

    def __init__(self, config: NodeConfig):
        self.config = config
        self._key = signing.load_private_key(str(config.tls.key_file)) if config.tls.enabled else None
        self._client = httpx.Client(
            verify=client_ssl_context(config), timeout=config.transport.request_timeout_seconds,
            limits=httpx.Limits(max_connections=SENDERS, max_keepalive_connections=SENDERS), trust_env=False)
        self._senders = ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="send")

    def signed(self, path: str, body_sha256: str, headers: dict[str, str]) -> dict[str, str]:
        """Add x-auth-sign, x-timestamp, x-nonce and x-content-sha256 (only when we hold a key)."""
        if self._key is None:
            return headers
        ts, nonce = str(int(time.time() * 1000)), secrets.token_hex(16)
        data = signing.canonical("POST", path, body_sha256, ts, nonce, headers.get(H.SOURCE_NODE, ""))
        headers.update({H.TIMESTAMP: ts, H.NONCE: nonce, H.CONTENT_SHA256: body_sha256,
                        H.AUTH_SIGN: signing.sign(self._key, data)})
        return headers

    async def invoke(self, base_url: str, headers: dict[str, str], load_body: Callable[[], bytes]
                     ) -> tuple[str, str]:
        """POST one message (or chunk) to a peer's invoke; `load_body` runs on the sending thread."""

        def send() -> tuple[str, str]:
            body = load_body()
            signed = self.signed(INVOKE_PATH, hashlib.sha256(body).hexdigest(), dict(headers))
            resp = self._client.post(base_url + INVOKE_PATH, content=body, headers=signed)
            return decode_reply(resp.status_code, resp.headers.get("content-type", ""), resp.content)

        return await asyncio.get_running_loop().run_in_executor(self._senders, send)

    async def close(self) -> None:
        self._senders.shutdown(wait=False, cancel_futures=True)
        self._client.close()


def metadata_header(meta: dict[str, str]) -> dict[str, str]:
    return {H.METADATA: json.dumps(meta, separators=(",", ":"))} if meta else {}
