"""What every plane's routes read off a request the same way: a size-limited body, the peer's certificate."""
from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hulian.core.errors import BodyStalled, BodyTooLarge, PtpError


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


class _Stalled(Exception):
    """Raised through the app from `receive`: whatever the app answers then is replaced by the stall's reply."""


def _default_reply(request: Request, err: PtpError) -> Response:
    return JSONResponse({"code": err.code, "message": err.message}, status_code=err.http_status)


class BodyIdleTimeout:
    """ASGI middleware for every route: a request body that stops arriving for `seconds` is answered with
    BodyStalled (E0000000601) and the request ends, so a slow or stalled sender cannot hold a connection and
    its handler for ever (limits.body_idle_timeout_seconds). `reply(request, error)` renders the answer in the
    plane's own layout. Only the wait for body pieces is timed: a handler waiting for a disconnect is not."""

    def __init__(self, app: ASGIApp, seconds: float,
                 reply: Callable[[Request, PtpError], Response] = _default_reply):
        self.app, self.seconds, self.reply = app, seconds, reply

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done = started = stalled = answered = False

        async def timed_receive() -> Message:
            nonlocal body_done, stalled
            if body_done:
                return await receive()
            try:
                async with asyncio.timeout(self.seconds):  # no task per body piece, as wait_for would make
                    message = await receive()
            except TimeoutError:
                stalled = True
                raise _Stalled from None
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def answer() -> None:
            nonlocal answered
            if answered:
                return
            answered = True
            err = BodyStalled(f"the request body stopped arriving for {self.seconds:g} s "
                              "(limits.body_idle_timeout_seconds); send the whole body without pausing")
            await self.reply(Request(scope), err)(scope, receive, send)

        async def checked_send(message: Message) -> None:
            """A route that caught the stall as an error of its own answers it: that reply is replaced."""
            nonlocal started
            if stalled and not started:
                await answer()
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, timed_receive, checked_send)
        except _Stalled:
            if started:  # the app had begun its reply: nothing else can be said on this request
                raise
            await answer()
