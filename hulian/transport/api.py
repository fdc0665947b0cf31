"""HTTP routes of the transport layer (spec part 4): container-facing push/pop/peek/release and the
node-to-node invoke/transport. Parsing and replies only; the logic is in TransportService."""
from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import replace

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from hulian.core.errors import OK, BadSignature
from hulian.core.http import check_length, read_body
from hulian.transport.envelope import delivery_metadata, metadata_header, peer_envelope, pushed_message, vouched_source
from hulian.transport.ingress import accept_delivery, accept_push, pop_timeout, push_target
from hulian.transport.model import Delivery, Message, Payload
from hulian.transport.service import new_msg_id
from hulian.transport.spool import run_blocking, spool_bytes
from hulian.wire import headers as H
from hulian.wire import ptp_pb2
from hulian.wire.codec import (
    Format,
    decode_inbound,
    decode_push,
    decode_topic_timeout,
    encode_reply,
    format_of,
    seconds,
)

router = APIRouter(tags=["transport"])
PREFIX = "/v1/interconn/chan"
STREAM_PIECE = 1 << 20  # a raw pop streams a large message in pieces of this size


def reply(fmt: Format, code: str = OK, message: str = "success", payload: bytes | None = None,
          metadata: dict[str, str] | None = None, status: int = 200, blackbox: bool = False) -> Response:
    body, ctype = encode_reply(fmt, code, message, payload, metadata, blackbox)
    return Response(body, status_code=status, media_type=ctype)


def is_blackbox(request: Request) -> bool:
    """SecretFlow's black-box link (yacl) sends the misspelt x-ptp-tecn-provider-code and reads replies as
    Kuscia's TransportOutbound {payload=1, code=2, message=3}, not in the spec's numbering; it reads the code
    only from a 200 reply (any other status fails its call before the code is looked at)."""
    return format_of(request.headers.get("content-type")) == Format.RAW and H.ALIASES[H.TECH_PROVIDER][0] in \
        request.headers


def _sender(request: Request) -> str | None:
    return H.sender_of(request.headers, _node(request).config.node_id)


def _node(request: Request):
    return request.app.state.node


async def _spool_stream(request: Request, spooler) -> Payload:
    try:
        async for piece in request.stream():
            await spooler.feed(piece)
        return await spooler.close()
    except BaseException:
        await spooler.abort()
        raise


def _container_session(request: Request) -> str:
    """Authenticate a container call; returns its session id."""
    session_id = H.get(request.headers, H.SESSION_ID)
    _node(request).auth.check_token(session_id, H.get(request.headers, H.TOKEN))
    return session_id


def _timeout(request: Request, body_timeout: float | None) -> float:
    """Seconds from the body, else x-ptp-timeout (ms), else ?timeout= (s), else the default, clamped."""
    t = body_timeout
    if t is None:
        t = seconds(H.get(request.headers, H.TIMEOUT_MS), H.TIMEOUT_MS, scale=1000)
    if t is None:
        t = seconds(request.query_params.get("timeout"), "timeout=")
    return pop_timeout(_node(request).config.limits, t)


@router.post(f"{PREFIX}/push")
async def push(request: Request) -> Response:
    node, fmt = _node(request), format_of(request.headers.get("content-type"))
    session_id = _container_session(request)
    target = push_target(request.headers, "header")
    check_length(request, node.config.limits.max_body_bytes)
    if fmt == Format.RAW:
        length = request.headers.get("content-length", "")
        msg = pushed_message(node.config, request.headers, new_msg_id(), session_id, target, "",
                             metadata_header(request.headers), int(length) if length.isdigit() else 0)
        await _push_raw(request, msg)
        return reply(fmt, blackbox=is_blackbox(request))

    async def body() -> tuple[str, bytes, dict[str, str]]:
        return decode_push(fmt, await read_body(request, node.config.limits.max_body_bytes))

    await accept_push(node.service, request.headers, session_id, target, body)
    return reply(fmt, blackbox=is_blackbox(request))


async def _push_raw(request: Request, msg: Message) -> None:
    """A raw body: when its length is known and it spans several chunks, the chunks travel on while it
    arrives (cut-through); otherwise it is spooled whole, then pushed."""
    service = _node(request).service
    stream = await service.open_push(msg, msg.size) if msg.size else None
    spooler = service.push_spooler(msg.msg_id, msg.target_node, on_part=stream.on_part if stream else None)
    try:
        payload = await _spool_stream(request, spooler)
        if stream is not None:
            await stream.commit(payload)
            return
    except BaseException as e:
        if stream is not None:
            stream.abort(e)
        raise
    await service.push(replace(msg, size=payload.size), payload)


def _wants_raw(request: Request, fmt: Format) -> bool:
    return fmt == Format.RAW and "application/octet-stream" in request.headers.get("accept", "")


async def _message_reply(request: Request, fmt: Format, delivery: Delivery | None, message: Message | None) -> Response:
    """Reply with a popped (`delivery`) or peeked (`message`) message, or an empty payload."""
    node = _node(request)
    m = delivery.message if delivery else message
    if m is None:
        if _wants_raw(request, fmt):
            return Response(b"", headers={H.CODE: OK, H.MESSAGE: "no message"}, media_type="application/octet-stream")
        return reply(fmt, OK, "no message", payload=b"", blackbox=is_blackbox(request))
    if _wants_raw(request, fmt):
        headers = {H.CODE: OK, H.MESSAGE: "success", H.SOURCE_NODE: H.wire_text(m.source_node),
                   H.TOPIC: H.wire_text(m.topic),
                   H.MESSAGE_ID: m.msg_id, "content-length": str(m.size)}
        if m.meta:
            headers[H.METADATA] = json.dumps(m.meta)
        return StreamingResponse(_stream(node, m, delivery), headers=headers, media_type="application/octet-stream")
    data = await node.service.payload_bytes(m)
    if delivery:
        await node.service.ack(delivery)
    return reply(fmt, OK, "success", payload=data, metadata=delivery_metadata(m), blackbox=is_blackbox(request))


async def _stream(node, m: Message, delivery: Delivery | None) -> AsyncIterator[bytes]:
    """Stream a message's parts; a pop is acknowledged only after the last piece was handed to the socket."""
    done = False
    try:
        if m.payload is not None:
            yield m.payload
        for path in m.blob_paths:
            hot = node.service.blobs.hot(path)
            if hot is not None:
                for piece in hot.pieces:
                    yield piece
                continue
            f = await run_blocking(lambda p=path: open(p, "rb"))  # noqa: SIM115 - closed below
            try:
                while piece := await run_blocking(lambda f=f: f.read(STREAM_PIECE)):
                    yield piece
            finally:
                f.close()
        done = True
    finally:
        if delivery is not None:  # settled even when the client's disconnect cancels the response
            settle = node.service.ack(delivery) if done else node.service.queue.nack(delivery)
            await asyncio.shield(asyncio.ensure_future(settle))


async def _channel_call(request: Request, inbound: type) -> tuple[Format, str, str, float | None]:
    """(format, session, topic, body timeout) of an authenticated pop, peek or release."""
    fmt = format_of(request.headers.get("content-type"))
    session_id = _container_session(request)
    topic, body_timeout = decode_topic_timeout(fmt, await read_body(request, 1 << 20), inbound)
    return fmt, session_id, topic or H.get(request.headers, H.TOPIC), body_timeout


@router.post(f"{PREFIX}/pop")
async def pop(request: Request) -> Response:
    fmt, session_id, topic, body_timeout = await _channel_call(request, ptp_pb2.PopInbound)
    delivery = await _node(request).service.pop(session_id, topic, _sender(request), _timeout(request, body_timeout))
    return await _message_reply(request, fmt, delivery, None)


@router.post(f"{PREFIX}/peek")
async def peek(request: Request) -> Response:
    fmt, session_id, topic, _ = await _channel_call(request, ptp_pb2.PeekInbound)
    message = await _node(request).service.peek(session_id, topic, _sender(request))
    return await _message_reply(request, fmt, None, message)


@router.post(f"{PREFIX}/release")
async def release(request: Request) -> Response:
    fmt, session_id, topic, _ = await _channel_call(request, ptp_pb2.ReleaseInbound)
    await _node(request).service.release(session_id, topic or None)
    return reply(fmt, OK, f"released {'topic ' + topic if topic else 'session'}", blackbox=is_blackbox(request))


@router.post(f"{PREFIX}/invoke")
@router.post(f"{PREFIX}/transport")
async def invoke(request: Request) -> Response:
    """A peer node delivers a push (pass-through, x-ptp-version=1, or encapsulated in an Inbound)."""
    node, fmt = _node(request), format_of(request.headers.get("content-type"))
    hdr = request.headers
    who = node.auth.identify_request(request)
    declared = node.auth.check_signature(who, request.method, request.url.path, hdr)
    limit = node.config.limits.max_body_bytes
    env = peer_envelope(hdr, limit)
    source = vouched_source(node.service.router, who.node_id, hdr)
    check_length(request, limit)
    spooler = node.service.spooler(env.msg_id, f"in{env.chunk_index}", limit,
                                   digest=declared is not None and fmt == Format.RAW)
    if fmt == Format.RAW:
        topic, meta = H.get(hdr, H.TOPIC), metadata_header(hdr)
        payload = await _spool_stream(request, spooler)
        actual = spooler.hexdigest() if declared else None
    else:
        body = await read_body(request, limit)
        actual = await run_blocking(lambda: hashlib.sha256(body).hexdigest()) if declared else None
        decode = decode_push if H.get(hdr, H.VERSION) == H.PASSTHROUGH_VERSION else decode_inbound
        topic, data, meta = decode(fmt, body)
        topic = topic or H.get(hdr, H.TOPIC)
        payload = await spool_bytes(data, spooler)
    if declared is not None and actual != declared:
        node.service.blobs.delete(payload.parts)
        raise BadSignature("body does not match the signed x-content-sha256; it was altered in transit")
    await accept_delivery(node.service, hdr, env, source, topic, meta, payload)
    return reply(fmt, blackbox=is_blackbox(request))  # as its errors are (node.app._error_reply)
