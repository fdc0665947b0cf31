"""What every plane's routes read off a request the same way: a size-limited body, the peer's certificate."""
from __future__ import annotations

from starlette.requests import Request

from hulian.core.errors import BodyTooLarge


def check_length(request: Request, limit: int) -> None:
    """Refuse a declared Content-Length over `limit` before reading anything."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise BodyTooLarge(f"body of {length} bytes exceeds this node's limit of {limit} bytes "
                           "(limits.max_body_bytes); send smaller messages or use the Channel SDK's streaming")


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused (BodyTooLarge) as soon as it passes `limit` bytes, declared or not."""
    check_length(request, limit)
    buf = bytearray()
    async for piece in request.stream():
        buf += piece
        if len(buf) > limit:
            raise BodyTooLarge(f"body exceeds this node's limit of {limit} bytes (limits.max_body_bytes)")
    return bytes(buf)


def peer_cert(request: Request) -> bytes | None:
    """The DER client certificate the TLS handshake verified (None without one)."""
    return request.scope.get("extensions", {}).get("tls", {}).get("client_cert_der")
